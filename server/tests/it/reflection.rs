//! Server reflection (v1 and v1alpha), as `grpcurl list` and `grpcurl describe` use it.

use crate::common::{self, Fixture, Ids};
use prost::Message;
use prost_types::FileDescriptorProto;
use tonic_reflection::pb::{v1, v1alpha};

/// The service names listed by reflection v1.
async fn list_v1(channel: tonic::transport::Channel) -> Vec<String> {
    let mut client = v1::server_reflection_client::ServerReflectionClient::new(channel);
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection")
        .into_inner();
    let response = stream.message().await.expect("answer").expect("one answer");
    match response.message_response.expect("response") {
        v1::server_reflection_response::MessageResponse::ListServicesResponse(list) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected answer {other:?}"),
    }
}

/// The files reflection v1alpha returns for a symbol.
async fn files_for_symbol_v1alpha(
    channel: tonic::transport::Channel,
    symbol: &str,
) -> Vec<FileDescriptorProto> {
    let mut client = v1alpha::server_reflection_client::ServerReflectionClient::new(channel);
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::FileContainingSymbol(symbol.to_string()),
        ),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection")
        .into_inner();
    let response = stream.message().await.expect("answer").expect("one answer");
    match response.message_response.expect("response") {
        v1alpha::server_reflection_response::MessageResponse::FileDescriptorResponse(files) => files
            .file_descriptor_proto
            .iter()
            .map(|bytes| FileDescriptorProto::decode(bytes.as_slice()).expect("descriptor"))
            .collect(),
        other => panic!("unexpected answer {other:?}"),
    }
}

#[tokio::test]
async fn reflection_lists_and_describes_the_services() {
    let fixture = Fixture::new(20, Ids::Int);
    let server = common::start_serving(fixture.config()).await;
    let channel = common::channel(server.local_addr()).await;

    let services = list_v1(channel.clone()).await;
    for expected in [
        "churn.v1.ScoringService",
        "inference.GRPCInferenceService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(
            services.iter().any(|s| s == expected),
            "{expected} missing from {services:?}"
        );
    }

    let files = files_for_symbol_v1alpha(channel.clone(), "churn.v1.ScoringService").await;
    let file = files
        .iter()
        .find(|f| f.package.as_deref() == Some("churn.v1"))
        .expect("churn.v1 file");
    let service = file
        .service
        .iter()
        .find(|s| s.name() == "ScoringService")
        .expect("service");
    let methods: Vec<_> = service.method.iter().map(|m| m.name()).collect();
    assert_eq!(
        methods,
        [
            "Score",
            "ScoreBatch",
            "ScoreFeatures",
            "SurvivalCurve",
            "GetModelInfo",
            "Ping"
        ]
    );
    let request = file
        .message_type
        .iter()
        .find(|m| m.name() == "ScoreRequest")
        .expect("ScoreRequest");
    assert_eq!(request.field[0].name(), "customer_id");
    // Comments travel with the descriptors, so `grpcurl describe` shows them.
    let comments: Vec<_> = file
        .source_code_info
        .as_ref()
        .expect("source info")
        .location
        .iter()
        .filter_map(|l| l.leading_comments.as_deref())
        .collect();
    assert!(
        comments.iter().any(|c| c.contains("Scores one customer")),
        "{comments:?}"
    );

    let health = files_for_symbol_v1alpha(channel, "grpc.health.v1.Health").await;
    assert!(
        health
            .iter()
            .any(|f| f.package.as_deref() == Some("grpc.health.v1"))
    );
    server.shutdown();
    server.wait().await.expect("clean stop");
}
