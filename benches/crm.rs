//! The mock CRM's request handling in-process, without HTTP: the path
//! `hookproof mock crm` runs for every request (bearer auth, faults,
//! contract validation, the store, recording), through
//! [`CrmHandler::handle`], the same function its hyper service calls.
//!
//! Every case builds the same kind of parsed request and runs on the same
//! current-thread runtime as two baselines in the same group: a constant
//! `200` after reading the body (what the bare hyper server of the HTTP
//! benchmark does) and the body's JSON parse alone, so the ratios say what
//! the mock CRM adds per request.
//!
//! Run: `cargo bench --bench crm -- --warm-up-time 1 --measurement-time 3`

use bytes::Bytes;
use criterion::{Bencher, Criterion, criterion_group, criterion_main};
use hookproof::contract::Contracts;
use hookproof::crm::{CrmConfig, CrmHandler, SeedObject};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

/// Contacts in the store before each measurement (a search scans them all).
const SEEDED: usize = 100;
/// Inputs of the batch create.
const BATCH: usize = 10;

/// `POST path` with the bearer token and a JSON body, as hyper hands it over.
fn post(path: &str, body: String) -> Request<Full<Bytes>> {
    Request::post(path)
        .header("authorization", "Bearer T")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a valid request")
}

fn contact(i: u64) -> String {
    format!(r#"{{"properties":{{"email":"c{i}@example.com","firstname":"Ada"}}}}"#)
}

/// The request the HTTP benchmark sends: a new contact (201) when `fresh`,
/// else always the seeded one's email (409 Conflict).
fn create(i: u64, fresh: bool) -> Request<Full<Bytes>> {
    post(
        "/crm/v3/objects/contacts",
        contact(if fresh { SEEDED as u64 + i } else { 0 }),
    )
}

fn search(i: u64) -> Request<Full<Bytes>> {
    let email = format!("c{}@example.com", i % SEEDED as u64);
    post(
        "/crm/v3/objects/contacts/search",
        format!(
            r#"{{"filterGroups":[{{"filters":[{{"propertyName":"email","operator":"EQ","value":"{email}"}}]}}],"properties":["email","firstname"],"limit":10}}"#
        ),
    )
}

fn batch_create(i: u64) -> Request<Full<Bytes>> {
    let inputs: Vec<String> = (0..BATCH as u64)
        .map(|k| contact(1_000_000 + i * BATCH as u64 + k))
        .collect();
    post(
        "/crm/v3/objects/contacts/batch/create",
        format!(r#"{{"inputs":[{}]}}"#, inputs.join(",")),
    )
}

/// Times `iters` requests made by `request`, answered by `answer`, on `rt`;
/// `want` is the status every answer must have.
fn timed<F>(
    rt: &Runtime,
    iters: u64,
    request: impl Fn(u64) -> Request<Full<Bytes>>,
    answer: impl Fn(Request<Full<Bytes>>) -> F,
    want: u16,
) -> Duration
where
    F: Future<Output = Response<Full<Bytes>>>,
{
    let start = Instant::now();
    for i in 0..iters {
        let response = rt.block_on(answer(request(i)));
        assert_eq!(response.status(), want);
        black_box(response);
    }
    start.elapsed()
}

/// Benchmarks `request` against a fresh mock CRM per sample (so neither the
/// store nor the recording grows across samples), seeded with `SEEDED`
/// contacts.
fn handled(
    b: &mut Bencher,
    rt: &Runtime,
    config: &CrmConfig,
    request: impl Fn(u64) -> Request<Full<Bytes>> + Copy,
    want: u16,
) {
    b.iter_custom(|iters| {
        let crm = CrmHandler::new(config.clone());
        let took = timed(
            rt,
            iters,
            request,
            |r| async { crm.handle(r).await.expect("answered") },
            want,
        );
        assert_eq!(crm.requests().len() as u64, iters, "every request recorded");
        took
    });
}

fn requests(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let contracts = Arc::new(Contracts::builtin().expect("built-in contracts"));
    let seeded = (0..SEEDED)
        .map(|i| SeedObject {
            object_type: "contacts".into(),
            properties: BTreeMap::from([
                ("email".to_owned(), format!("c{i}@example.com")),
                ("firstname".to_owned(), "Ada".to_owned()),
            ]),
        })
        .collect();
    let config = CrmConfig {
        seeded,
        ..CrmConfig::new("T", contracts)
    };

    let mut g = c.benchmark_group("crm request");
    for (name, parse) in [
        ("baseline: read body, constant 200", false),
        ("baseline: read body, parse JSON, constant 200", true),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                timed(
                    &rt,
                    iters,
                    |i| create(i, false),
                    |r| async move {
                        let body = r.into_body().collect().await.unwrap().to_bytes();
                        if parse {
                            black_box(serde_json::from_slice::<serde_json::Value>(&body).unwrap());
                        }
                        black_box(body);
                        Response::new(Full::new(Bytes::new()))
                    },
                    200,
                )
            })
        });
    }
    g.bench_function("create contact: 409 conflict", |b| {
        handled(b, &rt, &config, |i| create(i, false), 409)
    });
    g.bench_function("create contact: 201", |b| {
        handled(b, &rt, &config, |i| create(i, true), 201)
    });
    g.bench_function("search contacts by email (100 stored)", |b| {
        handled(b, &rt, &config, search, 200)
    });
    g.bench_function("batch create 10 contacts: 201", |b| {
        handled(b, &rt, &config, batch_create, 201)
    });
    g.finish();
}

criterion_group!(benches, requests);
criterion_main!(benches);
