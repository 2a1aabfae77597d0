//! `inference.GRPCInferenceService`, the Open Inference Protocol
//! (<https://github.com/kserve/open-inference-protocol/blob/main/specification/protocol/inference_grpc.md>),
//! so that clients such as tritonclient and KServe's score with the served model unmodified. A thin
//! layer over the same calls as `churn.v1`: customers by id through
//! [`ServingPair::score_customers`] (as `ScoreBatch`), customers described by their features through
//! [`ServingPair::score_features`] (as `ScoreFeatures`), with the same limits, batch admission
//! ([`ScoringApi::run_batch`]) and error mapping ([`crate::error`]); tensors are read and written by
//! [`crate::tensors`].
//!
//! The model is the served one, under its registry name; a request may leave its version empty or
//! name the served version. Inputs, one of:
//! - `customer_id`: BYTES `[n]`, customers of the snapshot;
//! - one input per model feature: FP64 `[n]` for a numeric feature (NaN for a missing value), BYTES
//!   `[n]` for a categorical one (an empty element for a missing value).
//!
//! Outputs: `churn_probability` (FP64 `[n]`), `risk_band` (BYTES `[n]`) and, when the request's
//! `max_reasons` parameter (int64) is above 0 or `reasons` is asked for by name, `reasons` (BYTES
//! `[n, k]`: each customer's reasons in words, largest contribution first, empty after the last one).

use crate::error::{ServeError, excerpt, name_list};
use crate::middleware::CallSlot;
use crate::pair::ServingPair;
use crate::proto::inference::grpc_inference_service_server::GrpcInferenceService;
use crate::proto::inference::infer_parameter::ParameterChoice;
use crate::proto::inference::model_infer_request::InferInputTensor;
use crate::proto::inference::model_metadata_response::TensorMetadata;
use crate::proto::inference::{
    InferParameter, ModelInferRequest, ModelInferResponse, ModelMetadataRequest, ModelMetadataResponse,
    ModelReadyRequest, ModelReadyResponse, ServerLiveRequest, ServerLiveResponse, ServerMetadataRequest,
    ServerMetadataResponse, ServerReadyRequest, ServerReadyResponse,
};
use crate::scoring::{CANCEL_CHUNK, PARALLEL_BATCH, Score, check_customer_id};
use crate::service::ScoringApi;
use crate::tensors::{self, BYTES, FP64};
use churn_models::preprocess::Encoding;
use churn_models::{FeatureRow, FeatureValue, UnknownCategories};
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tonic::{Request, Response, Status};

/// The input of customers by id.
pub const CUSTOMER_ID: &str = "customer_id";
/// The output of churn probabilities.
pub const CHURN_PROBABILITY: &str = "churn_probability";
/// The output of risk bands.
pub const RISK_BAND: &str = "risk_band";
/// The output of reasons in words.
pub const REASONS: &str = "reasons";
/// The request parameter asking for reasons.
pub const MAX_REASONS: &str = "max_reasons";
/// The response parameter naming category values of given features the model has no level for (scored
/// as `other` or as no level, as `ScoreFeatures` reports them).
pub const UNKNOWN_CATEGORIES: &str = "unknown_categories";
/// Values listed per feature in [`UNKNOWN_CATEGORIES`].
const UNKNOWN_VALUES_SHOWN: usize = 3;
/// The model's platform in `ModelMetadata` (informative only, in the protocol's `<project>_<format>`
/// form).
pub const PLATFORM: &str = "churn-rs_churn-models";

/// The Open Inference Protocol service.
#[derive(Debug, Clone)]
pub struct InferenceApi {
    scoring: ScoringApi,
}

impl InferenceApi {
    /// The protocol over `scoring`'s state, limits and batch budget.
    pub fn new(scoring: ScoringApi) -> Self {
        Self { scoring }
    }

    /// The served pair, when it is ready for new calls (loaded, not draining).
    fn ready_pair(&self) -> Option<Arc<ServingPair>> {
        let state = self.scoring.state();
        state.current().ok().filter(|_| !state.is_draining())
    }
}

/// Refuses a model name or version other than the served ones.
fn check_model(pair: &ServingPair, name: &str, version: &str) -> Result<(), ServeError> {
    let served = &pair.version;
    if name != served.model_name {
        return Err(ServeError::ModelNotFound(format!(
            "model {} is not served here; this server serves model `{}` (version `{}`)",
            excerpt(name),
            served.model_name,
            served.model_version
        )));
    }
    if !version.is_empty() && version != served.model_version {
        return Err(ServeError::ModelNotFound(format!(
            "version {} of model `{}` is not served here; the served version is `{}` (an empty version \
             means the served one)",
            excerpt(version),
            served.model_name,
            served.model_version
        )));
    }
    Ok(())
}

/// The datatype of each model feature's input: FP64 for numbers, BYTES for categories.
fn feature_datatype(encoding: &Encoding) -> &'static str {
    match encoding {
        Encoding::Numeric { .. } => FP64,
        Encoding::Categorical { .. } => BYTES,
    }
}

/// The `max_reasons` parameter: 0 when absent.
fn max_reasons(parameters: &HashMap<String, InferParameter>) -> Result<u32, ServeError> {
    let Some(parameter) = parameters.get(MAX_REASONS) else {
        return Ok(0);
    };
    let value = match parameter.parameter_choice {
        Some(ParameterChoice::Int64Param(value)) => i128::from(value),
        Some(ParameterChoice::Uint64Param(value)) => i128::from(value),
        _ => {
            return Err(ServeError::InvalidArgument(format!(
                "parameter `{MAX_REASONS}` must be an integer (int64_param)"
            )));
        }
    };
    if value < 0 {
        return Err(ServeError::InvalidArgument(format!(
            "parameter `{MAX_REASONS}` is {value}; it must be 0 or more"
        )));
    }
    Ok(u32::try_from(value).unwrap_or(u32::MAX))
}

/// The outputs to send, in order: those the request names, else every output (`reasons` only when
/// `max_reasons` asked for some).
fn requested_outputs(
    request: &ModelInferRequest,
    reasons_asked: bool,
) -> Result<Vec<&'static str>, ServeError> {
    if request.outputs.is_empty() {
        let mut outputs = vec![CHURN_PROBABILITY, RISK_BAND];
        if reasons_asked {
            outputs.push(REASONS);
        }
        return Ok(outputs);
    }
    let mut outputs = Vec::with_capacity(request.outputs.len());
    for output in &request.outputs {
        let Some(known) = [CHURN_PROBABILITY, RISK_BAND, REASONS]
            .into_iter()
            .find(|known| *known == output.name)
        else {
            return Err(ServeError::InvalidArgument(format!(
                "unknown output {}; the outputs are `{CHURN_PROBABILITY}`, `{RISK_BAND}` and `{REASONS}`",
                excerpt(&output.name)
            )));
        };
        if outputs.contains(&known) {
            return Err(ServeError::InvalidArgument(format!(
                "output `{known}` is asked for twice"
            )));
        }
        outputs.push(known);
    }
    Ok(outputs)
}

/// What a request scores.
enum Batch {
    /// Customers of the snapshot.
    Ids(Vec<String>),
    /// Customers described by their features, one row each.
    Rows(Vec<FeatureRow>),
}

impl Batch {
    fn len(&self) -> usize {
        match self {
            Self::Ids(ids) => ids.len(),
            Self::Rows(rows) => rows.len(),
        }
    }
}

/// The customers a request's inputs describe, checked: names, datatypes, shapes (at most
/// `max_elements` each, all the same), contents.
fn read_inputs(
    pair: &ServingPair,
    request: &ModelInferRequest,
    max_elements: usize,
) -> Result<Batch, ServeError> {
    let inputs = &request.inputs;
    if inputs.is_empty() {
        return Err(ServeError::InvalidArgument(format!(
            "the request has no inputs: send `{CUSTOMER_ID}` (BYTES), or one input per model feature \
             (ModelMetadata lists them)"
        )));
    }
    let raw = &request.raw_input_contents;
    if !raw.is_empty() {
        if raw.len() != inputs.len() {
            return Err(ServeError::InvalidArgument(format!(
                "raw_input_contents has {} entries for {} inputs; it needs one per input",
                raw.len(),
                inputs.len()
            )));
        }
        if let Some(input) = inputs
            .iter()
            .find(|input| input.contents.as_ref().is_some_and(has_elements))
        {
            return Err(ServeError::InvalidArgument(format!(
                "input {} sets contents while the request uses raw_input_contents; use one or the other",
                excerpt(&input.name)
            )));
        }
    }
    let raw_of = |index: usize| raw.get(index).map(Vec::as_slice);
    let mut by_name: HashMap<&str, usize> = HashMap::with_capacity(inputs.len());
    for (index, input) in inputs.iter().enumerate() {
        if by_name.insert(input.name.as_str(), index).is_some() {
            return Err(ServeError::InvalidArgument(format!(
                "input {} is given twice",
                excerpt(&input.name)
            )));
        }
    }
    let n = tensors::element_count(&inputs[0], max_elements)?;
    for input in &inputs[1..] {
        let other = tensors::element_count(input, max_elements)?;
        if other != n {
            return Err(ServeError::InvalidArgument(format!(
                "input {} has {other} elements and input {} has {n}; every input needs one per customer",
                excerpt(&input.name),
                excerpt(&inputs[0].name)
            )));
        }
    }

    if let Some(&index) = by_name.get(CUSTOMER_ID) {
        if inputs.len() > 1 {
            return Err(ServeError::InvalidArgument(format!(
                "input `{CUSTOMER_ID}` cannot be combined with other inputs: send customer ids alone, \
                 or every feature without them"
            )));
        }
        return customer_ids(&inputs[index], raw_of(index), n).map(Batch::Ids);
    }

    feature_rows(pair, inputs, &by_name, raw_of, n).map(Batch::Rows)
}

/// The `n` customer ids of the `customer_id` input: UTF-8, neither empty nor over-long.
fn customer_ids(input: &InferInputTensor, raw: Option<&[u8]>, n: usize) -> Result<Vec<String>, ServeError> {
    tensors::decode_bytes(input, raw, n)?
        .into_iter()
        .enumerate()
        .map(|(i, element)| {
            let id = tensors::utf8(CUSTOMER_ID, i, element)?;
            check_customer_id(id).map_err(|error| {
                ServeError::InvalidArgument(format!("input `{CUSTOMER_ID}`[{i}]: {error}"))
            })?;
            Ok(id.to_string())
        })
        .collect()
}

/// The `n` rows of features of `inputs` (`by_name` locates each input, `raw_of` its raw contents): every
/// feature of the model once, nothing else, each with its datatype; NaN and empty text are missing values.
fn feature_rows<'a>(
    pair: &ServingPair,
    inputs: &'a [InferInputTensor],
    by_name: &HashMap<&str, usize>,
    raw_of: impl Fn(usize) -> Option<&'a [u8]>,
    n: usize,
) -> Result<Vec<FeatureRow>, ServeError> {
    let schema = pair.model.schema();
    let features: HashSet<&str> = schema.feature_names().collect();
    let mut unknown: Vec<&str> = inputs
        .iter()
        .map(|input| input.name.as_str())
        .filter(|name| !features.contains(name))
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        return Err(ServeError::InvalidArgument(format!(
            "{} (neither `{CUSTOMER_ID}` nor a feature of model {}@{}; ModelMetadata lists the inputs)",
            name_list("unknown inputs", &unknown),
            pair.model.name,
            pair.model.version
        )));
    }
    let missing: Vec<&str> = schema
        .feature_names()
        .filter(|name| !by_name.contains_key(name))
        .collect();
    if !missing.is_empty() {
        return Err(ServeError::InvalidArgument(format!(
            "{} (send every feature: NaN for an unknown number, an empty element for an unknown category)",
            name_list("missing features", &missing)
        )));
    }
    // Every column is decoded and checked against `n` before any row is made, so a request claiming
    // many rows it does not carry costs nothing.
    let mut columns: Vec<Vec<FeatureValue>> = Vec::with_capacity(schema.features.len());
    for feature in &schema.features {
        let index = by_name[feature.name.as_str()];
        let input = &inputs[index];
        let column = match feature.encoding {
            Encoding::Numeric { .. } => tensors::decode_fp64(input, raw_of(index), n)?
                .into_iter()
                .enumerate()
                .map(|(i, value)| {
                    if value.is_infinite() {
                        Err(ServeError::InvalidArgument(format!(
                            "input {}: element {i} is infinite (NaN stands for an unknown value)",
                            excerpt(&input.name)
                        )))
                    } else if value.is_nan() {
                        Ok(FeatureValue::Missing)
                    } else {
                        Ok(FeatureValue::Number(value))
                    }
                })
                .collect::<Result<Vec<_>, _>>()?,
            Encoding::Categorical { .. } => tensors::decode_bytes(input, raw_of(index), n)?
                .into_iter()
                .enumerate()
                .map(|(i, element)| {
                    let text = tensors::utf8(&input.name, i, element)?;
                    Ok(if text.is_empty() {
                        FeatureValue::Missing
                    } else {
                        FeatureValue::Text(text.to_string())
                    })
                })
                .collect::<Result<Vec<_>, ServeError>>()?,
        };
        columns.push(column);
    }
    let mut rows: Vec<FeatureRow> = (0..n).map(|_| FeatureRow::with_capacity(columns.len())).collect();
    for (feature, column) in schema.features.iter().zip(columns) {
        for (row, value) in rows.iter_mut().zip(column) {
            row.insert(feature.name.clone(), value);
        }
    }
    Ok(rows)
}

/// True when typed contents hold any element.
fn has_elements(contents: &crate::proto::inference::InferTensorContents) -> bool {
    !(contents.bool_contents.is_empty()
        && contents.int_contents.is_empty()
        && contents.int64_contents.is_empty()
        && contents.uint_contents.is_empty()
        && contents.uint64_contents.is_empty()
        && contents.fp32_contents.is_empty()
        && contents.fp64_contents.is_empty()
        && contents.bytes_contents.is_empty())
}

/// The first refused customer's error, for the whole call (a tensor has no room for one customer's
/// error), else every score.
fn all_scores<T>(scores: Vec<Result<T, ServeError>>) -> Result<Vec<T>, ServeError> {
    scores
        .into_iter()
        .enumerate()
        .map(|(i, score)| {
            score.map_err(|error| match error {
                ServeError::InvalidArgument(message) => {
                    ServeError::InvalidArgument(format!("element {i}: {message}"))
                }
                other => other,
            })
        })
        .collect()
}

/// The output tensors `outputs` of `scores`, with `reasons` columns of reasons.
fn output_tensors(outputs: &[&str], scores: &[Score], reasons: usize) -> Vec<tensors::Output> {
    outputs
        .iter()
        .map(|&output| match output {
            CHURN_PROBABILITY => {
                let probabilities: Vec<f64> = scores.iter().map(|score| score.probability).collect();
                tensors::fp64_output(CHURN_PROBABILITY, &probabilities)
            }
            RISK_BAND => tensors::bytes_output(
                RISK_BAND,
                vec![scores.len()],
                scores.iter().map(|score| score.risk_band.as_str()),
            ),
            _ => tensors::bytes_output(
                REASONS,
                vec![scores.len(), reasons],
                scores.iter().flat_map(|score| {
                    (0..reasons).map(|k| score.reasons.get(k).map_or("", |reason| reason.text.as_str()))
                }),
            ),
        })
        .collect()
}

/// Scores `batch` with up to `reasons` reasons each, as admitted batch work; with the category values of
/// given features the model has no level for.
async fn score_batch(
    scoring: &ScoringApi,
    pair: Arc<ServingPair>,
    batch: Batch,
    reasons: usize,
    slot: Option<CallSlot>,
) -> Result<(Vec<Score>, UnknownCategories), ServeError> {
    let units = batch.len();
    let scores = scoring
        .run_batch(units, slot, move |stop| match batch {
            Batch::Ids(ids) => pair.score_customers_until(&ids, reasons, stop).map(|scores| {
                let none =
                    |score: Result<Score, ServeError>| score.map(|s| (s, UnknownCategories::default()));
                scores.into_iter().map(none).collect()
            }),
            Batch::Rows(rows) => {
                let mut scores = Vec::with_capacity(rows.len());
                for chunk in rows.chunks(CANCEL_CHUNK) {
                    if stop.load(Ordering::Relaxed) {
                        return None;
                    }
                    // Rows are scored in parallel, as long batches of ids are (`score_customers`).
                    scores.par_extend(
                        chunk
                            .par_iter()
                            .with_min_len(PARALLEL_BATCH / 2)
                            .map(|row| pair.score_features(row, reasons)),
                    );
                }
                Some(scores)
            }
        })
        .await?;
    let mut unknown = UnknownCategories::default();
    let scores = all_scores(scores)?
        .into_iter()
        .map(|(score, row_unknown)| {
            unknown.merge(row_unknown);
            score
        })
        .collect();
    Ok((scores, unknown))
}

#[tonic::async_trait]
impl GrpcInferenceService for InferenceApi {
    async fn server_live(
        &self,
        _request: Request<ServerLiveRequest>,
    ) -> Result<Response<ServerLiveResponse>, Status> {
        Ok(Response::new(ServerLiveResponse { live: true }))
    }

    async fn server_ready(
        &self,
        _request: Request<ServerReadyRequest>,
    ) -> Result<Response<ServerReadyResponse>, Status> {
        Ok(Response::new(ServerReadyResponse {
            ready: self.ready_pair().is_some(),
        }))
    }

    async fn model_ready(
        &self,
        request: Request<ModelReadyRequest>,
    ) -> Result<Response<ModelReadyResponse>, Status> {
        let request = request.into_inner();
        let ready = self
            .ready_pair()
            .is_some_and(|pair| check_model(&pair, &request.name, &request.version).is_ok());
        Ok(Response::new(ModelReadyResponse { ready }))
    }

    async fn server_metadata(
        &self,
        _request: Request<ServerMetadataRequest>,
    ) -> Result<Response<ServerMetadataResponse>, Status> {
        Ok(Response::new(ServerMetadataResponse {
            name: "churn-server".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            extensions: Vec::new(),
        }))
    }

    async fn model_metadata(
        &self,
        request: Request<ModelMetadataRequest>,
    ) -> Result<Response<ModelMetadataResponse>, Status> {
        let request = request.into_inner();
        let pair = self.scoring.state().current()?;
        check_model(&pair, &request.name, &request.version)?;
        let tensor = |name: &str, datatype: &str, shape: &[i64]| TensorMetadata {
            name: name.to_string(),
            datatype: datatype.to_string(),
            shape: shape.to_vec(),
        };
        let mut inputs = vec![tensor(CUSTOMER_ID, BYTES, &[-1])];
        inputs.extend(
            pair.model
                .schema()
                .features
                .iter()
                .map(|feature| tensor(&feature.name, feature_datatype(&feature.encoding), &[-1])),
        );
        Ok(Response::new(ModelMetadataResponse {
            name: pair.version.model_name.clone(),
            versions: vec![pair.version.model_version.clone()],
            platform: PLATFORM.into(),
            inputs,
            outputs: vec![
                tensor(CHURN_PROBABILITY, FP64, &[-1]),
                tensor(RISK_BAND, BYTES, &[-1]),
                tensor(REASONS, BYTES, &[-1, -1]),
            ],
        }))
    }

    async fn model_infer(
        &self,
        request: Request<ModelInferRequest>,
    ) -> Result<Response<ModelInferResponse>, Status> {
        let slot = request.extensions().get::<CallSlot>().cloned();
        let request = request.into_inner();
        let pair = self.scoring.state().current()?;
        check_model(&pair, &request.model_name, &request.model_version)?;
        let asked = max_reasons(&request.parameters)?;
        let outputs = requested_outputs(&request, asked > 0)?;
        let reasons = if outputs.contains(&REASONS) {
            self.scoring.reasons(asked)
        } else {
            0
        };
        let batch = read_inputs(&pair, &request, self.scoring.limits().max_batch_size)?;
        self.scoring.state().metrics().observe_batch(batch.len());
        let (scores, unknown) = score_batch(&self.scoring, pair.clone(), batch, reasons, slot).await?;
        let (tensors, raw): (Vec<_>, Vec<_>) = output_tensors(&outputs, &scores, reasons)
            .into_iter()
            .map(|output| (output.tensor, output.raw))
            .unzip();
        let version = &pair.version;
        let string = |value: String| InferParameter {
            parameter_choice: Some(ParameterChoice::StringParam(value)),
        };
        let mut parameters =
            HashMap::from([("snapshot_id".to_string(), string(version.snapshot_id.clone()))]);
        if let Some(as_of) = version.snapshot_as_of {
            parameters.insert("snapshot_as_of_date".to_string(), string(as_of.to_string()));
        }
        // Scored, but worth telling: a typo in a category changes the score.
        if !unknown.is_empty() {
            let summary = unknown.summaries(UNKNOWN_VALUES_SHOWN).join("; ");
            tracing::debug!("ModelInfer: {summary}");
            parameters.insert(UNKNOWN_CATEGORIES.to_string(), string(summary));
        }
        self.scoring.fitting(ModelInferResponse {
            model_name: version.model_name.clone(),
            model_version: version.model_version.clone(),
            id: request.id,
            parameters,
            outputs: tensors,
            raw_output_contents: raw,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::inference::model_infer_request::InferRequestedOutputTensor;

    fn int(value: i64) -> InferParameter {
        InferParameter {
            parameter_choice: Some(ParameterChoice::Int64Param(value)),
        }
    }

    #[test]
    fn max_reasons_is_a_non_negative_integer() {
        let parameters = |value| HashMap::from([(MAX_REASONS.to_string(), value)]);
        assert_eq!(max_reasons(&HashMap::new()).expect("absent"), 0);
        assert_eq!(max_reasons(&parameters(int(3))).expect("int64"), 3);
        assert_eq!(max_reasons(&parameters(int(i64::MAX))).expect("huge"), u32::MAX);
        let error = max_reasons(&parameters(int(-1))).expect_err("negative");
        assert!(error.to_string().contains("0 or more"), "{error}");
        let text = InferParameter {
            parameter_choice: Some(ParameterChoice::StringParam("3".into())),
        };
        let error = max_reasons(&parameters(text)).expect_err("a string");
        assert!(error.to_string().contains("int64_param"), "{error}");
    }

    #[test]
    fn outputs_are_every_one_or_those_asked_for_in_order() {
        let mut request = ModelInferRequest::default();
        assert_eq!(
            requested_outputs(&request, false).expect("all"),
            vec![CHURN_PROBABILITY, RISK_BAND]
        );
        assert_eq!(
            requested_outputs(&request, true).expect("all"),
            vec![CHURN_PROBABILITY, RISK_BAND, REASONS]
        );
        let output = |name: &str| InferRequestedOutputTensor {
            name: name.into(),
            parameters: HashMap::new(),
        };
        request.outputs = vec![output(REASONS), output(CHURN_PROBABILITY)];
        assert_eq!(
            requested_outputs(&request, false).expect("asked"),
            vec![REASONS, CHURN_PROBABILITY]
        );
        request.outputs = vec![output("probability")];
        let error = requested_outputs(&request, false).expect_err("unknown");
        assert!(
            error.to_string().starts_with("unknown output `probability`"),
            "{error}"
        );
        request.outputs = vec![output(RISK_BAND), output(RISK_BAND)];
        assert!(requested_outputs(&request, false).is_err());
    }
}
