//! Atomic file output: write to a temporary file beside the target, then rename, so a reader never sees a
//! half-written file and a failed run leaves nothing behind.

use crate::error::{FeatureError, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Writes `path` through `write`, which receives a buffered temporary file in the same directory. The
/// temporary file is renamed over `path` only when `write` succeeds, and removed otherwise.
pub fn write_atomically<T>(path: &Path, write: impl FnOnce(&mut BufWriter<File>) -> Result<T>) -> Result<T> {
    let temporary = temporary_path(path);
    let outcome = (|| {
        let file = File::create(&temporary).map_err(|e| FeatureError::io(&temporary, e))?;
        let mut writer = BufWriter::with_capacity(1 << 20, file);
        let value = write(&mut writer)?;
        writer.flush().map_err(|e| FeatureError::io(&temporary, e))?;
        let file = writer
            .into_inner()
            .map_err(|e| FeatureError::io(&temporary, e.into_error()))?;
        file.sync_all().map_err(|e| FeatureError::io(&temporary, e))?;
        std::fs::rename(&temporary, path).map_err(|e| FeatureError::io(path, e))?;
        Ok(value)
    })();
    if outcome.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    outcome
}

/// Writes `bytes` to `path` atomically.
pub fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, |writer| {
        writer.write_all(bytes).map_err(|e| FeatureError::io(path, e))
    })
}

fn temporary_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_write_leaves_nothing_behind() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("out.bin");
        let result: Result<()> = write_atomically(&target, |w| {
            w.write_all(b"partial")
                .map_err(|e| FeatureError::io(&target, e))?;
            Err(FeatureError::Request("boom".into()))
        });
        assert!(result.is_err());
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
    }

    #[test]
    fn successful_write_replaces_target() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("out.bin");
        std::fs::write(&target, b"old").expect("seed");
        write_bytes_atomically(&target, b"new").expect("write");
        assert_eq!(std::fs::read(&target).expect("read"), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1);
    }
}
