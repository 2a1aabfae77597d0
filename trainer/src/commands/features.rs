//! `churn-trainer features`.
