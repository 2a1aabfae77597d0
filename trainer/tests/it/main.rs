//! Integration tests of `churn-trainer`, in one binary so that a clean build links it once.

mod common;
mod dates_cli;
mod features_cli;
mod generate;
mod help;
mod models_cli;
mod monitor_cli;
mod population_cli;
mod quickstart;
mod real_data;
mod reasons;
mod report;
mod report_browser;
mod safety;
mod shards;
mod survival_cli;
