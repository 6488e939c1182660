//! The project file `hookproof.toml`: how to start the SUT (command, paths,
//! signature scheme), the producer's delivery preset, and optionally the
//! SUT's declared mapping, which enables the expected-state oracle.
//!
//! ```toml
//! [sut]
//! command = "python3 receiver.py"
//! webhook-path = "/webhooks/helpdesk"
//! health-path = "/healthz"
//! idle-path = "/hookproof/idle"
//! scheme = "zendesk"
//! startup-timeout = "15s"
//! delivery-preset = "zendesk"
//!
//! [[mapping.object]]
//! object = "tickets"
//! property = "helpdesk_ticket_id"
//! key = "ticket.id"
//! owns = ["subject", "content", "hs_pipeline_stage"]
//!
//! [[mapping.association]]
//! from = "tickets"
//! to = "contacts"
//! ```
//!
//! Flags on the command line override the file; `mapping = "canonical"` under
//! `[sut]` declares the bundled reference receiver's mapping.

use crate::check::Mapping;
use crate::producer::Preset;
use crate::scenario::ScenarioError;
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

/// The `[sut]` table.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SutSection {
    /// Command that starts the SUT.
    pub command: Option<String>,
    /// Webhook path.
    pub webhook_path: Option<String>,
    /// Readiness path.
    pub health_path: Option<String>,
    /// Idle probe path (2xx when the SUT has no unfinished work).
    pub idle_path: Option<String>,
    /// Signature scheme name.
    pub scheme: Option<String>,
    /// How long the SUT may take to become ready.
    #[serde(default, with = "crate::scenario::opt_duration")]
    pub startup_timeout: Option<Duration>,
    /// A real producer's retry policy, replacing each scenario's `[delivery]`.
    pub delivery_preset: Option<Preset>,
    /// `"canonical"`: the SUT implements the reference receiver's mapping.
    pub mapping: Option<String>,
}

/// A parsed `hookproof.toml`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Project {
    /// The SUT.
    #[serde(default)]
    pub sut: SutSection,
    /// The declared mapping.
    #[serde(default)]
    pub mapping: Option<Mapping>,
}

impl Project {
    /// The declared mapping: the `[mapping]` tables, or the canonical one
    /// when `[sut] mapping = "canonical"`.
    pub fn declared_mapping(&self) -> Option<Mapping> {
        self.mapping
            .clone()
            .or_else(|| (self.sut.mapping.as_deref() == Some("canonical")).then(Mapping::canonical))
    }
}

/// Parses project TOML; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Project, ScenarioError> {
    let project: Project = toml::from_str(text).map_err(|e| ScenarioError {
        file: file.to_string(),
        line: e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1),
        message: e.message().trim().to_string(),
        help: Some("see the `hookproof.toml` format in the README".into()),
    })?;
    if let Some(m) = &project.sut.mapping
        && m != "canonical"
    {
        return Err(ScenarioError {
            file: file.to_string(),
            line: None,
            message: format!("key `sut.mapping`: unknown mapping {m:?}"),
            help: Some("use \"canonical\", or declare [[mapping.object]] tables".into()),
        });
    }
    if project.sut.mapping.is_some() && project.mapping.is_some() {
        return Err(ScenarioError {
            file: file.to_string(),
            line: None,
            message: "`sut.mapping` and [mapping] tables are both set".into(),
            help: Some("keep one of them".into()),
        });
    }
    if let Some(m) = &project.mapping {
        for (i, o) in m.objects.iter().enumerate() {
            if !crate::crm::OBJECT_TYPES.contains(&o.object.as_str()) {
                return Err(ScenarioError {
                    file: file.to_string(),
                    line: None,
                    message: format!(
                        "key `mapping.object[{i}].object`: unknown CRM object type {:?}",
                        o.object
                    ),
                    help: Some(format!(
                        "use one of {}",
                        crate::crm::OBJECT_TYPES.join(", ")
                    )),
                });
            }
        }
    }
    Ok(project)
}

/// Loads `hookproof.toml`; `Ok(None)` when `path` does not exist and was
/// not asked for explicitly.
pub fn load(path: &Path, explicit: bool) -> Result<Option<Project>, ScenarioError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, &path.display().to_string()).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => Ok(None),
        Err(e) => Err(ScenarioError {
            file: path.display().to_string(),
            line: None,
            message: format!("cannot read the project file: {e}"),
            help: Some("pass an existing file to --config".into()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sut_mapping_and_preset() {
        let p = parse(
            r#"
            [sut]
            command = "python3 r.py"
            scheme = "standard-webhooks"
            startup-timeout = "5s"
            delivery-preset = "svix"

            [[mapping.object]]
            object = "tickets"
            property = "helpdesk_ticket_id"
            key = "ticket.id"

            [[mapping.association]]
            from = "tickets"
            to = "contacts"
            "#,
            "hookproof.toml",
        )
        .unwrap();
        assert_eq!(p.sut.command.as_deref(), Some("python3 r.py"));
        assert_eq!(p.sut.startup_timeout, Some(Duration::from_secs(5)));
        assert_eq!(p.sut.delivery_preset, Some(Preset::Svix));
        let m = p.declared_mapping().unwrap();
        assert_eq!(m.objects[0].property, "helpdesk_ticket_id");
        assert_eq!(m.associations[0].to, "contacts");
    }

    #[test]
    fn the_example_file_declares_the_canonical_mapping() {
        let p = parse(
            include_str!("../examples/hookproof.toml"),
            "examples/hookproof.toml",
        )
        .unwrap();
        assert_eq!(p.declared_mapping(), Some(Mapping::canonical()));
    }

    #[test]
    fn canonical_mapping_by_name() {
        let p = parse("[sut]\nmapping = \"canonical\"\n", "h.toml").unwrap();
        assert_eq!(p.declared_mapping(), Some(Mapping::canonical()));
        let e = parse("[sut]\nmapping = \"mine\"\n", "h.toml").unwrap_err();
        assert!(e.to_string().contains("sut.mapping"), "{e}");
    }

    #[test]
    fn typos_name_file_and_line() {
        let e = parse(
            "[sut]\ncommand = \"x\"\nhealth_path = \"/h\"\n",
            "hookproof.toml",
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("hookproof.toml:"), "{msg}");
        assert!(msg.contains("health_path"), "{msg}");
        let e = parse(
            "[[mapping.object]]\nobject = \"deals\"\nproperty = \"x\"\nkey = \"ticket.id\"\n",
            "h.toml",
        )
        .unwrap_err();
        assert!(e.to_string().contains("deals"), "{e}");
    }
}
