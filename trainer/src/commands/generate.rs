//! `churn-trainer generate`.
