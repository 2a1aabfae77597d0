//! Limits that fit what a client with default settings accepts: answers no larger than the server's
//! message limit, a maximum id length, short error messages (a status message travels in a trailer,
//! and clients refuse large ones), undecodable requests as the caller's error, and a configuration that
//! can never be served ending the server with its reason.

use crate::common::{self, Fixture, Ids, ServingStatus};
use churn_server::proto::{self, ScoreBatchRequest, ScoreFeaturesRequest, ScoreRequest};
use churn_server::reload::ReloadOutcome;
use churn_server::scoring::MAX_CUSTOMER_ID_BYTES;
use churn_server::server::ServerError;
use prost::bytes::{Buf, BufMut};
use std::collections::HashMap;
use std::time::Duration;
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// The longest message a test accepts in a status: far below the few KiB clients accept in trailers.
const SHORT: usize = 200;

#[tokio::test]
async fn long_ids_and_long_lists_are_refused_with_short_messages() {
    let fixture = Fixture::new(30, Ids::Int);
    let server = common::start_serving(fixture.config()).await;
    let mut client = common::client(server.local_addr()).await;
    let long_id = "x".repeat(20_000);

    let status = client
        .score(ScoreRequest {
            customer_id: long_id.clone(),
            max_reasons: 0,
        })
        .await
        .expect_err("too long");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().len() < SHORT, "{}", status.message());
    assert!(
        status.message().contains("20,000 bytes long; the limit is 256"),
        "{}",
        status.message()
    );

    // The longest accepted id is looked up, and quoted in part.
    let status = client
        .score(ScoreRequest {
            customer_id: "y".repeat(MAX_CUSTOMER_ID_BYTES),
            max_reasons: 0,
        })
        .await
        .expect_err("unknown");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert!(status.message().len() < SHORT, "{}", status.message());

    let status = client
        .score_batch(ScoreBatchRequest {
            customer_ids: vec!["1000".into(), long_id, "1001".into()],
            max_reasons: 0,
        })
        .await
        .expect_err("too long");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().starts_with("customer_ids[1]: "),
        "{}",
        status.message()
    );
    assert!(status.message().len() < SHORT, "{}", status.message());

    let missing = || proto::FeatureValue {
        kind: Some(proto::feature_value::Kind::Missing(true)),
    };
    let features: HashMap<String, proto::FeatureValue> = (0..1_000)
        .map(|i| (format!("unknown_feature_{i:04}_{}", "z".repeat(100)), missing()))
        .collect();
    let status = client
        .score_features(ScoreFeaturesRequest {
            features,
            max_reasons: 0,
        })
        .await
        .expect_err("unknown features");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status
            .message()
            .starts_with("1,000 unknown features: `unknown_feature_0000_"),
        "{}",
        status.message()
    );
    assert!(
        status.message().contains(", ... (not used by model"),
        "{}",
        status.message()
    );
    assert!(status.message().len() < 2 * SHORT, "{}", status.message());
    server.shutdown();
    server.wait().await.expect("clean stop");
}

#[tokio::test]
async fn an_answer_over_the_message_limit_is_refused_saying_why() {
    let fixture = Fixture::new(300, Ids::Int);
    let mut config = fixture.config();
    let limit = 64 * 1024;
    config.limits.max_message_bytes = limit;
    let server = common::start_serving(config).await;
    // A client that accepts exactly what the server may send.
    let mut client =
        proto::scoring_service_client::ScoringServiceClient::new(common::channel(server.local_addr()).await)
            .max_decoding_message_size(limit);
    let ids: Vec<String> = (0..2_000)
        .map(|i| common::customer_id(Ids::Int, i % 300))
        .collect();
    let status = client
        .score_batch(ScoreBatchRequest {
            customer_ids: ids.clone(),
            max_reasons: 20,
        })
        .await
        .expect_err("answer too large");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status
            .message()
            .contains(&format!("above the limit of {limit} bytes"))
            && status.message().contains("fewer customer ids or fewer reasons"),
        "{}",
        status.message()
    );
    // Fewer ids fit.
    let answer = client
        .score_batch(ScoreBatchRequest {
            customer_ids: ids[..20].to_vec(),
            max_reasons: 20,
        })
        .await
        .expect("a smaller batch fits")
        .into_inner();
    assert_eq!(answer.results.len(), 20);
    server.shutdown();
    server.wait().await.expect("clean stop");
}

/// A codec that sends raw bytes, to send what no generated client would.
#[derive(Debug, Clone, Default)]
struct RawCodec;

#[derive(Debug)]
struct Raw;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let bytes = buf.chunk().to_vec();
        buf.advance(bytes.len());
        Ok(Some(bytes))
    }
}

#[tokio::test]
async fn undecodable_requests_are_invalid_arguments() {
    let fixture = Fixture::new(30, Ids::Int);
    let server = common::start_serving(fixture.config()).await;
    let mut grpc = tonic::client::Grpc::new(common::channel(server.local_addr()).await);
    // Field 1 (customer_id), length-delimited, announcing 100 bytes that never come.
    for (method, bytes) in [
        ("Score", vec![0x0a, 100, b'C']),
        ("ScoreBatch", vec![0x0a, 100, b'C']),
        // Field 2 as a 64-bit value where a varint belongs.
        ("Score", vec![0x11, 1, 2, 3, 4, 5, 6, 7, 8]),
    ] {
        grpc.ready().await.expect("ready");
        let path = http::uri::PathAndQuery::from_maybe_shared(format!("/churn.v1.ScoringService/{method}"))
            .expect("path");
        let status = grpc
            .unary(tonic::Request::new(bytes), path, RawCodec)
            .await
            .expect_err("undecodable");
        assert_eq!(status.code(), Code::InvalidArgument, "{method}: {status:?}");
        assert!(
            status.message().contains("not a valid protobuf message"),
            "{status:?}"
        );
    }
    server.shutdown();
    server.wait().await.expect("clean stop");
}

#[tokio::test]
async fn a_model_name_that_can_never_be_valid_stops_the_server_with_the_reason() {
    let fixture = Fixture::new(30, Ids::Int);
    let mut config = fixture.config();
    config.model = "../churn".into();
    let server = churn_server::start(config).await.expect("listens");
    let stopped = tokio::time::timeout(Duration::from_secs(10), server.wait())
        .await
        .expect("stops by itself");
    match stopped {
        Err(ServerError::Startup(reason)) => assert!(reason.contains("../churn"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_truncated_snapshot_stops_the_server_and_a_missing_one_is_waited_for() {
    let fixture = Fixture::new(30, Ids::Int);
    let bytes = std::fs::read(&fixture.snapshot).expect("snapshot");

    // Truncated: nothing will ever fix it.
    std::fs::write(&fixture.snapshot, &bytes[..bytes.len() / 2]).expect("truncate");
    let server = churn_server::start(fixture.config()).await.expect("listens");
    let stopped = tokio::time::timeout(Duration::from_secs(10), server.wait())
        .await
        .expect("stops by itself");
    assert!(matches!(stopped, Err(ServerError::Startup(_))), "{stopped:?}");

    // Missing: it may come, so the server waits for it.
    std::fs::remove_file(&fixture.snapshot).expect("remove");
    let server = churn_server::start(fixture.config()).await.expect("listens");
    assert!(matches!(
        server.reload(false).await,
        ReloadOutcome::Failed(_) | ReloadOutcome::Unchanged
    ));
    assert_eq!(
        common::health(server.local_addr()).await,
        ServingStatus::NotServing
    );
    std::fs::write(&fixture.snapshot, &bytes).expect("write");
    assert!(matches!(server.reload(false).await, ReloadOutcome::Swapped(_)));
    assert_eq!(common::health(server.local_addr()).await, ServingStatus::Serving);
    server.shutdown();
    server.wait().await.expect("clean stop");
}
