//! The `contract` check: every payload in both directions matched its
//! JSON Schema contract (events the producer sent, requests the SUT sent to
//! the CRM, in the clean and the faulted run).

use super::input::CheckInput;
use super::verdict::{CheckName, CheckResult, Evidence, Verdict};

pub(crate) fn contract(input: &CheckInput) -> CheckResult {
    let mut evidence = Vec::new();
    let mut total = 0;
    for (run, obs) in [("clean", input.clean), ("faulted", input.faulted)] {
        for (event_id, v) in &obs.event_violations {
            total += 1;
            evidence.push(Evidence {
                what: format!(
                    "{run} run: helpdesk event breaks {} at {}: {}",
                    v.contract, v.pointer, v.message
                ),
                event_ids: vec![event_id.clone()],
                timeline: Vec::new(),
                objects: None,
            });
        }
        for request in &obs.crm_requests {
            for v in &request.violations {
                total += 1;
                evidence.push(Evidence::note(format!(
                    "{run} run: CRM request #{} {} {} breaks {} at {}: {}",
                    request.seq, request.method, request.path, v.contract, v.pointer, v.message
                )));
            }
        }
    }
    let requests = input.clean.crm_requests.len() + input.faulted.crm_requests.len();
    let events = input.clean.log.deliveries.len() + input.faulted.log.deliveries.len();
    if total == 0 {
        CheckResult::new(
            CheckName::Contract,
            Verdict::Pass,
            format!(
                "{events} webhook deliveries and {requests} CRM requests matched their contracts"
            ),
            evidence,
        )
    } else {
        CheckResult::new(
            CheckName::Contract,
            Verdict::Fail,
            format!(
                "{total} contract violation(s) in {events} deliveries and {requests} CRM requests"
            ),
            evidence,
        )
    }
}
