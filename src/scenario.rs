//! Scenario files: a workload × a delivery policy × faults × checks, as TOML.
//!
//! Parsing is strict (`deny_unknown_fields`: a typo must not switch a fault
//! off) and every error names the file, the line and the key, and says how
//! to fix it. The built-in suite is embedded in the binary.

use crate::check::CheckName;
use crate::contract::Versions;
use crate::fault::Fault;
use crate::producer::DeliveryPolicy;
use crate::workload::WorkloadSpec;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// When the final state is read: all deliveries finished and the CRM quiet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct SettleSpec {
    /// The CRM must see no request for this long.
    #[serde(with = "duration")]
    pub quiet: Duration,
    /// Give up (checks that need the final state say `unknown`) after this long.
    #[serde(with = "duration")]
    pub deadline: Duration,
}

impl Default for SettleSpec {
    fn default() -> Self {
        SettleSpec {
            quiet: Duration::from_millis(1_200),
            deadline: Duration::from_secs(20),
        }
    }
}

/// The `[checks]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct ChecksSpec {
    /// Checks that must pass; empty = every check that applies.
    pub require: Vec<CheckName>,
    /// Whether an `unknown` verdict passes the gate.
    pub allow_unknown: bool,
    /// `ack_latency`: the highest acceptable ack p99.
    #[serde(with = "duration")]
    pub ack_latency_p99: Duration,
    /// `audit_trail`: the lowest acceptable share of CRM writes that carry
    /// the trace context of the event that caused them.
    pub audit_coverage: f64,
    /// `backs_off`: the highest acceptable rate of CRM requests per second
    /// while the CRM is failing them.
    pub max_failing_rate: f64,
}

impl Default for ChecksSpec {
    fn default() -> Self {
        ChecksSpec {
            require: Vec::new(),
            allow_unknown: false,
            ack_latency_p99: Duration::from_millis(200),
            audit_coverage: 1.0,
            max_failing_rate: 40.0,
        }
    }
}

/// The `[delivery]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct DeliverySpec {
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// Per-attempt timeout.
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// Delays before each retry.
    #[serde(with = "durations")]
    pub retry: Vec<Duration>,
    /// Whether `Retry-After` postpones retries.
    pub honor_retry_after: bool,
    /// Signature scheme for this scenario's runs, replacing `--scheme`
    /// (e.g. secret rotation needs a scheme that carries several signatures).
    pub scheme: Option<crate::signing::Scheme>,
}

impl Default for DeliverySpec {
    fn default() -> Self {
        let p = DeliveryPolicy::default();
        DeliverySpec {
            concurrency: p.concurrency,
            timeout: p.timeout,
            retry: p.retry,
            honor_retry_after: p.honor_retry_after,
            scheme: None,
        }
    }
}

impl DeliverySpec {
    /// The producer policy this table describes.
    pub fn policy(&self) -> DeliveryPolicy {
        DeliveryPolicy {
            concurrency: self.concurrency,
            timeout: self.timeout,
            retry: self.retry.clone(),
            honor_retry_after: self.honor_retry_after,
            ..DeliveryPolicy::default()
        }
    }
}

/// A parsed, validated scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Scenario {
    /// Short name (kebab-case).
    pub name: String,
    /// The incident it simulates.
    pub description: String,
    /// Seed of every random choice in the scenario.
    #[serde(default)]
    pub seed: u64,
    /// The workload.
    #[serde(default)]
    pub workload: WorkloadSpec,
    /// The producer's policy.
    #[serde(default)]
    pub delivery: DeliverySpec,
    /// The settle phase.
    #[serde(default)]
    pub settle: SettleSpec,
    /// Faults.
    #[serde(default, rename = "fault")]
    pub faults: Vec<Fault>,
    /// Checks.
    #[serde(default)]
    pub checks: ChecksSpec,
    /// The contract versions of both sides (`[versions]`): the upgrade
    /// rehearsal.
    #[serde(default, skip_serializing_if = "Versions::is_current")]
    pub versions: Versions,
    /// Where it came from (`builtin:NAME` or a path).
    #[serde(skip)]
    pub source: String,
}

/// Raw form used for parsing, so fault tables keep their spans.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawScenario {
    name: String,
    description: String,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    workload: WorkloadSpec,
    #[serde(default)]
    delivery: DeliverySpec,
    #[serde(default)]
    settle: SettleSpec,
    #[serde(default, rename = "fault")]
    faults: Vec<toml::Spanned<Fault>>,
    #[serde(default)]
    checks: ChecksSpec,
    #[serde(default)]
    versions: Versions,
}

/// A scenario file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {message}{}", line.map(|l| format!(":{l}")).unwrap_or_default(), help.as_ref().map(|h| format!("\n  help: {h}")).unwrap_or_default())]
pub struct ScenarioError {
    /// The file (or `builtin:NAME`).
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong, naming the key.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
}

/// The built-in suite, embedded in the binary: `(name, TOML)`.
pub const BUILTIN: &[(&str, &str)] = &[
    ("baseline", include_str!("../scenarios/baseline.toml")),
    ("duplicates", include_str!("../scenarios/duplicates.toml")),
    ("crm-outage", include_str!("../scenarios/crm-outage.toml")),
    ("forgery", include_str!("../scenarios/forgery.toml")),
    (
        "ack-without-processing",
        include_str!("../scenarios/ack-without-processing.toml"),
    ),
    (
        "crash-between-ack-and-commit",
        include_str!("../scenarios/crash-between-ack-and-commit.toml"),
    ),
    ("crm-hang", include_str!("../scenarios/crm-hang.toml")),
    (
        "crm-upgrade-drift",
        include_str!("../scenarios/crm-upgrade-drift.toml"),
    ),
    (
        "dead-letter-blindness",
        include_str!("../scenarios/dead-letter-blindness.toml"),
    ),
    (
        "event-type-overreach",
        include_str!("../scenarios/event-type-overreach.toml"),
    ),
    (
        "helpdesk-rate-limit",
        include_str!("../scenarios/helpdesk-rate-limit.toml"),
    ),
    (
        "no-consumer-backoff",
        include_str!("../scenarios/no-consumer-backoff.toml"),
    ),
    (
        "no-selective-replay",
        include_str!("../scenarios/no-selective-replay.toml"),
    ),
    (
        "partial-batch-failure",
        include_str!("../scenarios/partial-batch-failure.toml"),
    ),
    (
        "payload-version-drift",
        include_str!("../scenarios/payload-version-drift.toml"),
    ),
    ("reordering", include_str!("../scenarios/reordering.toml")),
    (
        "status-clobbering",
        include_str!("../scenarios/status-clobbering.toml"),
    ),
    (
        "timeout-misconfiguration",
        include_str!("../scenarios/timeout-misconfiguration.toml"),
    ),
];

/// The built-in upgrade rehearsals (`scenarios/upgrade/`): the next helpdesk
/// event version and the next CRM API version under faults. Not part of the
/// default suite; `--scenario upgrade` selects them all, or one by name.
pub const UPGRADE: &[(&str, &str)] = &[
    (
        "upgrade-helpdesk-next",
        include_str!("../scenarios/upgrade/helpdesk-next.toml"),
    ),
    (
        "upgrade-crm-next",
        include_str!("../scenarios/upgrade/crm-next.toml"),
    ),
];

/// The `--scenario` name that selects every [`UPGRADE`] rehearsal.
pub const UPGRADE_GROUP: &str = "upgrade";

/// The upgrade rehearsals, parsed.
pub fn upgrade_suite() -> Vec<Scenario> {
    parse_builtin(UPGRADE)
}

fn parse_builtin(set: &[(&str, &str)]) -> Vec<Scenario> {
    set.iter()
        .map(|(name, text)| {
            parse(text, &format!("builtin:{name}")).expect("built-in scenarios are valid")
        })
        .collect()
}

/// Parses and validates scenario TOML; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
    let raw: RawScenario = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| line_of(text, key_offset(text, s.start, e.message())));
        ScenarioError {
            file: file.to_string(),
            line,
            message: e.message().trim().to_string(),
            help: help_for(e.message()),
        }
    })?;
    let err = |span: Option<std::ops::Range<usize>>, message: String, help: Option<String>| {
        ScenarioError {
            file: file.to_string(),
            line: span.map(|s| line_of(text, s.start)),
            message,
            help,
        }
    };
    if raw.name.trim().is_empty()
        || !raw
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(err(
            None,
            format!("key `name`: {:?} is not a valid scenario name", raw.name),
            Some("use letters, digits, `-` and `_` (e.g. `crm-outage`)".into()),
        ));
    }
    if raw.workload.tickets == 0 {
        return Err(err(
            None,
            "key `workload.tickets`: must be at least 1".into(),
            None,
        ));
    }
    if !(0.0..=5.0).contains(&raw.workload.noise) {
        return Err(err(
            None,
            format!(
                "key `workload.noise`: must be between 0 and 5, got {}",
                raw.workload.noise
            ),
            None,
        ));
    }
    if raw.delivery.concurrency == 0 {
        return Err(err(
            None,
            "key `delivery.concurrency`: must be at least 1".into(),
            None,
        ));
    }
    if raw.settle.quiet >= raw.settle.deadline {
        return Err(err(
            None,
            "key `settle.quiet`: must be shorter than `settle.deadline`".into(),
            None,
        ));
    }
    let mut faults = Vec::with_capacity(raw.faults.len());
    for (i, spanned) in raw.faults.into_iter().enumerate() {
        let span = spanned.span();
        let fault = spanned.into_inner();
        if let Err((key, problem)) = fault.validate() {
            return Err(err(
                Some(span),
                format!("key `fault[{i}].{key}` ({}): {problem}", fault.kind()),
                None,
            ));
        }
        if matches!(fault, Fault::Rotation { .. })
            && !raw.delivery.scheme.is_some_and(|s| s.supports_rotation())
        {
            return Err(err(
                Some(span),
                format!(
                    "key `fault[{i}]` (signature.rotation): the scenario's scheme cannot carry two signatures"
                ),
                Some(
                    "set `scheme = \"standard-webhooks\"` (or \"stripe\") under [delivery]".into(),
                ),
            ));
        }
        faults.push(fault);
    }
    Ok(Scenario {
        name: raw.name,
        description: raw.description,
        seed: raw.seed,
        workload: raw.workload,
        delivery: raw.delivery,
        settle: raw.settle,
        faults,
        checks: raw.checks,
        versions: raw.versions,
        source: file.to_string(),
    })
}

/// Loads a scenario from a file.
pub fn load_file(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: path.display().to_string(),
        line: None,
        message: format!("cannot read the scenario file: {e}"),
        help: Some(
            "pass a readable .toml file, or a built-in name (see `hookproof scenarios`)".into(),
        ),
    })?;
    parse(&text, &path.display().to_string())
}

/// The built-in suite, parsed.
pub fn builtin_suite() -> Vec<Scenario> {
    parse_builtin(BUILTIN)
}

/// Resolves a `--scenario` argument: a built-in name, a `.toml` file, or a
/// directory of `.toml` files (sorted by name).
pub fn resolve(arg: &str) -> Result<Vec<Scenario>, ScenarioError> {
    if arg == UPGRADE_GROUP {
        return Ok(upgrade_suite());
    }
    if let Some((name, text)) = BUILTIN.iter().chain(UPGRADE).find(|(name, _)| *name == arg) {
        return Ok(vec![parse(text, &format!("builtin:{name}"))?]);
    }
    let path = PathBuf::from(arg);
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
            .map_err(|e| ScenarioError {
                file: arg.to_string(),
                line: None,
                message: format!("cannot read the directory: {e}"),
                help: None,
            })?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(ScenarioError {
                file: arg.to_string(),
                line: None,
                message: "the directory holds no .toml scenario files".into(),
                help: None,
            });
        }
        return files.iter().map(|f| load_file(f)).collect();
    }
    if path.exists() {
        return Ok(vec![load_file(&path)?]);
    }
    Err(ScenarioError {
        file: arg.to_string(),
        line: None,
        message: "no such scenario file, directory or built-in name".into(),
        help: Some(format!(
            "built-in scenarios: {}; upgrade rehearsals: {} (all: `{UPGRADE_GROUP}`)",
            BUILTIN
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", "),
            UPGRADE
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    })
}

/// For "unknown field `x`" errors toml points at the enclosing table; find
/// the offending key itself after `start` so the line is the key's.
fn key_offset(text: &str, start: usize, message: &str) -> usize {
    let Some(key) = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next())
    else {
        return start;
    };
    let mut offset = start.min(text.len());
    for line in text[offset..].split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            return offset + (line.len() - trimmed.len());
        }
        offset += line.len();
    }
    start
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

fn help_for(message: &str) -> Option<String> {
    if message.contains("unknown field") {
        Some("remove or correct the key; the message lists the keys allowed here".into())
    } else if message.contains("unknown variant") {
        Some("`kind` must be one of the fault kinds the message lists".into())
    } else if message.contains("duration") {
        Some("durations are strings such as \"250ms\", \"2s\" or \"1m\"".into())
    } else {
        None
    }
}

/// Serde helpers for durations written as `"250ms"`, `"2s"`.
pub mod duration {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// Serializes as a humantime string.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    /// Deserializes from a humantime string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(serde::de::Error::custom)
    }

    /// Parses `"250ms"`-style durations with an error that shows the format.
    pub fn parse(text: &str) -> Result<Duration, String> {
        humantime::parse_duration(text.trim()).map_err(|e| {
            format!("invalid duration {text:?} ({e}); write it as \"250ms\", \"2s\" or \"1m\"")
        })
    }
}

/// Serde helpers for optional durations.
pub mod opt_duration {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// Serializes as a humantime string or none.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::duration::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    /// Deserializes from a humantime string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(d)?;
        super::duration::parse(&text)
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}

/// Serde helpers for lists of durations.
pub mod durations {
    use serde::{Deserialize, Deserializer, Serializer, ser::SerializeSeq};
    use std::time::Duration;

    /// Serializes as a list of humantime strings.
    pub fn serialize<S: Serializer>(ds: &[Duration], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(ds.len()))?;
        for d in ds {
            seq.serialize_element(&humantime::format_duration(*d).to_string())?;
        }
        seq.end()
    }

    /// Deserializes from a list of humantime strings.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        texts
            .iter()
            .map(|t| super::duration::parse(t))
            .collect::<Result<_, _>>()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse() {
        let suite = builtin_suite();
        assert_eq!(suite.len(), BUILTIN.len());
        for s in &suite {
            assert!(!s.description.is_empty(), "{}", s.name);
        }
    }

    #[test]
    fn typo_names_file_line_and_key() {
        let text =
            "name = \"x\"\ndescription = \"d\"\n\n[[fault]]\nkind = \"crm.status\"\nstauts = 503\n";
        let e = parse(text, "scenarios/x.toml").unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("scenarios/x.toml:"), "{msg}");
        assert!(msg.contains("stauts"), "{msg}");
        assert_eq!(e.line, Some(6), "{e:?}");
    }

    #[test]
    fn bad_duration_shows_the_format() {
        let text = "name = \"x\"\ndescription = \"d\"\n[delivery]\ntimeout = \"2 parsecs\"\n";
        let msg = parse(text, "x.toml").unwrap_err().to_string();
        assert!(msg.contains("x.toml:4"), "{msg}");
        assert!(msg.contains("250ms"), "{msg}");
    }

    #[test]
    fn semantic_error_points_at_the_fault_table() {
        let text = "name = \"x\"\ndescription = \"d\"\n\n[[fault]]\nkind = \"delivery.duplicate\"\nfraction = 3.0\n";
        let e = parse(text, "x.toml").unwrap_err();
        assert!(e.message.contains("fault[0].fraction"), "{e}");
        assert!(e.line.is_some_and(|l| (4..=6).contains(&l)), "{e:?}");
    }

    #[test]
    fn rotation_needs_a_scheme_with_several_signatures() {
        let text = "name = \"x\"\ndescription = \"d\"\n[[fault]]\nkind = \"signature.rotation\"\n";
        let e = parse(text, "x.toml").unwrap_err();
        assert!(e.to_string().contains("standard-webhooks"), "{e}");
        let ok = "name = \"x\"\ndescription = \"d\"\n[delivery]\nscheme = \"standard-webhooks\"\n[[fault]]\nkind = \"signature.rotation\"\n";
        assert!(parse(ok, "x.toml").is_ok());
    }

    #[test]
    fn unknown_check_lists_valid_names() {
        let text = "name = \"x\"\ndescription = \"d\"\n[checks]\nrequire = [\"no_lost\"]\n";
        let msg = parse(text, "x.toml").unwrap_err().to_string();
        assert!(msg.contains("no_lost") && msg.contains("no_loss"), "{msg}");
    }

    #[test]
    fn resolve_unknown_name_lists_builtins() {
        let msg = resolve("no-such-scenario").unwrap_err().to_string();
        assert!(msg.contains("baseline"), "{msg}");
    }
}
