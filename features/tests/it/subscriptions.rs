//! Subscriptions (`[subscriptions]`): features and contractual labels computed by hand for an upgrade, a
//! downgrade, pauses shorter and longer than the grace period, a customer who comes back after churning,
//! a running period, annual billing and two overlapping plans; the label-source precedence; `[customers]`
//! dates that must agree; bad input; the catalog.

use crate::common::*;
use churn_features::engine::{LabelKind, columns};
use churn_features::input::NoProgress;
use churn_features::{BuildRequest, Inputs, OnInvalid};
use std::path::Path;

const SETTINGS: &str = "\n[features]\nwindows = [30, 90]\n";

/// A day's fraction of a month, as `subscription_months_on_plan` counts months.
const MONTH: f64 = 30.4375;

fn close(actual: Option<f64>, expected: f64, what: &str) {
    let actual = actual.unwrap_or_else(|| panic!("{what}: null, expected {expected}"));
    assert!(
        (actual - expected).abs() < 1e-9,
        "{what}: {actual}, expected {expected}"
    );
}

/// The customers of the hand-computed tests (grace period 30 days, every year 2024, a leap year):
///
/// - `up`: basic at 10 a month from 01-01 to 03-01, then pro at 30 from 03-01, running: an upgrade.
/// - `down`: pro at 50 from 01-01 to 02-15, then basic at 20 from 02-15 to 05-15, then nothing: a
///   downgrade, and churn on 05-15.
/// - `pause`: basic at 10 from 01-01 to 03-01, a 20-day pause, basic again from 03-21, running.
/// - `back`: basic at 10 from 01-01 to 02-01, a 60-day gap (churn on 02-01), basic again from 04-01,
///   running: a second life.
/// - `annual`: yearly plan billed 1,200 from 2023-06-15, running.
/// - `two`: basic at 10 (3 seats, 10% off) from 01-01, running, and an add-on at 5 (2 seats) from 02-01
///   to 04-01: two overlapping plans.
/// - `late`: one month in December, so the data end on 2024-12-31.
fn periods(dir: &Path) {
    write_periods(dir, &PERIODS);
}

const PERIODS: [Period<'static>; 12] = [
    (
        "up",
        "2024-01-01",
        Some("2024-03-01"),
        "basic",
        10.0,
        1.0,
        None,
        None,
    ),
    ("up", "2024-03-01", None, "pro", 30.0, 1.0, None, None),
    (
        "down",
        "2024-01-01",
        Some("2024-02-15"),
        "pro",
        50.0,
        1.0,
        None,
        None,
    ),
    (
        "down",
        "2024-02-15",
        Some("2024-05-15"),
        "basic",
        20.0,
        1.0,
        None,
        None,
    ),
    (
        "pause",
        "2024-01-01",
        Some("2024-03-01"),
        "basic",
        10.0,
        1.0,
        None,
        None,
    ),
    ("pause", "2024-03-21", None, "basic", 10.0, 1.0, None, None),
    (
        "back",
        "2024-01-01",
        Some("2024-02-01"),
        "basic",
        10.0,
        1.0,
        None,
        None,
    ),
    ("back", "2024-04-01", None, "basic", 10.0, 1.0, None, None),
    (
        "annual",
        "2023-06-15",
        None,
        "yearly",
        1200.0,
        12.0,
        None,
        Some(0.2),
    ),
    (
        "two",
        "2024-01-01",
        None,
        "basic",
        10.0,
        1.0,
        Some(3.0),
        Some(0.1),
    ),
    (
        "two",
        "2024-02-01",
        Some("2024-04-01"),
        "addon",
        5.0,
        1.0,
        Some(2.0),
        None,
    ),
    (
        "late",
        "2024-12-01",
        Some("2024-12-31"),
        "basic",
        10.0,
        1.0,
        None,
        None,
    ),
];

#[test]
fn features_of_upgrades_downgrades_pauses_returns_annual_billing_and_two_plans_by_hand() {
    let dir = tempfile::tempdir().expect("temp dir");
    periods(dir.path());
    let config = config(dir.path(), &format!("{SUBSCRIPTIONS_CONFIG}{SETTINGS}"));
    let dates = ["2024-03-10", "2024-03-31", "2024-04-30"];
    let (table, _) = build(&config, &dates, None, OnInvalid::Fail).expect("build");
    let march = "2024-03-31";
    let at = |id: &str, as_of: &str, column: &str| value(&table, id, as_of, column);
    let plan = |id: &str, as_of: &str| text(&table, id, as_of, "subscription_plan");

    // `up` on 03-31: pro since 03-01 (30 days), basic before it.
    let up = |column: &str| at("up", march, column);
    assert_eq!(plan("up", march).as_deref(), Some("pro"));
    assert_eq!(up("subscription_mrr"), Some(30.0));
    // 30 days before (03-01) pro already ran: no change; 90 days before (01-01) basic ran: +20.
    assert_eq!(up("subscription_mrr_change_30d"), Some(0.0));
    assert_eq!(up("subscription_mrr_change_90d"), Some(20.0));
    assert_eq!(up("subscription_upgrades"), Some(1.0));
    assert_eq!(up("subscription_downgrades"), Some(0.0));
    close(
        up("subscription_months_on_plan"),
        30.0 / MONTH,
        "up: months on pro",
    );
    // 01-01 to 03-31 is 31 + 29 + 30 = 90 days, in one life, and the signup is the first start.
    assert_eq!(up("subscription_life_days"), Some(90.0));
    assert_eq!(up("tenure_days"), Some(90.0));
    assert_eq!(up("subscription_returns"), Some(0.0));
    assert_eq!(up("subscription_count"), Some(1.0));
    assert_eq!(up("subscription_billing_months"), Some(1.0));
    // Monthly from 03-01: the next renewal is 04-01, a day later.
    assert_eq!(up("subscription_days_to_renewal"), Some(1.0));
    assert_eq!(up("subscription_seats"), None, "no seats given");

    // `down` on 03-31: basic at 20 since 02-15 (45 days); its end (05-15) is not known yet.
    let down = |column: &str| at("down", march, column);
    assert_eq!(plan("down", march).as_deref(), Some("basic"));
    assert_eq!(down("subscription_mrr"), Some(20.0));
    assert_eq!(down("subscription_mrr_change_30d"), Some(0.0));
    assert_eq!(down("subscription_mrr_change_90d"), Some(-30.0));
    assert_eq!(down("subscription_upgrades"), Some(0.0));
    assert_eq!(down("subscription_downgrades"), Some(1.0));
    close(
        down("subscription_months_on_plan"),
        45.0 / MONTH,
        "down: months on basic",
    );
    // Monthly from 02-15: 03-15, then 04-15, 15 days after 03-31.
    assert_eq!(down("subscription_days_to_renewal"), Some(15.0));

    // `pause`: nothing runs on 03-10, so no row then; on 03-31 the 20-day pause (within the grace
    // period) has not ended the life, and the customer has been on basic since 01-01.
    assert!(!has_row(&table, "pause", "2024-03-10"));
    assert_eq!(at("pause", march, "subscription_life_days"), Some(90.0));
    assert_eq!(at("pause", march, "subscription_returns"), Some(0.0));
    close(
        at("pause", march, "subscription_months_on_plan"),
        90.0 / MONTH,
        "pause: months on basic through the pause",
    );
    assert_eq!(at("pause", march, "subscription_upgrades"), Some(0.0));
    // 30 days before 03-31 is 03-01, the first day of the pause: MRR 0 then.
    assert_eq!(at("pause", march, "subscription_mrr_change_30d"), Some(10.0));

    // `back`: churned on 02-01 (nothing started within 30 days), back on 04-01: on 04-30 a second
    // life of 29 days, tenure from the first signup (01-01 to 04-30: 31 + 29 + 31 + 29 = 120 days).
    assert!(!has_row(&table, "back", march));
    let back = |column: &str| at("back", "2024-04-30", column);
    assert_eq!(back("subscription_returns"), Some(1.0));
    assert_eq!(back("subscription_life_days"), Some(29.0));
    assert_eq!(back("tenure_days"), Some(120.0));
    // The plan began again with the new life.
    close(
        back("subscription_months_on_plan"),
        29.0 / MONTH,
        "back: months on plan",
    );
    assert_eq!(back("subscription_upgrades"), Some(0.0));

    // `annual`: 1,200 a year is 100 a month; renews on 2024-06-15, 76 days after 03-31 (30 + 31 + 15);
    // on the plan for 366 - 76 = 290 days (2023-06-15 to 2024-06-15 spans 2024-02-29).
    let annual = |column: &str| at("annual", march, column);
    assert_eq!(annual("subscription_mrr"), Some(100.0));
    assert_eq!(annual("subscription_billing_months"), Some(12.0));
    assert_eq!(annual("subscription_days_to_renewal"), Some(76.0));
    close(
        annual("subscription_months_on_plan"),
        290.0 / MONTH,
        "annual: months",
    );
    close(annual("subscription_discount"), 0.2, "annual: discount");

    // `two`: basic and the add-on run together on 03-31: MRR 15, 5 seats, the plan with the most MRR.
    let two = |as_of: &str, column: &str| at("two", as_of, column);
    assert_eq!(plan("two", march).as_deref(), Some("basic"));
    assert_eq!(two(march, "subscription_count"), Some(2.0));
    assert_eq!(two(march, "subscription_mrr"), Some(15.0));
    assert_eq!(two(march, "subscription_seats"), Some(5.0));
    close(two(march, "subscription_discount"), 0.1, "two: basic's discount");
    // On 01-01, 90 days before, only basic ran; an add-on is not a plan change.
    assert_eq!(two(march, "subscription_mrr_change_90d"), Some(5.0));
    assert_eq!(two(march, "subscription_upgrades"), Some(0.0));
    // On 04-30 the add-on has ended (04-01): back to 10, 5 less than 30 days before.
    assert_eq!(two("2024-04-30", "subscription_count"), Some(1.0));
    assert_eq!(two("2024-04-30", "subscription_mrr"), Some(10.0));
    assert_eq!(two("2024-04-30", "subscription_mrr_change_30d"), Some(-5.0));
    assert_eq!(two("2024-04-30", "subscription_seats"), Some(3.0));
    // Monthly from 01-01: 05-01 is the next renewal.
    assert_eq!(two("2024-04-30", "subscription_days_to_renewal"), Some(1.0));

    // Exactly the customers with a running period are in each date's rows.
    let ids_at = |as_of: &str| {
        let mut ids: Vec<String> = (0..table.len())
            .filter(|&r| table.as_of[r] == Some(date(as_of)))
            .map(|r| table.customer_id_string(r))
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids_at("2024-03-10"), ["annual", "down", "two", "up"]);
    assert_eq!(ids_at(march), ["annual", "down", "pause", "two", "up"]);
    assert_eq!(
        ids_at("2024-04-30"),
        ["annual", "back", "down", "pause", "two", "up"]
    );
}

#[test]
fn labels_are_the_churn_of_the_current_life_and_wait_for_the_grace_period() {
    let dir = tempfile::tempdir().expect("temp dir");
    periods(dir.path());
    let config = config(dir.path(), &format!("{SUBSCRIPTIONS_CONFIG}{SETTINGS}"));
    // The data end on 2024-12-31; with a grace period of 30 days and a horizon of 60, the last as-of
    // date that can be labelled is 12-31 - 30 - 60 = 10-02.
    let dates = [
        "2024-01-15",
        "2024-01-31",
        "2024-03-31",
        "2024-10-02",
        "2024-10-03",
    ];
    let (table, summary) = build(&config, &dates, Some(60), OnInvalid::Fail).expect("build");
    assert_eq!(summary.label_kind, LabelKind::Subscriptions);
    assert_eq!(summary.last_labelled_as_of, Some(date("2024-10-02")));
    assert_eq!(summary.label_data_end, Some(date("2024-12-01")));
    // A label depends on 60 + 30 days after its as-of date: a time-ordered split purges by that.
    assert_eq!(summary.label_lookahead_days, Some(90));
    let label = |id: &str, as_of: &str| table.labels[row_of(&table, id, as_of)];
    // `back` churns on 02-01: within 60 days of 01-15 and of 01-31.
    assert_eq!(label("back", "2024-01-15"), Some(1));
    assert_eq!(label("back", "2024-01-31"), Some(1));
    // `pause` stops on 03-01 but restarts 20 days later: not churn.
    assert_eq!(label("pause", "2024-01-15"), Some(0));
    assert_eq!(label("pause", "2024-01-31"), Some(0));
    // `down` churns on 05-15: 45 days after 03-31, 120 after 01-15.
    assert_eq!(label("down", "2024-03-31"), Some(1));
    assert_eq!(label("down", "2024-01-15"), Some(0));
    // Running periods never churn; the second life of `back` is running.
    for id in ["up", "annual", "two"] {
        assert_eq!(label(id, "2024-03-31"), Some(0), "{id}");
    }
    assert_eq!(label("back", "2024-10-02"), Some(0));
    // Past the last labelled date the label is unknown.
    assert_eq!(label("up", "2024-10-03"), None);

    // Several as-of dates without a horizon: a warning says the subscriptions would label them.
    let request = BuildRequest {
        as_of: vec![date("2024-01-31"), date("2024-02-29")],
        horizon_days: None,
        durations: false,
    };
    let warnings = request.check_labels(&config).expect("no error");
    assert!(
        warnings.len() == 1 && warnings[0].contains("[subscriptions] give contractual labels"),
        "{warnings:?}"
    );

    // With a horizon of 30 days, `down`'s churn (45 days after 03-31) is outside it.
    let (table, _) = build(&config, &["2024-03-31"], Some(30), OnInvalid::Fail).expect("build");
    assert_eq!(table.labels[row_of(&table, "down", "2024-03-31")], Some(0));
}

#[test]
fn given_labels_take_precedence_and_customer_dates_must_agree() {
    let dir = tempfile::tempdir().expect("temp dir");
    periods(dir.path());
    // `up` signed up on 01-01 and is running; `down` ended on 05-15; `back` too is running.
    let customers = |rows: &[(&str, &str, Option<&str>)]| {
        let ids: Vec<&str> = rows.iter().map(|r| r.0).collect();
        let signups: Vec<&str> = rows.iter().map(|r| r.1).collect();
        let churns: arrow_array::ArrayRef = std::sync::Arc::new(arrow_array::StringArray::from(
            rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        ));
        write_batch(
            &dir.path().join("customers.parquet"),
            vec![
                ("customer_id", strings(&ids)),
                ("signup", strings(&signups)),
                ("churn", churns),
                (
                    "churned",
                    std::sync::Arc::new(arrow_array::Int64Array::from(vec![1i64; rows.len()]))
                        as arrow_array::ArrayRef,
                ),
            ],
        );
    };
    let customers_config = "\n[customers]\npath = \"customers.parquet\"\ncustomer_id = \"customer_id\"\n\
                            signup_date = \"signup\"\nchurn_date = \"churn\"\nattributes = []\n";
    let text = format!("{SUBSCRIPTIONS_CONFIG}{customers_config}{SETTINGS}");
    customers(&[
        ("up", "2024-01-01", None),
        ("down", "2024-01-01", Some("2024-05-15")),
        ("back", "2024-01-01", None),
    ]);
    let agreeing = config(dir.path(), &text);
    let (_, summary) = build(&agreeing, &["2024-03-31"], Some(30), OnInvalid::Fail).expect("agree");
    assert_eq!(
        summary.label_kind,
        LabelKind::Subscriptions,
        "subscriptions before churn_date"
    );

    // Row 1 says `down` churned on 05-01, row 2 that `back` signed up on 01-02.
    customers(&[
        ("up", "2024-01-01", None),
        ("down", "2024-01-01", Some("2024-05-01")),
        ("back", "2024-01-02", None),
    ]);
    let message = build(&agreeing, &["2024-03-31"], Some(30), OnInvalid::Fail)
        .expect_err("disagree")
        .to_string();
    for part in [
        "customers.parquet",
        "`signup`",
        "1 of its customers",
        "row 2",
        "2024-01-02",
        "2024-01-01",
    ] {
        assert!(message.contains(part), "`{message}` should mention `{part}`");
    }
    customers(&[
        ("up", "2024-01-01", Some("2024-06-01")),
        ("down", "2024-01-01", Some("2024-05-01")),
        ("back", "2024-01-01", None),
    ]);
    let message = build(&agreeing, &["2024-03-31"], Some(30), OnInvalid::Fail)
        .expect_err("disagree")
        .to_string();
    for part in [
        "`churn`",
        "2 of its customers",
        "row 0",
        "row 1",
        "2024-05-01",
        "2024-05-15",
        "never",
    ] {
        assert!(message.contains(part), "`{message}` should mention `{part}`");
    }

    // Given labels come first: every row is labelled as the file says.
    let labels =
        "\n[labels]\npath = \"customers.parquet\"\ncustomer_id = \"customer_id\"\nlabel = \"churned\"\n";
    let given = config(dir.path(), &format!("{SUBSCRIPTIONS_CONFIG}{labels}{SETTINGS}"));
    let (table, summary) = build(&given, &["2024-03-31"], Some(30), OnInvalid::Fail).expect("given");
    assert_eq!(summary.label_kind, LabelKind::Given);
    assert_eq!(table.labels[row_of(&table, "up", "2024-03-31")], Some(1));
}

#[test]
fn mrr_may_be_given_instead_of_an_amount_and_the_plan_left_out() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Without plans, `two`'s overlapping periods would be one plan overlapping itself: left out here
    // (see `bad_periods_are_named_by_file_column_and_row`).
    let rows: Vec<Period<'_>> = PERIODS.iter().filter(|r| r.0 != "two").copied().collect();
    write_periods(dir.path(), &rows);
    // The amount column read as MRR, monthly billing, no plan, seats or discount: `annual` is 1,200 a
    // month, `up`'s change from 10 to 30 is an upgrade without plans, and no plan column is written.
    let text = "\n[subscriptions]\npath = \"subscriptions.parquet\"\ncustomer_id = \"customer_id\"\n\
                start = \"start\"\nend = \"end\"\nmrr = \"amount\"\n";
    let config = config(dir.path(), &format!("{text}{SETTINGS}"));
    let (table, _) = build(&config, &["2024-03-31"], None, OnInvalid::Fail).expect("build");
    assert!(table.column("subscription_plan").is_none());
    assert!(table.column("subscription_seats").is_none() && table.column("subscription_discount").is_none());
    assert_eq!(
        value(&table, "annual", "2024-03-31", "subscription_mrr"),
        Some(1200.0)
    );
    assert_eq!(
        value(&table, "annual", "2024-03-31", "subscription_billing_months"),
        Some(1.0)
    );
    assert_eq!(
        value(&table, "up", "2024-03-31", "subscription_upgrades"),
        Some(1.0)
    );
    // The amount is taken as MRR: `down` went from 50 to 20.
    assert_eq!(
        value(&table, "down", "2024-03-31", "subscription_downgrades"),
        Some(1.0)
    );

    // With `two` back, its periods are one plan overlapping itself: refused, saying why.
    write_periods(dir.path(), &PERIODS);
    let message = build(&config, &["2024-03-31"], None, OnInvalid::Fail)
        .expect_err("one plan overlapping itself")
        .to_string();
    assert!(message.contains("no plan column is configured"), "{message}");
}

fn subscription_error(dir: &Path, rows: &[Period<'_>], text: &str) -> String {
    write_periods(dir, rows);
    let config = config(dir, text);
    match build(&config, &["2024-03-31"], None, OnInvalid::Fail) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "`{message}` should mention `{part}`");
    }
}

#[test]
fn bad_periods_are_named_by_file_column_and_row() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = format!("{SUBSCRIPTIONS_CONFIG}{SETTINGS}");
    let ok = (
        "a",
        "2024-01-01",
        Some("2024-02-01"),
        "basic",
        10.0,
        1.0,
        None,
        None,
    );

    // An end before its start (row 1).
    let message = subscription_error(
        dir.path(),
        &[
            ok,
            (
                "b",
                "2024-03-01",
                Some("2024-02-01"),
                "basic",
                10.0,
                1.0,
                None,
                None,
            ),
        ],
        &config,
    );
    assert_mentions(
        &message,
        &[
            "subscriptions.parquet",
            "column `end`",
            "row 1",
            "2024-02-01 is not after start 2024-03-01",
        ],
    );

    // Two periods of one customer on the same plan that overlap: the later one (row 2) is refused,
    // naming the row it overlaps; the other plan's period (row 1) overlaps too but is concurrent.
    let message = subscription_error(
        dir.path(),
        &[
            (
                "a",
                "2024-01-01",
                Some("2024-03-01"),
                "basic",
                10.0,
                1.0,
                None,
                None,
            ),
            ("a", "2024-01-15", None, "addon", 5.0, 1.0, None, None),
            ("a", "2024-02-15", None, "basic", 10.0, 1.0, None, None),
        ],
        &config,
    );
    assert_mentions(
        &message,
        &[
            "subscriptions.parquet",
            "column `start`",
            "row 2",
            "row 0",
            "plan `basic`",
            "must not overlap",
        ],
    );

    // A negative amount (row 0).
    let message = subscription_error(
        dir.path(),
        &[("a", "2024-01-01", None, "basic", -10.0, 1.0, None, None), ok],
        &config,
    );
    assert_mentions(
        &message,
        &[
            "subscriptions.parquet",
            "column `amount`",
            "row 0",
            "negative amount -10",
        ],
    );

    // A negative MRR when `mrr` is mapped.
    let mrr_config = config.replace(
        "amount = \"amount\"\nbilling_months = \"billing_months\"\n",
        "mrr = \"amount\"\n",
    );
    let message = subscription_error(
        dir.path(),
        &[ok, ("a", "2024-03-01", None, "basic", -1.5, 1.0, None, None)],
        &mrr_config,
    );
    assert_mentions(&message, &["column `amount`", "row 1", "negative MRR -1.5"]);

    // A billing period that is not a whole number of months, and a discount above 1.
    let message = subscription_error(
        dir.path(),
        &[ok, ("b", "2024-01-01", None, "basic", 10.0, 1.5, None, None)],
        &config,
    );
    assert_mentions(&message, &["column `billing_months`", "row 1", "1.5"]);
    let message = subscription_error(
        dir.path(),
        &[("b", "2024-01-01", None, "basic", 10.0, 1.0, None, Some(1.5)), ok],
        &config,
    );
    assert_mentions(&message, &["column `discount`", "row 0", "outside 0 .. 1"]);

    // A configured column the file lacks.
    let message = subscription_error(
        dir.path(),
        &[ok],
        &config.replace("end = \"end\"", "end = \"stop\""),
    );
    assert_mentions(
        &message,
        &["subscriptions.parquet", "`stop`", "subscriptions.end"],
    );
}

#[test]
fn bad_periods_are_skipped_and_counted_when_asked() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_periods(
        dir.path(),
        &[
            (
                "a",
                "2024-01-01",
                Some("2024-03-01"),
                "basic",
                10.0,
                1.0,
                None,
                None,
            ),
            ("a", "2024-02-15", None, "basic", 10.0, 1.0, None, None),
            (
                "b",
                "2024-03-01",
                Some("2024-02-01"),
                "basic",
                10.0,
                1.0,
                None,
                None,
            ),
            ("c", "2024-01-01", None, "basic", -1.0, 1.0, None, None),
            ("d", "2024-01-01", None, "basic", 10.0, 1.0, None, None),
        ],
    );
    let config = config(dir.path(), &format!("{SUBSCRIPTIONS_CONFIG}{SETTINGS}"));
    let (table, summary) = build(&config, &["2024-02-20"], None, OnInvalid::Skip).expect("skip");
    let rejected = &summary.rows_rejected;
    assert_eq!(
        rejected.get("subscriptions.start: overlaps an earlier period of the same plan"),
        Some(&1),
        "{rejected:?}"
    );
    assert_eq!(
        rejected.get("subscriptions.end: end not after start"),
        Some(&1),
        "{rejected:?}"
    );
    assert_eq!(
        rejected.get("subscriptions.amount: negative amount"),
        Some(&1),
        "{rejected:?}"
    );
    assert_eq!(rejected.values().sum::<u64>(), 3, "{rejected:?}");
    // `a` keeps its first period, running on 02-20; only `a` and `d` are there.
    assert_eq!(table.len(), 2);
    assert_eq!(value(&table, "a", "2024-02-20", "subscription_mrr"), Some(10.0));
}

#[test]
fn the_catalog_lists_every_subscription_feature_with_unit_and_window() {
    let dir = tempfile::tempdir().expect("temp dir");
    periods(dir.path());
    let config = config(dir.path(), &format!("{SUBSCRIPTIONS_CONFIG}{SETTINGS}"));
    let inputs = Inputs::load(&config, OnInvalid::Fail, &NoProgress).expect("inputs");
    let request = BuildRequest {
        as_of: vec![date("2024-03-31")],
        horizon_days: None,
        durations: false,
    };
    let layout = columns(&config, &inputs, &request).expect("layout");
    let spec = |name: &str| {
        layout
            .specs
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name} not in the catalog"))
    };
    for (name, unit, window) in [
        ("subscription_life_days", "days", "up to the as-of date"),
        ("subscription_returns", "count", "up to the as-of date"),
        ("subscription_count", "count", "at the as-of date"),
        ("subscription_mrr", "currency per month", "at the as-of date"),
        (
            "subscription_mrr_change_30d",
            "currency per month",
            "last 30 days",
        ),
        (
            "subscription_mrr_change_90d",
            "currency per month",
            "last 90 days",
        ),
        ("subscription_upgrades", "count", "up to the as-of date"),
        ("subscription_downgrades", "count", "up to the as-of date"),
        ("subscription_months_on_plan", "months", "up to the as-of date"),
        ("subscription_billing_months", "months", "at the as-of date"),
        ("subscription_seats", "seats", "at the as-of date"),
        ("subscription_discount", "share", "at the as-of date"),
        ("subscription_days_to_renewal", "days", "from the as-of date"),
        ("subscription_plan", "category", "at the as-of date"),
    ] {
        let spec = spec(name);
        assert_eq!((spec.unit, spec.window.as_str()), (unit, window), "{name}");
        assert!(!spec.meaning.is_empty(), "{name}");
        assert_eq!(
            churn_features::engine::family::Family::of(name),
            churn_features::engine::family::Family::Subscription,
            "{name}"
        );
    }
    let built = build(&config, &["2024-03-31"], None, OnInvalid::Fail)
        .expect("build")
        .0;
    let built: Vec<&str> = built.columns.iter().map(|c| c.name.as_str()).collect();
    let listed: Vec<&str> = layout.specs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(built, listed, "the catalog is the build's columns");
}

#[test]
fn the_readme_example_holds() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_periods(
        dir.path(),
        &[
            (
                "up",
                "2024-01-01",
                Some("2024-03-01"),
                "basic",
                10.0,
                1.0,
                None,
                None,
            ),
            ("up", "2024-03-01", None, "pro", 30.0, 1.0, None, None),
            (
                "back",
                "2024-01-01",
                Some("2024-02-01"),
                "basic",
                10.0,
                1.0,
                None,
                None,
            ),
            ("back", "2024-04-01", None, "basic", 10.0, 1.0, None, None),
            ("annual", "2023-06-15", None, "year", 1200.0, 12.0, None, None),
        ],
    );
    let mapping = SUBSCRIPTIONS_CONFIG
        .replace("quantity = \"seats\"\n", "")
        .replace("discount = \"discount\"\n", "");
    let config = config(dir.path(), &format!("{mapping}{SETTINGS}"));
    let (table, _) = build(&config, &["2024-03-31"], None, OnInvalid::Fail).expect("build");
    let up = |column: &str| value(&table, "up", "2024-03-31", column);
    assert_eq!(
        text(&table, "up", "2024-03-31", "subscription_plan").as_deref(),
        Some("pro")
    );
    assert_eq!(up("subscription_mrr"), Some(30.0));
    assert_eq!(up("subscription_mrr_change_30d"), Some(0.0));
    assert_eq!(up("subscription_mrr_change_90d"), Some(20.0));
    assert_eq!(up("subscription_upgrades"), Some(1.0));
    close(up("subscription_months_on_plan"), 30.0 / MONTH, "months on pro");
    assert_eq!(up("subscription_days_to_renewal"), Some(1.0));
    assert_eq!(
        (up("tenure_days"), up("subscription_life_days")),
        (Some(90.0), Some(90.0))
    );
    assert!(!has_row(&table, "back", "2024-03-31"));
    // Subscribers without a purchase or an event are active while a subscription runs, not lapsed.
    assert_eq!(
        text(&table, "up", "2024-03-31", "lifecycle_stage").as_deref(),
        Some("active")
    );
    assert_eq!(
        text(&table, "annual", "2024-03-31", "lifecycle_stage").as_deref(),
        Some("active")
    );
    let annual = |column: &str| value(&table, "annual", "2024-03-31", column);
    assert_eq!(annual("subscription_mrr"), Some(100.0));
    assert_eq!(annual("subscription_billing_months"), Some(12.0));
    assert_eq!(annual("subscription_days_to_renewal"), Some(76.0));

    let (table, _) = build(&config, &["2024-01-15", "2024-04-01"], Some(30), OnInvalid::Fail).expect("build");
    assert_eq!(table.labels[row_of(&table, "back", "2024-01-15")], Some(1));
    assert_eq!(table.labels[row_of(&table, "annual", "2024-01-15")], Some(0));
    let back = |column: &str| value(&table, "back", "2024-04-01", column);
    assert_eq!(back("subscription_returns"), Some(1.0));
    assert_eq!(back("subscription_life_days"), Some(0.0));
    assert_eq!(back("tenure_days"), Some(91.0));
}

#[test]
fn subscription_labels_end_with_the_subscriptions_not_with_later_inputs() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Subscriptions pulled on 06-30 (`b`'s period ends that day: whether it renews is not known yet);
    // events run until 08-31.
    write_periods(
        dir.path(),
        &[
            ("a", "2024-01-01", None, "basic", 10.0, 1.0, None, None),
            (
                "b",
                "2024-01-01",
                Some("2024-06-30"),
                "basic",
                10.0,
                1.0,
                None,
                None,
            ),
        ],
    );
    write_events(
        dir.path(),
        &[
            ("a", "2024-02-01T10:00:00", "login"),
            ("a", "2024-08-31T10:00:00", "login"),
        ],
    );
    let config = config(
        dir.path(),
        &format!("{SUBSCRIPTIONS_CONFIG}{EVENTS_CONFIG}{SETTINGS}"),
    );
    let dates = ["2024-04-30", "2024-05-15", "2024-06-15"];
    let (table, summary) = build(&config, &dates, Some(30), OnInvalid::Fail).expect("build");
    // 06-30 less the 30-day grace period, then less the 30-day horizon.
    assert_eq!(summary.label_data_end, Some(date("2024-05-31")));
    assert_eq!(summary.last_labelled_as_of, Some(date("2024-05-01")));
    for id in ["a", "b"] {
        assert_eq!(table.labels[row_of(&table, id, "2024-04-30")], Some(0), "{id}");
        for as_of in ["2024-05-15", "2024-06-15"] {
            assert_eq!(table.labels[row_of(&table, id, as_of)], None, "{id} {as_of}");
        }
    }
    // `b`'s end is after every start: if it had not happened when the file was pulled, it should be
    // null; nothing can tell, so a warning says it.
    let ends: Vec<&String> = summary
        .warnings
        .iter()
        .filter(|w| w.contains("end after the last start"))
        .collect();
    assert_eq!(ends.len(), 1, "{:?}", summary.warnings);
    for part in [
        "subscriptions.parquet",
        "1 periods",
        "2024-01-01",
        "2024-06-30",
        "write it as null",
    ] {
        assert!(ends[0].contains(part), "{part}: {}", ends[0]);
    }
}

#[test]
fn a_period_ending_after_max_date_is_running_not_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_periods(
        dir.path(),
        &[
            (
                "a",
                "2024-01-01",
                Some("2024-09-01"),
                "basic",
                10.0,
                1.0,
                None,
                None,
            ),
            (
                "b",
                "2024-01-01",
                Some("2024-03-01"),
                "basic",
                10.0,
                1.0,
                None,
                None,
            ),
            (
                "b",
                "2024-03-01",
                Some("2024-06-30"),
                "basic",
                10.0,
                1.0,
                None,
                None,
            ),
        ],
    );
    let config = config(
        dir.path(),
        &format!("{SUBSCRIPTIONS_CONFIG}{SETTINGS}\n[data]\nmax_date = \"2024-06-30\"\n"),
    );
    for on_invalid in [OnInvalid::Fail, OnInvalid::Skip] {
        let (table, summary) = build(&config, &["2024-06-30"], None, on_invalid).expect("build");
        assert!(summary.rows_rejected.is_empty(), "{:?}", summary.rows_rejected);
        // `a`'s end after max_date is not known yet: running on 06-30; `b`'s ended that day.
        assert!(has_row(&table, "a", "2024-06-30"));
        assert!(!has_row(&table, "b", "2024-06-30"));
        assert_eq!(value(&table, "a", "2024-06-30", "subscription_count"), Some(1.0));
        assert_eq!(summary.input_ranges["subscriptions"].last, date("2024-06-30"));
    }
}

#[test]
fn an_add_on_beside_a_renewing_plan_is_no_plan_change() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Plan `a` renewed monthly at 50 from 01-01 (rows 01-01..01-31, 01-31..03-01, 03-01..): `addon` adds
    // plan `c` at 10 from 02-15, running; `ends` adds it from 02-15 to 03-01, the renewal day.
    let mut rows: Vec<Period<'_>> = Vec::new();
    for id in ["addon", "ends"] {
        rows.extend([
            (id, "2024-01-01", Some("2024-01-31"), "a", 50.0, 1.0, None, None),
            (id, "2024-01-31", Some("2024-03-01"), "a", 50.0, 1.0, None, None),
            (id, "2024-03-01", None, "a", 50.0, 1.0, None, None),
        ]);
    }
    rows.push(("addon", "2024-02-15", None, "c", 10.0, 1.0, None, None));
    rows.push((
        "ends",
        "2024-02-15",
        Some("2024-03-01"),
        "c",
        10.0,
        1.0,
        None,
        None,
    ));
    // A real change beside them: `b` at 20 follows `a` with nothing else running.
    rows.push((
        "change",
        "2024-01-01",
        Some("2024-02-15"),
        "a",
        50.0,
        1.0,
        None,
        None,
    ));
    rows.push(("change", "2024-02-15", None, "b", 20.0, 1.0, None, None));
    // The data run until 03-31.
    rows.push((
        "late",
        "2024-03-01",
        Some("2024-03-31"),
        "a",
        10.0,
        1.0,
        None,
        None,
    ));
    write_periods(dir.path(), &rows);
    let config = config(dir.path(), &format!("{SUBSCRIPTIONS_CONFIG}{SETTINGS}"));
    let as_of = "2024-03-31";
    let (table, _) = build(&config, &[as_of], None, OnInvalid::Fail).expect("build");
    for id in ["addon", "ends"] {
        let at = |column: &str| value(&table, id, as_of, column);
        assert_eq!(at("subscription_upgrades"), Some(0.0), "{id}");
        assert_eq!(at("subscription_downgrades"), Some(0.0), "{id}");
        // On plan `a` since 01-01, through its renewals: 90 days.
        close(at("subscription_months_on_plan"), 90.0 / MONTH, id);
        assert_eq!(text(&table, id, as_of, "subscription_plan").as_deref(), Some("a"));
    }
    assert_eq!(
        value(&table, "change", as_of, "subscription_downgrades"),
        Some(1.0)
    );
    close(
        value(&table, "change", as_of, "subscription_months_on_plan"),
        45.0 / MONTH,
        "change",
    );
}

#[test]
fn a_period_dated_outside_the_calendar_is_named_by_file_column_and_row() {
    use arrow_array::{ArrayRef, Date32Array};
    use std::sync::Arc;
    let dir = tempfile::tempdir().expect("temp dir");
    let days = |values: Vec<Option<i32>>| -> ArrayRef { Arc::new(Date32Array::from(values)) };
    let jan = 19_723; // 2024-01-01
    write_batch(
        &dir.path().join("subscriptions.parquet"),
        vec![
            ("customer_id", strings(&["a", "b", "c"])),
            ("start", days(vec![Some(jan), Some(i32::MAX - 5), Some(jan)])),
            ("end", days(vec![None, Some(i32::MAX - 10), Some(i32::MAX)])),
            ("plan", strings(&["basic", "basic", "basic"])),
            ("amount", floats(&[10.0, 10.0, 10.0])),
            ("billing_months", floats(&[1.0, 1.0, 1.0])),
        ],
    );
    let text = "\n[subscriptions]\npath = \"subscriptions.parquet\"\ncustomer_id = \"customer_id\"\n\
                start = \"start\"\nend = \"end\"\nplan = \"plan\"\namount = \"amount\"\n\
                billing_months = \"billing_months\"\n";
    let config = config(dir.path(), &format!("{text}{SETTINGS}"));
    let message = build(&config, &["2024-01-01"], None, OnInvalid::Fail)
        .expect_err("not a date")
        .to_string();
    assert_mentions(
        &message,
        &["subscriptions.parquet", "`start`", "row 1", "calendar"],
    );
    let (table, summary) = build(&config, &["2024-01-01"], None, OnInvalid::Skip).expect("skip");
    let rejected = &summary.rows_rejected;
    let reason = "date outside the calendar's range (years -262144 to 262143)";
    assert_eq!(
        rejected.get(&format!("subscriptions.start: {reason}")),
        Some(&1),
        "{rejected:?}"
    );
    assert_eq!(
        rejected.get(&format!("subscriptions.end: {reason}")),
        Some(&1),
        "{rejected:?}"
    );
    assert_eq!(table.len(), 1);
}
