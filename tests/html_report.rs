//! `report.html` as a person sees it: the built binary runs two scenarios,
//! then headless Chromium loads the report from disk (no network) and the
//! rendered DOM is checked for the verdict table, the scenario sections,
//! the check names and a chart per delivery-log chart; a screenshot must
//! come out as a PNG.
//!
//! Needs `/usr/bin/chromium` (Debian: `apt-get install -y chromium`);
//! without it the test fails, unless `HOOKPROOF_SKIP_BROWSER=1` is set,
//! which skips it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hookproof");
const CHROMIUM: &str = "/usr/bin/chromium";
const CHARTS: &[&str] = &[
    "timeline",
    "latency-histogram",
    "percentile-curve",
    "throughput",
];

/// The browser, or `None` when the test is to be skipped.
fn chromium() -> Option<PathBuf> {
    if Path::new(CHROMIUM).exists() {
        return Some(PathBuf::from(CHROMIUM));
    }
    if std::env::var("HOOKPROOF_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!(
            "skipped: {CHROMIUM} is not installed and HOOKPROOF_SKIP_BROWSER=1; \
             report.html was not rendered in a browser"
        );
        return None;
    }
    panic!(
        "{CHROMIUM} is not installed: this test renders report.html in headless Chromium. \
         Install it with `apt-get update && apt-get install -y chromium` (Debian/Ubuntu), \
         or set HOOKPROOF_SKIP_BROWSER=1 to skip the test"
    );
}

/// What Chromium printed.
struct Browsed {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs Chromium headless on `page` with `mode` (`--dump-dom` or
/// `--screenshot=…`), killing it after a minute. Its output goes to files
/// (a full pipe would block it while we wait).
fn browse(chromium: &Path, work: &Path, page: &Path, mode: &[&str]) -> Browsed {
    let url = format!("file://{}", page.display());
    let (out, err) = (work.join("chromium.stdout"), work.join("chromium.stderr"));
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--disable-extensions",
            "--window-size=1400,2400",
        ])
        .arg(format!(
            "--user-data-dir={}",
            work.join("profile").display()
        ))
        .args(mode)
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("chromium starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("chromium did not finish rendering {url} within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Browsed {
        ok: status.success(),
        stdout: std::fs::read_to_string(&out).unwrap(),
        stderr: std::fs::read_to_string(&err).unwrap(),
    }
}

#[test]
fn report_html_renders_in_a_browser() {
    let Some(chromium) = chromium() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let report_dir = tmp.path().join("report");
    // The built-in baseline, with an ack-latency bound a loaded CI machine
    // cannot miss (the page is under test here, not the machine's speed).
    let baseline = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/baseline.toml"),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("baseline.toml"),
        format!("{baseline}ack-latency-p99 = \"30s\"\n"),
    )
    .unwrap();
    let run = Command::new(BIN)
        .current_dir(tmp.path())
        .args(["run", "--quiet", "--scenario", "baseline.toml"])
        .args(["--scenario", "forgery", "--report-dir"])
        .arg(&report_dir)
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let page = report_dir.join("report.html").canonicalize().unwrap();
    let source = std::fs::read_to_string(&page).unwrap();
    assert!(!source.contains("<script"), "no JavaScript in report.html");

    let dumped = browse(&chromium, tmp.path(), &page, &["--dump-dom"]);
    let dom = dumped.stdout;
    assert!(
        dumped.ok && dom.contains("</html>"),
        "chromium could not render {}: {}",
        page.display(),
        dumped.stderr
    );

    // The header: suite verdict, counts, replay commands.
    assert!(dom.contains("<h1>hookproof report</h1>"), "{dom}");
    assert!(
        dom.contains("data-verdict=\"pass\"><strong>PASSED</strong>"),
        "the suite verdict banner"
    );
    assert!(dom.contains("2 of 2 scenario(s) passed"));
    assert!(dom.contains("hookproof run --scenario baseline.toml --seed 1"));
    assert!(dom.contains("hookproof run --scenario forgery --seed 4"));

    // The verdict table: a row per scenario, a column per check.
    let table_start = dom
        .find("<table class=\"matrix\" id=\"verdicts\">")
        .expect("the verdict table");
    let table = &dom[table_start..table_start + dom[table_start..].find("</table>").unwrap()];
    for check in [
        "contract",
        "no_loss",
        "idempotent",
        "converges",
        "rejects_forgeries",
        "ack_latency",
        "audit_trail",
    ] {
        assert!(table.contains(&format!(">{check}</th>")), "{check} column");
    }
    for scenario in ["baseline", "forgery"] {
        assert!(
            table.contains(&format!("<a href=\"#scenario-{scenario}\">{scenario}</a>")),
            "{scenario} row"
        );
    }

    // A section per scenario, with its checks and charts.
    let sections: Vec<&str> = dom
        .split("<section class=\"card scenario\"")
        .skip(1)
        .collect();
    assert_eq!(sections.len(), 2, "two scenario sections");
    for (section, (name, checks)) in sections.iter().zip([
        (
            "baseline",
            &["contract", "no_loss", "ack_latency", "audit_trail"][..],
        ),
        ("forgery", &["contract", "rejects_forgeries", "no_loss"][..]),
    ]) {
        assert!(
            section.contains(&format!("id=\"scenario-{name}\"")),
            "{name}"
        );
        for check in checks {
            assert!(
                section.contains(&format!("data-check=\"{check}\" data-verdict=\"pass\"")),
                "{name}: {check}"
            );
        }
        for chart in CHARTS {
            assert_eq!(
                section
                    .matches(&format!("<svg class=\"chart\" data-chart=\"{chart}\""))
                    .count(),
                1,
                "{name}: one {chart} chart"
            );
        }
    }
    assert!(
        sections[0].contains("acked ("),
        "the timeline legend names its series"
    );
    assert!(
        sections[1].contains("rejected ("),
        "forgeries show as rejected attempts"
    );
    assert_eq!(
        dom.matches("<svg").count(),
        2 * CHARTS.len(),
        "a <svg> per chart, nothing else"
    );

    // A screenshot comes out.
    let png = tmp.path().join("report.png");
    let shot = browse(
        &chromium,
        tmp.path(),
        &page,
        &[&format!("--screenshot={}", png.display())],
    );
    assert!(shot.ok, "{}", shot.stderr);
    let bytes = std::fs::read(&png).expect("chromium wrote the screenshot");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 10_000);
}

#[test]
fn bench_html_renders_in_a_browser() {
    let Some(chromium) = chromium() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let report_dir = tmp.path().join("bench");
    let out = Command::new(BIN)
        .current_dir(tmp.path())
        .args(["bench", "--rate", "50", "--duration", "1s", "--report-dir"])
        .arg(&report_dir)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let page = report_dir.join("bench.html").canonicalize().unwrap();
    let dumped = browse(&chromium, tmp.path(), &page, &["--dump-dom"]);
    let dom = dumped.stdout;
    assert!(dumped.ok && dom.contains("</html>"), "{}", dumped.stderr);
    assert!(dom.contains("<h1>hookproof bench</h1>"), "{dom}");
    assert!(
        dom.contains("<table class=\"matrix\" id=\"kpis\">"),
        "{dom}"
    );
    for kpi in ["ack p99", "loss rate", "dead-letter depth"] {
        assert!(dom.contains(&format!("<td>{kpi}")), "{kpi} row: {dom}");
    }
    assert_eq!(
        dom.matches("<svg class=\"chart\" data-chart=\"bench-percentiles\"")
            .count(),
        1,
        "the percentile chart"
    );
}
