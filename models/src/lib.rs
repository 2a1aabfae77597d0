//! Churn models: preprocessing, logistic regression and random forest, evaluation, explanations and the
//! versioned model artifact. Consumes the feature table built by `churn-features`.
