//! The Markdown summary (`summary.md`): for CI logs, job summaries
//! (`cat summary.md >> $GITHUB_STEP_SUMMARY`) and pull-request comments.

use super::json::RunReport;
use super::terminal::columns;
use crate::check::Verdict;
use std::fmt::Write;

fn mark(v: Option<Verdict>) -> &'static str {
    match v {
        Some(Verdict::Pass) => "✅",
        Some(Verdict::Fail) => "❌",
        Some(Verdict::Unknown) => "❔",
        Some(Verdict::Skipped) | None => "",
    }
}

/// Escapes text for a Markdown table cell or list item.
fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// One table of scenarios × checks, then every failure with its evidence and
/// the command that replays it.
pub fn markdown_summary(report: &RunReport) -> String {
    let columns = columns(report);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## hookproof: {} — {} scenario(s), {} check(s) failed, {} unknown\n",
        if report.passed { "passed" } else { "FAILED" },
        report.totals.scenarios,
        report.totals.fail,
        report.totals.unknown
    );
    let _ = writeln!(
        out,
        "SUT: `{}` · scheme {}\n",
        escape(&report.sut),
        report.scheme
    );
    let _ = write!(out, "| scenario |");
    for c in &columns {
        let _ = write!(out, " {} |", c.as_str());
    }
    let _ = writeln!(out, " acked | ack p99 |");
    let _ = writeln!(out, "|---|{}---:|---:|", ":---:|".repeat(columns.len()));
    for s in &report.scenarios {
        let _ = write!(out, "| {} |", escape(&s.name));
        for c in &columns {
            let v = s.checks.iter().find(|r| r.check == *c).map(|r| r.verdict);
            let _ = write!(out, " {} |", mark(v));
        }
        let _ = writeln!(
            out,
            " {}/{} | {:.1} ms |",
            s.stats.acked, s.stats.deliveries, s.stats.ack_p99_ms
        );
    }
    for s in &report.scenarios {
        let failed: Vec<_> = s
            .checks
            .iter()
            .filter(|c| matches!(c.verdict, Verdict::Fail | Verdict::Unknown))
            .collect();
        if failed.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n### ❌ {}\n", escape(&s.name));
        for c in failed {
            let _ = writeln!(out, "- **{}**: {}", c.check, escape(&c.summary));
            for e in c.evidence.iter().take(5) {
                let _ = writeln!(out, "  - {}", escape(&e.what));
            }
        }
        let _ = writeln!(out, "\nReplay (seed {}): `{}`", s.seed, s.replay);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{CheckName, CheckResult, Evidence};
    use crate::report::json::{ScenarioReport, Totals};
    use crate::runner::RunStats;

    #[test]
    fn a_failure_shows_in_the_table_and_below_it() {
        let check = |check, verdict, summary: &str| CheckResult {
            check,
            verdict,
            summary: summary.into(),
            evidence: vec![Evidence::note("contacts [email: a|b]: expected 1, found 2")],
        };
        let report = RunReport {
            schema_version: 1,
            hookproof_version: "0".into(),
            started_at: String::new(),
            duration_ms: 1,
            sut: "./rx".into(),
            scheme: "zendesk".into(),
            passed: false,
            totals: Totals {
                scenarios: 1,
                pass: 1,
                fail: 1,
                ..Totals::default()
            },
            scenarios: vec![ScenarioReport {
                name: "duplicates".into(),
                description: String::new(),
                source: "builtin:duplicates".into(),
                seed: 7,
                passed: false,
                checks: vec![
                    check(CheckName::NoLoss, Verdict::Pass, "ok"),
                    check(CheckName::Idempotent, Verdict::Fail, "1 duplicated"),
                ],
                stats: RunStats::default(),
                clean_stats: RunStats::default(),
                replay: "hookproof run --scenario duplicates --seed 7".into(),
            }],
        };
        let md = markdown_summary(&report);
        assert!(md.starts_with("## hookproof: FAILED"), "{md}");
        assert!(
            md.contains("| scenario | no_loss | idempotent | acked | ack p99 |"),
            "{md}"
        );
        assert!(md.contains("| duplicates | ✅ | ❌ |"), "{md}");
        assert!(md.contains("- **idempotent**: 1 duplicated"), "{md}");
        assert!(md.contains("a\\|b"), "pipes are escaped: {md}");
        assert!(
            md.contains("`hookproof run --scenario duplicates --seed 7`"),
            "{md}"
        );
    }
}
