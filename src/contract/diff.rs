//! `hookproof contracts diff OLD NEW`: every change between two versions of
//! a contract (or a directory of contracts), classified for the consumer of
//! the payloads it describes.
//!
//! - **breaking**: a field removed or renamed, a type narrowed, a new
//!   required field (or a field made required), an enum value removed, a
//!   contract removed, a constraint tightened, closed to unknown fields;
//! - **risky**: a new enum value, a new event type (a contract only in NEW),
//!   a format change, a type widened, a field made optional, a constraint
//!   loosened, alternatives (`oneOf`/`anyOf`) changed, open to unknown fields;
//! - **safe**: a new optional field.
//!
//! Local references (`#/$defs/…`) and references to sibling files
//! (`common.json#/$defs/…`) are followed, so a change in a shared definition
//! shows up at every place that uses it. Descriptions and titles are ignored.

use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// How a change affects a consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Payloads or consumers that worked before fail now.
    Breaking,
    /// Works, but a consumer may mishandle what it has not seen before.
    Risky,
    /// Nothing a consumer relies on changes.
    Safe,
}

impl Class {
    /// The class as written in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Breaking => "breaking",
            Class::Risky => "risky",
            Class::Safe => "safe",
        }
    }
}

/// One classified change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Its class.
    pub class: Class,
    /// The contract file (relative to the compared directory, or its name).
    pub file: String,
    /// JSON pointer into the schema where it happened.
    pub pointer: String,
    /// What changed, in one line.
    pub what: String,
}

/// Why two contract versions could not be compared.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiffError {
    /// A file or directory could not be read.
    #[error("{path}: {source}; pass a JSON Schema file or a directory of them")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file is not JSON.
    #[error("{path}:{line}:{column}: not valid JSON: {message}")]
    Json {
        /// The path.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// One side is a file and the other a directory.
    #[error("{old} and {new} must both be files or both be directories")]
    Mismatch {
        /// OLD.
        old: PathBuf,
        /// NEW.
        new: PathBuf,
    },
}

/// The schemas of one side, by relative file name.
type Docs = BTreeMap<String, Value>;

fn read_json(path: &Path) -> Result<Value, DiffError> {
    let text = std::fs::read_to_string(path).map_err(|source| DiffError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| DiffError::Json {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })
}

fn read_dir(root: &Path, dir: &Path, docs: &mut Docs) -> Result<(), DiffError> {
    let io = |source| DiffError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()).map_err(io))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            read_dir(root, &path, docs)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            let name = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            docs.insert(name, read_json(&path)?);
        }
    }
    Ok(())
}

fn load(path: &Path) -> Result<(Docs, bool), DiffError> {
    let mut docs = Docs::new();
    if path.is_dir() {
        // A contracts root (as `Contracts::load_dir` reads it): only its
        // profile directories, so a nested version set (`next/`) is not
        // taken for files of this one.
        let profiles: Vec<PathBuf> = ["zendesk", "hubspot"]
            .iter()
            .map(|p| path.join(p))
            .filter(|p| p.is_dir())
            .collect();
        if profiles.is_empty() {
            read_dir(path, path, &mut docs)?;
        }
        for profile in profiles {
            read_dir(path, &profile, &mut docs)?;
        }
        Ok((docs, true))
    } else {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        docs.insert(name, read_json(path)?);
        Ok((docs, false))
    }
}

/// Compares two contract files or two directories of contract files.
pub fn diff_paths(old: &Path, new: &Path) -> Result<Vec<Change>, DiffError> {
    let (old_docs, old_dir) = load(old)?;
    let (new_docs, new_dir) = load(new)?;
    if old_dir != new_dir {
        return Err(DiffError::Mismatch {
            old: old.to_path_buf(),
            new: new.to_path_buf(),
        });
    }
    if !old_dir {
        // Two single files: compare them whatever their names. The `.json`
        // files beside each are loaded too, only to follow `$ref`s into them
        // (`"$ref": "event.json"`), and are not compared themselves.
        let (old_name, new_name) = (
            old_docs.into_keys().next().expect("one file"),
            new_docs.into_keys().next().expect("one file"),
        );
        let old_docs = with_siblings(old, &old_name)?;
        let new_docs = with_siblings(new, &new_name)?;
        let mut changes = Vec::new();
        let mut walk = Walk {
            file: &new_name,
            old_docs: &old_docs,
            new_docs: &new_docs,
            changes: &mut changes,
            depth: 0,
        };
        walk.compare(
            &old_docs[&old_name],
            &new_docs[&new_name],
            &old_name,
            &new_name,
            "",
        );
        changes.sort_by(|a, b| (a.class, &a.pointer).cmp(&(b.class, &b.pointer)));
        return Ok(changes);
    }
    Ok(diff_docs(&old_docs, &new_docs))
}

/// The file at `path` (as `name`) and the `.json` files in its directory
/// that parse (those that do not are left out: they are only there for
/// `$ref`s, and a reference into one of them stays unresolved).
fn with_siblings(path: &Path, name: &str) -> Result<Docs, DiffError> {
    let mut docs = Docs::new();
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Ok(entries) = std::fs::read_dir(dir) {
        for sibling in entries.flatten().map(|e| e.path()) {
            if sibling.is_file()
                && sibling.extension().is_some_and(|e| e == "json")
                && let Some(file) = sibling.file_name().and_then(|n| n.to_str())
                && file != name
                && let Ok(value) = read_json(&sibling)
            {
                docs.insert(file.to_owned(), value);
            }
        }
    }
    docs.insert(name.to_owned(), read_json(path)?);
    Ok(docs)
}

/// Compares two sets of schemas by file name.
pub fn diff_docs(old: &Docs, new: &Docs) -> Vec<Change> {
    let mut changes = Vec::new();
    for (file, old_schema) in old {
        match new.get(file) {
            Some(new_schema) => {
                let mut walk = Walk {
                    file,
                    old_docs: old,
                    new_docs: new,
                    changes: &mut changes,
                    depth: 0,
                };
                walk.compare(old_schema, new_schema, file, file, "");
            }
            None => changes.push(Change {
                class: Class::Breaking,
                file: file.clone(),
                pointer: String::new(),
                what: "contract removed".into(),
            }),
        }
    }
    for file in new.keys().filter(|f| !old.contains_key(*f)) {
        let event = new[file]
            .pointer("/properties/type/const")
            .and_then(Value::as_str)
            .map(|t| format!("new event type `{t}`"))
            .unwrap_or_else(|| "new contract (a new event type or endpoint)".into());
        changes.push(Change {
            class: Class::Risky,
            file: file.clone(),
            pointer: String::new(),
            what: event,
        });
    }
    changes.sort_by(|a, b| (a.class, &a.file, &a.pointer).cmp(&(b.class, &b.file, &b.pointer)));
    changes
}

struct Walk<'a> {
    file: &'a str,
    old_docs: &'a Docs,
    new_docs: &'a Docs,
    changes: &'a mut Vec<Change>,
    depth: usize,
}

/// The schema a `$ref` (local, or to a sibling file) names, and its file.
fn target<'a>(docs: &'a Docs, doc: &str, reference: &str) -> Option<(&'a Value, String)> {
    let (file, pointer) = reference.split_once('#').unwrap_or((reference, ""));
    let doc = if file.is_empty() {
        doc.to_string()
    } else {
        match doc.rsplit_once('/') {
            Some((dir, _)) => format!("{dir}/{file}"),
            None => file.to_string(),
        }
    };
    let schema = docs.get(&doc)?.pointer(pointer)?;
    Some((schema, doc))
}

/// `schema` with its `$ref` replaced by what it names (keywords beside the
/// reference win; `properties` and `required` are merged), followed up to 16
/// levels deep; and the file the result's own references are relative to.
fn flatten(docs: &Docs, doc: &str, schema: &Value) -> (Value, String) {
    let mut current = schema.clone();
    let mut doc = doc.to_string();
    for _ in 0..16 {
        let Some(reference) = current
            .get("$ref")
            .and_then(Value::as_str)
            .map(String::from)
        else {
            break;
        };
        let Some((named, named_doc)) = target(docs, &doc, &reference) else {
            break;
        };
        let mut merged = named.as_object().cloned().unwrap_or_default();
        for (key, value) in current.as_object().into_iter().flatten() {
            if key == "$ref" {
                continue;
            }
            match (key.as_str(), merged.get_mut(key), value) {
                ("properties", Some(Value::Object(base)), Value::Object(over)) => {
                    base.extend(over.clone());
                }
                ("required", Some(Value::Array(base)), Value::Array(over)) => {
                    base.extend(
                        over.iter()
                            .filter(|v| !base.contains(v))
                            .cloned()
                            .collect::<Vec<_>>(),
                    );
                }
                _ => {
                    merged.insert(key.clone(), value.clone());
                }
            }
        }
        // Sibling keywords were written relative to `doc`, the named ones to
        // `named_doc`; they agree in every contract set we know (one
        // directory), so the named file wins.
        current = Value::Object(merged);
        doc = named_doc;
    }
    (current, doc)
}

fn types(schema: &Value) -> BTreeSet<String> {
    let mut set: BTreeSet<String> = match schema.get("type") {
        Some(Value::String(t)) => [t.clone()].into(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        _ => BTreeSet::new(),
    };
    // `integer` is a kind of `number`.
    if set.contains("number") {
        set.remove("integer");
    }
    set
}

fn strings(schema: &Value, key: &str) -> BTreeSet<String> {
    schema
        .get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|v| v.to_string()).collect())
        .unwrap_or_default()
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

impl Walk<'_> {
    fn push(&mut self, class: Class, pointer: &str, what: String) {
        self.changes.push(Change {
            class,
            file: self.file.to_string(),
            pointer: pointer.to_string(),
            what,
        });
    }

    /// Whether two schemas accept the same payloads as far as this diff
    /// can tell (no change found between them).
    fn same(&self, old: &Value, old_doc: &str, new: &Value, new_doc: &str) -> bool {
        let mut scratch = Vec::new();
        let mut walk = Walk {
            file: self.file,
            old_docs: self.old_docs,
            new_docs: self.new_docs,
            changes: &mut scratch,
            depth: self.depth,
        };
        walk.compare(old, new, old_doc, new_doc, "");
        scratch.is_empty()
    }

    fn compare(&mut self, old: &Value, new: &Value, old_doc: &str, new_doc: &str, at: &str) {
        if self.depth > 32 {
            return;
        }
        self.depth += 1;
        let (old, old_doc) = flatten(self.old_docs, old_doc, old);
        let (new, new_doc) = flatten(self.new_docs, new_doc, new);
        let (old, new) = (&old, &new);
        self.compare_types(old, new, at);
        self.compare_enums(old, new, at);
        if old.get("format") != new.get("format") {
            let show = |v: Option<&Value>| v.map_or("none".to_string(), |v| v.to_string());
            self.push(
                Class::Risky,
                at,
                format!(
                    "format changed from {} to {}",
                    show(old.get("format")),
                    show(new.get("format"))
                ),
            );
        }
        self.compare_bounds(old, new, at);
        self.compare_properties(old, new, &old_doc, &new_doc, at);
        if let (Some(o), Some(n)) = (old.get("items"), new.get("items")) {
            self.compare(o, n, &old_doc, &new_doc, &format!("{at}/items"));
        }
        for key in ["oneOf", "anyOf"] {
            match (
                old.get(key).and_then(Value::as_array),
                new.get(key).and_then(Value::as_array),
            ) {
                (Some(o), Some(n)) if o.len() == n.len() => {
                    for (i, (o, n)) in o.iter().zip(n).enumerate() {
                        self.compare(o, n, &old_doc, &new_doc, &format!("{at}/{key}/{i}"));
                    }
                }
                (None, None) => {}
                (o, n) => self.push(
                    Class::Risky,
                    &format!("{at}/{key}"),
                    format!(
                        "alternatives changed ({} → {})",
                        o.map_or(0, Vec::len),
                        n.map_or(0, Vec::len)
                    ),
                ),
            }
        }
        self.depth -= 1;
    }

    fn compare_types(&mut self, old: &Value, new: &Value, at: &str) {
        let (o, n) = (types(old), types(new));
        if o == n || o.is_empty() && n.is_empty() {
            return;
        }
        let list = |s: &BTreeSet<String>| {
            if s.is_empty() {
                "any".to_string()
            } else {
                s.iter().cloned().collect::<Vec<_>>().join("|")
            }
        };
        let narrowed = !n.is_empty() && (o.is_empty() || !o.is_subset(&n));
        let widened = !o.is_empty() && (n.is_empty() || !n.is_subset(&o));
        let (class, how) = match (narrowed, widened) {
            (true, false) => (Class::Breaking, "narrowed"),
            (false, true) => (Class::Risky, "widened"),
            _ => (Class::Breaking, "changed"),
        };
        self.push(
            class,
            at,
            format!("type {how} from {} to {}", list(&o), list(&n)),
        );
    }

    fn compare_enums(&mut self, old: &Value, new: &Value, at: &str) {
        let (o, n) = (strings(old, "enum"), strings(new, "enum"));
        if o.is_empty() && n.is_empty() {
            match (old.get("const"), new.get("const")) {
                (Some(o), Some(n)) if o != n => self.push(
                    Class::Breaking,
                    at,
                    format!("constant changed from {o} to {n}"),
                ),
                (None, Some(n)) => {
                    self.push(Class::Breaking, at, format!("value fixed to {n}"));
                }
                (Some(o), None) => self.push(
                    Class::Risky,
                    at,
                    format!("constant {o} dropped: other values allowed"),
                ),
                _ => {}
            }
            return;
        }
        if n.is_empty() {
            self.push(Class::Risky, at, "enum dropped: any value allowed".into());
            return;
        }
        for removed in o.difference(&n) {
            self.push(Class::Breaking, at, format!("enum value {removed} removed"));
        }
        if o.is_empty() {
            self.push(Class::Breaking, at, "values restricted to an enum".into());
            return;
        }
        for added in n.difference(&o) {
            self.push(Class::Risky, at, format!("new enum value {added}"));
        }
    }

    fn compare_bounds(&mut self, old: &Value, new: &Value, at: &str) {
        // (keyword, true when a larger value is tighter)
        const BOUNDS: &[(&str, bool)] = &[
            ("minLength", true),
            ("maxLength", false),
            ("minimum", true),
            ("maximum", false),
            ("exclusiveMinimum", true),
            ("exclusiveMaximum", false),
            ("minItems", true),
            ("maxItems", false),
        ];
        for (key, larger_is_tighter) in BOUNDS {
            let (o, n) = (
                old.get(*key).and_then(Value::as_f64),
                new.get(*key).and_then(Value::as_f64),
            );
            let tighter = match (o, n) {
                (None, Some(_)) => true,
                (Some(_), None) => false,
                (Some(o), Some(n)) if o != n => (n > o) == *larger_is_tighter,
                _ => continue,
            };
            let show = |v: Option<f64>| v.map_or("none".to_string(), |v| v.to_string());
            self.push(
                if tighter {
                    Class::Breaking
                } else {
                    Class::Risky
                },
                at,
                format!(
                    "{key} {} from {} to {}",
                    if tighter { "tightened" } else { "loosened" },
                    show(o),
                    show(n)
                ),
            );
        }
        let closed = |s: &Value| s.get("additionalProperties") == Some(&Value::Bool(false));
        match (closed(old), closed(new)) {
            (false, true) => self.push(
                Class::Breaking,
                at,
                "closed to unknown fields (additionalProperties: false)".into(),
            ),
            (true, false) => self.push(Class::Risky, at, "open to unknown fields".into()),
            _ => {}
        }
    }

    fn compare_properties(
        &mut self,
        old: &Value,
        new: &Value,
        old_doc: &str,
        new_doc: &str,
        at: &str,
    ) {
        let empty = serde_json::Map::new();
        let o = old
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let n = new
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let (o_req, n_req) = (strings(old, "required"), strings(new, "required"));
        let required =
            |set: &BTreeSet<String>, key: &str| set.contains(&Value::from(key).to_string());
        let mut removed: Vec<&String> = o.keys().filter(|k| !n.contains_key(*k)).collect();
        let mut added: Vec<&String> = n.keys().filter(|k| !o.contains_key(*k)).collect();
        // A removed and an added field of the same shape: one rename.
        let mut renames = Vec::new();
        removed.retain(|r| {
            match added
                .iter()
                .position(|a| self.same(&o[r.as_str()], old_doc, &n[a.as_str()], new_doc))
            {
                Some(i) => {
                    renames.push(((*r).clone(), added.remove(i).clone()));
                    false
                }
                None => true,
            }
        });
        for (from, to) in renames {
            self.push(
                Class::Breaking,
                &format!("{at}/properties/{}", escape(&from)),
                format!("field renamed `{from}` → `{to}`"),
            );
        }
        for key in removed {
            self.push(
                Class::Breaking,
                &format!("{at}/properties/{}", escape(key)),
                format!("field `{key}` removed"),
            );
        }
        for key in added {
            let pointer = format!("{at}/properties/{}", escape(key));
            if required(&o_req, key) {
                // Required before without a schema of its own: it only gains one.
                self.compare(
                    &Value::Object(empty.clone()),
                    &n[key.as_str()],
                    old_doc,
                    new_doc,
                    &pointer,
                );
            } else if required(&n_req, key) {
                self.push(
                    Class::Breaking,
                    &pointer,
                    format!("new required field `{key}`"),
                );
            } else {
                self.push(Class::Safe, &pointer, format!("new optional field `{key}`"));
            }
        }
        // Required names without a property schema on either side (a
        // contract that only adds `required` to a shared definition).
        for key in n_req.difference(&o_req) {
            let key: String = serde_json::from_str(key).unwrap_or_else(|_| key.clone());
            if !o.contains_key(&key) && !n.contains_key(&key) {
                self.push(
                    Class::Breaking,
                    &format!("{at}/required"),
                    format!("field `{key}` is now required"),
                );
            }
        }
        for key in o_req.difference(&n_req) {
            let key: String = serde_json::from_str(key).unwrap_or_else(|_| key.clone());
            if !o.contains_key(&key) && !n.contains_key(&key) {
                self.push(
                    Class::Risky,
                    &format!("{at}/required"),
                    format!("field `{key}` is now optional (may be absent)"),
                );
            }
        }
        for (key, old_field) in o {
            let Some(new_field) = n.get(key) else {
                continue;
            };
            let pointer = format!("{at}/properties/{}", escape(key));
            match (required(&o_req, key), required(&n_req, key)) {
                (false, true) => self.push(
                    Class::Breaking,
                    &pointer,
                    format!("field `{key}` is now required"),
                ),
                (true, false) => self.push(
                    Class::Risky,
                    &pointer,
                    format!("field `{key}` is now optional (may be absent)"),
                ),
                _ => {}
            }
            self.compare(old_field, new_field, old_doc, new_doc, &pointer);
        }
    }
}

/// The changes as a table, one per line, breaking first.
pub fn table(changes: &[Change]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let width =
        |f: fn(&Change) -> usize, min: usize| changes.iter().map(f).max().unwrap_or(0).max(min);
    let (fw, pw) = (width(|c| c.file.len(), 4), width(|c| c.pointer.len(), 7));
    let _ = writeln!(
        out,
        "{:<9} {:<fw$} {:<pw$} change",
        "class", "file", "pointer"
    );
    for c in changes {
        let _ = writeln!(
            out,
            "{:<9} {:<fw$} {:<pw$} {}",
            c.class.as_str(),
            c.file,
            if c.pointer.is_empty() {
                "/"
            } else {
                &c.pointer
            },
            c.what
        );
    }
    let count = |class| changes.iter().filter(|c| c.class == class).count();
    let _ = writeln!(
        out,
        "{} breaking, {} risky, {} safe",
        count(Class::Breaking),
        count(Class::Risky),
        count(Class::Safe)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(old: Value, new: Value) -> Vec<(Class, String, String)> {
        let docs = |v: Value| Docs::from([("e.json".to_string(), v)]);
        diff_docs(&docs(old), &docs(new))
            .into_iter()
            .map(|c| (c.class, c.pointer, c.what))
            .collect()
    }

    fn object(properties: Value, required: &[&str]) -> Value {
        json!({"type": "object", "properties": properties, "required": required})
    }

    #[test]
    fn classifies_a_table_of_hand_made_changes() {
        use Class::*;
        let s = json!({"type": "string"});
        let cases: Vec<(&str, Value, Value, Class, &str)> = vec![
            (
                "field removed",
                object(json!({"a": s, "b": {"type": "integer"}}), &[]),
                object(json!({"a": s}), &[]),
                Breaking,
                "field `b` removed",
            ),
            (
                "field renamed",
                object(json!({"subject": s}), &[]),
                object(json!({"title": s}), &[]),
                Breaking,
                "field renamed `subject` → `title`",
            ),
            (
                "a name made required without a property schema",
                json!({"type": "object", "required": ["a"]}),
                json!({"type": "object", "required": ["a", "b"]}),
                Breaking,
                "field `b` is now required",
            ),
            (
                "a required name without a property schema dropped",
                json!({"type": "object", "required": ["a", "b"]}),
                json!({"type": "object", "required": ["a"]}),
                Risky,
                "field `b` is now optional (may be absent)",
            ),
            (
                "value fixed to a constant",
                json!({"type": "string"}),
                json!({"type": "string", "const": "v2"}),
                Breaking,
                "value fixed to \"v2\"",
            ),
            (
                "constant dropped",
                json!({"type": "string", "const": "v1"}),
                json!({"type": "string"}),
                Risky,
                "constant \"v1\" dropped: other values allowed",
            ),
            (
                "a required name gains a schema",
                json!({"type": "object", "required": ["a"]}),
                object(json!({"a": {"type": "string"}}), &["a"]),
                Breaking,
                "type narrowed from any to string",
            ),
            (
                "type narrowed",
                json!({"type": ["string", "null"]}),
                json!({"type": "string"}),
                Breaking,
                "type narrowed from null|string to string",
            ),
            (
                "type widened",
                json!({"type": "string"}),
                json!({"type": ["string", "null"]}),
                Risky,
                "type widened from string to null|string",
            ),
            (
                "type changed",
                json!({"type": "string"}),
                json!({"type": "integer"}),
                Breaking,
                "type changed from string to integer",
            ),
            (
                "new required field",
                object(json!({"a": s}), &["a"]),
                object(json!({"a": s, "b": s}), &["a", "b"]),
                Breaking,
                "new required field `b`",
            ),
            (
                "field made required",
                object(json!({"a": s}), &[]),
                object(json!({"a": s}), &["a"]),
                Breaking,
                "field `a` is now required",
            ),
            (
                "field made optional",
                object(json!({"a": s}), &["a"]),
                object(json!({"a": s}), &[]),
                Risky,
                "field `a` is now optional (may be absent)",
            ),
            (
                "enum value removed",
                json!({"enum": ["OPEN", "SOLVED"]}),
                json!({"enum": ["OPEN"]}),
                Breaking,
                "enum value \"SOLVED\" removed",
            ),
            (
                "new enum value",
                json!({"enum": ["OPEN"]}),
                json!({"enum": ["OPEN", "HOLD"]}),
                Risky,
                "new enum value \"HOLD\"",
            ),
            (
                "format change",
                json!({"type": "string", "format": "date-time"}),
                json!({"type": "string", "format": "date"}),
                Risky,
                "format changed from \"date-time\" to \"date\"",
            ),
            (
                "new optional field",
                object(json!({"a": s}), &[]),
                object(json!({"a": s, "tags": {"type": "array"}}), &[]),
                Safe,
                "new optional field `tags`",
            ),
            (
                "constraint tightened",
                json!({"type": "string", "maxLength": 100}),
                json!({"type": "string", "maxLength": 50}),
                Breaking,
                "maxLength tightened from 100 to 50",
            ),
            (
                "closed",
                json!({"type": "object"}),
                json!({"type": "object", "additionalProperties": false}),
                Breaking,
                "closed to unknown fields (additionalProperties: false)",
            ),
        ];
        for (name, old, new, class, what) in cases {
            let got = one(old, new);
            assert_eq!(got.len(), 1, "{name}: {got:?}");
            assert_eq!((got[0].0, got[0].2.as_str()), (class, what), "{name}");
        }
    }

    #[test]
    fn descriptions_and_identical_schemas_are_no_change() {
        let a = json!({"type": "object", "description": "old words",
                       "properties": {"id": {"type": "string", "title": "Id"}}});
        let b = json!({"type": "object", "description": "new words",
                       "properties": {"id": {"type": "string"}}});
        assert!(one(a, b).is_empty());
    }

    #[test]
    fn nested_changes_carry_their_pointer() {
        let old = object(
            json!({"detail": object(json!({"status": {"enum": ["OPEN"]}}), &[])}),
            &[],
        );
        let new = object(
            json!({"detail": object(json!({"status": {"enum": ["OPEN", "HOLD"]}}), &[])}),
            &[],
        );
        let got = one(old, new);
        assert_eq!(got[0].1, "/properties/detail/properties/status");
    }

    #[test]
    fn references_to_shared_definitions_are_followed() {
        let common = |stages: Value| json!({"$defs": {"stage": {"enum": stages}}});
        let event = json!({"type": "object", "properties": {"stage": {"$ref": "common.json#/$defs/stage"}}});
        let old = Docs::from([
            ("common.json".into(), common(json!(["1", "2"]))),
            ("ticket.json".into(), event.clone()),
        ]);
        let new = Docs::from([
            ("common.json".into(), common(json!(["1"]))),
            ("ticket.json".into(), event),
        ]);
        let changes = diff_docs(&old, &new);
        assert!(
            changes
                .iter()
                .any(|c| c.file == "ticket.json" && c.what == "enum value \"2\" removed"),
            "{changes:?}"
        );
    }

    #[test]
    fn files_added_and_removed() {
        let old = Docs::from([("a.json".into(), json!({"type": "object"}))]);
        let new = Docs::from([(
            "b.json".into(),
            json!({"properties": {"type": {"const": "zen:event-type:ticket.merged"}}}),
        )]);
        let changes = diff_docs(&old, &new);
        assert_eq!(changes.len(), 2);
        assert_eq!(
            (changes[0].class, changes[0].what.as_str()),
            (Class::Breaking, "contract removed")
        );
        assert_eq!(changes[1].class, Class::Risky);
        assert!(changes[1].what.contains("ticket.merged"));
    }

    #[test]
    fn table_counts_each_class() {
        let docs = |v: Value| Docs::from([("e.json".to_string(), v)]);
        let t = table(&diff_docs(
            &docs(object(json!({"a": {"type": "string"}}), &[])),
            &docs(object(json!({"b": {"type": "integer"}}), &[])),
        ));
        assert!(t.contains("field `a` removed"), "{t}");
        assert!(t.ends_with("1 breaking, 0 risky, 1 safe\n"), "{t}");
    }

    #[test]
    fn two_files_follow_refs_into_their_siblings() {
        let tmp = tempfile::tempdir().unwrap();
        let (old_dir, new_dir) = (tmp.path().join("old"), tmp.path().join("new"));
        std::fs::create_dir_all(&old_dir).unwrap();
        std::fs::create_dir_all(&new_dir).unwrap();
        let write =
            |path: std::path::PathBuf, v: Value| std::fs::write(path, v.to_string()).unwrap();
        write(
            old_dir.join("ticket.created.json"),
            json!({"$ref": "event.json", "properties": {"detail": {"$ref": "ticket.json"}}}),
        );
        write(
            old_dir.join("event.json"),
            json!({"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}),
        );
        write(
            old_dir.join("ticket.json"),
            json!({"type": "object", "properties": {"status": {"enum": ["OPEN"]}}}),
        );
        std::fs::write(old_dir.join("broken.json"), "{").unwrap();
        // The new version is one self-contained file, named differently.
        write(
            new_dir.join("created.json"),
            json!({
                "type": "object", "required": ["id"],
                "properties": {"id": {"type": "string"}, "detail": {"$ref": "#/$defs/T"}},
                "$defs": {"T": {"type": "object", "properties": {"status": {"enum": ["OPEN", "MERGED"]}}}}
            }),
        );
        let changes = diff_paths(
            &old_dir.join("ticket.created.json"),
            &new_dir.join("created.json"),
        )
        .unwrap();
        let got: Vec<(Class, &str, &str, &str)> = changes
            .iter()
            .map(|c| {
                (
                    c.class,
                    c.file.as_str(),
                    c.pointer.as_str(),
                    c.what.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [(
                Class::Risky,
                "created.json",
                "/properties/detail/properties/status",
                "new enum value \"MERGED\""
            )]
        );
    }
}
