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

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;

    #[test]
    fn passes_and_counts_deliveries_and_requests_when_nothing_breaks() {
        let clean = Run::all_acked().request(Req::new(10, 201));
        let faulted = Run::all_acked()
            .request(Req::new(10, 201))
            .request(Req::new(20, 200));
        let r = contract(&Case::with(clean, faulted).input());
        assert_verdict(&r, Verdict::Pass);
        assert_eq!(
            r.summary,
            "8 webhook deliveries and 3 CRM requests matched their contracts"
        );
        assert!(r.evidence.is_empty());
    }

    #[test]
    fn fails_on_a_helpdesk_event_breaking_its_contract() {
        let faulted = Run::all_acked().event_violation(
            STATUS_1,
            violation(
                "zendesk/ticket.status_changed.json",
                "/detail/status",
                "\"ESCALATED\" is not one of the allowed values",
            ),
        );
        let r = contract(&Case::new(faulted).input());
        assert_verdict(&r, Verdict::Fail);
        assert_summary(
            &r,
            "1 contract violation(s) in 8 deliveries and 0 CRM requests",
        );
        assert_eq!(evidence_ids(&r), ids(&[STATUS_1]));
        assert!(
            evidence_mentions(
                &r,
                "faulted run: helpdesk event breaks zendesk/ticket.status_changed.json at /detail/status"
            ),
            "{r:#?}"
        );
    }

    #[test]
    fn fails_on_a_crm_request_breaking_its_contract_in_either_run() {
        let bad = || {
            Req::new(10, 400).violation(violation(
                "hubspot/tickets.create.json",
                "/properties/hs_pipeline_stage",
                "expected a string",
            ))
        };
        let clean = Run::all_acked().request(bad());
        let faulted = Run::all_acked().request(Req::new(5, 201)).request(bad());
        let r = contract(&Case::with(clean, faulted).input());
        assert_verdict(&r, Verdict::Fail);
        assert_summary(&r, "2 contract violation(s)");
        assert!(
            evidence_mentions(
                &r,
                "clean run: CRM request #1 POST /crm/v3/objects/tickets breaks hubspot/tickets.create.json at /properties/hs_pipeline_stage"
            ),
            "{r:#?}"
        );
        assert!(
            evidence_mentions(&r, "faulted run: CRM request #2 POST"),
            "{r:#?}"
        );
    }
}
