//! The load generator behind `churn-loadgen`.
