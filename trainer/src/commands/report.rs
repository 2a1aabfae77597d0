//! The self-contained HTML evaluation report: headline numbers in words, and ROC, precision-recall,
//! calibration, lift/gain and importance charts as inline SVG (no scripts, no network).

use churn_models::Metrics;
use churn_models::metrics::{pr_curve, roc_curve};
use std::fmt::Write;

/// What the report is about.
pub struct ReportInput<'a> {
    /// `NAME@VERSION`.
    pub model: &'a str,
    /// Model kind.
    pub kind: &'a str,
    /// Feature table evaluated.
    pub data: &'a str,
    /// The metrics.
    pub metrics: &'a Metrics,
    /// Labels of the evaluated rows.
    pub labels: &'a [u8],
    /// Probabilities of the evaluated rows.
    pub probabilities: &'a [f64],
}

const WIDTH: f64 = 360.0;
const HEIGHT: f64 = 280.0;
const MARGIN: f64 = 44.0;

fn escape(text: &str) -> String {
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

struct Plot {
    svg: String,
    x_max: f64,
    y_max: f64,
}

impl Plot {
    fn new(title: &str, x_label: &str, y_label: &str, x_max: f64, y_max: f64) -> Self {
        let mut svg = String::new();
        let _ = write!(
            svg,
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{t}"><rect width="100%" height="100%" fill="#fff"/><text x="{cx}" y="16" text-anchor="middle" font-size="13" font-weight="bold">{t}</text>"##,
            t = escape(title),
            cx = WIDTH / 2.0
        );
        let plot = Self { svg, x_max, y_max };
        let mut plot = plot;
        // Axes, ticks and grid.
        for k in 0..=4 {
            let f = k as f64 / 4.0;
            let (x, _) = plot.at(f * x_max, 0.0);
            let (_, y) = plot.at(0.0, f * y_max);
            let _ = write!(
                plot.svg,
                r##"<line x1="{x}" y1="{top}" x2="{x}" y2="{bottom}" stroke="#eee"/><line x1="{left}" y1="{y}" x2="{right}" y2="{y}" stroke="#eee"/><text x="{x}" y="{ty}" text-anchor="middle" font-size="10">{xv}</text><text x="{tx}" y="{y2}" text-anchor="end" font-size="10">{yv}</text>"##,
                top = MARGIN / 1.5,
                bottom = HEIGHT - MARGIN,
                left = MARGIN,
                right = WIDTH - 12.0,
                ty = HEIGHT - MARGIN + 14.0,
                tx = MARGIN - 4.0,
                y2 = y + 3.0,
                xv = fmt_tick(f * x_max),
                yv = fmt_tick(f * y_max),
            );
        }
        let _ = write!(
            plot.svg,
            r##"<line x1="{MARGIN}" y1="{b}" x2="{r}" y2="{b}" stroke="#333"/><line x1="{MARGIN}" y1="{t}" x2="{MARGIN}" y2="{b}" stroke="#333"/><text x="{cx}" y="{xl}" text-anchor="middle" font-size="11">{x_label}</text><text transform="translate(12 {cy}) rotate(-90)" text-anchor="middle" font-size="11">{y_label}</text>"##,
            b = HEIGHT - MARGIN,
            r = WIDTH - 12.0,
            t = MARGIN / 1.5,
            cx = (MARGIN + WIDTH - 12.0) / 2.0,
            xl = HEIGHT - 8.0,
            cy = (MARGIN / 1.5 + HEIGHT - MARGIN) / 2.0,
            x_label = escape(x_label),
            y_label = escape(y_label),
        );
        plot
    }

    fn at(&self, x: f64, y: f64) -> (f64, f64) {
        let left = MARGIN;
        let right = WIDTH - 12.0;
        let top = MARGIN / 1.5;
        let bottom = HEIGHT - MARGIN;
        (
            left + (x / self.x_max).clamp(0.0, 1.0) * (right - left),
            bottom - (y / self.y_max).clamp(0.0, 1.0) * (bottom - top),
        )
    }

    fn line(&mut self, points: &[(f64, f64)], color: &str, dashed: bool) {
        let path: Vec<String> = points
            .iter()
            .map(|&(x, y)| {
                let (px, py) = self.at(x, y);
                format!("{px:.1},{py:.1}")
            })
            .collect();
        let _ = write!(
            self.svg,
            r##"<polyline fill="none" stroke="{color}" stroke-width="2" {dash} points="{}"/>"##,
            path.join(" "),
            dash = if dashed { r#"stroke-dasharray="4 4""# } else { "" }
        );
    }

    fn dots(&mut self, points: &[(f64, f64)], color: &str) {
        for &(x, y) in points {
            let (px, py) = self.at(x, y);
            let _ = write!(
                self.svg,
                r##"<circle cx="{px:.1}" cy="{py:.1}" r="3.5" fill="{color}"/>"##
            );
        }
    }

    fn bar(&mut self, x0: f64, x1: f64, y: f64, color: &str, label: &str) {
        let (left, top) = self.at(x0, y);
        let (right, bottom) = self.at(x1, 0.0);
        let _ = write!(
            self.svg,
            r##"<rect x="{left:.1}" y="{top:.1}" width="{w:.1}" height="{h:.1}" fill="{color}"><title>{label}</title></rect>"##,
            w = (right - left).max(0.0),
            h = (bottom - top).max(0.0),
            label = escape(label)
        );
    }

    fn legend(&mut self, entries: &[(&str, &str)]) {
        for (k, (label, color)) in entries.iter().enumerate() {
            let y = MARGIN / 1.5 + 12.0 + k as f64 * 14.0;
            let x = WIDTH - 150.0;
            let _ = write!(
                self.svg,
                r##"<rect x="{x}" y="{ry}" width="10" height="10" fill="{color}"/><text x="{tx}" y="{ty}" font-size="10">{l}</text>"##,
                ry = y - 9.0,
                tx = x + 14.0,
                ty = y,
                l = escape(label)
            );
        }
    }

    fn finish(mut self) -> String {
        self.svg.push_str("</svg>");
        self.svg
    }
}

fn fmt_tick(value: f64) -> String {
    if value >= 10.0 || value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

fn importance_chart(metrics: &Metrics) -> String {
    let items: Vec<_> = metrics.importance.iter().take(15).collect();
    if items.is_empty() {
        return "<p>Importance was not computed.</p>".into();
    }
    let max = items.iter().map(|i| i.auc_drop.abs()).fold(1e-6, f64::max);
    let row = 20.0;
    let label_width = 220.0;
    let width = 640.0;
    let height = 30.0 + row * items.len() as f64;
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="Feature importance"><rect width="100%" height="100%" fill="#fff"/>"##
    );
    for (k, item) in items.iter().enumerate() {
        let y = 10.0 + row * k as f64;
        let w = (item.auc_drop.max(0.0) / max) * (width - label_width - 80.0);
        let _ = write!(
            svg,
            r##"<text x="{lx}" y="{ty}" text-anchor="end" font-size="11">{name}</text><rect x="{label_width}" y="{y}" width="{w:.1}" height="14" fill="#3b6ea8"/><text x="{vx:.1}" y="{ty}" font-size="10">{v:.4}</text>"##,
            lx = label_width - 6.0,
            ty = y + 11.0,
            name = escape(&item.feature),
            vx = label_width + w + 4.0,
            v = item.auc_drop
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Builds the HTML report.
pub fn render(input: &ReportInput<'_>) -> String {
    let m = input.metrics;
    let base_rate = m.positives as f64 / m.rows.max(1) as f64;

    let mut roc = Plot::new("ROC curve", "false positive rate", "true positive rate", 1.0, 1.0);
    roc.line(&[(0.0, 0.0), (1.0, 1.0)], "#999", true);
    if let Ok(points) = roc_curve(input.labels, input.probabilities) {
        roc.line(&thin(&points, 400), "#3b6ea8", false);
    }
    roc.legend(&[("model", "#3b6ea8"), ("random guess", "#999")]);

    let mut pr = Plot::new("Precision-recall curve", "recall", "precision", 1.0, 1.0);
    pr.line(&[(0.0, base_rate), (1.0, base_rate)], "#999", true);
    if let Ok(points) = pr_curve(input.labels, input.probabilities) {
        pr.line(&thin(&points, 400), "#3b6ea8", false);
    }
    pr.legend(&[("model", "#3b6ea8"), ("churn rate", "#999")]);

    let mut calibration = Plot::new(
        "Calibration",
        "predicted churn probability",
        "observed churn rate",
        1.0,
        1.0,
    );
    calibration.line(&[(0.0, 0.0), (1.0, 1.0)], "#999", true);
    let observed: Vec<(f64, f64)> = m
        .calibration
        .iter()
        .filter_map(|b| Some((b.mean_predicted?, b.observed_rate?)))
        .collect();
    calibration.line(&observed, "#c0504d", false);
    calibration.dots(&observed, "#c0504d");
    calibration.legend(&[("model", "#c0504d"), ("perfect", "#999")]);

    let max_lift = m.lift_by_decile.iter().map(|d| d.lift).fold(1.0, f64::max);
    let mut lift = Plot::new(
        "Lift by decile",
        "decile (1 = riskiest tenth)",
        "lift",
        10.0,
        max_lift.ceil(),
    );
    for d in &m.lift_by_decile {
        lift.bar(
            d.decile as f64 - 0.9,
            d.decile as f64 - 0.1,
            d.lift,
            "#3b6ea8",
            &format!("decile {}: lift {:.2}", d.decile, d.lift),
        );
    }
    lift.line(&[(0.0, 1.0), (10.0, 1.0)], "#999", true);

    let mut gain = Plot::new(
        "Cumulative gain",
        "share of customers contacted",
        "share of churners reached",
        1.0,
        1.0,
    );
    gain.line(&[(0.0, 0.0), (1.0, 1.0)], "#999", true);
    let mut gains = vec![(0.0, 0.0)];
    gains.extend(
        m.lift_by_decile
            .iter()
            .map(|d| (d.decile as f64 / 10.0, d.cumulative_capture)),
    );
    gain.line(&gains, "#3b6ea8", false);
    gain.dots(&gains, "#3b6ea8");
    gain.legend(&[("model", "#3b6ea8"), ("random order", "#999")]);

    let top = m.lift_by_decile.first();
    let c = &m.confusion;
    let mut html = String::new();
    let _ = write!(
        html,
        r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Churn model report: {model}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; line-height: 1.45; }}
.cards {{ display: flex; flex-wrap: wrap; gap: 1rem; }}
.card {{ border: 1px solid #ddd; border-radius: 8px; padding: .8rem 1rem; min-width: 150px; }}
.card b {{ font-size: 1.5rem; display: block; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 1rem; }}
figure {{ margin: 0; }} figcaption {{ font-size: .85rem; color: #555; max-width: 360px; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ddd; padding: .3rem .6rem; text-align: right; }}
</style></head><body>
<h1>Churn model report</h1>
<p>Model <b>{model}</b> ({kind}) evaluated on <b>{data}</b>: {rows} customers, of whom {positives} ({rate:.1}%) churned.</p>
<div class="cards">
<div class="card"><b>{auc:.3}</b>ROC AUC: the chance that a random churner is ranked above a random stayer (0.5 = guessing, 1 = perfect)</div>
<div class="card"><b>{ap:.3}</b>Average precision (PR AUC); guessing gives {base:.3}</div>
<div class="card"><b>{lift1:.2}×</b>Lift of the riskiest 10%: they churn {lift1:.2} times as often as average</div>
<div class="card"><b>{cap3:.0}%</b>of churners are among the riskiest 30% of customers</div>
</div>
<h2>At the decision threshold</h2>
<p>Customers with a churn probability of at least <b>{threshold:.3}</b> are flagged. Of the flagged, {precision:.1}% churned (precision);
of the churners, {recall:.1}% were flagged (recall); F1 {f1:.3}. Log loss {log_loss:.4}, Brier score {brier:.4} (lower is better; they
measure how trustworthy the probabilities are).</p>
<table><tr><th></th><th>flagged</th><th>not flagged</th></tr>
<tr><th>churned</th><td>{tp}</td><td>{fn_}</td></tr>
<tr><th>stayed</th><td>{fp}</td><td>{tn}</td></tr></table>
<h2>Charts</h2>
<div class="charts">
<figure>{roc}<figcaption>The further the curve bows to the top left, the better the model separates churners from stayers.</figcaption></figure>
<figure>{pr}<figcaption>Precision (share of flagged who churn) against recall (share of churners flagged) as the threshold moves.</figcaption></figure>
<figure>{calibration}<figcaption>Points near the diagonal mean a predicted 30% really churns about 30% of the time.</figcaption></figure>
<figure>{lift}<figcaption>How much more often each tenth of customers churns than average, riskiest first.</figcaption></figure>
<figure>{gain}<figcaption>Contacting customers in risk order reaches this share of all churners.</figcaption></figure>
</div>
<h2>What drives the predictions</h2>
<p>How much the ROC AUC drops when a feature's values are shuffled between customers: the bigger the drop, the more the model relies on it.</p>
{importance}
<h2>Deciles</h2>
<table><tr><th>decile</th><th>customers</th><th>churners</th><th>churn rate</th><th>lift</th><th>cumulative share of churners</th></tr>
"##,
        model = escape(input.model),
        kind = escape(input.kind),
        data = escape(input.data),
        rows = m.rows,
        positives = m.positives,
        rate = 100.0 * base_rate,
        auc = m.roc_auc,
        ap = m.pr_auc,
        base = base_rate,
        lift1 = top.map_or(0.0, |d| d.lift),
        cap3 = 100.0 * m.lift_by_decile.get(2).map_or(0.0, |d| d.cumulative_capture),
        threshold = m.threshold,
        precision = 100.0 * m.precision,
        recall = 100.0 * m.recall,
        f1 = m.f1,
        log_loss = m.log_loss,
        brier = m.brier,
        tp = c.true_positive,
        fn_ = c.false_negative,
        fp = c.false_positive,
        tn = c.true_negative,
        roc = roc.finish(),
        pr = pr.finish(),
        calibration = calibration.finish(),
        lift = lift.finish(),
        gain = gain.finish(),
        importance = importance_chart(m),
    );
    for d in &m.lift_by_decile {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.1}%</td><td>{:.2}</td><td>{:.1}%</td></tr>",
            d.decile,
            d.rows,
            d.positives,
            100.0 * d.churn_rate,
            d.lift,
            100.0 * d.cumulative_capture
        );
    }
    html.push_str("</table>\n<h2>Calibration table</h2>\n<table><tr><th>probability</th><th>customers</th><th>mean predicted</th><th>observed churn rate</th></tr>");
    for b in &m.calibration {
        let show = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{:.1}%", 100.0 * v));
        let _ = write!(
            html,
            "<tr><td>{:.1}–{:.1}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            b.lower,
            b.upper,
            b.rows,
            show(b.mean_predicted),
            show(b.observed_rate)
        );
    }
    html.push_str("</table>\n</body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use churn_models::ThresholdRule;

    #[test]
    fn report_is_self_contained_html_with_every_chart() {
        let labels: Vec<u8> = (0..200).map(|i| u8::from(i % 3 == 0)).collect();
        let probabilities: Vec<f64> = (0..200)
            .map(|i| {
                if i % 3 == 0 {
                    0.3 + (i % 7) as f64 / 10.0
                } else {
                    (i % 5) as f64 / 10.0
                }
            })
            .collect();
        let metrics = Metrics::compute(&labels, &probabilities, ThresholdRule::MaxF1).expect("metrics");
        let html = render(&ReportInput {
            model: "telco@v1",
            kind: "logistic",
            data: "t<1>.parquet",
            metrics: &metrics,
            labels: &labels,
            probabilities: &probabilities,
        });
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert_eq!(
            html.matches("<svg").count(),
            5 + usize::from(!metrics.importance.is_empty())
        );
        for title in [
            "ROC curve",
            "Precision-recall curve",
            "Calibration",
            "Lift by decile",
            "Cumulative gain",
        ] {
            assert!(html.contains(title), "{title}");
        }
        assert!(html.contains("t&lt;1&gt;.parquet"));
        // No scripts and no network: the only URL is the SVG namespace.
        assert!(!html.contains("<script"));
        assert_eq!(
            html.matches("http").count(),
            html.matches("http://www.w3.org/2000/svg").count()
        );
    }
}
