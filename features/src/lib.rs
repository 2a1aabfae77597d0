//! Point-in-time customer features and churn labels from transaction, event and customer Parquet files.
//!
//! The engine reads the inputs named in a [`config::Config`], and for each as-of date builds one row per
//! customer: what the customer looked like at the end of that day (only rows dated on or before it are
//! seen) and, when the data reach far enough, whether they churned within the horizon after it. The
//! result is a [`FeatureTable`], the one format training, batch scoring and serving read.

pub mod config;
pub mod engine;
pub mod error;
pub mod input;
mod order;
pub mod output;
pub mod redact;
pub mod table;
pub mod time;
pub mod value;

pub use config::Config;
pub use engine::{BuildRequest, BuildSummary, build, build_to_parquet};
pub use error::{FeatureError, Result};
pub use input::{Inputs, LoadOptions, OnInvalid};
pub use table::{ColumnRole, ColumnValues, CustomerIds, FeatureColumn, FeatureTable};
