//! hookproof's own hot paths, each beside a baseline measured in the same
//! run: signing (vs a bare HMAC-SHA256), contract validation (vs parsing
//! alone), workload generation, and the differential diff at 10k, 100k and
//! 1M objects (vs the owned implementation it replaced, at 10k and 100k),
//! and every check over a synthetic run of 10k, 100k and 1M events (vs
//! cloning the two observations they read, and vs the floor of reading
//! every string of both once).

// The `hookproof` binary's allocator (see `hookproof::allocator`): the
// checks and the rest are measured as the binary runs them.
hookproof::global_allocator!();

use chrono::Utc;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use hookproof::check::{CheckInput, Difference, Mapping, StateDiff, diff_states, run_checks};
use hookproof::contract::Contracts;
use hookproof::crm::{CrmObject, CrmSnapshot, crm_assigned_properties, unique_properties};
use hookproof::signing::{self, Message, Scheme};
use hookproof::workload::{WorkloadSpec, generate};
use sha2::Sha256;
use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::hint::black_box;

#[path = "support/baseline_diff.rs"]
mod baseline;
#[path = "support/observation.rs"]
mod observation;

fn signing(c: &mut Criterion) {
    let body = generate(&WorkloadSpec::default(), 1).events[0].to_bytes();
    let mut g = c.benchmark_group("signing");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("baseline: bare HMAC-SHA256", |b| {
        b.iter(|| {
            let mut mac = Hmac::<Sha256>::new_from_slice(b"secret-secret-secret").unwrap();
            mac.update(black_box(&body));
            black_box(mac.finalize().into_bytes())
        })
    });
    let msg = Message {
        id: "evt",
        timestamp: Utc::now(),
        method: "POST",
        url: "http://127.0.0.1:1/webhooks/helpdesk",
        body: &body,
    };
    for scheme in [Scheme::Zendesk, Scheme::StandardWebhooks] {
        let secret = signing::generate_secret(scheme, [7; 24]);
        g.bench_function(BenchmarkId::new("sign", scheme.to_string()), |b| {
            b.iter(|| black_box(signing::sign(scheme, &secret, black_box(&msg)).unwrap()))
        });
    }
    g.finish();
}

fn contracts(c: &mut Criterion) {
    let contracts = Contracts::builtin().unwrap();
    let event = generate(&WorkloadSpec::default(), 1).events[0].clone();
    let bytes = event.to_bytes();
    let mut g = c.benchmark_group("contracts");
    g.bench_function("baseline: parse event JSON", |b| {
        b.iter(|| {
            black_box(serde_json::from_slice::<serde_json::Value>(black_box(&bytes)).unwrap())
        })
    });
    g.bench_function("parse + validate ticket.created", |b| {
        b.iter(|| {
            let v: serde_json::Value = serde_json::from_slice(black_box(&bytes)).unwrap();
            black_box(contracts.validate_event(&v))
        })
    });
    g.finish();
}

fn workload(c: &mut Criterion) {
    let spec = WorkloadSpec {
        tickets: 200,
        ..WorkloadSpec::default()
    };
    let events = generate(&spec, 1).events.len() as u64;
    let mut g = c.benchmark_group("workload");
    g.throughput(Throughput::Elements(events));
    g.bench_function("generate 200 tickets", |b| {
        b.iter(|| black_box(generate(&spec, 1)))
    });
    g.finish();
}

fn snapshot(n: usize, shuffle: bool) -> CrmSnapshot {
    let mut s = CrmSnapshot::default();
    let now = Utc::now();
    let objects: Vec<CrmObject> = (0..n)
        .map(|i| {
            let id = if shuffle { n - i } else { i };
            let properties: BTreeMap<String, String> = [
                ("helpdesk_ticket_id", format!("{}", 70_000 + i)),
                ("subject", format!("ticket {i}")),
                ("hs_pipeline_stage", format!("{}", i % 4 + 1)),
                ("hs_object_id", id.to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            CrmObject {
                object_type: "tickets".into(),
                id: id.to_string(),
                properties,
                created_at: now,
                updated_at: now,
                archived: false,
            }
        })
        .collect();
    s.objects.insert("tickets".into(), objects);
    s
}

fn diff(c: &mut Criterion) {
    let mut g = c.benchmark_group("differential diff");
    g.sample_size(10);
    for n in [10_000usize, 100_000, 1_000_000] {
        // Built on first use, so that a filtered-out size costs nothing.
        let states = OnceCell::new();
        let states = || states.get_or_init(|| (snapshot(n, false), snapshot(n, true)));
        g.throughput(Throughput::Elements(n as u64));
        // The owned implementation needs about 10 s at 1M: not measured there.
        if n <= 100_000 {
            g.bench_with_input(BenchmarkId::new("baseline: owned", n), &n, |bench, _| {
                let (a, b) = states();
                bench.iter(|| black_box(baseline::diff_states(a, b)))
            });
        }
        g.bench_with_input(BenchmarkId::new("borrowed", n), &n, |bench, _| {
            let (a, b) = states();
            bench.iter(|| black_box(diff_states(a, b)))
        });
    }
    g.finish();
}

fn checks(c: &mut Criterion) {
    let scenario = hookproof::scenario::parse(
        "name = \"bench\"\ndescription = \"synthetic\"\n",
        "bench.toml",
    )
    .unwrap();
    let mapping = Mapping::canonical();
    let mut g = c.benchmark_group("checks");
    g.sample_size(10);
    for n in [10_000usize, 100_000, 1_000_000] {
        let run = OnceCell::new();
        let run = || run.get_or_init(|| observation::synthetic(n, 42));
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(
            BenchmarkId::new("baseline: clone both observations", n),
            &n,
            |bench, _| {
                let run = run();
                bench.iter(|| black_box((run.clean.clone(), run.faulted.clone())))
            },
        );
        g.bench_with_input(
            BenchmarkId::new(
                "floor: read every string of both observations, 2 threads",
                n,
            ),
            &n,
            |bench, _| {
                let run = run();
                bench.iter(|| {
                    std::thread::scope(|s| {
                        let clean = s.spawn(|| observation::read_every_string(&run.clean));
                        let faulted = observation::read_every_string(&run.faulted);
                        black_box((clean.join().unwrap(), faulted))
                    })
                })
            },
        );
        g.bench_with_input(BenchmarkId::new("run_checks", n), &n, |bench, _| {
            let run = run();
            let input = CheckInput {
                scenario: &scenario,
                workload: &run.workload,
                clean: &run.clean,
                faulted: &run.faulted,
                mapping: Some(&mapping),
            };
            bench.iter(|| black_box(run_checks(&input)))
        });
    }
    g.finish();
}

criterion_group!(benches, signing, contracts, workload, diff, checks);
criterion_main!(benches);
