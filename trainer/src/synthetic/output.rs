//! Output files that appear all at once, through `churn_features::output`: each is written under a
//! temporary name in the output folder and renamed into place only when everything succeeded, so a reader
//! never sees a half-written file and a failed run leaves the previous data set untouched.

use anyhow::{Context, Result};
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use churn_features::output::{self, Staged, StagedWriter};
use parquet::arrow::ArrowWriter;
use parquet::schema::types::ColumnPath;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Rows per Parquet row group.
pub const ROW_GROUP_ROWS: usize = 1_000_000;

/// Writes `contents` to a temporary file for `folder/name`; commit the result to make it appear.
pub fn write_text(folder: &Path, name: &str, contents: &str) -> Result<Staged> {
    let path = folder.join(name);
    let (staged, ()) = output::stage(&path, |file| {
        file.write_all(contents.as_bytes())
            .map_err(|e| churn_features::FeatureError::output(&path, e.to_string()))
    })?;
    Ok(staged)
}

/// A Parquet file being written (row groups of [`ROW_GROUP_ROWS`] rows).
pub struct ParquetOutput {
    path: PathBuf,
    writer: ArrowWriter<StagedWriter>,
}

impl ParquetOutput {
    /// Starts `folder/name` with the given schema. Columns in `unique_columns` hold mostly distinct values
    /// (timestamps, amounts, order ids): they skip dictionary encoding, which would only cost time there.
    pub fn create(folder: &Path, name: &str, schema: SchemaRef, unique_columns: &[&str]) -> Result<Self> {
        let path = folder.join(name);
        let file = StagedWriter::create(&path)?;
        let mut properties = output::parquet_properties().set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
        for column in unique_columns {
            properties = properties.set_column_dictionary_enabled(ColumnPath::from(*column), false);
        }
        let writer = ArrowWriter::try_new(file, schema, Some(properties.build()))
            .with_context(|| format!("starting Parquet file {}", path.display()))?;
        Ok(Self { path, writer })
    }

    /// Appends one batch of rows.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer
            .write(batch)
            .with_context(|| format!("writing {}", self.path.display()))
    }

    /// Writes the footer and flushes the file to disk; the result still has to be committed.
    pub fn finish(self) -> Result<Staged> {
        let Self { path, writer } = self;
        let file = writer
            .into_inner()
            .with_context(|| format!("finishing {}", path.display()))?;
        Ok(file.finish()?)
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
        assert_eq!(std::fs::read_dir(folder.path()).expect("list").count(), 1);
        pending.commit().expect("commit");
        assert_eq!(
            std::fs::read_to_string(folder.path().join("a.txt")).expect("read"),
            "hello"
        );
        assert_eq!(std::fs::read_dir(folder.path()).expect("list").count(), 1);
    }

    #[test]
    fn dropped_pending_files_are_removed() {
        let folder = tempfile::tempdir().expect("temporary folder");
        drop(write_text(folder.path(), "b.txt", "bye").expect("write"));
        assert!(std::fs::read_dir(folder.path()).expect("list").next().is_none());
    }
}
