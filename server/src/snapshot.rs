//! The feature snapshot: a feature table held in memory and indexed by customer id.
//!
//! A snapshot is the latest feature table (see `churn_features::FeatureTable`), one row per customer. A
//! table that stacks several as-of dates is accepted too: each customer is then served from their row
//! with the latest as-of date. Two rows of one customer at that latest date contradict each other (which
//! is the customer?): such a table is refused, naming the rows.

use chrono::NaiveDate;
use churn_features::{ColumnValues, CustomerIds, FeatureError, FeatureTable};
use churn_models::{CustomerValue, ValueColumns};
use rustc_hash::FxHashMap;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The descriptor columns a score carries when the snapshot has them.
pub const DESCRIPTOR_COLUMNS: [&str; 3] = ["lifecycle_stage", "rfm_segment", "value_tier"];

/// Which descriptor column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Descriptor {
    /// `lifecycle_stage` (new, active, at risk, lapsed...).
    LifecycleStage = 0,
    /// `rfm_segment` (champions, hibernating...).
    RfmSegment = 1,
    /// `value_tier` (high, medium, low).
    ValueTier = 2,
}

/// What identifies one version of a file on disk without reading it: size, modification time and inode.
/// Snapshots are replaced by rename, which always changes the inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileFingerprint {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

impl FileFingerprint {
    /// The fingerprint of the file at `path` now.
    pub fn of(path: &Path) -> std::io::Result<Self> {
        let metadata = std::fs::metadata(path)?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
        #[cfg(not(unix))]
        let inode = 0;
        Ok(Self {
            len: metadata.len(),
            modified: metadata.modified().ok(),
            inode,
        })
    }
}

/// Why a snapshot could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The file could not be read.
    #[error("feature snapshot {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is not a valid feature table.
    #[error(transparent)]
    Table(#[from] FeatureError),
    /// The table has no rows.
    #[error("feature snapshot {0}: no rows")]
    Empty(PathBuf),
    /// The file kept changing while it was read.
    #[error("feature snapshot {0}: the file changed while it was read; it will be read again")]
    Changing(PathBuf),
    /// Two rows of one customer have the customer's latest as-of date.
    #[error(
        "feature snapshot {path}: rows {first} and {second} are the same customer as of the same date{}; \
         a snapshot holds one row per customer and date (rows count from 0)",
        .as_of.map(|date| format!(" ({date})")).unwrap_or_default()
    )]
    DuplicateRow {
        /// The file.
        path: PathBuf,
        /// The earlier row.
        first: usize,
        /// The later row.
        second: usize,
        /// Their as-of date, when the table has dates.
        as_of: Option<NaiveDate>,
    },
}

/// Customer id → entry, keyed the way the table types its ids.
#[derive(Debug)]
enum IdIndex {
    Int(FxHashMap<i64, u32>),
    Str(FxHashMap<String, u32>),
}

/// A feature table in memory, indexed by customer id.
#[derive(Debug)]
pub struct Snapshot {
    /// The file it was read from.
    pub path: PathBuf,
    /// The file's fingerprint when it was read.
    pub fingerprint: Option<FileFingerprint>,
    /// First 16 hex characters of the SHA-256 of the file's bytes.
    pub id: String,
    /// The table.
    pub table: FeatureTable,
    /// The latest as-of date among the served rows, if the table has dates.
    pub as_of: Option<NaiveDate>,
    /// The table row of each entry (one entry per customer).
    rows: Vec<usize>,
    index: IdIndex,
    descriptors: Descriptors,
    value: ValueColumns,
    /// Per entry, what an answer says besides the score.
    facts: Vec<EntryFacts>,
}

/// What an answer says about an entry besides its score, in one small record: read from their table
/// columns at every score, they were a cache miss each.
#[derive(Debug, Clone, Copy)]
struct EntryFacts {
    value: CustomerValue,
    as_of: Option<NaiveDate>,
    /// The code of each descriptor's value ([`Descriptors::NONE`] when missing or absent).
    descriptors: [u16; 3],
}

/// The distinct values of each descriptor; entries hold small codes into them ([`EntryFacts`]), so a
/// score does not chase three strings across the table.
#[derive(Debug, Default)]
struct Descriptors {
    /// Per descriptor, its distinct values.
    levels: [Vec<String>; 3],
}

impl Descriptors {
    const NONE: u16 = u16::MAX;

    /// The descriptors of the table rows `rows`, with the codes of each row's values.
    fn of(table: &FeatureTable, rows: &[usize]) -> (Self, Vec<[u16; 3]>) {
        let mut descriptors = Self::default();
        let mut entry_codes = vec![[Self::NONE; 3]; rows.len()];
        for (which, name) in DESCRIPTOR_COLUMNS.iter().enumerate() {
            let Some(ColumnValues::Categorical(values)) = table
                .columns
                .iter()
                .find(|column| column.name == *name)
                .map(|column| &column.values)
            else {
                continue;
            };
            let mut codes: FxHashMap<&str, u16> = FxHashMap::default();
            let levels = &mut descriptors.levels[which];
            for (entry, &row) in rows.iter().enumerate() {
                let Some(value) = values[row].as_deref() else {
                    continue;
                };
                let code = match codes.get(value) {
                    Some(&code) => code,
                    // A descriptor has a handful of values; past u16 it is not a descriptor, and the
                    // extra values are left out.
                    None if levels.len() < usize::from(Self::NONE) => {
                        let code = levels.len() as u16;
                        levels.push(value.to_string());
                        codes.insert(value, code);
                        code
                    }
                    None => continue,
                };
                entry_codes[entry][which] = code;
            }
        }
        (descriptors, entry_codes)
    }
}

impl Snapshot {
    /// Reads and indexes the feature table at `path`.
    pub fn read(path: &Path) -> Result<Self, SnapshotError> {
        let io = |source| SnapshotError::Io {
            path: path.to_path_buf(),
            source,
        };
        // A snapshot replaced while it is read would give a table that does not match its id: read until
        // the file stays the same from start to end.
        for _ in 0..3 {
            let before = FileFingerprint::of(path).map_err(io)?;
            let id = file_id(path).map_err(io)?;
            let table = FeatureTable::read_parquet(path)?;
            if FileFingerprint::of(path).map_err(io)? == before {
                return Self::from_table(table, path, id, Some(before));
            }
        }
        Err(SnapshotError::Changing(path.to_path_buf()))
    }

    /// Indexes a table already in memory; `id` names this version of the data.
    pub fn from_table(
        table: FeatureTable,
        path: &Path,
        id: String,
        fingerprint: Option<FileFingerprint>,
    ) -> Result<Self, SnapshotError> {
        if table.is_empty() {
            return Err(SnapshotError::Empty(path.to_path_buf()));
        }
        // The row of each customer: the one with the latest as-of date; `ties` holds, per customer, two
        // rows of that date when there are (an earlier date's ties do not matter).
        let order = |candidate: usize, current: usize| table.as_of[candidate].cmp(&table.as_of[current]);
        let mut rows = Vec::new();
        let mut ties = Vec::new();
        let index = match &table.customer_ids {
            CustomerIds::Int(ids) => {
                let mut map = FxHashMap::with_capacity_and_hasher(ids.len(), Default::default());
                for (row, id) in ids.iter().enumerate() {
                    choose_row(&mut map, &mut rows, &mut ties, *id, row, order);
                }
                IdIndex::Int(map)
            }
            CustomerIds::Str(ids) => {
                let mut map = FxHashMap::with_capacity_and_hasher(ids.len(), Default::default());
                for (row, id) in ids.iter().enumerate() {
                    choose_row(&mut map, &mut rows, &mut ties, id.clone(), row, order);
                }
                IdIndex::Str(map)
            }
        };
        if let Some((first, second)) = ties.iter().flatten().min_by_key(|&&(_, second)| second) {
            return Err(SnapshotError::DuplicateRow {
                path: path.to_path_buf(),
                first: *first,
                second: *second,
                as_of: table.as_of[*second],
            });
        }
        let as_of = rows.iter().filter_map(|&row| table.as_of[row]).max();
        let (descriptors, codes) = Descriptors::of(&table, &rows);
        let value = ValueColumns::of(&table);
        let facts = rows
            .iter()
            .zip(codes)
            .map(|(&row, codes)| EntryFacts {
                value: value.at(&table, row),
                as_of: table.as_of[row],
                descriptors: codes,
            })
            .collect();
        Ok(Self {
            path: path.to_path_buf(),
            fingerprint,
            id,
            table,
            as_of,
            rows,
            index,
            descriptors,
            value,
            facts,
        })
    }

    /// Number of customers.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when the snapshot holds no customer (never the case for a loaded snapshot).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The entry of `customer_id`, if the snapshot has the customer. For integer ids, the id must be
    /// written in canonical decimal (`42`, not `042` or `+42`).
    pub fn lookup(&self, customer_id: &str) -> Option<usize> {
        let entry = match &self.index {
            IdIndex::Int(map) => {
                // Canonical decimal only: no sign `+`, no leading zero, no `-0`.
                let digits = customer_id.strip_prefix('-').unwrap_or(customer_id);
                if digits.starts_with(['+', '0']) && digits != "0" || customer_id == "-0" {
                    return None;
                }
                map.get(&customer_id.parse::<i64>().ok()?)
            }
            IdIndex::Str(map) => map.get(customer_id),
        };
        entry.map(|&entry| entry as usize)
    }

    /// The table rows served, one per customer, in entry order.
    pub fn rows(&self) -> &[usize] {
        &self.rows
    }

    /// The table row of `entry`.
    pub fn table_row(&self, entry: usize) -> usize {
        self.rows[entry]
    }

    /// The customer id of `entry`, as text.
    pub fn customer_id(&self, entry: usize) -> String {
        self.table.customer_id_string(self.rows[entry])
    }

    /// The as-of date of `entry`'s features.
    pub fn customer_as_of(&self, entry: usize) -> Option<NaiveDate> {
        self.facts[entry].as_of
    }

    /// The customer value of `entry` (lifetime value and P(alive)), as far as the snapshot has it.
    pub fn customer_value(&self, entry: usize) -> CustomerValue {
        self.facts[entry].value
    }

    /// The snapshot's lifetime value column (`clv_<N>m`), when it has one.
    pub fn clv_column(&self) -> Option<&str> {
        self.value.clv_column(&self.table)
    }

    /// The value of a descriptor column for `entry`, when the snapshot has the column and the value.
    pub fn descriptor(&self, entry: usize, which: Descriptor) -> Option<&str> {
        let which = which as usize;
        let code = self.facts[entry].descriptors[which];
        self.descriptors.levels[which]
            .get(usize::from(code))
            .map(String::as_str)
    }
}

/// Keeps in `rows` (by customer, through `map`) the row of `key` that `order` puts last; a row that
/// ties with the kept one is noted in `ties` (cleared when a later row replaces it).
fn choose_row<K: std::hash::Hash + Eq>(
    map: &mut FxHashMap<K, u32>,
    rows: &mut Vec<usize>,
    ties: &mut Vec<Option<(usize, usize)>>,
    key: K,
    row: usize,
    order: impl Fn(usize, usize) -> std::cmp::Ordering,
) {
    match map.entry(key) {
        std::collections::hash_map::Entry::Vacant(slot) => {
            slot.insert(rows.len() as u32);
            rows.push(row);
            ties.push(None);
        }
        std::collections::hash_map::Entry::Occupied(slot) => {
            let entry = *slot.get() as usize;
            match order(row, rows[entry]) {
                std::cmp::Ordering::Greater => {
                    rows[entry] = row;
                    ties[entry] = None;
                }
                std::cmp::Ordering::Equal => {
                    ties[entry].get_or_insert((rows[entry], row));
                }
                std::cmp::Ordering::Less => {}
            }
        }
    }
}

/// First 16 hex characters of the SHA-256 of a file's bytes.
fn file_id(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hasher.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use churn_features::{ColumnRole, FeatureColumn};

    fn date(day: u32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(2024, 1, day)
    }

    fn table(ids: CustomerIds, as_of: Vec<Option<NaiveDate>>, spend: Vec<f64>) -> FeatureTable {
        let rows = as_of.len();
        FeatureTable {
            customer_ids: ids,
            as_of,
            labels: vec![None; rows],
            columns: vec![
                FeatureColumn {
                    name: "total_spend".into(),
                    role: ColumnRole::Numeric,
                    description: None,
                    values: ColumnValues::Numeric(spend.into_iter().map(Some).collect()),
                },
                FeatureColumn {
                    name: "rfm_segment".into(),
                    role: ColumnRole::Descriptor,
                    description: None,
                    values: ColumnValues::Categorical(
                        (0..rows)
                            .map(|i| (i % 2 == 0).then(|| format!("segment-{i}")))
                            .collect(),
                    ),
                },
            ],
        }
    }

    #[test]
    fn each_customer_is_served_from_their_latest_row() {
        let table = table(
            CustomerIds::Int(vec![7, 8, 7, 7]),
            vec![date(1), date(2), date(3), date(2)],
            vec![1.0, 2.0, 3.0, 4.0],
        );
        let snapshot =
            Snapshot::from_table(table, Path::new("s.parquet"), "abc".into(), None).expect("index");
        assert_eq!(snapshot.len(), 2);
        let seven = snapshot.lookup("7").expect("7");
        assert_eq!(snapshot.table_row(seven), 2);
        assert_eq!(snapshot.customer_as_of(seven), date(3));
        assert_eq!(snapshot.as_of, date(3));
        assert_eq!(snapshot.customer_id(seven), "7");
        assert_eq!(
            snapshot.descriptor(seven, Descriptor::RfmSegment),
            Some("segment-2")
        );
        assert_eq!(snapshot.descriptor(seven, Descriptor::ValueTier), None);
        let eight = snapshot.lookup("8").expect("8");
        assert_eq!(snapshot.descriptor(eight, Descriptor::RfmSegment), None);
        for absent in [
            "9",
            "07",
            "+7",
            "-0",
            "-07",
            "00",
            "",
            "seven",
            "99999999999999999999",
        ] {
            assert_eq!(snapshot.lookup(absent), None, "{absent}");
        }
    }

    #[test]
    fn two_rows_of_one_customer_and_date_are_refused_naming_them() {
        // Whatever the order of the rows; a tie at an earlier date than the customer's latest is no tie.
        let stacked = table(
            CustomerIds::Int(vec![7, 7, 7, 8, 8]),
            vec![date(2), date(2), date(3), date(1), date(1)],
            vec![1.0; 5],
        );
        let error = Snapshot::from_table(stacked, Path::new("s.parquet"), "abc".into(), None)
            .expect_err("8 has two rows of its latest date");
        assert!(error.to_string().contains("rows 3 and 4"), "{error}");
        let earlier_tie = table(
            CustomerIds::Int(vec![7, 7, 7]),
            vec![date(2), date(2), date(3)],
            vec![1.0; 3],
        );
        let snapshot = Snapshot::from_table(earlier_tie, Path::new("s.parquet"), "abc".into(), None)
            .expect("no tie at 3");
        assert_eq!(snapshot.table_row(snapshot.lookup("7").expect("7")), 2);
        let dated = table(
            CustomerIds::Int(vec![7, 8, 7]),
            vec![date(2), date(2), date(2)],
            vec![1.0, 2.0, 3.0],
        );
        let error = Snapshot::from_table(dated, Path::new("s.parquet"), "abc".into(), None)
            .expect_err("duplicate rows");
        assert!(
            matches!(
                error,
                SnapshotError::DuplicateRow {
                    first: 0,
                    second: 2,
                    ..
                }
            ),
            "{error}"
        );
        assert!(error.to_string().contains("rows 0 and 2"), "{error}");
        let undated = table(
            CustomerIds::Str(vec!["a".into(), "a".into()]),
            vec![None, None],
            vec![1.0, 2.0],
        );
        Snapshot::from_table(undated, Path::new("s.parquet"), "abc".into(), None).expect_err("duplicate");
    }

    #[test]
    fn string_ids_are_matched_exactly() {
        let table = table(
            CustomerIds::Str(vec!["C-1".into(), "c-1".into()]),
            vec![None, None],
            vec![1.0, 2.0],
        );
        let snapshot =
            Snapshot::from_table(table, Path::new("s.parquet"), "abc".into(), None).expect("index");
        assert_eq!(snapshot.lookup("C-1"), Some(0));
        assert_eq!(snapshot.lookup("c-1"), Some(1));
        assert_eq!(snapshot.lookup("C-1 "), None);
        assert_eq!(snapshot.as_of, None);
    }

    #[test]
    fn reading_a_file_names_it_and_fingerprints_change_on_replace() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("snapshot.parquet");
        let error = Snapshot::read(&path).expect_err("missing");
        assert!(error.to_string().contains("snapshot.parquet"), "{error}");

        table(CustomerIds::Int(vec![1]), vec![date(1)], vec![1.0])
            .write_parquet(&path)
            .expect("write");
        let first = Snapshot::read(&path).expect("read");
        assert_eq!(first.len(), 1);
        assert_eq!(first.id.len(), 16);
        table(
            CustomerIds::Int(vec![1, 2]),
            vec![date(1), date(1)],
            vec![1.0, 2.0],
        )
        .write_parquet(&path)
        .expect("rewrite");
        let second = Snapshot::read(&path).expect("read");
        assert_ne!(first.fingerprint, second.fingerprint);
        assert_ne!(first.id, second.id);

        std::fs::write(&path, b"not parquet").expect("corrupt");
        assert!(Snapshot::read(&path).is_err());
    }
}
