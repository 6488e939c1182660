//! `hookproof contracts import SPEC --out DIR`: turns a vendor's published
//! OpenAPI 3.1 or AsyncAPI 2.x/3.x document into hookproof contract files.
//!
//! # What becomes a contract
//!
//! - **OpenAPI 3.1** (top-level `openapi: 3.1.x`): every operation of every
//!   entry of the top-level `webhooks` map whose
//!   `requestBody.content["application/json"].schema` exists (path items
//!   and request bodies may be local `$ref`s).
//! - **AsyncAPI 2.x** (`asyncapi: 2.x`): every message of
//!   `channels.*.{subscribe,publish}.message`, including the entries of a
//!   `oneOf` list and `$ref`s to `components/messages`, that has a `payload`.
//! - **AsyncAPI 3.x** (`asyncapi: 3.x`): every message of `channels.*.messages`
//!   and `components.messages` that has a `payload` (a multi-format payload
//!   `{schemaFormat, schema}` is unwrapped).
//!
//! A message referenced from several places becomes one contract. Entries
//! without a JSON body or payload, and payloads in a non-JSON-Schema format
//! (Avro, RAML, Protobuf…), are skipped and listed in [`Import::skipped`].
//!
//! # File names
//!
//! Each contract is written to `DIR/{profile}/{name}.json`. `name` is the
//! first of these that is present:
//!
//! 1. an `x-event-type` extension on the operation or message (OpenAPI: on
//!    the operation, then on the webhook's path item);
//! 2. the payload's event type: `properties.type.const` (or a one-value
//!    `enum`) of the payload schema, also through `$ref` and `allOf`;
//! 3. AsyncAPI only: the message's `name`, then (2.x) its `messageId`;
//! 4. the webhook key (OpenAPI) or the message's key in `messages` (AsyncAPI;
//!    for an inline 2.x message, the channel name, with `.{i}` for the
//!    `i`-th entry of a `oneOf`).
//!
//! A leading `zen:event-type:` is dropped (so `zen:event-type:ticket.created`
//! gives `ticket.created.json`, the file hookproof applies to events of that
//! type), camelCase is split with `_`, the rest is lowercased and every
//! character outside `[a-z0-9_.-]` becomes `_` ([`sanitize_name`]). Two
//! entries that end up with the same name are an error.
//!
//! # The written schemas
//!
//! Every file is a self-contained JSON Schema draft 2020-12 document:
//! `$schema` is set, local `$ref`s to `#/components/schemas/X` become
//! `#/$defs/X` and only the components reached (transitively) are copied
//! into `$defs`; other local `$ref`s get a `$defs` entry of their own.
//! Cycles are fine (each component is copied once). A `$ref` to another file
//! or a URL is an error naming the file and the JSON pointer of the `$ref`:
//! nothing is ever fetched. OpenAPI 3.0-isms are converted and listed in the
//! file's `$comment` and in [`ImportedContract::notes`]: `nullable: true`
//! becomes a type array with `"null"` (or an `anyOf` with `{"type": "null"}`
//! when there is no `type`), boolean `exclusiveMinimum`/`exclusiveMaximum`
//! become numbers, and draft-07 tuple `items` become `prefixItems`. The
//! `description` names the source document and the pointer the schema came
//! from. Each schema is compiled with the `jsonschema` crate before anything
//! is written.
//!
//! [`Import::write`] never overwrites: when any target exists, nothing is
//! written and the error names the files.

use crate::contract::CrmOperation;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The `$schema` of every written contract.
pub const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// The Zendesk event type prefix dropped from names (see [`sanitize_name`]).
const EVENT_TYPE_PREFIX: &str = crate::contract::EVENT_TYPE_PREFIX;

/// Which contracts directory the imported files go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// `zendesk/`: helpdesk events delivered to the receiver.
    #[default]
    Zendesk,
    /// `hubspot/`: requests the receiver sends to the CRM.
    Hubspot,
}

impl Profile {
    /// The directory name: `zendesk` or `hubspot`.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Zendesk => "zendesk",
            Profile::Hubspot => "hubspot",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing a [`Profile`] that is neither `zendesk` nor `hubspot`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown profile `{0}` (expected zendesk or hubspot)")]
pub struct UnknownProfile(pub String);

impl FromStr for Profile {
    type Err = UnknownProfile;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "zendesk" => Ok(Profile::Zendesk),
            "hubspot" => Ok(Profile::Hubspot),
            other => Err(UnknownProfile(other.to_owned())),
        }
    }
}

/// The kind of specification document, detected from its top-level key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecKind {
    /// OpenAPI 3.1 (`openapi: 3.1.x`); the version as written.
    OpenApi(String),
    /// AsyncAPI 2.x (`asyncapi: 2.x.y`); the version as written.
    AsyncApi2(String),
    /// AsyncAPI 3.x (`asyncapi: 3.x.y`); the version as written.
    AsyncApi3(String),
}

impl fmt::Display for SpecKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpecKind::OpenApi(v) => write!(f, "OpenAPI {v}"),
            SpecKind::AsyncApi2(v) | SpecKind::AsyncApi3(v) => write!(f, "AsyncAPI {v}"),
        }
    }
}

/// Why a specification could not be imported. Each names the file and, where
/// there is one, the JSON pointer in it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The specification cannot be read.
    #[error("cannot read {}: {source}; pass an OpenAPI 3.1 or AsyncAPI 2.x/3.x document", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The specification is neither valid JSON nor valid YAML.
    #[error("{}:{line}:{column}: invalid {format}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// `JSON` or `YAML`.
        format: &'static str,
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// The document is not an OpenAPI 3.1 or AsyncAPI 2.x/3.x document.
    #[error(
        "{}: {found}; expected an OpenAPI 3.1 document (top-level `openapi: 3.1.x` with `webhooks`) or an AsyncAPI 2.x/3.x document (top-level `asyncapi: 2.x` or `3.x`)",
        path.display()
    )]
    NotASpec {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        found: String,
    },
    /// A `$ref` names another file or a URL.
    #[error(
        "{}: `$ref` at {pointer} points outside the document (`{reference}`); only local references (`#/components/…`) are imported and nothing is fetched: bundle the spec into one file first",
        path.display()
    )]
    ExternalRef {
        /// The file.
        path: PathBuf,
        /// JSON pointer of the `$ref` keyword.
        pointer: String,
        /// The reference.
        reference: String,
    },
    /// A local `$ref` names nothing in the document.
    #[error("{}: `$ref` at {pointer} (`{reference}`) names nothing in the document", path.display())]
    DanglingRef {
        /// The file.
        path: PathBuf,
        /// JSON pointer of the `$ref` keyword.
        pointer: String,
        /// The reference.
        reference: String,
    },
    /// A chain of `$ref`s between path items, request bodies, channels or
    /// messages comes back to where it started.
    #[error("{}: `$ref` at {pointer} loops back to itself", path.display())]
    RefLoop {
        /// The file.
        path: PathBuf,
        /// JSON pointer of the `$ref` keyword.
        pointer: String,
    },
    /// No file name can be made for an entry.
    #[error(
        "{}: cannot make a contract file name from `{name}` (at {pointer}): nothing is left of it in [a-z0-9_.-]; set `x-event-type` on it",
        path.display()
    )]
    BadName {
        /// The file.
        path: PathBuf,
        /// JSON pointer of the entry.
        pointer: String,
        /// The name that sanitized to nothing.
        name: String,
    },
    /// Two entries would be written to the same file.
    #[error(
        "{}: {first} and {second} would both be written to {file}; give one of them an `x-event-type`",
        path.display()
    )]
    DuplicateName {
        /// The file.
        path: PathBuf,
        /// The contract file name both map to.
        file: String,
        /// JSON pointer of the first entry.
        first: String,
        /// JSON pointer of the second entry.
        second: String,
    },
    /// An imported schema does not compile as JSON Schema draft 2020-12.
    #[error(
        "{}: the schema at {pointer} does not compile as JSON Schema draft 2020-12: {message}",
        path.display()
    )]
    InvalidSchema {
        /// The file.
        path: PathBuf,
        /// JSON pointer in the source document of the offending schema.
        pointer: String,
        /// The compiler's message.
        message: String,
    },
    /// The document has nothing to import.
    #[error("{}: nothing to import: {reason}", path.display())]
    Nothing {
        /// The file.
        path: PathBuf,
        /// What was looked for and what was skipped.
        reason: String,
    },
    /// Target files exist already; nothing was written.
    #[error(
        "{} already exist{}; nothing was written (hookproof never overwrites contract files): remove {} or choose another --out",
        list(paths),
        if paths.len() == 1 { "s" } else { "" },
        if paths.len() == 1 { "it" } else { "them" }
    )]
    Exists {
        /// Every target that exists.
        paths: Vec<PathBuf>,
    },
    /// A target file or directory cannot be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One contract made from the specification.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedContract {
    /// File name inside the profile directory, e.g. `ticket.created.json`.
    pub file: String,
    /// JSON pointer of the source schema in the specification, e.g.
    /// `/webhooks/ticket.created/post/requestBody/content/application~1json/schema`.
    pub source: String,
    /// The self-contained draft 2020-12 schema.
    pub schema: Value,
    /// Conversions made (e.g. `nullable`) and remarks about the file name.
    pub notes: Vec<String>,
}

/// An entry of the specification that did not become a contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// JSON pointer of the entry.
    pub source: String,
    /// Why it was skipped.
    pub reason: String,
}

/// The contracts made from one specification, ready to be written.
#[derive(Debug, Clone)]
pub struct Import {
    /// The specification file.
    pub spec: PathBuf,
    /// What kind of document it is.
    pub kind: SpecKind,
    /// The profile directory the files go to.
    pub profile: Profile,
    /// The contracts, in document order.
    pub contracts: Vec<ImportedContract>,
    /// Entries that did not become contracts.
    pub skipped: Vec<Skipped>,
}

/// Reads and converts the specification at `spec` (JSON or YAML).
///
/// # Errors
///
/// An [`ImportError`] naming the file (and pointer) when it cannot be read
/// or parsed, is not a supported document, has an external or dangling
/// `$ref`, yields a schema that does not compile, or has nothing to import.
pub fn read(spec: &Path, profile: Profile) -> Result<Import, ImportError> {
    let text = std::fs::read_to_string(spec).map_err(|source| ImportError::Read {
        path: spec.to_path_buf(),
        source,
    })?;
    let doc = parse(spec, &text)?;
    convert(spec, &doc, profile)
}

/// Parses a specification's text: JSON when it starts with `{` (after
/// whitespace), YAML otherwise. `path` is only used in messages.
///
/// YAML mapping keys that are numbers or booleans (`200:`) become strings,
/// and merge keys (`<<`) are applied.
///
/// # Errors
///
/// [`ImportError::Syntax`] with the line and column.
pub fn parse(path: &Path, text: &str) -> Result<Value, ImportError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim_start().starts_with('{') {
        return serde_json::from_str(text).map_err(|e| ImportError::Syntax {
            path: path.to_path_buf(),
            format: "JSON",
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        });
    }
    let syntax = |line: usize, column: usize, message: String| ImportError::Syntax {
        path: path.to_path_buf(),
        format: "YAML",
        line,
        column,
        message,
    };
    let mut yaml: serde_norway::Value = serde_norway::from_str(text).map_err(|e| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        syntax(line, column, e.to_string())
    })?;
    yaml.apply_merge()
        .map_err(|e| syntax(0, 0, format!("merge keys (`<<`): {e}")))?;
    yaml_to_json(yaml, "").map_err(|message| syntax(0, 0, message))
}

fn yaml_to_json(value: serde_norway::Value, at: &str) -> Result<Value, String> {
    use serde_norway::Value as Y;
    Ok(match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or_else(|| format!("the number at {at} ({n}) has no JSON form"))?
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| yaml_to_json(item, &format!("{at}/{i}")))
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(mapping) => {
            let mut map = Map::new();
            for (key, item) in mapping {
                let key = match key {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    Y::Null => "null".to_owned(),
                    _ => return Err(format!("a mapping key at {at} is not a string")),
                };
                let here = format!("{at}/{}", escape(&key));
                map.insert(key, yaml_to_json(item, &here)?);
            }
            Value::Object(map)
        }
        Y::Tagged(tagged) => yaml_to_json(tagged.value, at)?,
    })
}

/// Escapes a key for a JSON pointer (`~` → `~0`, `/` → `~1`).
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Detects the kind of a parsed specification from its top-level key.
///
/// # Errors
///
/// [`ImportError::NotASpec`] for anything but OpenAPI 3.1 and AsyncAPI 2.x/3.x.
pub fn detect(path: &Path, doc: &Value) -> Result<SpecKind, ImportError> {
    let not = |found: String| ImportError::NotASpec {
        path: path.to_path_buf(),
        found,
    };
    let Some(map) = doc.as_object() else {
        return Err(not(format!(
            "the document is {}, not a mapping",
            kind_of(doc)
        )));
    };
    // `openapi: 3.1` unquoted in YAML is a number.
    let version = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if let Some(v) = map.get("openapi") {
        let v = version(v);
        return if v == "3.1" || v.starts_with("3.1.") {
            Ok(SpecKind::OpenApi(v))
        } else {
            Err(not(format!(
                "it is OpenAPI {v}, which has no `webhooks` hookproof imports"
            )))
        };
    }
    if let Some(v) = map.get("asyncapi") {
        let v = version(v);
        return match v.split('.').next() {
            Some("2") => Ok(SpecKind::AsyncApi2(v)),
            Some("3") => Ok(SpecKind::AsyncApi3(v)),
            _ => Err(not(format!("it is AsyncAPI {v}"))),
        };
    }
    if map.contains_key("swagger") {
        return Err(not("it is Swagger 2.0".into()));
    }
    Err(not(
        "it has neither an `openapi` nor an `asyncapi` key".into()
    ))
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Converts a parsed specification into contracts (nothing is written).
/// `spec` names the document in messages and in each schema's `description`.
///
/// # Errors
///
/// See [`read`].
pub fn convert(spec: &Path, doc: &Value, profile: Profile) -> Result<Import, ImportError> {
    let kind = detect(spec, doc)?;
    let mut found = Found::default();
    let ctx = Ctx { path: spec, doc };
    let expected = match kind {
        SpecKind::OpenApi(_) if !doc.get("webhooks").is_some_and(Value::is_object) => {
            "the document has no top-level `webhooks` map (`paths` are not imported)"
        }
        SpecKind::OpenApi(_) => {
            openapi_webhooks(&ctx, &mut found)?;
            "no entry of `webhooks` has a requestBody.content[\"application/json\"].schema"
        }
        SpecKind::AsyncApi2(_) => {
            asyncapi2_messages(&ctx, &mut found)?;
            "no message of channels.*.{subscribe,publish} has a JSON Schema payload"
        }
        SpecKind::AsyncApi3(_) => {
            asyncapi3_messages(&ctx, &mut found)?;
            "no message of channels.*.messages or components.messages has a JSON Schema payload"
        }
    };
    if found.entries.is_empty() {
        let mut reason = expected.to_owned();
        if !found.skipped.is_empty() {
            reason.push_str(" (skipped: ");
            reason.push_str(
                &found
                    .skipped
                    .iter()
                    .map(|s| format!("{}: {}", s.source, s.reason))
                    .collect::<Vec<_>>()
                    .join("; "),
            );
            reason.push(')');
        }
        return Err(ImportError::Nothing {
            path: spec.to_path_buf(),
            reason,
        });
    }
    let origin = origin(spec, doc, &kind);
    let mut contracts: Vec<ImportedContract> = Vec::new();
    for entry in found.entries {
        let contract = ctx.contract(&entry, &origin, profile)?;
        if let Some(first) = contracts.iter().find(|c| c.file == contract.file) {
            return Err(ImportError::DuplicateName {
                path: spec.to_path_buf(),
                file: format!("{}/{}", profile.name(), contract.file),
                first: first.source.clone(),
                second: contract.source,
            });
        }
        contracts.push(contract);
    }
    Ok(Import {
        spec: spec.to_path_buf(),
        kind,
        profile,
        contracts,
        skipped: found.skipped,
    })
}

/// `zendesk-webhooks.yaml (OpenAPI 3.1.0: "Zendesk Webhooks" 2022-11-06)`.
fn origin(spec: &Path, doc: &Value, kind: &SpecKind) -> String {
    let file = spec.file_name().map_or_else(
        || spec.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let info = |key: &str| {
        doc.pointer(&format!("/info/{key}"))
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
    };
    match (info("title"), info("version")) {
        (Some(t), Some(v)) => format!("{file} ({kind}: \"{t}\" {v})"),
        (Some(t), None) => format!("{file} ({kind}: \"{t}\")"),
        _ => format!("{file} ({kind})"),
    }
}

/// A schema found in the document, with what its name may come from.
struct Entry {
    /// Pointer of the payload / body schema.
    schema_at: String,
    /// Candidate names, strongest first, with where each came from; the
    /// payload's `type` const is looked up after the explicit ones.
    explicit: Vec<(String, String)>,
    /// Names used after the payload's type const.
    fallback: Vec<(String, String)>,
    /// Pointer of the webhook operation or message, for name errors.
    entry_at: String,
}

#[derive(Default)]
struct Found {
    entries: Vec<Entry>,
    skipped: Vec<Skipped>,
}

struct Ctx<'a> {
    path: &'a Path,
    doc: &'a Value,
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn str_at<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

fn openapi_webhooks(ctx: &Ctx<'_>, found: &mut Found) -> Result<(), ImportError> {
    let Some(webhooks) = ctx.doc.get("webhooks").and_then(Value::as_object) else {
        return Ok(());
    };
    for (key, item) in webhooks {
        let at = format!("/webhooks/{}", escape(key));
        let (item, at) = ctx.follow(item, &at)?;
        let mut operations = 0;
        for method in METHODS {
            let Some(op) = item.get(method) else {
                continue;
            };
            operations += 1;
            let op_at = format!("{at}/{method}");
            let Some(schema_at) = ctx.json_body(op, &op_at)? else {
                found.skipped.push(Skipped {
                    source: op_at,
                    reason: "no requestBody.content[\"application/json\"].schema".into(),
                });
                continue;
            };
            let mut explicit = Vec::new();
            for (v, from) in [(op, &op_at), (item, &at)] {
                if let Some(t) = str_at(v, "x-event-type") {
                    explicit.push((t.to_owned(), format!("{from}/x-event-type")));
                }
            }
            found.entries.push(Entry {
                schema_at,
                explicit,
                fallback: vec![(key.clone(), at.clone())],
                entry_at: op_at,
            });
        }
        if operations == 0 {
            found.skipped.push(Skipped {
                source: at,
                reason: "no operations".into(),
            });
        }
    }
    Ok(())
}

fn asyncapi2_messages(ctx: &Ctx<'_>, found: &mut Found) -> Result<(), ImportError> {
    let Some(channels) = ctx.doc.get("channels").and_then(Value::as_object) else {
        return Ok(());
    };
    let mut seen = HashSet::new();
    for (channel, item) in channels {
        let ch_at = format!("/channels/{}", escape(channel));
        let (item, ch_at) = ctx.follow(item, &ch_at)?;
        for op in ["subscribe", "publish"] {
            let Some(message) = item.get(op).and_then(|o| o.get("message")) else {
                continue;
            };
            let msg_at = format!("{ch_at}/{op}/message");
            let (message, resolved) = ctx.follow(message, &msg_at)?;
            let list: Vec<(&Value, String, String)> =
                match message.get("oneOf").and_then(Value::as_array) {
                    Some(items) => {
                        let mut list = Vec::new();
                        for (i, m) in items.iter().enumerate() {
                            let (m, at) = ctx.follow(m, &format!("{resolved}/oneOf/{i}"))?;
                            list.push((m, at, format!("{channel}.{i}")));
                        }
                        list
                    }
                    None => vec![(message, resolved, channel.clone())],
                };
            for (message, at, inline_key) in list {
                if !seen.insert(at.clone()) {
                    continue;
                }
                let key = component_key(&at, "messages").unwrap_or(inline_key);
                if let Some(format) = str_at(message, "schemaFormat")
                    && !json_schema_format(format)
                {
                    found.skipped.push(Skipped {
                        source: at,
                        reason: format!("payload schemaFormat `{format}` is not JSON Schema"),
                    });
                    continue;
                }
                if message.get("payload").is_none() {
                    found.skipped.push(Skipped {
                        source: at,
                        reason: "no payload".into(),
                    });
                    continue;
                }
                found
                    .entries
                    .push(message_entry(message, &at, format!("{at}/payload"), key));
            }
        }
    }
    Ok(())
}

fn asyncapi3_messages(ctx: &Ctx<'_>, found: &mut Found) -> Result<(), ImportError> {
    let mut messages: Vec<(&Value, String)> = Vec::new();
    if let Some(channels) = ctx.doc.get("channels").and_then(Value::as_object) {
        for (channel, item) in channels {
            let ch_at = format!("/channels/{}", escape(channel));
            let (item, ch_resolved) = ctx.follow(item, &ch_at)?;
            if let Some(map) = item.get("messages").and_then(Value::as_object) {
                for (name, message) in map {
                    let at = format!("{ch_resolved}/messages/{}", escape(name));
                    messages.push(ctx.follow(message, &at)?);
                }
            }
        }
    }
    if let Some(map) = ctx
        .doc
        .pointer("/components/messages")
        .and_then(Value::as_object)
    {
        for (name, message) in map {
            let at = format!("/components/messages/{}", escape(name));
            messages.push(ctx.follow(message, &at)?);
        }
    }
    let mut seen = HashSet::new();
    for (message, at) in messages {
        if !seen.insert(at.clone()) {
            continue;
        }
        let key = unescape(at.rsplit('/').next().unwrap_or_default());
        let Some(payload) = message.get("payload") else {
            found.skipped.push(Skipped {
                source: at,
                reason: "no payload".into(),
            });
            continue;
        };
        // A multi-format schema object: {schemaFormat, schema}.
        let schema_at = match (str_at(payload, "schemaFormat"), payload.get("schema")) {
            (Some(format), _) if !json_schema_format(format) => {
                found.skipped.push(Skipped {
                    source: format!("{at}/payload"),
                    reason: format!("payload schemaFormat `{format}` is not JSON Schema"),
                });
                continue;
            }
            (Some(_), Some(_)) => format!("{at}/payload/schema"),
            _ => format!("{at}/payload"),
        };
        found
            .entries
            .push(message_entry(message, &at, schema_at, key));
    }
    Ok(())
}

fn message_entry(message: &Value, at: &str, schema_at: String, key: String) -> Entry {
    let mut explicit = Vec::new();
    if let Some(t) = str_at(message, "x-event-type") {
        explicit.push((t.to_owned(), format!("{at}/x-event-type")));
    }
    let mut fallback = Vec::new();
    for field in ["name", "messageId"] {
        if let Some(n) = str_at(message, field) {
            fallback.push((n.to_owned(), format!("{at}/{field}")));
        }
    }
    fallback.push((key, at.to_owned()));
    Entry {
        schema_at,
        explicit,
        fallback,
        entry_at: at.to_owned(),
    }
}

/// The key of `/components/{section}/KEY`, if `at` is such a pointer.
fn component_key(at: &str, section: &str) -> Option<String> {
    let rest = at.strip_prefix(&format!("/components/{section}/"))?;
    (!rest.contains('/')).then(|| unescape(rest))
}

fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

/// Whether an AsyncAPI `schemaFormat` is JSON Schema (or a dialect of it).
fn json_schema_format(format: &str) -> bool {
    let f = format.trim().to_ascii_lowercase();
    [
        "application/vnd.aai.asyncapi",
        "application/schema+json",
        "application/schema+yaml",
        "application/vnd.oai.openapi",
    ]
    .iter()
    .any(|prefix| f.starts_with(prefix))
}

/// Percent-decodes a URI fragment.
fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes what may not stand in a URI fragment.
fn fragment(pointer: &str) -> String {
    let mut out = String::with_capacity(pointer.len());
    for c in pointer.chars() {
        if c.is_ascii_alphanumeric() || "-._~/!$&'()*+,;=:@".contains(c) {
            out.push(c);
        } else {
            let mut buf = [0; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// `rest` when `pointer` is `prefix` followed by `rest` at a segment boundary.
fn under<'p>(pointer: &'p str, prefix: &str) -> Option<&'p str> {
    let rest = pointer.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

impl<'a> Ctx<'a> {
    fn external(&self, at: &str, reference: &str) -> ImportError {
        ImportError::ExternalRef {
            path: self.path.to_path_buf(),
            pointer: at.to_owned(),
            reference: reference.to_owned(),
        }
    }

    /// The local pointer a `$ref` string names, checked to resolve.
    fn local(&self, reference: &str, at: &str) -> Result<String, ImportError> {
        let Some(fragment) = reference.strip_prefix('#') else {
            return Err(self.external(at, reference));
        };
        let pointer = percent_decode(fragment);
        if self.doc.pointer(&pointer).is_none() {
            return Err(ImportError::DanglingRef {
                path: self.path.to_path_buf(),
                pointer: at.to_owned(),
                reference: reference.to_owned(),
            });
        }
        Ok(pointer)
    }

    /// Follows `$ref`s from a (non-schema) object found at `at`: the object
    /// it ends at and that object's pointer.
    fn follow<'d>(&self, node: &'d Value, at: &str) -> Result<(&'d Value, String), ImportError>
    where
        'a: 'd,
    {
        let mut node = node;
        let mut at = at.to_owned();
        let mut visited = HashSet::new();
        while let Some(reference) = node.get("$ref").and_then(Value::as_str) {
            let ref_at = format!("{at}/$ref");
            if !visited.insert(at.clone()) {
                return Err(ImportError::RefLoop {
                    path: self.path.to_path_buf(),
                    pointer: ref_at,
                });
            }
            let pointer = self.local(reference, &ref_at)?;
            node = self.doc.pointer(&pointer).expect("checked by local()");
            at = pointer;
        }
        Ok((node, at))
    }

    /// The pointer of `op.requestBody.content["application/json"].schema`.
    fn json_body(&self, op: &Value, op_at: &str) -> Result<Option<String>, ImportError> {
        let Some(body) = op.get("requestBody") else {
            return Ok(None);
        };
        let (body, body_at) = self.follow(body, &format!("{op_at}/requestBody"))?;
        let Some(content) = body.get("content").and_then(Value::as_object) else {
            return Ok(None);
        };
        let media = content
            .get("application/json")
            .map(|m| ("application/json", m));
        let media = media.or_else(|| {
            content.iter().find_map(|(k, m)| {
                let essence = k.split(';').next().unwrap_or_default().trim();
                essence
                    .eq_ignore_ascii_case("application/json")
                    .then_some((k.as_str(), m))
            })
        });
        Ok(media.and_then(|(key, m)| {
            m.get("schema")
                .map(|_| format!("{body_at}/content/{}/schema", escape(key)))
        }))
    }

    /// The payload's event type: `properties.type.const` (or a one-value
    /// enum), through local `$ref`s and `allOf`.
    fn type_const(&self, schema: &Value, depth: usize) -> Option<String> {
        if depth > 8 {
            return None;
        }
        let schema = match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => self.doc.pointer(&percent_decode(r.strip_prefix('#')?))?,
            None => schema,
        };
        if let Some(t) = schema.pointer("/properties/type") {
            let t = match t.get("$ref").and_then(Value::as_str) {
                Some(r) => self.doc.pointer(&percent_decode(r.strip_prefix('#')?))?,
                None => t,
            };
            let one = t.get("const").or_else(|| {
                t.get("enum")
                    .and_then(Value::as_array)
                    .filter(|e| e.len() == 1)
                    .and_then(|e| e.first())
            });
            if let Some(Value::String(s)) = one {
                return Some(s.clone());
            }
        }
        schema
            .get("allOf")
            .and_then(Value::as_array)?
            .iter()
            .find_map(|s| self.type_const(s, depth + 1))
    }

    fn contract(
        &self,
        entry: &Entry,
        origin: &str,
        profile: Profile,
    ) -> Result<ImportedContract, ImportError> {
        let schema = self.doc.pointer(&entry.schema_at).expect("found in doc");
        // The name.
        let mut candidates = entry.explicit.clone();
        if let Some(t) = self.type_const(schema, 0) {
            candidates.push((t, format!("{}/properties/type/const", entry.schema_at)));
        }
        candidates.extend(entry.fallback.iter().cloned());
        let stem = candidates
            .iter()
            .find_map(|(raw, _)| sanitize_name(raw))
            .ok_or_else(|| ImportError::BadName {
                path: self.path.to_path_buf(),
                pointer: entry.entry_at.clone(),
                name: candidates.first().map(|c| c.0.clone()).unwrap_or_default(),
            })?;
        let (schema, notes) = self.bundle(&entry.schema_at, origin, &stem)?;
        let mut notes = notes;
        notes.extend(name_notes(&stem, profile));
        Ok(ImportedContract {
            file: format!("{stem}.json"),
            source: entry.schema_at.clone(),
            schema,
            notes,
        })
    }

    /// The self-contained schema for the schema at `at`, and its notes.
    fn bundle(
        &self,
        at: &str,
        origin: &str,
        stem: &str,
    ) -> Result<(Value, Vec<String>), ImportError> {
        // A root that is only a `$ref` (plus annotations) is replaced by what
        // it names, so the file reads like the built-in contracts.
        let mut root_at = at.to_owned();
        let mut root = self.doc.pointer(at).expect("found in doc");
        let mut annotations = Map::new();
        let mut visited = HashSet::new();
        while let Some(map) = root.as_object()
            && let Some(Value::String(reference)) = map.get("$ref")
            && map
                .keys()
                .all(|k| matches!(k.as_str(), "$ref" | "description" | "title" | "summary"))
            && visited.insert(root_at.clone())
        {
            let pointer = self.local(reference, &format!("{root_at}/$ref"))?;
            for key in ["title", "description"] {
                if let Some(v) = map.get(key) {
                    annotations.entry(key).or_insert_with(|| v.clone());
                }
            }
            root = self.doc.pointer(&pointer).expect("checked by local()");
            root_at = pointer;
        }
        let mut bundler = Bundler {
            ctx: self,
            root_at: root_at.clone(),
            defs: HashMap::new(),
            names: HashSet::new(),
            order: Vec::new(),
            queue: VecDeque::new(),
            notes: Vec::new(),
        };
        if let Some(own) = root.get("$defs").and_then(Value::as_object) {
            bundler.names.extend(own.keys().cloned());
        }
        let body = bundler.schema(root, &root_at)?;
        let mut defs = Map::new();
        if let Some(Value::Object(own)) = body.get("$defs") {
            defs.extend(own.clone());
        }
        while let Some(pointer) = bundler.queue.pop_front() {
            let node = self.doc.pointer(&pointer).expect("checked by local()");
            let copied = bundler.schema(node, &pointer)?;
            let name = bundler.defs[&pointer].clone();
            defs.insert(name, copied);
        }
        let Bundler {
            notes,
            order,
            defs: def_names,
            ..
        } = bundler;

        let mut out = Map::new();
        out.insert("$schema".into(), DIALECT.into());
        let body = match body {
            Value::Object(map) => map,
            Value::Bool(true) => Map::new(),
            Value::Bool(false) => Map::from_iter([("not".to_owned(), Value::Object(Map::new()))]),
            _ => {
                return Err(ImportError::InvalidSchema {
                    path: self.path.to_path_buf(),
                    pointer: root_at,
                    message: format!(
                        "a schema must be an object or a boolean, not {}",
                        kind_of(root)
                    ),
                });
            }
        };
        let title = body
            .get("title")
            .or(annotations.get("title"))
            .cloned()
            .unwrap_or_else(|| Value::String(stem.to_owned()));
        out.insert("title".into(), title);
        let via = if root_at == at {
            String::new()
        } else {
            format!(" (→ #{})", fragment(&root_at))
        };
        let imported = format!(
            "Imported from {origin} at #{}{via} by hookproof contracts import.",
            fragment(at)
        );
        let description = match body
            .get("description")
            .or(annotations.get("description"))
            .and_then(Value::as_str)
        {
            Some(d) if !d.trim().is_empty() => format!("{}\n\n{imported}", d.trim_end()),
            _ => imported,
        };
        out.insert("description".into(), description.into());
        for (key, value) in body {
            if !matches!(key.as_str(), "$schema" | "title" | "description" | "$defs") {
                out.insert(key, value);
            }
        }
        if !notes.is_empty() {
            out.insert(
                "$comment".into(),
                format!("hookproof import: {}", notes.join("; ")).into(),
            );
        }
        if !defs.is_empty() {
            out.insert("$defs".into(), Value::Object(defs));
        }
        let out = Value::Object(out);
        let by_name: HashMap<&str, &str> = order
            .iter()
            .map(|p| (def_names[p].as_str(), p.as_str()))
            .collect();
        self.compile(&out, &root_at, &by_name)?;
        Ok((out, notes))
    }

    /// Compiles `schema`; an error names the source pointer it comes from.
    fn compile(
        &self,
        schema: &Value,
        root_at: &str,
        defs: &HashMap<&str, &str>,
    ) -> Result<(), ImportError> {
        let source = |pointer: &str| -> String {
            if let Some(rest) = pointer.strip_prefix("/$defs/") {
                let (name, rest) = rest.split_once('/').map_or((rest, ""), |(n, r)| (n, r));
                if let Some(src) = defs.get(unescape(name).as_str()) {
                    return if rest.is_empty() {
                        (*src).to_owned()
                    } else {
                        format!("{src}/{rest}")
                    };
                }
            }
            format!("{root_at}{pointer}")
        };
        let error = |pointer: &str, message: String| ImportError::InvalidSchema {
            path: self.path.to_path_buf(),
            pointer: source(pointer),
            message,
        };
        jsonschema::draft202012::meta::validate(schema)
            .map_err(|e| error(e.instance_path().as_str(), e.to_string()))?;
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .offline()
            .build(schema)
            .map_err(|e| error(e.instance_path().as_str(), e.to_string()))?;
        Ok(())
    }
}

/// Remarks on a file name that hookproof's layout reads in a special way.
fn name_notes(stem: &str, profile: Profile) -> Vec<String> {
    let file = format!("{}/{stem}.json", profile.name());
    if profile == Profile::Zendesk && stem == "event" {
        return vec![format!(
            "{file} is the envelope applied to every event (see contracts/README.md)"
        )];
    }
    if !stem.contains('.') {
        return vec![format!(
            "{file} has no dot in its name, so hookproof treats it as a shared piece applied through $ref only (see contracts/README.md)"
        )];
    }
    if profile == Profile::Hubspot {
        let op = stem.split_once('.').map_or("", |(_, op)| op);
        if CrmOperation::from_name(op).is_none() {
            return vec![format!(
                "`{op}` is not a CRM operation ({}): rename {file} to hubspot/{{object}}.{{operation}}.json before using it with --contracts",
                CrmOperation::ALL.map(|o| o.name()).join(", ")
            )];
        }
    }
    Vec::new()
}

/// Copies the schemas a root reaches into `$defs`, rewriting references.
struct Bundler<'c, 'a> {
    ctx: &'c Ctx<'a>,
    /// Pointer of the root schema: references into it become `#…`.
    root_at: String,
    /// Source pointer → `$defs` name.
    defs: HashMap<String, String>,
    /// Names taken in `$defs`.
    names: HashSet<String>,
    /// Source pointers in the order they got a name.
    order: Vec<String>,
    /// Source pointers still to copy.
    queue: VecDeque<String>,
    /// Conversions made.
    notes: Vec<String>,
}

/// Keywords whose value is a map of schemas.
const SCHEMA_MAPS: &[&str] = &[
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
];
/// Keywords whose value is a list of schemas.
const SCHEMA_LISTS: &[&str] = &["allOf", "anyOf", "oneOf", "prefixItems"];
/// Keywords whose value is a schema.
const SCHEMA_ONE: &[&str] = &[
    "items",
    "additionalItems",
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contentSchema",
];

impl Bundler<'_, '_> {
    fn note(&mut self, note: String) {
        self.notes.push(note);
    }

    /// The `$defs` name for the schema at `pointer` (copied later).
    fn def_name(&mut self, pointer: &str) -> String {
        if let Some(name) = self.defs.get(pointer) {
            return name.clone();
        }
        let segments: Vec<String> = pointer.split('/').skip(1).map(unescape).collect();
        let base = match segments.as_slice() {
            [c, s, name] if c == "components" && s == "schemas" => name.clone(),
            [c, _, rest @ ..] if c == "components" && !rest.is_empty() => rest.join("."),
            all => all.join("."),
        };
        let base: String = base
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let base = if base.is_empty() { "def".into() } else { base };
        let mut name = base.clone();
        let mut n = 2;
        while self.names.contains(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        self.names.insert(name.clone());
        self.defs.insert(pointer.to_owned(), name.clone());
        self.order.push(pointer.to_owned());
        self.queue.push_back(pointer.to_owned());
        name
    }

    /// The rewritten form of the `$ref` found at `at`.
    fn reference(&mut self, reference: &str, at: &str) -> Result<String, ImportError> {
        let pointer = self.ctx.local(reference, at)?;
        if let Some(rest) = under(&pointer, &self.root_at) {
            return Ok(format!("#{}", fragment(rest)));
        }
        // `#/components/schemas/X/…` → `#/$defs/X/…`; any other local
        // pointer gets a `$defs` entry of its own.
        let (def, rest) = match pointer.strip_prefix("/components/schemas/") {
            Some(r) => {
                let name = r.split('/').next().unwrap_or_default();
                let def = format!("/components/schemas/{name}");
                let rest = pointer[def.len()..].to_owned();
                (def, rest)
            }
            None => (pointer.clone(), String::new()),
        };
        let name = self.def_name(&def);
        Ok(format!(
            "#/$defs/{}{}",
            fragment(&escape(&name)),
            fragment(&rest)
        ))
    }

    /// The converted copy of the schema `node` found at `at`.
    fn schema(&mut self, node: &Value, at: &str) -> Result<Value, ImportError> {
        let Some(map) = node.as_object() else {
            return Ok(node.clone());
        };
        let mut out = Map::new();
        for (key, value) in map {
            let here = format!("{at}/{}", escape(key));
            let converted = match (key.as_str(), value) {
                ("$ref", Value::String(r)) => Value::String(self.reference(r, &here)?),
                ("$id", _) => {
                    self.note(format!(
                        "dropped `$id` at #{here} (the file is one resource)"
                    ));
                    continue;
                }
                ("$schema", _) if at != self.root_at => {
                    self.note(format!("dropped nested `$schema` at #{here}"));
                    continue;
                }
                ("nullable", _) => continue, // handled below
                ("discriminator", Value::Object(d)) => {
                    let mut d = d.clone();
                    if let Some(Value::Object(mapping)) = d.get_mut("mapping") {
                        for (k, v) in mapping.iter_mut() {
                            if let Value::String(r) = v
                                && r.starts_with('#')
                            {
                                let at = format!("{here}/mapping/{}", escape(k));
                                *v = Value::String(self.reference(r, &at)?);
                            }
                        }
                    }
                    Value::Object(d)
                }
                (k, Value::Object(entries)) if SCHEMA_MAPS.contains(&k) => {
                    let mut converted = Map::new();
                    for (name, sub) in entries {
                        let sub_at = format!("{here}/{}", escape(name));
                        converted.insert(name.clone(), self.schema(sub, &sub_at)?);
                    }
                    Value::Object(converted)
                }
                (k, Value::Array(items)) if SCHEMA_LISTS.contains(&k) || k == "items" => items
                    .iter()
                    .enumerate()
                    .map(|(i, s)| self.schema(s, &format!("{here}/{i}")))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array)?,
                (k, sub) if SCHEMA_ONE.contains(&k) => self.schema(sub, &here)?,
                _ => value.clone(),
            };
            out.insert(key.clone(), converted);
        }
        self.draft07_tuples(&mut out, at);
        self.exclusive_bounds(&mut out, at);
        let nullable = map.get("nullable") == Some(&Value::Bool(true));
        if nullable {
            return Ok(self.nullable(out, at));
        }
        Ok(Value::Object(out))
    }

    /// Draft-07 `items: [..]` (+ `additionalItems`) → `prefixItems` (+ `items`).
    fn draft07_tuples(&mut self, out: &mut Map<String, Value>, at: &str) {
        if !matches!(out.get("items"), Some(Value::Array(_))) {
            return;
        }
        let tuple = out.remove("items").unwrap_or_default();
        let rest = out.remove("additionalItems");
        out.insert("prefixItems".into(), tuple);
        if let Some(rest) = rest {
            out.insert("items".into(), rest);
        }
        self.note(format!(
            "converted draft-07 tuple `items` at #{at} to `prefixItems`"
        ));
    }

    /// OpenAPI 3.0 boolean `exclusiveMinimum`/`exclusiveMaximum` → numbers.
    fn exclusive_bounds(&mut self, out: &mut Map<String, Value>, at: &str) {
        for (exclusive, bound) in [
            ("exclusiveMinimum", "minimum"),
            ("exclusiveMaximum", "maximum"),
        ] {
            match out.get(exclusive) {
                Some(Value::Bool(true)) => {
                    out.remove(exclusive);
                    if let Some(limit) = out.remove(bound) {
                        out.insert(exclusive.into(), limit);
                    }
                    self.note(format!(
                        "converted OpenAPI 3.0 `{exclusive}: true` at #{at} to `{exclusive}: <{bound}>`"
                    ));
                }
                Some(Value::Bool(false)) => {
                    out.remove(exclusive);
                    self.note(format!("dropped OpenAPI 3.0 `{exclusive}: false` at #{at}"));
                }
                _ => {}
            }
        }
    }

    /// OpenAPI 3.0 `nullable: true` → a type array with `"null"` (and `null`
    /// in an `enum`), or an `anyOf` with `{"type": "null"}` without `type`.
    fn nullable(&mut self, mut out: Map<String, Value>, at: &str) -> Value {
        let null = Value::String("null".into());
        match out.get_mut("type") {
            Some(Value::String(t)) => {
                let t = std::mem::take(t);
                let types = if t == "null" {
                    Value::String(t)
                } else {
                    Value::Array(vec![Value::String(t), null])
                };
                out.insert("type".into(), types);
            }
            Some(Value::Array(types)) => {
                if !types.contains(&null) {
                    types.push(null);
                }
            }
            _ => {
                self.note(format!(
                    "converted OpenAPI 3.0 `nullable: true` at #{at} (no `type`) to `anyOf` with {{\"type\": \"null\"}}"
                ));
                return serde_json::json!({
                    "anyOf": [Value::Object(out), {"type": "null"}]
                });
            }
        }
        if let Some(Value::Array(values)) = out.get_mut("enum")
            && !values.contains(&Value::Null)
        {
            values.push(Value::Null);
        }
        let types = out.get("type").map(|t| t.to_string()).unwrap_or_default();
        self.note(format!(
            "converted OpenAPI 3.0 `nullable: true` at #{at} to `type: {types}`"
        ));
        Value::Object(out)
    }
}

/// The contract file stem for a webhook key, message name or event type:
/// a leading `zen:event-type:` dropped, camelCase split with `_`, lowercased,
/// every character outside `[a-z0-9_.-]` replaced by `_`, runs of `_`
/// collapsed, and `.`, `_`, `-` trimmed from both ends. `None` when nothing
/// is left.
///
/// `zen:event-type:ticket.created` → `ticket.created`,
/// `TicketStatusChanged` → `ticket_status_changed`,
/// `Ticket Created!` → `ticket_created`.
pub fn sanitize_name(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let raw = raw.strip_prefix(EVENT_TYPE_PREFIX).unwrap_or(raw);
    let mut out = String::with_capacity(raw.len() + 4);
    let mut prev: Option<char> = None;
    for c in raw.chars() {
        if c.is_ascii_uppercase()
            && prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit())
        {
            out.push('_');
        }
        let mapped = c.to_ascii_lowercase();
        let mapped =
            if mapped.is_ascii_lowercase() || mapped.is_ascii_digit() || "._-".contains(mapped) {
                mapped
            } else {
                '_'
            };
        if !(mapped == '_' && out.ends_with('_')) {
            out.push(mapped);
        }
        prev = Some(c);
    }
    let out = out.trim_matches(|c| c == '.' || c == '_' || c == '-');
    (!out.is_empty()).then(|| out.to_owned())
}

impl Import {
    /// Where each contract goes under `out`: `out/{profile}/{file}`, in the
    /// order of [`Import::contracts`].
    pub fn targets(&self, out: &Path) -> Vec<PathBuf> {
        let dir = out.join(self.profile.name());
        self.contracts.iter().map(|c| dir.join(&c.file)).collect()
    }

    /// Writes every contract under `out` (see [`Import::targets`]), pretty
    /// JSON with a final newline; the paths written, in order.
    ///
    /// # Errors
    ///
    /// [`ImportError::Exists`] naming every target that exists, before
    /// anything is written: files are never overwritten (and a file that
    /// appears while writing is not overwritten either; what this call wrote
    /// is then removed again). [`ImportError::Write`] when a directory or
    /// file cannot be created.
    pub fn write(&self, out: &Path) -> Result<Vec<PathBuf>, ImportError> {
        let targets = self.targets(out);
        let existing: Vec<PathBuf> = targets
            .iter()
            .filter(|p| p.symlink_metadata().is_ok())
            .cloned()
            .collect();
        if !existing.is_empty() {
            return Err(ImportError::Exists { paths: existing });
        }
        let dir = out.join(self.profile.name());
        std::fs::create_dir_all(&dir).map_err(|source| ImportError::Write {
            path: dir.clone(),
            source,
        })?;
        let mut written: Vec<PathBuf> = Vec::new();
        for (contract, path) in self.contracts.iter().zip(targets) {
            let text = format!(
                "{}\n",
                serde_json::to_string_pretty(&contract.schema).expect("a Value serializes")
            );
            let result = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|source| {
                    if source.kind() == std::io::ErrorKind::AlreadyExists {
                        ImportError::Exists {
                            paths: vec![path.clone()],
                        }
                    } else {
                        ImportError::Write {
                            path: path.clone(),
                            source,
                        }
                    }
                })
                .and_then(|mut file| {
                    file.write_all(text.as_bytes())
                        .and_then(|()| file.sync_all())
                        .map_err(|source| {
                            let _ = std::fs::remove_file(&path);
                            ImportError::Write {
                                path: path.clone(),
                                source,
                            }
                        })
                });
            if let Err(e) = result {
                for p in &written {
                    let _ = std::fs::remove_file(p);
                }
                return Err(e);
            }
            written.push(path);
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> &'static Path {
        Path::new("vendor.yaml")
    }

    fn import(doc: Value) -> Import {
        convert(spec(), &doc, Profile::Zendesk).unwrap_or_else(|e| panic!("imports: {e}"))
    }

    fn import_err(doc: Value) -> ImportError {
        match convert(spec(), &doc, Profile::Zendesk) {
            Ok(i) => panic!("expected an error, got {:?}", i.contracts),
            Err(e) => e,
        }
    }

    fn by_file<'i>(import: &'i Import, file: &str) -> &'i ImportedContract {
        import
            .contracts
            .iter()
            .find(|c| c.file == file)
            .unwrap_or_else(|| {
                panic!(
                    "no {file} in {:?}",
                    import.contracts.iter().map(|c| &c.file).collect::<Vec<_>>()
                )
            })
    }

    fn valid(schema: &Value, instance: &Value) -> bool {
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .offline()
            .build(schema)
            .expect("compiles")
            .is_valid(instance)
    }

    fn webhook(schema: Value) -> Value {
        json!({"post": {"requestBody": {"content": {"application/json": {"schema": schema}}}}})
    }

    fn openapi(webhooks: Value, schemas: Value) -> Value {
        json!({
            "openapi": "3.1.0",
            "info": {"title": "Helpdesk", "version": "2024-01"},
            "webhooks": webhooks,
            "components": {"schemas": schemas},
        })
    }

    #[test]
    fn openapi_webhooks_become_contracts_named_by_event_type() {
        let doc = openapi(
            json!({
                "ticketCreated": webhook(json!({"$ref": "#/components/schemas/TicketCreated"})),
                "status": webhook(json!({
                    "type": "object",
                    "required": ["type"],
                    "properties": {"type": {"type": "string"}, "detail": {"$ref": "#/components/schemas/Ticket"}}
                })),
                "ping": {"post": {"requestBody": {"content": {"text/plain": {"schema": {"type": "string"}}}}}},
            }),
            json!({
                "TicketCreated": {
                    "description": "A ticket was created.",
                    "type": "object",
                    "required": ["type", "detail"],
                    "properties": {
                        "type": {"const": "zen:event-type:ticket.created"},
                        "detail": {"$ref": "#/components/schemas/Ticket"}
                    }
                },
                "Ticket": {
                    "type": "object",
                    "required": ["id"],
                    "properties": {"id": {"type": "string"}, "status": {"$ref": "#/components/schemas/Status"}}
                },
                "Status": {"enum": ["NEW", "OPEN"]},
                "Unused": {"type": "integer"}
            }),
        );
        let import = import(doc);
        assert_eq!(import.kind, SpecKind::OpenApi("3.1.0".into()));
        let files: Vec<&str> = import.contracts.iter().map(|c| c.file.as_str()).collect();
        // The payload's type const wins over the key; keys are sanitized.
        assert_eq!(files, ["ticket.created.json", "status.json"]);
        assert_eq!(
            import.skipped,
            [Skipped {
                source: "/webhooks/ping/post".into(),
                reason: "no requestBody.content[\"application/json\"].schema".into()
            }]
        );

        let created = by_file(&import, "ticket.created.json");
        assert_eq!(
            created.source,
            "/webhooks/ticketCreated/post/requestBody/content/application~1json/schema"
        );
        let s = &created.schema;
        assert_eq!(s["$schema"], DIALECT);
        // The root `$ref` is replaced by the component it names.
        assert_eq!(
            s["properties"]["type"]["const"],
            "zen:event-type:ticket.created"
        );
        assert_eq!(s["properties"]["detail"]["$ref"], "#/$defs/Ticket");
        assert_eq!(
            s["$defs"]["Ticket"]["properties"]["status"]["$ref"],
            "#/$defs/Status"
        );
        // Only what is reached is copied.
        let defs: Vec<&String> = s["$defs"].as_object().unwrap().keys().collect();
        assert_eq!(defs, ["Ticket", "Status"]);
        let description = s["description"].as_str().unwrap();
        assert!(
            description.starts_with("A ticket was created."),
            "{description}"
        );
        assert!(
            description.contains(
                "vendor.yaml (OpenAPI 3.1.0: \"Helpdesk\" 2024-01) at #/webhooks/ticketCreated/post/requestBody/content/application~1json/schema (→ #/components/schemas/TicketCreated)"
            ),
            "{description}"
        );
        assert!(valid(
            s,
            &json!({"type": "zen:event-type:ticket.created", "detail": {"id": "1", "status": "OPEN"}})
        ));
        assert!(!valid(
            s,
            &json!({"type": "zen:event-type:ticket.created", "detail": {"id": "1", "status": "MERGED"}})
        ));
        // A name without a dot is flagged: hookproof reads it as a shared piece.
        let status = by_file(&import, "status.json");
        assert!(
            status.notes.iter().any(|n| n.contains("shared piece")),
            "{:?}",
            status.notes
        );
        assert!(created.notes.is_empty(), "{:?}", created.notes);
    }

    #[test]
    fn x_event_type_wins_and_path_items_and_request_bodies_may_be_refs() {
        let doc = json!({
            "openapi": "3.1.1",
            "webhooks": {
                "a": {"$ref": "#/components/pathItems/A"},
                "b": {"post": {"x-event-type": "zen:event-type:ticket.tags_changed",
                               "requestBody": {"$ref": "#/components/requestBodies/B"}}},
            },
            "components": {
                "pathItems": {"A": {"x-event-type": "ticket.merged", "post": {
                    "requestBody": {"content": {"application/json; charset=utf-8": {"schema": {"type": "object"}}}}}}},
                "requestBodies": {"B": {"content": {"application/json": {"schema": {
                    "type": "object", "properties": {"type": {"const": "zen:event-type:other.thing"}}}}}}}
            }
        });
        let import = import(doc);
        let files: Vec<(&str, &str)> = import
            .contracts
            .iter()
            .map(|c| (c.file.as_str(), c.source.as_str()))
            .collect();
        assert_eq!(
            files,
            [
                (
                    "ticket.merged.json",
                    "/components/pathItems/A/post/requestBody/content/application~1json; charset=utf-8/schema"
                ),
                (
                    "ticket.tags_changed.json",
                    "/components/requestBodies/B/content/application~1json/schema"
                ),
            ]
        );
    }

    #[test]
    fn cyclic_refs_are_copied_once() {
        let doc = openapi(
            json!({"tree": webhook(json!({"$ref": "#/components/schemas/Node"}))}),
            json!({
                "Node": {"type": "object", "properties": {
                    "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
                    "owner": {"$ref": "#/components/schemas/Person"}
                }},
                "Person": {"type": "object", "properties": {
                    "manager": {"$ref": "#/components/schemas/Person"},
                    "team": {"$ref": "#/components/schemas/Node"}
                }}
            }),
        );
        let import = import(doc);
        let s = &by_file(&import, "tree.json").schema;
        // The root refers to itself with `#`, Person to itself through $defs.
        assert_eq!(s["properties"]["children"]["items"]["$ref"], "#");
        assert_eq!(s["properties"]["owner"]["$ref"], "#/$defs/Person");
        assert_eq!(
            s["$defs"]["Person"]["properties"]["manager"]["$ref"],
            "#/$defs/Person"
        );
        assert_eq!(s["$defs"]["Person"]["properties"]["team"]["$ref"], "#");
        assert_eq!(s["$defs"].as_object().unwrap().len(), 1);
        assert!(valid(
            s,
            &json!({"children": [{"children": [], "owner": {"manager": {}}}]})
        ));
        assert!(!valid(s, &json!({"children": [{"children": 3}]})));
    }

    #[test]
    fn inline_root_cycle_and_refs_outside_components_schemas() {
        let root = "/webhooks/w/post/requestBody/content/application~1json/schema";
        let doc = openapi(
            json!({"w": webhook(json!({
                "type": "object",
                "properties": {
                    "next": {"$ref": format!("#{root}")},
                    "meta": {"$ref": "#/components/messages/Meta/payload"},
                    "id": {"$ref": "#/components/schemas/Ids/properties/ticket"}
                }
            }))}),
            json!({"Ids": {"type": "object", "properties": {"ticket": {"type": "string", "pattern": "^[0-9]+$"}}}}),
        );
        let mut doc = doc;
        doc["components"]["messages"] = json!({"Meta": {"payload": {"type": "object"}}});
        let import = import(doc);
        let s = &by_file(&import, "w.json").schema;
        assert_eq!(s["properties"]["next"]["$ref"], "#");
        assert_eq!(s["properties"]["meta"]["$ref"], "#/$defs/Meta.payload");
        assert_eq!(
            s["properties"]["id"]["$ref"],
            "#/$defs/Ids/properties/ticket"
        );
        assert!(valid(
            s,
            &json!({"id": "12", "meta": {}, "next": {"id": "3"}})
        ));
        assert!(!valid(s, &json!({"next": {"id": "x"}})));
    }

    #[test]
    fn external_and_dangling_refs_name_the_pointer() {
        let doc = openapi(
            json!({"t": webhook(json!({"$ref": "#/components/schemas/T"}))}),
            json!({"T": {"properties": {"a": {"$ref": "https://example.com/a.json"}}}}),
        );
        let err = import_err(doc);
        assert!(
            matches!(&err, ImportError::ExternalRef { pointer, reference, .. }
                if pointer == "/components/schemas/T/properties/a/$ref"
                && reference == "https://example.com/a.json"),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.starts_with("vendor.yaml: `$ref` at /components/schemas/T/properties/a/$ref"),
            "{message}"
        );
        assert!(message.contains("nothing is fetched"), "{message}");

        let doc = openapi(
            json!({"t": webhook(json!({"$ref": "common.yaml#/Ticket"}))}),
            json!({}),
        );
        assert!(
            matches!(import_err(doc), ImportError::ExternalRef { pointer, .. }
            if pointer == "/webhooks/t/post/requestBody/content/application~1json/schema/$ref")
        );

        let doc = openapi(
            json!({"t": webhook(json!({"properties": {"a": {"$ref": "#/components/schemas/Gone"}}}))}),
            json!({}),
        );
        let err = import_err(doc);
        assert!(
            matches!(&err, ImportError::DanglingRef { reference, .. } if reference == "#/components/schemas/Gone"),
            "{err:?}"
        );
    }

    #[test]
    fn openapi_3_0_isms_are_converted_with_a_note() {
        let doc = openapi(
            json!({"t": webhook(json!({"$ref": "#/components/schemas/T"}))}),
            json!({"T": {"type": "object", "properties": {
                "priority": {"type": "string", "enum": ["LOW", "HIGH"], "nullable": true},
                "org": {"allOf": [{"$ref": "#/components/schemas/Id"}], "nullable": true},
                "count": {"type": "integer", "minimum": 0, "exclusiveMinimum": true},
                "plain": {"type": "string", "nullable": false}
            }}, "Id": {"type": "string"}}),
        );
        let import = import(doc);
        let c = by_file(&import, "t.json");
        let p = &c.schema["properties"];
        assert_eq!(p["priority"]["type"], json!(["string", "null"]));
        assert_eq!(p["priority"]["enum"], json!(["LOW", "HIGH", null]));
        assert!(p["priority"].get("nullable").is_none());
        assert_eq!(p["org"]["anyOf"][1], json!({"type": "null"}));
        assert_eq!(
            p["count"],
            json!({"type": "integer", "exclusiveMinimum": 0})
        );
        assert_eq!(p["plain"], json!({"type": "string"}));
        assert!(
            c.notes
                .iter()
                .any(|n| n
                    .contains("`nullable: true` at #/components/schemas/T/properties/priority")),
            "{:?}",
            c.notes
        );
        let conversions = c
            .notes
            .iter()
            .filter(|n| n.starts_with("converted"))
            .count();
        assert_eq!(conversions, 3, "{:?}", c.notes);
        let comment = c.schema["$comment"].as_str().unwrap();
        assert!(comment.contains("nullable"), "{comment}");
        assert!(valid(
            &c.schema,
            &json!({"priority": null, "org": null, "count": 1})
        ));
        assert!(!valid(&c.schema, &json!({"count": 0})));
    }

    #[test]
    fn a_schema_that_does_not_compile_names_its_source_pointer() {
        let doc = openapi(
            json!({"t": webhook(json!({"$ref": "#/components/schemas/T"}))}),
            json!({"T": {"properties": {"a": {"$ref": "#/components/schemas/Bad"}}},
                   "Bad": {"type": "string", "pattern": "(unclosed"}}),
        );
        let err = import_err(doc);
        assert!(
            matches!(&err, ImportError::InvalidSchema { pointer, .. } if pointer.starts_with("/components/schemas/Bad")),
            "{err:?}"
        );
        let doc = openapi(
            json!({"t": webhook(json!({"type": "object", "minProperties": "two"}))}),
            json!({}),
        );
        let err = import_err(doc);
        assert!(
            matches!(&err, ImportError::InvalidSchema { pointer, .. }
                if pointer == "/webhooks/t/post/requestBody/content/application~1json/schema/minProperties"),
            "{err:?}"
        );
    }

    const ASYNCAPI2: &str = r#"
asyncapi: 2.6.0
info: {title: Helpdesk events, version: "1"}
channels:
  tickets:
    subscribe:
      message:
        oneOf:
          - $ref: '#/components/messages/TicketCreated'
          - name: ticket.status_changed
            payload:
              type: object
              properties:
                event: {$ref: '#/components/schemas/Change'}
          - messageId: avroThing
            schemaFormat: application/vnd.apache.avro;version=1.9.0
            payload: {type: record}
  users:
    publish:
      message:
        $ref: '#/components/messages/TicketCreated'
  audit:
    subscribe:
      message:
        payload: {type: object}
components:
  messages:
    TicketCreated:
      payload:
        $ref: '#/components/schemas/Event'
  schemas:
    Event:
      type: object
      properties:
        type: {const: 'zen:event-type:ticket.created'}
    Change:
      type: object
      properties:
        previous: {type: string}
"#;

    #[test]
    fn asyncapi_2_messages_including_one_of_and_refs() {
        let doc = parse(spec(), ASYNCAPI2).unwrap();
        let import = import(doc);
        assert_eq!(import.kind, SpecKind::AsyncApi2("2.6.0".into()));
        let files: Vec<(&str, &str)> = import
            .contracts
            .iter()
            .map(|c| (c.file.as_str(), c.source.as_str()))
            .collect();
        assert_eq!(
            files,
            [
                (
                    "ticket.created.json",
                    "/components/messages/TicketCreated/payload"
                ),
                (
                    "ticket.status_changed.json",
                    "/channels/tickets/subscribe/message/oneOf/1/payload"
                ),
                ("audit.json", "/channels/audit/subscribe/message/payload"),
            ]
        );
        assert_eq!(import.skipped.len(), 1);
        assert!(
            import.skipped[0].reason.contains("avro"),
            "{:?}",
            import.skipped
        );
        let changed = &by_file(&import, "ticket.status_changed.json").schema;
        assert_eq!(changed["properties"]["event"]["$ref"], "#/$defs/Change");
        assert_eq!(
            changed["$defs"]["Change"]["properties"]["previous"]["type"],
            "string"
        );
    }

    const ASYNCAPI3: &str = r#"
asyncapi: 3.0.0
info: {title: Helpdesk events, version: "2"}
channels:
  tickets:
    address: tickets
    messages:
      created: {$ref: '#/components/messages/TicketCreated'}
      Merged:
        payload:
          schemaFormat: application/vnd.aai.asyncapi+json;version=3.0.0
          schema: {type: object, properties: {into: {type: string}}}
components:
  messages:
    TicketCreated:
      name: TicketCreated
      x-event-type: ticket.created
      payload: {$ref: '#/components/schemas/Created'}
    UserActiveChanged:
      payload: {type: object}
    Proto:
      payload:
        schemaFormat: application/vnd.google.protobuf;version=3
        schema: 'message X {}'
  schemas:
    Created:
      type: object
      properties:
        detail: {$ref: '#/components/schemas/Created'}
"#;

    #[test]
    fn asyncapi_3_channel_and_component_messages() {
        let doc = parse(spec(), ASYNCAPI3).unwrap();
        let import = import(doc);
        assert_eq!(import.kind, SpecKind::AsyncApi3("3.0.0".into()));
        let files: Vec<(&str, &str)> = import
            .contracts
            .iter()
            .map(|c| (c.file.as_str(), c.source.as_str()))
            .collect();
        assert_eq!(
            files,
            [
                (
                    "ticket.created.json",
                    "/components/messages/TicketCreated/payload"
                ),
                (
                    "merged.json",
                    "/channels/tickets/messages/Merged/payload/schema"
                ),
                (
                    "user_active_changed.json",
                    "/components/messages/UserActiveChanged/payload"
                ),
            ]
        );
        assert_eq!(import.skipped.len(), 1, "{:?}", import.skipped);
        assert_eq!(
            import.skipped[0].source,
            "/components/messages/Proto/payload"
        );
        let created = &by_file(&import, "ticket.created.json").schema;
        assert_eq!(created["properties"]["detail"]["$ref"], "#");
        assert!(created.get("$defs").is_none());
    }

    #[test]
    fn names_are_sanitized() {
        for (raw, want) in [
            ("zen:event-type:ticket.created", Some("ticket.created")),
            ("ticket.status_changed", Some("ticket.status_changed")),
            ("TicketStatusChanged", Some("ticket_status_changed")),
            ("Ticket Created!", Some("ticket_created")),
            ("contact/creation v2", Some("contact_creation_v2")),
            ("../../etc/passwd", Some("etc_passwd")),
            ("  .hidden.", Some("hidden")),
            ("Zähler", Some("z_hler")),
            ("%%%", None),
            ("", None),
        ] {
            assert_eq!(sanitize_name(raw).as_deref(), want, "{raw:?}");
        }
        for raw in ["a.b", "x-y_z.0", "TicketStatusChanged", "../x/../y"] {
            let name = sanitize_name(raw).unwrap();
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c)),
                "{name}"
            );
            assert!(!name.starts_with('.'));
        }
    }

    #[test]
    fn duplicate_and_empty_names_are_errors() {
        let doc = openapi(
            json!({
                "Ticket Created": webhook(json!({"type": "object"})),
                "ticket_created": webhook(json!({"type": "object"})),
            }),
            json!({}),
        );
        let err = import_err(doc);
        assert!(
            matches!(&err, ImportError::DuplicateName { file, first, second, .. }
                if file == "zendesk/ticket_created.json"
                && first == "/webhooks/Ticket Created/post/requestBody/content/application~1json/schema"
                && second == "/webhooks/ticket_created/post/requestBody/content/application~1json/schema"),
            "{err:?}"
        );
        let doc = openapi(
            json!({"***": webhook(json!({"type": "object"}))}),
            json!({}),
        );
        assert!(
            matches!(import_err(doc), ImportError::BadName { pointer, .. } if pointer == "/webhooks/***/post")
        );
    }

    #[test]
    fn documents_that_are_not_specs_are_named() {
        for (doc, found) in [
            (json!({"openapi": "3.0.3", "paths": {}}), "OpenAPI 3.0.3"),
            (json!({"swagger": "2.0"}), "Swagger 2.0"),
            (json!({"asyncapi": "1.2.0"}), "AsyncAPI 1.2.0"),
            (
                json!({"type": "object"}),
                "neither an `openapi` nor an `asyncapi` key",
            ),
            (json!([1, 2]), "a list"),
        ] {
            let err = import_err(doc);
            let message = err.to_string();
            assert!(matches!(err, ImportError::NotASpec { .. }), "{message}");
            assert!(message.starts_with("vendor.yaml: "), "{message}");
            assert!(message.contains(found), "{message}");
            assert!(
                message.contains("expected an OpenAPI 3.1 document"),
                "{message}"
            );
        }
        // Unquoted `openapi: 3.1` in YAML is a number and still works.
        let doc = parse(spec(), "openapi: 3.1\nwebhooks:\n  t:\n    post:\n      requestBody:\n        content:\n          application/json:\n            schema: {type: object}\n").unwrap();
        assert_eq!(import(doc).kind, SpecKind::OpenApi("3.1".into()));
        // A spec without webhooks has nothing to import.
        let err = import_err(json!({"openapi": "3.1.0", "paths": {}}));
        assert!(err.to_string().contains("no top-level `webhooks`"), "{err}");
    }

    #[test]
    fn yaml_and_json_parse_errors_have_positions() {
        let err = parse(Path::new("s.json"), "{\n  \"openapi\": ,\n}").unwrap_err();
        assert!(
            matches!(
                err,
                ImportError::Syntax {
                    format: "JSON",
                    line: 2,
                    ..
                }
            ),
            "{err:?}"
        );
        let err = parse(Path::new("s.yaml"), "openapi: 3.1.0\nwebhooks: [\n").unwrap_err();
        assert!(err.to_string().starts_with("s.yaml:"), "{err}");
        assert!(
            matches!(err, ImportError::Syntax { format: "YAML", .. }),
            "{err:?}"
        );
        // YAML integer keys (`200:`) and merge keys become plain JSON.
        let doc = parse(
            Path::new("s.yaml"),
            "a: &a {x: 1}\nb:\n  <<: *a\n  y: 2\nresponses:\n  200: {description: ok}\n",
        )
        .unwrap();
        assert_eq!(doc["responses"]["200"]["description"], "ok");
        assert_eq!(doc["b"], json!({"x": 1, "y": 2}));
    }

    #[test]
    fn hubspot_profile_flags_names_that_are_not_crm_operations() {
        let doc = openapi(
            json!({"contact.creation": webhook(json!({"type": "object"})),
                   "tickets.create": webhook(json!({"type": "object"}))}),
            json!({}),
        );
        let import = convert(spec(), &doc, Profile::Hubspot).unwrap();
        assert!(
            by_file(&import, "contact.creation.json").notes[0]
                .contains("`creation` is not a CRM operation")
        );
        assert!(by_file(&import, "tickets.create.json").notes.is_empty());
        let out = Path::new("/x");
        assert_eq!(
            import.targets(out)[0],
            Path::new("/x/hubspot/contact.creation.json")
        );
    }

    #[test]
    fn write_never_overwrites() {
        let doc = openapi(
            json!({"ticket.created": webhook(json!({"type": "object"})),
                   "ticket.status_changed": webhook(json!({"type": "object"}))}),
            json!({}),
        );
        let import = import(doc);
        let tmp = tempfile::tempdir().unwrap();
        let written = import.write(tmp.path()).unwrap();
        assert_eq!(
            written,
            [
                tmp.path().join("zendesk/ticket.created.json"),
                tmp.path().join("zendesk/ticket.status_changed.json")
            ]
        );
        let text = std::fs::read_to_string(&written[0]).unwrap();
        assert!(text.ends_with("}\n"));
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, import.contracts[0].schema);

        // Second run: nothing is touched, every existing file is named.
        std::fs::write(&written[1], "mine").unwrap();
        std::fs::remove_file(&written[0]).unwrap();
        let err = import.write(tmp.path()).unwrap_err();
        assert!(
            matches!(&err, ImportError::Exists { paths } if paths == &[written[1].clone()]),
            "{err:?}"
        );
        assert!(err.to_string().contains("nothing was written"), "{err}");
        assert!(!written[0].exists(), "nothing written before failing");
        assert_eq!(std::fs::read_to_string(&written[1]).unwrap(), "mine");
    }

    #[test]
    fn imported_zendesk_like_spec_accepts_the_real_payload() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/import/zendesk-webhooks.openapi.json");
        let import = read(&path, Profile::Zendesk).unwrap_or_else(|e| panic!("{e}"));
        let payload = |name: &str| -> Value {
            let p = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/payloads/zendesk")
                .join(name);
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
        };
        let created = by_file(&import, "ticket.created.json");
        assert!(valid(&created.schema, &payload("ticket_created.json")));
        assert!(
            created.notes.iter().any(|n| n.contains("nullable")),
            "{:?}",
            created.notes
        );
        let changed = by_file(&import, "ticket.status_changed.json");
        assert!(valid(
            &changed.schema,
            &payload("ticket_status_changed.json")
        ));
        assert!(!valid(&changed.schema, &payload("ticket_created.json")));
    }
}
