//! Writes a report directory: `report.json`, `junit.xml`, `summary.md`,
//! `report.html` (self-contained, with charts), and per scenario
//! `delivery-log/NAME.jsonl` (attempts), `delivery-log/NAME.events.jsonl`
//! (events with their payloads, what `hookproof replay` reads) and
//! `sut-logs/NAME.log`.
//!
//! A directory is only written when it is empty or was written by hookproof
//! before (it holds the `.hookproof-report` marker), so a mistyped
//! `--report-dir` never overwrites the user's files.

use super::json::RunReport;
use super::junit::junit_xml;
use crate::history::Attempt;
use crate::runner::ScenarioOutcome;
use std::io::Write;
use std::path::{Path, PathBuf};

const MARKER: &str = ".hookproof-report";

/// Creates `dir` (after [`check_report_dir`]) and marks it as written by
/// hookproof, so a later run may write into it again.
pub fn prepare_report_dir(dir: &Path) -> Result<(), ReportDirError> {
    check_report_dir(dir)?;
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    std::fs::write(dir.join(MARKER), "written by hookproof\n").map_err(io(dir))?;
    Ok(())
}

/// The report directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ReportDirError {
    /// The directory holds files hookproof did not write.
    #[error(
        "refusing to write the report into {0}: it is not empty and was not written by hookproof \
         (no {MARKER} file); pick another --report-dir"
    )]
    NotOurs(PathBuf),
    /// A chart of `report.html` could not be drawn.
    #[error("cannot write {path}: {source}")]
    Html {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: super::charts::ChartError,
    },
    /// I/O error.
    #[error("cannot write the report to {path}: {source}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportDirError + '_ {
    move |source| ReportDirError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Checks, before a run, that `dir` may be written: it does not exist, is
/// empty, or holds an earlier hookproof report.
pub fn check_report_dir(dir: &Path) -> Result<(), ReportDirError> {
    if dir.exists() {
        if !dir.is_dir() {
            return Err(ReportDirError::NotOurs(dir.to_path_buf()));
        }
        let mut entries = std::fs::read_dir(dir).map_err(io(dir))?;
        if entries.next().is_some() && !dir.join(MARKER).exists() {
            return Err(ReportDirError::NotOurs(dir.to_path_buf()));
        }
    }
    Ok(())
}

/// Writes the report files into `dir`; returns the paths written.
pub fn write_report_dir(
    dir: &Path,
    report: &RunReport,
    outcomes: &[ScenarioOutcome],
) -> Result<Vec<PathBuf>, ReportDirError> {
    let attempts = |name: &str| {
        outcomes
            .iter()
            .find(|o| o.name == name)
            .map(|o| o.delivery_log.attempts.as_slice())
    };
    let written = write_summaries(dir, report, &attempts)?;
    for o in outcomes {
        let path = dir.join("delivery-log").join(format!("{}.jsonl", o.name));
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).map_err(io(&path))?);
        for (position, a) in o.delivery_log.attempts.iter().enumerate() {
            let line = attempt_line(a, o.delivery_log.was_resent(position));
            writeln!(f, "{line}").map_err(io(&path))?;
        }
        f.flush().map_err(io(&path))?;
        let path = dir
            .join("delivery-log")
            .join(format!("{}.events.jsonl", o.name));
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).map_err(io(&path))?);
        for r in crate::replay::event_records(&o.delivery_log) {
            let line = serde_json::to_string(&r).expect("event records always serialize");
            writeln!(f, "{line}").map_err(io(&path))?;
        }
        f.flush().map_err(io(&path))?;
        let path = dir.join("sut-logs").join(format!("{}.log", o.name));
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).map_err(io(&path))?);
        for (run, lines) in [("clean", &o.clean_sut_log), ("faulted", &o.sut_log)] {
            for l in lines {
                writeln!(
                    f,
                    "[{run} #{} +{:>6}ms {}] {}",
                    l.incarnation,
                    l.at.as_millis(),
                    l.stream,
                    l.line
                )
                .map_err(io(&path))?;
            }
        }
        f.flush().map_err(io(&path))?;
    }
    Ok(written)
}

/// Writes the report of `hookproof merge` into `dir`: `report.json`,
/// `junit.xml`, `summary.md` and `report.html`, whose charts come from
/// `logs` (scenario name → attempts, see
/// [`super::merge::read_delivery_logs`]); returns the paths written.
pub fn write_merged_report_dir(
    dir: &Path,
    report: &RunReport,
    logs: &std::collections::HashMap<String, Vec<Attempt>>,
) -> Result<Vec<PathBuf>, ReportDirError> {
    write_summaries(dir, report, &|name: &str| logs.get(name).map(Vec::as_slice))
}

/// The files every report directory has: the marker, `report.json`,
/// `junit.xml`, `summary.md` and `report.html`.
fn write_summaries<'a>(
    dir: &Path,
    report: &RunReport,
    attempts: &dyn Fn(&str) -> Option<&'a [Attempt]>,
) -> Result<Vec<PathBuf>, ReportDirError> {
    claim(dir)?;
    std::fs::create_dir_all(dir.join("delivery-log")).map_err(io(dir))?;
    std::fs::create_dir_all(dir.join("sut-logs")).map_err(io(dir))?;
    let mut written = Vec::new();
    let json_path = dir.join("report.json");
    let json = serde_json::to_string_pretty(report).expect("the report always serializes");
    std::fs::write(&json_path, json).map_err(io(&json_path))?;
    written.push(json_path);
    let junit_path = dir.join("junit.xml");
    std::fs::write(&junit_path, junit_xml(report)).map_err(io(&junit_path))?;
    written.push(junit_path);
    let md_path = dir.join("summary.md");
    std::fs::write(&md_path, super::markdown::markdown_summary(report)).map_err(io(&md_path))?;
    written.push(md_path);
    let html =
        super::html::run_report(report, attempts).map_err(|source| ReportDirError::Html {
            path: dir.join("report.html"),
            source,
        })?;
    written.push(write_html(dir, &html)?);
    Ok(written)
}

/// Checks `dir` ([`check_report_dir`]), creates it and marks it as
/// hookproof's.
fn claim(dir: &Path) -> Result<(), ReportDirError> {
    check_report_dir(dir)?;
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    std::fs::write(dir.join(MARKER), "written by hookproof\n").map_err(io(dir))
}

fn write_html(dir: &Path, html: &str) -> Result<PathBuf, ReportDirError> {
    let path = dir.join("report.html");
    std::fs::write(&path, html).map_err(io(&path))?;
    Ok(path)
}

/// Writes `html` (a page built with [`super::html::Page`]) as
/// `dir/report.html`, under the rules of every report directory (see
/// [`check_report_dir`]): for commands whose report is one page, like
/// `hookproof fuzz --report-dir`. Returns the path written.
pub fn write_html_report(dir: &Path, html: &str) -> Result<PathBuf, ReportDirError> {
    claim(dir)?;
    write_html(dir, html)
}

/// One line of `delivery-log/NAME.jsonl`: the attempt, with
/// `"resent_on_fresh_connection": true` when its request went out twice
/// (see [`crate::history::DeliveryLog::resent`]); other lines are as they
/// always were, and readers of attempts ignore the extra key.
fn attempt_line(attempt: &Attempt, resent: bool) -> String {
    #[derive(serde::Serialize)]
    struct Resent<'a> {
        #[serde(flatten)]
        attempt: &'a Attempt,
        resent_on_fresh_connection: bool,
    }
    if resent {
        serde_json::to_string(&Resent {
            attempt,
            resent_on_fresh_connection: true,
        })
    } else {
        serde_json::to_string(attempt)
    }
    .expect("attempts always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::AttemptOutcome;
    use std::time::Duration;

    #[test]
    fn resent_attempts_are_marked_in_the_jsonl_and_still_read_as_attempts() {
        let attempt = Attempt {
            delivery: 0,
            event_id: "e1".into(),
            event_type: "ticket.created".into(),
            ticket_id: None,
            attempt: 1,
            started: Duration::from_millis(3),
            latency: Duration::from_millis(2),
            outcome: AttemptOutcome::Acked { status: 200 },
        };
        let plain = attempt_line(&attempt, false);
        assert_eq!(plain, serde_json::to_string(&attempt).unwrap());
        assert!(!plain.contains("resent"));
        let marked = attempt_line(&attempt, true);
        assert!(
            marked.ends_with(r#""resent_on_fresh_connection":true}"#),
            "{marked}"
        );
        assert_eq!(serde_json::from_str::<Attempt>(&marked).unwrap(), attempt);
    }
}
