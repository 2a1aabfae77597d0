//! The Open Inference Protocol (`inference.GRPCInferenceService`) against a server on 127.0.0.1, with
//! the generated client: health and metadata, inference by customer id (both BYTES encodings) and by
//! features, equal to `churn.v1` answers, and the errors a caller can meet.

use crate::common::{self, Fixture, Ids, Kind, MODEL, ServingStatus};
use churn_features::{ColumnRole, ColumnValues};
use churn_server::proto::ScoreRequest;
use churn_server::proto::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use churn_server::proto::inference::infer_parameter::ParameterChoice;
use churn_server::proto::inference::model_infer_request::{InferInputTensor, InferRequestedOutputTensor};
use churn_server::proto::inference::{
    InferParameter, InferTensorContents, ModelInferRequest, ModelInferResponse, ModelMetadataRequest,
    ModelReadyRequest, ServerLiveRequest, ServerMetadataRequest, ServerReadyRequest,
};
use churn_server::reload::ReloadOutcome;
use churn_server::server::ServerHandle;
use std::collections::HashMap;
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

type Client = GrpcInferenceServiceClient<Channel>;

async fn client(server: &ServerHandle) -> Client {
    GrpcInferenceServiceClient::new(common::channel(server.local_addr()).await)
}

/// `elements` as raw BYTES contents: each a 4-byte little-endian length, then the bytes.
fn raw_bytes(elements: &[String]) -> Vec<u8> {
    let mut raw = Vec::new();
    for element in elements {
        raw.extend_from_slice(&(element.len() as u32).to_le_bytes());
        raw.extend_from_slice(element.as_bytes());
    }
    raw
}

/// The raw BYTES elements of `raw` as text.
fn read_raw_bytes(mut raw: &[u8]) -> Vec<String> {
    let mut elements = Vec::new();
    while !raw.is_empty() {
        let length = u32::from_le_bytes(raw[..4].try_into().expect("4 bytes")) as usize;
        elements.push(String::from_utf8(raw[4..4 + length].to_vec()).expect("UTF-8"));
        raw = &raw[4 + length..];
    }
    elements
}

fn tensor(name: &str, datatype: &str, n: usize, contents: Option<InferTensorContents>) -> InferInputTensor {
    InferInputTensor {
        name: name.into(),
        datatype: datatype.into(),
        shape: vec![n as i64],
        parameters: HashMap::new(),
        contents,
    }
}

fn request(inputs: Vec<InferInputTensor>, raw: Vec<Vec<u8>>) -> ModelInferRequest {
    ModelInferRequest {
        model_name: MODEL.into(),
        model_version: String::new(),
        id: "request-7".into(),
        parameters: HashMap::new(),
        inputs,
        outputs: Vec::new(),
        raw_input_contents: raw,
    }
}

/// A request for `ids`, raw or in `bytes_contents`.
fn by_ids(ids: &[String], raw: bool) -> ModelInferRequest {
    if raw {
        request(
            vec![tensor("customer_id", "BYTES", ids.len(), None)],
            vec![raw_bytes(ids)],
        )
    } else {
        let contents = InferTensorContents {
            bytes_contents: ids.iter().map(|id| id.as_bytes().to_vec()).collect(),
            ..Default::default()
        };
        request(
            vec![tensor("customer_id", "BYTES", ids.len(), Some(contents))],
            Vec::new(),
        )
    }
}

fn with_max_reasons(mut request: ModelInferRequest, reasons: i64) -> ModelInferRequest {
    request.parameters.insert(
        "max_reasons".into(),
        InferParameter {
            parameter_choice: Some(ParameterChoice::Int64Param(reasons)),
        },
    );
    request
}

/// The outputs of an answer by name: datatype, shape and raw contents.
fn outputs(response: &ModelInferResponse) -> HashMap<String, (String, Vec<i64>, Vec<u8>)> {
    assert_eq!(response.outputs.len(), response.raw_output_contents.len());
    response
        .outputs
        .iter()
        .zip(&response.raw_output_contents)
        .map(|(output, raw)| {
            assert!(output.contents.is_none(), "answers are raw");
            (
                output.name.clone(),
                (output.datatype.clone(), output.shape.clone(), raw.clone()),
            )
        })
        .collect()
}

fn probabilities(raw: &[u8]) -> Vec<f64> {
    raw.chunks_exact(8)
        .map(|bytes| f64::from_le_bytes(bytes.try_into().expect("8 bytes")))
        .collect()
}

/// Fails unless `result` is an error with `code` whose message contains `text`; messages stay short.
fn assert_refused<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: Code, text: &str) {
    let status = result.expect_err("refused");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().contains(text),
        "{:?} lacks {text:?}",
        status.message()
    );
    assert!(status.message().len() < 400, "{}", status.message());
}

#[tokio::test]
async fn health_follows_the_serving_state_and_names_the_served_model() {
    let fixture = Fixture::empty(50, Ids::Int);
    let server = churn_server::start(fixture.config())
        .await
        .expect("server starts");
    let mut client = client(&server).await;
    let ready = |name: &str, version: &str| ModelReadyRequest {
        name: name.into(),
        version: version.into(),
    };

    // Nothing promoted yet: live, not ready.
    assert!(
        client
            .server_live(ServerLiveRequest {})
            .await
            .expect("live")
            .into_inner()
            .live
    );
    assert!(
        !client
            .server_ready(ServerReadyRequest {})
            .await
            .expect("ready")
            .into_inner()
            .ready
    );
    assert!(
        !client
            .model_ready(ready(MODEL, ""))
            .await
            .expect("model ready")
            .into_inner()
            .ready
    );
    let metadata = client
        .model_metadata(ModelMetadataRequest {
            name: MODEL.into(),
            version: String::new(),
        })
        .await;
    assert_refused(metadata, Code::Unavailable, "no model");

    let version = fixture.save(&common::train_model(&fixture.table, Kind::Logistic(1.0)));
    fixture.promote(&version);
    assert!(matches!(server.reload(false).await, ReloadOutcome::Swapped(_)));
    assert!(
        client
            .server_ready(ServerReadyRequest {})
            .await
            .expect("ready")
            .into_inner()
            .ready
    );
    // Kubernetes' gRPC probes may name the service.
    let mut health = HealthClient::new(common::channel(server.local_addr()).await);
    let status = health
        .check(HealthCheckRequest {
            service: "inference.GRPCInferenceService".into(),
        })
        .await
        .expect("health")
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::Serving as i32);
    for (name, version, want) in [
        (MODEL, "", true),
        (MODEL, "v1", true),
        (MODEL, "v2", false),
        ("other", "", false),
    ] {
        let answer = client
            .model_ready(ready(name, version))
            .await
            .expect("model ready");
        assert_eq!(answer.into_inner().ready, want, "{name}@{version}");
    }
    let metadata = client
        .server_metadata(ServerMetadataRequest {})
        .await
        .expect("server metadata")
        .into_inner();
    assert_eq!(metadata.name, "churn-server");
    assert_eq!(metadata.version, env!("CARGO_PKG_VERSION"));

    // Calls go through the guard: counted under their own method labels.
    assert!(server.metrics().requests("ModelReady", Code::Ok) >= 5);
    assert_eq!(server.metrics().requests("ModelMetadata", Code::Unavailable), 1);

    server.shutdown();
    server.wait().await.expect("clean stop");
}

#[tokio::test]
async fn metadata_lists_customer_ids_every_feature_and_the_outputs() {
    let fixture = Fixture::new(50, Ids::Int);
    let server = common::start_serving(fixture.config()).await;
    let mut client = client(&server).await;
    let metadata = client
        .model_metadata(ModelMetadataRequest {
            name: MODEL.into(),
            version: "v1".into(),
        })
        .await
        .expect("metadata")
        .into_inner();
    assert_eq!(metadata.name, MODEL);
    assert_eq!(metadata.versions, vec!["v1".to_string()]);
    assert!(!metadata.platform.is_empty());
    let inputs: Vec<(&str, &str, &[i64])> = metadata
        .inputs
        .iter()
        .map(|t| (t.name.as_str(), t.datatype.as_str(), t.shape.as_slice()))
        .collect();
    assert_eq!(inputs[0], ("customer_id", "BYTES", &[-1][..]));
    // Every feature of the table, typed as the model reads it.
    let mut want = Vec::new();
    for column in &fixture.table.columns {
        if column.role == ColumnRole::Descriptor {
            continue;
        }
        let datatype = match column.values {
            ColumnValues::Numeric(_) => "FP64",
            ColumnValues::Categorical(_) => "BYTES",
        };
        want.push((column.name.as_str(), datatype, &[-1][..]));
    }
    let mut got = inputs[1..].to_vec();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    let outputs: Vec<(&str, &str, &[i64])> = metadata
        .outputs
        .iter()
        .map(|t| (t.name.as_str(), t.datatype.as_str(), t.shape.as_slice()))
        .collect();
    assert_eq!(
        outputs,
        vec![
            ("churn_probability", "FP64", &[-1][..]),
            ("risk_band", "BYTES", &[-1][..]),
            ("reasons", "BYTES", &[-1, -1][..]),
        ]
    );

    let other = ModelMetadataRequest {
        name: "nope".into(),
        version: String::new(),
    };
    assert_refused(
        client.model_metadata(other).await,
        Code::NotFound,
        "model `nope` is not served",
    );
    let other = ModelMetadataRequest {
        name: MODEL.into(),
        version: "v9".into(),
    };
    assert_refused(
        client.model_metadata(other).await,
        Code::NotFound,
        "served version is `v1`",
    );
}

#[tokio::test]
async fn inference_by_id_in_both_byte_encodings_equals_score() {
    let fixture = Fixture::new(300, Ids::Str);
    let server = common::start_serving(fixture.config()).await;
    let mut client = client(&server).await;
    let mut scoring = common::client(server.local_addr()).await;
    let rows = [0, 1, 17, 150, 299];
    let ids: Vec<String> = rows
        .iter()
        .map(|&row| common::customer_id(Ids::Str, row))
        .collect();
    let mut expected = Vec::new();
    for id in &ids {
        let score = scoring
            .score(ScoreRequest {
                customer_id: id.clone(),
                max_reasons: 2,
            })
            .await
            .expect("score")
            .into_inner()
            .score
            .expect("score");
        expected.push(score);
    }

    for raw in [true, false] {
        let response = client
            .model_infer(with_max_reasons(by_ids(&ids, raw), 2))
            .await
            .expect("infer")
            .into_inner();
        assert_eq!(response.model_name, MODEL);
        assert_eq!(response.model_version, "v1");
        assert_eq!(response.id, "request-7");
        assert!(response.parameters.contains_key("snapshot_id"));
        let outputs = outputs(&response);
        let (datatype, shape, contents) = &outputs["churn_probability"];
        assert_eq!((datatype.as_str(), shape.as_slice()), ("FP64", &[5][..]));
        for (got, want) in probabilities(contents).iter().zip(&expected) {
            assert!((got - want.churn_probability).abs() <= 1e-12, "raw {raw}");
        }
        let (datatype, shape, contents) = &outputs["risk_band"];
        assert_eq!((datatype.as_str(), shape.as_slice()), ("BYTES", &[5][..]));
        let bands: Vec<String> = expected.iter().map(|s| s.risk_band.clone()).collect();
        assert_eq!(read_raw_bytes(contents), bands);
        let (datatype, shape, contents) = &outputs["reasons"];
        assert_eq!((datatype.as_str(), shape.as_slice()), ("BYTES", &[5, 2][..]));
        let reasons: Vec<String> = expected
            .iter()
            .flat_map(|score| (0..2).map(|k| score.reasons.get(k).map_or(String::new(), |r| r.text.clone())))
            .collect();
        assert!(reasons.iter().any(|text| !text.is_empty()));
        assert_eq!(read_raw_bytes(contents), reasons);
    }

    // Without max_reasons, no reasons; with `outputs`, only those asked for.
    let response = client
        .model_infer(by_ids(&ids, true))
        .await
        .expect("infer")
        .into_inner();
    let names: Vec<&str> = response.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["churn_probability", "risk_band"]);
    let mut only = by_ids(&ids, true);
    only.outputs = vec![InferRequestedOutputTensor {
        name: "churn_probability".into(),
        parameters: HashMap::new(),
    }];
    let response = client.model_infer(only).await.expect("infer").into_inner();
    assert_eq!(response.outputs.len(), 1);
    assert_eq!(response.raw_output_contents[0].len(), 5 * 8);
    // Reasons asked for by name, without max_reasons: the server's default number (3).
    let mut reasons = by_ids(&ids, false);
    reasons.outputs = vec![InferRequestedOutputTensor {
        name: "reasons".into(),
        parameters: HashMap::new(),
    }];
    let response = client.model_infer(reasons).await.expect("infer").into_inner();
    assert_eq!(response.outputs[0].shape, vec![5, 3]);

    // An id not in the snapshot fails the call, naming it.
    let mut unknown = ids.clone();
    unknown.push("nobody".into());
    assert_refused(
        client.model_infer(by_ids(&unknown, true)).await,
        Code::NotFound,
        "customer `nobody` is not in the feature snapshot",
    );
    assert_eq!(server.metrics().requests("ModelInfer", Code::Ok), 5);
}

/// Row `row` of the fixture table as one input per feature, typed (`fp64_contents`/`bytes_contents`)
/// or raw: NaN for a missing number, an empty element for a missing category.
fn by_features(fixture: &Fixture, rows: &[usize], raw: bool) -> ModelInferRequest {
    let mut inputs = Vec::new();
    let mut contents = Vec::new();
    for column in &fixture.table.columns {
        if column.role == ColumnRole::Descriptor {
            continue;
        }
        let (datatype, typed, bytes) = match &column.values {
            ColumnValues::Numeric(values) => {
                let values: Vec<f64> = rows.iter().map(|&row| values[row].unwrap_or(f64::NAN)).collect();
                let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                let typed = InferTensorContents {
                    fp64_contents: values,
                    ..Default::default()
                };
                ("FP64", typed, bytes)
            }
            ColumnValues::Categorical(values) => {
                let values: Vec<String> = rows
                    .iter()
                    .map(|&row| values[row].clone().unwrap_or_default())
                    .collect();
                let typed = InferTensorContents {
                    bytes_contents: values.iter().map(|v| v.as_bytes().to_vec()).collect(),
                    ..Default::default()
                };
                ("BYTES", typed, raw_bytes(&values))
            }
        };
        if raw {
            inputs.push(tensor(&column.name, datatype, rows.len(), None));
            contents.push(bytes);
        } else {
            inputs.push(tensor(&column.name, datatype, rows.len(), Some(typed)));
        }
    }
    request(inputs, contents)
}

#[tokio::test]
async fn inference_by_features_equals_the_score_of_the_same_customer() {
    let fixture = Fixture::new(300, Ids::Int);
    let server = common::start_serving(fixture.config()).await;
    let mut client = client(&server).await;
    let mut scoring = common::client(server.local_addr()).await;
    // Rows with missing numbers and missing categories among them; 100 of them, so they are scored on
    // the blocking pool, in parallel.
    let rows: Vec<usize> = (0..300).step_by(3).collect();
    let mut expected = Vec::new();
    for &row in &rows {
        let score = scoring
            .score(ScoreRequest {
                customer_id: common::customer_id(Ids::Int, row),
                max_reasons: 1,
            })
            .await
            .expect("score")
            .into_inner()
            .score
            .expect("score");
        expected.push(score);
    }
    for raw in [true, false] {
        let response = client
            .model_infer(with_max_reasons(by_features(&fixture, &rows, raw), 1))
            .await
            .expect("infer")
            .into_inner();
        let outputs = outputs(&response);
        let got = probabilities(&outputs["churn_probability"].2);
        assert_eq!(got.len(), rows.len());
        for (got, want) in got.iter().zip(&expected) {
            assert!((got - want.churn_probability).abs() <= 1e-12, "raw {raw}");
        }
        let reasons = read_raw_bytes(&outputs["reasons"].2);
        let want: Vec<String> = expected
            .iter()
            .map(|score| score.reasons.first().map_or(String::new(), |r| r.text.clone()))
            .collect();
        assert_eq!(reasons, want);
        assert!(!response.parameters.contains_key("unknown_categories"));
    }

    // A category value the model has no level for is scored, and named in the answer.
    let mut typo = by_features(&fixture, &[0, 3, 6], false);
    let category = typo
        .inputs
        .iter_mut()
        .find(|input| input.datatype == "BYTES")
        .expect("a categorical feature");
    let feature = category.name.clone();
    let contents = &mut category.contents.as_mut().expect("contents").bytes_contents;
    contents[1] = b"platinum-typo".to_vec();
    contents[2] = b"platinum-typo".to_vec();
    let response = client.model_infer(typo).await.expect("infer").into_inner();
    let Some(ParameterChoice::StringParam(named)) =
        response.parameters["unknown_categories"].parameter_choice.clone()
    else {
        panic!("unknown_categories is a string parameter");
    };
    assert!(named.contains(&format!("feature `{feature}`")), "{named}");
    assert!(named.contains("`platinum-typo` (2)"), "{named}");

    // A feature left out, or one the model does not know, is named.
    let mut missing = by_features(&fixture, &[0], false);
    missing.inputs.retain(|input| input.name != "tenure_days");
    assert_refused(
        client.model_infer(missing).await,
        Code::InvalidArgument,
        "1 missing features: `tenure_days`",
    );
    let mut unknown = by_features(&fixture, &[0], false);
    unknown.inputs[0].name = "favourite_colour".into();
    assert_refused(
        client.model_infer(unknown).await,
        Code::InvalidArgument,
        "1 unknown inputs: `favourite_colour`",
    );
    // A number sent as text.
    let mut wrong = by_features(&fixture, &[0], false);
    let number = wrong
        .inputs
        .iter_mut()
        .find(|input| input.datatype == "FP64")
        .expect("numeric");
    number.datatype = "BYTES".into();
    assert_refused(
        client.model_infer(wrong).await,
        Code::InvalidArgument,
        "it must be FP64",
    );
    // Ids and features together.
    let mut both = by_features(&fixture, &[0], false);
    both.inputs.push(tensor("customer_id", "BYTES", 1, None));
    assert_refused(
        client.model_infer(both).await,
        Code::InvalidArgument,
        "cannot be combined",
    );
    // An infinite number.
    let mut infinite = by_features(&fixture, &[0], false);
    let number = infinite
        .inputs
        .iter_mut()
        .find(|input| input.datatype == "FP64")
        .expect("numeric");
    number.contents.as_mut().expect("typed").fp64_contents[0] = f64::INFINITY;
    assert_refused(
        client.model_infer(infinite).await,
        Code::InvalidArgument,
        "element 0 is infinite",
    );
}

#[tokio::test]
async fn malformed_tensors_and_unknown_models_are_refused_clearly() {
    let fixture = Fixture::new(60, Ids::Int);
    let mut config = fixture.config();
    config.limits.max_batch_size = 5;
    let server = common::start_serving(config).await;
    let mut client = client(&server).await;
    let ids: Vec<String> = (0..3).map(|i| common::customer_id(Ids::Int, i)).collect();

    // A length cut short, a length past the end, bytes left over.
    let raw = raw_bytes(&ids);
    let mut cut = by_ids(&ids, true);
    cut.raw_input_contents[0] = raw[..raw.len() - 6].to_vec();
    assert_refused(
        client.model_infer(cut).await,
        Code::InvalidArgument,
        "input `customer_id`: raw contents end after",
    );
    let mut overlong = by_ids(&ids, true);
    overlong.raw_input_contents[0][0] = 250;
    assert_refused(
        client.model_infer(overlong).await,
        Code::InvalidArgument,
        "element 0 a length of 250 bytes",
    );
    let mut extra = by_ids(&ids, true);
    extra.raw_input_contents[0].extend_from_slice(&[1, 0, 0, 0, b'x']);
    assert_refused(
        client.model_infer(extra).await,
        Code::InvalidArgument,
        "5 bytes after the 3 elements",
    );

    // More elements than the batch limit, in either encoding; a shape that lies about the contents.
    let many: Vec<String> = (0..6).map(|i| common::customer_id(Ids::Int, i)).collect();
    for raw in [true, false] {
        assert_refused(
            client.model_infer(by_ids(&many, raw)).await,
            Code::InvalidArgument,
            "has 6 elements; the limit is 5",
        );
    }
    let mut lying = by_ids(&ids, false);
    lying.inputs[0].shape = vec![2];
    assert_refused(
        client.model_infer(lying).await,
        Code::InvalidArgument,
        "holds 3 elements; its shape says 2",
    );

    // Wrong datatypes for customer ids.
    for datatype in ["FP64", "INT64", "bytes"] {
        let mut wrong = by_ids(&ids, true);
        wrong.inputs[0].datatype = datatype.into();
        assert_refused(
            client.model_infer(wrong).await,
            Code::InvalidArgument,
            "it must be BYTES",
        );
    }

    // Unknown model or version; no inputs; an id that is no text; an empty id.
    let mut other = by_ids(&ids, true);
    other.model_name = "x".repeat(5_000);
    assert_refused(
        client.model_infer(other).await,
        Code::NotFound,
        "is not served here",
    );
    let mut version = by_ids(&ids, true);
    version.model_version = "v2".into();
    assert_refused(
        client.model_infer(version).await,
        Code::NotFound,
        "version `v2` of model `churn`",
    );
    assert_refused(
        client.model_infer(request(Vec::new(), Vec::new())).await,
        Code::InvalidArgument,
        "no inputs",
    );
    let mut binary = by_ids(&ids, true);
    binary.raw_input_contents[0] = vec![2, 0, 0, 0, 0xff, 0xfe];
    binary.inputs[0].shape = vec![1];
    assert_refused(
        client.model_infer(binary).await,
        Code::InvalidArgument,
        "element 0 is not UTF-8",
    );
    let empty = by_ids(&[String::new()], true);
    assert_refused(
        client.model_infer(empty).await,
        Code::InvalidArgument,
        "customer_id is empty",
    );
    let negative = with_max_reasons(by_ids(&ids, true), -2);
    assert_refused(
        client.model_infer(negative).await,
        Code::InvalidArgument,
        "max_reasons",
    );
    assert_eq!(server.metrics().requests("ModelInfer", Code::InvalidArgument), 13);
}

#[tokio::test]
async fn a_token_guards_the_protocol_as_it_guards_churn_v1() {
    let fixture = Fixture::new(20, Ids::Int);
    let mut config = fixture.config();
    config.auth_token = Some("s3cret".into());
    let server = common::start_serving(config).await;
    let mut client = client(&server).await;
    let ids = vec![common::customer_id(Ids::Int, 0)];
    assert_refused(
        client.model_infer(by_ids(&ids, true)).await,
        Code::Unauthenticated,
        "bearer token",
    );
    let mut request = tonic::Request::new(by_ids(&ids, true));
    request
        .metadata_mut()
        .insert("authorization", "Bearer s3cret".parse().expect("header"));
    client.model_infer(request).await.expect("with the token");
}
