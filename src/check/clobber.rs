//! `no_clobber`: CRM-owned properties (owner, lifecycle stage, …) of objects
//! that existed before the run must be left as they were.

use super::input::CheckInput;
use super::verdict::{CheckName, CheckResult, Evidence, Verdict};

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
    for s in seeded {
        let found = input
            .faulted
            .snapshot
            .objects
            .get(&s.object_type)
            .and_then(|objects| {
                objects
                    .iter()
                    .find(|o| o.properties.get(&s.key) == Some(&s.value))
            });
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
