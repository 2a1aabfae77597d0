//! Reading configured columns from a Parquet file or a directory of Parquet files: only the needed
//! columns are decoded, row groups are decoded (and, by [`read_prepared`], prepared) in parallel a few at
//! a time, and record batches are handed on in file order so results do not depend on thread timing.

use super::columns::ColumnKind;
use crate::error::{FeatureError, Result};
use crate::table::column_names;
use arrow_array::RecordBatch;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use rayon::prelude::*;
use std::fs::File;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// Rows per decoded record batch.
const BATCH_ROWS: usize = 64 * 1024;

/// Rows of a wave of row groups decoded (and prepared) together, at most, unless one row group is larger.
const ROWS_IN_FLIGHT: u64 = 4 << 20;

/// A column the engine needs from a source.
#[derive(Debug, Clone)]
pub struct ColumnRequest {
    /// The column's name in the file.
    pub name: String,
    /// What it is configured as, e.g. `transactions.amount` (for messages).
    pub role: String,
    /// The kind of values it must hold.
    pub kind: ColumnKind,
}

impl ColumnRequest {
    /// A request for column `name` configured as `role`.
    pub fn new(name: &str, role: &str, kind: ColumnKind) -> Self {
        Self {
            name: name.into(),
            role: role.into(),
            kind,
        }
    }
}

/// One row group of one file: the unit of parallel decoding.
struct Unit {
    file: usize,
    row_group: usize,
    first_row: u64,
}

struct OpenFile {
    path: PathBuf,
    metadata: ArrowReaderMetadata,
    projection: ProjectionMask,
}

/// The Parquet files of a configured path: the file itself, or the `*.parquet` files of a directory in
/// name order.
pub fn list_files(path: &Path) -> Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path).map_err(|e| FeatureError::io(path, e))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(|e| FeatureError::io(path, e))? {
        let entry = entry.map_err(|e| FeatureError::io(path, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".parquet") && !name.starts_with('.') {
            files.push(entry.path());
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(FeatureError::Empty { path: path.into() });
    }
    Ok(files)
}

/// Total rows of `path` according to the files' footers, after checking each file's schema.
pub fn count_rows(path: &Path, requests: &[ColumnRequest]) -> Result<u64> {
    let files = open_all(path, requests)?;
    Ok(files.iter().map(|f| rows_of(&f.metadata)).sum())
}

/// Calls `visit(file, batch, first_row_of_batch_in_file)` for every record batch of the requested columns,
/// in file order. `on_rows` is told how many rows were decoded, for progress display. Fails with the
/// file's name when it is not Parquet, is truncated or corrupt, lacks a column, has a column of the wrong
/// type, or when the path holds no rows at all.
pub fn read_batches(
    path: &Path,
    requests: &[ColumnRequest],
    on_rows: &(dyn Fn(u64) + Sync),
    mut visit: impl FnMut(&Path, &RecordBatch, u64) -> Result<()>,
) -> Result<u64> {
    read_prepared(
        path,
        requests,
        on_rows,
        |_, _| (),
        |path, batch, (), first_row| visit(path, batch, first_row),
    )
}

/// [`read_batches`] with a step that runs where the batches are decoded, in parallel and ahead of the
/// visits: `prepare(batch, first_row_of_batch_in_file)` computes what does not depend on the batches
/// before it (times converted to days, keys hashed), so that the in-order `visit` does only what must be
/// done in order.
pub fn read_prepared<P: Send>(
    path: &Path,
    requests: &[ColumnRequest],
    on_rows: &(dyn Fn(u64) + Sync),
    prepare: impl Fn(&RecordBatch, u64) -> P + Sync,
    mut visit: impl FnMut(&Path, &RecordBatch, P, u64) -> Result<()>,
) -> Result<u64> {
    let files = open_all(path, requests)?;
    let mut units = Vec::new();
    for (file, open) in files.iter().enumerate() {
        let mut first_row = 0u64;
        for (row_group, meta) in open.metadata.metadata().row_groups().iter().enumerate() {
            units.push(Unit {
                file,
                row_group,
                first_row,
            });
            first_row += u64::try_from(meta.num_rows()).unwrap_or(0);
        }
    }
    let total: u64 = files.iter().map(|f| rows_of(&f.metadata)).sum();
    if total == 0 {
        return Err(FeatureError::Empty { path: path.into() });
    }
    // A row group per thread, as long as the rows in flight (decoded, prepared, and a wave ahead) stay
    // within a budget: the memory they take does not grow with the number of cores.
    let mean_group_rows = total.div_ceil(units.len().max(1) as u64).max(1);
    let wave = rayon::current_num_threads()
        .min(usize::try_from(ROWS_IN_FLIGHT / mean_group_rows).unwrap_or(usize::MAX))
        .max(1);
    let decode_wave = |units: &[Unit]| -> Vec<Result<Vec<(RecordBatch, P, u64)>>> {
        units
            .par_iter()
            .map(|unit| {
                let batches = decode(&files[unit.file], unit.row_group)?;
                on_rows(batches.iter().map(|b| b.num_rows() as u64).sum());
                let mut row = unit.first_row;
                Ok(batches
                    .into_iter()
                    .map(|batch| {
                        let first_row = row;
                        row += batch.num_rows() as u64;
                        let prepared = prepare(&batch, first_row);
                        (batch, prepared, first_row)
                    })
                    .collect())
            })
            .collect()
    };
    let mut visit_unit = |unit: &Unit, batches: Vec<(RecordBatch, P, u64)>| -> Result<()> {
        let path = &files[unit.file].path;
        for (batch, prepared, first_row) in batches {
            visit(path, &batch, prepared, first_row)?;
        }
        Ok(())
    };
    if rayon::current_thread_index().is_some() {
        // Called from a thread of a pool, which decoding ahead would need: each wave is decoded, then
        // visited.
        for units in units.chunks(wave) {
            for (unit, batches) in units.iter().zip(decode_wave(units)) {
                visit_unit(unit, batches?)?;
            }
        }
        return Ok(total);
    }
    // Decoding runs a wave ahead of the visits: while the caller visits one wave's batches (in order, on
    // this thread), the pool decodes the next wave's row groups in parallel.
    std::thread::scope(|scope| {
        let (sender, decoded) = std::sync::mpsc::sync_channel::<Result<Vec<(RecordBatch, P, u64)>>>(wave);
        let units = &units;
        scope.spawn(move || {
            for units in units.chunks(wave) {
                for batches in decode_wave(units) {
                    if sender.send(batches).is_err() {
                        // The visits stopped at an error.
                        return;
                    }
                }
            }
        });
        for unit in units {
            let batches = decoded.recv().map_err(|_| {
                FeatureError::parquet(
                    &files[unit.file].path,
                    "the decoding thread stopped before the last row group",
                )
            })??;
            visit_unit(unit, batches)?;
        }
        Ok(total)
    })
}

fn rows_of(metadata: &ArrowReaderMetadata) -> u64 {
    u64::try_from(metadata.metadata().file_metadata().num_rows()).unwrap_or(0)
}

fn open_all(path: &Path, requests: &[ColumnRequest]) -> Result<Vec<OpenFile>> {
    list_files(path)?
        .into_iter()
        .map(|file| open(file, requests))
        .collect()
}

fn open(path: PathBuf, requests: &[ColumnRequest]) -> Result<OpenFile> {
    let file = File::open(&path).map_err(|e| FeatureError::io(&path, e))?;
    let metadata = guard(&path, || {
        ArrowReaderMetadata::load(&file, ArrowReaderOptions::default())
            .map_err(|e| FeatureError::parquet(&path, e))
    })?;
    let schema = metadata.schema();
    let mut roots = Vec::with_capacity(requests.len());
    for request in requests {
        let index = schema
            .index_of(&request.name)
            .map_err(|_| FeatureError::MissingColumn {
                path: path.clone(),
                column: request.name.clone(),
                role: request.role.clone(),
                available: column_names(schema),
            })?;
        let data_type = schema.field(index).data_type();
        if !request.kind.accepts(data_type) {
            return Err(FeatureError::WrongType {
                path: path.clone(),
                column: request.name.clone(),
                found: data_type.to_string(),
                expected: request.kind.expected().into(),
            });
        }
        roots.push(index);
    }
    let projection = ProjectionMask::roots(metadata.parquet_schema(), roots);
    Ok(OpenFile {
        path,
        metadata,
        projection,
    })
}

fn decode(open: &OpenFile, row_group: usize) -> Result<Vec<RecordBatch>> {
    let path = &open.path;
    guard(path, || {
        let file = File::open(path).map_err(|e| FeatureError::io(path, e))?;
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, open.metadata.clone())
            .with_projection(open.projection.clone())
            .with_row_groups(vec![row_group])
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|e| FeatureError::parquet(path, e))?;
        reader
            .map(|batch| batch.map_err(|e| FeatureError::parquet(path, e)))
            .collect()
    })
}

/// Runs a Parquet decoding step, turning a panic inside the decoder (possible on corrupt input) into an
/// error that names the file.
fn guard<T>(path: &Path, step: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(step)).unwrap_or_else(|_| {
        Err(FeatureError::parquet(
            path,
            "corrupt data made the Parquet decoder fail",
        ))
    })
}

/// The Arrow schema of the first Parquet file of `path`.
pub fn schema_of(path: &Path) -> Result<arrow_schema::SchemaRef> {
    let first = list_files(path)?.remove(0);
    Ok(open(first, &[])?.metadata.schema().clone())
}

/// The columns among `names` that are null in every row of `path` (a file or every file of a folder), by
/// the null counts of the Parquet statistics: read from the footers, before any data. A column whose
/// statistics lack a null count somewhere is not judged; a name the files lack is left to the reading,
/// which names it.
pub fn null_everywhere(path: &Path, names: &[&str]) -> Result<Vec<String>> {
    let files = open_all(path, &[])?;
    let mut nulls = vec![Some(0u64); names.len()];
    let mut rows = 0u64;
    for file in &files {
        let metadata = file.metadata.metadata();
        let columns = metadata.file_metadata().schema_descr().columns();
        let leaf_of: Vec<Option<usize>> = names
            .iter()
            .map(|name| {
                columns
                    .iter()
                    .position(|c| c.path().parts() == [name.to_string()])
            })
            .collect();
        for row_group in metadata.row_groups() {
            rows += u64::try_from(row_group.num_rows()).unwrap_or(0);
            for (count, leaf) in nulls.iter_mut().zip(&leaf_of) {
                let group_nulls = leaf.and_then(|leaf| row_group.column(leaf).statistics()?.null_count_opt());
                *count = count.zip(group_nulls).map(|(a, b)| a + b);
            }
        }
    }
    Ok(names
        .iter()
        .zip(nulls)
        .filter(|(_, count)| rows > 0 && *count == Some(rows))
        .map(|(name, _)| name.to_string())
        .collect())
}
