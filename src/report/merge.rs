//! `hookproof merge`: the JSON reports of a CI matrix (one per `--partition`)
//! as one report.

use super::json::{RunReport, SCHEMA_VERSION, Totals};
use crate::check::Verdict;
use crate::history::Attempt;
use std::path::{Path, PathBuf};

/// Why reports cannot be merged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    /// A report could not be read or parsed.
    #[error("{path}: {message}; pass the report.json files written by `hookproof run`")]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A report has another schema version.
    #[error(
        "{path} has schema version {found}, this hookproof writes {SCHEMA_VERSION}; merge reports of one hookproof version"
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u32,
    },
    /// Reports of different SUTs or schemes.
    #[error(
        "{path} is a report on `{found}`, {first} on `{expected}`; merge reports of one SUT and scheme"
    )]
    OtherSut {
        /// The file.
        path: PathBuf,
        /// The first report.
        first: PathBuf,
        /// The first report's SUT and scheme.
        expected: String,
        /// This one's.
        found: String,
    },
    /// A scenario appears in two reports (overlapping partitions).
    #[error("scenario `{scenario}` is in both {first} and {second}; the partitions overlap")]
    Overlap {
        /// The scenario.
        scenario: String,
        /// One report.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
    /// Nothing to merge.
    #[error("no reports given")]
    Empty,
}

/// Reads a `report.json`.
pub fn read_report(path: &Path) -> Result<RunReport, MergeError> {
    let read = |message: String| MergeError::Read {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| read(e.to_string()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| read(format!("not JSON: {e}")))?;
    let found = value["schema_version"].as_u64().unwrap_or(0) as u32;
    if found != SCHEMA_VERSION {
        return Err(MergeError::Version {
            path: path.to_path_buf(),
            found,
        });
    }
    serde_json::from_value(value).map_err(|e| read(format!("not a hookproof report: {e}")))
}

/// Reads the attempts of every scenario of `reports` from the
/// `delivery-log/NAME.jsonl` next to each `report.json` (the charts of the
/// merged `report.html`). A missing log is left out (the page says so); an
/// unreadable or malformed one is an error.
pub fn read_delivery_logs(
    reports: &[(PathBuf, RunReport)],
) -> Result<std::collections::HashMap<String, Vec<Attempt>>, MergeError> {
    let mut logs = std::collections::HashMap::new();
    for (path, report) in reports {
        let dir = path.parent().unwrap_or(Path::new("."));
        for s in &report.scenarios {
            let log = dir.join("delivery-log").join(format!("{}.jsonl", s.name));
            let text = match std::fs::read_to_string(&log) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(MergeError::Read {
                        path: log,
                        message: e.to_string(),
                    });
                }
            };
            let attempts = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .enumerate()
                .map(|(i, l)| {
                    serde_json::from_str::<Attempt>(l).map_err(|e| MergeError::Read {
                        path: log.clone(),
                        message: format!("line {}: not a delivery attempt: {e}", i + 1),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            logs.insert(s.name.clone(), attempts);
        }
    }
    Ok(logs)
}

/// Merges reports: scenarios in the order given, totals recomputed, the
/// earliest start, the longest duration (the matrix ran in parallel).
pub fn merge(reports: &[(PathBuf, RunReport)]) -> Result<RunReport, MergeError> {
    let (first_path, first) = reports.first().ok_or(MergeError::Empty)?;
    let identity = |r: &RunReport| format!("{} ({})", r.sut, r.scheme);
    let mut merged = first.clone();
    merged.scenarios.clear();
    let mut owner: std::collections::HashMap<String, &PathBuf> = Default::default();
    for (path, report) in reports {
        if identity(report) != identity(first) {
            return Err(MergeError::OtherSut {
                path: path.clone(),
                first: first_path.clone(),
                expected: identity(first),
                found: identity(report),
            });
        }
        for s in &report.scenarios {
            if let Some(other) = owner.insert(s.name.clone(), path) {
                return Err(MergeError::Overlap {
                    scenario: s.name.clone(),
                    first: other.clone(),
                    second: path.clone(),
                });
            }
            merged.scenarios.push(s.clone());
        }
        merged.started_at = merged.started_at.clone().min(report.started_at.clone());
        merged.duration_ms = merged.duration_ms.max(report.duration_ms);
    }
    let mut totals = Totals {
        scenarios: merged.scenarios.len(),
        ..Totals::default()
    };
    for c in merged.scenarios.iter().flat_map(|s| &s.checks) {
        match c.verdict {
            Verdict::Pass => totals.pass += 1,
            Verdict::Fail => totals.fail += 1,
            Verdict::Unknown => totals.unknown += 1,
            Verdict::Skipped => totals.skipped += 1,
        }
    }
    merged.totals = totals;
    merged.passed = merged.scenarios.iter().all(|s| s.passed);
    Ok(merged)
}
