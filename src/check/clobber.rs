//! `no_clobber`: CRM-owned properties (owner, lifecycle stage, …) of objects
//! that existed before the run must be left as they were.

use super::input::CheckInput;
use super::verdict::{CheckName, CheckResult, Evidence, Verdict};
use crate::crm::CrmObject;
use std::collections::HashMap;

pub(crate) fn no_clobber(input: &CheckInput) -> CheckResult {
    let seeded = &input.faulted.seeded;
    if seeded.is_empty() {
        return CheckResult::new(
            CheckName::NoClobber,
            Verdict::Skipped,
            "the scenario seeds no CRM objects with CRM-owned properties",
            Vec::new(),
        );
    }
    let mut evidence = Vec::new();
    // (object type, key) → value → the first object holding it.
    let mut by_key: HashMap<(&str, &str), HashMap<&str, &CrmObject>> = HashMap::new();
    for s in seeded {
        let found = by_key
            .entry((&s.object_type, &s.key))
            .or_insert_with(|| {
                let mut first = HashMap::new();
                let objects = input.faulted.snapshot.objects.get(&s.object_type);
                for o in objects.into_iter().flatten() {
                    if let Some(v) = o.properties.get(&s.key) {
                        first.entry(v.as_str()).or_insert(o);
                    }
                }
                first
            })
            .get(s.value.as_str())
            .copied();
        let Some(object) = found else {
            evidence.push(Evidence::note(format!(
                "{} with {}={} existed before the run and is gone",
                s.object_type, s.key, s.value
            )));
            continue;
        };
        for (k, before) in &s.owned {
            let after = object.properties.get(k).map(String::as_str).unwrap_or("");
            if after != before {
                evidence.push(Evidence {
                    what: format!(
                        "{} {} ({}={}): CRM-owned {k} changed from {before:?} to {after:?}",
                        s.object_type, object.id, s.key, s.value
                    ),
                    event_ids: Vec::new(),
                    timeline: Vec::new(),
                    objects: serde_json::to_value(&object.properties).ok(),
                });
            }
        }
    }
    if evidence.is_empty() {
        CheckResult::new(
            CheckName::NoClobber,
            Verdict::Pass,
            format!(
                "the CRM-owned properties of {} pre-existing objects are untouched",
                seeded.len()
            ),
            evidence,
        )
    } else {
        CheckResult::new(
            CheckName::NoClobber,
            Verdict::Fail,
            format!("{} CRM-owned value(s) overwritten", evidence.len()),
            evidence,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;

    const OWNED: &[(&str, &str)] = &[
        ("lifecyclestage", "customer"),
        ("hubspot_owner_id", "31337"),
    ];

    fn seeded_run() -> Run {
        Run::all_acked()
            .seeded("contacts", "email", ADA, OWNED)
            .edit(|s| {
                set_property(s, "1", "lifecyclestage", "customer");
                set_property(s, "1", "hubspot_owner_id", "31337");
            })
    }

    #[test]
    fn skipped_without_seeded_objects() {
        let r = no_clobber(&Case::new(Run::all_acked()).input());
        assert_verdict(&r, Verdict::Skipped);
        assert_summary(&r, "seeds no CRM objects");
    }

    #[test]
    fn passes_when_owned_properties_are_untouched() {
        // The SUT may change properties it owns (firstname).
        let faulted = seeded_run().edit(|s| set_property(s, "1", "firstname", "Augusta Ada"));
        let r = no_clobber(&Case::new(faulted).input());
        assert_verdict(&r, Verdict::Pass);
        assert_eq!(
            r.summary,
            "the CRM-owned properties of 1 pre-existing objects are untouched"
        );
    }

    #[test]
    fn fails_on_a_changed_owner() {
        let faulted = seeded_run().edit(|s| set_property(s, "1", "hubspot_owner_id", "31338"));
        let r = no_clobber(&Case::new(faulted).input());
        assert_verdict(&r, Verdict::Fail);
        assert_eq!(r.summary, "1 CRM-owned value(s) overwritten");
        assert!(
            evidence_mentions(
                &r,
                "contacts 1 (email=ada.lovelace0@customer.example): CRM-owned hubspot_owner_id changed from \"31337\" to \"31338\""
            ),
            "{r:#?}"
        );
        assert!(r.evidence[0].objects.is_some());
    }

    #[test]
    fn fails_on_a_cleared_owned_property() {
        let faulted = seeded_run().edit(|s| {
            s.objects.get_mut("contacts").unwrap()[0]
                .properties
                .remove("lifecyclestage");
        });
        let r = no_clobber(&Case::new(faulted).input());
        assert_verdict(&r, Verdict::Fail);
        assert!(
            evidence_mentions(&r, "lifecyclestage changed from \"customer\" to \"\""),
            "{r:#?}"
        );
    }

    #[test]
    fn fails_when_a_seeded_object_is_gone() {
        let faulted = seeded_run().edit(|s| remove_object(s, "1"));
        let r = no_clobber(&Case::new(faulted).input());
        assert_verdict(&r, Verdict::Fail);
        assert!(
            evidence_mentions(
                &r,
                "contacts with email=ada.lovelace0@customer.example existed before the run and is gone"
            ),
            "{r:#?}"
        );
    }
}
