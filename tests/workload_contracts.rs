//! Every event the workload generator produces matches the Zendesk contracts
//! (so a `contract` failure always points at the SUT, never at hookproof).

use hookproof::contract::Contracts;
use hookproof::workload::{WorkloadSpec, generate};

#[test]
fn generated_events_match_their_contracts() {
    let contracts = Contracts::builtin().unwrap();
    for seed in 0..20 {
        let spec = WorkloadSpec {
            tickets: 15,
            noise: 1.0,
            ..WorkloadSpec::default()
        };
        for event in generate(&spec, seed).events {
            let violations = contracts.validate_event(&event.body);
            assert!(
                violations.is_empty(),
                "seed {seed}, event {} ({}): {violations:#?}",
                event.id,
                event.event_type
            );
        }
    }
}

#[test]
fn a_broken_event_is_caught() {
    let contracts = Contracts::builtin().unwrap();
    let mut event = generate(&WorkloadSpec::default(), 1).events[0].body.clone();
    event["detail"]["status"] = serde_json::json!("open");
    let violations = contracts.validate_event(&event);
    assert!(
        violations.iter().any(|v| v.pointer == "/detail/status"),
        "{violations:#?}"
    );
}
