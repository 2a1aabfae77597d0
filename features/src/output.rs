//! Every file the project writes goes through this module, so the guarantees below hold for all of them:
//!
//! - **Atomic**: a file is written under a temporary name beside its destination, flushed to disk and
//!   renamed into place. A reader sees the old file or the new one, never half of one.
//! - **No leftovers**: temporary names end in [`TEMPORARY_SUFFIX`] and carry the writing process's id, so a
//!   later run in the same folder recognises temporary files of processes that are gone (killed, crashed)
//!   and removes them before it writes.
//! - **Checked before the work**: [`check_outputs`] refuses an output that is one of the run's inputs (same
//!   file, same inode through a link, inside an input folder), that lies in a folder that does not exist, or
//!   that cannot be written, before anything is computed.
//! - **Pairs that match**: a data file and its run summary are committed by [`commit_pair`] so that a crash
//!   between the two renames leaves a data file without a summary, never a new one beside an old other; the
//!   summary records the data file's size and SHA-256 ([`FileDigest`]), and [`check_against_summary`]
//!   refuses a data file that is not the one its summary describes.
//! - **One Parquet set-up**: [`parquet_properties`] is the writer configuration of every Parquet output.

use crate::error::{FeatureError, Result};
use parquet::basic::Compression;
use parquet::file::properties::WriterPropertiesBuilder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The suffix of every temporary file this module creates: `.<name>.<pid>.<sequence>.churn-tmp`.
pub const TEMPORARY_SUFFIX: &str = "churn-tmp";

/// The top-level key of a run summary that describes its data file.
pub const SUMMARY_FILE_KEY: &str = "file";

/// Size and SHA-256 of a written file, recorded in run summaries so a later step can tell the file a
/// summary describes from a damaged or replaced one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// File name (without its folder).
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Lower-case hex SHA-256 of the content.
    pub sha256: String,
}

/// A writer that hashes and counts what passes through it on its way to a buffered file.
struct HashingWriter {
    inner: BufWriter<File>,
    hasher: Sha256,
    bytes: u64,
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A file written in full under a temporary name, waiting to be renamed to its destination. Dropping it
/// uncommitted removes the temporary file.
#[derive(Debug)]
pub struct Staged {
    temporary: PathBuf,
    destination: PathBuf,
    digest: FileDigest,
    committed: bool,
}

impl Staged {
    /// The destination this file will be renamed to.
    pub fn destination(&self) -> &Path {
        &self.destination
    }

    /// Size and checksum of the staged content.
    pub fn digest(&self) -> &FileDigest {
        &self.digest
    }

    /// Renames the file into place (replacing an older one) and makes the rename durable.
    pub fn commit(mut self) -> Result<FileDigest> {
        std::fs::rename(&self.temporary, &self.destination)
            .map_err(|e| FeatureError::output(&self.destination, e.to_string()))?;
        self.committed = true;
        sync_folder(folder_of(&self.destination));
        Ok(self.digest.clone())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
}

/// A file being written under a temporary name beside its destination, hashed as it goes; finish it with
/// [`StagedWriter::finish`]. Dropping it unfinished removes the temporary file.
pub struct StagedWriter {
    staged: Staged,
    writer: HashingWriter,
}

impl StagedWriter {
    /// Starts writing `path` under a temporary name, after removing temporary files of dead processes in
    /// the same folder.
    pub fn create(path: &Path) -> Result<Self> {
        let folder = folder_of(path);
        remove_stale_temporaries(folder);
        let temporary = temporary_path(path);
        let file =
            File::create(&temporary).map_err(|e| FeatureError::output(path, describe_io(&e, folder)))?;
        Ok(Self {
            staged: Staged {
                temporary,
                destination: path.to_path_buf(),
                digest: FileDigest {
                    name: file_name(path),
                    bytes: 0,
                    sha256: String::new(),
                },
                committed: false,
            },
            writer: HashingWriter {
                inner: BufWriter::with_capacity(1 << 20, file),
                hasher: Sha256::new(),
                bytes: 0,
            },
        })
    }

    /// Flushes the content to disk; the result still has to be committed.
    pub fn finish(self) -> Result<Staged> {
        let Self { mut staged, writer } = self;
        let HashingWriter { inner, hasher, bytes } = writer;
        let path = staged.destination.clone();
        let file = inner
            .into_inner()
            .map_err(|e| FeatureError::output(&path, e.into_error().to_string()))?;
        file.sync_all()
            .map_err(|e| FeatureError::output(&path, e.to_string()))?;
        staged.digest.bytes = bytes;
        staged.digest.sha256 = hex(&hasher.finalize());
        Ok(staged)
    }
}

impl Write for StagedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.writer.flush()
    }
}

/// Writes the content of `path` through `write` into a temporary file beside it and flushes it to disk;
/// nothing is renamed yet (see [`Staged::commit`] and [`commit_pair`]). On error nothing is left behind.
pub fn stage<T>(path: &Path, write: impl FnOnce(&mut StagedWriter) -> Result<T>) -> Result<(Staged, T)> {
    let mut writer = StagedWriter::create(path)?;
    let value = write(&mut writer)?;
    Ok((writer.finish()?, value))
}

/// Writes `path` through `write` atomically: [`stage`], then [`Staged::commit`].
pub fn write_atomically<T>(
    path: &Path,
    write: impl FnOnce(&mut StagedWriter) -> Result<T>,
) -> Result<(T, FileDigest)> {
    let (staged, value) = stage(path, write)?;
    Ok((value, staged.commit()?))
}

/// Writes `bytes` to `path` atomically.
pub fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> Result<FileDigest> {
    write_atomically(path, |writer| {
        writer
            .write_all(bytes)
            .map_err(|e| FeatureError::output(path, e.to_string()))
    })
    .map(|((), digest)| digest)
}

/// Commits a data file and the summary that describes it. The old summary is removed first, then the data
/// file is renamed, then the summary: whenever the process stops, the folder holds the old pair, the old
/// data file alone, the new data file alone, or the new pair; never a data file beside a summary of
/// another run.
pub fn commit_pair(data: Staged, summary: Staged) -> Result<()> {
    match std::fs::remove_file(summary.destination()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(FeatureError::output(summary.destination(), e.to_string())),
    }
    data.commit()?;
    summary.commit()?;
    Ok(())
}

/// Commits a staged data file with its run summary: `describe` turns the file's digest into the summary,
/// which is written as pretty JSON at [`summary_path`] (the digest under [`SUMMARY_FILE_KEY`] is the
/// caller's to include) and committed with the data by [`commit_pair`]. Returns the summary.
pub fn commit_with_summary<S: Serialize>(data: Staged, describe: impl FnOnce(&FileDigest) -> S) -> Result<S> {
    check_summary_is_its_own(data.destination())?;
    let summary = describe(data.digest());
    let path = summary_path(data.destination());
    let (summary_file, ()) = stage(&path, |writer| {
        serde_json::to_writer_pretty(&mut *writer, &summary)
            .map_err(|e| FeatureError::output(&path, e.to_string()))
    })?;
    commit_pair(data, summary_file)?;
    Ok(summary)
}

/// The run summary beside a data file: `train.parquet` → `train.summary.json`.
pub fn summary_path(data: &Path) -> PathBuf {
    let stem = data
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    data.with_file_name(format!("{stem}.summary.json"))
}

/// Refuses a name for a Parquet output that says it is another format (`scores.csv`): the file would be
/// Parquet whatever it is called, and the tools that open it by its name would fail.
pub fn check_parquet_name(path: &Path) -> Result<()> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some(other @ ("csv" | "tsv" | "json" | "jsonl" | "txt" | "xls" | "xlsx")) => {
            Err(FeatureError::output(
                path,
                format!("it is written as Parquet, not .{other}; give it a name ending in .parquet"),
            ))
        }
        _ => Ok(()),
    }
}

/// Refuses a data file whose run summary ([`summary_path`]) would also be the summary of another Parquet
/// file in its folder (`x.pq` beside `x.parquet` both map to `x.summary.json`): writing it would leave the
/// other file with a summary of different content, which later steps refuse it for. Files of other kinds
/// (a `x.toml` configuration, a `x.csv`) have no summary and do not count.
pub fn check_summary_is_its_own(data: &Path) -> Result<()> {
    let summary = summary_path(data);
    let Ok(entries) = std::fs::read_dir(folder_of(data)) else {
        return Ok(());
    };
    let name = data.file_name();
    let other = entries.flatten().map(|entry| entry.path()).find(|other| {
        other.file_name() != name
            && summary_path(other).file_name() == summary.file_name()
            && is_parquet(other)
    });
    match other {
        Some(other) => Err(FeatureError::output(
            data,
            format!(
                "its run summary {} would also be the summary of {} beside it; give the output a name of its \
                 own",
                summary.display(),
                other.display()
            ),
        )),
        None => Ok(()),
    }
}

/// Whether `path` is a file that starts as a Parquet file does (`PAR1`).
fn is_parquet(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    File::open(path).is_ok_and(|mut file| std::io::Read::read_exact(&mut file, &mut magic).is_ok())
        && &magic == b"PAR1"
}

/// Checks a data file against the digest its summary ([`summary_path`]) records, if there is a summary
/// with one. A data file without a summary passes (it may come from another tool); one that differs from
/// its summary's size or SHA-256 is refused, naming both files.
pub fn check_against_summary(data: &Path) -> Result<()> {
    let summary = summary_path(data);
    let text = match std::fs::read_to_string(&summary) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(FeatureError::io(&summary, e)),
    };
    let mismatch = |reason: String| FeatureError::Mismatch {
        path: data.to_path_buf(),
        summary: summary.clone(),
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| mismatch(format!("the summary is not valid JSON ({e})")))?;
    let Some(recorded) = value.get(SUMMARY_FILE_KEY) else {
        return Ok(());
    };
    let recorded: FileDigest = serde_json::from_value(recorded.clone()).map_err(|e| {
        mismatch(format!(
            "the summary's `{SUMMARY_FILE_KEY}` entry is unreadable ({e})"
        ))
    })?;
    let actual = digest_of(data)?;
    if actual.bytes != recorded.bytes {
        return Err(mismatch(format!(
            "the summary describes a file of {} bytes, this one has {}",
            recorded.bytes, actual.bytes
        )));
    }
    if actual.sha256 != recorded.sha256 {
        return Err(mismatch(format!(
            "its SHA-256 is {} but the summary records {}",
            actual.sha256, recorded.sha256
        )));
    }
    Ok(())
}

/// Size and SHA-256 of a file on disk.
pub fn digest_of(path: &Path) -> Result<FileDigest> {
    let mut file = File::open(path).map_err(|e| FeatureError::io(path, e))?;
    let mut hasher = Sha256::new();
    let bytes = std::io::copy(&mut file, &mut hasher).map_err(|e| FeatureError::io(path, e))?;
    Ok(FileDigest {
        name: file_name(path),
        bytes,
        sha256: hex(&hasher.finalize()),
    })
}

/// The Parquet writer configuration of every file the project writes: Snappy compression (the fastest
/// codec every Parquet reader has), statistics at the crate's defaults. Callers add their own row-group
/// size and per-column dictionary choices. The parquet crate writes no page checksums; the SHA-256 in a
/// run summary covers the whole file instead.
pub fn parquet_properties() -> WriterPropertiesBuilder {
    parquet::file::properties::WriterProperties::builder().set_compression(Compression::SNAPPY)
}

/// Refuses, before any work starts, outputs that would destroy an input or cannot be written:
/// - an output that is an input, also through another path or a hard or symbolic link;
/// - an output inside an input folder (a later read of that folder would take the output for data);
/// - an output that is an existing folder, or whose folder does not exist or is not writable;
/// - two outputs that are the same file.
///
/// `inputs` are files or folders; those that do not exist are ignored.
pub fn check_outputs(outputs: &[&Path], inputs: &[&Path]) -> Result<()> {
    let inputs: Vec<(&Path, PathBuf)> = inputs
        .iter()
        .filter_map(|input| std::fs::canonicalize(input).ok().map(|c| (*input, c)))
        .collect();
    let mut seen: Vec<PathBuf> = Vec::new();
    for output in outputs {
        let resolved = resolve_output(output)?;
        for (input, canonical) in &inputs {
            if &resolved == canonical || same_file(output, input) {
                return Err(FeatureError::output(
                    output,
                    format!(
                        "it is also an input ({}); choose another output path",
                        input.display()
                    ),
                ));
            }
            if canonical.is_dir() && resolved.starts_with(canonical) {
                return Err(FeatureError::output(
                    output,
                    format!(
                        "it lies inside the input folder {}, whose files are all read as input; write it elsewhere",
                        input.display()
                    ),
                ));
            }
        }
        if seen.contains(&resolved) {
            return Err(FeatureError::output(
                output,
                "the same file is given for two outputs".into(),
            ));
        }
        seen.push(resolved);
        check_writable(output)?;
    }
    Ok(())
}

/// Removes temporary files in `folder` left by processes that no longer run; returns how many. Errors are
/// ignored: cleaning up is a courtesy and must never fail a run.
pub fn remove_stale_temporaries(folder: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temporary_owner) else {
            continue;
        };
        if pid != std::process::id() && !process_is_running(pid) {
            let path = entry.path();
            let outcome = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            if outcome.is_ok() {
                tracing::info!(file = %path.display(), "removed a temporary file left by an interrupted run");
                removed += 1;
            }
        }
    }
    removed
}

/// A fresh temporary name for `path`, in the same folder so the final rename stays on one file system.
/// Also used for staging folders (see the model registry).
pub fn temporary_path(path: &Path) -> PathBuf {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(
        ".{}.{}.{sequence}.{TEMPORARY_SUFFIX}",
        file_name(path),
        std::process::id()
    ))
}

/// The process id in a temporary name made by [`temporary_path`].
fn temporary_owner(name: &str) -> Option<u32> {
    let rest = name
        .strip_prefix('.')?
        .strip_suffix(TEMPORARY_SUFFIX)?
        .strip_suffix('.')?;
    let mut parts = rest.rsplitn(3, '.');
    let _sequence: u64 = parts.next()?.parse().ok()?;
    let pid = parts.next()?.parse().ok()?;
    parts.next().filter(|target| !target.is_empty())?;
    Some(pid)
}

/// Whether a process with this id runs. Where `/proc` is not available, every process is taken to run, so
/// nothing of a live writer is ever removed.
fn process_is_running(pid: u32) -> bool {
    let proc_root = Path::new("/proc");
    !proc_root.join("self").exists() || proc_root.join(pid.to_string()).exists()
}

/// The canonical path an output will have: its folder resolved, its name kept. Refuses missing folders and
/// outputs that are folders.
fn resolve_output(output: &Path) -> Result<PathBuf> {
    let folder = folder_of(output);
    let canonical_folder = std::fs::canonicalize(folder).map_err(|e| {
        FeatureError::output(
            output,
            match e.kind() {
                std::io::ErrorKind::NotFound => {
                    format!("the folder {} does not exist; create it first", folder.display())
                }
                _ => describe_io(&e, folder),
            },
        )
    })?;
    if !canonical_folder.is_dir() {
        return Err(FeatureError::output(
            output,
            format!("{} is not a folder", folder.display()),
        ));
    }
    if output.is_dir() {
        return Err(FeatureError::output(
            output,
            "it is a folder; give a file name".into(),
        ));
    }
    let name = output
        .file_name()
        .ok_or_else(|| FeatureError::output(output, "it has no file name".into()))?;
    // An existing output that is a symbolic link is resolved, so a link to an input is caught.
    Ok(std::fs::canonicalize(output).unwrap_or_else(|_| canonical_folder.join(name)))
}

/// Whether two existing paths are the same file (same device and inode on Unix).
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        false
    }
}

/// Refuses, before any work, a folder that does not exist, is not a folder, or cannot be written in.
pub fn check_folder(folder: &Path) -> Result<()> {
    resolve_output(&folder.join("probe"))?;
    check_writable(&folder.join("probe"))
}

/// Creates and removes a probe file beside `output`, so a read-only folder fails now, not after the work.
fn check_writable(output: &Path) -> Result<()> {
    let probe = temporary_path(output);
    match File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(FeatureError::output(output, describe_io(&e, folder_of(output)))),
    }
}

/// A user-facing reason for an I/O error on an output, naming the folder rather than the temporary file.
fn describe_io(error: &std::io::Error, folder: &Path) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => format!("the folder {} does not exist", folder.display()),
        std::io::ErrorKind::PermissionDenied => {
            format!("no permission to write in {}", folder.display())
        }
        _ => format!("cannot write in {}: {error}", folder.display()),
    }
}

/// The folder of a path (`.` for a bare file name).
pub fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Makes renames in `folder` durable; best effort (not every platform can open a folder for syncing).
fn sync_folder(folder: &Path) {
    if let Ok(handle) = File::open(folder) {
        let _ = handle.sync_all();
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut text, b| {
            let _ = write!(text, "{b:02x}");
            text
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(writer: &mut StagedWriter, bytes: &[u8]) -> Result<()> {
        writer
            .write_all(bytes)
            .map_err(|e| FeatureError::Request(e.to_string()))
    }

    fn names(folder: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(folder)
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn failed_write_leaves_nothing_behind() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("out.bin");
        let result = write_atomically(&target, |w| {
            w.write_all(b"partial").expect("write");
            Err::<(), _>(FeatureError::Request("boom".into()))
        });
        assert!(result.is_err());
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn successful_write_replaces_target_and_reports_its_digest() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("out.bin");
        std::fs::write(&target, b"old").expect("seed");
        let digest = write_bytes_atomically(&target, b"new").expect("write");
        assert_eq!(std::fs::read(&target).expect("read"), b"new");
        assert_eq!(names(dir.path()), ["out.bin"]);
        assert_eq!(digest, digest_of(&target).expect("digest"));
        // SHA-256("new"), as printed by `printf new | sha256sum`.
        assert_eq!(
            digest.sha256,
            "11507a0e2f5e69d5dfa40a62a1bd7b6ee57e6bcd85c67c9b8431b36fff21c437"
        );
    }

    #[test]
    fn temporary_names_carry_their_owner() {
        let path = temporary_path(Path::new("/data/scores.v2.parquet"));
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        assert_eq!(temporary_owner(name), Some(std::process::id()));
        assert_eq!(temporary_owner(".scores.parquet.tmp"), None);
        assert_eq!(temporary_owner("..12.3.churn-tmp"), None);
        assert_eq!(temporary_owner(".x.notapid.3.churn-tmp"), None);
    }

    #[test]
    fn leftovers_of_dead_processes_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().expect("temp dir");
        // Process ids are below 2^22 on Linux, so this one cannot be running.
        let dead = dir
            .path()
            .join(format!(".out.bin.{}.0.{TEMPORARY_SUFFIX}", u32::MAX - 1));
        let mine = temporary_path(&dir.path().join("out.bin"));
        let unrelated = dir.path().join(".keep.tmp");
        for path in [&dead, &mine, &unrelated] {
            std::fs::write(path, b"x").expect("seed");
        }
        assert_eq!(remove_stale_temporaries(dir.path()), 1);
        assert!(!dead.exists() && mine.exists() && unrelated.exists());
    }

    #[test]
    fn parquet_outputs_named_as_another_format_are_refused() {
        for name in ["scores.csv", "s.JSON", "out.xlsx"] {
            let error = check_parquet_name(Path::new(name)).expect_err(name).to_string();
            assert!(error.contains(".parquet"), "{error}");
        }
        for name in ["scores.parquet", "scores.pq", "scores"] {
            check_parquet_name(Path::new(name)).expect(name);
        }
    }

    #[test]
    fn a_summary_that_would_describe_two_files_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let existing = dir.path().join("x.parquet");
        std::fs::write(&existing, b"PAR1 rows PAR1").expect("seed");
        std::fs::write(dir.path().join("y.toml"), b"[transactions]").expect("seed");
        check_summary_is_its_own(&existing).expect("its own summary");
        let error = check_summary_is_its_own(&dir.path().join("x.pq")).expect_err("shared summary");
        assert!(error.to_string().contains("x.summary.json"), "{error}");
        assert!(error.to_string().contains("x.parquet"), "{error}");
        // A configuration of the same name has no summary.
        check_summary_is_its_own(&dir.path().join("y.parquet")).expect("y.toml is no table");
        // A plain name is looked for in the working directory, whose entries come back as `./name`.
        let plain = Path::new("x.pq");
        let here = std::env::current_dir().expect("working directory");
        assert!(!here.join("x.parquet").exists());
        check_summary_is_its_own(plain).expect("no x.parquet here");
        assert!(
            summary_path(&Path::new(".").join("x.parquet")).file_name() == summary_path(plain).file_name()
        );
        let (staged, ()) = stage(&dir.path().join("x.pq"), |w| put(w, b"new")).expect("stage");
        commit_with_summary(staged, |_| ()).expect_err("refused at commit too");
        assert!(!summary_path(&existing).exists() && !dir.path().join("x.pq").exists());
    }

    #[test]
    fn a_pair_interrupted_between_renames_is_never_mismatched() {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("t.parquet");
        let summary = summary_path(&data);
        std::fs::write(&data, b"old data").expect("seed");
        std::fs::write(&summary, b"{}").expect("seed");
        let (staged_data, ()) = stage(&data, |w| put(w, b"new data")).expect("stage");
        // The first steps of `commit_pair`, then a "crash": the old summary is gone before the data moves.
        std::fs::remove_file(&summary).expect("remove");
        staged_data.commit().expect("commit");
        assert!(!summary.exists());
        check_against_summary(&data).expect("a data file without a summary passes");
    }

    #[test]
    fn a_data_file_that_is_not_the_one_its_summary_describes_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("t.parquet");
        let (staged_data, ()) = stage(&data, |w| put(w, b"rows")).expect("stage");
        let json = serde_json::json!({ SUMMARY_FILE_KEY: staged_data.digest(), "rows": 1 });
        let (staged_summary, ()) =
            stage(&summary_path(&data), |w| put(w, json.to_string().as_bytes())).expect("stage");
        commit_pair(staged_data, staged_summary).expect("commit");
        check_against_summary(&data).expect("the pair matches");
        std::fs::write(&data, b"other rows").expect("replace");
        let error = check_against_summary(&data).expect_err("mismatch");
        assert!(error.to_string().contains("t.summary.json"), "{error}");
        std::fs::write(&data, b"ROWS").expect("replace, same size");
        assert!(
            check_against_summary(&data)
                .expect_err("mismatch")
                .to_string()
                .contains("SHA-256")
        );
    }

    #[test]
    fn outputs_that_are_inputs_or_unwritable_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let input = dir.path().join("tx.parquet");
        let folder = dir.path().join("inputs");
        std::fs::write(&input, b"data").expect("seed");
        std::fs::create_dir(&folder).expect("folder");
        let refused = |output: &Path, inputs: &[&Path]| {
            check_outputs(&[output], inputs).expect_err("refused").to_string()
        };
        assert!(refused(&input, &[&input]).contains("also an input"));
        let roundabout = dir.path().join("inputs/../tx.parquet");
        assert!(refused(&roundabout, &[&input]).contains("also an input"));
        #[cfg(unix)]
        {
            let link = dir.path().join("link.parquet");
            std::os::unix::fs::symlink(&input, &link).expect("link");
            assert!(refused(&link, &[&input]).contains("also an input"));
            let hard = dir.path().join("hard.parquet");
            std::fs::hard_link(&input, &hard).expect("hard link");
            assert!(refused(&hard, &[&input]).contains("also an input"));
        }
        assert!(refused(&folder.join("out.parquet"), &[&folder]).contains("inside the input folder"));
        assert!(refused(&dir.path().join("missing/out.parquet"), &[]).contains("does not exist"));
        assert!(refused(&folder, &[]).contains("is a folder"));
        assert!(refused(&input.join("out.parquet"), &[]).contains("not a folder"));
        let out = dir.path().join("out.parquet");
        assert!(
            check_outputs(&[&out, &out], &[])
                .expect_err("twice")
                .to_string()
                .contains("two outputs")
        );
        check_outputs(&[&out, &dir.path().join("out.summary.json")], &[&input, &folder]).expect("fine");
        assert!(!out.exists(), "checking creates nothing");
        assert_eq!(names(dir.path()).len(), 4);
    }
}
