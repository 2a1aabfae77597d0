//! The self-contained HTML evaluation report, for the people who act on it: what the label means and
//! which dates were evaluated, the customers to call first and why, the headline numbers in words, ROC,
//! precision-recall, lift, gain and calibration charts as inline SVG (no scripts, no network), what
//! drives the predictions, and the kinds `--model auto` compared. Features are named as people read them
//! (`churn_features::engine::layout::readable_name`); the column name is kept in a tooltip.
//!
//! Every chart keeps its legend below the plot area, never over it: the plot area is the
//! `rect.plot-area` of each `svg.chart`, the legend its `g.legend` (a browser test checks that they do
//! not meet).

use churn_models::call_list::CallList;
use churn_models::metrics::{CalibrationBin, FeatureImportance, pr_curve, roc_curve};
use churn_models::{Evaluation, Metrics, ModelArtifact, ModelKind, Validation};
use std::fmt::Write;

/// What the report is about.
pub struct ReportInput<'a> {
    /// `NAME@VERSION`.
    pub model: &'a str,
    /// The model: kind, label, training dates, feature descriptions, calibration, bands.
    pub artifact: &'a ModelArtifact,
    /// The feature table evaluated, as the user named it.
    pub data: &'a str,
    /// The evaluation.
    pub evaluation: &'a Evaluation,
}

/// Features shown in the importance table.
const IMPORTANCE_ROWS: usize = 15;

/// Chart geometry (SVG user units): the plot area is `[LEFT, RIGHT] × [TOP, BOTTOM]`; tick labels,
/// the axis title and then the legend lie below it.
const WIDTH: f64 = 380.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = WIDTH - 16.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 232.0;
/// First legend row's baseline, below the x axis title.
const LEGEND_TOP: f64 = BOTTOM + 52.0;
const LEGEND_ROW: f64 = 17.0;

pub(crate) const BLUE: &str = "#2f6db3";
const RED: &str = "#c0392b";
pub(crate) const ORANGE: &str = "#e08a00";
const GREY: &str = "#8a8a8a";

/// Text escaped for HTML and SVG (element content and quoted attributes).
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Keeps at most `max` points of a curve (evenly spaced, endpoints kept) so the file stays small.
fn thin(points: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    if points.len() <= max {
        return points.to_vec();
    }
    let step = (points.len() - 1) as f64 / (max - 1) as f64;
    (0..max)
        .map(|k| points[((k as f64 * step).round() as usize).min(points.len() - 1)])
        .collect()
}

/// How a series is drawn, for its legend swatch.
#[derive(Clone, Copy)]
enum Mark {
    Line,
    Dashed,
    Dot,
    Bar,
}

/// One line chart (or bar chart) as SVG, legend below the plot area.
struct Plot {
    title: String,
    body: String,
    x_min: f64,
    x_max: f64,
    y_max: f64,
    legend: Vec<(String, &'static str, Mark)>,
}

impl Plot {
    /// A chart over `[x_min, x_max] × [0, y_max]`, with `x_ticks` and `y_ticks` as (value, label).
    fn new(
        title: &str,
        (x_label, x_min, x_max, x_ticks): (&str, f64, f64, Vec<(f64, String)>),
        (y_label, y_max, y_ticks): (&str, f64, Vec<(f64, String)>),
    ) -> Self {
        let mut plot = Self {
            title: title.to_string(),
            body: String::new(),
            x_min,
            x_max,
            y_max,
            legend: Vec::new(),
        };
        let _ = write!(
            plot.body,
            r##"<rect class="plot-area" x="{LEFT}" y="{TOP}" width="{w}" height="{h}" fill="#fbfbfb"/>"##,
            w = RIGHT - LEFT,
            h = BOTTOM - TOP
        );
        for (value, label) in x_ticks {
            let (x, _) = plot.at(value, 0.0);
            let _ = write!(
                plot.body,
                r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{BOTTOM}" stroke="#e6e6e6"/><text class="tick" x="{x:.1}" y="{ty}" text-anchor="middle" font-size="10">{l}</text>"##,
                ty = BOTTOM + 14.0,
                l = escape(&label)
            );
        }
        for (value, label) in y_ticks {
            let (_, y) = plot.at(x_min, value);
            let _ = write!(
                plot.body,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{RIGHT}" y2="{y:.1}" stroke="#e6e6e6"/><text class="tick" x="{tx}" y="{ty:.1}" text-anchor="end" font-size="10">{l}</text>"##,
                tx = LEFT - 5.0,
                ty = y + 3.5,
                l = escape(&label)
            );
        }
        let _ = write!(
            plot.body,
            r##"<line x1="{LEFT}" y1="{BOTTOM}" x2="{RIGHT}" y2="{BOTTOM}" stroke="#333"/><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{BOTTOM}" stroke="#333"/><text class="axis-title" x="{cx}" y="{xl}" text-anchor="middle" font-size="11">{x_label}</text><text class="axis-title" transform="translate(14 {cy}) rotate(-90)" text-anchor="middle" font-size="11">{y_label}</text>"##,
            cx = (LEFT + RIGHT) / 2.0,
            xl = BOTTOM + 32.0,
            cy = (TOP + BOTTOM) / 2.0,
            x_label = escape(x_label),
            y_label = escape(y_label),
        );
        plot
    }

    /// A chart of shares on both axes (`[0, 1]²`, ticked every quarter).
    fn unit(title: &str, x_label: &str, y_label: &str) -> Self {
        Self::new(
            title,
            (x_label, 0.0, 1.0, quarters(1.0)),
            (y_label, 1.0, quarters(1.0)),
        )
    }

    fn at(&self, x: f64, y: f64) -> (f64, f64) {
        let fx = ((x - self.x_min) / (self.x_max - self.x_min)).clamp(0.0, 1.0);
        let fy = (y / self.y_max).clamp(0.0, 1.0);
        (LEFT + fx * (RIGHT - LEFT), BOTTOM - fy * (BOTTOM - TOP))
    }

    fn line(&mut self, points: &[(f64, f64)], color: &'static str, dashed: bool, label: &str) {
        let path: Vec<String> = points
            .iter()
            .map(|&(x, y)| {
                let (px, py) = self.at(x, y);
                format!("{px:.1},{py:.1}")
            })
            .collect();
        let _ = write!(
            self.body,
            r##"<polyline fill="none" stroke="{color}" stroke-width="{width}" {dash} points="{}"/>"##,
            path.join(" "),
            width = if dashed { 1.5 } else { 2.0 },
            dash = if dashed { r#"stroke-dasharray="5 4""# } else { "" }
        );
        let mark = if dashed { Mark::Dashed } else { Mark::Line };
        self.legend.push((label.to_string(), color, mark));
    }

    /// Dots at `points`; `label` adds a legend entry.
    fn dots(&mut self, points: &[(f64, f64)], color: &'static str, radius: f64, label: Option<&str>) {
        for &(x, y) in points {
            let (px, py) = self.at(x, y);
            let _ = write!(
                self.body,
                r##"<circle cx="{px:.1}" cy="{py:.1}" r="{radius}" fill="{color}" stroke="#fff" stroke-width="1"/>"##
            );
        }
        if let Some(label) = label {
            self.legend.push((label.to_string(), color, Mark::Dot));
        }
    }

    fn bar(&mut self, x0: f64, x1: f64, y: f64, color: &'static str, tooltip: &str) {
        let (left, top) = self.at(x0, y);
        let (right, bottom) = self.at(x1, 0.0);
        let _ = write!(
            self.body,
            r##"<rect x="{left:.1}" y="{top:.1}" width="{w:.1}" height="{h:.1}" fill="{color}"><title>{t}</title></rect>"##,
            w = (right - left).max(0.0),
            h = (bottom - top).max(0.0),
            t = escape(tooltip)
        );
    }

    fn legend_entry(&mut self, label: &str, color: &'static str, mark: Mark) {
        self.legend.push((label.to_string(), color, mark));
    }

    fn finish(self) -> String {
        let height = LEGEND_TOP + LEGEND_ROW * self.legend.len().saturating_sub(1) as f64 + 8.0;
        let mut svg = format!(
            r##"<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{t}"><rect width="100%" height="100%" fill="#fff"/><text class="chart-title" x="{cx}" y="18" text-anchor="middle" font-size="13" font-weight="bold">{t}</text>"##,
            t = escape(&self.title),
            cx = WIDTH / 2.0
        );
        svg.push_str(&self.body);
        svg.push_str(r#"<g class="legend">"#);
        for (k, (label, color, mark)) in self.legend.iter().enumerate() {
            let y = LEGEND_TOP + k as f64 * LEGEND_ROW;
            let x = LEFT;
            let swatch = match mark {
                Mark::Line => format!(
                    r##"<line x1="{x}" y1="{m}" x2="{x2}" y2="{m}" stroke="{color}" stroke-width="2"/>"##,
                    m = y - 4.0,
                    x2 = x + 20.0
                ),
                Mark::Dashed => format!(
                    r##"<line x1="{x}" y1="{m}" x2="{x2}" y2="{m}" stroke="{color}" stroke-width="1.5" stroke-dasharray="5 4"/>"##,
                    m = y - 4.0,
                    x2 = x + 20.0
                ),
                Mark::Dot => format!(
                    r##"<circle cx="{cx}" cy="{m}" r="4" fill="{color}"/>"##,
                    cx = x + 10.0,
                    m = y - 4.0
                ),
                Mark::Bar => format!(
                    r##"<rect x="{x2}" y="{ry}" width="12" height="10" fill="{color}"/>"##,
                    x2 = x + 4.0,
                    ry = y - 9.0
                ),
            };
            let _ = write!(
                svg,
                r##"{swatch}<text x="{tx}" y="{y}" font-size="11">{l}</text>"##,
                tx = x + 27.0,
                l = escape(label)
            );
        }
        svg.push_str("</g></svg>");
        svg
    }
}

/// Ticks at 0, ¼, ½, ¾ and 1 of `max`.
fn quarters(max: f64) -> Vec<(f64, String)> {
    (0..=4)
        .map(|k| {
            let value = max * k as f64 / 4.0;
            (value, fmt_tick(value))
        })
        .collect()
}

fn fmt_tick(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// Y ticks for lift: whole numbers up to `max` (a whole number), every other one above 8.
fn lift_ticks(max: f64) -> Vec<(f64, String)> {
    let step = if max > 8.0 { 2.0 } else { 1.0 };
    let mut ticks = Vec::new();
    let mut value = 0.0;
    while value <= max + 1e-9 {
        ticks.push((value, format!("{value:.0}")));
        value += step;
    }
    ticks
}

/// The change in ROC AUC when a feature is shuffled, in words.
fn importance_text(item: &FeatureImportance) -> String {
    let drop = item.auc_drop;
    if drop >= 0.0005 {
        format!("ROC AUC drops by {drop:.3} when shuffled")
    } else if drop <= -0.0005 {
        format!(
            "ROC AUC rises by {:.3} when shuffled (noise: the model does not rely on it)",
            -drop
        )
    } else {
        "no measurable change in ROC AUC when shuffled".into()
    }
}

/// A probability as a percentage people read ("83%", "4.2%" below 10%).
fn percent(p: f64) -> String {
    let value = 100.0 * p;
    if value < 10.0 && value > 0.0 {
        format!("{value:.1}%")
    } else {
        format!("{value:.0}%")
    }
}

/// An amount: no decimals from 100 up, with thousands separated by commas.
fn amount(value: f64) -> String {
    if value.abs() < 100.0 {
        return format!("{value:.2}");
    }
    let digits = format!("{:.0}", value.abs());
    let mut grouped = String::new();
    for (k, c) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if value < 0.0 {
        format!("-{grouped}")
    } else {
        grouped
    }
}

/// The CSS class of a risk band: by its position among the model's bands, lowest `band-0`.
fn band_class(artifact: &ModelArtifact, band: &str) -> String {
    let bands = artifact.risk_bands.bands();
    let position = bands.iter().position(|b| b.name == band).unwrap_or(0);
    let level = if bands.len() <= 1 {
        0
    } else {
        (position * 2).div_ceil(bands.len() - 1).min(2)
    };
    format!("band band-{level}")
}

/// Dates as people scan them: all of a few, else the first, the last and how many.
fn date_list(dates: &[String]) -> String {
    match dates {
        [] => "none recorded".into(),
        [one] => one.clone(),
        _ if dates.len() <= 4 => dates.join(", "),
        [first, .., last] => format!("{first} to {last} ({} dates)", dates.len()),
    }
}

fn header(input: &ReportInput<'_>) -> String {
    let artifact = input.artifact;
    let evaluation = input.evaluation;
    let label = &artifact.label;
    let definition = label.definition.as_deref().map_or_else(
        || {
            "not recorded with the model (train with --model-config and a [label] definition to record it)"
                .to_string()
        },
        escape,
    );
    let horizon = label.horizon_days.map_or_else(
        || "not recorded".to_string(),
        |days| format!("{days} days after each as-of date"),
    );
    let evaluated: Vec<String> = evaluation.as_of_dates.iter().map(ToString::to_string).collect();
    let validation = match &artifact.training.validation {
        Validation::OutOfTime {
            test_as_of,
            purge_days: Some(days),
            purged_rows,
        } if *purged_rows > 0 => format!(
            ", validated out of time on {test_as_of} ({purged_rows} training rows left out because their \
             {days}-day label window reached past that date)"
        ),
        Validation::OutOfTime { test_as_of, .. } => format!(", validated out of time on {test_as_of}"),
        Validation::CrossValidation { folds, .. } => format!(", validated by {folds}-fold cross-validation"),
        Validation::None => String::new(),
    };
    let calibration = artifact.calibration.as_ref().map_or_else(String::new, |c| {
        format!(", probabilities calibrated ({})", c.method())
    });
    format!(
        r#"<h1>Churn model report</h1>
<p class="lead">Model <b>{model}</b>: {kind}{calibration}. Evaluated on <b>{data}</b>.</p>
<dl class="facts">
<dt>Churn means</dt><dd>{definition}</dd>
<dt>Horizon</dt><dd>{horizon}</dd>
<dt>Customers as of</dt><dd>{evaluated} ({rows} customers with a known outcome{skipped})</dd>
<dt>Population</dt><dd>{population}</dd>
<dt>Trained on</dt><dd>as-of dates {trained}{validation}</dd>
</dl>
"#,
        model = escape(input.model),
        kind = escape(&kind_name(artifact.kind)),
        data = escape(input.data),
        evaluated = escape(&date_list(&evaluated)),
        rows = evaluation.metrics.rows,
        skipped = if evaluation.skipped_unlabelled > 0 {
            format!(
                "; {} more whose outcome is not known yet are left out",
                evaluation.skipped_unlabelled
            )
        } else {
            String::new()
        },
        trained = escape(&date_list(&artifact.training.as_of_dates)),
        population = escape(&population_text(evaluation)),
    )
}

/// Whom the evaluation is about: the population's rule and the rows it left out.
fn population_text(evaluation: &Evaluation) -> String {
    let population = &evaluation.metrics.population;
    if population.is_everyone() {
        return "every customer of the table".into();
    }
    format!(
        "customers with {population}; {} rows of the table outside it are not evaluated",
        evaluation.outside_population
    )
}

/// Ranking and calibration within each lifecycle stage and RFM segment: where the model is strong and
/// where it is not.
fn segments_section(m: &Metrics) -> String {
    if m.by_segment.is_empty() {
        return String::new();
    }
    let mut html = String::from(
        "<h2 id=\"segments\">By segment</h2>\n<p>The same measures within each lifecycle stage and RFM \
         segment. ROC AUC within a segment is usually lower than overall, because the segments themselves \
         already separate customers who churn from those who stay.</p>\n<div class=\"scroll\"><table>\
         <tr><th class=\"text\">Segment</th><th>customers</th><th>churn rate</th><th>ROC AUC</th>\
         <th>Brier score</th></tr>\n",
    );
    for s in &m.by_segment {
        let _ = writeln!(
            html,
            "<tr><td class=\"text\">{} {}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td></tr>",
            escape(&s.column.replace('_', " ")),
            escape(&s.segment.replace('_', " ")),
            s.rows,
            percent(s.churn_rate),
            s.roc_auc.map_or("–".to_string(), |auc| format!("{auc:.3}")),
            s.brier,
        );
    }
    html.push_str("</table></div>\n");
    html
}

/// For survival models: how well they tell when customers churn, and their calibration at each horizon.
fn survival_section(m: &Metrics) -> String {
    let Some(survival) = &m.survival else {
        return String::new();
    };
    let mut html = format!(
        "<h2 id=\"time-to-churn\">Time to churn</h2>\n<p>The model also says when: of {} customers, {} churned \
         within the data. Concordance is the share of pairs of customers the model puts in the order they \
         churned in (0.5 is chance, 1 perfect); the ROC AUC at a horizon separates those who churned by \
         then from those still there; the integrated Brier score is the squared error of the predicted \
         survival over the days shown (lower is better).</p>\n<div class=\"scroll\"><table>\
         <tr><th class=\"text\">Measure</th><th>value</th></tr>\n\
         <tr><td class=\"text\">concordance (Harrell)</td><td>{:.3}</td></tr>\n",
        survival.rows, survival.churns, survival.harrell_concordance
    );
    if let Some(uno) = survival.uno_concordance {
        let _ = writeln!(
            html,
            "<tr><td class=\"text\">concordance (Uno, weighted for censoring)</td><td>{uno:.3}</td></tr>"
        );
    }
    for auc in &survival.time_dependent_auc {
        let _ = writeln!(
            html,
            "<tr><td class=\"text\">ROC AUC of churn within {} days</td><td>{:.3}</td></tr>",
            auc.days, auc.value
        );
    }
    if let Some(brier) = &survival.integrated_brier_score {
        let _ = writeln!(
            html,
            "<tr><td class=\"text\">integrated Brier score, days {} to {}</td><td>{:.4}</td></tr>",
            brier.from_days, brier.to_days, brier.value
        );
    }
    html.push_str("</table></div>\n");
    if let Some(plot) = kaplan_meier_plot(survival) {
        html.push_str(&plot);
    }
    for horizon in &survival.calibration {
        let _ = write!(
            html,
            "<h3>Churn within {} days, by tenth of predicted risk</h3>\n<p>Predicted against observed \
             (Kaplan–Meier) churn within {} days, lowest risk first.</p>\n<div class=\"scroll\"><table>\
             <tr><th>customers</th><th>predicted</th><th>observed</th></tr>\n",
            horizon.days, horizon.days
        );
        for bin in &horizon.bins {
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                bin.rows,
                percent(bin.predicted),
                percent(bin.observed)
            );
        }
        html.push_str("</table></div>\n");
    }
    html
}

/// The observed churn (1 − Kaplan–Meier survival) of each third of predicted risk, as step curves
/// rising from 0 (churn over a few months is small: survival curves would crowd at the top).
fn kaplan_meier_plot(survival: &churn_models::SurvivalMetrics) -> Option<String> {
    let groups = &survival.kaplan_meier_by_risk;
    let last = groups
        .iter()
        .filter_map(|g| g.days.last().copied())
        .fold(0.0, f64::max);
    let most = groups
        .iter()
        .flat_map(|g| g.survival.iter().map(|s| 1.0 - s))
        .fold(0.0, f64::max);
    if groups.is_empty() || last <= 0.0 {
        return None;
    }
    let y_max = ((most * 10.0).ceil() / 10.0).clamp(0.1, 1.0);
    let mut plot = Plot::new(
        "Customers churned, by predicted risk",
        ("days after the as-of date", 0.0, last, quarters(last)),
        ("share churned (Kaplan–Meier)", y_max, quarters(y_max)),
    );
    for (group, color) in groups.iter().zip([BLUE, ORANGE, RED]) {
        let mut points = vec![(0.0, 0.0)];
        let mut previous = 0.0;
        for (&day, &value) in group.days.iter().zip(&group.survival) {
            points.push((day, previous));
            previous = 1.0 - value;
            points.push((day, previous));
        }
        points.push((last, previous));
        plot.line(
            &thin(&points, 400),
            color,
            false,
            &format!("{} ({} customers)", group.group, group.rows),
        );
    }
    Some(format!(
        "<div class=\"charts\"><figure>{}<figcaption>The share of each third of customers, by the model's \
         risk, who churned by each day (Kaplan–Meier, so customers whose time is censored count while they \
         are known): the riskier the third, the faster it should rise.</figcaption></figure></div>\n",
        plot.finish()
    ))
}

fn headline(m: &Metrics) -> String {
    let base_rate = m.positives as f64 / m.rows.max(1) as f64;
    let top = m.lift_by_decile.first().map_or(0.0, |d| d.lift);
    let capture3 = m.lift_by_decile.get(2).map_or(0.0, |d| d.cumulative_capture);
    format!(
        r#"<h2 id="headline">Headline</h2>
<p>{positives} of {rows} customers ({rate}) churned within the horizon.</p>
<div class="cards">
<div class="card"><b>{capture}</b>of the churners are among the riskiest 30% of customers</div>
<div class="card"><b>{top:.1}×</b>the riskiest 10% churn {top:.1} times as often as the average customer</div>
<div class="card"><b>{auc:.3}</b>ROC AUC: the chance that a churner is ranked above a customer who stays (0.5 is guessing, 1 is perfect)</div>
<div class="card"><b>{ap:.3}</b>average precision (PR AUC); ranking at random gives {base:.3}</div>
</div>
"#,
        positives = m.positives,
        rows = m.rows,
        rate = percent(base_rate),
        capture = percent(capture3),
        auc = m.roc_auc,
        ap = m.pr_auc,
        base = base_rate,
    )
}

fn call_list_section(input: &ReportInput<'_>) -> String {
    let list: &CallList = &input.evaluation.call_list;
    let mut html = String::from("<h2 id=\"call-list\">Who to call first</h2>\n");
    if list.entries.is_empty() {
        html.push_str("<p>No call list was asked for (--call-list 0).</p>\n");
        return html;
    }
    let churned = list.entries.iter().filter(|e| e.label == Some(1)).count();
    let _ = write!(
        html,
        "<p>The {n} customers{date} with {ranking}, out of {considered}. Reasons are what raises each \
         one's risk the most, strongest first. Because this table is labelled, the last column shows \
         what happened: {churned} of these {n} churned.</p>\n<div class=\"scroll\"><table class=\"call-list\">\
         <tr><th>#</th><th class=\"text\">Customer</th><th class=\"text\">Churn risk</th>",
        n = list.entries.len(),
        date = list.as_of.map_or_else(String::new, |d| format!(" as of {d}")),
        ranking = escape(&list.ranking()),
        considered = list.considered,
    );
    if let Some(value) = &list.value_name {
        let _ = write!(
            html,
            "<th>Value at risk<small>probability × {}</small></th>",
            escape(&value.to_lowercase())
        );
    }
    if list.has_p_alive {
        html.push_str("<th>Still buying<small>P(alive)</small></th>");
    }
    if !list.segment_names.is_empty() {
        let _ = write!(
            html,
            "<th class=\"text\">Segment<small>{}</small></th>",
            escape(
                &list
                    .segment_names
                    .join(" · ")
                    .to_lowercase()
                    .replace("rfm", "RFM")
            )
        );
    }
    html.push_str("<th class=\"text\">Why</th><th class=\"text\">Outcome</th></tr>\n");
    for (k, entry) in list.entries.iter().enumerate() {
        let _ = write!(
            html,
            "<tr><td>{}</td><td class=\"text\">{}</td><td class=\"text risk\">{} <span class=\"{}\">{}</span></td>",
            k + 1,
            escape(&entry.customer_id),
            percent(entry.probability),
            band_class(input.artifact, &entry.risk_band),
            escape(&entry.risk_band),
        );
        if list.value_name.is_some() {
            let _ = write!(
                html,
                "<td>{}<span class=\"sub\">of {}</span></td>",
                entry.value_at_risk.map_or_else(String::new, amount),
                entry.value.map_or_else(|| "unknown".into(), amount),
            );
        }
        if list.has_p_alive {
            let _ = write!(
                html,
                "<td>{}</td>",
                entry.p_alive.map_or_else(|| "unknown".into(), percent)
            );
        }
        if !list.segment_names.is_empty() {
            let segments: Vec<String> = list
                .segment_names
                .iter()
                .zip(&entry.segments)
                .map(|(name, value)| {
                    let value = value.as_deref().unwrap_or("unknown").replace('_', " ");
                    format!(
                        "<span class=\"segment\" title=\"{}\">{}</span>",
                        escape(name),
                        escape(&value)
                    )
                })
                .collect();
            let _ = write!(html, "<td class=\"text\">{}</td>", segments.join(""));
        }
        let mut reasons: Vec<String> = entry
            .reasons
            .iter()
            .map(|r| {
                format!(
                    "<li title=\"{}\">{}</li>",
                    escape(&r.group),
                    escape(&r.sentence())
                )
            })
            .collect();
        if reasons.is_empty() {
            reasons.push(format!("<li>{}</li>", escape(churn_models::call_list::NO_REASON)));
        }
        let outcome = match entry.label {
            Some(1) => "churned",
            Some(_) => "stayed",
            None => "not known yet",
        };
        let _ = writeln!(
            html,
            "<td class=\"text why\"><ul class=\"reasons\">{}</ul></td><td class=\"text\">{outcome}</td></tr>",
            reasons.join("")
        );
    }
    html.push_str("</table></div>\n");
    html
}

fn threshold_section(m: &Metrics) -> String {
    let c = &m.confusion;
    format!(
        r#"<h2 id="threshold">At the decision threshold</h2>
<p>Customers with a churn probability of at least <b>{threshold}</b> are flagged. Of the flagged, {precision} churned
(precision); of the churners, {recall} were flagged (recall); F1 {f1:.3}.</p>
<div class="scroll"><table><tr><th></th><th>flagged</th><th>not flagged</th></tr>
<tr><th class="text">churned</th><td>{tp}</td><td>{fn_}</td></tr>
<tr><th class="text">stayed</th><td>{fp}</td><td>{tn}</td></tr></table></div>
"#,
        threshold = percent(m.threshold),
        precision = percent(m.precision),
        recall = percent(m.recall),
        f1 = m.f1,
        tp = c.true_positive,
        fn_ = c.false_negative,
        fp = c.false_positive,
        tn = c.true_negative,
    )
}

fn ranking_charts(input: &ReportInput<'_>) -> String {
    let m = &input.evaluation.metrics;
    let (labels, probabilities) = (&input.evaluation.labels, &input.evaluation.probabilities);
    let base_rate = m.positives as f64 / m.rows.max(1) as f64;
    let c = &m.confusion;
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let threshold_label = format!("at the threshold ({})", percent(m.threshold));

    let mut roc = Plot::unit("ROC curve", "false positive rate", "true positive rate");
    if let Ok(points) = roc_curve(labels, probabilities) {
        roc.line(&thin(&points, 400), BLUE, false, "model");
    }
    roc.line(&[(0.0, 0.0), (1.0, 1.0)], GREY, true, "random guess");
    roc.dots(
        &[(
            ratio(c.false_positive, c.false_positive + c.true_negative),
            ratio(c.true_positive, c.true_positive + c.false_negative),
        )],
        RED,
        4.5,
        Some(&threshold_label),
    );

    let mut pr = Plot::unit("Precision-recall curve", "recall", "precision");
    if let Ok(points) = pr_curve(labels, probabilities) {
        pr.line(&thin(&points, 400), BLUE, false, "model");
    }
    pr.line(
        &[(0.0, base_rate), (1.0, base_rate)],
        GREY,
        true,
        "churn rate (random order)",
    );
    pr.dots(&[(m.recall, m.precision)], RED, 4.5, Some(&threshold_label));

    let max_lift = m.lift_by_decile.iter().map(|d| d.lift).fold(1.0, f64::max).ceil();
    let deciles: Vec<(f64, String)> = (1..=10).map(|d| (f64::from(d), d.to_string())).collect();
    let mut lift = Plot::new(
        "Lift by decile",
        ("decile (1 = the riskiest tenth)", 0.5, 10.5, deciles),
        ("lift", max_lift, lift_ticks(max_lift)),
    );
    for d in &m.lift_by_decile {
        lift.bar(
            d.decile as f64 - 0.38,
            d.decile as f64 + 0.38,
            d.lift,
            BLUE,
            &format!(
                "decile {}: churn rate {}, lift {:.2}",
                d.decile,
                percent(d.churn_rate),
                d.lift
            ),
        );
    }
    lift.legend_entry("churn rate of the decile ÷ average", BLUE, Mark::Bar);
    lift.line(&[(0.5, 1.0), (10.5, 1.0)], GREY, true, "average (lift 1)");

    let mut gain = Plot::unit(
        "Cumulative gain",
        "share of customers contacted, riskiest first",
        "share of churners reached",
    );
    let mut gains = vec![(0.0, 0.0)];
    gains.extend(
        m.lift_by_decile
            .iter()
            .map(|d| (d.decile as f64 / 10.0, d.cumulative_capture)),
    );
    gain.line(&gains, BLUE, false, "model");
    gain.dots(&gains, BLUE, 3.0, None);
    gain.line(&[(0.0, 0.0), (1.0, 1.0)], GREY, true, "random order");

    format!(
        r#"<h2 id="charts">How well it ranks customers</h2>
<div class="charts">
<figure>{roc}<figcaption>The further the curve bows to the top left, the better the model separates churners from customers who stay.</figcaption></figure>
<figure>{pr}<figcaption>Precision (share of flagged customers who churn) against recall (share of churners flagged) as the threshold moves.</figcaption></figure>
<figure>{lift}<figcaption>How much more often each tenth of customers churns than the average customer, riskiest tenth first.</figcaption></figure>
<figure>{gain}<figcaption>Contacting customers in risk order reaches this share of all churners.</figcaption></figure>
</div>
"#,
        roc = roc.finish(),
        pr = pr.finish(),
        lift = lift.finish(),
        gain = gain.finish(),
    )
}

fn calibration_points(bins: &[CalibrationBin]) -> Vec<(f64, f64)> {
    bins.iter()
        .filter_map(|b| Some((b.mean_predicted?, b.observed_rate?)))
        .collect()
}

fn probability_section(input: &ReportInput<'_>) -> String {
    let m = &input.evaluation.metrics;
    let before = m.before_calibration.as_ref();
    let method = m.calibration_method.map(|method| method.to_string());
    let mut plot = Plot::unit(
        "Calibration",
        "predicted churn probability",
        "observed churn rate",
    );
    let after = calibration_points(&m.calibration);
    match (before, &method) {
        (Some(before), Some(method)) => {
            let points = calibration_points(&before.calibration);
            plot.line(&points, ORANGE, false, "before calibration");
            plot.dots(&points, ORANGE, 3.0, None);
            plot.line(&after, RED, false, &format!("after calibration ({method})"));
            plot.dots(&after, RED, 3.5, None);
        }
        _ => {
            plot.line(&after, RED, false, "model");
            plot.dots(&after, RED, 3.5, None);
        }
    }
    plot.line(&[(0.0, 0.0), (1.0, 1.0)], GREY, true, "perfectly calibrated");

    let rows = [
        (
            "Brier score",
            "mean squared gap between probability and outcome (0 is perfect)",
            m.brier,
            before.map(|b| b.brier),
        ),
        (
            "Log loss",
            "penalises confident mistakes the most",
            m.log_loss,
            before.map(|b| b.log_loss),
        ),
        (
            "Expected calibration error",
            "how far predicted probabilities are from observed churn rates, on average",
            m.expected_calibration_error,
            before.map(|b| b.expected_calibration_error),
        ),
    ];
    let mut table = String::from(
        "<div class=\"scroll\"><table class=\"quality\"><tr><th class=\"text\">measure (lower is better)</th>",
    );
    if before.is_some() {
        table.push_str("<th>before calibration</th><th>after calibration</th></tr>");
    } else {
        table.push_str("<th>value</th></tr>");
    }
    for (name, meaning, value, before) in rows {
        let _ = write!(
            table,
            "<tr><td class=\"text\"><b>{name}</b>: {meaning}</td>{before}<td>{value:.4}</td></tr>",
            before = before.map_or_else(String::new, |b| format!("<td>{b:.4}</td>"))
        );
    }
    table.push_str("</table></div>");
    let mut intro = match &method {
        Some(method) => format!(
            "The model's scores were calibrated ({method}) on rows it was not fitted on, so that a predicted 30% \
             means about 30% of such customers churn. Both curves are on the rows evaluated here."
        ),
        None => "The model's probabilities are used as they come (no calibration).".into(),
    };
    // A log loss more than 1% worse: the calibration is surer of some customers than they bear out.
    if let Some(before) = before.filter(|b| m.log_loss > 1.01 * b.log_loss) {
        let _ = write!(
            intro,
            " <b>Here the calibration made the probabilities worse</b> (log loss {:.4} → {:.4}, Brier score \
             {:.4} → {:.4}): its map is surer of some customers than these rows bear out, often because they \
             differ from the rows it was fitted on. Platt scaling (<code>--calibration platt</code>) bends \
             the scores less.",
            before.log_loss, m.log_loss, before.brier, m.brier
        );
    }
    format!(
        r#"<h2 id="probabilities">Can the probabilities be taken at face value?</h2>
<p>{intro}</p>
<div class="pair">
<figure>{chart}<figcaption>Points near the diagonal mean a predicted 30% really churns about 30% of the time.</figcaption></figure>
<div class="side">{table}</div>
</div>
"#,
        chart = plot.finish(),
    )
}

fn importance_section(input: &ReportInput<'_>) -> String {
    let m = &input.evaluation.metrics;
    let mut html = String::from(
        "<h2 id=\"drivers\">What drives the predictions</h2>\n<p>To see how much the model relies on a \
         feature, its values are shuffled between customers and the ROC AUC is measured again: the bigger \
         the drop, the more the predictions depend on it. A drop near zero means the model could do without \
         it (a related feature may carry the same information). Hover a name for the column it comes \
         from.</p>\n",
    );
    if m.importance.is_empty() {
        html.push_str("<p>Importance was not computed (--no-importance).</p>\n");
        return html;
    }
    let shown: Vec<&FeatureImportance> = m.importance.iter().take(IMPORTANCE_ROWS).collect();
    let max = shown.iter().map(|i| i.auc_drop).fold(1e-9, f64::max);
    html.push_str(
        "<div class=\"scroll\"><table class=\"importance\"><tr><th class=\"text\">Feature</th><th class=\"text\">Effect of shuffling it</th><th class=\"text bar-cell\"></th></tr>\n",
    );
    for item in shown {
        let width = 100.0 * item.auc_drop.max(0.0) / max;
        let _ = writeln!(
            html,
            "<tr><td class=\"text\" title=\"{raw}\">{name}</td><td class=\"text\">{text}</td><td class=\"bar-cell\"><span class=\"bar\" style=\"width:{width:.1}%\"></span></td></tr>",
            raw = escape(&item.feature),
            name = escape(&input.artifact.schema.readable_name(&item.feature)),
            text = escape(&importance_text(item)),
        );
    }
    html.push_str("</table></div>\n");
    if m.importance.len() > IMPORTANCE_ROWS {
        let _ = writeln!(
            html,
            "<p class=\"note\">{} more features change the ROC AUC less.</p>",
            m.importance.len() - IMPORTANCE_ROWS
        );
    }
    html
}

/// A model kind as people name it: "logistic regression", "random forest", "gradient-boosted trees".
pub(crate) fn kind_name(kind: ModelKind) -> String {
    match kind.name() {
        "logistic" => "logistic regression".into(),
        "gradient-boosting" => "gradient-boosted trees".into(),
        "cox" => "Cox proportional hazards (time to churn)".into(),
        name => name.replace('-', " "),
    }
}

fn candidates_section(input: &ReportInput<'_>) -> String {
    let candidates = &input.evaluation.training_candidates;
    if candidates.is_empty() {
        return String::new();
    }
    let mut html = format!(
        "<h2 id=\"comparison\">Model kinds compared</h2>\n<p>The model was trained with <code>--model auto</code>, \
         which fitted every kind on the same training rows and kept the one with the best held-out ROC AUC \
         (a more complex kind must beat a simpler one by more than {margin}). These figures are from those \
         held-out rows, not from the table evaluated above.</p>\n\
         <div class=\"scroll\"><table class=\"candidates\"><tr><th class=\"text\">Kind</th><th>ROC AUC</th><th>PR AUC</th>\
         <th>Log loss</th><th>Brier score</th><th>Fit time</th><th class=\"text\">Kept</th></tr>\n",
        margin = churn_models::train::AUTO_TIE_AUC,
    );
    for candidate in candidates {
        let _ = writeln!(
            html,
            "<tr{chosen}><td class=\"text\">{kind}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.1} s</td><td class=\"text\">{kept}</td></tr>",
            candidate.roc_auc,
            candidate.pr_auc,
            candidate.log_loss,
            candidate.brier,
            candidate.fit_seconds,
            chosen = if candidate.chosen { " class=\"chosen\"" } else { "" },
            kind = escape(&kind_name(candidate.kind)),
            kept = if candidate.chosen { "✓ kept" } else { "" },
        );
    }
    html.push_str("</table></div>\n");
    html
}

fn tables_section(m: &Metrics) -> String {
    let mut html = String::from(
        "<h2 id=\"deciles\">Deciles</h2>\n<div class=\"scroll\"><table><tr><th>decile</th><th>customers</th><th>churners</th>\
         <th>churn rate</th><th>lift</th><th>share of all churners reached so far</th></tr>\n",
    );
    for d in &m.lift_by_decile {
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{}</td></tr>",
            d.decile,
            d.rows,
            d.positives,
            percent(d.churn_rate),
            d.lift,
            percent(d.cumulative_capture)
        );
    }
    html.push_str("</table></div>\n<h2 id=\"calibration-table\">Calibration table</h2>\n<div class=\"scroll\"><table><tr><th>predicted probability</th><th>customers</th><th>mean predicted</th><th>observed churn rate</th></tr>\n");
    for b in &m.calibration {
        let show = |v: Option<f64>| v.map_or("–".to_string(), percent);
        let _ = writeln!(
            html,
            "<tr><td>{:.0}–{:.0}%</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            100.0 * b.lower,
            100.0 * b.upper,
            b.rows,
            show(b.mean_predicted),
            show(b.observed_rate)
        );
    }
    html.push_str("</table></div>\n");
    html
}

const STYLE: &str = r#"
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1120px; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #eee; padding-bottom: .2rem; }
.lead { color: #444; margin-top: 0; }
.facts { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: .25rem 1rem; background: #f6f8fb; border: 1px solid #dde4ee; border-radius: 8px; padding: .8rem 1rem; }
.facts dt { font-weight: 600; } .facts dd { margin: 0; overflow-wrap: anywhere; }
nav { margin: 1rem 0; font-size: .9rem; } nav a { margin-right: .8rem; }
.cards { display: flex; flex-wrap: wrap; gap: 1rem; }
.card { border: 1px solid #ddd; border-radius: 8px; padding: .8rem 1rem; flex: 1 1 200px; max-width: 260px; }
.card b { font-size: 1.5rem; display: block; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 420px), 1fr)); gap: 1.5rem; }
.pair { display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: flex-start; }
figure { margin: 0; min-width: 0; } .pair figure { flex: 1 1 360px; max-width: 540px; }
figcaption { font-size: .85rem; color: #555; }
svg.chart { display: block; width: 100%; height: auto; }
.side { flex: 1 1 320px; min-width: 0; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; }
td, th { border: 1px solid #ddd; padding: .3rem .6rem; text-align: right; vertical-align: top; }
.text { text-align: left; }
ul.reasons { margin: 0; padding-left: 1.1rem; }
td.why { min-width: 18rem; }
th small, td .sub { display: block; font-weight: normal; color: #666; font-size: .8rem; }
td .segment { display: block; } td.risk { white-space: nowrap; }
.call-list td { font-size: .92rem; }
.band { display: inline-block; padding: 0 .45rem; border-radius: 4px; }
.band-0 { background: #e3f2e1; } .band-1 { background: #fff1cc; } .band-2 { background: #fbd9d5; }
.importance td.bar-cell { width: 30%; min-width: 80px; }
.bar { display: block; height: .8rem; background: #2f6db3; border-radius: 2px; }
tr.chosen td { background: #eef6ee; } .candidates td:last-child { white-space: nowrap; }
.note { color: #555; font-size: .9rem; }
"#;

/// Builds the HTML report.
pub fn render(input: &ReportInput<'_>) -> String {
    let m = &input.evaluation.metrics;
    let comparison_link = if input.evaluation.training_candidates.is_empty() {
        ""
    } else {
        r##"<a href="#comparison">Model kinds compared</a>"##
    };
    let segments_link = if m.by_segment.is_empty() {
        ""
    } else {
        r##"<a href="#segments">By segment</a>"##
    };
    let survival_link = if m.survival.is_none() {
        ""
    } else {
        r##"<a href="#time-to-churn">Time to churn</a>"##
    };
    format!(
        r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Churn model report: {model}</title>
<style>{STYLE}</style></head><body>
{header}<nav><a href="#call-list">Who to call first</a><a href="#headline">Headline</a><a href="#threshold">At the threshold</a><a href="#charts">Ranking charts</a>{survival_link}{segments_link}<a href="#probabilities">Probabilities</a><a href="#drivers">Drivers</a>{comparison_link}<a href="#deciles">Deciles</a></nav>
{call_list}{headline}{threshold}{charts}{survival}{segments}{probabilities}{importance}{candidates}{tables}</body></html>
"##,
        model = escape(input.model),
        header = header(input),
        call_list = call_list_section(input),
        headline = headline(m),
        threshold = threshold_section(m),
        charts = ranking_charts(input),
        survival = survival_section(m),
        segments = segments_section(m),
        probabilities = probability_section(input),
        importance = importance_section(input),
        candidates = candidates_section(input),
        tables = tables_section(m),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn importance(drop: f64) -> FeatureImportance {
        FeatureImportance {
            feature: "events_login_value_180d".into(),
            auc_drop: drop,
            standardised_coefficient: None,
        }
    }

    #[test]
    fn importance_reads_as_a_sentence() {
        assert_eq!(
            importance_text(&importance(0.0038)),
            "ROC AUC drops by 0.004 when shuffled"
        );
        assert_eq!(
            importance_text(&importance(0.0001)),
            "no measurable change in ROC AUC when shuffled"
        );
        assert!(importance_text(&importance(-0.002)).starts_with("ROC AUC rises by 0.002"));
    }

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(percent(0.834), "83%");
        assert_eq!(percent(0.042), "4.2%");
        assert_eq!(percent(0.0), "0%");
        assert_eq!(amount(1_234_567.8), "1,234,568");
        assert_eq!(amount(123.0), "123");
        assert_eq!(amount(12.345), "12.35");
        assert_eq!(amount(-2500.0), "-2,500");
        assert_eq!(date_list(&[]), "none recorded");
        let dates: Vec<String> = (1..=6).map(|m| format!("2024-0{m}-01")).collect();
        assert_eq!(date_list(&dates), "2024-01-01 to 2024-06-01 (6 dates)");
        assert_eq!(date_list(&dates[..2]), "2024-01-01, 2024-02-01");
    }

    #[test]
    fn legends_sit_below_the_plot_area_and_lift_is_ticked_by_decile() {
        let mut plot = Plot::new(
            "Lift by decile",
            (
                "decile",
                0.5,
                10.5,
                (1..=10).map(|d| (f64::from(d), d.to_string())).collect(),
            ),
            ("lift", 3.0, lift_ticks(3.0)),
        );
        plot.line(&[(0.5, 1.0), (10.5, 1.0)], GREY, true, "average");
        plot.legend_entry("bars", BLUE, Mark::Bar);
        let svg = plot.finish();
        let ticks: Vec<&str> = svg
            .split("<text class=\"tick\"")
            .skip(1)
            .filter_map(|t| t.split('>').nth(1)?.split('<').next())
            .collect();
        assert_eq!(
            ticks,
            [
                "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "0", "1", "2", "3"
            ]
        );
        let legend = svg.split("<g class=\"legend\">").nth(1).expect("legend");
        for y in legend.split(" y=\"").skip(1) {
            let y: f64 = y.split('"').next().and_then(|v| v.parse().ok()).expect("y");
            assert!(y > BOTTOM + 32.0, "legend at y {y} is not below the axis title");
        }
        assert_eq!(lift_ticks(10.0).len(), 6);
    }
}
