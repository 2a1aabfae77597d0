//! TLS, mutual TLS and the bearer token.

use crate::common::{self, Fixture, Ids};
use churn_server::config::TlsSettings;
use churn_server::proto::{PingRequest, ScoreRequest, scoring_service_client::ScoringServiceClient};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// A certificate authority, and a certificate with its key signed by it.
struct Pki {
    ca_pem: String,
    server: (String, String),
    client: (String, String),
}

fn pki() -> Pki {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "churn test CA");
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA");
    let leaf = |names: Vec<String>| {
        let key = KeyPair::generate().expect("key");
        let cert = CertificateParams::new(names)
            .expect("params")
            .signed_by(&key, &ca)
            .expect("sign");
        (cert.pem(), key.serialize_pem())
    };
    Pki {
        ca_pem: ca.pem(),
        server: leaf(vec!["localhost".into(), "127.0.0.1".into()]),
        client: leaf(vec!["scoring-client".into()]),
    }
}

async fn tls_channel(
    address: std::net::SocketAddr,
    pki: &Pki,
    with_client_cert: bool,
) -> Result<Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&pki.ca_pem))
        .domain_name("localhost");
    if with_client_cert {
        tls = tls.identity(Identity::from_pem(&pki.client.0, &pki.client.1));
    }
    Channel::from_shared(format!("https://{address}"))
        .expect("uri")
        .tls_config(tls)?
        .connect()
        .await
}

fn score_request() -> ScoreRequest {
    ScoreRequest {
        customer_id: "1000".into(),
        max_reasons: 0,
    }
}

#[tokio::test]
async fn mutual_tls_admits_only_clients_with_a_certificate_from_the_ca() {
    let fixture = Fixture::new(20, Ids::Int);
    let pki = pki();
    let mut config = fixture.config();
    config.tls = Some(TlsSettings {
        cert_pem: pki.server.0.clone().into_bytes(),
        key_pem: pki.server.1.clone().into_bytes(),
        client_ca_pem: Some(pki.ca_pem.clone().into_bytes()),
    });
    let server = churn_server::start(config).await.expect("start");
    let address = server.local_addr();

    let channel = tls_channel(address, &pki, true)
        .await
        .expect("TLS with a client certificate");
    let mut health = HealthClient::new(channel.clone());
    let mut watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("watch")
        .into_inner();
    while watch.message().await.expect("stream").expect("update").status
        != common::ServingStatus::Serving as i32
    {}
    ScoringServiceClient::new(channel)
        .score(score_request())
        .await
        .expect("scored over mTLS");

    // Without a client certificate the handshake (or the first call) fails.
    let refused = match tls_channel(address, &pki, false).await {
        Err(_) => true,
        Ok(channel) => ScoringServiceClient::new(channel)
            .score(score_request())
            .await
            .is_err(),
    };
    assert!(refused, "a client without a certificate was served");

    // Plaintext is not spoken on a TLS port.
    let plaintext = match Channel::from_shared(format!("http://{address}"))
        .expect("uri")
        .connect()
        .await
    {
        Err(_) => true,
        Ok(channel) => ScoringServiceClient::new(channel)
            .ping(PingRequest {})
            .await
            .is_err(),
    };
    assert!(plaintext, "a plaintext client was served");
    server.shutdown();
    server.wait().await.expect("clean stop");
}

#[tokio::test]
async fn tls_without_client_certificates_serves_any_client_that_trusts_the_server() {
    let fixture = Fixture::new(20, Ids::Int);
    let pki = pki();
    let mut config = fixture.config();
    config.tls = Some(TlsSettings {
        cert_pem: pki.server.0.clone().into_bytes(),
        key_pem: pki.server.1.clone().into_bytes(),
        client_ca_pem: None,
    });
    let server = churn_server::start(config).await.expect("start");
    let channel = tls_channel(server.local_addr(), &pki, false).await.expect("TLS");
    ScoringServiceClient::new(channel)
        .ping(PingRequest {})
        .await
        .expect("ping over TLS");
    server.shutdown();
    server.wait().await.expect("clean stop");
}

#[tokio::test]
async fn the_bearer_token_guards_scoring_but_not_health() {
    let fixture = Fixture::new(20, Ids::Int);
    let mut config = fixture.config();
    config.auth_token = Some("s3cret-token".into());
    let server = common::start_serving(config).await;
    let channel = common::channel(server.local_addr()).await;

    let mut anonymous = ScoringServiceClient::new(channel.clone());
    let status = anonymous.score(score_request()).await.expect_err("no token");
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(!status.message().contains("s3cret"), "{}", status.message());

    let with = |token: &'static str| {
        let value: MetadataValue<_> = token.parse().expect("ascii");
        ScoringServiceClient::with_interceptor(channel.clone(), move |mut request: tonic::Request<()>| {
            request.metadata_mut().insert("authorization", value.clone());
            Ok(request)
        })
    };
    let status = with("Bearer wrong")
        .score(score_request())
        .await
        .expect_err("wrong token");
    assert_eq!(status.code(), Code::Unauthenticated);
    with("Bearer s3cret-token")
        .score(score_request())
        .await
        .expect("right token");
    assert_eq!(server.metrics().requests("Score", Code::Unauthenticated), 2);
    assert_eq!(server.metrics().requests("Score", Code::Ok), 1);

    // Probes need no token.
    assert_eq!(
        common::health(server.local_addr()).await,
        common::ServingStatus::Serving
    );
    server.shutdown();
    server.wait().await.expect("clean stop");
}
