//! Output files that appear all at once: each is written to a hidden temporary file in the output folder
//! and renamed into place only when everything succeeded, so a reader never sees a half-written file and a
//! failed run leaves the previous data set untouched.

use anyhow::{Context, Result};
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Rows per Parquet row group.
pub const ROW_GROUP_ROWS: usize = 1_000_000;

/// A finished temporary file waiting to be renamed to its final name; removed if dropped uncommitted.
#[derive(Debug)]
pub struct PendingFile {
    temporary: PathBuf,
    destination: PathBuf,
    committed: bool,
}

impl PendingFile {
    fn new(folder: &Path, name: &str) -> Self {
        Self {
            temporary: folder.join(format!(".{name}.tmp")),
            destination: folder.join(name),
            committed: false,
        }
    }

    /// Renames the temporary file to its final name, replacing any older file there.
    pub fn commit(mut self) -> Result<()> {
        std::fs::rename(&self.temporary, &self.destination).with_context(|| {
            format!(
                "renaming {} to {}",
                self.temporary.display(),
                self.destination.display()
            )
        })?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: the file may never have been created.
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
}

/// Writes `contents` to a temporary file for `folder/name`.
pub fn write_text(folder: &Path, name: &str, contents: &str) -> Result<PendingFile> {
    let pending = PendingFile::new(folder, name);
    let mut file = File::create(&pending.temporary)
        .with_context(|| format!("creating {}", pending.temporary.display()))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", pending.temporary.display()))?;
    Ok(pending)
}

/// A Parquet file being written (Snappy, row groups of [`ROW_GROUP_ROWS`] rows).
pub struct ParquetOutput {
    pending: PendingFile,
    writer: ArrowWriter<BufWriter<File>>,
}

impl ParquetOutput {
    /// Starts `folder/name` with the given schema. Columns in `unique_columns` hold mostly distinct values
    /// (timestamps, amounts, order ids): they skip dictionary encoding, which would only cost time there.
    pub fn create(folder: &Path, name: &str, schema: SchemaRef, unique_columns: &[&str]) -> Result<Self> {
        let pending = PendingFile::new(folder, name);
        let file = File::create(&pending.temporary)
            .with_context(|| format!("creating {}", pending.temporary.display()))?;
        let mut properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
        for column in unique_columns {
            properties = properties.set_column_dictionary_enabled(ColumnPath::from(*column), false);
        }
        let properties = properties.build();
        let writer = ArrowWriter::try_new(BufWriter::with_capacity(1 << 20, file), schema, Some(properties))
            .with_context(|| format!("starting Parquet file {}", pending.temporary.display()))?;
        Ok(Self { pending, writer })
    }

    /// Appends one batch of rows.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer
            .write(batch)
            .with_context(|| format!("writing {}", self.pending.temporary.display()))
    }

    /// Writes the footer and flushes the file to disk; the result still has to be committed.
    pub fn finish(self) -> Result<PendingFile> {
        let Self { pending, writer } = self;
        let context = || format!("finishing {}", pending.temporary.display());
        let buffered = writer.into_inner().with_context(context)?;
        let file = buffered
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(context)?;
        file.sync_all().with_context(context)?;
        Ok(pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_files_appear_only_on_commit() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let pending = write_text(folder.path(), "a.txt", "hello").expect("write");
        assert!(!folder.path().join("a.txt").exists());
        assert!(folder.path().join(".a.txt.tmp").exists());
        pending.commit().expect("commit");
        assert_eq!(
            std::fs::read_to_string(folder.path().join("a.txt")).expect("read"),
            "hello"
        );
        assert!(!folder.path().join(".a.txt.tmp").exists());
    }

    #[test]
    fn dropped_pending_files_are_removed() {
        let folder = tempfile::tempdir().expect("temporary folder");
        drop(write_text(folder.path(), "b.txt", "bye").expect("write"));
        assert!(std::fs::read_dir(folder.path()).expect("list").next().is_none());
    }
}
