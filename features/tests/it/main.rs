//! Integration tests of `churn-features`, in one binary so that a clean build links it once.

mod bad_input;
mod catalog;
mod common;
mod date_attributes;
mod dates;
mod durations;
mod edge_cases;
mod leakage;
mod order_lines;
mod subscriptions;
mod value;
mod value_columns;
