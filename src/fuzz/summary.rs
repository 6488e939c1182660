//! The terminal summary of a fuzz campaign.

use super::campaign::{FuzzFailure, FuzzReport};
use super::regressions;
use crate::check::Verdict;
use std::fmt::Write;

/// The summary printed at the end of `hookproof fuzz`: counts and speed,
/// then each failure with its failing checks, evidence, the minimal
/// scenario, where it was saved and the command that replays it.
pub fn summary(report: &FuzzReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "fuzz: seed {}: {} generated case(s) in {:.1}s ({:.1} cases/s), {} kept regression(s) \
         re-checked, {} failure(s), {:.1}s in all",
        report.seed,
        report.cases,
        report.case_time.as_secs_f64(),
        report.cases_per_second(),
        report.regressions,
        report.failures.len(),
        report.elapsed.as_secs_f64()
    );
    for failure in &report.failures {
        out.push('\n');
        out.push_str(&failure_text(failure));
    }
    out
}

fn failure_text(f: &FuzzFailure) -> String {
    let mut out = String::new();
    let what = if f.shrink_steps == 0 && f.original == f.minimal {
        "kept regression still fails".to_string()
    } else {
        format!(
            "FAILED: shrunk in {} step(s) to {} event(s) and {} fault(s)",
            f.shrink_steps,
            f.events,
            f.minimal.faults.len()
        )
    };
    let _ = writeln!(out, "{}: {what}", f.minimal.name);
    if let Some(error) = &f.error {
        let _ = writeln!(out, "  the SUT stopped: {error}");
    }
    for check in &f.failed {
        let verdict = match check.verdict {
            Verdict::Fail => "fail",
            Verdict::Unknown => "unknown",
            Verdict::Pass => "pass",
            Verdict::Skipped => "skipped",
        };
        let _ = writeln!(out, "  {verdict} {}: {}", check.check, check.summary);
        for evidence in check.evidence.iter().take(5) {
            let _ = writeln!(out, "    - {}", evidence.what);
        }
    }
    if let Ok(toml) = regressions::to_toml(&f.minimal) {
        let _ = writeln!(out, "  minimal case:");
        for line in toml.lines() {
            let _ = writeln!(out, "    {line}");
        }
    }
    if let Some(path) = &f.saved {
        let _ = writeln!(out, "  saved: {}", path.display());
    }
    let _ = writeln!(
        out,
        "  replay: {}{}",
        f.replay,
        if f.confirmed == f.confirm_runs {
            let back = if f.walked_back > 0 {
                format!(
                    "; {} smaller case(s) failed only some of the time and were given up",
                    f.walked_back
                )
            } else {
                String::new()
            };
            format!(
                "  ({} of {} fresh run(s) of the saved case fail the same way{back})",
                f.confirmed, f.confirm_runs
            )
        } else {
            format!(
                "  (WARNING: only {} of {} fresh runs of the saved case failed the same way: the \
                 failure depends on timing; re-run the replay command a few times)",
                f.confirmed, f.confirm_runs
            )
        }
    );
    out
}
