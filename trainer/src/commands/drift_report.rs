//! The self-contained drift page (`drift.html`, written by `churn-trainer monitor`): what was compared,
//! what the population stability index means, every feature and the score in a table by PSI with its
//! level, and for each one flagged (and for the score) a chart of its training against its current
//! shares per bin, as inline SVG (no scripts, no network). Features are named as people read them,
//! with the column name below.

use super::report::{BLUE, ORANGE, escape, kind_name};
use churn_models::drift::{ACT_PSI, Drift, ScoreSource, WATCH_PSI};
use churn_models::{DriftLevel, DriftReport, ModelArtifact};
use std::fmt::Write;

/// Chart geometry (SVG user units): bin labels end at `LABELS_END`, bars run from `PLOT_LEFT` to
/// `PLOT_RIGHT`, one row of two bars per bin from `TOP`.
const WIDTH: f64 = 520.0;
const LABELS_END: f64 = 146.0;
const PLOT_LEFT: f64 = 152.0;
const PLOT_RIGHT: f64 = WIDTH - 20.0;
const TOP: f64 = 30.0;
const ROW: f64 = 26.0;
const BAR: f64 = 10.0;
/// Bin labels longer than this are cut (the whole label is in the tooltip).
const LABEL_CHARS: usize = 22;

/// A share as a percentage with one decimal (`31.0%`).
fn share(value: f64) -> String {
    format!("{:.1}%", 100.0 * value)
}

fn level_badge(level: DriftLevel) -> String {
    format!(r#"<span class="level level-{level}">{level}</span>"#)
}

/// What a distribution is called on the page: the feature's readable name, or the score's.
fn title(artifact: &ModelArtifact, drift: &Drift) -> String {
    if drift.kind == "score" {
        "Churn probability (the model's score)".into()
    } else {
        artifact.schema.readable_name(&drift.name)
    }
}

/// Training against current shares of every bin of `drift`, as horizontal bars, legend below.
fn chart(heading: &str, drift: &Drift) -> String {
    let largest = drift
        .bins
        .iter()
        .map(|b| b.reference.max(b.current))
        .fold(0.0, f64::max);
    // Ticks every 10% up to 50%, every 20% beyond; the axis ends at the first tick at or above the
    // largest share.
    let step = if largest > 0.5 { 0.2 } else { 0.1 };
    let ticks = ((largest / step - 1e-9).ceil() as usize).max(1);
    let axis_max = (step * ticks as f64).min(1.0);
    let at = |value: f64| PLOT_LEFT + (value / axis_max).clamp(0.0, 1.0) * (PLOT_RIGHT - PLOT_LEFT);
    let bottom = TOP + ROW * drift.bins.len() as f64;
    let legend_top = bottom + 52.0;
    let height = legend_top + 17.0 + 8.0;
    let mut svg = format!(
        r##"<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{t}"><rect width="100%" height="100%" fill="#fff"/><text class="chart-title" x="{cx}" y="18" text-anchor="middle" font-size="13" font-weight="bold">{t}</text><rect class="plot-area" x="{PLOT_LEFT}" y="{TOP}" width="{w}" height="{h}" fill="#fbfbfb"/>"##,
        t = escape(heading),
        cx = WIDTH / 2.0,
        w = PLOT_RIGHT - PLOT_LEFT,
        h = bottom - TOP,
    );
    for k in 0..=ticks {
        let value = (step * k as f64).min(1.0);
        let x = at(value);
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{bottom}" stroke="#e6e6e6"/><text class="tick" x="{x:.1}" y="{ty}" text-anchor="middle" font-size="10">{l:.0}%</text>"##,
            ty = bottom + 14.0,
            l = 100.0 * value
        );
    }
    for (k, bin) in drift.bins.iter().enumerate() {
        let y = TOP + ROW * k as f64;
        let label: String = if bin.label.chars().count() > LABEL_CHARS {
            bin.label.chars().take(LABEL_CHARS - 1).chain(['…']).collect()
        } else {
            bin.label.clone()
        };
        let tooltip = format!(
            "{}: training {}, current {}",
            bin.label,
            share(bin.reference),
            share(bin.current)
        );
        let _ = write!(
            svg,
            r##"<text class="bin" x="{LABELS_END}" y="{ly:.1}" text-anchor="end" font-size="10"><title>{tt}</title>{l}</text><rect x="{PLOT_LEFT}" y="{ry:.1}" width="{rw:.1}" height="{BAR}" fill="{BLUE}"><title>{tt}</title></rect><rect x="{PLOT_LEFT}" y="{cy:.1}" width="{cw:.1}" height="{BAR}" fill="{ORANGE}"><title>{tt}</title></rect>"##,
            ly = y + ROW / 2.0 + 3.5,
            ry = y + 3.0,
            cy = y + 3.0 + BAR,
            rw = at(bin.reference) - PLOT_LEFT,
            cw = at(bin.current) - PLOT_LEFT,
            l = escape(&label),
            tt = escape(&tooltip),
        );
    }
    let _ = write!(
        svg,
        r##"<line x1="{PLOT_LEFT}" y1="{bottom}" x2="{PLOT_RIGHT}" y2="{bottom}" stroke="#333"/><line x1="{PLOT_LEFT}" y1="{TOP}" x2="{PLOT_LEFT}" y2="{bottom}" stroke="#333"/><text class="axis-title" x="{cx}" y="{xl}" text-anchor="middle" font-size="11">share of rows in the bin</text>"##,
        cx = (PLOT_LEFT + PLOT_RIGHT) / 2.0,
        xl = bottom + 30.0,
    );
    let _ = write!(
        svg,
        r##"<g class="legend"><rect x="{x}" y="{ry}" width="12" height="10" fill="{BLUE}"/><text x="{tx}" y="{legend_top}" font-size="11">training ({rows} rows)</text><rect x="{x2}" y="{ry}" width="12" height="10" fill="{ORANGE}"/><text x="{tx2}" y="{legend_top}" font-size="11">current</text></g></svg>"##,
        x = PLOT_LEFT,
        ry = legend_top - 9.0,
        tx = PLOT_LEFT + 18.0,
        rows = drift.reference_rows,
        x2 = PLOT_LEFT + 190.0,
        tx2 = PLOT_LEFT + 208.0,
    );
    svg
}

const STYLE: &str = r#"
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1120px; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #eee; padding-bottom: .2rem; }
.lead { color: #444; margin-top: 0; }
.facts { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: .25rem 1rem; background: #f6f8fb; border: 1px solid #dde4ee; border-radius: 8px; padding: .8rem 1rem; }
.facts dt { font-weight: 600; } .facts dd { margin: 0; overflow-wrap: anywhere; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 480px), 1fr)); gap: 1.5rem; }
figure { margin: 0; min-width: 0; } figcaption { font-size: .85rem; color: #555; }
svg.chart { display: block; width: 100%; height: auto; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; }
td, th { border: 1px solid #ddd; padding: .3rem .6rem; text-align: right; vertical-align: top; }
.text { text-align: left; } td .sub { display: block; color: #666; font-size: .8rem; }
.level { display: inline-block; padding: 0 .45rem; border-radius: 4px; }
.level-none { background: #e3f2e1; } .level-watch { background: #fff1cc; } .level-act { background: #fbd9d5; }
.note { color: #555; font-size: .9rem; }
"#;

/// Builds `drift.html` for `report`, the comparison of `data` (with these as-of dates) with `model`
/// (`NAME@VERSION`, whose artifact is `artifact`).
pub fn render(
    artifact: &ModelArtifact,
    model: &str,
    data: &str,
    as_of_dates: &[String],
    report: &DriftReport,
) -> String {
    let count = |level| report.features.iter().filter(|d| d.level == level).count();
    let dates = match as_of_dates {
        [] => "no as-of date".to_string(),
        [one] => format!("as of {one}"),
        [first, .., last] => format!("as of {first} to {last} ({} dates)", as_of_dates.len()),
    };
    let population = if artifact.population.is_everyone() {
        format!("{} rows", report.rows)
    } else {
        format!(
            "{} rows of the model's population ({}); {} rows outside it left out",
            report.rows, artifact.population, report.population_excluded
        )
    };
    let mut all: Vec<&Drift> = report.at_least(DriftLevel::None).collect();
    all.sort_by(|a, b| b.psi.total_cmp(&a.psi));
    let mut rows = String::new();
    for drift in &all {
        let moved = drift.largest_move().map_or_else(String::new, |bin| {
            format!(
                "{}: {} → {}",
                escape(&bin.label),
                share(bin.reference),
                share(bin.current)
            )
        });
        let _ = write!(
            rows,
            r#"<tr><td class="text">{name}<span class="sub">{column}</span></td><td>{psi:.3}</td><td class="text">{badge}</td><td class="text">{moved}</td></tr>"#,
            name = escape(&title(artifact, drift)),
            column = escape(&drift.name),
            psi = drift.psi,
            badge = level_badge(drift.level),
        );
    }
    let flagged: Vec<&Drift> = report
        .features
        .iter()
        .filter(|d| d.level >= DriftLevel::Watch)
        .chain(std::iter::once(&report.score))
        .collect();
    let mut charts = String::new();
    for drift in &flagged {
        let _ = write!(
            charts,
            "<figure>{}<figcaption>PSI {:.3} ({}). Each bin's share of the training rows (blue) and of \
             the rows compared (orange).</figcaption></figure>",
            chart(&title(artifact, drift), drift),
            drift.psi,
            drift.level
        );
    }
    format!(
        r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Drift: {data} against {model}</title>
<style>{STYLE}</style></head><body>
<h1>Do these customers still look like the training customers?</h1>
<p class="lead">{data} compared with the customers {model} was trained on: {act} features to act on, {watch} to watch, {none} unchanged; the score's PSI is {score_psi:.3} ({score_level}).</p>
<dl class="facts">
<dt>Model</dt><dd>{model} ({kind})</dd>
<dt>Compared</dt><dd>{data}, {dates}: {population}</dd>
<dt>Training distributions</dt><dd>{reference_rows} rows: {reference_source}</dd>
<dt>Score's reference</dt><dd>{score_source} ({score_rows} rows)</dd>
<dt>Levels</dt><dd>none below {WATCH_PSI}, watch from {WATCH_PSI}, act from {ACT_PSI}</dd>
</dl>
<p class="note">The population stability index (PSI) measures how far a distribution has moved: the values are put into the bins the model stored at training (numbers: ten bins between the training deciles, and missing values; categories: each level the model knows, every other value, and missing values), and PSI = Σ (current share − training share) × ln(current share ÷ training share). Below {WATCH_PSI} nothing significant changed; from {WATCH_PSI} a feature is worth watching; from {ACT_PSI} it has shifted significantly: check the data feeding it (a broken pipeline often shows as a jump in missing values), or retrain the model on recent customers.</p>
<h2 id="features">Features by PSI</h2>
<div class="scroll"><table class="drift"><tr><th class="text">feature</th><th>PSI</th><th class="text">level</th><th class="text">bin that moved the most: training → current</th></tr>
{rows}</table></div>
<h2 id="charts">Flagged features and the score</h2>
<div class="charts">{charts}</div>
</body></html>
"##,
        data = escape(data),
        model = escape(model),
        kind = escape(&kind_name(artifact.kind)),
        act = count(DriftLevel::Act),
        watch = count(DriftLevel::Watch),
        none = count(DriftLevel::None),
        score_psi = report.score.psi,
        score_level = report.score.level,
        dates = escape(&dates),
        population = escape(&population),
        reference_rows = report.reference_rows,
        reference_source = match report.score_source {
            ScoreSource::HeldOut => "the held-out test date's rows (out-of-time validation)",
            ScoreSource::OutOfFold => "every training row (cross-validation)",
            ScoreSource::Training => "the training rows (trained without validation)",
        },
        score_source = report.score_source.describe(),
        score_rows = report.score.reference_rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use churn_models::drift::BinShares;

    #[test]
    fn a_chart_has_a_row_per_bin_scaled_to_the_largest_share_and_its_legend_below() {
        let drift = Drift {
            name: "plan".into(),
            kind: "categorical".into(),
            psi: 0.5,
            level: DriftLevel::Act,
            reference_rows: 900,
            bins: vec![
                BinShares {
                    label: "basic".into(),
                    reference: 0.5,
                    current: 0.25,
                },
                BinShares {
                    label: "a level with a very long name indeed".into(),
                    reference: 0.5,
                    current: 0.25,
                },
                BinShares {
                    label: "(missing)".into(),
                    reference: 0.0,
                    current: 0.5,
                },
            ],
        };
        let svg = chart("Plan", &drift);
        // The axis ends at 50%: a share of 0.5 fills the plot's width.
        assert!(svg.contains(&format!(
            r#"width="{:.1}" height="{BAR}" fill="{BLUE}""#,
            PLOT_RIGHT - PLOT_LEFT
        )));
        let ticks: Vec<&str> = svg
            .split(r#"<text class="tick" x=""#)
            .skip(1)
            .filter_map(|t| t.split('>').nth(1)?.split('<').next())
            .filter(|t| t.ends_with('%'))
            .collect();
        assert_eq!(ticks, ["0%", "10%", "20%", "30%", "40%", "50%"]);
        assert_eq!(svg.matches(&format!(r#"fill="{ORANGE}"><title>"#)).count(), 3);
        assert!(svg.contains(">a level with a very l…</text>"), "{svg}");
        assert!(
            svg.contains(
                "<title>a level with a very long name indeed: training 50.0%, current 25.0%</title>"
            )
        );
        let legend = svg.split(r#"<g class="legend">"#).nth(1).expect("legend");
        let bottom = TOP + ROW * 3.0;
        for y in legend.split(" y=\"").skip(1) {
            let y: f64 = y.split('"').next().and_then(|v| v.parse().ok()).expect("y");
            assert!(y > bottom + 40.0, "legend at {y} is not below the axis title");
        }
    }
}
