//! A model registry on the file system:
//!
//! ```text
//! DIR/NAME/v1/model.json     the artifact (see [`crate::artifact`])
//! DIR/NAME/v1/metrics.json   its held-out metrics, for people and tools
//! DIR/NAME/v2/...
//! DIR/NAME/PROMOTED          the promoted version, e.g. "v2\n"
//! DIR/NAME/promotions.json   every promotion in order, for rollback
//! ```
//!
//! A version directory appears whole: it is written under a hidden temporary name and renamed into place,
//! and a version number taken by a concurrent writer makes the next one be tried; staging folders of
//! interrupted runs are removed by the next save. Promotion replaces `PROMOTED` by rename, so a server
//! that polls it (see [`Registry::promotion_pointer`]) reads the old version or the new one, never a torn
//! write.
//!
//! Promotions and rollbacks of a model hold an exclusive lock on `DIR/NAME/.lock` (an advisory lock of
//! the operating system, released when the process ends, however it ends), so concurrent promotions keep
//! every history entry. A promotion writes `PROMOTED` before the history and a rollback the history
//! before `PROMOTED`; each operation first adds the promoted version to the history when an interrupted
//! one left it out, so no promotion that took effect is ever lost. A history that cannot be read is set
//! aside as `promotions.json.corrupt-<time>` with a warning, and promotion goes on.

use crate::artifact::ModelArtifact;
use crate::error::{ModelError, Result};
use crate::metrics::Metrics;
use churn_features::output::{remove_stale_temporaries, temporary_path, write_bytes_atomically};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// File name of the artifact inside a version directory.
pub const MODEL_FILE: &str = "model.json";
/// File name of the metrics inside a version directory.
pub const METRICS_FILE: &str = "metrics.json";
/// File name of the promotion pointer inside a model directory.
pub const PROMOTED_FILE: &str = "PROMOTED";
/// File name of the promotion history inside a model directory.
pub const HISTORY_FILE: &str = "promotions.json";
/// File name of the lock that serialises promotions and rollbacks of a model.
pub const LOCK_FILE: &str = ".lock";

/// A registry rooted at a directory.
#[derive(Debug, Clone)]
pub struct Registry {
    root: PathBuf,
}

/// A model loaded from the registry: the artifact and where it came from.
#[derive(Debug, Clone)]
pub struct LoadedModel {
    /// Model name.
    pub name: String,
    /// Version, e.g. `v3`.
    pub version: String,
    /// The artifact file.
    pub path: PathBuf,
    /// The artifact.
    pub artifact: ModelArtifact,
}

impl LoadedModel {
    /// The input features and their preprocessing.
    pub fn schema(&self) -> &crate::FeatureSchema {
        &self.artifact.schema
    }

    /// The decision threshold.
    pub fn threshold(&self) -> f64 {
        self.artifact.threshold
    }

    /// The risk bands.
    pub fn risk_bands(&self) -> &crate::RiskBands {
        &self.artifact.risk_bands
    }

    /// The [`crate::Scorer`] of the model.
    pub fn scorer(&self) -> crate::Scorer<'_> {
        self.artifact.scorer()
    }
}

/// One entry of the promotion history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Promotion {
    /// The version promoted.
    pub version: String,
    /// When, RFC 3339 UTC.
    pub at: String,
}

impl Registry {
    /// Opens an existing registry directory.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let root = dir.as_ref().to_path_buf();
        if !root.is_dir() {
            return Err(ModelError::NotFound(format!(
                "model registry {} does not exist or is not a directory",
                root.display()
            )));
        }
        Ok(Self { root })
    }

    /// Opens a registry directory, creating it if needed, and checks that it can be written in, so a
    /// caller can fail before training rather than after.
    pub fn create(dir: impl AsRef<Path>) -> Result<Self> {
        let root = dir.as_ref().to_path_buf();
        if root.exists() && !root.is_dir() {
            return Err(ModelError::NotFound(format!(
                "model registry {} is a file, not a folder; give a folder (it is created if missing)",
                root.display()
            )));
        }
        std::fs::create_dir_all(&root).map_err(|e| ModelError::io(&root, e))?;
        remove_stale_temporaries(&root);
        churn_features::output::check_folder(&root)?;
        Ok(Self { root })
    }

    /// The registry directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Directory of a model.
    pub fn model_dir(&self, name: &str) -> Result<PathBuf> {
        check_name(name, "model name")?;
        Ok(self.root.join(name))
    }

    /// The file holding the promoted version of `name`: poll its modification time or content to notice
    /// promotions and rollbacks.
    pub fn promotion_pointer(&self, name: &str) -> Result<PathBuf> {
        Ok(self.model_dir(name)?.join(PROMOTED_FILE))
    }

    /// Names of the models in the registry, sorted.
    pub fn model_names(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.root).map_err(|e| ModelError::io(&self.root, e))? {
            let entry = entry.map_err(|e| ModelError::io(&self.root, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().is_dir() && check_name(&name, "model name").is_ok() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Versions of a model, oldest first.
    pub fn versions(&self, name: &str) -> Result<Vec<String>> {
        let dir = self.model_dir(name)?;
        if !dir.is_dir() {
            return Err(ModelError::NotFound(format!(
                "no model `{name}` in registry {}",
                self.root.display()
            )));
        }
        let mut versions: Vec<(u64, String)> = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| ModelError::io(&dir, e))? {
            let entry = entry.map_err(|e| ModelError::io(&dir, e))?;
            let file_name = entry.file_name().to_string_lossy().into_owned();
            if let Some(number) = version_number(&file_name)
                && entry.path().join(MODEL_FILE).is_file()
            {
                versions.push((number, file_name));
            }
        }
        versions.sort();
        Ok(versions.into_iter().map(|(_, v)| v).collect())
    }

    /// The promoted version of a model, if any.
    pub fn promoted_version(&self, name: &str) -> Result<Option<String>> {
        let pointer = self.promotion_pointer(name)?;
        match std::fs::read_to_string(&pointer) {
            Ok(text) => {
                let version = text.trim().to_string();
                check_version(&version)?;
                Ok(Some(version))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ModelError::io(pointer, e)),
        }
    }

    /// Saves a trained artifact as the next version of `name` (with its metrics) and returns the version.
    pub fn save(&self, name: &str, artifact: &ModelArtifact) -> Result<String> {
        let dir = self.model_dir(name)?;
        std::fs::create_dir_all(&dir).map_err(|e| ModelError::io(&dir, e))?;
        remove_stale_temporaries(&dir);
        let mut next = self
            .versions(name)?
            .iter()
            .filter_map(|v| version_number(v))
            .max()
            .unwrap_or(0)
            + 1;
        loop {
            let version = format!("v{next}");
            let mut artifact = artifact.clone();
            artifact.name = name.to_string();
            artifact.version = version.clone();
            let staging = temporary_path(&dir.join(&version));
            std::fs::create_dir_all(&staging).map_err(|e| ModelError::io(&staging, e))?;
            artifact.write(&staging.join(MODEL_FILE))?;
            if let Some(metrics) = &artifact.metrics {
                write_metrics(&staging.join(METRICS_FILE), metrics)?;
            }
            let target = dir.join(&version);
            if target.exists() {
                let _ = std::fs::remove_dir_all(&staging);
                next += 1;
                continue;
            }
            match std::fs::rename(&staging, &target) {
                Ok(()) => return Ok(version),
                // Taken by a concurrent writer between the check and the rename: try the next number.
                Err(_) if target.exists() => {
                    let _ = std::fs::remove_dir_all(&staging);
                    next += 1;
                }
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&staging);
                    return Err(ModelError::io(target, e));
                }
            }
        }
    }

    /// Loads one version of a model, checking that the artifact is the one its directory says.
    pub fn load(&self, name: &str, version: &str) -> Result<LoadedModel> {
        check_version(version)?;
        let path = self.model_dir(name)?.join(version).join(MODEL_FILE);
        if !path.is_file() {
            return Err(ModelError::NotFound(format!(
                "no version `{version}` of model `{name}` in registry {}",
                self.root.display()
            )));
        }
        let artifact = ModelArtifact::read(&path)?;
        if artifact.name != name || artifact.version != version {
            return Err(ModelError::artifact(
                &path,
                format!(
                    "the artifact is {}@{} but sits at {name}@{version}",
                    artifact.name, artifact.version
                ),
            ));
        }
        Ok(LoadedModel {
            name: name.to_string(),
            version: version.to_string(),
            path,
            artifact,
        })
    }

    /// Loads the promoted version of a model; [`ModelError::NotPromoted`] when none is promoted.
    pub fn load_promoted(&self, name: &str) -> Result<LoadedModel> {
        let version = self.promoted_or_error(name)?;
        self.load(name, &version)
    }

    /// The model name and version a model spec names, without loading it. This is the one rule by which
    /// `churn-trainer` (score, evaluate, models show) and `churn-server` pick a version:
    ///
    /// - `NAME@VERSION` names that version, promoted or not;
    /// - `NAME` alone names the promoted version. A model without a promoted version is an error
    ///   ([`ModelError::NotPromoted`]) that says how to promote one or to name a version: never the
    ///   latest version in silence, since using a model nobody promoted is what promotion guards
    ///   against.
    pub fn resolve_version(&self, spec: &str) -> Result<(String, String)> {
        match spec.split_once('@') {
            Some((name, version)) => {
                check_name(name, "model name")?;
                check_version(version)?;
                Ok((name.to_string(), version.to_string()))
            }
            None => Ok((spec.to_string(), self.promoted_or_error(spec)?)),
        }
    }

    /// Loads the version a model spec names (see [`Registry::resolve_version`] for the rule).
    pub fn resolve(&self, spec: &str) -> Result<LoadedModel> {
        let (name, version) = self.resolve_version(spec)?;
        self.load(&name, &version)
    }

    /// The promoted version of `name`, or why there is none.
    fn promoted_or_error(&self, name: &str) -> Result<String> {
        if let Some(version) = self.promoted_version(name)? {
            return Ok(version);
        }
        let versions = self.versions(name)?;
        if versions.is_empty() {
            return Err(ModelError::NotFound(format!(
                "model `{name}` has no versions in registry {}",
                self.root.display()
            )));
        }
        Err(ModelError::NotPromoted {
            name: name.to_string(),
            registry: self.root.clone(),
            versions,
        })
    }

    /// Makes `version` the promoted version of `name` (after checking that it loads).
    pub fn promote(&self, name: &str, version: &str) -> Result<()> {
        self.load(name, version)?;
        let _lock = self.lock(name)?;
        let mut history = self.history_for_update(name)?;
        write_bytes_atomically(&self.promotion_pointer(name)?, format!("{version}\n").as_bytes())?;
        history.push(Promotion::now(version));
        self.write_history(name, &history)
    }

    /// Promotes again the version promoted before the current one; returns it.
    pub fn rollback(&self, name: &str) -> Result<String> {
        let _lock = self.lock(name)?;
        let current = self.promoted_version(name)?.ok_or_else(|| {
            ModelError::NotFound(format!("model `{name}` has no promoted version to roll back"))
        })?;
        let mut history = self.history_for_update(name)?;
        while history.last().is_some_and(|p| p.version == current) {
            history.pop();
        }
        let previous = history.last().cloned().ok_or_else(|| {
            ModelError::NotFound(format!(
                "model `{name}`: no version was promoted before {current}; nothing to roll back to \
                 (promote one by name instead)"
            ))
        })?;
        self.load(name, &previous.version)?;
        self.write_history(name, &history)?;
        write_bytes_atomically(
            &self.promotion_pointer(name)?,
            format!("{}\n", previous.version).as_bytes(),
        )?;
        Ok(previous.version)
    }

    /// The promotion history of a model, oldest first.
    pub fn history(&self, name: &str) -> Result<Vec<Promotion>> {
        let path = self.model_dir(name)?.join(HISTORY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| ModelError::artifact(&path, format!("unreadable promotion history: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(ModelError::io(path, e)),
        }
    }

    /// The history to change, under the lock: an unreadable one is set aside (and starts anew), and the
    /// promoted version is appended when an interrupted promotion left it out.
    fn history_for_update(&self, name: &str) -> Result<Vec<Promotion>> {
        let mut history = match self.history(name) {
            Ok(history) => history,
            Err(ModelError::InvalidArtifact { path, reason }) => {
                let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
                let aside = path.with_file_name(format!("{HISTORY_FILE}.corrupt-{stamp}"));
                std::fs::rename(&path, &aside).map_err(|e| ModelError::io(&path, e))?;
                tracing::warn!(
                    history = %path.display(),
                    kept_as = %aside.display(),
                    "{reason}; set aside, starting a new promotion history"
                );
                Vec::new()
            }
            Err(other) => return Err(other),
        };
        if let Some(promoted) = self.promoted_version(name)?
            && history.last().is_none_or(|p| p.version != promoted)
        {
            history.push(Promotion::now(&promoted));
        }
        Ok(history)
    }

    /// Takes the model's exclusive promotion lock, waiting for another holder to finish.
    fn lock(&self, name: &str) -> Result<std::fs::File> {
        let dir = self.model_dir(name)?;
        if !dir.is_dir() {
            return Err(ModelError::NotFound(format!(
                "no model `{name}` in registry {}",
                self.root.display()
            )));
        }
        let path = dir.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| ModelError::io(&path, e))?;
        file.lock().map_err(|e| ModelError::io(&path, e))?;
        Ok(file)
    }

    fn write_history(&self, name: &str, history: &[Promotion]) -> Result<()> {
        let text = serde_json::to_string_pretty(history).map_err(|source| ModelError::Serialise {
            what: "promotion history",
            source,
        })?;
        write_bytes_atomically(&self.model_dir(name)?.join(HISTORY_FILE), text.as_bytes())?;
        Ok(())
    }
}

impl Promotion {
    fn now(version: &str) -> Self {
        Self {
            version: version.to_string(),
            at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }
}

/// Writes metrics as pretty JSON, atomically.
pub fn write_metrics(path: &Path, metrics: &Metrics) -> Result<()> {
    let text = serde_json::to_string_pretty(metrics).map_err(|source| ModelError::Serialise {
        what: "metrics",
        source,
    })?;
    write_bytes_atomically(path, text.as_bytes())?;
    Ok(())
}

fn version_number(text: &str) -> Option<u64> {
    text.strip_prefix('v')
        .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| digits.parse().ok())
}

fn check_version(version: &str) -> Result<()> {
    if version_number(version).is_some() {
        Ok(())
    } else {
        Err(ModelError::InvalidName {
            what: "version",
            value: version.to_string(),
            reason: "versions look like v1, v2, ...",
        })
    }
}

fn check_name(name: &str, what: &'static str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(ModelError::InvalidName {
            what,
            value: name.to_string(),
            reason: "use letters, digits, '-', '_' and '.', not starting with '.'",
        })
    }
}
