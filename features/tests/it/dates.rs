//! Dates outside an input's accepted range, the label horizon, and exact duplicate rows.

use crate::common::*;
use churn_features::{BuildRequest, OnInvalid};

fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "`{message}` should mention `{part}`");
    }
}

#[test]
fn a_horizon_of_zero_days_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_transactions(dir.path(), &[("a", "2024-01-01", 1.0), ("a", "2024-03-01", 1.0)]);
    let config = config(dir.path(), TX_CONFIG);
    let message = build(&config, &["2024-01-31"], Some(0), OnInvalid::Fail)
        .expect_err("horizon 0")
        .to_string();
    assert_mentions(&message, &["horizon", "at least 1 day"]);
    let request = BuildRequest {
        as_of: vec![date("2024-01-31")],
        horizon_days: Some(0),
    };
    assert!(request.validate().is_err());
    assert!(build(&config, &["2024-01-31"], Some(1), OnInvalid::Fail).is_ok());
}
