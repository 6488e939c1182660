//! The terminal summary table.

use super::json::RunReport;
use crate::check::{CheckName, Verdict};
use std::fmt::Write;

fn cell(v: Option<Verdict>) -> &'static str {
    match v {
        Some(Verdict::Pass) => "pass",
        Some(Verdict::Fail) => "FAIL",
        Some(Verdict::Unknown) => "unknown",
        Some(Verdict::Skipped) => "-",
        None => "",
    }
}

/// The checks that ran in any scenario of `report`, in report order.
pub(super) fn columns(report: &RunReport) -> Vec<CheckName> {
    CheckName::ALL
        .iter()
        .copied()
        .filter(|c| {
            report
                .scenarios
                .iter()
                .any(|s| s.checks.iter().any(|r| r.check == *c))
        })
        .collect()
}

/// A table: one row per scenario, one column per check, plus the evidence
/// of every failure.
pub fn summary_table(report: &RunReport) -> String {
    let columns = columns(report);
    let name_width = report
        .scenarios
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let mut out = String::new();
    let _ = write!(out, "{:name_width$}  ", "scenario");
    for c in &columns {
        let _ = write!(out, "{:>w$}  ", c.as_str(), w = c.as_str().len().max(7));
    }
    let _ = writeln!(out, "{:>8}  {:>9}", "acked", "ack p99");
    for s in &report.scenarios {
        let _ = write!(out, "{:name_width$}  ", s.name);
        for c in &columns {
            let v = s.checks.iter().find(|r| r.check == *c).map(|r| r.verdict);
            let _ = write!(out, "{:>w$}  ", cell(v), w = c.as_str().len().max(7));
        }
        let _ = writeln!(
            out,
            "{:>8}  {:>7.1}ms",
            format!("{}/{}", s.stats.acked, s.stats.deliveries),
            s.stats.ack_p99_ms
        );
    }
    for s in &report.scenarios {
        for c in s
            .checks
            .iter()
            .filter(|c| matches!(c.verdict, Verdict::Fail | Verdict::Unknown))
        {
            let _ = writeln!(
                out,
                "\n{} in {}: {}",
                if c.verdict == Verdict::Fail {
                    "FAIL"
                } else {
                    "UNKNOWN"
                },
                s.name,
                c.summary
            );
            for e in c.evidence.iter().take(5) {
                let _ = writeln!(out, "  - {}", e.what);
                for line in e.timeline.iter().take(8) {
                    let _ = writeln!(out, "      {line}");
                }
            }
            if c.evidence.len() > 5 {
                let _ = writeln!(out, "  … {} more in the JSON report", c.evidence.len() - 5);
            }
            let _ = writeln!(out, "  seed {} · replay: {}", s.seed, s.replay);
        }
    }
    let t = &report.totals;
    let _ = writeln!(
        out,
        "\n{} scenario(s): {} passed, {} failed checks ({} pass, {} unknown, {} skipped) in {:.1}s",
        t.scenarios,
        report.scenarios.iter().filter(|s| s.passed).count(),
        t.fail,
        t.pass,
        t.unknown,
        t.skipped,
        report.duration_ms as f64 / 1e3
    );
    out
}
