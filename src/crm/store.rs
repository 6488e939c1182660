//! The CRM's state: objects, unique-property indexes and associations, and
//! the operations of the HubSpot objects API on them, with HubSpot's errors.

use super::schema::{association_target, property_definitions, unique_names};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

/// One CRM object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrmObject {
    /// Object type (`contacts`, `tickets`, `notes`).
    pub object_type: String,
    /// CRM id (digits).
    pub id: String,
    /// Every property value, as strings (CRM-assigned ones included).
    pub properties: BTreeMap<String, String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update time.
    pub updated_at: DateTime<Utc>,
    /// Archived (deleted).
    pub archived: bool,
}

impl CrmObject {
    /// The HubSpot JSON form (`SimplePublicObject`); `only` selects properties.
    pub fn to_json(&self, only: Option<&[String]>) -> Value {
        let props: Map<String, Value> = self
            .properties
            .iter()
            .filter(|(k, _)| {
                only.is_none_or(|o| {
                    o.iter().any(|p| p == *k)
                        || [
                            "hs_object_id",
                            "createdate",
                            "lastmodifieddate",
                            "hs_lastmodifieddate",
                        ]
                        .contains(&k.as_str())
                })
            })
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        json!({
            "id": self.id,
            "properties": props,
            "createdAt": ts(self.created_at),
            "updatedAt": ts(self.updated_at),
            "archived": self.archived,
        })
    }
}

/// An association between two objects (stored once per pair and direction
/// asked for; reads see it from both sides).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Association {
    /// From object type.
    pub from_type: String,
    /// From object id.
    pub from_id: String,
    /// To object type.
    pub to_type: String,
    /// To object id.
    pub to_id: String,
    /// `HUBSPOT_DEFINED`, `USER_DEFINED` or `INTEGRATOR_DEFINED`.
    pub category: String,
    /// Association type id (e.g. 16 ticket → contact).
    pub type_id: u32,
}

/// The whole CRM state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CrmSnapshot {
    /// Objects by type, in id order.
    pub objects: BTreeMap<String, Vec<CrmObject>>,
    /// Associations, in creation order.
    pub associations: Vec<Association>,
}

/// A HubSpot-style error.
#[derive(Debug, Clone, PartialEq)]
pub struct CrmError {
    /// HTTP status.
    pub status: u16,
    /// HubSpot `category`.
    pub category: &'static str,
    /// Message.
    pub message: String,
    /// Extra fields merged into the body (e.g. `errorType`); boxed, as few
    /// errors have them and every `Result` carrying a `CrmError` pays for
    /// its size.
    pub extra: Option<Box<Value>>,
    /// For a `409 CONFLICT`, the id of the object that already holds the
    /// unique value: the body's `context: {"id": ["<id>"]}`, written after
    /// the other fields (kept apart from [`CrmError::extra`] so that a
    /// conflict, which a retrying SUT can cause on every request, builds no
    /// [`Value`]).
    pub conflict_with: Option<u64>,
}

impl CrmError {
    pub(crate) fn new(status: u16, category: &'static str, message: impl Into<String>) -> Self {
        CrmError {
            status,
            category,
            message: message.into(),
            extra: None,
            conflict_with: None,
        }
    }

    pub(crate) fn not_found(object_type: &str, id: &str) -> Self {
        CrmError::new(
            404,
            "OBJECT_NOT_FOUND",
            format!("Object not found.  objectId are usually numeric. ({object_type} {id})"),
        )
    }

    /// The HubSpot error body: `status`, `message`, `correlationId`,
    /// `category`, then the fields of [`CrmError::extra`] (an extra field
    /// of the same name replaces one of the four in place).
    pub fn body(&self, correlation_id: &str) -> Value {
        serde_json::to_value(ErrorBody {
            error: self,
            correlation_id,
        })
        .unwrap_or_default()
    }

    /// [`CrmError::body`] serialised, without building a [`Value`] first
    /// (the mock CRM answers every error with it).
    pub(crate) fn body_bytes(&self, correlation_id: &str) -> Vec<u8> {
        // Room for the common bodies (a 409 is ≈ 190 bytes), so the buffer
        // is not grown while writing; serde_json starts from 128.
        let mut out = Vec::with_capacity(256);
        let body = ErrorBody {
            error: self,
            correlation_id,
        };
        match serde_json::to_writer(&mut out, &body) {
            Ok(()) => out,
            Err(_) => Vec::new(),
        }
    }
}

/// The HubSpot error body of a [`CrmError`], serialised field by field.
struct ErrorBody<'a> {
    error: &'a CrmError,
    correlation_id: &'a str,
}

impl Serialize for ErrorBody<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        const BASE: [&str; 4] = ["status", "message", "correlationId", "category"];
        let extra = match self.error.extra.as_deref() {
            Some(Value::Object(extra)) => Some(extra),
            _ => None,
        };
        let replaced = |name: &str| extra.and_then(|e| e.get(name));
        let mut map = serializer.serialize_map(None)?;
        let base: [&str; 4] = [
            "error",
            &self.error.message,
            self.correlation_id,
            self.error.category,
        ];
        for (name, value) in BASE.iter().zip(base) {
            match replaced(name) {
                Some(v) => map.serialize_entry(name, v)?,
                None => map.serialize_entry(name, value)?,
            }
        }
        for (k, v) in extra.into_iter().flatten() {
            if !BASE.contains(&k.as_str()) {
                map.serialize_entry(k, v)?;
            }
        }
        if let Some(id) = self.error.conflict_with {
            map.serialize_entry("context", &ConflictContext(id))?;
        }
        map.end()
    }
}

/// A conflict's `context`, `{"id": ["<id>"]}`, with the id written as a
/// JSON string straight from the number (no `String` built per conflict).
struct ConflictContext(u64);

impl Serialize for ConflictContext {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// The id as a JSON string.
        struct Text(u64);
        impl Serialize for Text {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(&self.0)
            }
        }
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("id", &[Text(self.0)])?;
        map.end()
    }
}

pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Property names refused because of an API-version rename: `(type, old) → new`.
pub type Renames = HashMap<(String, String), String>;

/// The store.
#[derive(Debug, Default)]
pub struct Store {
    next_id: u64,
    objects: BTreeMap<String, BTreeMap<u64, CrmObject>>,
    /// Unique property values (lowercased) by object type and property:
    /// nested so that a lookup borrows its keys instead of building them;
    /// foldhash, as the index is only looked up, never iterated, and every
    /// create and update looks up three keys in it.
    unique: foldhash::HashMap<String, foldhash::HashMap<String, foldhash::HashMap<String, u64>>>,
    associations: Vec<Association>,
}

impl Store {
    /// An empty store; ids start at a HubSpot-looking number.
    pub fn new() -> Store {
        Store {
            next_id: 1_000_001,
            ..Store::default()
        }
    }

    /// The full state.
    pub fn snapshot(&self) -> CrmSnapshot {
        CrmSnapshot {
            objects: self
                .objects
                .iter()
                .map(|(t, objs)| (t.clone(), objs.values().cloned().collect()))
                .collect(),
            associations: self.associations.clone(),
        }
    }

    /// Validates written properties and converts them to text, in the
    /// request's order, without copying them: a create or update finds a
    /// unique conflict from these before it builds the stored map
    /// ([`stored`]), so the conflict a retrying SUT causes on every request
    /// copies nothing. Invalid properties are reported before a conflict,
    /// as HubSpot does.
    fn properties<'a>(
        object_type: &str,
        props: &'a Map<String, Value>,
        renames: &Renames,
    ) -> Result<Vec<Written<'a>>, CrmError> {
        let defs = property_definitions(object_type);
        let mut out = Vec::with_capacity(props.len());
        let mut invalid = Vec::new();
        for (name, value) in props {
            let renamed_to = renames
                .iter()
                .find(|((t, _), new)| t == object_type && *new == name)
                .map(|((_, old), _)| old.as_str());
            let stored_name = renamed_to.unwrap_or(name);
            let refused = !renames.is_empty()
                && renames.contains_key(&(object_type.to_string(), name.clone()));
            match defs.iter().find(|d| d.name == stored_name) {
                Some(d) if !refused && !d.read_only => {
                    let text = match value {
                        Value::String(s) => Cow::Borrowed(s.as_str()),
                        Value::Number(n) => Cow::Owned(n.to_string()),
                        Value::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
                        Value::Null => Cow::Borrowed(""),
                        other => {
                            invalid.push(json!({"isValid": false, "message": format!("{other} is not a valid value for {name}"), "error": "INVALID_VALUE", "name": name}));
                            continue;
                        }
                    };
                    out.push((d.name, text));
                }
                Some(d) if d.read_only => invalid.push(json!({
                    "isValid": false,
                    "message": format!("{name} is a read only property; its value cannot be set."),
                    "error": "READ_ONLY_VALUE",
                    "name": name,
                })),
                _ => invalid.push(json!({
                    "isValid": false,
                    "message": format!("Property \"{name}\" does not exist"),
                    "error": "PROPERTY_DOESNT_EXIST",
                    "name": name,
                })),
            }
        }
        if invalid.is_empty() {
            Ok(out)
        } else {
            Err(CrmError::new(
                400,
                "VALIDATION_ERROR",
                format!(
                    "Property values were not valid: {}",
                    serde_json::to_string(&invalid).unwrap_or_default()
                ),
            ))
        }
    }

    fn unique_conflict(
        &self,
        object_type: &str,
        props: &[Written<'_>],
        except: Option<u64>,
    ) -> Option<CrmError> {
        for key in unique_names(object_type) {
            if let Some(v) = written_value(props, key).filter(|v| !v.is_empty())
                && let Some(existing) = self.unique_id(object_type, key, v)
                && Some(existing) != except
            {
                let what = match object_type {
                    "contacts" => "Contact",
                    other => other.trim_end_matches('s'),
                };
                let mut e = CrmError::new(
                    409,
                    "CONFLICT",
                    format!("{what} already exists. Existing ID: {existing}"),
                );
                e.conflict_with = Some(existing);
                return Some(e);
            }
        }
        None
    }

    /// The object whose unique property `key` is `value` (case-insensitive).
    fn unique_id(&self, object_type: &str, key: &str, value: &str) -> Option<u64> {
        self.unique
            .get(object_type)?
            .get(key)?
            .get(lowercase(value).as_ref())
            .copied()
    }

    fn index(&mut self, object_type: &str, id: u64, props: &BTreeMap<String, String>) {
        for key in unique_names(object_type) {
            if let Some(v) = props.get(key).filter(|v| !v.is_empty()) {
                self.unique
                    .entry(object_type.to_owned())
                    .or_default()
                    .entry(key.to_owned())
                    .or_default()
                    .insert(v.to_lowercase(), id);
            }
        }
    }

    /// Creates an object (`POST /crm/v3/objects/{type}`).
    pub fn create(
        &mut self,
        object_type: &str,
        props: &Map<String, Value>,
        associations: &[(String, u32, String)],
        renames: &Renames,
    ) -> Result<CrmObject, CrmError> {
        let written = Self::properties(object_type, props, renames)?;
        if let Some(e) = self.unique_conflict(object_type, &written, None) {
            return Err(e);
        }
        for (to_id, type_id, _) in associations {
            let to_type = association_target(object_type, *type_id).ok_or_else(|| {
                CrmError::new(
                    400,
                    "VALIDATION_ERROR",
                    format!("association type id {type_id} is not valid from {object_type}"),
                )
            })?;
            if self.get(to_type, to_id, None).is_none() {
                return Err(CrmError::new(
                    400,
                    "VALIDATION_ERROR",
                    format!(
                        "One or more associations are invalid: {to_type} {to_id} does not exist"
                    ),
                ));
            }
        }
        let object = self.insert(object_type, stored(written));
        for (to_id, type_id, category) in associations {
            let to_type = association_target(object_type, *type_id).unwrap_or_default();
            self.associations.push(Association {
                from_type: object_type.to_string(),
                from_id: object.id.clone(),
                to_type: to_type.to_string(),
                to_id: to_id.clone(),
                category: category.clone(),
                type_id: *type_id,
            });
        }
        Ok(object)
    }

    /// Inserts an object without validation (pre-seeded state).
    pub fn insert(&mut self, object_type: &str, mut props: BTreeMap<String, String>) -> CrmObject {
        let id = self.next_id;
        self.next_id += 1;
        let now = Utc::now();
        let id_text = id.to_string();
        let created = ts(now);
        props.insert("hs_object_id".into(), id_text.clone());
        props.insert(modified_key(object_type).into(), created.clone());
        props.insert("createdate".into(), created);
        self.index(object_type, id, &props);
        let object = CrmObject {
            object_type: object_type.to_string(),
            id: id_text,
            properties: props,
            created_at: now,
            updated_at: now,
            archived: false,
        };
        self.objects
            .entry(object_type.to_string())
            .or_default()
            .insert(id, object.clone());
        object
    }

    /// Resolves an id, or a unique property value with `id_property`.
    fn resolve(&self, object_type: &str, id: &str, id_property: Option<&str>) -> Option<u64> {
        match id_property {
            Some(p) if p != "hs_object_id" => self.unique_id(object_type, p, id),
            _ => id.parse().ok(),
        }
        .filter(|n| {
            self.objects
                .get(object_type)
                .and_then(|o| o.get(n))
                .is_some_and(|o| !o.archived)
        })
    }

    /// Reads an object by id or unique property.
    pub fn get(
        &self,
        object_type: &str,
        id: &str,
        id_property: Option<&str>,
    ) -> Option<&CrmObject> {
        let n = self.resolve(object_type, id, id_property)?;
        self.objects.get(object_type)?.get(&n)
    }

    /// Updates an object (`PATCH`).
    pub fn update(
        &mut self,
        object_type: &str,
        id: &str,
        id_property: Option<&str>,
        props: &Map<String, Value>,
        renames: &Renames,
    ) -> Result<CrmObject, CrmError> {
        let n = self
            .resolve(object_type, id, id_property)
            .ok_or_else(|| CrmError::not_found(object_type, id))?;
        let written = Self::properties(object_type, props, renames)?;
        if let Some(e) = self.unique_conflict(object_type, &written, Some(n)) {
            return Err(e);
        }
        let props = stored(written);
        self.index(object_type, n, &props);
        let object = self
            .objects
            .get_mut(object_type)
            .and_then(|o| o.get_mut(&n))
            .expect("resolved ids exist");
        let now = Utc::now();
        for (k, v) in props {
            object.properties.insert(k, v);
        }
        object
            .properties
            .insert(modified_key(object_type).into(), ts(now));
        object.updated_at = now;
        Ok(object.clone())
    }

    /// Archives an object (`DELETE`).
    pub fn archive(&mut self, object_type: &str, id: &str) -> Result<(), CrmError> {
        let n = self
            .resolve(object_type, id, None)
            .ok_or_else(|| CrmError::not_found(object_type, id))?;
        if let Some(o) = self
            .objects
            .get_mut(object_type)
            .and_then(|o| o.get_mut(&n))
        {
            o.archived = true;
            for key in unique_names(object_type) {
                if let Some(v) = o.properties.get(key)
                    && let Some(values) = self
                        .unique
                        .get_mut(object_type)
                        .and_then(|k| k.get_mut(key))
                {
                    values.remove(lowercase(v).as_ref());
                }
            }
        }
        Ok(())
    }

    /// Live objects of a type, in id order.
    pub fn list(&self, object_type: &str) -> Vec<&CrmObject> {
        self.objects
            .get(object_type)
            .map(|o| o.values().filter(|o| !o.archived).collect())
            .unwrap_or_default()
    }

    /// Upserts one batch input by its unique `id_property`; returns the object
    /// and whether it was created.
    pub fn upsert(
        &mut self,
        object_type: &str,
        id_property: &str,
        id: &str,
        props: &Map<String, Value>,
        renames: &Renames,
    ) -> Result<(CrmObject, bool), CrmError> {
        if !unique_names(object_type).any(|k| k == id_property) && id_property != "hs_object_id" {
            return Err(CrmError::new(
                400,
                "VALIDATION_ERROR",
                format!("{id_property} is not a unique property of {object_type}"),
            ));
        }
        if self.resolve(object_type, id, Some(id_property)).is_some() {
            let o = self.update(object_type, id, Some(id_property), props, renames)?;
            Ok((o, false))
        } else {
            let mut with_key = props.clone();
            with_key.insert(id_property.to_string(), Value::String(id.to_string()));
            let o = self.create(object_type, &with_key, &[], renames)?;
            Ok((o, true))
        }
    }

    /// Creates (or keeps) an association between two existing objects.
    pub fn associate(
        &mut self,
        from_type: &str,
        from_id: &str,
        to_type: &str,
        to_id: &str,
        type_id: u32,
    ) -> Result<(), CrmError> {
        if self.get(from_type, from_id, None).is_none() {
            return Err(CrmError::not_found(from_type, from_id));
        }
        if self.get(to_type, to_id, None).is_none() {
            return Err(CrmError::not_found(to_type, to_id));
        }
        let exists = self.associations.iter().any(|a| {
            (a.from_type == from_type
                && a.from_id == from_id
                && a.to_type == to_type
                && a.to_id == to_id)
                || (a.from_type == to_type
                    && a.from_id == to_id
                    && a.to_type == from_type
                    && a.to_id == from_id)
        });
        if !exists {
            self.associations.push(Association {
                from_type: from_type.into(),
                from_id: from_id.into(),
                to_type: to_type.into(),
                to_id: to_id.into(),
                category: "HUBSPOT_DEFINED".into(),
                type_id,
            });
        }
        Ok(())
    }

    /// Ids of `to_type` objects associated with `from_type` `from_id` (either direction).
    pub fn associated(&self, from_type: &str, from_id: &str, to_type: &str) -> Vec<(String, u32)> {
        self.associations
            .iter()
            .filter_map(|a| {
                if a.from_type == from_type && a.from_id == from_id && a.to_type == to_type {
                    Some((a.to_id.clone(), a.type_id))
                } else if a.to_type == from_type && a.to_id == from_id && a.from_type == to_type {
                    Some((
                        a.from_id.clone(),
                        super::schema::association_type_id(from_type, to_type).unwrap_or(a.type_id),
                    ))
                } else {
                    None
                }
            })
            .collect()
    }
}

/// A written property after validation: the name it is stored under (the
/// old name of an API-version rename) and its value as text, borrowed from
/// the request when it is a string.
type Written<'a> = (&'static str, Cow<'a, str>);

/// The value written for `name`; when a name is written twice (a renamed
/// property beside its old name), the later write, as in [`stored`].
fn written_value<'p>(written: &'p [Written<'_>], name: &str) -> Option<&'p str> {
    written
        .iter()
        .rev()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_ref())
}

/// The written properties as the store keeps them (a later write of a name
/// replaces an earlier one).
fn stored(written: Vec<Written<'_>>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, value) in written {
        out.insert(name.to_owned(), value.into_owned());
    }
    out
}

/// `s.to_lowercase()`, borrowed when that changes nothing (ASCII without
/// capitals: the usual email or external id).
fn lowercase(s: &str) -> Cow<'_, str> {
    if s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.to_lowercase())
    }
}

fn modified_key(object_type: &str) -> &'static str {
    if object_type == "contacts" {
        "lastmodifieddate"
    } else {
        "hs_lastmodifieddate"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn create_get_update_and_unique_conflicts() {
        let mut s = Store::new();
        let none = Renames::new();
        let c = s
            .create(
                "contacts",
                &props(json!({"email": "A@x.example", "firstname": "Ada"})),
                &[],
                &none,
            )
            .unwrap();
        assert_eq!(
            s.get("contacts", "a@x.example", Some("email")).unwrap().id,
            c.id
        );
        let e = s
            .create(
                "contacts",
                &props(json!({"email": "a@x.example"})),
                &[],
                &none,
            )
            .unwrap_err();
        assert_eq!(e.status, 409);
        assert!(e.message.contains(&c.id));
        // HubSpot's conflict body, field order included.
        let body = e.body("c0ffee");
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            serde_json::to_string(&json!({
                "status": "error",
                "message": format!("Contact already exists. Existing ID: {}", c.id),
                "correlationId": "c0ffee",
                "category": "CONFLICT",
                "context": {"id": [c.id]},
            }))
            .unwrap()
        );
        assert_eq!(e.body_bytes("c0ffee"), serde_json::to_vec(&body).unwrap());
        let u = s
            .update(
                "contacts",
                &c.id,
                None,
                &props(json!({"lastname": "Lovelace"})),
                &none,
            )
            .unwrap();
        assert_eq!(u.properties["lastname"], "Lovelace");
        let e = s
            .create("contacts", &props(json!({"nope": "x"})), &[], &none)
            .unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("PROPERTY_DOESNT_EXIST"));
    }

    #[test]
    fn invalid_properties_are_reported_before_a_conflict_and_values_become_text() {
        let mut s = Store::new();
        let none = Renames::new();
        let c = s
            .create(
                "contacts",
                &props(json!({"email": "ada@example.com", "phone": 5, "firstname": null, "company": true})),
                &[],
                &none,
            )
            .unwrap();
        assert_eq!(c.properties["phone"], "5");
        assert_eq!(c.properties["firstname"], "");
        assert_eq!(c.properties["company"], "true");
        // The same email with an unknown property: HubSpot's 400, not the 409.
        let e = s
            .create(
                "contacts",
                &props(json!({"email": "ADA@example.com", "nope": "x"})),
                &[],
                &none,
            )
            .unwrap_err();
        assert_eq!((e.status, e.conflict_with), (400, None));
        let e = s
            .create(
                "contacts",
                &props(json!({"email": "ADA@example.com", "firstname": "Ada"})),
                &[],
                &none,
            )
            .unwrap_err();
        assert_eq!(e.status, 409);
        assert_eq!(e.conflict_with, Some(c.id.parse().unwrap()));
        assert_eq!(s.list("contacts").len(), 1);
        // An update to another contact's email conflicts; to its own does not.
        let d = s
            .create(
                "contacts",
                &props(json!({"email": "bob@example.com"})),
                &[],
                &none,
            )
            .unwrap();
        let e = s
            .update(
                "contacts",
                &d.id,
                None,
                &props(json!({"email": "ada@example.com"})),
                &none,
            )
            .unwrap_err();
        assert_eq!(e.status, 409);
        s.update(
            "contacts",
            &d.id,
            None,
            &props(json!({"email": "bob@example.com"})),
            &none,
        )
        .unwrap();
    }

    #[test]
    fn upsert_creates_then_updates() {
        let mut s = Store::new();
        let none = Renames::new();
        let (a, new) = s
            .upsert(
                "tickets",
                "helpdesk_ticket_id",
                "70001",
                &props(json!({"subject": "s"})),
                &none,
            )
            .unwrap();
        assert!(new);
        let (b, new) = s
            .upsert(
                "tickets",
                "helpdesk_ticket_id",
                "70001",
                &props(json!({"subject": "t"})),
                &none,
            )
            .unwrap();
        assert!(!new);
        assert_eq!(a.id, b.id);
        assert_eq!(s.list("tickets").len(), 1);
    }

    #[test]
    fn renamed_property_is_refused_and_its_new_name_accepted() {
        let mut s = Store::new();
        let mut renames = Renames::new();
        renames.insert(
            ("tickets".into(), "hs_ticket_priority".into()),
            "hs_priority".into(),
        );
        let e = s
            .create(
                "tickets",
                &props(json!({"hs_ticket_priority": "HIGH"})),
                &[],
                &renames,
            )
            .unwrap_err();
        assert!(e.message.contains("hs_ticket_priority"));
        let o = s
            .create(
                "tickets",
                &props(json!({"hs_priority": "HIGH"})),
                &[],
                &renames,
            )
            .unwrap();
        assert_eq!(o.properties["hs_ticket_priority"], "HIGH");
    }

    #[test]
    fn associations_need_both_ends() {
        let mut s = Store::new();
        let none = Renames::new();
        let t = s
            .create("tickets", &props(json!({"subject": "s"})), &[], &none)
            .unwrap();
        let n = s
            .create(
                "notes",
                &props(json!({"hs_note_body": "b"})),
                &[(t.id.clone(), 228, "HUBSPOT_DEFINED".into())],
                &none,
            )
            .unwrap();
        assert_eq!(
            s.associated("tickets", &t.id, "notes"),
            vec![(n.id.clone(), 227)]
        );
        assert_eq!(
            s.associate("tickets", &t.id, "contacts", "999", 16)
                .unwrap_err()
                .status,
            404
        );
    }
}
