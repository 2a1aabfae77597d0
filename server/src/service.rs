//! `churn.v1.ScoringService`: a thin layer that turns requests into calls on the current
//! [`crate::pair::ServingPair`] and results into responses. Limits on batch size, batch cost, id length,
//! reasons and answer size are applied here; authentication, load shedding by calls and deadlines sit in
//! front (see [`crate::middleware`]).
//!
//! **Batch admission.** A `ScoreBatch` call costs one unit per customer id, and so does a `ModelInfer`
//! call of the Open Inference Protocol per customer id or row of features ([`crate::inference`] runs it
//! through [`ScoringApi::run_batch`]). Calls in progress share
//! [`Limits::batch_ids_in_flight`] units; a call whose ids do not fit is refused at once with
//! RESOURCE_EXHAUSTED, never queued. Its units, and its share of the call's concurrency slot
//! ([`CallSlot`]), are held until its scoring has really ended, not only until its deadline: long
//! batches are scored on the scoring pool (rayon's, a thread per core) in chunks
//! ([`crate::scoring::CANCEL_CHUNK`]), and a call
//! that ends (deadline, client gone) tells its work to stop before the next chunk.

use crate::config::Limits;
use crate::error::{ServeError, thousands};
use crate::metrics::Metrics;
use crate::middleware::CallSlot;
use crate::proto::{self, scoring_service_server::ScoringService};
use crate::redact::IdHasher;
use crate::scoring::{PARALLEL_BATCH, Score, check_customer_id};
use crate::state::ServingState;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::{Request, Response, Status};

/// The scoring service.
#[derive(Debug, Clone)]
pub struct ScoringApi {
    state: Arc<ServingState>,
    limits: Limits,
    ids: IdHasher,
    /// One permit per customer id that batch calls in progress may hold.
    batch_ids: Arc<Semaphore>,
}

impl ScoringApi {
    /// A service answering from `state` within `limits`, hashing customer ids in logs with `ids`.
    pub fn new(state: Arc<ServingState>, limits: Limits, ids: IdHasher) -> Self {
        let batch_ids = Arc::new(Semaphore::new(limits.batch_ids_in_flight()));
        Self {
            state,
            limits,
            ids,
            batch_ids,
        }
    }

    /// Admits a batch of `ids` customer ids, or refuses it at once when the ids of the batches in
    /// progress leave no room for it.
    fn admit_batch(&self, ids: usize, slot: Option<CallSlot>) -> Result<BatchAdmission, ServeError> {
        let refused = || {
            ServeError::Overloaded(format!(
                "the server is scoring its limit of {} customer ids in batches; retry with backoff",
                thousands(self.limits.batch_ids_in_flight())
            ))
        };
        let units = u32::try_from(ids).map_err(|_| refused())?;
        let permit = self
            .batch_ids
            .clone()
            .try_acquire_many_owned(units)
            .map_err(|_| refused())?;
        let metrics = self.state.metrics().clone();
        let ids = i64::from(units);
        metrics.add_batch_ids_in_flight(ids);
        Ok(BatchAdmission {
            _permit: permit,
            _slot: slot,
            metrics,
            ids,
        })
    }

    /// Admits a batch of `units` customer ids (or rows of features) and runs `work` on it, which stops
    /// early, returning `None`, once the flag it is given is set. A batch of at least
    /// [`PARALLEL_BATCH`] units runs on the scoring pool (rayon's), so it does not hold up the threads
    /// serving I/O; when the call ends first (deadline, client gone), its future is dropped with the flag's
    /// setter, which tells the work to stop at its next chunk. The admission (units and the call's
    /// slot) is released when the work has ended.
    pub(crate) async fn run_batch<T, W>(
        &self,
        units: usize,
        slot: Option<CallSlot>,
        work: W,
    ) -> Result<T, ServeError>
    where
        T: Send + 'static,
        W: FnOnce(&AtomicBool) -> Option<T> + Send + 'static,
    {
        let admission = self.admit_batch(units, slot)?;
        let done = if units >= PARALLEL_BATCH {
            let stop = StopOnDrop(Arc::new(AtomicBool::new(false)));
            let cancelled = stop.0.clone();
            // On the scoring pool (rayon's, one thread per core, which the batch's own parallel scoring
            // uses too) rather than a thread of its own: however many batches are admitted, no more
            // threads, and no more per-thread allocator caches, than cores.
            let (done, answer) = tokio::sync::oneshot::channel();
            rayon::spawn(move || {
                let _admission = admission;
                let _ = done.send(work(&cancelled));
            });
            answer
                .await
                .map_err(|_| ServeError::Internal("batch scoring task failed".into()))?
        } else {
            let done = work(&AtomicBool::new(false));
            drop(admission);
            done
        };
        done.ok_or_else(|| ServeError::Internal("batch scoring stopped before its call ended".into()))
    }

    /// The served state.
    pub(crate) fn state(&self) -> &Arc<ServingState> {
        &self.state
    }

    /// The limits requests are held to.
    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// `answer`, or INVALID_ARGUMENT when it is larger than the largest message the server sends: a
    /// client with the same limit could not read it.
    pub(crate) fn fitting<M: prost::Message>(&self, answer: M) -> Result<Response<M>, Status> {
        let bytes = answer.encoded_len();
        if bytes > self.limits.max_message_bytes {
            return Err(ServeError::AnswerTooLarge {
                bytes,
                limit: self.limits.max_message_bytes,
            }
            .into());
        }
        Ok(Response::new(answer))
    }

    /// The answer entries of a batch, in request order.
    fn batch_results(
        &self,
        ids: Vec<String>,
        scores: Vec<Result<Score, ServeError>>,
    ) -> Vec<proto::ScoreBatchResult> {
        ids.into_iter()
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
            .collect()
    }

    /// How many reasons to return when a request asks for `requested` (0 = the default).
    pub(crate) fn reasons(&self, requested: u32) -> usize {
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
        self.fitting(proto::ScoreResponse {
            score: Some(score.into()),
            version: Some((&pair.version).into()),
        })
    }

    async fn score_batch(
        &self,
        request: Request<proto::ScoreBatchRequest>,
    ) -> Result<Response<proto::ScoreBatchResponse>, Status> {
        let slot = request.extensions().get::<CallSlot>().cloned();
        let request = request.into_inner();
        let ids = request.customer_ids;
        if ids.len() > self.limits.max_batch_size {
            return Err(ServeError::InvalidArgument(format!(
                "{} customer ids in one batch; the limit is {}",
                thousands(ids.len()),
                thousands(self.limits.max_batch_size)
            ))
            .into());
        }
        // An over-long id refuses the whole batch: the answer would echo it.
        if let Some((index, error)) = ids.iter().enumerate().find_map(|(index, id)| {
            check_customer_id(id)
                .err()
                .filter(|_| !id.is_empty())
                .map(|e| (index, e))
        }) {
            return Err(ServeError::InvalidArgument(format!("customer_ids[{index}]: {error}")).into());
        }
        self.state.metrics().observe_batch(ids.len());
        let pair = self.state.current()?;
        let reasons = self.reasons(request.max_reasons);
        let api = self.clone();
        let scoring_pair = pair.clone();
        let results = self
            .run_batch(ids.len(), slot, move |stop| {
                let scores = scoring_pair.score_customers_until(&ids, reasons, stop)?;
                Some(api.batch_results(ids, scores))
            })
            .await?;
        self.fitting(proto::ScoreBatchResponse {
            results,
            version: Some((&pair.version).into()),
        })
    }

    async fn score_features(
        &self,
        request: Request<proto::ScoreFeaturesRequest>,
    ) -> Result<Response<proto::ScoreFeaturesResponse>, Status> {
        let request = request.into_inner();
        let pair = self.state.current()?;
        let features = proto::feature_row(request.features)?;
        let (score, unknown) = pair.score_features(&features, self.reasons(request.max_reasons))?;
        self.fitting(proto::ScoreFeaturesResponse {
            score: Some(score.into()),
            version: Some((&pair.version).into()),
            unknown_categories: proto::unknown_categories(&unknown),
        })
    }

    async fn survival_curve(
        &self,
        request: Request<proto::SurvivalCurveRequest>,
    ) -> Result<Response<proto::SurvivalCurveResponse>, Status> {
        let request = request.into_inner();
        let pair = self.state.current()?;
        let (points, horizon_days) = pair.survival_curve(&request.customer_id, &request.days)?;
        self.fitting(proto::SurvivalCurveResponse {
            customer_id: request.customer_id,
            points: points
                .into_iter()
                .map(|(day, survival)| proto::SurvivalPoint { day, survival })
                .collect(),
            horizon_days,
            version: Some((&pair.version).into()),
        })
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
        #[cfg(feature = "test-hold")]
        if let Some(hold) = test_hold(&request) {
            // The guard's deadline cuts the wait short.
            tokio::time::sleep(hold).await;
        }
        let _ = request;
        Ok(Response::new(proto::PingResponse {}))
    }
}

/// The wait a `churn-test-hold-ms` header asks `Ping` for (feature `test-hold`, for the server's tests).
#[cfg(feature = "test-hold")]
fn test_hold<T>(request: &Request<T>) -> Option<std::time::Duration> {
    let millis = request
        .metadata()
        .get("churn-test-hold-ms")?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    Some(std::time::Duration::from_millis(millis))
}

/// Customer ids admitted to batch scoring, and the call's slot, held until the work ends.
#[derive(Debug)]
struct BatchAdmission {
    _permit: OwnedSemaphorePermit,
    _slot: Option<CallSlot>,
    metrics: Arc<Metrics>,
    ids: i64,
}

impl Drop for BatchAdmission {
    fn drop(&mut self) {
        self.metrics.add_batch_ids_in_flight(-self.ids);
    }
}

/// Sets its flag when dropped: the call's future is dropped when the call ends early.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[tokio::test]
    async fn batches_are_admitted_by_their_ids_and_release_them_when_done() {
        let metrics = Arc::new(Metrics::new());
        let (health, _) = tonic_health::server::health_reporter();
        let state = Arc::new(ServingState::new(health, metrics.clone()).await);
        let limits = Limits {
            max_batch_size: 100,
            ..Limits::default()
        };
        let api = ScoringApi::new(state, limits, IdHasher::with_key(b"k"));
        // Two largest batches' worth of ids: 200.
        let first = api.admit_batch(150, None).expect("fits");
        let refused = api.admit_batch(60, None).expect_err("does not fit");
        assert_eq!(refused.code(), Code::ResourceExhausted);
        assert!(
            refused.to_string().contains("limit of 200 customer ids"),
            "{refused}"
        );
        let second = api.admit_batch(50, None).expect("fits");
        assert_eq!(metrics.batch_ids_in_flight(), 200);
        drop(first);
        assert_eq!(metrics.batch_ids_in_flight(), 50);
        let third = api.admit_batch(150, None).expect("fits again");
        drop((second, third));
        assert_eq!(metrics.batch_ids_in_flight(), 0);
    }
}
