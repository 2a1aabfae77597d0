//! `churn.v1.ScoringService`: a thin layer that turns requests into calls on the current
//! [`crate::state::ServingPair`] and results into responses. Limits on batch size and reasons are
//! applied here; authentication, load shedding and deadlines sit in front (see [`crate::middleware`]).

use crate::config::Limits;
use crate::error::ServeError;
use crate::proto::{self, scoring_service_server::ScoringService};
use crate::redact::IdHasher;
use crate::scoring::PARALLEL_BATCH;
use crate::state::ServingState;
use std::sync::Arc;
use std::time::Duration;
use tonic::{Request, Response, Status};

/// The scoring service.
#[derive(Debug, Clone)]
pub struct ScoringApi {
    state: Arc<ServingState>,
    limits: Limits,
    ids: IdHasher,
}

impl ScoringApi {
    /// A service answering from `state` within `limits`, hashing customer ids in logs with `ids`.
    pub fn new(state: Arc<ServingState>, limits: Limits, ids: IdHasher) -> Self {
        Self { state, limits, ids }
    }

    /// How many reasons to return when a request asks for `requested` (0 = the default).
    fn reasons(&self, requested: u32) -> usize {
        let wanted = if requested == 0 {
            self.limits.default_reasons
        } else {
            requested
        };
        wanted.min(self.limits.max_reasons) as usize
    }
}

#[tonic::async_trait]
impl ScoringService for ScoringApi {
    async fn score(
        &self,
        request: Request<proto::ScoreRequest>,
    ) -> Result<Response<proto::ScoreResponse>, Status> {
        let request = request.into_inner();
        let pair = self.state.current()?;
        let score = pair
            .score_customer(&request.customer_id, self.reasons(request.max_reasons))
            .inspect_err(|error| {
                tracing::debug!(customer = %self.ids.hash(&request.customer_id), code = ?error.code(), "score refused");
            })?;
        tracing::trace!(customer = %self.ids.hash(&request.customer_id), probability = score.probability, "scored");
        Ok(Response::new(proto::ScoreResponse {
            score: Some(score.into()),
            version: Some((&pair.version).into()),
        }))
    }

    async fn score_batch(
        &self,
        request: Request<proto::ScoreBatchRequest>,
    ) -> Result<Response<proto::ScoreBatchResponse>, Status> {
        let request = request.into_inner();
        let ids = request.customer_ids;
        if ids.len() > self.limits.max_batch_size {
            return Err(ServeError::InvalidArgument(format!(
                "{} customer ids in one batch; the limit is {}",
                ids.len(),
                self.limits.max_batch_size
            ))
            .into());
        }
        self.state.metrics().observe_batch(ids.len());
        let pair = self.state.current()?;
        let reasons = self.reasons(request.max_reasons);
        let (ids, scores) = if ids.len() >= PARALLEL_BATCH {
            // Long batches run on the blocking pool so they do not hold up the threads serving I/O.
            let pair = pair.clone();
            tokio::task::spawn_blocking(move || {
                let scores = pair.score_customers(&ids, reasons);
                (ids, scores)
            })
            .await
            .map_err(|e| ServeError::Internal(format!("batch scoring task failed: {e}")))?
        } else {
            let scores = pair.score_customers(&ids, reasons);
            (ids, scores)
        };
        let results = ids
            .into_iter()
            .zip(scores)
            .map(|(customer_id, score)| {
                let outcome = match score {
                    Ok(score) => proto::score_batch_result::Outcome::Score(score.into()),
                    Err(error) => {
                        tracing::trace!(customer = %self.ids.hash(&customer_id), code = ?error.code(), "batch entry refused");
                        proto::score_batch_result::Outcome::Error(proto::ScoreError {
                            code: error.code() as i32,
                            message: error.client_message(),
                        })
                    }
                };
                proto::ScoreBatchResult {
                    customer_id,
                    outcome: Some(outcome),
                }
            })
            .collect();
        Ok(Response::new(proto::ScoreBatchResponse {
            results,
            version: Some((&pair.version).into()),
        }))
    }

    async fn score_features(
        &self,
        request: Request<proto::ScoreFeaturesRequest>,
    ) -> Result<Response<proto::ScoreFeaturesResponse>, Status> {
        let request = request.into_inner();
        let pair = self.state.current()?;
        let features = proto::feature_row(request.features)?;
        let (score, unknown) = pair.score_features(&features, self.reasons(request.max_reasons))?;
        Ok(Response::new(proto::ScoreFeaturesResponse {
            score: Some(score.into()),
            version: Some((&pair.version).into()),
            unknown_categories: proto::unknown_categories(&unknown),
        }))
    }

    async fn get_model_info(
        &self,
        _request: Request<proto::GetModelInfoRequest>,
    ) -> Result<Response<proto::GetModelInfoResponse>, Status> {
        let pair = self.state.current()?;
        Ok(Response::new(proto::model_info(
            &pair,
            self.limits.max_batch_size,
        )))
    }

    async fn ping(
        &self,
        request: Request<proto::PingRequest>,
    ) -> Result<Response<proto::PingResponse>, Status> {
        let hold = request.into_inner().hold_ms;
        if hold > 0 {
            // The guard's deadline cuts the wait short.
            tokio::time::sleep(Duration::from_millis(u64::from(hold))).await;
        }
        Ok(Response::new(proto::PingResponse {}))
    }
}
