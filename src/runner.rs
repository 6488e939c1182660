//! Runs scenarios: for each, the same workload twice against fresh SUT
//! instances — once clean (sequential, no faults) and once under the
//! scenario's faults — each with its own mock CRM and helpdesk, then settles,
//! reads the final states and runs the checks.
//!
//! The runner reports progress through a callback and never prints.

use crate::check::{CheckInput, CheckResult, RunObservation, Settle, Verdict, run_checks};
use crate::check::{CheckName, Seeded};
use crate::contract::{ApiVersion, ContractSource, Contracts, Versions};
use crate::crm::SeedObject;
use crate::crm::{CrmConfig, CrmFault, CrmFaultKind, MockCrm, Window};
use crate::fault::Fault;
use crate::helpdesk::HelpdeskFault;
use crate::helpdesk::MockHelpdesk;
use crate::history::{AttemptOutcome, DeliveryLog, SignatureMode, SutEvent};
use crate::producer::{PlannedDelivery, Producer, Progress, Target, Unit};
use crate::scenario::Scenario;
use crate::signing::{self, Scheme};
use crate::sut::{LogLine, SutEnv, SutError, SutProcess, SutSpec, free_port};
use crate::workload::{self, Event, Workload};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// First ticket id used by forged deliveries (never used by real tickets).
pub const FORGED_TICKET_BASE: u64 = 990_001;

/// What a run needs besides the scenario.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// How to start the SUT.
    pub sut: SutSpec,
    /// Signature scheme the producer uses and the SUT verifies.
    pub scheme: Scheme,
    /// Compiled contracts.
    pub contracts: Arc<Contracts>,
    /// Where per-run state directories are created.
    pub work_dir: PathBuf,
    /// Replaces every scenario's seed when set.
    pub seed_override: Option<u64>,
    /// The SUT's declared mapping (enables the expected-state oracle).
    pub mapping: Option<crate::check::Mapping>,
    /// A producer preset that replaces every scenario's `[delivery]`.
    pub preset: Option<crate::producer::Preset>,
    /// Where `contracts` came from; scenarios that ask for other
    /// [`Versions`] load theirs from here.
    pub contract_source: ContractSource,
    /// `--helpdesk-version` / `--crm-version`: replaces a side of every
    /// scenario's `[versions]`.
    pub versions: VersionOverride,
}

/// Replaces one or both sides of every scenario's `[versions]` (the
/// pre-upgrade check: the whole suite with the next helpdesk or CRM).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VersionOverride {
    /// The helpdesk's event version, when given.
    pub helpdesk: Option<ApiVersion>,
    /// The CRM API version, when given.
    pub crm: Option<ApiVersion>,
}

impl VersionOverride {
    /// `versions` with the given sides replaced.
    pub fn apply(&self, versions: Versions) -> Versions {
        Versions {
            helpdesk: self.helpdesk.unwrap_or(versions.helpdesk),
            crm: self.crm.unwrap_or(versions.crm),
        }
    }
}

impl RunConfig {
    /// The compiled contracts of `versions` (the preloaded set when both
    /// sides are current).
    ///
    /// # Errors
    ///
    /// When the source has no set for a version asked for.
    pub fn contracts_for(&self, versions: Versions) -> Result<Arc<Contracts>, RunError> {
        if versions.is_current() {
            return Ok(self.contracts.clone());
        }
        Ok(Arc::new(self.contract_source.load(versions)?))
    }
}

/// Progress notifications.
#[derive(Debug, Clone)]
pub enum RunEvent {
    /// A scenario started.
    ScenarioStarted {
        /// Scenario name.
        name: String,
        /// 0-based position.
        index: usize,
        /// Number of scenarios.
        total: usize,
    },
    /// Deliveries progressed.
    Progress {
        /// Scenario name.
        name: String,
        /// Deliveries finished in the faulted run.
        finished: usize,
        /// Deliveries planned so far.
        planned: usize,
    },
    /// The run is in its settle phase.
    Settling {
        /// Scenario name.
        name: String,
    },
}

/// Counters of one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStats {
    /// Events in the workload.
    pub events: usize,
    /// Deliveries made (copies and forgeries included).
    pub deliveries: usize,
    /// HTTP attempts.
    pub attempts: usize,
    /// Deliveries acked.
    pub acked: usize,
    /// Deliveries rejected (non-retryable 4xx).
    pub rejected: usize,
    /// Deliveries dead-lettered.
    pub dead_lettered: usize,
    /// Producer retries (attempts beyond the first).
    pub retries: usize,
    /// Requests the SUT made to the CRM.
    pub crm_requests: usize,
    /// Ack latency p50 in ms.
    pub ack_p50_ms: f64,
    /// Ack latency p99 in ms.
    pub ack_p99_ms: f64,
    /// SUT restarts (crash faults).
    pub sut_restarts: u32,
    /// Wall time of the run in ms.
    pub wall_ms: u64,
}

/// Everything one scenario produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioOutcome {
    /// Scenario name.
    pub name: String,
    /// The incident it simulates.
    pub description: String,
    /// Where it came from.
    pub source: String,
    /// The seed used.
    pub seed: u64,
    /// Check verdicts.
    pub checks: Vec<CheckResult>,
    /// Faulted-run counters.
    pub stats: RunStats,
    /// Clean-run counters.
    pub clean_stats: RunStats,
    /// The faulted run's delivery log.
    pub delivery_log: DeliveryLog,
    /// The faulted run's SUT output.
    pub sut_log: Vec<LogLine>,
    /// The clean run's SUT output.
    pub clean_sut_log: Vec<LogLine>,
}

impl ScenarioOutcome {
    /// Whether every check passed (or was skipped, or is an allowed unknown).
    pub fn passed(&self, allow_unknown: bool) -> bool {
        self.checks.iter().all(|c| match c.verdict {
            Verdict::Pass | Verdict::Skipped => true,
            Verdict::Unknown => allow_unknown,
            Verdict::Fail => false,
        })
    }
}

/// Errors that stop a run (as opposed to check failures).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The SUT could not be started or became unusable.
    #[error(transparent)]
    Sut(#[from] SutError),
    /// The SUT accepted connections but answered nothing.
    #[error(
        "the SUT at {url} answered none of the first {attempts} webhook attempts within the \
         {timeout:?} timeout (it hangs); check that it answers POST {path} quickly, or raise \
         `delivery.timeout` in the scenario; its last output:\n{tail}"
    )]
    SutHangs {
        /// Webhook URL.
        url: String,
        /// Attempts seen.
        attempts: usize,
        /// The per-attempt timeout.
        timeout: Duration,
        /// Webhook path.
        path: String,
        /// Last lines of output.
        tail: String,
    },
    /// The SUT exited on its own during the run.
    #[error(
        "the SUT exited on its own during the {run} run ({status}); hookproof only kills it \
         for `sut.kill` faults, and restarts it then; its last output:\n{tail}"
    )]
    SutDied {
        /// Exit status.
        status: String,
        /// `clean` or `faulted`.
        run: &'static str,
        /// Last lines of output.
        tail: String,
    },
    /// A mock server or state directory could not be set up.
    #[error("could not set up the harness: {0}")]
    Io(#[from] std::io::Error),
    /// The contracts of the scenario's versions could not be loaded.
    #[error(transparent)]
    Contracts(#[from] crate::contract::ContractError),
}

/// A run error, with the scenario it happened in.
#[derive(Debug, thiserror::Error)]
#[error("scenario `{scenario}` ({source_name}): {error}")]
pub struct SuiteError {
    /// Scenario name.
    pub scenario: String,
    /// Where the scenario came from.
    pub source_name: String,
    /// What went wrong.
    #[source]
    pub error: RunError,
}

/// Runs `scenarios`, up to `jobs` at a time (each has its own mocks and SUT
/// processes), and returns the outcomes in scenario order. `on_finished` is
/// called as each scenario ends. Stops at the first error.
pub async fn run_suite(
    config: &RunConfig,
    scenarios: &[Scenario],
    jobs: usize,
    on_event: &(dyn Fn(RunEvent) + Send + Sync),
    on_finished: &(dyn Fn(&Scenario, &ScenarioOutcome) + Send + Sync),
) -> Result<Vec<ScenarioOutcome>, SuiteError> {
    use futures::stream::{self, StreamExt, TryStreamExt};
    let total = scenarios.len();
    stream::iter(scenarios.iter().enumerate())
        .map(|(index, scenario)| async move {
            on_event(RunEvent::ScenarioStarted {
                name: scenario.name.clone(),
                index,
                total,
            });
            let outcome = run_named(config, scenario, on_event).await?;
            on_finished(scenario, &outcome);
            Ok(outcome)
        })
        .buffered(jobs.max(1))
        .try_collect()
        .await
}

/// [`run_scenario`], with the scenario named in the error.
pub async fn run_named(
    config: &RunConfig,
    scenario: &Scenario,
    on_event: &(dyn Fn(RunEvent) + Send + Sync),
) -> Result<ScenarioOutcome, SuiteError> {
    run_scenario(config, scenario, on_event)
        .await
        .map_err(|error| SuiteError {
            scenario: scenario.name.clone(),
            source_name: scenario.source.clone(),
            error,
        })
}

/// Runs one scenario: clean and faulted runs side by side, then the checks.
pub async fn run_scenario(
    config: &RunConfig,
    scenario: &Scenario,
    on_event: &(dyn Fn(RunEvent) + Send + Sync),
) -> Result<ScenarioOutcome, RunError> {
    let seed = config.seed_override.unwrap_or(scenario.seed);
    let versions = config.versions.apply(scenario.versions);
    let rehearsed = rehearsal_checks(scenario, versions);
    let scenario = rehearsed.as_ref();
    let contracts = config.contracts_for(versions)?;
    let mut workload = workload::generate(&scenario.workload, seed);
    let (upgraded, escalated) = match versions.helpdesk {
        ApiVersion::Next => upgrade_events(&mut workload, seed),
        ApiVersion::Current => (Vec::new(), Vec::new()),
    };
    let status_drifted = drift_statuses(scenario, &mut workload, seed);
    let mut plan = build_plan(scenario, &workload, seed);
    let mut new_type_violations = Vec::new();
    if versions.helpdesk == ApiVersion::Next {
        let added = add_new_type_events(&mut plan, &workload, seed);
        for delivery in added {
            let body: serde_json::Value =
                serde_json::from_slice(&delivery.body).unwrap_or_default();
            for v in contracts.validate_event(&body) {
                new_type_violations.push((delivery.event_id.clone(), v));
            }
        }
        plan.drifted.extend(escalated);
    }
    let clean_plan = clean_plan(&workload);
    let progress = Arc::new(Progress::default());
    let (clean, faulted) = {
        let clean = execute(
            config,
            &contracts,
            scenario,
            &workload,
            clean_plan,
            true,
            seed,
            Arc::new(Progress::default()),
        );
        let faulted = execute(
            config,
            &contracts,
            scenario,
            &workload,
            plan.units,
            false,
            seed,
            progress.clone(),
        );
        let name = scenario.name.clone();
        let ticker = async {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                on_event(RunEvent::Progress {
                    name: name.clone(),
                    finished: progress.finished.load(Ordering::Relaxed),
                    planned: progress.planned.load(Ordering::Relaxed),
                });
            }
        };
        tokio::select! {
            r = async { tokio::join!(clean, faulted) } => r,
            _ = ticker => unreachable!("the ticker never ends"),
        }
    };
    let (clean, faulted) = (clean?, faulted?);
    let mut faulted_obs = faulted.observation;
    faulted_obs.forged_markers = plan.forged_markers;
    faulted_obs.drifted = plan.drifted;
    faulted_obs.drifted.extend(status_drifted.iter().cloned());
    faulted_obs.upgraded = upgraded
        .into_iter()
        .filter(|id| !faulted_obs.drifted.contains(id))
        .collect();
    let mut clean_obs = clean.observation;
    if versions.helpdesk == ApiVersion::Current {
        for obs in [&mut clean_obs, &mut faulted_obs] {
            // Newer-version payloads are outside the (older) contract by design.
            obs.event_violations
                .retain(|(id, _)| !status_drifted.contains(id));
        }
    }
    faulted_obs.event_violations.extend(new_type_violations);
    let input = CheckInput {
        scenario,
        workload: &workload,
        clean: &clean_obs,
        faulted: &faulted_obs,
        mapping: config.mapping.as_ref(),
    };
    let checks = run_checks(&input);
    Ok(ScenarioOutcome {
        name: scenario.name.clone(),
        description: scenario.description.clone(),
        source: scenario.source.clone(),
        seed,
        checks,
        stats: stats(&workload, &faulted_obs, faulted.restarts, faulted.wall),
        clean_stats: stats(&workload, &clean_obs, 0, clean.wall),
        delivery_log: faulted_obs.log,
        sut_log: faulted.sut_log,
        clean_sut_log: clean.sut_log,
    })
}

/// What one [`execute`] produced.
pub(crate) struct Executed {
    /// The run's recorded history.
    pub(crate) observation: RunObservation,
    /// The SUT's output.
    pub(crate) sut_log: Vec<LogLine>,
    /// SUT restarts (crash faults).
    pub(crate) restarts: u32,
    /// Wall time of the whole run.
    pub(crate) wall: Duration,
    /// Time from the mock CRM's start (the zero of
    /// [`crate::crm::RecordedRequest::at`]) to the delivery origin (the zero
    /// of the attempts' `started` and of the units' `not_before`).
    pub(crate) crm_lead: Duration,
}

/// What a replay into a fresh SUT left behind.
#[derive(Debug)]
pub struct SutReplay {
    /// The deliveries of the replay.
    pub log: DeliveryLog,
    /// The mock CRM's final state.
    pub snapshot: crate::crm::CrmSnapshot,
    /// Every request the SUT made to the mock CRM.
    pub crm_requests: Vec<crate::crm::RecordedRequest>,
    /// Whether the SUT became idle before the settle deadline.
    pub settled: bool,
}

/// `hookproof replay --sut`: delivers `units` into a fresh SUT with its own
/// mock CRM and a mock helpdesk serving `helpdesk` (see
/// [`crate::replay::helpdesk_data`]), under the configured producer preset
/// (or hookproof's default policy), then settles and returns what landed.
///
/// # Errors
///
/// As a scenario run: the SUT cannot start, dies or hangs.
pub async fn replay_into_sut(
    config: &RunConfig,
    helpdesk: &Workload,
    units: Vec<Unit>,
) -> Result<SutReplay, RunError> {
    let scenario = Scenario {
        name: "replay".into(),
        description: "hookproof replay --sut".into(),
        seed: 0,
        workload: Default::default(),
        delivery: Default::default(),
        settle: Default::default(),
        faults: Vec::new(),
        checks: Default::default(),
        versions: Default::default(),
        source: "replay".into(),
    };
    let contracts = config.contracts_for(config.versions.apply(scenario.versions))?;
    let executed = execute(
        config,
        &contracts,
        &scenario,
        helpdesk,
        units,
        false,
        0,
        Arc::new(Progress::default()),
    )
    .await?;
    let obs = executed.observation;
    Ok(SutReplay {
        settled: obs.unsettled().is_none(),
        log: obs.log,
        snapshot: obs.snapshot,
        crm_requests: obs.crm_requests,
    })
}

fn token(rng: &mut ChaCha8Rng, prefix: &str) -> String {
    let bytes: [u8; 16] = rng.random();
    format!("{prefix}{}", hex::encode(bytes))
}

/// Runs `units` against a fresh SUT with its own mock CRM and helpdesk,
/// then settles and collects the observation (used by `bench` too).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn execute(
    config: &RunConfig,
    contracts: &Arc<Contracts>,
    scenario: &Scenario,
    workload: &Workload,
    units: Vec<Unit>,
    clean: bool,
    seed: u64,
    progress: Arc<Progress>,
) -> Result<Executed, RunError> {
    let started = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EC2E7);
    let crm_token = token(&mut rng, "pat-na1-");
    let helpdesk_token = token(&mut rng, "");
    let scheme = scenario.delivery.scheme.unwrap_or(config.scheme);
    let secret = signing::generate_secret(scheme, rng.random());
    let wrong_secret = signing::generate_secret(scheme, rng.random());

    std::fs::create_dir_all(&config.work_dir)?;
    let state_dir = tempfile::Builder::new()
        .prefix(&format!(
            "{}-{}-",
            scenario.name,
            if clean { "clean" } else { "faulted" }
        ))
        .tempdir_in(&config.work_dir)?;

    let (crm_faults, sut_faults) = if clean {
        (Vec::new(), Vec::new())
    } else {
        split_faults(&scenario.faults)
    };
    let (seed_objects, seeded) = preseed(scenario, workload, seed);
    let mut crm_config = CrmConfig::new(crm_token.clone(), contracts.clone());
    crm_config.seed = seed;
    crm_config.faults = crm_faults;
    crm_config.seeded = seed_objects;
    let crm = MockCrm::start(crm_config).await?;
    let helpdesk_faults = if clean {
        Vec::new()
    } else {
        helpdesk_faults(&scenario.faults)
    };
    let helpdesk = MockHelpdesk::start(workload, &helpdesk_token, helpdesk_faults).await?;
    let env = SutEnv {
        port: free_port()?,
        webhook_secret: secret.clone(),
        scheme: scheme.to_string(),
        crm_url: crm.url(),
        crm_token,
        helpdesk_url: helpdesk.url(),
        helpdesk_token,
        state_dir: state_dir.path().to_path_buf(),
    };
    let sut = SutProcess::start(config.sut.clone(), env).await?;
    let target = Target {
        url: sut.webhook_url(),
        scheme,
        secret,
        wrong_secret,
    };
    let base = config
        .preset
        .map(|p| p.policy())
        .unwrap_or_else(|| scenario.delivery.policy());
    let policy = if clean {
        crate::producer::DeliveryPolicy {
            concurrency: 1,
            ..base
        }
    } else {
        base
    };
    let producer = Producer::new(target.clone(), policy.clone());
    let log = Arc::new(Mutex::new(DeliveryLog::default()));
    let sut = Arc::new(tokio::sync::Mutex::new(sut));

    crm.arm();
    helpdesk.arm();
    let origin = Instant::now();
    let crm_lead = origin.saturating_duration_since(crm.started());
    let sut_events = Arc::new(Mutex::new(Vec::new()));
    let replay_step = (!clean)
        .then(|| {
            scenario.faults.iter().find_map(|f| match f {
                Fault::Replay {
                    after,
                    since,
                    until,
                    types,
                } => Some((
                    *after,
                    crate::replay::Selection {
                        since: *since,
                        until: *until,
                        types: types.clone(),
                        ..crate::replay::Selection::default()
                    },
                )),
                _ => None,
            })
        })
        .flatten();
    let (delivered_tx, delivered_rx) = tokio::sync::watch::channel(false);
    let deliver = async {
        producer
            .deliver(units, origin, log.clone(), progress.clone())
            .await;
        let _ = delivered_tx.send(true);
        if let Some((after, selection)) = &replay_step {
            tokio::time::sleep(*after).await;
            let replay = replay_units(&log.lock().unwrap(), selection);
            producer
                .deliver(replay, Instant::now(), log.clone(), progress)
                .await;
        }
    };
    let nemesis = nemesis(
        sut.clone(),
        sut_faults,
        log.clone(),
        origin,
        sut_events.clone(),
        delivered_rx,
    );
    let watchdog = hang_watchdog(log.clone(), policy.concurrency, policy.timeout);
    // A SUT that exits on its own is reported at once, not after every
    // delivery has dead-lettered against a closed port.
    let death_watch = async {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut s = sut.lock().await;
            if let Some(status) = s.exit_status() {
                let tail = s.tail(20);
                s.kill().await;
                return (status, tail);
            }
        }
    };
    let outcome = tokio::select! {
        _ = async { tokio::join!(deliver, nemesis) } => Ok(()),
        attempts = watchdog => Err(attempts),
        (status, tail) = death_watch => {
            return Err(RunError::SutDied {
                status,
                run: if clean { "clean" } else { "faulted" },
                tail,
            });
        }
    };
    if let Err(attempts) = outcome {
        let mut sut = sut.lock().await;
        let tail = sut.tail(20);
        sut.kill().await;
        return Err(RunError::SutHangs {
            url: target.url,
            attempts,
            timeout: policy.timeout,
            path: config.sut.webhook_path.clone(),
            tail,
        });
    }

    let idle_url = sut.lock().await.idle_url();
    let settle = settle(
        &crm,
        &helpdesk,
        idle_url.as_deref(),
        scenario.settle.quiet,
        scenario.settle.deadline,
    )
    .await;
    let snapshot = crm.snapshot();
    let crm_requests = crm.requests();
    let mut sut = Arc::try_unwrap(sut)
        .map_err(|_| ())
        .expect("the nemesis has finished")
        .into_inner();
    if let Some(status) = sut.exit_status() {
        let tail = sut.tail(20);
        sut.kill().await;
        return Err(RunError::SutDied {
            status,
            run: if clean { "clean" } else { "faulted" },
            tail,
        });
    }
    sut.kill().await;
    let sut_log = sut.log();
    let restarts = sut.restarts();
    drop(sut);
    crm.shutdown().await;
    drop(helpdesk);

    let log = std::mem::take(&mut *log.lock().unwrap());
    let replayed = log
        .deliveries
        .iter()
        .filter(|d| d.origin == "replay")
        .map(|d| d.event_id.clone())
        .collect();
    let mut event_violations = Vec::new();
    for e in &workload.events {
        for v in contracts.validate_event(&e.body) {
            event_violations.push((e.id.clone(), v));
        }
    }
    Ok(Executed {
        observation: RunObservation {
            log,
            crm_requests,
            snapshot,
            event_violations,
            settle,
            forged_markers: Vec::new(),
            sut_events: std::mem::take(&mut *sut_events.lock().unwrap()),
            seeded,
            drifted: Vec::new(),
            upgraded: Vec::new(),
            replayed,
            retry_after: if clean {
                None
            } else {
                retry_after(&scenario.faults)
            },
        },
        sut_log,
        restarts,
        wall: started.elapsed(),
        crm_lead,
    })
}

/// Quiet period required of the CRM and helpdesk API when the SUT reports
/// itself idle (covers a request the SUT is about to send as it turns idle).
const IDLE_QUIET: Duration = Duration::from_millis(40);

/// Waits until the SUT has nothing left to do, or `deadline` passes. Without
/// an idle probe that means the CRM and the helpdesk API have been quiet for
/// `quiet`; with one, that the probe answers 2xx twice in a row while the CRM
/// has no request in flight and has been quiet for [`IDLE_QUIET`].
async fn settle(
    crm: &MockCrm,
    helpdesk: &MockHelpdesk,
    idle_url: Option<&str>,
    quiet: Duration,
    deadline: Duration,
) -> Option<Settle> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(500))
        .build()
        .expect("a plain HTTP client always builds");
    let start = Instant::now();
    let mut idle_streak = 0;
    loop {
        let last = crm
            .last_activity()
            .into_iter()
            .chain(helpdesk.last_activity())
            .fold(start, Instant::max);
        let calm = crm.in_flight() == 0;
        match idle_url {
            None if calm && last.elapsed() >= quiet => return None,
            None => {}
            Some(url) => {
                let idle = calm
                    && last.elapsed() >= IDLE_QUIET
                    && client
                        .get(url)
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success());
                idle_streak = if idle { idle_streak + 1 } else { 0 };
                if idle_streak >= 2 {
                    return None;
                }
            }
        }
        if start.elapsed() >= deadline {
            return Some(Settle::TimedOut {
                reason: format!(
                    "the SUT still had work {deadline:?} after the last delivery finished \
                     ({} CRM requests in flight{}); the SUT may be retrying forever",
                    crm.in_flight(),
                    if idle_url.is_some() {
                        ", its idle probe not answering 2xx"
                    } else {
                        ""
                    }
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(if idle_url.is_some() {
            10
        } else {
            25
        }))
        .await;
    }
}

/// Resolves with the number of attempts seen once the SUT has timed out on
/// every one of the first attempts (it accepts connections but never answers).
async fn hang_watchdog(
    log: Arc<Mutex<DeliveryLog>>,
    concurrency: usize,
    timeout: Duration,
) -> usize {
    // Capped: with a wide open-loop window (bench) thousands of attempts
    // would have to time out first.
    let threshold = (concurrency * 2).clamp(4, 64);
    loop {
        tokio::time::sleep(timeout.min(Duration::from_millis(250))).await;
        let (answered, timeouts) = {
            let log = log.lock().unwrap();
            let timeouts = log
                .attempts
                .iter()
                .filter(|a| a.outcome == AttemptOutcome::Timeout)
                .count();
            (log.attempts.len() > timeouts, timeouts)
        };
        if answered {
            // The SUT answers: it does not hang (timeouts later are faults to judge, not errors).
            return std::future::pending().await;
        }
        if timeouts >= threshold {
            return timeouts;
        }
    }
}

/// The crash faults: SIGKILL at a time or after the Nth ack, then restart.
async fn nemesis(
    sut: Arc<tokio::sync::Mutex<SutProcess>>,
    faults: Vec<Fault>,
    log: Arc<Mutex<DeliveryLog>>,
    origin: Instant,
    events: Arc<Mutex<Vec<SutEvent>>>,
    delivered: tokio::sync::watch::Receiver<bool>,
) {
    let record = |what: &str, detail: String| {
        events.lock().unwrap().push(SutEvent {
            at: origin.elapsed(),
            what: what.to_string(),
            detail,
        });
    };
    for fault in faults {
        let Fault::SutKill {
            at,
            after_acks,
            restart_after,
        } = fault
        else {
            continue;
        };
        if let Some(at) = at {
            tokio::time::sleep_until((origin + at).into()).await;
        }
        if let Some(n) = after_acks {
            loop {
                let acks = log
                    .lock()
                    .unwrap()
                    .attempts
                    .iter()
                    .filter(|a| a.outcome.sut_acked())
                    .count();
                if acks >= n {
                    break;
                }
                if *delivered.borrow() {
                    // Every delivery finished with fewer acks: the crash never comes.
                    record(
                        "kill-skipped",
                        format!("only {acks} acks, fewer than the {n} the fault waits for"),
                    );
                    return;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        let mut sut = sut.lock().await;
        sut.kill().await;
        record("killed", "SIGKILL to the process group".to_string());
        match sut.restart(restart_after).await {
            Ok(()) => record(
                "restarted",
                format!("ready again after {restart_after:?} down"),
            ),
            // A SUT that cannot come back shows up as dead-lettered
            // deliveries and failing checks; the event says why.
            Err(e) => record("restart-failed", e.to_string()),
        }
    }
}

/// Splits scenario faults into CRM faults (for the mock) and SUT faults
/// (for the nemesis).
/// The CRM faults of a scenario's fault list (as the mock CRM gets them).
pub fn crm_faults(faults: &[Fault]) -> Vec<CrmFault> {
    split_faults(faults).0
}

fn split_faults(faults: &[Fault]) -> (Vec<CrmFault>, Vec<Fault>) {
    let mut crm = Vec::new();
    let mut sut = Vec::new();
    for f in faults {
        let scoped = |kind,
                      from: &Option<Duration>,
                      duration: &Option<Duration>,
                      fraction: &Option<f64>,
                      route: &Option<String>| {
            CrmFault {
                kind,
                window: window(from, duration),
                fraction: *fraction,
                route: route.clone(),
            }
        };
        match f {
            Fault::CrmStatus {
                status,
                from,
                duration,
                fraction,
                route,
                retry_after,
            } => crm.push(scoped(
                CrmFaultKind::Status {
                    status: *status,
                    retry_after: *retry_after,
                },
                from,
                duration,
                fraction,
                route,
            )),
            Fault::CrmRateLimit {
                retry_after,
                from,
                duration,
                fraction,
                route,
            } => crm.push(scoped(
                CrmFaultKind::RateLimit {
                    retry_after: *retry_after,
                },
                from,
                duration,
                fraction,
                route,
            )),
            Fault::CrmLatency {
                delay,
                from,
                duration,
                fraction,
                route,
            } => crm.push(scoped(
                CrmFaultKind::Latency { delay: *delay },
                from,
                duration,
                fraction,
                route,
            )),
            Fault::CrmHang {
                from,
                duration,
                fraction,
                route,
            } => crm.push(scoped(CrmFaultKind::Hang, from, duration, fraction, route)),
            Fault::CrmReset {
                from,
                duration,
                fraction,
                route,
            } => crm.push(scoped(CrmFaultKind::Reset, from, duration, fraction, route)),
            Fault::CrmErrorAfterCommit {
                status,
                from,
                duration,
                fraction,
                route,
            } => crm.push(scoped(
                CrmFaultKind::ErrorAfterCommit { status: *status },
                from,
                duration,
                fraction,
                route,
            )),
            Fault::CrmPartialBatch {
                item_fraction,
                from,
                duration,
                fraction,
            } => crm.push(scoped(
                CrmFaultKind::PartialBatch {
                    fraction_of_items: *item_fraction,
                },
                from,
                duration,
                fraction,
                &None,
            )),
            Fault::CrmRenameProperty {
                object_type,
                from_property,
                to_property,
                from,
                duration,
            } => crm.push(CrmFault {
                kind: CrmFaultKind::RenameProperty {
                    object_type: object_type.clone(),
                    from: from_property.clone(),
                    to: to_property.clone(),
                },
                window: window(from, duration).or(from.map(|f| Window {
                    from: f,
                    r#for: Duration::from_secs(86_400),
                })),
                fraction: None,
                route: None,
            }),
            Fault::SutKill { .. } => sut.push(f.clone()),
            _ => {}
        }
    }
    (crm, sut)
}

fn window(from: &Option<Duration>, duration: &Option<Duration>) -> Option<Window> {
    duration.map(|d| Window {
        from: from.unwrap_or_default(),
        r#for: d,
    })
}

/// The delivery plan of a faulted run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Units in dispatch order.
    pub units: Vec<Unit>,
    /// Key values only forged deliveries carry.
    pub forged_markers: Vec<String>,
    /// Ids of events delivered in a newer payload version.
    pub drifted: Vec<String>,
}

fn traceparent(event_id: &str, copy: usize) -> String {
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(event_id.as_bytes()));
    format!("00-{}-{:012x}{:04x}-01", &digest[..32], copy + 1, 0x5a5a)
}

/// The delivery of `event` as the helpdesk first sends it (`copy` 0), or a
/// later copy of it; each copy has its own `traceparent`.
pub(crate) fn original(event: &Event, origin: &str, copy: usize) -> PlannedDelivery {
    PlannedDelivery {
        event_seq: Some(event.seq),
        event_id: event.id.clone(),
        event_type: event.short_type().to_string(),
        ticket_id: event.ticket_id.clone(),
        body: Arc::new(event.to_bytes()),
        signed_body: None,
        signature: SignatureMode::Valid,
        origin: origin.to_string(),
        lost_acks: 0,
        rotated: false,
        traceparent: traceparent(&event.id, copy),
    }
}

/// The clean run: every event once, in order.
pub fn clean_plan(workload: &Workload) -> Vec<Unit> {
    workload
        .events
        .iter()
        .map(|e| Unit::now(original(e, "original", 0)))
        .collect()
}

/// Builds the faulted run's plan from the scenario's delivery and signature
/// faults; deterministic in `seed`.
pub fn build_plan(scenario: &Scenario, workload: &Workload, seed: u64) -> Plan {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xFA017);
    let mut units: Vec<Unit> = workload
        .events
        .iter()
        .map(|e| Unit::now(original(e, "original", 0)))
        .collect();
    let mut forged_markers = Vec::new();
    let mut drifted = Vec::new();
    let mut later: Vec<(usize, Unit)> = Vec::new();
    for fault in &scenario.faults {
        match fault {
            Fault::ConcurrentDuplicate { fraction } => {
                for (i, e) in workload.events.iter().enumerate() {
                    if rng.random_bool(*fraction) {
                        units[i]
                            .deliveries
                            .push(original(e, "concurrent-duplicate", 1));
                    }
                }
            }
            Fault::Rotation { fraction } => {
                for unit in &mut units {
                    if rng.random_bool(*fraction) {
                        unit.deliveries[0].rotated = true;
                    }
                }
            }
            Fault::LostAck { fraction } => {
                for unit in &mut units {
                    if rng.random_bool(*fraction) {
                        unit.deliveries[0].lost_acks = 1;
                    }
                }
            }
            Fault::Duplicate { fraction, copies } => {
                for (i, e) in workload.events.iter().enumerate() {
                    if rng.random_bool(*fraction) {
                        for c in 0..*copies {
                            let at = i + rng.random_range(1..=16);
                            later.push((at, Unit::now(original(e, "duplicate", 2 + c as usize))));
                        }
                    }
                }
            }
            Fault::PayloadDrift {
                fraction,
                new_event_types,
                ..
            } => {
                for (i, e) in workload.events.iter().enumerate() {
                    if rng.random_bool(*fraction) {
                        let body = drift_body(&e.body);
                        units[i].deliveries[0].body = Arc::new(serde_json::to_vec(&body).unwrap());
                        drifted.push(e.id.clone());
                    }
                }
                for k in 0..*new_event_types {
                    let (delivery, at) = new_type_event(workload, &mut rng, k);
                    drifted.push(delivery.event_id.clone());
                    later.push((at, Unit::now(delivery)));
                }
            }
            Fault::Delay { fraction, delay } => {
                for unit in &mut units {
                    if rng.random_bool(*fraction) {
                        unit.not_before += *delay;
                    }
                }
            }
            Fault::Forged { count }
            | Fault::Tampered { count }
            | Fault::Unsigned { count }
            | Fault::Stale { count }
            | Fault::WrongSecret { count } => {
                let mode = match fault {
                    Fault::Forged { .. } => SignatureMode::Forged,
                    Fault::Tampered { .. } => SignatureMode::Tampered,
                    Fault::Unsigned { .. } => SignatureMode::Missing,
                    Fault::Stale { .. } => SignatureMode::Stale,
                    _ => SignatureMode::WrongSecret,
                };
                for _ in 0..*count {
                    let marker = (FORGED_TICKET_BASE + forged_markers.len() as u64).to_string();
                    let (delivery, at) = forgery(workload, &mut rng, mode, &marker);
                    forged_markers.push(marker);
                    later.push((at, Unit::now(delivery)));
                }
            }
            _ => {}
        }
    }
    insert_units(&mut units, later);
    for fault in &scenario.faults {
        match fault {
            Fault::Reorder { window } => {
                for chunk in units.chunks_mut(*window) {
                    for i in (1..chunk.len()).rev() {
                        chunk.swap(i, rng.random_range(0..=i));
                    }
                }
            }
            Fault::Rate { per_second } => {
                for (i, unit) in units.iter_mut().enumerate() {
                    unit.not_before += Duration::from_secs_f64(i as f64 / per_second);
                }
            }
            Fault::Burst { size, pause } => {
                for (i, unit) in units.iter_mut().enumerate() {
                    unit.not_before += *pause * (i / size) as u32;
                }
            }
            _ => {}
        }
    }
    Plan {
        units,
        forged_markers,
        drifted,
    }
}

/// A scenario run at a next version judges what the upgrade can break even
/// when its `[checks] require` (written for the current versions) leaves it
/// out: `tolerates_drift` for the helpdesk's, `contract` for either.
fn rehearsal_checks(scenario: &Scenario, versions: Versions) -> std::borrow::Cow<'_, Scenario> {
    let require = &scenario.checks.require;
    let mut wanted = Vec::new();
    if versions.helpdesk == ApiVersion::Next {
        wanted.push(CheckName::ToleratesDrift);
    }
    if !versions.is_current() {
        wanted.push(CheckName::Contract);
    }
    wanted.retain(|c| !require.is_empty() && !require.contains(c));
    if wanted.is_empty() {
        return std::borrow::Cow::Borrowed(scenario);
    }
    let mut scenario = scenario.clone();
    scenario.checks.require.extend(wanted);
    std::borrow::Cow::Owned(scenario)
}

/// Inserts units (duplicates, forgeries, new event types) at their
/// positions, from the back so earlier positions stay valid.
fn insert_units(units: &mut Vec<Unit>, mut later: Vec<(usize, Unit)>) {
    later.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    for (at, unit) in later {
        let at = at.min(units.len());
        units.insert(at, unit);
    }
}

/// Share of status changes that use the new status value when the helpdesk
/// is at its next version.
const NEXT_STATUS_SHARE: f64 = 0.3;

/// `[versions] helpdesk = "next"`: every event in the next payload version
/// and a share of status changes with the status value the current contract
/// lacks, in both runs (it is what the helpdesk sends now). Returns the ids
/// of all events, and of the escalated ones.
fn upgrade_events(workload: &mut Workload, seed: u64) -> (Vec<String>, Vec<String>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x2025_0601);
    let mut escalated = Vec::new();
    for e in &mut workload.events {
        e.body = drift_body(&e.body);
        if e.kind == workload::EventKind::StatusChanged && rng.random_bool(NEXT_STATUS_SHARE) {
            escalate(e);
            escalated.push(e.id.clone());
        }
    }
    let all = workload.events.iter().map(|e| e.id.clone()).collect();
    (all, escalated)
}

/// Events of every type that is new in the next version, at seeded places in
/// the faulted run; returns them (their ids are added to `plan.drifted`).
fn add_new_type_events(plan: &mut Plan, workload: &Workload, seed: u64) -> Vec<PlannedDelivery> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x2E_77E5);
    let mut later = Vec::new();
    let mut added = Vec::new();
    for k in 0..NEW_EVENT_TYPES.len() {
        let (delivery, at) = new_type_event(workload, &mut rng, k);
        plan.drifted.push(delivery.event_id.clone());
        added.push(delivery.clone());
        later.push((at, Unit::now(delivery)));
    }
    insert_units(&mut plan.units, later);
    added
}

/// The newer payload version of an event: a new `zendesk_event_version`,
/// fields the older contract does not know, in the envelope, the ticket
/// snapshot and the change.
fn drift_body(body: &serde_json::Value) -> serde_json::Value {
    let mut body = body.clone();
    body["zendesk_event_version"] = serde_json::json!("2025-06-01");
    body["region"] = serde_json::json!("eu-1");
    if let Some(detail) = body["detail"].as_object_mut() {
        detail.insert("sla_breach_at".into(), serde_json::Value::Null);
        detail.insert(
            "custom_fields".into(),
            serde_json::json!([{"id": "360001", "value": "gold"}]),
        );
    }
    if let Some(event) = body["event"].as_object_mut() {
        event.insert("source".into(), serde_json::json!("api"));
    }
    body
}

/// Event types hookproof's contracts (and the SUT) have never seen.
const NEW_EVENT_TYPES: &[&str] = &[
    "ticket.merged",
    "ticket.escalation_level_changed",
    "ticket.ai_summary_generated",
];

fn new_type_event(workload: &Workload, rng: &mut ChaCha8Rng, k: usize) -> (PlannedDelivery, usize) {
    let tickets: Vec<&Event> = workload
        .events
        .iter()
        .filter(|e| e.ticket_id.is_some())
        .collect();
    let at = rng.random_range(0..=workload.events.len());
    let template = tickets[rng.random_range(0..tickets.len())];
    let short = NEW_EVENT_TYPES[k % NEW_EVENT_TYPES.len()];
    let mut body = drift_body(&template.body);
    let id = workload::uuid_from(rng);
    body["id"] = serde_json::json!(id);
    body["type"] = serde_json::json!(format!("{}{short}", workload::TYPE_PREFIX));
    body["event"] = match short {
        "ticket.merged" => {
            let into = tickets[rng.random_range(0..tickets.len())]
                .ticket_id
                .clone()
                .unwrap_or_default();
            serde_json::json!({"merged_into": into, "source": "web"})
        }
        "ticket.escalation_level_changed" => {
            serde_json::json!({"level": 2, "reason": "vip", "source": "rule"})
        }
        _ => serde_json::json!({"summary": "Customer asks for a refund.", "source": "automation"}),
    };
    let delivery = PlannedDelivery {
        event_seq: None,
        event_id: id.clone(),
        event_type: short.to_string(),
        ticket_id: template.ticket_id.clone(),
        body: Arc::new(serde_json::to_vec(&body).unwrap()),
        signed_body: None,
        signature: SignatureMode::Valid,
        origin: "drift".to_string(),
        lost_acks: 0,
        rotated: false,
        traceparent: traceparent(&id, 0),
    };
    (delivery, at)
}

/// `payload.drift` with `new-status`: some status changes use a status value
/// the older contract lacks. It changes what the event means, so it applies
/// to the clean run too; returns the ids of the changed events.
fn drift_statuses(scenario: &Scenario, workload: &mut Workload, seed: u64) -> Vec<String> {
    let Some(fraction) = scenario.faults.iter().find_map(|f| match f {
        Fault::PayloadDrift {
            fraction,
            new_status: true,
            ..
        } => Some(*fraction),
        _ => None,
    }) else {
        return Vec::new();
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xD21F7);
    let mut changed = Vec::new();
    for e in &mut workload.events {
        if e.kind == workload::EventKind::StatusChanged && rng.random_bool(fraction) {
            escalate(e);
            changed.push(e.id.clone());
        }
    }
    changed
}

/// A status change to the status value only the next version has.
fn escalate(e: &mut Event) {
    e.body["event"]["current"] = serde_json::json!("ESCALATED");
    e.body["detail"]["status"] = serde_json::json!("ESCALATED");
}

/// The scenario step `delivery.replay`: the dead-lettered events its
/// selection picks, each once (what `hookproof replay` sends with the same
/// flags).
fn replay_units(log: &DeliveryLog, selection: &crate::replay::Selection) -> Vec<Unit> {
    let records = crate::replay::event_records(log);
    crate::replay::units(records.iter().filter(|r| selection.picks(r)))
}

/// `crm.preseed`: requesters that already exist as contacts, with CRM-owned
/// properties; the same objects are seeded into the clean run.
fn preseed(scenario: &Scenario, workload: &Workload, seed: u64) -> (Vec<SeedObject>, Vec<Seeded>) {
    let Some(share) = scenario.faults.iter().find_map(|f| match f {
        Fault::CrmPreseed { contacts } => Some(*contacts),
        _ => None,
    }) else {
        return (Vec::new(), Vec::new());
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EED);
    let mut objects = Vec::new();
    let mut seeded = Vec::new();
    for user in &workload.users {
        if !rng.random_bool(share) {
            continue;
        }
        let owned: std::collections::BTreeMap<String, String> = [
            ("lifecyclestage", "customer".to_string()),
            (
                "hubspot_owner_id",
                format!("{}", 31_337 + rng.random_range(0..5)),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let mut properties = owned.clone();
        properties.insert("email".into(), user.email.clone());
        properties.insert("company".into(), "Existing Customer Ltd".into());
        objects.push(SeedObject {
            object_type: "contacts".into(),
            properties,
        });
        seeded.push(Seeded {
            object_type: "contacts".into(),
            key: "email".into(),
            value: user.email.clone(),
            owned,
        });
    }
    (objects, seeded)
}

fn helpdesk_faults(faults: &[Fault]) -> Vec<HelpdeskFault> {
    faults
        .iter()
        .filter_map(|f| match f {
            Fault::HelpdeskStatus {
                status,
                from,
                duration,
                retry_after,
            } => Some(HelpdeskFault::Status {
                status: *status,
                retry_after: *retry_after,
                from: from.unwrap_or_default(),
                duration: *duration,
            }),
            Fault::HelpdeskLatency { delay } => Some(HelpdeskFault::Latency { delay: *delay }),
            _ => None,
        })
        .collect()
}

/// The `Retry-After` the CRM faults send, if any.
fn retry_after(faults: &[Fault]) -> Option<Duration> {
    faults.iter().find_map(|f| match f {
        Fault::CrmRateLimit { retry_after, .. } => Some(*retry_after),
        Fault::CrmStatus { retry_after, .. } => *retry_after,
        _ => None,
    })
}

/// A forged delivery: a realistic ticket event about a ticket that does not
/// exist (`marker`), so any effect it has is visible in the CRM.
fn forgery(
    workload: &Workload,
    rng: &mut ChaCha8Rng,
    mode: SignatureMode,
    marker: &str,
) -> (PlannedDelivery, usize) {
    let candidates: Vec<&Event> = workload
        .events
        .iter()
        .filter(|e| e.ticket_id.is_some())
        .collect();
    let at = rng.random_range(0..=workload.events.len());
    let template = candidates[rng.random_range(0..candidates.len())];
    let mut body = template.body.clone();
    let id = workload::uuid_from(rng);
    body["id"] = serde_json::json!(id);
    body["type"] = serde_json::json!("zen:event-type:ticket.status_changed");
    body["event"] = serde_json::json!({"previous": body["detail"]["status"], "current": "CLOSED"});
    body["detail"]["status"] = serde_json::json!("CLOSED");
    let signed = body.clone();
    body["detail"]["id"] = serde_json::json!(marker);
    body["subject"] = serde_json::json!(format!("zen:ticket:{marker}"));
    body["detail"]["subject"] = serde_json::json!(format!("Forged ticket {marker}"));
    let signed_body = if mode == SignatureMode::Tampered {
        Some(Arc::new(serde_json::to_vec(&signed).unwrap()))
    } else {
        None
    };
    let delivery = PlannedDelivery {
        event_seq: None,
        event_id: id.clone(),
        event_type: "ticket.status_changed".to_string(),
        ticket_id: Some(marker.to_string()),
        body: Arc::new(serde_json::to_vec(&body).unwrap()),
        signed_body,
        signature: mode,
        origin: "forgery".to_string(),
        lost_acks: 0,
        rotated: false,
        traceparent: traceparent(&id, 0),
    };
    (delivery, at)
}

fn stats(workload: &Workload, obs: &RunObservation, restarts: u32, wall: Duration) -> RunStats {
    use crate::history::DeliveryStatus as S;
    let log = &obs.log;
    let count = |s: S| log.deliveries.iter().filter(|d| d.status == s).count();
    let mut latencies: Vec<f64> = log
        .ack_latencies()
        .iter()
        .map(|d| d.as_secs_f64() * 1e3)
        .collect();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        if latencies.is_empty() {
            0.0
        } else {
            let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
            (latencies[i] * 100.0).round() / 100.0
        }
    };
    RunStats {
        events: workload.events.len(),
        deliveries: log.deliveries.len(),
        attempts: log.attempts.len(),
        acked: count(S::Acked),
        rejected: count(S::Rejected),
        dead_lettered: count(S::DeadLettered),
        retries: log.attempts.iter().filter(|a| a.attempt > 1).count(),
        crm_requests: obs.crm_requests.len(),
        ack_p50_ms: pct(0.5),
        ack_p99_ms: pct(0.99),
        sut_restarts: restarts,
        wall_ms: wall.as_millis() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse;

    fn scenario(faults: &str) -> Scenario {
        parse(
            &format!(
                "name = \"t\"\ndescription = \"d\"\nseed = 5\n[workload]\ntickets = 10\n{faults}"
            ),
            "t.toml",
        )
        .unwrap()
    }

    fn deliveries(plan: &Plan) -> Vec<&PlannedDelivery> {
        plan.units.iter().flat_map(|u| &u.deliveries).collect()
    }

    #[test]
    fn lost_acks_delays_rate_and_reorder_fire() {
        let s = scenario(
            "[[fault]]\nkind = \"delivery.lost-ack\"\nfraction = 0.5\n\
             [[fault]]\nkind = \"delivery.delay\"\nfraction = 0.5\ndelay = \"300ms\"\n",
        );
        let w = workload::generate(&s.workload, 5);
        let plan = build_plan(&s, &w, 5);
        let all = deliveries(&plan);
        let lost = all.iter().filter(|d| d.lost_acks == 1).count();
        assert!(lost > 0 && lost < all.len(), "{lost} of {}", all.len());
        let delayed = plan
            .units
            .iter()
            .filter(|u| u.not_before == Duration::from_millis(300))
            .count();
        assert!(delayed > 0 && delayed < plan.units.len(), "{delayed}");

        let s = scenario("[[fault]]\nkind = \"delivery.rate\"\nper-second = 50.0\n");
        let plan = build_plan(&s, &w, 5);
        assert_eq!(plan.units[0].not_before, Duration::ZERO);
        assert_eq!(plan.units[10].not_before, Duration::from_millis(200));

        let s = scenario("[[fault]]\nkind = \"delivery.reorder\"\nwindow = 8\n");
        let plan = build_plan(&s, &w, 5);
        let order: Vec<&str> = deliveries(&plan)
            .iter()
            .map(|d| d.event_id.as_str())
            .collect();
        let original: Vec<&str> = w.events.iter().map(|e| e.id.as_str()).collect();
        assert_ne!(order, original, "reordering changed nothing");
        let (mut a, mut b) = (order.clone(), original.clone());
        a.sort();
        b.sort();
        assert_eq!(a, b, "reordering must not add or drop deliveries");
    }

    #[test]
    fn payload_drift_and_every_signature_mode_fire() {
        let s = scenario(
            "[[fault]]\nkind = \"payload.drift\"\nfraction = 0.5\nnew-event-types = 2\n\
             [[fault]]\nkind = \"signature.forged\"\ncount = 1\n\
             [[fault]]\nkind = \"signature.tampered\"\ncount = 1\n\
             [[fault]]\nkind = \"signature.missing\"\ncount = 1\n\
             [[fault]]\nkind = \"signature.stale\"\ncount = 1\n\
             [[fault]]\nkind = \"signature.wrong-secret\"\ncount = 1\n",
        );
        let w = workload::generate(&s.workload, 5);
        let plan = build_plan(&s, &w, 5);
        let all = deliveries(&plan);
        assert!(plan.drifted.len() > 2, "{:?}", plan.drifted);
        let drifted = all
            .iter()
            .find(|d| d.event_seq.is_some() && plan.drifted.contains(&d.event_id))
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&drifted.body).unwrap();
        assert_eq!(body["zendesk_event_version"], "2025-06-01");
        assert!(body["detail"]["custom_fields"].is_array());
        let new_types: Vec<_> = all.iter().filter(|d| d.origin == "drift").collect();
        assert_eq!(new_types.len(), 2);
        assert!(NEW_EVENT_TYPES.contains(&new_types[0].event_type.as_str()));
        for mode in [
            SignatureMode::Forged,
            SignatureMode::Tampered,
            SignatureMode::Missing,
            SignatureMode::Stale,
            SignatureMode::WrongSecret,
        ] {
            let d = all
                .iter()
                .find(|d| d.signature == mode)
                .unwrap_or_else(|| panic!("{mode:?}"));
            assert_eq!(d.origin, "forgery");
        }
        // new-status changes the workload itself (both runs).
        let s =
            scenario("[[fault]]\nkind = \"payload.drift\"\nfraction = 1.0\nnew-status = true\n");
        let mut w = workload::generate(&s.workload, 5);
        let changed = drift_statuses(&s, &mut w, 5);
        assert!(!changed.is_empty());
        let e = w.events.iter().find(|e| e.id == changed[0]).unwrap();
        assert_eq!(e.body["detail"]["status"], "ESCALATED");
    }

    #[test]
    fn bursts_group_deliveries_with_pauses() {
        let s = scenario("[[fault]]\nkind = \"delivery.burst\"\nsize = 5\npause = \"200ms\"\n");
        let w = workload::generate(&s.workload, 5);
        let plan = build_plan(&s, &w, 5);
        let starts: Vec<Duration> = plan.units.iter().map(|u| u.not_before).collect();
        assert!(starts[..5].iter().all(|d| d.is_zero()), "{starts:?}");
        assert_eq!(starts[5], Duration::from_millis(200));
        assert_eq!(starts[10], Duration::from_millis(400));
    }

    #[test]
    fn plans_are_deterministic() {
        let s = scenario(
            "[[fault]]\nkind = \"delivery.duplicate\"\nfraction = 0.5\n[[fault]]\nkind = \"delivery.reorder\"\n",
        );
        let w = workload::generate(&s.workload, 5);
        let ids = |p: &Plan| -> Vec<String> {
            p.units
                .iter()
                .flat_map(|u| u.deliveries.iter().map(|d| d.event_id.clone()))
                .collect()
        };
        assert_eq!(ids(&build_plan(&s, &w, 5)), ids(&build_plan(&s, &w, 5)));
        assert_ne!(ids(&build_plan(&s, &w, 5)), ids(&build_plan(&s, &w, 6)));
    }

    #[test]
    fn duplicates_and_forgeries_are_added() {
        let s = scenario(
            "[[fault]]\nkind = \"delivery.duplicate\"\nfraction = 1.0\n[[fault]]\nkind = \"signature.tampered\"\ncount = 2\n[[fault]]\nkind = \"delivery.concurrent-duplicate\"\nfraction = 1.0\n",
        );
        let w = workload::generate(&s.workload, 5);
        let plan = build_plan(&s, &w, 5);
        let all: Vec<&PlannedDelivery> = plan.units.iter().flat_map(|u| &u.deliveries).collect();
        let n = w.events.len();
        assert_eq!(all.iter().filter(|d| d.origin == "duplicate").count(), n);
        assert_eq!(
            all.iter()
                .filter(|d| d.origin == "concurrent-duplicate")
                .count(),
            n
        );
        let forged: Vec<_> = all.iter().filter(|d| d.origin == "forgery").collect();
        assert_eq!(forged.len(), 2);
        assert!(forged.iter().all(|d| d.signed_body.is_some()));
        assert_eq!(plan.forged_markers, vec!["990001", "990002"]);
        assert!(plan.units.iter().any(|u| u.deliveries.len() == 2));
    }

    fn original_ids(w: &Workload) -> Vec<String> {
        w.events.iter().map(|e| e.id.clone()).collect()
    }

    fn plan_ids(plan: &Plan) -> Vec<String> {
        deliveries(plan)
            .iter()
            .map(|d| d.event_id.clone())
            .collect()
    }

    #[test]
    fn without_faults_the_plan_is_the_clean_plan() {
        let s = scenario("");
        let w = workload::generate(&s.workload, 5);
        let plan = build_plan(&s, &w, 5);
        let clean = clean_plan(&w);
        assert_eq!(plan.units.len(), clean.len());
        assert_eq!(plan_ids(&plan), original_ids(&w));
        let all = deliveries(&plan);
        assert!(all.iter().all(|d| d.lost_acks == 0
            && d.signature == SignatureMode::Valid
            && d.origin == "original"));
        assert!(plan.units.iter().all(|u| u.not_before.is_zero()));
        assert!(plan.drifted.is_empty() && plan.forged_markers.is_empty());
    }

    #[test]
    fn lost_ack_marks_originals_only() {
        let s = scenario(
            "[[fault]]\nkind = \"delivery.lost-ack\"\nfraction = 1.0\n\
             [[fault]]\nkind = \"delivery.duplicate\"\nfraction = 1.0\n",
        );
        let w = workload::generate(&s.workload, 5);
        let plan = build_plan(&s, &w, 5);
        let all = deliveries(&plan);
        let originals: Vec<_> = all.iter().filter(|d| d.origin == "original").collect();
        assert_eq!(originals.len(), w.events.len());
        assert!(originals.iter().all(|d| d.lost_acks == 1));
        let copies: Vec<_> = all.iter().filter(|d| d.origin == "duplicate").collect();
        assert_eq!(copies.len(), w.events.len());
        assert!(copies.iter().all(|d| d.lost_acks == 0));
    }

    #[test]
    fn reorder_shuffles_within_windows_only() {
        let window = 4;
        let s = scenario("[[fault]]\nkind = \"delivery.reorder\"\nwindow = 4\n");
        let w = workload::generate(&s.workload, 5);
        let plan = build_plan(&s, &w, 5);
        let order = plan_ids(&plan);
        let original = original_ids(&w);
        assert_ne!(order, original);
        let displaced = order.iter().zip(&original).filter(|(a, b)| a != b).count();
        assert!(displaced > 1, "{displaced}");
        for (got, want) in order.chunks(window).zip(original.chunks(window)) {
            let (mut got, mut want) = (got.to_vec(), want.to_vec());
            got.sort();
            want.sort();
            assert_eq!(got, want, "an event left its window");
        }
    }

    #[test]
    fn delay_postpones_without_reordering() {
        let s = scenario("[[fault]]\nkind = \"delivery.delay\"\nfraction = 1.0\ndelay = \"2s\"\n");
        let w = workload::generate(&s.workload, 5);
        let plan = build_plan(&s, &w, 5);
        assert!(
            plan.units
                .iter()
                .all(|u| u.not_before == Duration::from_secs(2))
        );
        assert_eq!(plan_ids(&plan), original_ids(&w));
    }

    #[test]
    fn rate_spaces_every_unit_by_one_over_the_rate() {
        let s = scenario("[[fault]]\nkind = \"delivery.rate\"\nper-second = 20.0\n");
        let w = workload::generate(&s.workload, 5);
        let plan = build_plan(&s, &w, 5);
        assert_eq!(plan.units.len(), w.events.len());
        for (i, pair) in plan.units.windows(2).enumerate() {
            let step = pair[1].not_before - pair[0].not_before;
            let off = step.as_secs_f64() - 0.05;
            assert!(off.abs() < 1e-6, "unit {i}: step {step:?}");
        }
        let last = plan.units.last().unwrap().not_before.as_secs_f64();
        assert!((last - (w.events.len() - 1) as f64 / 20.0).abs() < 1e-6);
        assert_eq!(plan_ids(&plan), original_ids(&w));
    }

    #[test]
    fn the_next_helpdesk_version_meets_the_next_contracts_only() {
        let s = scenario("");
        let mut w = workload::generate(&s.workload, 5);
        let (all, escalated) = upgrade_events(&mut w, 5);
        assert_eq!(all.len(), w.events.len());
        assert!(!escalated.is_empty() && escalated.len() < all.len());
        let next = ContractSource::Builtin
            .load(Versions {
                helpdesk: ApiVersion::Next,
                crm: ApiVersion::Current,
            })
            .unwrap();
        let current = Contracts::builtin().unwrap();
        for e in &w.events {
            assert_eq!(next.validate_event(&e.body), Vec::new(), "{}", e.body);
            assert_eq!(e.body["zendesk_event_version"], "2025-06-01");
            // The current contract tolerates the new fields, not the new status.
            assert_eq!(
                current.validate_event(&e.body).is_empty(),
                !escalated.contains(&e.id),
                "{}",
                e.body
            );
        }
        let mut plan = build_plan(&s, &w, 5);
        let before = plan.units.len();
        let added = add_new_type_events(&mut plan, &w, 5);
        assert_eq!(plan.units.len(), before + NEW_EVENT_TYPES.len());
        let types: Vec<&str> = added.iter().map(|d| d.event_type.as_str()).collect();
        assert_eq!(types, NEW_EVENT_TYPES);
        for d in &added {
            let body: serde_json::Value = serde_json::from_slice(&d.body).unwrap();
            assert_eq!(next.validate_event(&body), Vec::new(), "{body}");
            assert!(plan.drifted.contains(&d.event_id));
        }
        // The types with a contract of their own are checked by it.
        let mut merged: serde_json::Value = serde_json::from_slice(&added[0].body).unwrap();
        merged["event"] = serde_json::json!({"source": "web"});
        assert!(
            !next.validate_event(&merged).is_empty(),
            "merged_into is required"
        );
    }

    #[test]
    fn payload_drift_changes_only_the_drifted_bodies() {
        let s =
            scenario("[[fault]]\nkind = \"payload.drift\"\nfraction = 0.5\nnew-event-types = 3\n");
        let w = workload::generate(&s.workload, 5);
        let plan = build_plan(&s, &w, 5);
        let all = deliveries(&plan);
        let mut drifted_originals = 0;
        for d in all.iter().filter(|d| d.origin == "original") {
            let body: serde_json::Value = serde_json::from_slice(&d.body).unwrap();
            let event = &w.events[d.event_seq.unwrap()];
            if plan.drifted.contains(&d.event_id) {
                drifted_originals += 1;
                assert_eq!(body["zendesk_event_version"], "2025-06-01");
                assert_eq!(body["region"], "eu-1");
                assert_eq!(body["id"], event.body["id"], "same event id");
            } else {
                assert_eq!(*d.body, event.to_bytes(), "undrifted body changed");
            }
        }
        assert!(drifted_originals > 0 && drifted_originals < w.events.len());
        let new_types: Vec<_> = all.iter().filter(|d| d.origin == "drift").collect();
        assert_eq!(new_types.len(), 3);
        let mut types: Vec<&str> = new_types.iter().map(|d| d.event_type.as_str()).collect();
        types.sort();
        let mut want = NEW_EVENT_TYPES.to_vec();
        want.sort();
        assert_eq!(types, want);
        for d in &new_types {
            assert_eq!(d.event_seq, None);
            assert!(plan.drifted.contains(&d.event_id));
            assert!(w.events.iter().all(|e| e.id != d.event_id));
            let body: serde_json::Value = serde_json::from_slice(&d.body).unwrap();
            assert_eq!(body["zendesk_event_version"], "2025-06-01");
            assert_eq!(
                body["type"],
                format!("{}{}", workload::TYPE_PREFIX, d.event_type)
            );
        }
        assert_eq!(plan.drifted.len(), drifted_originals + 3);
    }

    #[test]
    fn each_signature_mode_fires_alone_with_its_markers() {
        for (kind, mode) in [
            ("forged", SignatureMode::Forged),
            ("tampered", SignatureMode::Tampered),
            ("missing", SignatureMode::Missing),
            ("stale", SignatureMode::Stale),
            ("wrong-secret", SignatureMode::WrongSecret),
        ] {
            let s = scenario(&format!(
                "[[fault]]\nkind = \"signature.{kind}\"\ncount = 2\n"
            ));
            let w = workload::generate(&s.workload, 5);
            let plan = build_plan(&s, &w, 5);
            let all = deliveries(&plan);
            let forged: Vec<_> = all
                .iter()
                .filter(|d| d.signature != SignatureMode::Valid)
                .collect();
            assert_eq!(forged.len(), 2, "{kind}");
            assert_eq!(all.len(), w.events.len() + 2, "{kind}");
            assert_eq!(plan.forged_markers, vec!["990001", "990002"], "{kind}");
            for (d, marker) in forged.iter().zip(&plan.forged_markers) {
                assert_eq!(d.signature, mode, "{kind}");
                assert_eq!(d.origin, "forgery", "{kind}");
                assert_eq!(d.event_seq, None, "{kind}");
                assert_eq!(d.ticket_id.as_deref(), Some(marker.as_str()), "{kind}");
                let body: serde_json::Value = serde_json::from_slice(&d.body).unwrap();
                assert_eq!(body["detail"]["id"], marker.as_str(), "{kind}");
                match &d.signed_body {
                    Some(signed) => {
                        assert_eq!(mode, SignatureMode::Tampered, "{kind}");
                        assert_ne!(**signed, *d.body, "tampering must change the body");
                    }
                    None => assert_ne!(mode, SignatureMode::Tampered),
                }
            }
        }
    }
}
