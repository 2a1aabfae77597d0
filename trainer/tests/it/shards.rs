//! The feature engine's three phases on parts of the customers: phases (a) and (c) run on each of four
//! hash partitions of generated data, with the population statistics of phase (b) from all four, give
//! the single build's rows, every value equal, whether phase (c) reuses phase (a)'s blocks or computes
//! them again.

use crate::common::generate;
use arrow_array::cast::AsArray;
use arrow_array::{Array, BooleanArray, RecordBatch};
use chrono::NaiveDate;
use churn_features::engine::{GlobalStats, InputFacts, Plan, Shard};
use churn_features::input::NoProgress;
use churn_features::{BuildRequest, ColumnValues, Config, FeatureTable, Inputs, OnInvalid};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

const PARTS: u64 = 4;

/// The part of a customer id: FNV-1a of its text, modulo [`PARTS`].
fn part_of(id: &str) -> u64 {
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    hash % PARTS
}

/// Writes the rows of `file` whose customers fall in each part to `parts/<k>/<file name>`.
fn split(file: &Path, parts: &Path) {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(file).expect("open"))
        .expect("parquet")
        .build()
        .expect("reader");
    let batches: Vec<RecordBatch> = reader.map(|b| b.expect("batch")).collect();
    let schema = batches[0].schema();
    for k in 0..PARTS {
        let folder = parts.join(k.to_string());
        std::fs::create_dir_all(&folder).expect("part folder");
        let out = File::create(folder.join(file.file_name().expect("name"))).expect("create");
        let mut writer = ArrowWriter::try_new(out, schema.clone(), None).expect("writer");
        for batch in &batches {
            let ids = batch.column_by_name("customer_id").expect("customer_id");
            let ids = ids.as_string::<i32>();
            let keep: BooleanArray = (0..ids.len()).map(|i| Some(part_of(ids.value(i)) == k)).collect();
            writer
                .write(&arrow_select::filter::filter_record_batch(batch, &keep).expect("filter"))
                .expect("write");
        }
        writer.close().expect("close");
    }
}

/// `config` reading its inputs from the part folder `folder` (same file names).
fn in_folder(config: &Config, folder: &Path) -> Config {
    let mut config = config.clone();
    let moved = |p: &Path| folder.join(p.file_name().expect("name"));
    if let Some(s) = &mut config.transactions {
        s.path = moved(&s.path);
    }
    if let Some(s) = &mut config.events {
        s.path = moved(&s.path);
    }
    if let Some(s) = &mut config.customers {
        s.path = moved(&s.path);
    }
    if let Some(s) = &mut config.subscriptions {
        s.path = moved(&s.path);
    }
    config
}

/// Each row's values by (customer id, as-of date): label, then every column (numbers as bit patterns,
/// so NaN and -0 compare exactly).
fn rows(table: &FeatureTable) -> BTreeMap<(String, Option<NaiveDate>), Vec<String>> {
    (0..table.len())
        .map(|row| {
            let mut values = vec![format!("{:?}", table.labels[row])];
            for column in &table.columns {
                values.push(match &column.values {
                    ColumnValues::Numeric(v) => {
                        format!("{}={:?}", column.name, v[row].map(|x| (x, x.to_bits())))
                    }
                    ColumnValues::Categorical(v) => format!("{}={:?}", column.name, v[row]),
                });
            }
            ((table.customer_id_string(row), table.as_of[row]), values)
        })
        .collect()
}

fn check_parts_equal_the_whole(config_file: &Path, parts: &Path, request: &BuildRequest) {
    let config = Config::load(config_file).expect("config");
    let inputs = Inputs::load(&config, OnInvalid::Fail, &NoProgress).expect("inputs");
    let (whole, _) = churn_features::build(&config, inputs, request).expect("single build");

    let configs: Vec<Config> = (0..PARTS)
        .map(|k| in_folder(&config, &parts.join(k.to_string())))
        .collect();
    let inputs: Vec<Inputs> = configs
        .iter()
        .map(|c| Inputs::load(c, OnInvalid::Fail, &NoProgress).expect("part inputs"))
        .collect();
    let facts = inputs
        .iter()
        .map(InputFacts::of)
        .reduce(InputFacts::merge)
        .expect("parts");
    let plan = Plan::new(&config, request, &facts).expect("plan");
    let mut shards: Vec<Shard<'_>> = configs
        .iter()
        .zip(inputs)
        .map(|(c, inputs)| Shard::new(c, &plan, inputs).expect("shard"))
        .collect();
    // Two parts keep none of phase (a)'s blocks, so phase (c) computes them again.
    for shard in shards.iter_mut().take(2) {
        shard.keep_at_most(0);
    }
    // Phase (a) on each part, (b) on all the parts' summaries (handed in reversed, to show order does
    // not matter), (c) on each part.
    let mut summaries: Vec<_> = shards.iter_mut().map(Shard::summarize).collect();
    summaries.reverse();
    let stats = GlobalStats::new(&config, &plan, &summaries).expect("stats");
    // Summaries of another number of dates than the plan's are refused, not read past.
    let short = vec![summaries[0][1..].to_vec()];
    let refused = GlobalStats::new(&config, &plan, &short).err().expect("refused");
    assert!(refused.to_string().contains("the plan has 3"), "{refused}");
    assert!(
        GlobalStats::new(&config, &plan, &[]).is_err(),
        "no summaries at all"
    );
    let mut parts_rows = BTreeMap::new();
    let mut sizes = Vec::new();
    for shard in &mut shards {
        let (table, _) = shard.finish_table(&stats).expect("finish");
        assert_eq!(
            table.columns.iter().map(|c| &c.name).collect::<Vec<_>>(),
            whole.columns.iter().map(|c| &c.name).collect::<Vec<_>>()
        );
        sizes.push(table.len());
        parts_rows.extend(rows(&table));
    }
    assert!(sizes.iter().all(|&n| n > 0), "every part has rows: {sizes:?}");
    let whole_rows = rows(&whole);
    assert_eq!(
        parts_rows.len(),
        whole.len(),
        "the parts have the rows of the whole, once each"
    );
    for (key, values) in &whole_rows {
        let part = parts_rows
            .get(key)
            .unwrap_or_else(|| panic!("row {key:?} is in no part"));
        for (whole_value, part_value) in values.iter().zip(part) {
            assert_eq!(whole_value, part_value, "row {key:?}");
        }
    }
}

#[test]
fn four_hash_partitions_through_the_three_phases_give_the_single_build() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    generate(&data, 1500, 11);
    let parts = dir.path().join("parts");
    for file in ["transactions", "events", "customers", "subscriptions"] {
        split(&data.join(format!("{file}.parquet")), &parts);
    }
    let as_of = ["2023-09-30", "2024-03-31", "2024-06-30"]
        .map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").expect("date"))
        .to_vec();
    // Transactions, events and customers: inactivity labels, the value models, R/F/M, segments.
    let request = BuildRequest {
        as_of: as_of.clone(),
        horizon_days: Some(90),
        durations: false,
    };
    check_parts_equal_the_whole(&data.join("churn.toml"), &parts, &request);
    // With subscriptions: contractual labels and durations.
    let request = BuildRequest {
        as_of,
        horizon_days: Some(90),
        durations: true,
    };
    check_parts_equal_the_whole(&data.join("churn-subscriptions.toml"), &parts, &request);
}
