//! The evaluation report, and the drift page of `monitor`, as a browser shows them: headless Chromium
//! lays out the fixture's report (`report::fixture`) and its model's drift page on the test month at a
//! desktop and a phone width, a small script measures what overlaps, and screenshots of both land in
//! `<target>/report-screenshots/` for people to look at.
//!
//! The checks, at each width: no chart's legend meets its plot area; no text of a chart leaves the chart
//! or overlaps another of its texts; no element's content overflows its box (tables may scroll inside
//! their own scroll box, but at the desktop width none needs to); the page never scrolls sideways.
//!
//! Chromium is found through `CHURN_CHROMIUM` (a path), else as `chromium`, `chromium-browser`,
//! `google-chrome` or `headless_shell` on the `PATH` (Debian: `apt-get install chromium`). Without it the
//! test says so on stderr and passes; with `CHURN_REQUIRE_BROWSER=1` (as CI sets) it fails instead.

use crate::common::{ok, path};
use crate::report::fixture;
use serde_json::Value;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Names Chromium goes by on the `PATH`.
const BROWSERS: [&str; 5] = [
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "headless_shell",
];

/// How long one Chromium run may take.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

/// Measures the page as laid out and appends the result, as JSON, in `<pre id="layout-check">` (the
/// report itself has no script: this is added to a copy).
const CHECK_SCRIPT: &str = r#"
(function () {
  const problems = [];
  const box = (e) => e.getBoundingClientRect();
  const meet = (a, b, slack) =>
    a.left < b.right - slack && b.left < a.right - slack && a.top < b.bottom - slack && b.top < a.bottom - slack;
  const describe = (e) => {
    const chart = e.closest('svg');
    const where = chart ? 'chart "' + chart.getAttribute('aria-label') + '"' : e.tagName.toLowerCase() + (e.className ? '.' + e.className : '');
    return where + ' "' + (e.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 60) + '"';
  };
  const charts = Array.from(document.querySelectorAll('svg.chart'));
  for (const svg of charts) {
    const title = svg.getAttribute('aria-label');
    const plot = svg.querySelector('.plot-area');
    const legend = svg.querySelector('.legend');
    if (!plot || !legend) { problems.push('chart "' + title + '" has no plot area or no legend'); continue; }
    const chartBox = box(svg);
    if (meet(box(plot), box(legend), 0)) problems.push('the legend of chart "' + title + '" meets its plot area');
    const texts = Array.from(svg.querySelectorAll('text'));
    for (const text of texts) {
      const t = box(text);
      if (t.left < chartBox.left - 0.5 || t.right > chartBox.right + 0.5 || t.top < chartBox.top - 0.5 || t.bottom > chartBox.bottom + 0.5)
        problems.push('text leaves its chart: ' + describe(text));
    }
    for (let i = 0; i < texts.length; i++)
      for (let j = i + 1; j < texts.length; j++)
        if (meet(box(texts[i]), box(texts[j]), 0.5)) problems.push('texts overlap: ' + describe(texts[i]) + ' and ' + describe(texts[j]));
  }
  const scrollBoxes = [];
  for (const e of document.body.querySelectorAll('*')) {
    if (e.closest('svg')) continue;
    const style = getComputedStyle(e);
    if (style.display === 'inline' || style.display === 'none') continue;
    if (e.classList.contains('scroll')) {
      if (e.scrollWidth > e.clientWidth + 1) scrollBoxes.push(describe(e).slice(0, 80));
      continue;
    }
    if (e.scrollWidth > e.clientWidth + 1) problems.push('content overflows its box sideways: ' + describe(e) + ' (' + e.scrollWidth + ' > ' + e.clientWidth + ')');
    if (e.scrollHeight > e.clientHeight + 1 && style.overflowY !== 'visible') problems.push('content overflows its box downwards: ' + describe(e));
  }
  const page = document.documentElement;
  if (page.scrollWidth > window.innerWidth + 1) problems.push('the page scrolls sideways: ' + page.scrollWidth + ' > ' + window.innerWidth);
  const result = { width: window.innerWidth, height: page.scrollHeight, charts: charts.length, problems: problems, scrollBoxes: scrollBoxes };
  const json = JSON.stringify(result).replace(/&/g, '\\u0026').replace(/</g, '\\u003c').replace(/>/g, '\\u003e');
  const pre = document.createElement('pre');
  pre.id = 'layout-check';
  pre.textContent = json;
  document.body.appendChild(pre);
})();
"#;

/// The Chromium to use, or `None` after saying on stderr why the test is skipped (a failure with
/// `CHURN_REQUIRE_BROWSER=1`).
fn find_browser() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHURN_CHROMIUM").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "CHURN_CHROMIUM={} is not a file", path.display());
        return Some(path);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .flat_map(|dir| BROWSERS.iter().map(move |name| dir.join(name)))
            .find(|candidate| candidate.is_file())
    });
    if on_path.is_some() {
        return on_path;
    }
    let message = format!(
        "no headless Chromium found (CHURN_CHROMIUM unset, none of {} on the PATH); on Debian: \
         apt-get install chromium",
        BROWSERS.join(", ")
    );
    if std::env::var("CHURN_REQUIRE_BROWSER").is_ok_and(|v| v.trim() == "1") {
        panic!("{message}. CHURN_REQUIRE_BROWSER=1 is set, so a missing browser fails the test");
    }
    let _ = writeln!(
        std::io::stderr().lock(),
        "SKIPPED report_browser: {message}. CHURN_REQUIRE_BROWSER=1 makes a skip a failure."
    );
    None
}

/// Runs headless Chromium on `page` in a window `width` × `height`, with `extra` arguments; returns
/// its stdout. Fails the test when it does not finish in time or fails.
fn chromium(
    browser: &Path,
    profile: &Path,
    page: &Path,
    (width, height): (u32, u32),
    extra: &[String],
) -> String {
    let url = format!("file://{}", page.display());
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--window-size={width},{height}"))
        .args(extra)
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start Chromium");
    let started = Instant::now();
    // The page's DOM may be more than a pipe holds: read both outputs while Chromium runs.
    let read = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = read(Box::new(child.stdout.take().expect("stdout")));
    let stderr = read(Box::new(child.stderr.take().expect("stderr")));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for Chromium") {
            break status;
        }
        if started.elapsed() > BROWSER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("Chromium took more than {BROWSER_TIMEOUT:?} on {url}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (stdout, stderr) = (
        stdout.join().expect("Chromium's output"),
        stderr.join().expect("Chromium's errors"),
    );
    assert!(
        status.success(),
        "Chromium failed on {url}: {}",
        String::from_utf8_lossy(&stderr)
    );
    String::from_utf8_lossy(&stdout).into_owned()
}

/// The layout check's JSON from a dumped DOM.
fn layout_check(dom: &str) -> Value {
    let start =
        dom.find("<pre id=\"layout-check\">").expect("the check ran") + "<pre id=\"layout-check\">".len();
    let end = start + dom[start..].find("</pre>").expect("end of the check");
    serde_json::from_str(&dom[start..end]).expect("check JSON")
}

/// Lays out `page` (`name.html`, with the check script added to a copy) at a desktop and a phone width;
/// saves the checks and full-page screenshots as `<screenshots>/<name>-<width name>.{json,png}`.
/// Returns each width's check and the problems found, by width. Tables that need to scroll inside
/// their scroll box at the desktop width fail the test.
fn lay_out(browser: &Path, profile: &Path, page: &Path, name: &str) -> (Vec<Value>, Vec<String>) {
    let html = std::fs::read_to_string(page).expect("read page");
    let checked = page.with_file_name(format!("{name}-checked.html"));
    let body_end = html.rfind("</body>").expect("</body>");
    std::fs::write(
        &checked,
        format!(
            "{}<script>{CHECK_SCRIPT}</script>{}",
            &html[..body_end],
            &html[body_end..]
        ),
    )
    .expect("write checked copy");
    let screenshots = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target folder")
        .join("report-screenshots");
    std::fs::create_dir_all(&screenshots).expect("screenshot folder");

    let (mut checks, mut failures) = (Vec::new(), Vec::new());
    // Headless Chromium lays out no narrower than 500 px, a large phone held upright.
    for (width_name, width) in [("desktop", 1280), ("phone", 500)] {
        let dom = chromium(browser, profile, &checked, (width, 900), &["--dump-dom".into()]);
        let check = layout_check(&dom);
        std::fs::write(
            screenshots.join(format!("{name}-{width_name}.json")),
            serde_json::to_string_pretty(&check).expect("json"),
        )
        .expect("write check");
        for problem in check["problems"].as_array().expect("problems") {
            failures.push(format!(
                "{name} {width_name} ({width} px): {}",
                problem.as_str().unwrap_or_default()
            ));
        }
        if width_name == "desktop" {
            let scrolling = check["scrollBoxes"].as_array().expect("scroll boxes");
            assert!(
                scrolling.is_empty(),
                "{name}: tables that do not fit 1280 px: {scrolling:?}"
            );
        }
        // The whole page in one picture, at the height the page has.
        let height = check["height"].as_u64().expect("height").clamp(600, 16_000) as u32;
        let png = screenshots.join(format!("{name}-{width_name}.png"));
        let _ = std::fs::remove_file(&png);
        chromium(
            browser,
            profile,
            page,
            (width, height),
            &[format!("--screenshot={}", png.display())],
        );
        let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
        assert!(size > 10_000, "{} is missing or empty", png.display());
        eprintln!("screenshot: {} ({width}×{height})", png.display());
        checks.push(check);
    }
    (checks, failures)
}

#[test]
fn report_renders_in_chromium_without_overlaps_at_desktop_and_phone_widths() {
    let Some(browser) = find_browser() else {
        return;
    };
    let fixture = fixture();
    let profile = tempfile::tempdir().expect("browser profile");
    let (checks, failures) = lay_out(&browser, profile.path(), &fixture.report, "report");
    for check in &checks {
        assert_eq!(check["charts"], 5, "{check}");
    }
    assert!(failures.is_empty(), "layout problems:\n{}", failures.join("\n"));
    let checked = fixture.dir.join("eval/report-checked.html");

    // The check itself sees what it looks for: a legend moved onto its plot and a word too long for its
    // card are reported.
    let broken = fixture.dir.join("eval/report-broken.html");
    let spoiled = std::fs::read_to_string(&checked)
        .expect("read checked copy")
        .replacen(
            "<g class=\"legend\">",
            "<g class=\"legend\" transform=\"translate(0 -150)\">",
            1,
        )
        .replacen(
            "<div class=\"card\">",
            &format!("<div class=\"card\">{}", "x".repeat(120)),
            1,
        );
    std::fs::write(&broken, spoiled).expect("write broken copy");
    let dom = chromium(
        &browser,
        profile.path(),
        &broken,
        (1280, 900),
        &["--dump-dom".into()],
    );
    let problems = layout_check(&dom)["problems"].to_string();
    assert!(problems.contains("meets its plot area"), "{problems}");
    assert!(problems.contains("overflows its box sideways"), "{problems}");
}

#[test]
fn drift_page_renders_in_chromium_without_overlaps_at_desktop_and_phone_widths() {
    let Some(browser) = find_browser() else {
        return;
    };
    let fixture = fixture();
    let out = fixture.dir.join("drift");
    // The test month against the model's training months: tenure and what grows with it have moved.
    let stdout = ok(&[
        "monitor",
        "--model",
        "churn",
        "--registry",
        path(&fixture.registry),
        "--features",
        path(&fixture.test_table),
        "--out",
        path(&out),
    ]);
    let flagged = stdout
        .lines()
        .filter(|line| line.starts_with("act ") || line.starts_with("watch "))
        .filter(|line| !line.contains(" churn_probability "))
        .count();
    assert!(flagged > 0, "{stdout}");
    let profile = tempfile::tempdir().expect("browser profile");
    let (checks, failures) = lay_out(&browser, profile.path(), &out.join("drift.html"), "drift");
    for check in &checks {
        // One chart per flagged feature, and the score's.
        assert_eq!(check["charts"], flagged as u64 + 1, "{check}");
    }
    assert!(failures.is_empty(), "layout problems:\n{}", failures.join("\n"));
}
