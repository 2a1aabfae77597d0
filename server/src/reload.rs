//! Live reload: notices a newly promoted model version or a new snapshot, loads the new pair in the
//! background, and swaps it in.
//!
//! The model is named as everywhere else (`churn_models::Registry::resolve_version`): `NAME` is its
//! promoted version, followed through promotions and rollbacks, and a model without a promoted version
//! is not served; `NAME@VERSION` pins that version, and promotions leave it alone.
//!
//! The [`Loader`] compares what is on disk (the version the model spec names, read from the registry's
//! promotion pointer, and the snapshot file's fingerprint) with what it serves. When they differ it loads what changed, reusing the unchanged half,
//! checks that the snapshot fits the model's feature schema, and hands back the new pair. A failed load
//! leaves the served pair alone, is logged and counted, and is not retried until something on disk
//! changes again (or a forced reload, e.g. on SIGHUP, asks for it), so a bad file does not flood the log.
//!
//! [`run`] drives the loader: on start, on every poll interval, and on request.
//!
//! **Before anything is served**, a failure is either transient or permanent ([`LoadError::is_transient`]).
//! Transient: something is not there yet (the registry, the model, a promoted version, the snapshot
//! file), or the snapshot changed while it was read; the server stays up, NOT_SERVING, and tries again
//! at every poll. Permanent: what is there can never be served (a model name that is not a valid name,
//! a corrupt or truncated artifact or snapshot, a snapshot that does not fit the model); [`run`] then
//! returns the reason, and the server stops with it rather than staying up "not serving yet" forever.
//! Once a pair is served, every failure leaves it serving.

use crate::pair::{ServingPair, ServingVersion};
use crate::snapshot::{FileFingerprint, Snapshot, SnapshotError};
use crate::state::ServingState;
use churn_models::{LoadedModel, ModelError, Registry};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// Why a new pair could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The registry or the model artifact could not be read, or the artifact is invalid.
    #[error("model: {0}")]
    Model(ModelError),
    /// The snapshot could not be read.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// The snapshot does not fit the model's feature schema.
    #[error("the feature snapshot does not fit model {model}: {source}")]
    Mismatch {
        /// `name@version` of the model.
        model: String,
        /// What does not fit.
        source: ModelError,
    },
}

impl LoadError {
    /// True when the failure may go away by itself: something the configuration names does not exist
    /// yet (registry, model, promoted version, snapshot file), or the snapshot changed while it was read.
    /// Everything else (an invalid model name, an unreadable or corrupt file, a mismatch) needs a
    /// person.
    pub fn is_transient(&self) -> bool {
        let missing = |source: &std::io::Error| source.kind() == std::io::ErrorKind::NotFound;
        match self {
            Self::Model(ModelError::NotFound(_) | ModelError::NotPromoted { .. }) => true,
            Self::Model(ModelError::Io { source, .. }) => missing(source),
            Self::Snapshot(SnapshotError::Io { source, .. }) => missing(source),
            Self::Snapshot(SnapshotError::Changing(_)) => true,
            Self::Model(_) | Self::Snapshot(_) | Self::Mismatch { .. } => false,
        }
    }
}

/// The outcome of one reload attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// Nothing changed on disk (or it changed to something that already failed to load).
    Unchanged,
    /// A new pair is being served.
    Swapped(ServingVersion),
    /// Loading failed; the previous pair (if any) is still served. Holds the error, for logs and
    /// operators (it may name files).
    Failed(String),
    /// Loading failed before anything was served, in a way that will not go away by itself (see
    /// [`LoadError::is_transient`]). Holds the error.
    Impossible(String),
}

/// What is on disk now: the model name and version the spec names (or why it names none), and the
/// fingerprints of the snapshot file and of its run summary (a snapshot refused for not matching its
/// summary is read again once the summary is replaced).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sources {
    model: Result<(String, String), String>,
    snapshot: Option<FileFingerprint>,
    summary: Option<FileFingerprint>,
}

/// Loads pairs from the registry and the snapshot file, remembering what it loaded last.
#[derive(Debug)]
pub struct Loader {
    registry_dir: PathBuf,
    model_spec: String,
    snapshot_path: PathBuf,
    model: Option<Arc<LoadedModel>>,
    snapshot: Option<Arc<Snapshot>>,
    /// The fingerprint of the served snapshot's summary, as it was when the snapshot was loaded or seen.
    summary: Option<FileFingerprint>,
    failed: Option<Sources>,
}

impl Loader {
    /// A loader for the model `model_spec` names (`NAME` or `NAME@VERSION`) in the registry at
    /// `registry_dir`, and the snapshot at `snapshot_path`; nothing is loaded yet.
    pub fn new(registry_dir: PathBuf, model_spec: String, snapshot_path: PathBuf) -> Self {
        Self {
            registry_dir,
            model_spec,
            snapshot_path,
            model: None,
            snapshot: None,
            summary: None,
            failed: None,
        }
    }

    /// The model name and version the spec names now.
    fn resolve(&self) -> Result<(String, String), ModelError> {
        Registry::open(&self.registry_dir)?.resolve_version(&self.model_spec)
    }

    fn sources(&self) -> Sources {
        Sources {
            model: self.resolve().map_err(|e| e.to_string()),
            snapshot: FileFingerprint::of(&self.snapshot_path).ok(),
            summary: FileFingerprint::of(&churn_features::output::summary_path(&self.snapshot_path)).ok(),
        }
    }

    fn serving(&self) -> Option<Sources> {
        let model = self.model.as_ref()?;
        Some(Sources {
            model: Ok((model.name.clone(), model.version.clone())),
            snapshot: self.snapshot.as_ref()?.fingerprint,
            summary: self.summary,
        })
    }

    /// Loads a new pair if the disk holds something new; with `force`, reads both from disk again
    /// whatever changed. `Ok(None)` means there was nothing to do.
    pub fn poll(&mut self, force: bool) -> Result<Option<ServingPair>, LoadError> {
        let sources = self.sources();
        if !force && (Some(&sources) == self.serving().as_ref() || Some(&sources) == self.failed.as_ref()) {
            return Ok(None);
        }
        // Only the summary of the snapshot being served changed: nothing to load.
        if let Some(serving) = self.serving().filter(|_| !force)
            && serving.model == sources.model
            && serving.snapshot == sources.snapshot
            && serving.snapshot.is_some()
        {
            self.summary = sources.summary;
            return Ok(None);
        }
        match self.load(&sources, force) {
            Ok(pair) => {
                self.failed = None;
                self.summary = sources.summary;
                self.model = Some(pair.model.clone());
                self.snapshot = Some(pair.snapshot.clone());
                Ok(Some(pair))
            }
            Err(error) => {
                self.failed = Some(sources);
                Err(error)
            }
        }
    }

    fn load(&self, sources: &Sources, force: bool) -> Result<ServingPair, LoadError> {
        let (name, version) = match &sources.model {
            Ok(named) => named.clone(),
            // Resolve again for a typed error.
            Err(_) => self.resolve().map_err(LoadError::Model)?,
        };
        let model = match &self.model {
            Some(model) if !force && model.name == name && model.version == version => model.clone(),
            _ => {
                let registry = Registry::open(&self.registry_dir).map_err(LoadError::Model)?;
                Arc::new(registry.load(&name, &version).map_err(LoadError::Model)?)
            }
        };
        let snapshot = match &self.snapshot {
            Some(snapshot)
                if !force && snapshot.fingerprint.is_some() && snapshot.fingerprint == sources.snapshot =>
            {
                snapshot.clone()
            }
            _ => Arc::new(Snapshot::read(&self.snapshot_path)?),
        };
        let name = format!("{}@{}", model.name, model.version);
        ServingPair::build(model, snapshot).map_err(|source| LoadError::Mismatch { model: name, source })
    }
}

/// A request to reload now.
#[derive(Debug)]
pub struct ReloadRequest {
    /// Read the model and the snapshot again even if they look unchanged.
    pub force: bool,
    /// Where the outcome goes.
    pub reply: oneshot::Sender<ReloadOutcome>,
}

/// Runs one reload attempt on the blocking pool and installs its result.
pub async fn reload_once(loader: &Arc<Mutex<Loader>>, state: &ServingState, force: bool) -> ReloadOutcome {
    let task_loader = loader.clone();
    let result = tokio::task::spawn_blocking(move || {
        let mut loader = task_loader
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        loader.poll(force)
    })
    .await;
    let outcome = match result {
        Ok(Ok(None)) => return ReloadOutcome::Unchanged,
        Ok(Ok(Some(pair))) => {
            let version = pair.version.clone();
            tracing::info!(
                model = %version.model_name,
                version = %version.model_version,
                snapshot = %version.snapshot_id,
                snapshot_as_of = ?version.snapshot_as_of,
                customers = pair.snapshot.len(),
                "serving a new model and snapshot"
            );
            state.install(Arc::new(pair)).await;
            ReloadOutcome::Swapped(version)
        }
        Ok(Err(error)) if state.version().is_none() && !error.is_transient() => {
            ReloadOutcome::Impossible(error_chain(&error))
        }
        Ok(Err(error)) => ReloadOutcome::Failed(error_chain(&error)),
        Err(join_error) => ReloadOutcome::Failed(format!("the loading task failed: {join_error}")),
    };
    match &outcome {
        ReloadOutcome::Swapped(_) => state.metrics().record_reload(true),
        ReloadOutcome::Failed(error) => {
            state.metrics().record_reload(false);
            match state.version() {
                Some(version) => tracing::error!(
                    error = %error,
                    "could not load the new model or snapshot; still serving {}@{} with snapshot {}",
                    version.model_name,
                    version.model_version,
                    version.snapshot_id
                ),
                None => {
                    tracing::error!(error = %error, "could not load a model and snapshot; not serving yet")
                }
            }
        }
        ReloadOutcome::Impossible(error) => {
            state.metrics().record_reload(false);
            tracing::error!(error = %error, "cannot serve: the model or the snapshot can never load as configured");
        }
        ReloadOutcome::Unchanged => {}
    }
    outcome
}

/// Loads at once, then reloads on every `interval` (if any) and on every request, until `shutdown`
/// turns true. Returns early with the reason when a load before anything was served failed for good
/// ([`ReloadOutcome::Impossible`]).
pub async fn run(
    loader: Loader,
    state: Arc<ServingState>,
    interval: Option<Duration>,
    mut requests: mpsc::Receiver<ReloadRequest>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), String> {
    let loader = Arc::new(Mutex::new(loader));
    if let ReloadOutcome::Impossible(error) = reload_once(&loader, &state, false).await {
        return Err(error);
    }
    let mut ticker = interval.map(|period| {
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker
    });
    loop {
        // Shutdown first: once it is asked for, no new pair is loaded.
        tokio::select! {
            biased;
            () = stopped(&mut shutdown) => break,
            request = requests.recv() => match request {
                Some(ReloadRequest { force, reply }) => {
                    let outcome = reload_once(&loader, &state, force).await;
                    let impossible = match &outcome {
                        ReloadOutcome::Impossible(error) => Some(error.clone()),
                        _ => None,
                    };
                    let _ = reply.send(outcome);
                    if let Some(error) = impossible {
                        return Err(error);
                    }
                }
                None => break,
            },
            () = tick(&mut ticker) => {
                if let ReloadOutcome::Impossible(error) = reload_once(&loader, &state, false).await {
                    return Err(error);
                }
            }
        }
    }
    Ok(())
}

/// Waits until `shutdown` turns true (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Waits for the next tick, or forever without a ticker.
async fn tick(ticker: &mut Option<tokio::time::Interval>) {
    match ticker {
        Some(ticker) => {
            ticker.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// An error and its sources, joined by `: `.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
