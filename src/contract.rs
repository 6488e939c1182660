//! JSON Schema contracts for every payload in both directions.
//!
//! hookproof checks what flows through it against JSON Schema (draft
//! 2020-12) contracts: the helpdesk events it produces (so a scenario never
//! sends something a real Zendesk would not) and the requests the SUT sends
//! to the mock CRM (a request that breaks the contract gets HubSpot's 400 and
//! is recorded as a `contract` violation).
//!
//! The contracts live in `contracts/` (see its `README.md`) and are embedded
//! in the binary ([`Contracts::builtin`]); [`Contracts::load_dir`] loads the
//! same layout from disk so users can bring their own versions. Which file
//! applies is decided by its name:
//!
//! | file | applies to |
//! |---|---|
//! | `zendesk/event.json` | the envelope of every event (required) |
//! | `zendesk/{kind}.{change}.json` | events whose `type` is `zen:event-type:{kind}.{change}` |
//! | `zendesk/{name}.json` (no dot in `{name}`) | a shared piece, e.g. `ticket.json`, only applied through `$ref` |
//! | `hubspot/{object}.{operation}.json` | requests to the CRM for that object type and [`CrmOperation`] |
//! | `hubspot/common.json` (no dot) | shared pieces, only applied through `$ref` |
//!
//! Events of a type without its own file (noise such as
//! `ticket.tags_changed`) are checked against the envelope only. A CRM
//! request without a contract file has no contract to break.
//!
//! `$ref`s between files are relative (`"$ref": "ticket.json#/$defs/status"`)
//! and resolved from the loaded set only: nothing is fetched from the network
//! or the file system at validation time. Formats (`date-time`, `uuid`, …)
//! are validated.

pub mod diff;
pub mod import;

use jsonschema::{Draft, Registry, Validator};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

/// An operation on the CRM objects API whose request body has a contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrmOperation {
    /// `POST /crm/v3/objects/{type}`
    Create,
    /// `PATCH /crm/v3/objects/{type}/{id}`
    Patch,
    /// `POST /crm/v3/objects/{type}/search`
    Search,
    /// `POST /crm/v3/objects/{type}/batch/upsert`
    BatchUpsert,
    /// `POST /crm/v3/objects/{type}/batch/create`
    BatchCreate,
    /// `POST /crm/v3/objects/{type}/batch/update`
    BatchUpdate,
}

impl CrmOperation {
    /// Every operation, in a stable order.
    pub const ALL: [CrmOperation; 6] = [
        CrmOperation::Create,
        CrmOperation::Patch,
        CrmOperation::Search,
        CrmOperation::BatchUpsert,
        CrmOperation::BatchCreate,
        CrmOperation::BatchUpdate,
    ];

    /// The name used in contract file names: `create`, `patch`, `search`,
    /// `batch-upsert`, `batch-create`, `batch-update`.
    pub fn name(&self) -> &'static str {
        match self {
            CrmOperation::Create => "create",
            CrmOperation::Patch => "patch",
            CrmOperation::Search => "search",
            CrmOperation::BatchUpsert => "batch-upsert",
            CrmOperation::BatchCreate => "batch-create",
            CrmOperation::BatchUpdate => "batch-update",
        }
    }

    /// The operation named `name` (see [`CrmOperation::name`]).
    pub fn from_name(name: &str) -> Option<Self> {
        CrmOperation::ALL.into_iter().find(|op| op.name() == name)
    }
}

impl fmt::Display for CrmOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One contract violation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Violation {
    /// Contract file, relative to the contracts root, e.g. `zendesk/ticket.created.json`.
    pub contract: String,
    /// JSON pointer into the payload, e.g. `/detail/status`.
    pub pointer: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pointer = if self.pointer.is_empty() {
            "(root)"
        } else {
            &self.pointer
        };
        write!(f, "{} at {pointer}: {}", self.contract, self.message)
    }
}

/// The event envelope contract, applied to every event.
pub const ENVELOPE: &str = "zendesk/event.json";

/// The prefix of Zendesk event types.
pub const EVENT_TYPE_PREFIX: &str = "zen:event-type:";

/// Files every contract directory must have: the envelope and the event
/// types hookproof's workload generates.
pub const REQUIRED_FILES: &[&str] = &[
    ENVELOPE,
    "zendesk/ticket.created.json",
    "zendesk/ticket.status_changed.json",
    "zendesk/ticket.priority_changed.json",
    "zendesk/ticket.comment_added.json",
];

/// The base URI contract files are registered under; relative `$ref`s
/// resolve against it. Never fetched.
const BASE_URI: &str = "https://contracts.hookproof.invalid/";

/// `[(name, include_str!("../{root}/{name}")), …]`: a contract set embedded
/// in the binary.
macro_rules! embedded {
    ($root:literal; $($file:literal),* $(,)?) => {
        &[$(($file, include_str!(concat!("../", $root, "/", $file)))),*]
    };
}

/// The contracts shipped with hookproof, as (path relative to `contracts/`, text).
const BUILTIN: &[(&str, &str)] = embedded!["contracts";
    "zendesk/event.json",
    "zendesk/ticket.json",
    "zendesk/ticket.created.json",
    "zendesk/ticket.status_changed.json",
    "zendesk/ticket.priority_changed.json",
    "zendesk/ticket.comment_added.json",
    "hubspot/common.json",
    "hubspot/contacts.create.json",
    "hubspot/contacts.patch.json",
    "hubspot/contacts.search.json",
    "hubspot/contacts.batch-upsert.json",
    "hubspot/contacts.batch-create.json",
    "hubspot/contacts.batch-update.json",
    "hubspot/tickets.create.json",
    "hubspot/tickets.patch.json",
    "hubspot/tickets.search.json",
    "hubspot/tickets.batch-upsert.json",
    "hubspot/tickets.batch-create.json",
    "hubspot/tickets.batch-update.json",
    "hubspot/notes.create.json",
    "hubspot/notes.patch.json",
    "hubspot/notes.search.json",
    "hubspot/notes.batch-upsert.json",
    "hubspot/notes.batch-create.json",
    "hubspot/notes.batch-update.json",
];

/// The next versions shipped with hookproof (`contracts/next/`), as (path
/// relative to `contracts/next/`, text).
const BUILTIN_NEXT: &[(&str, &str)] = embedded!["contracts/next";
    "zendesk/event.json",
    "zendesk/ticket.json",
    "zendesk/ticket.created.json",
    "zendesk/ticket.status_changed.json",
    "zendesk/ticket.priority_changed.json",
    "zendesk/ticket.comment_added.json",
    "zendesk/ticket.escalation_level_changed.json",
    "zendesk/ticket.merged.json",
    "hubspot/common.json",
    "hubspot/contacts.create.json",
    "hubspot/contacts.patch.json",
    "hubspot/contacts.search.json",
    "hubspot/contacts.batch-upsert.json",
    "hubspot/contacts.batch-create.json",
    "hubspot/contacts.batch-update.json",
    "hubspot/tickets.create.json",
    "hubspot/tickets.patch.json",
    "hubspot/tickets.search.json",
    "hubspot/tickets.batch-upsert.json",
    "hubspot/tickets.batch-create.json",
    "hubspot/tickets.batch-update.json",
    "hubspot/notes.create.json",
    "hubspot/notes.patch.json",
    "hubspot/notes.search.json",
    "hubspot/notes.batch-upsert.json",
    "hubspot/notes.batch-create.json",
    "hubspot/notes.batch-update.json",
];

/// Which version of one side's contracts (and payloads) a run uses.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ApiVersion {
    /// The version in production today (`contracts/`).
    #[default]
    Current,
    /// The version a user is about to upgrade to (`contracts/next/`).
    Next,
}

impl ApiVersion {
    /// `current` or `next`.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::Current => "current",
            ApiVersion::Next => "next",
        }
    }

    /// The version named `name` (`current` or `next`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "current" => Some(ApiVersion::Current),
            "next" => Some(ApiVersion::Next),
            _ => None,
        }
    }
}

/// The contract versions of both sides of a run: a scenario's `[versions]`
/// table.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(deny_unknown_fields, default)]
pub struct Versions {
    /// The helpdesk's event version: `next` sends every event in the next
    /// payload version (and new event types) and validates them against
    /// `next/zendesk/`.
    pub helpdesk: ApiVersion,
    /// The CRM API version: `next` makes the mock CRM enforce `next/hubspot/`.
    pub crm: ApiVersion,
}

impl Versions {
    /// Both sides at their current version.
    pub fn is_current(&self) -> bool {
        *self == Versions::default()
    }
}

/// Where a run's contracts come from: the sets embedded in the binary, or a
/// directory laid out like `contracts/` (with the next versions, when used,
/// in its `next/` subdirectory).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ContractSource {
    /// `contracts/` and `contracts/next/` as shipped.
    #[default]
    Builtin,
    /// A user's directory (`--contracts DIR`).
    Dir(PathBuf),
}

impl ContractSource {
    /// Loads and compiles the contracts of `versions`: `zendesk/` from the
    /// helpdesk's version, `hubspot/` from the CRM's.
    ///
    /// # Errors
    ///
    /// As [`Contracts::load_dir`]; [`ContractError::MissingVersion`] when a
    /// directory has no `next/` set and `versions` asks for it.
    pub fn load(&self, versions: Versions) -> Result<Contracts, ContractError> {
        if versions.is_current() {
            return match self {
                ContractSource::Builtin => Contracts::builtin(),
                ContractSource::Dir(dir) => Contracts::load_dir(dir),
            };
        }
        let mut files = Vec::new();
        for (profile, version) in [("zendesk/", versions.helpdesk), ("hubspot/", versions.crm)] {
            let set = match (self, version) {
                (ContractSource::Builtin, ApiVersion::Current) => parse_embedded(BUILTIN)?,
                (ContractSource::Builtin, ApiVersion::Next) => parse_embedded(BUILTIN_NEXT)?,
                (ContractSource::Dir(dir), ApiVersion::Current) => read_contract_dir(dir)?,
                (ContractSource::Dir(dir), ApiVersion::Next) => {
                    let next = dir.join("next");
                    if !next.is_dir() {
                        return Err(ContractError::MissingVersion { dir: dir.clone() });
                    }
                    read_contract_dir(&next)?
                }
            };
            files.extend(
                set.into_iter()
                    .filter(|(name, _)| name.starts_with(profile)),
            );
        }
        let origin = match self {
            ContractSource::Builtin => "built-in".to_owned(),
            ContractSource::Dir(dir) => dir.display().to_string(),
        };
        let origin = format!(
            "{origin} (helpdesk {}, crm {})",
            versions.helpdesk.as_str(),
            versions.crm.as_str()
        );
        require_files(Path::new(&origin), &files)?;
        Contracts::compile(origin, files)
    }
}

/// The `*.json` files of `dir/zendesk/` and `dir/hubspot/`, parsed, by
/// name relative to `dir`.
fn read_contract_dir(dir: &Path) -> Result<Vec<(String, Value)>, ContractError> {
    let mut files = Vec::new();
    for profile in ["zendesk", "hubspot"] {
        let sub = dir.join(profile);
        if !sub.exists() {
            continue;
        }
        let entries = std::fs::read_dir(&sub).map_err(|source| ContractError::UnreadableDir {
            path: sub.clone(),
            source,
        })?;
        let mut paths = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| ContractError::UnreadableDir {
                path: sub.clone(),
                source,
            })?;
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "json") {
                paths.push(path);
            }
        }
        paths.sort();
        for path in paths {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                return Err(ContractError::BadFileName {
                    file: path.display().to_string(),
                    reason: "file names must be UTF-8".into(),
                });
            };
            let rel = format!("{profile}/{name}");
            let text =
                std::fs::read_to_string(&path).map_err(|source| ContractError::UnreadableFile {
                    path: path.clone(),
                    source,
                })?;
            let value = parse(&rel, &text)?;
            files.push((rel, value));
        }
    }
    Ok(files)
}

fn parse_embedded(set: &[(&str, &str)]) -> Result<Vec<(String, Value)>, ContractError> {
    set.iter()
        .map(|(name, text)| Ok(((*name).to_owned(), parse(name, text)?)))
        .collect()
}

fn require_files(dir: &Path, files: &[(String, Value)]) -> Result<(), ContractError> {
    for required in REQUIRED_FILES {
        if !files.iter().any(|(name, _)| name == required) {
            return Err(ContractError::MissingFile {
                dir: dir.to_owned(),
                file: required,
            });
        }
    }
    Ok(())
}

/// An error loading or compiling contracts. Each names the file and says how
/// to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContractError {
    /// The contracts directory cannot be listed.
    #[error("cannot read contracts directory {}: {source}; check the path", path.display())]
    UnreadableDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A contract file cannot be read.
    #[error("cannot read contract file {}: {source}; check it exists and is readable", path.display())]
    UnreadableFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A contract file is not JSON.
    #[error("{file}:{line}:{column}: invalid JSON: {message}; fix the syntax")]
    InvalidJson {
        /// File, relative to the contracts root.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// A contract file is JSON but not a valid draft 2020-12 schema, or it
    /// does not compile (bad `$ref`, bad regex…).
    #[error(
        "{file}: invalid schema at `{pointer}`: {message}; contracts must be JSON Schema draft 2020-12 with `$ref`s to files in the same set"
    )]
    InvalidSchema {
        /// File, relative to the contracts root.
        file: String,
        /// JSON pointer to the offending keyword in the file.
        pointer: String,
        /// What is wrong.
        message: String,
    },
    /// A file the layout requires is absent.
    #[error(
        "required contract file {file} is missing under {}; copy it from hookproof's built-in contracts/ directory", dir.display()
    )]
    MissingFile {
        /// The contracts root.
        dir: PathBuf,
        /// The missing file, relative to the root.
        file: &'static str,
    },
    /// A run asks for the next contract versions and the directory has none.
    #[error(
        "{}: no next/ contract set (expected {}/next/zendesk/ and {}/next/hubspot/); copy hookproof's contracts/next/ there and edit it, or do not ask for `next` ([versions] in the scenario, --helpdesk-version, --crm-version)",
        dir.display(), dir.display(), dir.display()
    )]
    MissingVersion {
        /// The contracts root given with `--contracts`.
        dir: PathBuf,
    },
    /// A file's name does not follow the naming convention, so it would
    /// silently never apply.
    #[error("{file}: {reason}; see contracts/README.md for the naming convention")]
    BadFileName {
        /// File, relative to the contracts root.
        file: String,
        /// Why the name is not understood.
        reason: String,
    },
}

/// The error for [`Contracts::validate_with`] naming a contract that is not loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no contract named `{0}` (expected a path such as `zendesk/ticket.created.json`)")]
pub struct UnknownContract(pub String);

/// The compiled contract set. Compile once, validate many times: it is
/// `Send + Sync` and cheap to share behind an `Arc`.
pub struct Contracts {
    /// Where the set came from, for messages: `built-in` or a directory.
    origin: String,
    /// Every file, compiled, by path relative to the root.
    schemas: BTreeMap<String, Validator>,
    /// Event type suffix (after `zen:event-type:`) to file.
    events: HashMap<String, String>,
    /// (object type, operation) to file.
    crm: HashMap<(String, CrmOperation), String>,
}

impl fmt::Debug for Contracts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Contracts")
            .field("origin", &self.origin)
            .field("files", &self.schemas.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// What a contract file is for, from its name.
enum Role {
    Envelope,
    Event(String),
    Crm(String, CrmOperation),
    Shared,
}

fn role(file: &str) -> Result<Role, ContractError> {
    let bad = |reason: String| ContractError::BadFileName {
        file: file.to_owned(),
        reason,
    };
    let (dir, name) = file
        .split_once('/')
        .ok_or_else(|| bad("contract files live in zendesk/ or hubspot/".into()))?;
    let stem = name
        .strip_suffix(".json")
        .ok_or_else(|| bad("contract files end in .json".into()))?;
    if stem.contains('/') {
        return Err(bad("no subdirectories below zendesk/ or hubspot/".into()));
    }
    match dir {
        "zendesk" if file == ENVELOPE => Ok(Role::Envelope),
        "zendesk" if stem.contains('.') => Ok(Role::Event(stem.to_owned())),
        "zendesk" | "hubspot" if !stem.contains('.') => Ok(Role::Shared),
        "hubspot" => {
            let (object, op) = stem.split_once('.').unwrap_or((stem, ""));
            let op = CrmOperation::from_name(op).ok_or_else(|| {
                bad(format!(
                    "`{op}` is not an operation (expected hubspot/{{object}}.{{operation}}.json with operation one of {})",
                    CrmOperation::ALL.map(|o| o.name()).join(", ")
                ))
            })?;
            Ok(Role::Crm(object.to_owned(), op))
        }
        other => Err(bad(format!(
            "unknown profile directory `{other}` (expected zendesk or hubspot)"
        ))),
    }
}

impl Contracts {
    /// The contracts shipped with hookproof (embedded in the binary).
    ///
    /// # Errors
    ///
    /// Only if the shipped files are broken (a bug, caught by the tests).
    pub fn builtin() -> Result<Self, ContractError> {
        Self::compile("built-in".to_owned(), parse_embedded(BUILTIN)?)
    }

    /// Loads and compiles every contract under `dir` (layout as in `contracts/`:
    /// `*.json` files in `dir/zendesk/` and `dir/hubspot/`; other files, such
    /// as a README, are ignored).
    ///
    /// # Errors
    ///
    /// A [`ContractError`] naming the first file that cannot be read, parsed,
    /// compiled or placed, or the first required file that is missing.
    pub fn load_dir(dir: &Path) -> Result<Self, ContractError> {
        let files = read_contract_dir(dir)?;
        require_files(dir, &files)?;
        Self::compile(dir.display().to_string(), files)
    }

    fn compile(origin: String, files: Vec<(String, Value)>) -> Result<Self, ContractError> {
        let mut events = HashMap::new();
        let mut crm = HashMap::new();
        let names: Vec<&str> = files.iter().map(|(file, _)| file.as_str()).collect();
        for (file, schema) in &files {
            check_schema(file, schema)?;
            check_refs(file, schema, "", &names)?;
            match role(file)? {
                Role::Envelope | Role::Shared => {}
                Role::Event(kind) => {
                    events.insert(kind, file.clone());
                }
                Role::Crm(object, op) => {
                    crm.insert((object, op), file.clone());
                }
            }
        }
        let registry = Registry::new()
            .draft(Draft::Draft202012)
            .extend(
                files
                    .iter()
                    .map(|(file, schema)| (format!("{BASE_URI}{file}"), schema)),
            )
            .and_then(|builder| builder.prepare())
            .map_err(|e| ContractError::InvalidSchema {
                file: "(contract set)".into(),
                pointer: String::new(),
                message: e.to_string(),
            })?;
        let mut schemas = BTreeMap::new();
        for (file, _) in &files {
            let root = serde_json::json!({ "$ref": format!("{BASE_URI}{file}") });
            let validator = jsonschema::options()
                .with_draft(Draft::Draft202012)
                .with_registry(&registry)
                .should_validate_formats(true)
                .offline()
                .build(&root)
                .map_err(|e| ContractError::InvalidSchema {
                    file: file.clone(),
                    pointer: e.instance_path().as_str().to_owned(),
                    message: e.to_string(),
                })?;
            schemas.insert(file.clone(), validator);
        }
        Ok(Contracts {
            origin,
            schemas,
            events,
            crm,
        })
    }

    /// The contract file applied to events of `event_type`
    /// (`zen:event-type:ticket.created` → `zendesk/ticket.created.json`); the
    /// envelope for types without their own file; `None` for a type that
    /// is not a Zendesk event type at all.
    pub fn contract_for_event(&self, event_type: &str) -> Option<&str> {
        let kind = event_type.strip_prefix(EVENT_TYPE_PREFIX)?;
        Some(self.events.get(kind).map_or(ENVELOPE, String::as_str))
    }

    /// The contract file for a CRM request, if there is one.
    pub fn contract_for_crm(&self, object_type: &str, op: CrmOperation) -> Option<&str> {
        self.crm
            .get(&(object_type.to_owned(), op))
            .map(String::as_str)
    }

    /// Every loaded contract file, relative to the root, sorted.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.schemas.keys().map(String::as_str)
    }

    /// Validates a helpdesk webhook event (envelope + its type's schema).
    ///
    /// An event whose `type` is missing or not a `zen:event-type:` string is
    /// checked against the envelope, which reports that.
    pub fn validate_event(&self, event: &Value) -> Vec<Violation> {
        let file = event
            .get("type")
            .and_then(Value::as_str)
            .and_then(|t| self.contract_for_event(t))
            .unwrap_or(ENVELOPE);
        self.run(file, event)
    }

    /// Validates the body of a request the SUT sends to the CRM. An object
    /// type and operation without a contract file yield no violations (see
    /// [`Contracts::contract_for_crm`]).
    pub fn validate_crm_request(
        &self,
        object_type: &str,
        op: CrmOperation,
        body: &Value,
    ) -> Vec<Violation> {
        match self.contract_for_crm(object_type, op) {
            Some(file) => self.run(file, body),
            None => Vec::new(),
        }
    }

    /// Validates `value` against the contract file `contract` (a path
    /// relative to the root, e.g. `hubspot/notes.create.json`), for
    /// recorded payloads.
    ///
    /// # Errors
    ///
    /// [`UnknownContract`] when no such file is loaded.
    pub fn validate_with(
        &self,
        contract: &str,
        value: &Value,
    ) -> Result<Vec<Violation>, UnknownContract> {
        let file = self
            .schemas
            .get_key_value(contract)
            .map(|(k, _)| k.as_str())
            .ok_or_else(|| UnknownContract(contract.to_owned()))?;
        Ok(self.run(file, value))
    }

    fn run(&self, file: &str, value: &Value) -> Vec<Violation> {
        let Some(validator) = self.schemas.get(file) else {
            return Vec::new();
        };
        if validator.is_valid(value) {
            return Vec::new();
        }
        validator
            .iter_errors(value)
            .map(|e| Violation {
                contract: file.to_owned(),
                pointer: e.instance_path().as_str().to_owned(),
                message: e.to_string(),
            })
            .collect()
    }
}

fn parse(file: &str, text: &str) -> Result<Value, ContractError> {
    serde_json::from_str(text).map_err(|e| ContractError::InvalidJson {
        file: file.to_owned(),
        line: e.line(),
        column: e.column(),
        message: strip_position(&e.to_string()),
    })
}

/// serde_json appends " at line L column C"; the error puts it up front.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Checks that every `$ref` in `file` points into the loaded set, so a
/// dangling reference is reported in the file that holds it.
fn check_refs(
    file: &str,
    node: &Value,
    pointer: &str,
    names: &[&str],
) -> Result<(), ContractError> {
    match node {
        Value::Object(map) => {
            if pointer.is_empty() && map.contains_key("$id") {
                return Ok(()); // a file with its own base URI: left to the compiler
            }
            for (key, value) in map {
                let here = format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
                if key == "$ref"
                    && let Value::String(reference) = value
                {
                    check_ref(file, reference, &here, names)?;
                } else {
                    check_refs(file, value, &here, names)?;
                }
            }
            Ok(())
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| check_refs(file, item, &format!("{pointer}/{i}"), names)),
        _ => Ok(()),
    }
}

fn check_ref(
    file: &str,
    reference: &str,
    pointer: &str,
    names: &[&str],
) -> Result<(), ContractError> {
    let target = reference.split('#').next().unwrap_or_default();
    if target.is_empty() {
        return Ok(()); // same file; fragments are checked when compiling
    }
    let error = |message: String| ContractError::InvalidSchema {
        file: file.to_owned(),
        pointer: pointer.to_owned(),
        message,
    };
    if target.contains(':') {
        return Err(error(format!(
            "`{reference}` is not fetched: refer to other contract files by relative path, e.g. \"ticket.json\""
        )));
    }
    let mut parts: Vec<&str> = file.split('/').collect();
    parts.pop();
    for segment in target.split('/') {
        match segment {
            "." | "" => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let resolved = parts.join("/");
    if names.contains(&resolved.as_str()) {
        Ok(())
    } else {
        Err(error(format!(
            "`{reference}` refers to {resolved}, which is not in the contract set"
        )))
    }
}

/// Checks `schema` against the draft 2020-12 meta-schema, so a bad keyword
/// is reported with its pointer in the file.
fn check_schema(file: &str, schema: &Value) -> Result<(), ContractError> {
    if !schema.is_object() {
        return Err(ContractError::InvalidSchema {
            file: file.to_owned(),
            pointer: String::new(),
            message: "a contract must be a JSON object".into(),
        });
    }
    if let Some(declared) = schema.get("$schema")
        && declared != "https://json-schema.org/draft/2020-12/schema"
    {
        return Err(ContractError::InvalidSchema {
            file: file.to_owned(),
            pointer: "/$schema".into(),
            message: format!(
                "{declared} is not supported (use \"https://json-schema.org/draft/2020-12/schema\")"
            ),
        });
    }
    jsonschema::draft202012::meta::validate(schema).map_err(|e| ContractError::InvalidSchema {
        file: file.to_owned(),
        pointer: e.instance_path().as_str().to_owned(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn builtin() -> Contracts {
        Contracts::builtin().unwrap_or_else(|e| panic!("built-in contracts compile: {e}"))
    }

    fn payload(rel: &str) -> Value {
        let path = format!("{}/tests/data/payloads/{rel}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn pointers(violations: &[Violation]) -> Vec<&str> {
        violations.iter().map(|v| v.pointer.as_str()).collect()
    }

    #[test]
    fn contracts_are_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Contracts>();
    }

    #[test]
    fn builtin_lists_match_the_contracts_dirs() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("contracts");
        for (dir, set) in [(root.clone(), BUILTIN), (root.join("next"), BUILTIN_NEXT)] {
            let mut on_disk = Vec::new();
            for profile in ["zendesk", "hubspot"] {
                for entry in std::fs::read_dir(dir.join(profile)).expect("readable") {
                    let name = entry
                        .expect("entry")
                        .file_name()
                        .into_string()
                        .expect("utf-8");
                    if name.ends_with(".json") {
                        on_disk.push(format!("{profile}/{name}"));
                    }
                }
            }
            on_disk.sort();
            let mut listed: Vec<String> = set.iter().map(|(n, _)| (*n).to_owned()).collect();
            listed.sort();
            assert_eq!(
                listed,
                on_disk,
                "every file under {} is embedded",
                dir.display()
            );
        }
        // And the directory loads to the same set, in every version mix.
        let loaded = Contracts::load_dir(&root).expect("contracts/ loads");
        assert_eq!(
            loaded.files().collect::<Vec<_>>(),
            builtin().files().collect::<Vec<_>>()
        );
        for helpdesk in [ApiVersion::Current, ApiVersion::Next] {
            for crm in [ApiVersion::Current, ApiVersion::Next] {
                let v = Versions { helpdesk, crm };
                let from_dir = ContractSource::Dir(root.clone())
                    .load(v)
                    .expect("dir loads");
                let embedded = ContractSource::Builtin.load(v).expect("built-in loads");
                assert_eq!(
                    from_dir.files().collect::<Vec<_>>(),
                    embedded.files().collect::<Vec<_>>(),
                    "{v:?}"
                );
            }
        }
    }

    #[test]
    fn versions_take_each_side_from_its_own_set() {
        let v = |helpdesk, crm| {
            ContractSource::Builtin
                .load(Versions { helpdesk, crm })
                .expect("loads")
        };
        let files = |c: &Contracts| c.files().map(str::to_owned).collect::<Vec<_>>();
        let next_events = v(ApiVersion::Next, ApiVersion::Current);
        assert!(files(&next_events).contains(&"zendesk/ticket.merged.json".to_owned()));
        let current = v(ApiVersion::Current, ApiVersion::Current);
        assert!(!files(&current).contains(&"zendesk/ticket.merged.json".to_owned()));
        // A v1 event breaks the next contract (no region, old version),
        // and a ticket create without hs_pipeline breaks only the next CRM.
        let event = payload("zendesk/ticket_created.json");
        assert!(current.validate_event(&event).is_empty());
        assert!(!next_events.validate_event(&event).is_empty());
        let create = serde_json::json!({"properties": {"subject": "s", "hs_pipeline_stage": "1"}});
        let op = |c: &Contracts| c.validate_crm_request("tickets", CrmOperation::Create, &create);
        assert!(op(&current).is_empty());
        assert!(op(&next_events).is_empty(), "the CRM side stays current");
        let next_crm = v(ApiVersion::Current, ApiVersion::Next);
        let violations = op(&next_crm);
        assert!(
            violations.iter().any(|v| v.message.contains("hs_pipeline")),
            "{violations:?}"
        );
    }

    #[test]
    fn a_dir_without_a_next_set_is_named() {
        let dir = temp_contracts();
        let source = ContractSource::Dir(dir.path().to_owned());
        assert!(source.load(Versions::default()).is_ok());
        let err = source
            .load(Versions {
                helpdesk: ApiVersion::Next,
                crm: ApiVersion::Current,
            })
            .unwrap_err();
        assert!(matches!(err, ContractError::MissingVersion { .. }));
        let text = err.to_string();
        assert!(
            text.contains("next/zendesk/") && text.contains("--helpdesk-version"),
            "{text}"
        );
    }

    #[test]
    fn real_zendesk_examples_validate() {
        let c = builtin();
        for (rel, contract) in [
            ("zendesk/ticket_created.json", "zendesk/ticket.created.json"),
            (
                "zendesk/ticket_status_changed.json",
                "zendesk/ticket.status_changed.json",
            ),
            ("zendesk/ticket_agent_assignment_changed.json", ENVELOPE),
            ("zendesk/user_active_changed.json", ENVELOPE),
        ] {
            let event = payload(rel);
            let t = event["type"].as_str().expect("type");
            assert_eq!(c.contract_for_event(t), Some(contract), "{rel}");
            assert_eq!(c.validate_event(&event), vec![], "{rel}");
        }
    }

    #[test]
    fn real_hubspot_requests_validate() {
        let c = builtin();
        let note = payload("hubspot/notes.create.json");
        assert_eq!(
            c.validate_crm_request("notes", CrmOperation::Create, &note),
            vec![]
        );
        let ticket = payload("hubspot/tickets.create.json");
        assert_eq!(
            c.validate_crm_request("tickets", CrmOperation::Create, &ticket),
            vec![]
        );
    }

    #[test]
    fn invalid_events_name_the_pointer() {
        let c = builtin();
        let good = payload("zendesk/ticket_created.json");

        let mut e = good.clone();
        e["detail"]["id"] = json!(5158);
        let v = c.validate_event(&e);
        assert_eq!(pointers(&v), ["/detail/id"], "{v:?}");
        assert_eq!(v[0].contract, "zendesk/ticket.created.json");

        let mut e = good.clone();
        e["detail"]["status"] = json!("open");
        assert_eq!(pointers(&c.validate_event(&e)), ["/detail/status"]);

        let mut e = good.clone();
        e["detail"]
            .as_object_mut()
            .expect("object")
            .remove("requester_id");
        let v = c.validate_event(&e);
        assert_eq!(pointers(&v), ["/detail"]);
        assert!(v[0].message.contains("requester_id"), "{}", v[0].message);

        let mut e = good.clone();
        e.as_object_mut()
            .expect("object")
            .remove("zendesk_event_version");
        let v = c.validate_event(&e);
        assert_eq!(pointers(&v), [""]);
        assert!(
            v[0].message.contains("zendesk_event_version"),
            "{}",
            v[0].message
        );

        let mut e = good.clone();
        e["id"] = json!("not-a-uuid");
        e["time"] = json!("yesterday");
        assert_eq!(pointers(&c.validate_event(&e)), ["/id", "/time"]);

        // Nullable fields accept null; the ticket allows unknown fields.
        let mut e = good.clone();
        for field in ["priority", "type", "tags", "organization_id", "assignee_id"] {
            e["detail"][field] = Value::Null;
        }
        e["detail"]["brand_new_field"] = json!({"x": 1});
        e["new_envelope_field"] = json!(true);
        assert_eq!(c.validate_event(&e), vec![]);
    }

    #[test]
    fn changed_event_payloads() {
        let c = builtin();
        let mut e = payload("zendesk/ticket_status_changed.json");
        e["event"]["current"] = json!("RESOLVED");
        assert_eq!(pointers(&c.validate_event(&e)), ["/event/current"]);

        let mut p = payload("zendesk/ticket_status_changed.json");
        p["type"] = json!("zen:event-type:ticket.priority_changed");
        p["event"] = json!({"previous": null, "current": "URGENT"});
        assert_eq!(c.validate_event(&p), vec![]);
        p["event"] = json!({"previous": "low", "current": "URGENT"});
        assert_eq!(pointers(&c.validate_event(&p)), ["/event/previous"]);

        let mut m = payload("zendesk/ticket_status_changed.json");
        m["type"] = json!("zen:event-type:ticket.comment_added");
        m["event"] = json!({"comment": {"id": "900", "body": "hi", "is_public": true,
            "author": {"id": "1", "name": "Ann", "is_staff": false}}});
        assert_eq!(c.validate_event(&m), vec![]);
        m["event"]["comment"]["author"]["id"] = json!(1);
        assert_eq!(
            pointers(&c.validate_event(&m)),
            ["/event/comment/author/id"]
        );

        // Noise types: envelope only, so an odd detail passes.
        let mut n = payload("zendesk/ticket_status_changed.json");
        n["type"] = json!("zen:event-type:ticket.tags_changed");
        n["detail"] = json!({});
        assert_eq!(
            c.contract_for_event("zen:event-type:ticket.tags_changed"),
            Some(ENVELOPE)
        );
        assert_eq!(c.validate_event(&n), vec![]);
        n["type"] = json!("ticket.tags_changed");
        let v = c.validate_event(&n);
        assert_eq!(pointers(&v), ["/type"]);
        assert_eq!(v[0].contract, ENVELOPE);
        assert_eq!(c.contract_for_event("ticket.tags_changed"), None);
    }

    #[test]
    fn invalid_crm_requests_name_the_pointer() {
        let c = builtin();
        let mut t = payload("hubspot/tickets.create.json");
        t["associations"][0]["types"][0]["associationCategory"] = json!("HUBSPOT");
        let v = c.validate_crm_request("tickets", CrmOperation::Create, &t);
        assert_eq!(
            pointers(&v),
            ["/associations/0/types/0/associationCategory"]
        );
        assert_eq!(v[0].contract, "hubspot/tickets.create.json");

        let mut t = payload("hubspot/tickets.create.json");
        t["associations"][0]["types"][0]["associationTypeId"] = json!("16");
        assert_eq!(
            pointers(&c.validate_crm_request("tickets", CrmOperation::Create, &t)),
            ["/associations/0/types/0/associationTypeId"]
        );

        let mut n = payload("hubspot/notes.create.json");
        n["properties"]
            .as_object_mut()
            .expect("object")
            .remove("hs_timestamp");
        assert_eq!(
            pointers(&c.validate_crm_request("notes", CrmOperation::Create, &n)),
            ["/properties"]
        );
        n["properties"]["hs_timestamp"] = json!({"nested": true});
        assert_eq!(
            pointers(&c.validate_crm_request("notes", CrmOperation::Create, &n)),
            ["/properties/hs_timestamp"]
        );

        let patch = json!({"properties": {"hs_ticket_priority": "HIGH", "amount": 3, "flag": true, "gone": null}});
        assert_eq!(
            c.validate_crm_request("tickets", CrmOperation::Patch, &patch),
            vec![]
        );
        let typo = json!({"propertes": {"email": "a@b.c"}});
        assert_eq!(
            pointers(&c.validate_crm_request("contacts", CrmOperation::Patch, &typo)).len(),
            2
        );
        // No contract for this object type: nothing to break.
        assert_eq!(
            c.validate_crm_request("deals", CrmOperation::Patch, &typo),
            vec![]
        );
    }

    #[test]
    fn search_and_batch_contracts() {
        let c = builtin();
        let search = json!({
            "filterGroups": [{"filters": [
                {"propertyName": "email", "operator": "EQ", "value": "a@b.c"},
                {"propertyName": "hs_pipeline_stage", "operator": "IN", "values": ["1", "2"]},
                {"propertyName": "createdate", "operator": "BETWEEN", "value": "1", "highValue": "2"},
                {"propertyName": "helpdesk_ticket_id", "operator": "HAS_PROPERTY"}
            ]}],
            "sorts": [{"propertyName": "createdate", "direction": "DESCENDING"}, "-hs_lastmodifieddate"],
            "properties": ["email"],
            "limit": 200,
            "after": "100"
        });
        assert_eq!(
            c.validate_crm_request("contacts", CrmOperation::Search, &search),
            vec![]
        );
        let mut bad = search.clone();
        bad["limit"] = json!(201);
        bad["filterGroups"][0]["filters"][1] =
            json!({"propertyName": "x", "operator": "IN", "value": "1"});
        bad["filterGroups"][0]["filters"][0]["operator"] = json!("LIKE");
        assert_eq!(
            pointers(&c.validate_crm_request("contacts", CrmOperation::Search, &bad)),
            [
                "/filterGroups/0/filters/0/operator",
                "/filterGroups/0/filters/1",
                "/limit"
            ]
        );

        let upsert = json!({"inputs": [{"idProperty": "email", "id": "a@b.c",
            "properties": {"firstname": "Ann"}, "objectWriteTraceId": "evt-1"}]});
        assert_eq!(
            c.validate_crm_request("contacts", CrmOperation::BatchUpsert, &upsert),
            vec![]
        );
        let empty = json!({"inputs": []});
        assert_eq!(
            pointers(&c.validate_crm_request("contacts", CrmOperation::BatchUpsert, &empty)),
            ["/inputs"]
        );
        let too_many = json!({"inputs": vec![json!({"id": "1", "properties": {}}); 101]});
        assert_eq!(
            pointers(&c.validate_crm_request("tickets", CrmOperation::BatchUpdate, &too_many)),
            ["/inputs"]
        );
        let notes = json!({"inputs": [{"properties": {"hs_note_body": "x"}}]});
        assert_eq!(
            pointers(&c.validate_crm_request("notes", CrmOperation::BatchCreate, &notes)),
            ["/inputs/0/properties"]
        );
    }

    #[test]
    fn validate_with_names_any_file() {
        let c = builtin();
        let e = payload("zendesk/ticket_created.json");
        assert_eq!(
            c.validate_with("zendesk/ticket.json", &e["detail"]),
            Ok(vec![])
        );
        assert_eq!(
            c.validate_with("zendesk/nope.json", &e),
            Err(UnknownContract("zendesk/nope.json".into()))
        );
    }

    fn temp_contracts() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, text) in BUILTIN {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        }
        dir
    }

    #[test]
    fn load_dir_reports_broken_json_with_position() {
        let dir = temp_contracts();
        std::fs::write(
            dir.path().join("hubspot/contacts.patch.json"),
            "{\n  \"type\": ,\n}",
        )
        .expect("write");
        let err = Contracts::load_dir(dir.path()).expect_err("broken");
        match &err {
            ContractError::InvalidJson { file, line, .. } => {
                assert_eq!(file, "hubspot/contacts.patch.json");
                assert_eq!(*line, 2);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            err.to_string()
                .starts_with("hubspot/contacts.patch.json:2:"),
            "{err}"
        );
    }

    #[test]
    fn load_dir_reports_bad_keyword_pointer() {
        let dir = temp_contracts();
        std::fs::write(
            dir.path().join("zendesk/ticket.json"),
            r#"{"type": "object", "properties": {"status": {"type": "strnig"}}}"#,
        )
        .expect("write");
        let err = Contracts::load_dir(dir.path()).expect_err("broken");
        match &err {
            ContractError::InvalidSchema { file, pointer, .. } => {
                assert_eq!(file, "zendesk/ticket.json");
                assert_eq!(pointer, "/properties/status/type");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn load_dir_reports_dangling_ref() {
        let dir = temp_contracts();
        std::fs::write(
            dir.path().join("zendesk/ticket.status_changed.json"),
            r#"{"$ref": "missing.json"}"#,
        )
        .expect("write");
        let err = Contracts::load_dir(dir.path()).expect_err("broken");
        match &err {
            ContractError::InvalidSchema {
                file,
                pointer,
                message,
            } => {
                assert_eq!(file, "zendesk/ticket.status_changed.json");
                assert_eq!(pointer, "/$ref");
                assert!(message.contains("zendesk/missing.json"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
        // A reference to another file of the set by relative path is fine.
        std::fs::write(
            dir.path().join("zendesk/ticket.status_changed.json"),
            r#"{"properties": {"x": {"$ref": "../hubspot/common.json#/$defs/object_id"}}}"#,
        )
        .expect("write");
        Contracts::load_dir(dir.path()).expect("cross-profile ref resolves");
    }

    #[test]
    fn load_dir_reports_missing_and_misnamed_files() {
        let dir = temp_contracts();
        std::fs::remove_file(dir.path().join("zendesk/event.json")).expect("rm");
        let err = Contracts::load_dir(dir.path()).expect_err("missing");
        assert!(
            matches!(
                err,
                ContractError::MissingFile {
                    file: "zendesk/event.json",
                    ..
                }
            ),
            "{err}"
        );

        let dir = temp_contracts();
        std::fs::write(dir.path().join("hubspot/contacts.delete.json"), "{}").expect("write");
        let err = Contracts::load_dir(dir.path()).expect_err("misnamed");
        assert!(err.to_string().contains("contacts.delete.json"), "{err}");

        let err = Contracts::load_dir(Path::new("/nonexistent/contracts")).expect_err("absent");
        assert!(matches!(err, ContractError::MissingFile { .. }), "{err}");
    }

    #[test]
    fn load_dir_accepts_user_versions() {
        let dir = temp_contracts();
        // A user tightens the status contract and adds a companies contract.
        std::fs::write(
            dir.path().join("hubspot/companies.create.json"),
            r#"{"$ref": "common.json#/$defs/create", "properties": {"properties": {"required": ["domain"]}}}"#,
        )
        .expect("write");
        let c = Contracts::load_dir(dir.path()).expect("loads");
        assert_eq!(
            c.contract_for_crm("companies", CrmOperation::Create),
            Some("hubspot/companies.create.json")
        );
        let v = c.validate_crm_request(
            "companies",
            CrmOperation::Create,
            &json!({"properties": {}}),
        );
        assert_eq!(pointers(&v), ["/properties"]);
    }
}
