//! Integration tests of `churn-models`, in one binary so that a clean build links it once.

mod common;
mod cox_telco;
mod models_api;
mod population;
mod reasons;
