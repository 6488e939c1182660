//! The summaries of a fuzz campaign: the terminal one ([`summary`]) and
//! the HTML page `hookproof fuzz --report-dir DIR` writes ([`html`]).

use super::campaign::{FuzzFailure, FuzzReport};
use super::regressions;
use crate::check::Verdict;
use crate::report::html::{Page, banner, check_result, code, escape, facts};
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

/// What became of a failing case: still failing, or shrunk to how much.
fn outcome(f: &FuzzFailure) -> String {
    if f.shrink_steps == 0 && f.original == f.minimal {
        "kept regression still fails".to_string()
    } else {
        format!(
            "FAILED: shrunk in {} step(s) to {} event(s) and {} fault(s)",
            f.shrink_steps,
            f.events,
            f.minimal.faults.len()
        )
    }
}

/// How reliably the saved case reproduces.
fn confirmation(f: &FuzzFailure) -> String {
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
            "{} of {} fresh run(s) of the saved case fail the same way{back}",
            f.confirmed, f.confirm_runs
        )
    } else {
        format!(
            "WARNING: only {} of {} fresh runs of the saved case failed the same way: the \
             failure depends on timing; re-run the replay command a few times",
            f.confirmed, f.confirm_runs
        )
    }
}

fn failure_text(f: &FuzzFailure) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}: {}", f.minimal.name, outcome(f));
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
    let _ = writeln!(out, "  replay: {}  ({})", f.replay, confirmation(f));
    out
}

/// The campaign as a self-contained HTML page (`report.html` of
/// `hookproof fuzz --report-dir DIR`): a header with the verdict, the seed,
/// the case counts and speed, then each failure with its failing checks and
/// evidence, the minimal scenario file, where it was saved, the replay
/// command and how reliably it reproduces.
pub fn html(report: &FuzzReport) -> String {
    let passed = report.failures.is_empty();
    let mut page = Page::new(&format!(
        "hookproof fuzz: {} — seed {}",
        if passed { "passed" } else { "FAILED" },
        report.seed
    ));
    page.push("<header class=\"card\">\n<h1>hookproof fuzz</h1>\n");
    page.push(&banner(
        passed,
        &format!(
            "{} generated case(s), {} kept regression(s) re-checked, {} failure(s)",
            report.cases,
            report.regressions,
            report.failures.len()
        ),
    ));
    page.push(&facts(&[
        ("seed", report.seed.to_string()),
        ("generated cases", report.cases.to_string()),
        ("cases / s", format!("{:.1}", report.cases_per_second())),
        ("regressions re-checked", report.regressions.to_string()),
        ("failures", report.failures.len().to_string()),
        (
            "time running cases",
            format!("{:.1} s", report.case_time.as_secs_f64()),
        ),
        (
            "time in all",
            format!("{:.1} s", report.elapsed.as_secs_f64()),
        ),
    ]));
    if !passed {
        page.push("<h3>Replay the failures</h3>\n");
        let replays: Vec<&str> = report.failures.iter().map(|f| f.replay.as_str()).collect();
        page.push(&code(&replays));
    }
    page.push("</header>\n");
    if passed {
        page.push(
            "<section class=\"card\"><p>No generated case and no kept regression failed.</p></section>\n",
        );
    }
    for (i, f) in report.failures.iter().enumerate() {
        page.push(&failure_html(i, f));
    }
    page.render()
}

fn failure_html(index: usize, f: &FuzzFailure) -> String {
    let mut out = format!(
        "<section class=\"card scenario failure\" id=\"failure-{}\" data-scenario=\"{}\">\n\
         <div class=\"scenario-head\"><span class=\"badge fail\">fail</span> <h2>{}</h2></div>\n\
         <p class=\"desc\">{}</p>\n",
        index + 1,
        escape(&f.minimal.name),
        escape(&f.minimal.name),
        escape(&outcome(f))
    );
    if let Some(error) = &f.error {
        let _ = writeln!(
            out,
            "<p><strong>The SUT stopped:</strong> {}</p>",
            escape(error)
        );
    }
    out.push_str(&facts(&[
        ("seed", f.minimal.seed.to_string()),
        ("events", f.events.to_string()),
        ("faults", f.minimal.faults.len().to_string()),
        ("shrink steps", f.shrink_steps.to_string()),
        (
            "saved",
            f.saved
                .as_ref()
                .map_or("not saved".to_string(), |p| p.display().to_string()),
        ),
    ]));
    out.push_str("<h3>Replay</h3>\n");
    out.push_str(&code(&[&f.replay]));
    let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(&confirmation(f)));
    out.push_str("<h3>Failing checks</h3>\n");
    for check in &f.failed {
        out.push_str(&check_result(check));
    }
    out.push_str("<h3>Minimal scenario</h3>\n");
    match regressions::to_toml(&f.minimal) {
        Ok(toml) => out.push_str(&code(&[toml.trim_end()])),
        Err(e) => {
            let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(&e.to_string()));
        }
    }
    out.push_str("</section>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{CheckName, CheckResult, Evidence};
    use std::time::Duration;

    fn report() -> FuzzReport {
        let mut minimal =
            crate::scenario::parse("name = \"fuzz-dup\"\ndescription = \"d\"\n", "t").unwrap();
        // Names are checked when parsed; the page escapes them all the same.
        minimal.name = "fuzz-<b>dup</b>".into();
        minimal.seed = 42;
        FuzzReport {
            seed: 9,
            cases: 12,
            regressions: 1,
            elapsed: Duration::from_secs(3),
            case_time: Duration::from_secs(2),
            failures: vec![FuzzFailure {
                original: minimal.clone(),
                minimal,
                events: 2,
                failed: vec![CheckResult::new(
                    CheckName::Idempotent,
                    Verdict::Fail,
                    "1 duplicated <contact>",
                    vec![Evidence::note("contacts: expected 1, found 2")],
                )],
                error: None,
                shrink_steps: 4,
                saved: Some("fuzz-regressions/fuzz-dup.toml".into()),
                confirmed: 5,
                confirm_runs: 5,
                walked_back: 0,
                replay: "hookproof run --scenario fuzz-regressions/fuzz-dup.toml".into(),
            }],
        }
    }

    #[test]
    fn the_html_page_shows_each_failure_escaped() {
        let html = html(&report());
        assert!(html.contains("<strong>FAILED</strong>"), "{html}");
        assert!(
            html.contains("12 generated case(s), 1 kept regression(s) re-checked, 1 failure(s)")
        );
        assert!(
            html.contains("<h2>fuzz-&lt;b&gt;dup&lt;/b&gt;</h2>"),
            "{html}"
        );
        assert!(!html.contains("<b>dup"), "names are escaped");
        assert!(html.contains("FAILED: shrunk in 4 step(s) to 2 event(s) and 0 fault(s)"));
        assert!(html.contains("data-check=\"idempotent\" data-verdict=\"fail\""));
        assert!(html.contains("1 duplicated &lt;contact&gt;"));
        assert!(html.contains("hookproof run --scenario fuzz-regressions/fuzz-dup.toml"));
        assert!(html.contains("5 of 5 fresh run(s) of the saved case fail the same way"));
        assert!(
            html.contains("name = &quot;fuzz-&lt;b&gt;dup&lt;/b&gt;&quot;"),
            "the minimal TOML: {html}"
        );
        assert!(html.contains("seed = 42"), "{html}");
    }

    #[test]
    fn a_clean_campaign_says_so() {
        let mut r = report();
        r.failures.clear();
        let html = html(&r);
        assert!(html.contains("<strong>PASSED</strong>"));
        assert!(html.contains("No generated case and no kept regression failed."));
        assert!(!html.contains("Replay the failures"));
    }

    #[test]
    fn the_terminal_summary_keeps_its_shape() {
        let text = summary(&report());
        assert!(
            text.starts_with("fuzz: seed 9: 12 generated case(s)"),
            "{text}"
        );
        assert!(
            text.contains("fuzz-<b>dup</b>: FAILED: shrunk in 4 step(s)"),
            "{text}"
        );
        assert!(
            text.contains("  replay: hookproof run --scenario fuzz-regressions/fuzz-dup.toml  (5 of 5 fresh run(s)"),
            "{text}"
        );
    }
}
