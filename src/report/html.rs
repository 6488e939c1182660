//! The self-contained HTML report (`report.html`), and the building blocks
//! other commands reuse for their own pages.
//!
//! A page is one file: inline CSS, inline SVG charts ([`super::charts`]),
//! no JavaScript, no network, no external file. It reads offline, in a CI
//! artifact viewer and when printed.
//!
//! Building blocks: [`Page`] (the document shell and its stylesheet),
//! [`escape`] (every user-controlled text goes through it: scenario names,
//! descriptions, evidence, commands), [`figure`], [`badge`], [`banner`],
//! [`facts`], [`code`] and [`delivery_charts`] (the four charts of a delivery
//! log). [`run_report`] composes them into the report of `hookproof run`
//! and `hookproof merge`.
//!
//! ```
//! use hookproof::report::html::{Page, banner, escape};
//! let mut page = Page::new("bench <results>");
//! page.push(&banner(true, "2 benchmarks"));
//! page.push(&format!("<p>{}</p>", escape("p99 < 5 ms")));
//! let html = page.render();
//! assert!(html.contains("<title>bench &lt;results&gt;</title>"));
//! assert!(html.contains("p99 &lt; 5 ms"));
//! ```

use super::charts::{self, AttemptClass, ChartError};
use super::json::{RunReport, ScenarioReport};
use super::terminal::columns;
use crate::check::{CheckResult, Evidence, Verdict};
use crate::history::Attempt;
use std::fmt::Write;
use std::time::Duration;

/// Bucket of the throughput chart in [`delivery_charts`].
pub const THROUGHPUT_BUCKET: Duration = Duration::from_millis(100);

/// Escapes text for HTML element content and quoted attribute values:
/// `&`, `<`, `>`, `"` and `'`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An `id` attribute value (and `#fragment`) for a name: ASCII letters,
/// digits, `-` and `_` kept, anything else replaced by `-`, prefixed with
/// `prefix-` so it never starts with a digit.
pub fn anchor(prefix: &str, name: &str) -> String {
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{prefix}-{slug}")
}

/// The stylesheet of every page (inline, in `<style>`).
pub const STYLE: &str = r#"
:root { --pass:#2e7d32; --fail:#c62828; --unknown:#b26a00; --skipped:#757575;
  --ink:#1d2330; --muted:#5f6673; --line:#e1e4ea; --bg:#f5f6f8; --card:#fff; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif; }
main { max-width:1320px; margin:0 auto; padding:24px 28px 48px; }
h1 { font-size:26px; margin:0 0 4px; }
h2 { font-size:20px; margin:0; }
h3 { font-size:15px; margin:18px 0 8px; color:var(--muted); text-transform:uppercase; letter-spacing:.04em; }
a { color:#1f5fa8; text-decoration:none; } a:hover { text-decoration:underline; }
code, pre { font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; }
pre { background:#f0f2f5; border-radius:6px; padding:8px 10px; margin:6px 0; white-space:pre-wrap; word-break:break-word; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:18px 22px; margin:18px 0; }
.banner { display:flex; align-items:center; gap:14px; padding:14px 20px; border-radius:10px; color:#fff; margin:12px 0 16px; }
.banner.pass { background:var(--pass); } .banner.fail { background:var(--fail); }
.banner strong { font-size:22px; letter-spacing:.03em; }
dl.facts { display:grid; grid-template-columns:repeat(auto-fill,minmax(170px,1fr)); grid-auto-flow:row dense; gap:10px 18px; margin:0; }
dl.facts div { min-width:0; } dl.facts div.wide { grid-column:span 3; } dl.facts dt { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
dl.facts dd { margin:0; font-weight:600; overflow-wrap:anywhere; }
table { border-collapse:collapse; width:100%; font-size:14px; }
th, td { border-bottom:1px solid var(--line); padding:6px 8px; text-align:left; vertical-align:top; }
th { background:#fafbfc; font-weight:600; white-space:nowrap; }
table.matrix td.v, table.matrix th.v { text-align:center; }
td.num, th.num { text-align:right; white-space:nowrap; }
.scroll { overflow-x:auto; }
.badge { display:inline-block; min-width:64px; padding:1px 8px; border-radius:999px; font-size:12px; font-weight:700;
  text-align:center; text-transform:uppercase; letter-spacing:.04em; color:#fff; }
.badge.pass { background:var(--pass); } .badge.fail { background:var(--fail); }
.badge.unknown { background:var(--unknown); } .badge.skipped { background:#e4e6ea; color:var(--skipped); }
.scenario-head { display:flex; align-items:center; gap:12px; flex-wrap:wrap; }
.desc { color:var(--muted); margin:6px 0 12px; }
.check { border-top:1px solid var(--line); padding:8px 0; }
.check-head { display:flex; gap:10px; align-items:baseline; flex-wrap:wrap; }
.check-name { font-weight:700; font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; }
.evidence { margin:6px 0 0 20px; padding:0; }
.evidence li { margin:6px 0; }
.ids code { background:#eef1f6; border-radius:4px; padding:0 4px; margin-right:4px; }
details > summary { cursor:pointer; color:var(--muted); }
.charts { display:grid; grid-template-columns:1fr 1fr; gap:14px; }
.charts figure.wide { grid-column:1 / -1; }
figure { margin:0; border:1px solid var(--line); border-radius:8px; padding:8px; background:#fff; }
figcaption { font-size:13px; font-weight:600; color:var(--muted); margin:0 0 4px 4px; }
svg.chart { display:block; width:100%; height:auto; }
.key { display:flex; gap:14px; flex-wrap:wrap; font-size:13px; color:var(--muted); margin:4px 0 0 4px; }
.key span::before { content:""; display:inline-block; width:10px; height:10px; border-radius:50%; margin-right:5px; background:var(--c); }
.note { color:var(--muted); font-style:italic; }
footer { color:var(--muted); font-size:12px; margin-top:28px; }
@media (max-width: 900px) { .charts { grid-template-columns:1fr; } }
@media print { body { background:#fff; } .card { break-inside:avoid; } }
"#;

/// An HTML document: a title and a body built by pushing markup. The
/// stylesheet ([`STYLE`]) is inlined; nothing else is loaded.
#[derive(Debug, Clone)]
pub struct Page {
    title: String,
    body: String,
}

impl Page {
    /// An empty page; `title` is plain text (escaped here).
    pub fn new(title: &str) -> Page {
        Page {
            title: title.to_string(),
            body: String::new(),
        }
    }

    /// Appends markup to the body. The caller escapes user text in it with
    /// [`escape`] (the helpers of this module do).
    pub fn push(&mut self, html: &str) -> &mut Page {
        self.body.push_str(html);
        self
    }

    /// The complete document.
    pub fn render(&self) -> String {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <meta name=\"generator\" content=\"hookproof {}\">\n<title>{}</title>\n\
             <style>{STYLE}</style>\n</head>\n<body>\n<main>\n{}</main>\n</body>\n</html>\n",
            env!("CARGO_PKG_VERSION"),
            escape(&self.title),
            self.body
        )
    }
}

/// The CSS class and label of a verdict.
fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Unknown => "unknown",
        Verdict::Skipped => "skipped",
    }
}

/// A coloured verdict badge, e.g. `<span class="badge fail">fail</span>`.
pub fn badge(v: Verdict) -> String {
    let name = verdict_name(v);
    format!("<span class=\"badge {name}\">{name}</span>")
}

/// The big green PASSED / red FAILED banner with a plain-text headline.
pub fn banner(passed: bool, headline: &str) -> String {
    let (class, word) = if passed {
        ("pass", "PASSED")
    } else {
        ("fail", "FAILED")
    };
    format!(
        "<div class=\"banner {class}\" data-verdict=\"{class}\"><strong>{word}</strong><span>{}</span></div>\n",
        escape(headline)
    )
}

/// A grid of labelled facts; labels and values are plain text. A value
/// longer than 16 characters takes three cells.
pub fn facts(items: &[(&str, String)]) -> String {
    let mut out = String::from("<dl class=\"facts\">\n");
    for (label, value) in items {
        // Long values (commands, paths, seed lists) get a wider cell.
        let wide = if value.chars().count() > 16 {
            " class=\"wide\""
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "<div{wide}><dt>{}</dt><dd>{}</dd></div>",
            escape(label),
            escape(value)
        );
    }
    out.push_str("</dl>\n");
    out
}

/// Plain-text lines as a `<pre>` block (e.g. commands, timelines).
pub fn code<S: AsRef<str>>(lines: &[S]) -> String {
    let text: Vec<String> = lines.iter().map(|l| escape(l.as_ref())).collect();
    format!("<pre>{}</pre>\n", text.join("\n"))
}

/// A chart in a `<figure>` with a plain-text caption; `svg` is a chart
/// from [`super::charts`] (inserted as is). `wide` spans both columns of a
/// `.charts` grid.
pub fn figure(caption: &str, svg: &str, wide: bool) -> String {
    format!(
        "<figure{}><figcaption>{}</figcaption>\n{svg}\n</figure>\n",
        if wide { " class=\"wide\"" } else { "" },
        escape(caption)
    )
}

/// The four charts of a delivery log in a `.charts` grid: the event
/// timeline (full width), the ack-latency histogram, the percentile curve
/// and throughput per [`THROUGHPUT_BUCKET`]. Usable by any command that has
/// a delivery log (`run`, `fuzz`, a benchmark).
pub fn delivery_charts(attempts: &[Attempt]) -> Result<String, ChartError> {
    let latencies = crate::history::ack_latencies(attempts);
    let ack_times = crate::history::ack_times(attempts);
    let mut out = String::from("<div class=\"charts\">\n");
    out.push_str(&figure(
        "Event timeline: every delivery attempt over time",
        &charts::timeline(attempts)?,
        true,
    ));
    out.push_str(&figure(
        "Ack latency histogram",
        &charts::latency_histogram(&latencies)?,
        false,
    ));
    out.push_str(&figure(
        "Ack latency percentiles (p50 … p99.9)",
        &charts::percentile_curve(&latencies)?,
        false,
    ));
    out.push_str(&figure(
        "Throughput: acks per 100 ms",
        &charts::throughput(&ack_times, THROUGHPUT_BUCKET)?,
        true,
    ));
    out.push_str("</div>\n<div class=\"key\">");
    for class in AttemptClass::ALL {
        let _ = write!(
            out,
            "<span style=\"--c:{}\">{}</span>",
            hex(class),
            escape(attempt_class_help(class))
        );
    }
    out.push_str("</div>\n");
    Ok(out)
}

/// `#rrggbb` of an attempt class's colour.
fn hex(class: AttemptClass) -> String {
    let c = class.color();
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

fn attempt_class_help(class: AttemptClass) -> &'static str {
    match class {
        AttemptClass::Acked => "acked: 2xx seen by the producer",
        AttemptClass::Retried => "retried: failed, tried again",
        AttemptClass::Rejected => "rejected: non-retryable 4xx",
        AttemptClass::DeadLettered => "dead-lettered: last attempt failed",
    }
}

/// One check with its verdict, summary and evidence. Failing and unknown
/// checks show their evidence open; others keep it folded.
pub fn check_result(c: &CheckResult) -> String {
    let mut out = format!(
        "<div class=\"check\" data-check=\"{}\" data-verdict=\"{}\">\n<div class=\"check-head\">{} \
         <span class=\"check-name\" title=\"fails when {}\">{}</span> <span>{}</span></div>\n",
        c.check,
        verdict_name(c.verdict),
        badge(c.verdict),
        escape(c.check.describe()),
        c.check,
        escape(&c.summary)
    );
    if !c.evidence.is_empty() {
        let open = if matches!(c.verdict, Verdict::Fail | Verdict::Unknown) {
            " open"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "<details{open}><summary>{} piece(s) of evidence</summary>\n<ul class=\"evidence\">",
            c.evidence.len()
        );
        for e in &c.evidence {
            out.push_str(&evidence(e));
        }
        out.push_str("</ul>\n</details>\n");
    }
    out.push_str("</div>\n");
    out
}

fn evidence(e: &Evidence) -> String {
    let mut out = format!("<li><div class=\"what\">{}</div>\n", escape(&e.what));
    if !e.event_ids.is_empty() {
        out.push_str("<div class=\"ids\">events: ");
        for id in &e.event_ids {
            let _ = write!(out, "<code>{}</code>", escape(id));
        }
        out.push_str("</div>\n");
    }
    if !e.timeline.is_empty() {
        out.push_str(&code(&e.timeline));
    }
    if let Some(objects) = &e.objects {
        let json = serde_json::to_string_pretty(objects).unwrap_or_else(|_| objects.to_string());
        let _ = writeln!(
            out,
            "<details><summary>CRM objects (expected vs actual)</summary>{}</details>",
            code(&[json])
        );
    }
    out.push_str("</li>\n");
    out
}

/// The scenarios × checks table (like the terminal one): a verdict badge
/// per check that ran, acked deliveries, ack p99 and the seed; scenario
/// names link to their sections.
pub fn verdict_table(report: &RunReport) -> String {
    let columns = columns(report);
    let mut out = String::from(
        "<div class=\"scroll\"><table class=\"matrix\" id=\"verdicts\">\n<thead><tr><th>scenario</th>",
    );
    for c in &columns {
        let _ = write!(
            out,
            "<th class=\"v\" title=\"fails when {}\">{c}</th>",
            escape(c.describe())
        );
    }
    out.push_str(
        "<th class=\"num\">acked</th><th class=\"num\">ack p99</th><th class=\"num\">seed</th></tr></thead>\n<tbody>\n",
    );
    for s in &report.scenarios {
        let _ = write!(
            out,
            "<tr data-scenario=\"{}\"><td>{} <a href=\"#{}\">{}</a></td>",
            escape(&s.name),
            badge(scenario_verdict(s)),
            anchor("scenario", &s.name),
            escape(&s.name)
        );
        for c in &columns {
            match s.checks.iter().find(|r| r.check == *c) {
                Some(r) => {
                    let _ = write!(out, "<td class=\"v\">{}</td>", badge(r.verdict));
                }
                None => out.push_str("<td class=\"v\"></td>"),
            }
        }
        let _ = writeln!(
            out,
            "<td class=\"num\">{}/{}</td><td class=\"num\">{:.1} ms</td><td class=\"num\">{}</td></tr>",
            s.stats.acked, s.stats.deliveries, s.stats.ack_p99_ms, s.seed
        );
    }
    out.push_str("</tbody></table></div>\n");
    out
}

fn scenario_verdict(s: &ScenarioReport) -> Verdict {
    if s.passed {
        Verdict::Pass
    } else {
        Verdict::Fail
    }
}

/// One scenario's section: verdict, description, seed, replay command,
/// counters, every check with its evidence, and the charts of its delivery
/// log (`attempts`; `None` when the log is not available).
pub fn scenario_section(
    s: &ScenarioReport,
    attempts: Option<&[Attempt]>,
) -> Result<String, ChartError> {
    let mut out = format!(
        "<section class=\"card scenario\" id=\"{}\" data-scenario=\"{}\">\n\
         <div class=\"scenario-head\">{} <h2>{}</h2></div>\n<p class=\"desc\">{}</p>\n",
        anchor("scenario", &s.name),
        escape(&s.name),
        badge(scenario_verdict(s)),
        escape(&s.name),
        escape(&s.description)
    );
    let st = &s.stats;
    out.push_str(&facts(&[
        ("source", s.source.clone()),
        ("seed", s.seed.to_string()),
        ("events", st.events.to_string()),
        (
            "deliveries acked",
            format!("{} of {}", st.acked, st.deliveries),
        ),
        (
            "attempts / retries",
            format!("{} / {}", st.attempts, st.retries),
        ),
        (
            "rejected / dead-lettered",
            format!("{} / {}", st.rejected, st.dead_lettered),
        ),
        (
            "ack p50 / p99",
            format!("{:.1} / {:.1} ms", st.ack_p50_ms, st.ack_p99_ms),
        ),
        ("CRM requests", st.crm_requests.to_string()),
        ("SUT restarts", st.sut_restarts.to_string()),
        ("wall time", format!("{:.2} s", st.wall_ms as f64 / 1e3)),
    ]));
    out.push_str("<h3>Replay</h3>\n");
    out.push_str(&code(&[&s.replay]));
    out.push_str("<h3>Checks</h3>\n");
    for c in &s.checks {
        out.push_str(&check_result(c));
    }
    out.push_str("<h3>Deliveries</h3>\n");
    match attempts {
        Some(attempts) => out.push_str(&delivery_charts(attempts)?),
        None => out.push_str(
            "<p class=\"note\">No delivery log for this scenario (a merged report whose \
             delivery-log/ was not next to its report.json): no charts.</p>\n",
        ),
    }
    out.push_str("</section>\n");
    Ok(out)
}

/// The page of a run (or merged) report: header with the suite verdict,
/// counts, seeds and replay commands, the verdict table, then one section
/// per scenario. `attempts` returns a scenario's delivery log by name.
pub fn run_report<'a>(
    report: &RunReport,
    attempts: &dyn Fn(&str) -> Option<&'a [Attempt]>,
) -> Result<String, ChartError> {
    let t = &report.totals;
    let passed_scenarios = report.scenarios.iter().filter(|s| s.passed).count();
    let mut page = Page::new(&format!(
        "hookproof: {} — {}",
        if report.passed { "passed" } else { "FAILED" },
        report.sut
    ));
    page.push("<header class=\"card\">\n<h1>hookproof report</h1>\n");
    page.push(&banner(
        report.passed,
        &format!(
            "{passed_scenarios} of {} scenario(s) passed · {} check(s) failed · {} unknown",
            t.scenarios, t.fail, t.unknown
        ),
    ));
    let mut seeds: Vec<u64> = report.scenarios.iter().map(|s| s.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    let seed = match seeds.as_slice() {
        [] => "-".to_string(),
        [one] => one.to_string(),
        _ => report
            .scenarios
            .iter()
            .map(|s| format!("{} {}", s.name, s.seed))
            .collect::<Vec<_>>()
            .join(", "),
    };
    page.push(&facts(&[
        ("scenarios", t.scenarios.to_string()),
        ("checks passed", t.pass.to_string()),
        ("checks failed", t.fail.to_string()),
        ("unknown", t.unknown.to_string()),
        ("skipped", t.skipped.to_string()),
        ("seed", seed),
        ("SUT", report.sut.clone()),
        ("signature scheme", report.scheme.clone()),
        ("started", report.started_at.clone()),
        (
            "duration",
            format!("{:.1} s", report.duration_ms as f64 / 1e3),
        ),
        ("hookproof", report.hookproof_version.clone()),
    ]));
    let failed: Vec<&ScenarioReport> = report.scenarios.iter().filter(|s| !s.passed).collect();
    if failed.is_empty() {
        page.push("<h3>Replay (every scenario, same seeds)</h3>\n");
        let all: Vec<&str> = report.scenarios.iter().map(|s| s.replay.as_str()).collect();
        page.push(&code(&all));
    } else {
        page.push("<h3>Replay the failures</h3>\n");
        let cmds: Vec<&str> = failed.iter().map(|s| s.replay.as_str()).collect();
        page.push(&code(&cmds));
    }
    page.push("</header>\n<section class=\"card\">\n<h2>Scenarios × checks</h2>\n");
    page.push(&verdict_table(report));
    page.push("</section>\n");
    for s in &report.scenarios {
        page.push(&scenario_section(s, attempts(&s.name))?);
    }
    page.push(&format!(
        "<footer>Written by hookproof {}. Self-contained: no scripts, no network. The same run \
         as JSON: report.json (schema {}).</footer>\n",
        escape(&report.hookproof_version),
        report.schema_version
    ));
    Ok(page.render())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::CheckName;
    use crate::history::AttemptOutcome;
    use crate::report::json::Totals;
    use crate::runner::RunStats;

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<b a="1" b='2'>Tom & Jerry</b>"#),
            "&lt;b a=&quot;1&quot; b=&#39;2&#39;&gt;Tom &amp; Jerry&lt;/b&gt;"
        );
        assert_eq!(escape("plain ünïcode"), "plain ünïcode");
        assert_eq!(escape(""), "");
    }

    #[test]
    fn anchors_are_safe_ids() {
        assert_eq!(anchor("scenario", "a b/<c>\"d"), "scenario-a-b--c--d");
        assert_eq!(anchor("scenario", "crm-outage_2"), "scenario-crm-outage_2");
    }

    fn report(name: &str, description: &str, evidence: &str) -> RunReport {
        RunReport {
            schema_version: 1,
            hookproof_version: "0.1.0".into(),
            started_at: "2025-01-01T00:00:00Z".into(),
            duration_ms: 1500,
            sut: "./rx --flag".into(),
            scheme: "zendesk".into(),
            passed: false,
            totals: Totals {
                scenarios: 1,
                pass: 1,
                fail: 1,
                ..Totals::default()
            },
            scenarios: vec![ScenarioReport {
                name: name.into(),
                description: description.into(),
                source: format!("builtin:{name}"),
                seed: 7,
                passed: false,
                checks: vec![
                    CheckResult::new(CheckName::NoLoss, Verdict::Pass, "all landed", vec![]),
                    CheckResult::new(
                        CheckName::Idempotent,
                        Verdict::Fail,
                        "1 duplicated",
                        vec![Evidence {
                            what: evidence.into(),
                            event_ids: vec!["ev-<1>".into()],
                            timeline: vec!["+5ms delivery #0 attempt 1: acked 200 in 3ms".into()],
                            objects: Some(serde_json::json!({"expected": "<a>"})),
                        }],
                    ),
                ],
                stats: RunStats {
                    acked: 2,
                    deliveries: 3,
                    ..RunStats::default()
                },
                clean_stats: RunStats::default(),
                replay: format!("hookproof run --scenario '{name}' --seed 7"),
            }],
        }
    }

    #[test]
    fn user_text_is_escaped_everywhere() {
        let hostile = "<script>alert(1)</script>";
        let r = report(hostile, hostile, hostile);
        let html = run_report(&r, &|_| None).unwrap();
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("ev-&lt;1&gt;"), "event ids are escaped");
        assert!(
            html.contains("&quot;&lt;a&gt;&quot;"),
            "objects are escaped"
        );
        assert!(
            html.contains("id=\"scenario--script-alert-1---script-\""),
            "ids are slugs"
        );
        assert!(html.contains("hookproof run --scenario &#39;&lt;script&gt;"));
    }

    #[test]
    fn the_page_has_header_table_sections_and_charts() {
        let r = report(
            "duplicates",
            "Each event twice.",
            "contacts: expected 1, found 2",
        );
        let log = vec![
            Attempt {
                delivery: 0,
                event_id: "ev-1".into(),
                event_type: "ticket.created".into(),
                ticket_id: None,
                attempt: 1,
                started: Duration::from_millis(3),
                latency: Duration::from_millis(4),
                outcome: AttemptOutcome::Acked { status: 200 },
            },
            Attempt {
                delivery: 1,
                event_id: "ev-1".into(),
                event_type: "ticket.created".into(),
                ticket_id: None,
                attempt: 1,
                started: Duration::from_millis(130),
                latency: Duration::from_millis(9),
                outcome: AttemptOutcome::Rejected { status: 409 },
            },
        ];
        let html =
            run_report(&r, &|name| (name == "duplicates").then_some(log.as_slice())).unwrap();
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(
            html.contains("data-verdict=\"fail\"><strong>FAILED</strong>"),
            "{html}"
        );
        assert!(html.contains("<table class=\"matrix\" id=\"verdicts\">"));
        assert!(
            html.contains("<th class=\"v\" title=\"fails when"),
            "check columns"
        );
        assert!(html.contains("<a href=\"#scenario-duplicates\">duplicates</a>"));
        assert!(html.contains("<section class=\"card scenario\" id=\"scenario-duplicates\""));
        assert!(html.contains("data-check=\"idempotent\" data-verdict=\"fail\""));
        assert!(html.contains("<details open><summary>1 piece(s) of evidence"));
        assert!(html.contains("+5ms delivery #0 attempt 1: acked 200 in 3ms"));
        assert!(html.contains("hookproof run --scenario &#39;duplicates&#39; --seed 7"));
        for chart in [
            "timeline",
            "latency-histogram",
            "percentile-curve",
            "throughput",
        ] {
            assert!(html.contains(&format!("data-chart=\"{chart}\"")), "{chart}");
        }
        assert!(html.contains("rejected (1)"));
        assert!(!html.contains("<script"), "no JavaScript");
        for external in [" src=", "href=\"http", "@import", "url("] {
            assert!(!html.contains(external), "loads nothing: {external}");
        }
    }

    #[test]
    fn a_missing_log_is_a_note_not_an_error() {
        let r = report("s", "", "x");
        let html = run_report(&r, &|_| None).unwrap();
        assert!(html.contains("No delivery log for this scenario"));
        assert!(!html.contains("data-chart="));
    }

    #[test]
    fn an_empty_report_renders() {
        let mut r = report("s", "", "x");
        r.scenarios.clear();
        r.totals = Totals::default();
        r.passed = true;
        let html = run_report(&r, &|_| None).unwrap();
        assert!(html.contains("<strong>PASSED</strong>"));
        assert!(html.contains("<tbody>\n</tbody>"));
    }
}
