//! Test a webhook receiver from `cargo test`.
//!
//! The same machinery as `hookproof run` and `hookproof fuzz`, as a library:
//! a [`Harness`] starts the receiver under test (a command, or an async
//! function running inside the test process), serves it the mock CRM and
//! helpdesk API, delivers a scenario's workload with its faults, and judges
//! the checks. The proptest strategies that `hookproof fuzz` uses
//! ([`scenarios`], [`workloads`], [`fault_schedules`]) generate scenarios, and
//! proptest shrinks a failing one as usual.
//!
//! ```no_run
//! use hookproof::testing::{FuzzSpace, Harness, scenarios};
//! use proptest::prelude::*;
//!
//! proptest! {
//!     #![proptest_config(ProptestConfig::with_cases(16))]
//!     #[test]
//!     fn my_receiver_is_idempotent(scenario in scenarios(FuzzSpace::default())) {
//!         let harness = Harness::command("./target/release/my-receiver");
//!         let outcome = harness.run_blocking(&scenario).expect("the harness runs");
//!         prop_assert!(outcome.passed(), "{}", outcome.explain());
//!     }
//! }
//! ```
//!
//! The building blocks are public too: [`MockCrm`] (start it with
//! [`MockCrm::builder`]), [`MockHelpdesk`], the workload generator
//! [`generate`], and the checks' names and verdicts.

pub use crate::check::{CheckName, CheckResult, Mapping, Verdict};
pub use crate::crm::{CrmFault, CrmFaultKind, MockCrm, Window};
pub use crate::fault::Fault;
pub use crate::fuzz::strategy::{FuzzSpace, fault_schedules, scenarios, workloads};
pub use crate::helpdesk::MockHelpdesk;
pub use crate::runner::{RunError, ScenarioOutcome};
pub use crate::scenario::{Scenario, ScenarioError};
pub use crate::signing::Scheme;
pub use crate::sut::SutEnv;
pub use crate::workload::{Workload, WorkloadSpec, generate};

use crate::contract::Contracts;
use crate::crm::CrmConfig;
use crate::runner::{RunConfig, run_scenario};
use crate::sut::{InProcess, SutSpec};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Starts a receiver under test for each scenario run and judges it.
///
/// ```no_run
/// # async fn demo() {
/// use hookproof::testing::{Harness, Mapping};
///
/// let harness = Harness::command("python3 receiver.py")
///     .webhook_path("/hooks/zendesk")
///     .mapping(Mapping::canonical());
/// let scenario = hookproof::testing::builtin("duplicates").unwrap();
/// let outcome = harness.run(&scenario).await.unwrap();
/// assert!(outcome.passed(), "{}", outcome.explain());
/// # }
/// ```
pub struct Harness {
    config: RunConfig,
    work_dir: tempfile::TempDir,
    runtime: OnceLock<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("sut", &self.config.sut.command)
            .field("work_dir", &self.work_dir.path())
            .finish_non_exhaustive()
    }
}

impl Harness {
    fn with_spec(command: String, in_process: Option<InProcess>) -> Harness {
        let work_dir = tempfile::Builder::new()
            .prefix("hookproof-testing-")
            .tempdir()
            .expect("a temporary directory can be created");
        let contracts = Contracts::builtin().expect("the built-in contracts compile");
        Harness {
            config: RunConfig {
                sut: SutSpec {
                    command,
                    in_process,
                    webhook_path: "/webhooks/helpdesk".into(),
                    health_path: "/healthz".into(),
                    startup_timeout: Duration::from_secs(15),
                    idle_path: None,
                },
                scheme: Scheme::Zendesk,
                contracts: Arc::new(contracts),
                work_dir: work_dir.path().to_path_buf(),
                seed_override: None,
                mapping: None,
                preset: None,
                contract_source: crate::contract::ContractSource::Builtin,
                versions: crate::runner::VersionOverride::default(),
            },
            work_dir,
            runtime: OnceLock::new(),
        }
    }

    /// A receiver started as a command (with `sh -c`), as `hookproof run
    /// --sut` does: it reads the `HOOKPROOF_*` environment.
    ///
    /// ```no_run
    /// let harness = hookproof::testing::Harness::command("node receiver.js");
    /// ```
    pub fn command(command: &str) -> Harness {
        Harness::with_spec(command.to_string(), None)
    }

    /// A receiver running as a task inside the test process. `receiver` is
    /// called with the protocol environment and must listen on
    /// [`SutEnv::listen_addr`] and serve until its future is dropped. A
    /// crash fault drops the future and calls `receiver` again with the same
    /// state directory, so keep background work inside the future.
    ///
    /// ```no_run
    /// use hookproof::testing::{Harness, SutEnv};
    ///
    /// let harness = Harness::in_process("my-receiver", |env: SutEnv| async move {
    ///     let listener = tokio::net::TcpListener::bind(env.listen_addr()).await.unwrap();
    ///     // axum::serve(listener, my_router(env)).await.unwrap();
    /// #   drop(listener);
    /// });
    /// ```
    pub fn in_process<F, Fut>(name: &str, receiver: F) -> Harness
    where
        F: Fn(SutEnv) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        Harness::with_spec(name.to_string(), Some(InProcess::new(receiver)))
    }

    /// The bundled reference receiver, in-process, with its canonical
    /// mapping and idle probe declared; optionally with one of its flaws.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use hookproof::testing::{Harness, builtin};
    ///
    /// let outcome = Harness::reference(None)
    ///     .run(&builtin("baseline").unwrap())
    ///     .await
    ///     .unwrap();
    /// assert!(outcome.passed(), "{}", outcome.explain());
    /// # });
    /// ```
    pub fn reference(flaw: Option<crate::reference::Flaw>) -> Harness {
        let name = match flaw {
            Some(f) => format!("reference receiver (in-process, flaw {f})"),
            None => "reference receiver (in-process)".to_string(),
        };
        let mut harness = Harness::in_process(&name, move |env: SutEnv| async move {
            let spec_path = "/webhooks/helpdesk".to_string();
            let vars = env.vars(&SutSpec {
                command: String::new(),
                in_process: None,
                webhook_path: spec_path,
                health_path: "/healthz".into(),
                startup_timeout: Duration::ZERO,
                idle_path: None,
            });
            let lookup = |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.clone())
            };
            let config = match crate::reference::ReferenceConfig::from_lookup(flaw, lookup) {
                Ok(c) => c,
                Err(e) => return eprintln!("reference receiver: {e}"),
            };
            let listener = match tokio::net::TcpListener::bind(env.listen_addr()).await {
                Ok(l) => l,
                Err(e) => return eprintln!("reference receiver: {e}"),
            };
            if let Err(e) =
                crate::reference::serve_with(config, listener, std::future::pending()).await
            {
                eprintln!("reference receiver: {e}");
            }
        });
        harness.config.mapping = Some(Mapping::canonical());
        harness.config.sut.idle_path = Some(crate::reference::IDLE_PATH.to_string());
        harness
    }

    /// The path webhooks are POSTed to (default `/webhooks/helpdesk`).
    ///
    /// ```no_run
    /// let h = hookproof::testing::Harness::command("./rx").webhook_path("/hooks");
    /// ```
    pub fn webhook_path(mut self, path: &str) -> Harness {
        self.config.sut.webhook_path = path.to_string();
        self
    }

    /// The readiness path (default `/healthz`).
    ///
    /// ```no_run
    /// let h = hookproof::testing::Harness::command("./rx").health_path("/ready");
    /// ```
    pub fn health_path(mut self, path: &str) -> Harness {
        self.config.sut.health_path = path.to_string();
        self
    }

    /// The idle probe path: 2xx when the receiver has no unfinished work.
    /// Runs settle as soon as it answers 2xx instead of after a quiet period.
    ///
    /// ```no_run
    /// let h = hookproof::testing::Harness::command("./rx").idle_path("/idle");
    /// ```
    pub fn idle_path(mut self, path: &str) -> Harness {
        self.config.sut.idle_path = Some(path.to_string());
        self
    }

    /// The signature scheme (default Zendesk's).
    ///
    /// ```no_run
    /// use hookproof::testing::{Harness, Scheme};
    /// let h = Harness::command("./rx").scheme(Scheme::StandardWebhooks);
    /// ```
    pub fn scheme(mut self, scheme: Scheme) -> Harness {
        self.config.scheme = scheme;
        self
    }

    /// Declares the receiver's mapping, enabling the expected-state oracle
    /// (without one, only the differential oracle judges the CRM state).
    ///
    /// ```no_run
    /// use hookproof::testing::{Harness, Mapping};
    /// let h = Harness::command("./rx").mapping(Mapping::canonical());
    /// ```
    pub fn mapping(mut self, mapping: Mapping) -> Harness {
        self.config.mapping = Some(mapping);
        self
    }

    /// Runs `scenario`: a clean run and a faulted run side by side, each
    /// with its own receiver instance, mocks and state directory; then the
    /// checks the scenario requires (all, when it names none).
    ///
    /// ```no_run
    /// # async fn demo(harness: hookproof::testing::Harness) {
    /// let scenario = hookproof::testing::builtin("reordering").unwrap();
    /// let outcome = harness.run(&scenario).await.unwrap();
    /// # }
    /// ```
    pub async fn run(&self, scenario: &Scenario) -> Result<Outcome, RunError> {
        let outcome = run_scenario(&self.config, scenario, &|_| {}).await?;
        Ok(Outcome {
            allow_unknown: scenario.checks.allow_unknown,
            outcome,
        })
    }

    /// [`Harness::run`] on a runtime the harness owns, for synchronous tests
    /// (such as the body of a `proptest!`). Do not call it from inside an
    /// async runtime.
    ///
    /// ```no_run
    /// # fn demo(harness: hookproof::testing::Harness) {
    /// let scenario = hookproof::testing::builtin("duplicates").unwrap();
    /// let outcome = harness.run_blocking(&scenario).unwrap();
    /// # }
    /// ```
    pub fn run_blocking(&self, scenario: &Scenario) -> Result<Outcome, RunError> {
        let runtime = self.runtime.get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a tokio runtime can be built")
        });
        runtime.block_on(self.run(scenario))
    }
}

/// The result of one scenario run.
///
/// ```no_run
/// # fn demo(outcome: hookproof::testing::Outcome) {
/// if !outcome.passed() {
///     for check in outcome.failures() {
///         println!("{}: {}", check.check, check.summary);
///     }
/// }
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Outcome {
    allow_unknown: bool,
    /// Everything the run produced (verdicts, delivery log, receiver output).
    pub outcome: ScenarioOutcome,
}

impl Outcome {
    /// Whether every check passed (an `unknown` verdict fails unless the
    /// scenario allows it).
    ///
    /// ```no_run
    /// # fn demo(outcome: hookproof::testing::Outcome) {
    /// assert!(outcome.passed(), "{}", outcome.explain());
    /// # }
    /// ```
    pub fn passed(&self) -> bool {
        self.outcome.passed(self.allow_unknown)
    }

    /// The verdict of one check, if it ran.
    ///
    /// ```no_run
    /// # fn demo(outcome: hookproof::testing::Outcome) {
    /// use hookproof::testing::{CheckName, Verdict};
    /// assert_eq!(outcome.verdict(CheckName::Idempotent), Some(Verdict::Pass));
    /// # }
    /// ```
    pub fn verdict(&self, check: CheckName) -> Option<Verdict> {
        self.outcome
            .checks
            .iter()
            .find(|c| c.check == check)
            .map(|c| c.verdict)
    }

    /// The checks that failed (or were unknown and not allowed).
    ///
    /// ```no_run
    /// # fn demo(outcome: hookproof::testing::Outcome) {
    /// assert!(outcome.failures().is_empty());
    /// # }
    /// ```
    pub fn failures(&self) -> Vec<&CheckResult> {
        self.outcome
            .checks
            .iter()
            .filter(|c| match c.verdict {
                Verdict::Fail => true,
                Verdict::Unknown => !self.allow_unknown,
                Verdict::Pass | Verdict::Skipped => false,
            })
            .collect()
    }

    /// A readable account of the failures: each failing check with its
    /// evidence, and the scenario's seed (for a failure message).
    ///
    /// ```no_run
    /// # fn demo(outcome: hookproof::testing::Outcome) {
    /// eprintln!("{}", outcome.explain());
    /// # }
    /// ```
    pub fn explain(&self) -> String {
        use std::fmt::Write;
        let mut out = format!(
            "scenario `{}` (seed {}): ",
            self.outcome.name, self.outcome.seed
        );
        let failures = self.failures();
        if failures.is_empty() {
            out.push_str("every check passed");
            return out;
        }
        let _ = writeln!(out, "{} check(s) failed", failures.len());
        for check in failures {
            let _ = writeln!(out, "  {}: {}", check.check, check.summary);
            for evidence in check.evidence.iter().take(5) {
                let _ = writeln!(out, "    - {}", evidence.what);
            }
        }
        out
    }
}

/// A built-in scenario by name (`hookproof scenarios` lists them).
///
/// ```
/// let s = hookproof::testing::builtin("duplicates").unwrap();
/// assert_eq!(s.name, "duplicates");
/// ```
pub fn builtin(name: &str) -> Option<Scenario> {
    crate::scenario::builtin_suite()
        .into_iter()
        .find(|s| s.name == name)
}

/// Parses a scenario from TOML text (errors name the line and key).
///
/// ```
/// let s = hookproof::testing::scenario(r#"
/// name = "two-duplicates"
/// description = "every event delivered twice"
/// [workload]
/// tickets = 2
/// [[fault]]
/// kind = "delivery.duplicate"
/// fraction = 1.0
/// "#).unwrap();
/// assert_eq!(s.faults.len(), 1);
/// ```
pub fn scenario(toml: &str) -> Result<Scenario, ScenarioError> {
    crate::scenario::parse(toml, "<scenario>")
}

/// Builds and starts a [`MockCrm`] in-process (see [`MockCrm::builder`]).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use hookproof::testing::MockCrm;
///
/// let crm = MockCrm::builder().token("pat-test").start().await.unwrap();
/// let response = reqwest::Client::new()
///     .post(format!("{}/crm/v3/objects/contacts", crm.url()))
///     .bearer_auth("pat-test")
///     .json(&serde_json::json!({"properties": {"email": "ada@example.com"}}))
///     .send()
///     .await
///     .unwrap();
/// assert_eq!(response.status(), 201);
/// assert_eq!(crm.snapshot().objects["contacts"].len(), 1);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct MockCrmBuilder {
    config: CrmConfig,
}

impl MockCrm {
    /// A builder for a mock CRM: token `test-token`, no faults, empty.
    ///
    /// ```
    /// let builder = hookproof::testing::MockCrm::builder();
    /// ```
    pub fn builder() -> MockCrmBuilder {
        MockCrmBuilder {
            config: CrmConfig::new(
                "test-token",
                Arc::new(Contracts::builtin().expect("the built-in contracts compile")),
            ),
        }
    }
}

impl MockCrmBuilder {
    /// The bearer token the SUT must send (401 otherwise).
    ///
    /// ```
    /// let builder = hookproof::testing::MockCrm::builder().token("pat-na1-x");
    /// ```
    pub fn token(mut self, token: &str) -> MockCrmBuilder {
        self.config.token = token.to_string();
        self
    }

    /// Adds a fault (in effect from [`MockCrm::arm`]).
    ///
    /// ```
    /// use hookproof::testing::{CrmFault, CrmFaultKind, MockCrm};
    /// let builder = MockCrm::builder().fault(CrmFault {
    ///     kind: CrmFaultKind::Status { status: 503, retry_after: None },
    ///     window: None,
    ///     fraction: Some(0.5),
    ///     route: None,
    /// });
    /// ```
    pub fn fault(mut self, fault: CrmFault) -> MockCrmBuilder {
        self.config.faults.push(fault);
        self
    }

    /// Seed of fractional faults (which requests get them).
    ///
    /// ```
    /// let builder = hookproof::testing::MockCrm::builder().seed(7);
    /// ```
    pub fn seed(mut self, seed: u64) -> MockCrmBuilder {
        self.config.seed = seed;
        self
    }

    /// Starts the mock CRM on a free port of 127.0.0.1 and arms its faults.
    ///
    /// ```no_run
    /// # async fn demo() {
    /// let crm = hookproof::testing::MockCrm::builder().start().await.unwrap();
    /// println!("{}", crm.url());
    /// # }
    /// ```
    pub async fn start(self) -> std::io::Result<MockCrm> {
        let crm = MockCrm::start(self.config).await?;
        crm.arm();
        Ok(crm)
    }
}
