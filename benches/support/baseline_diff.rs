//! The differential diff as it was before it borrowed from the snapshots
//! (owned property maps, `format!`ed identities and association keys in
//! `BTreeMap`s): the baseline of the `differential diff` bench group and the
//! reference model the unit tests compare the current diff with.
//!
//! Included with `#[path]` by `benches/core.rs` and by the unit tests of
//! `src/check/diff.rs`; it brings no imports of its own, its parent module
//! provides `BTreeMap`, `CrmObject`, `CrmSnapshot`, `Difference`,
//! `StateDiff`, `crm_assigned_properties` and `unique_properties`.

use super::*;

fn normalise(object: &CrmObject) -> BTreeMap<String, String> {
    let assigned = crm_assigned_properties();
    object
        .properties
        .iter()
        .filter(|(k, v)| !assigned.contains(&k.as_str()) && !v.is_empty())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn identity(object_type: &str, props: &BTreeMap<String, String>) -> String {
    for key in unique_properties(object_type) {
        if let Some(v) = props.get(key) {
            return format!("{key}={v}");
        }
    }
    let content: Vec<String> = props.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("content: {}", content.join(", "))
}

type Index = BTreeMap<(String, String), Vec<BTreeMap<String, String>>>;

fn index(state: &CrmSnapshot) -> (Index, BTreeMap<(String, String), String>) {
    let mut by_identity: Index = BTreeMap::new();
    let mut id_to_identity = BTreeMap::new();
    for (object_type, objects) in &state.objects {
        for object in objects.iter().filter(|o| !o.archived) {
            let props = normalise(object);
            let ident = identity(object_type, &props);
            id_to_identity.insert((object_type.clone(), object.id.clone()), ident.clone());
            by_identity
                .entry((object_type.clone(), ident))
                .or_default()
                .push(props);
        }
    }
    (by_identity, id_to_identity)
}

fn associations(
    state: &CrmSnapshot,
    ids: &BTreeMap<(String, String), String>,
) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for a in &state.associations {
        let from = ids
            .get(&(a.from_type.clone(), a.from_id.clone()))
            .cloned()
            .unwrap_or_else(|| format!("id {}", a.from_id));
        let to = ids
            .get(&(a.to_type.clone(), a.to_id.clone()))
            .cloned()
            .unwrap_or_else(|| format!("id {}", a.to_id));
        let key = format!(
            "{}:{from} -> {}:{to} (type {})",
            a.from_type, a.to_type, a.type_id
        );
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

/// Compares `expected` with `actual`, as `diff_states` did before it
/// borrowed from the snapshots.
pub fn diff_states(expected: &CrmSnapshot, actual: &CrmSnapshot) -> StateDiff {
    let (exp, exp_ids) = index(expected);
    let (act, act_ids) = index(actual);
    let mut differences = Vec::new();
    let keys: std::collections::BTreeSet<_> = exp.keys().chain(act.keys()).cloned().collect();
    for key in keys {
        let (object_type, ident) = key.clone();
        let e = exp.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        let a = act.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        if e.len() > a.len() {
            differences.push(Difference::Missing {
                object_type: object_type.clone(),
                identity: ident.clone(),
                expected: e.len(),
                actual: a.len(),
                properties: e[0].clone(),
            });
        } else if a.len() > e.len() {
            differences.push(Difference::Extra {
                object_type: object_type.clone(),
                identity: ident.clone(),
                expected: e.len(),
                actual: a.len(),
                properties: a[0].clone(),
            });
        }
        if let (Some(ep), Some(ap)) = (e.first(), a.first())
            && ep != ap
        {
            let keys: Vec<String> = ep
                .keys()
                .chain(ap.keys())
                .filter(|k| ep.get(*k) != ap.get(*k))
                .cloned()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            differences.push(Difference::Mismatch {
                object_type,
                identity: ident,
                expected: ep.clone(),
                actual: ap.clone(),
                keys,
            });
        }
    }
    let ea = associations(expected, &exp_ids);
    let aa = associations(actual, &act_ids);
    let keys: std::collections::BTreeSet<_> = ea.keys().chain(aa.keys()).cloned().collect();
    for key in keys {
        let e = ea.get(&key).copied().unwrap_or(0);
        let a = aa.get(&key).copied().unwrap_or(0);
        if e > a {
            differences.push(Difference::MissingAssociation {
                association: key,
                expected: e,
                actual: a,
            });
        } else if a > e {
            differences.push(Difference::ExtraAssociation {
                association: key,
                expected: e,
                actual: a,
            });
        }
    }
    StateDiff { differences }
}
