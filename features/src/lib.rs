//! Point-in-time customer features and churn labels from transaction, event and customer Parquet files.
