//! The benchmark report: a KPI table for the terminal, `bench.json` (every
//! KPI, each saturation step, histogram percentiles 50..99.99, the exact
//! command) and `bench.md` (Markdown tables).

use super::kpi::{Kpis, Percentiles};
use super::{BenchConfig, Outcome};
use crate::report::{ReportDirError, prepare_report_dir};
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Version of the `bench.json` layout.
pub const BENCH_SCHEMA_VERSION: u32 = 1;

/// Everything `bench.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// [`BENCH_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The command line that produced it.
    pub command: String,
    /// The SUT command run.
    pub sut: String,
    /// When the benchmark started (UTC).
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// Wall time in ms.
    pub wall_ms: u64,
    /// What was asked for.
    pub config: BenchConfig,
    /// What was measured.
    pub outcome: Outcome,
}

impl BenchReport {
    /// The KPIs to headline: the run's, or the highest sustainable step's
    /// (the first step's when none held).
    pub fn headline(&self) -> Option<&Kpis> {
        match &self.outcome {
            Outcome::Single { kpis, .. } => Some(kpis),
            Outcome::Saturation(s) => s
                .steps
                .iter()
                .rev()
                .find(|s| s.sustainable)
                .or(s.steps.first())
                .map(|s| &s.kpis),
        }
    }
}

fn ms(p: &Option<Percentiles>, f: impl Fn(&Percentiles) -> f64) -> String {
    p.as_ref()
        .map(|p| format!("{:.2} ms", f(p)))
        .unwrap_or_else(|| "—".to_string())
}

fn pct(x: Option<f64>) -> String {
    x.map(|x| format!("{:.2}%", x * 100.0))
        .unwrap_or_else(|| "unknown".to_string())
}

/// The KPIs as `(name, value)` rows.
pub fn kpi_rows(k: &Kpis) -> Vec<(&'static str, String)> {
    vec![
        ("target rate", format!("{}/s", k.rate)),
        (
            "events / deliveries",
            format!("{} / {}", k.events, k.deliveries),
        ),
        ("throughput (acked/s)", format!("{:.1}/s", k.throughput)),
        ("ack p50", ms(&k.ack, |p| p.p50_ms)),
        ("ack p90", ms(&k.ack, |p| p.p90_ms)),
        ("ack p99", ms(&k.ack, |p| p.p99_ms)),
        ("ack max", ms(&k.ack, |p| p.max_ms)),
        ("end-to-end p50", ms(&k.e2e, |p| p.p50_ms)),
        ("end-to-end p99", ms(&k.e2e, |p| p.p99_ms)),
        ("error rate (attempts)", pct(Some(k.error_rate))),
        ("loss rate", pct(k.loss_rate)),
        ("duplicate-effect rate", pct(k.duplicate_rate)),
        ("producer retries", k.producer_retries.to_string()),
        (
            "SUT→CRM requests / retries",
            format!(
                "{} / {}",
                k.crm_requests,
                k.crm_retries
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| "unknown".into())
            ),
        ),
        ("dead-letter depth", k.dead_lettered.to_string()),
        ("rejected (4xx)", k.rejected.to_string()),
    ]
}

fn step_rows(report: &BenchReport) -> Vec<Vec<String>> {
    let Outcome::Saturation(s) = &report.outcome else {
        return Vec::new();
    };
    s.steps
        .iter()
        .map(|st| {
            let k = &st.kpis;
            vec![
                format!("{}/s", st.rate),
                format!("{:.1}/s", k.throughput),
                ms(&k.ack, |p| p.p50_ms),
                ms(&k.ack, |p| p.p99_ms),
                ms(&k.ack, |p| p.max_ms),
                ms(&k.e2e, |p| p.p99_ms),
                pct(Some(k.error_rate)),
                pct(k.loss_rate),
                pct(k.duplicate_rate),
                match &st.reason {
                    None => "ok".to_string(),
                    Some(r) => format!("over: {r}"),
                },
            ]
        })
        .collect()
}

const STEP_HEADER: [&str; 10] = [
    "rate", "acked/s", "ack p50", "ack p99", "ack max", "e2e p99", "errors", "loss", "dupes", "SLO",
];

/// The service level in words.
fn slo_text(slo: &super::saturate::Slo) -> String {
    let mut text = format!(
        "ack p99 <= {}, error rate <= {:.2}%",
        humantime::format_duration(slo.ack_p99),
        slo.max_error_rate * 100.0
    );
    if let Some(e2e) = slo.e2e_p99 {
        let _ = write!(
            text,
            ", end-to-end p99 <= {}",
            humantime::format_duration(e2e)
        );
    }
    text
}

/// The table printed on stdout.
pub fn kpi_table(report: &BenchReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "hookproof bench: {} ({}, fault profile {})",
        report.sut,
        match &report.config.saturate {
            None => format!(
                "{}/s for {}",
                report.config.rate,
                humantime::format_duration(report.config.duration)
            ),
            Some(_) => format!(
                "saturation search from {}/s, {} per step",
                report.config.rate,
                humantime::format_duration(report.config.duration)
            ),
        },
        report.config.fault_profile
    );
    if let Outcome::Saturation(s) = &report.outcome {
        let rows = step_rows(report);
        let widths: Vec<usize> = (0..STEP_HEADER.len())
            .map(|i| {
                rows.iter()
                    .map(|r| r[i].chars().count())
                    .chain([STEP_HEADER[i].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: Vec<String>| {
            cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        };
        let _ = writeln!(
            out,
            "{}",
            line(STEP_HEADER.iter().map(|s| s.to_string()).collect())
        );
        for r in rows {
            let _ = writeln!(out, "{}", line(r));
        }
        let _ = writeln!(
            out,
            "sustainable rate: {} (SLO: {}); {}",
            s.sustainable_rate
                .map(|r| format!("{r}/s"))
                .unwrap_or_else(|| "none".into()),
            slo_text(&report.config.slo),
            s.stopped
        );
        out.push('\n');
    }
    if let Some(k) = report.headline() {
        if matches!(report.outcome, Outcome::Saturation(_)) {
            let _ = writeln!(out, "KPIs at {}/s:", k.rate);
        }
        let rows = kpi_rows(k);
        let width = rows
            .iter()
            .map(|(n, _)| n.chars().count())
            .max()
            .unwrap_or(0);
        for (name, value) in rows {
            let pad = width - name.chars().count();
            let _ = writeln!(out, "  {name}{}  {value}", " ".repeat(pad));
        }
        if let Outcome::Single { slo_violation, .. } = &report.outcome {
            let _ = writeln!(
                out,
                "  SLO ({}): {}",
                slo_text(&report.config.slo),
                slo_violation
                    .as_ref()
                    .map(|v| format!("broken: {v}"))
                    .unwrap_or_else(|| "held".into())
            );
        }
        for note in &k.notes {
            let _ = writeln!(out, "  note: {note}");
        }
        if !k.lost_events.is_empty() {
            let _ = writeln!(out, "  lost events: {}", k.lost_events.join(", "));
        }
        if !k.duplicated_events.is_empty() {
            let _ = writeln!(
                out,
                "  duplicated events: {}",
                k.duplicated_events.join(", ")
            );
        }
    }
    out
}

/// `bench.md`.
pub fn markdown(report: &BenchReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# hookproof bench\n");
    let _ = writeln!(out, "```sh\n{}\n```\n", report.command);
    let _ = writeln!(
        out,
        "SUT `{}`, fault profile `{}`, started {}.\n",
        report.sut,
        report.config.fault_profile,
        report.started_at.to_rfc3339()
    );
    if let Outcome::Saturation(s) = &report.outcome {
        let _ = writeln!(out, "## Saturation search\n");
        let _ = writeln!(out, "| {} |", STEP_HEADER.join(" | "));
        let _ = writeln!(out, "|{}", "---|".repeat(STEP_HEADER.len()));
        for r in step_rows(report) {
            let _ = writeln!(out, "| {} |", r.join(" | "));
        }
        let _ = writeln!(
            out,
            "\n**Sustainable rate: {}** (SLO: {}). {}\n",
            s.sustainable_rate
                .map(|r| format!("{r}/s"))
                .unwrap_or_else(|| "none".into()),
            slo_text(&report.config.slo),
            s.stopped
        );
    }
    if let Some(k) = report.headline() {
        let _ = writeln!(out, "## KPIs at {}/s\n", k.rate);
        let _ = writeln!(out, "| KPI | value |\n|---|---|");
        for (name, value) in kpi_rows(k) {
            let _ = writeln!(out, "| {name} | {value} |");
        }
        for (title, h) in [("Ack latency", &k.ack), ("End-to-end latency", &k.e2e)] {
            if let Some(h) = h {
                let _ = writeln!(out, "\n### {title} ({} samples)\n", h.count);
                let _ = writeln!(out, "| percentile | ms |\n|---|---|");
                for q in &h.percentiles {
                    let _ = writeln!(out, "| p{} | {:.3} |", q.percentile, q.ms);
                }
                let _ = writeln!(out, "| max | {:.3} |", h.max_ms);
            }
        }
        for note in &k.notes {
            let _ = writeln!(out, "\nNote: {note}");
        }
    }
    out
}

/// A plain-text table as HTML (every cell escaped).
fn html_table(id: &str, header: &[&str], rows: &[Vec<String>]) -> String {
    use crate::report::html::escape;
    let mut out =
        format!("<div class=\"scroll\"><table class=\"matrix\" id=\"{id}\">\n<thead><tr>");
    for h in header {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for r in rows {
        out.push_str("<tr>");
        for c in r {
            let _ = write!(out, "<td>{}</td>", escape(c));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div>\n");
    out
}

/// `bench.html`: the KPIs, the saturation steps and charts (latency by
/// percentile for acks and end to end; across a search, p99 by rate), self
/// contained like `report.html`.
pub fn html(report: &BenchReport) -> String {
    use crate::report::charts::{XAxis, lines};
    use crate::report::html::{Page, banner, code, facts, figure};
    let mut page = Page::new(&format!("hookproof bench: {}", report.sut));
    let slo_held = match &report.outcome {
        Outcome::Single { .. } => true,
        Outcome::Saturation(s) => s.sustainable_rate.is_some(),
    };
    let headline = match &report.outcome {
        Outcome::Single { kpis, .. } => format!(
            "{}/s for {}, fault profile {}",
            kpis.rate,
            humantime::format_duration(report.config.duration),
            report.config.fault_profile
        ),
        Outcome::Saturation(s) => format!(
            "sustainable rate {} (SLO: {}); {}",
            s.sustainable_rate
                .map(|r| format!("{r}/s"))
                .unwrap_or_else(|| "none".into()),
            slo_text(&report.config.slo),
            s.stopped
        ),
    };
    page.push("<h1>hookproof bench</h1>\n");
    page.push(&banner(slo_held, &headline));
    page.push(&facts(&[
        ("SUT", report.sut.clone()),
        ("started", report.started_at.to_rfc3339()),
        ("wall time", format!("{:.1} s", report.wall_ms as f64 / 1e3)),
        ("fault profile", report.config.fault_profile.to_string()),
    ]));
    page.push(&code(&[report.command.as_str()]));
    let mut charts = String::new();
    if let Outcome::Saturation(s) = &report.outcome {
        page.push("<h2>Saturation search</h2>\n");
        page.push(&html_table("steps", &STEP_HEADER, &step_rows(report)));
        let by_rate = |f: &dyn Fn(&Kpis) -> Option<f64>| -> Vec<(f64, f64)> {
            s.steps
                .iter()
                .filter_map(|st| f(&st.kpis).map(|y| (st.rate, y)))
                .collect()
        };
        let svg = lines(
            "bench-saturation",
            "p99 latency by target rate",
            XAxis::Linear("target rate (deliveries/s)"),
            "p99 latency (ms)",
            &[
                ("ack p99", by_rate(&|k| k.ack.as_ref().map(|p| p.p99_ms))),
                (
                    "end-to-end p99",
                    by_rate(&|k| k.e2e.as_ref().map(|p| p.p99_ms)),
                ),
            ],
        );
        if let Ok(svg) = svg {
            charts.push_str(&figure("p99 latency by target rate", &svg, true));
        }
    }
    if let Some(k) = report.headline() {
        page.push(&format!("<h2>KPIs at {}/s</h2>\n", k.rate));
        let rows: Vec<Vec<String>> = kpi_rows(k)
            .into_iter()
            .map(|(n, v)| vec![n.to_string(), v])
            .collect();
        page.push(&html_table("kpis", &["KPI", "value"], &rows));
        let points = |p: &Option<Percentiles>| -> Vec<(f64, f64)> {
            p.as_ref()
                .map(|p| p.percentiles.iter().map(|q| (q.percentile, q.ms)).collect())
                .unwrap_or_default()
        };
        let svg = lines(
            "bench-percentiles",
            "latency by percentile",
            XAxis::Percentile,
            "latency (ms)",
            &[("ack", points(&k.ack)), ("end to end", points(&k.e2e))],
        );
        if let Ok(svg) = svg {
            charts.push_str(&figure(
                "latency by percentile (from the intended send time)",
                &svg,
                false,
            ));
        }
        for note in &k.notes {
            page.push(&format!(
                "<p class=\"note\">{}</p>\n",
                crate::report::html::escape(note)
            ));
        }
    }
    if !charts.is_empty() {
        page.push(&format!(
            "<h2>Charts</h2>\n<div class=\"charts\">\n{charts}</div>\n"
        ));
    }
    page.render()
}

/// Writes `bench.json`, `bench.md` and `bench.html` into `dir` (created
/// when missing; refused when it holds files hookproof did not write).
pub fn write(dir: &Path, report: &BenchReport) -> Result<Vec<PathBuf>, ReportDirError> {
    prepare_report_dir(dir)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportDirError::Io { path, source }
    };
    let json = dir.join("bench.json");
    let text = serde_json::to_string_pretty(report).expect("the report always serializes");
    std::fs::write(&json, text).map_err(io(&json))?;
    let md = dir.join("bench.md");
    std::fs::write(&md, markdown(report)).map_err(io(&md))?;
    let page = dir.join("bench.html");
    std::fs::write(&page, html(report)).map_err(io(&page))?;
    Ok(vec![json, md, page])
}

#[cfg(test)]
mod tests {
    use super::super::kpi::Histogram;
    use super::super::saturate::{Saturation, Step};
    use super::*;
    use std::time::Duration;

    fn kpis(rate: f64) -> Kpis {
        let mut h = Histogram::new();
        for i in 1..=10 {
            h.record(Duration::from_millis(i));
        }
        Kpis {
            rate,
            duration_ms: 1_000,
            events: 10,
            deliveries: 10,
            attempts: 10,
            acked: 10,
            rejected: 0,
            dead_lettered: 0,
            throughput: 10.0,
            error_rate: 0.0,
            producer_retries: 0,
            crm_requests: 30,
            crm_retries: Some(0),
            ack: h.summary(),
            e2e: None,
            loss_rate: Some(0.0),
            duplicate_rate: None,
            lost_events: Vec::new(),
            duplicated_events: Vec::new(),
            settled: true,
            notes: vec!["a note".into()],
        }
    }

    fn report(outcome: Outcome) -> BenchReport {
        BenchReport {
            schema_version: BENCH_SCHEMA_VERSION,
            command: "hookproof bench --rate 10".into(),
            sut: "sut".into(),
            started_at: chrono::Utc::now(),
            wall_ms: 1,
            config: BenchConfig::default(),
            outcome,
        }
    }

    #[test]
    fn the_table_and_markdown_show_every_kpi() {
        let r = report(Outcome::Single {
            kpis: Box::new(kpis(10.0)),
            slo_violation: None,
        });
        let t = kpi_table(&r);
        for name in [
            "ack p50",
            "ack p99",
            "end-to-end p99",
            "loss rate",
            "dead-letter depth",
        ] {
            assert!(t.contains(name), "{t}");
        }
        assert!(
            t.lines()
                .any(|l| l.contains("duplicate-effect rate") && l.ends_with(" unknown")),
            "{t}"
        );
        assert!(t.contains("note: a note"), "{t}");
        let md = markdown(&r);
        assert!(md.contains("| p99.99 |"), "{md}");
        assert!(md.contains("hookproof bench --rate 10"), "{md}");
    }

    #[test]
    fn a_search_headlines_the_highest_sustainable_step() {
        let step = |rate: f64, ok: bool| Step {
            rate,
            kpis: kpis(rate),
            sustainable: ok,
            reason: (!ok).then(|| "ack p99 too high".to_string()),
        };
        let r = report(Outcome::Saturation(Saturation {
            steps: vec![step(100.0, true), step(150.0, true), step(225.0, false)],
            sustainable_rate: Some(150.0),
            stopped: "225/s broke the SLO".into(),
        }));
        assert_eq!(r.headline().unwrap().rate, 150.0);
        let t = kpi_table(&r);
        assert!(t.contains("sustainable rate: 150/s"), "{t}");
        assert!(t.contains("over: ack p99 too high"), "{t}");
        let md = markdown(&r);
        assert!(md.contains("**Sustainable rate: 150/s**"), "{md}");
        let page = html(&r);
        assert!(page.contains("sustainable rate 150/s"), "{page}");
        assert!(page.contains("<table class=\"matrix\" id=\"steps\">"));
        assert!(page.contains("data-chart=\"bench-saturation\""));
        assert!(page.contains("data-chart=\"bench-percentiles\""));
        // Three steps: three rows.
        let steps = &page[page.find("id=\"steps\"").unwrap()..];
        let steps = &steps[..steps.find("</table>").unwrap()];
        assert_eq!(steps.matches("<tr>").count(), 4, "header and 3 steps");
    }

    #[test]
    fn writes_only_into_its_own_directories() {
        let dir = tempfile::tempdir().unwrap();
        let r = report(Outcome::Single {
            kpis: Box::new(kpis(10.0)),
            slo_violation: None,
        });
        let out = dir.path().join("bench");
        let written = write(&out, &r).unwrap();
        assert_eq!(written.len(), 3);
        let page = std::fs::read_to_string(out.join("bench.html")).unwrap();
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("<table class=\"matrix\" id=\"kpis\">"));
        assert!(!page.contains("<script"), "no JavaScript, nothing loaded");
        let back: BenchReport =
            serde_json::from_str(&std::fs::read_to_string(out.join("bench.json")).unwrap())
                .unwrap();
        assert_eq!(back, r);
        // Again: a previous hookproof report may be overwritten.
        write(&out, &r).unwrap();
        // A user's directory may not.
        let theirs = dir.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::fs::write(theirs.join("notes.txt"), "precious").unwrap();
        assert!(matches!(
            write(&theirs, &r),
            Err(ReportDirError::NotOurs(_))
        ));
        assert_eq!(
            std::fs::read_to_string(theirs.join("notes.txt")).unwrap(),
            "precious"
        );
    }
}
