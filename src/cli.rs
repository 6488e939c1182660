//! The command-line interface: parses flags, calls the library, prints, and
//! owns the exit codes — 0 every check passed, 1 a check failed, 2 a usage,
//! configuration or SUT error. Nothing else in the crate prints or exits.

use crate::check::CheckName;
use crate::contract::{ApiVersion, ContractSource, Contracts, Versions};
use crate::partition::Partition;
use crate::reference::{self, Flaw};
use crate::report::{RunReport, check_report_dir, summary_table, write_report_dir};
use crate::runner::VersionOverride;
use crate::runner::{RunConfig, RunEvent, ScenarioOutcome, run_suite};
use crate::scenario::{self, Scenario};
use crate::signing::Scheme;
use crate::sut::SutSpec;
use clap::{Args, Parser, Subcommand};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Prints a line on stdout. A closed stdout (`hookproof run | head`) ends
/// the output, not the program with a panic, as with other Unix tools.
macro_rules! out {
    () => {{
        let _ = writeln!(std::io::stdout().lock());
    }};
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Exit code: every check passed.
pub const EXIT_PASS: i32 = 0;
/// Exit code: at least one check failed (or was unknown and not allowed).
pub const EXIT_FAIL: i32 = 1;
/// Exit code: usage, configuration or SUT error.
pub const EXIT_ERROR: i32 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "hookproof",
    version,
    about = "Contract-and-chaos tester for helpdesk → CRM webhook integrations",
    long_about = "hookproof drives your webhook receiver (the SUT) with signed helpdesk events under \
                  faults, serves it a mock CRM, and checks that nothing is lost, duplicated, \
                  forged or left diverged.\n\nExit codes: 0 all checks passed, 1 a check failed, \
                  2 usage, configuration or SUT error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run scenarios against a SUT and report the verdicts.
    Run(RunArgs),
    /// Run a bundled receiver.
    #[command(subcommand)]
    Sut(SutCommand),
    /// List the built-in scenarios.
    Scenarios,
    /// Work with the JSON Schema contracts.
    #[command(subcommand)]
    Contracts(ContractsCommand),
    /// Serve a mock on 127.0.0.1 for manual use and SDK tests.
    #[command(subcommand)]
    Mock(MockCommand),
    /// Run the suite against the reference receiver and each of its flawed
    /// variants: the reference must pass everything, each flaw must be caught.
    Selftest(SelftestArgs),
    /// Generate workloads and fault schedules (proptest), run them against
    /// the SUT, and shrink the first failure to a minimal scenario file.
    Fuzz(FuzzArgs),
    /// Merge the report.json files of a CI matrix (--partition) into one.
    Merge(MergeArgs),
    /// Re-deliver selected events of a run's delivery log to a running
    /// receiver: fresh signatures, the same event ids, the retry policy.
    Replay(ReplayArgs),
    /// Stand between the SUT and a real CRM sandbox (or a helpdesk sandbox
    /// and the SUT): validate every request and response against the
    /// contracts, inject a scenario's CRM faults, record the traffic
    /// without credentials. Runs until Ctrl-C or SIGTERM; exit 1 when any
    /// exchange broke a contract.
    Proxy(ProxyArgs),
    /// Load-test the SUT: open-loop rate, latency from the intended send
    /// time, end-to-end sync latency, loss and duplicates, optionally a
    /// saturation search and a CRM fault profile.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
struct ProxyArgs {
    /// Base URL requests are forwarded to: the CRM sandbox, or the SUT's
    /// webhook server with --side helpdesk (127.0.0.1 or ::1 only; reach a
    /// remote sandbox through a local tunnel).
    #[arg(long, value_name = "URL")]
    upstream: String,
    /// Address to listen on (loopback; port 0 picks a free one, printed as
    /// HOOKPROOF_PROXY_URL=…).
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    listen: String,
    /// Which side of the SUT: crm (CRM API calls) or helpdesk (webhook deliveries).
    #[arg(long, default_value = "crm", value_name = "SIDE")]
    side: String,
    /// Record every exchange as JSON Lines into this new file (never
    /// overwritten; credentials redacted).
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// Inject the CRM faults of this scenario (built-in name or .toml file);
    /// their windows start when the proxy starts.
    #[arg(long = "scenario", short = 's', value_name = "NAME|FILE")]
    scenario: Option<String>,
    /// Load contracts from this directory instead of the built-in ones.
    #[arg(long, value_name = "DIR")]
    contracts: Option<PathBuf>,
    /// Contract version of the proxied side: current or next.
    #[arg(long, default_value = "current", value_name = "VERSION")]
    api_version: String,
    /// Seed of the faults' fractions (default: the scenario's).
    #[arg(long)]
    seed: Option<u64>,
    /// How long the upstream may take to answer before the client gets a 502.
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    upstream_timeout: String,
}

#[derive(Debug, Subcommand)]
enum ContractsCommand {
    /// Validate recorded payloads (JSON files, or JSON Lines with one payload
    /// a line); exit 1 on violations.
    Validate {
        /// Contract to validate against (e.g. `hubspot/tickets.create.json`);
        /// default: Zendesk events are recognised by their `type`.
        #[arg(long, value_name = "CONTRACT")]
        contract: Option<String>,
        /// Load contracts from this directory instead of the built-in ones.
        #[arg(long, value_name = "DIR")]
        contracts: Option<PathBuf>,
        /// Payload files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// List the contract files.
    List,
    /// Classify every change between two versions of a contract (or of a
    /// directory of contracts) for a consumer: breaking, risky, safe; exit 1
    /// when a change is breaking.
    Diff {
        /// The old version (a JSON Schema file or a directory).
        #[arg(value_name = "OLD")]
        old: PathBuf,
        /// The new version (same kind as OLD).
        #[arg(value_name = "NEW")]
        new: PathBuf,
        /// Output format: table or json.
        #[arg(long, default_value = "table", value_name = "FORMAT")]
        format: String,
        /// Exit 0 even when breaking changes are found.
        #[arg(long)]
        allow_breaking: bool,
    },
    /// Write a contract file for every webhook (OpenAPI 3.1) or message
    /// (AsyncAPI 2.x/3.x) of a vendor's spec to DIR/PROFILE/NAME.json;
    /// never overwrites. See contracts/README.md.
    Import {
        /// The OpenAPI 3.1 or AsyncAPI 2.x/3.x document (JSON or YAML).
        #[arg(value_name = "SPEC")]
        spec: PathBuf,
        /// The contracts directory to write into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The subdirectory: zendesk (helpdesk events) or hubspot (CRM requests).
        #[arg(long, default_value = "zendesk", value_name = "PROFILE")]
        profile: String,
    },
}

#[derive(Debug, Subcommand)]
enum MockCommand {
    /// The mock CRM (HubSpot CRM v3 subset). Prints `HOOKPROOF_CRM_URL=…`
    /// and serves until interrupted or terminated.
    Crm {
        /// Bearer token clients must send.
        #[arg(long, env = "HOOKPROOF_CRM_TOKEN", value_name = "TOKEN")]
        token: String,
    },
}

#[derive(Debug, Args)]
struct SelftestArgs {
    /// Run every scenario against every flaw (default: stop at the first scenario that catches it).
    #[arg(long)]
    full: bool,
    /// Only these flaws (repeatable; default: all).
    #[arg(long = "flaw", value_name = "NAME")]
    flaws: Vec<String>,
    /// Scenarios (as for `run`; default: the built-in suite).
    #[arg(long = "scenario", short = 's', value_name = "NAME|FILE|DIR")]
    scenarios: Vec<String>,
    /// Scenarios run at the same time in complete rows.
    #[arg(long, short = 'j', default_value_t = 3, value_name = "N")]
    jobs: usize,
    /// Write the matrix as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// No live progress on stderr.
    #[arg(long, short = 'q')]
    quiet: bool,
}

#[derive(Debug, Subcommand)]
enum SutCommand {
    /// The reference receiver (the one to copy), optionally with one deliberate flaw.
    Reference {
        /// Break exactly one rule (see `hookproof sut flaws`).
        #[arg(long, value_name = "NAME")]
        flaw: Option<String>,
    },
    /// List the reference receiver's flaws.
    Flaws,
}

/// How to start and talk to the SUT; shared by `run` and `fuzz`.
#[derive(Debug, Args)]
struct SutArgs {
    /// Command that starts the SUT (run with `sh -c`); default: the bundled reference receiver.
    #[arg(long, value_name = "CMD")]
    sut: Option<String>,
    /// Project file with the SUT, delivery preset and declared mapping
    /// (default: ./hookproof.toml when it exists).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Signature scheme: zendesk (default), standard-webhooks, hubspot-v3, stripe, github.
    #[arg(long, value_name = "SCHEME")]
    scheme: Option<String>,
    /// Path the SUT receives webhooks on (default /webhooks/helpdesk).
    #[arg(long, value_name = "PATH")]
    webhook_path: Option<String>,
    /// Path the SUT answers 2xx on when ready (default /healthz).
    #[arg(long, value_name = "PATH")]
    health_path: Option<String>,
    /// Path the SUT answers 2xx on when it has no unfinished work; lets a run
    /// settle at once instead of after a quiet period (default for the
    /// bundled reference receiver: /hookproof/idle).
    #[arg(long, value_name = "PATH")]
    idle_path: Option<String>,
    /// How long the SUT may take to become ready (default 15s).
    #[arg(long, value_name = "DURATION")]
    sut_startup_timeout: Option<String>,
    /// A real producer's retry policy for every scenario: zendesk, hubspot, svix, stripe, github.
    #[arg(long, value_name = "PRESET")]
    delivery_preset: Option<String>,
    /// Load contracts from this directory instead of the built-in ones
    /// (the next versions, when asked for, from DIR/next/).
    #[arg(long, value_name = "DIR")]
    contracts: Option<PathBuf>,
    /// Helpdesk event version for every scenario, replacing its
    /// `[versions]`: current, or next (every event in the next payload
    /// version, plus new event types).
    #[arg(long, value_name = "VERSION")]
    helpdesk_version: Option<String>,
    /// CRM API version for every scenario, replacing its `[versions]`:
    /// current, or next (the mock CRM enforces the next contracts).
    #[arg(long, value_name = "VERSION")]
    crm_version: Option<String>,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    sut: SutArgs,
    /// Scenario: a built-in name, a .toml file or a directory (repeatable); default: the built-in suite.
    #[arg(long = "scenario", short = 's', value_name = "NAME|FILE|DIR")]
    scenarios: Vec<String>,
    /// Replace every scenario's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Directory for report.json, junit.xml, summary.md, report.html, delivery
    /// logs and SUT logs.
    #[arg(long, default_value = "hookproof-report", value_name = "DIR")]
    report_dir: PathBuf,
    /// Scenarios run at the same time (each has its own SUT and mocks).
    #[arg(long, short = 'j', default_value_t = 3, value_name = "N")]
    jobs: usize,
    /// Run only share K of N of the selected scenarios (scenario i goes to
    /// share i mod N + 1), for a CI matrix; `hookproof merge` joins the reports.
    #[arg(long, value_name = "K/N")]
    partition: Option<String>,
    /// Compare with an earlier report.json and exit 1 on a regression: a
    /// check that passed there fails now, ack p99 grew too much, or a passing
    /// scenario is missing.
    #[arg(long, value_name = "OLD.json")]
    baseline: Option<PathBuf>,
    /// Allowed ack p99 growth against --baseline, in percent.
    #[arg(long, default_value_t = 20.0, value_name = "PCT")]
    max_p99_regression: f64,
    /// No live progress on stderr.
    #[arg(long, short = 'q')]
    quiet: bool,
}

#[derive(Debug, Args)]
struct BenchArgs {
    #[command(flatten)]
    sut: SutArgs,
    /// Deliveries per second, scheduled open-loop (the first step's with --saturate).
    #[arg(long, default_value = "200/s", value_name = "N/s")]
    rate: String,
    /// How long deliveries are sent (each step's with --saturate).
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    duration: String,
    /// Step the rate up until a step breaks --slo-p99 or --max-error-rate,
    /// and report the highest sustainable rate and every step.
    #[arg(long)]
    saturate: bool,
    /// Each saturation step's rate is the previous one's times this.
    #[arg(long, default_value_t = 1.5, value_name = "X")]
    step_factor: f64,
    /// Most saturation steps.
    #[arg(long, default_value_t = 12, value_name = "N")]
    max_steps: usize,
    /// Highest rate a saturation search tries.
    #[arg(long, default_value = "20000/s", value_name = "N/s")]
    max_rate: String,
    /// Service level: highest acceptable ack p99 (from the intended send time).
    #[arg(long, default_value = "100ms", value_name = "DURATION")]
    slo_p99: String,
    /// Service level, optional: highest acceptable end-to-end p99 (event
    /// sent to its effect in the CRM).
    #[arg(long, value_name = "DURATION")]
    slo_e2e_p99: Option<String>,
    /// Service level: highest acceptable share of attempts not answered 2xx.
    #[arg(long, default_value = "1%", value_name = "PCT")]
    max_error_rate: String,
    /// CRM faults during the load: none, crm-429, crm-503, crm-latency.
    #[arg(long, default_value = "none", value_name = "PROFILE")]
    fault_profile: String,
    /// Share of events delivered twice, as an at-least-once producer does.
    #[arg(long, default_value = "0%", value_name = "PCT")]
    duplicates: String,
    /// Most deliveries in flight; later ones start late, and their latency
    /// still counts from their intended send time.
    #[arg(long, default_value_t = 256, value_name = "N")]
    max_in_flight: usize,
    /// Longest wait after the last delivery for the SUT to finish its work.
    #[arg(long, default_value = "20s", value_name = "DURATION")]
    settle_deadline: String,
    /// Seed of the workload, duplicates and fault fractions.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Directory for bench.json and bench.md.
    #[arg(long, default_value = "hookproof-bench", value_name = "DIR")]
    report_dir: PathBuf,
    /// No progress on stderr.
    #[arg(long, short = 'q')]
    quiet: bool,
}

#[derive(Debug, Args)]
struct ReplayArgs {
    /// The events log of a run: REPORT_DIR/delivery-log/NAME.events.jsonl.
    #[arg(long, value_name = "FILE")]
    log: PathBuf,
    /// Only events first sent at or after this offset into the run (e.g. 2s).
    #[arg(long, value_name = "DURATION")]
    since: Option<String>,
    /// Only events first sent before this offset into the run.
    #[arg(long, value_name = "DURATION")]
    until: Option<String>,
    /// Only events of this short type, e.g. ticket.created (repeatable).
    #[arg(long = "type", value_name = "TYPE")]
    types: Vec<String>,
    /// Final status of the events to pick: dead-lettered, failed, all.
    #[arg(long, default_value = "dead-lettered", value_name = "STATUS")]
    status: String,
    /// Webhook URL of the running receiver (127.0.0.1 or ::1 only).
    #[arg(long, value_name = "URL", conflicts_with = "sut")]
    target: Option<String>,
    /// Or: start this receiver (with `sh -c`) against a fresh mock CRM and
    /// mock helpdesk, replay into it, and report the CRM state it left.
    #[arg(long, value_name = "CMD")]
    sut: Option<String>,
    /// With --sut: the path it receives webhooks on (default /webhooks/helpdesk).
    #[arg(long, value_name = "PATH", requires = "sut")]
    webhook_path: Option<String>,
    /// With --sut: the path it answers 2xx on when ready (default /healthz).
    #[arg(long, value_name = "PATH", requires = "sut")]
    health_path: Option<String>,
    /// With --sut: the path it answers 2xx on when it has no unfinished work.
    #[arg(long, value_name = "PATH", requires = "sut")]
    idle_path: Option<String>,
    /// Signature scheme: zendesk (default), standard-webhooks, hubspot-v3, stripe, github.
    #[arg(long, default_value = "zendesk", value_name = "SCHEME")]
    scheme: String,
    /// With --target: the environment variable holding the receiver's
    /// signing secret (never pass a secret on the command line).
    #[arg(long, value_name = "VAR")]
    secret_env: Option<String>,
    /// A real producer's retry policy: zendesk, hubspot, svix, stripe, github
    /// (default: hookproof's own, 5 retries from 50 ms).
    #[arg(long, value_name = "PRESET")]
    delivery_preset: Option<String>,
}

#[derive(Debug, Args)]
struct MergeArgs {
    /// report.json files of the partitions.
    #[arg(required = true, value_name = "REPORT.json")]
    reports: Vec<PathBuf>,
    /// Directory for the merged report.json, junit.xml, summary.md and
    /// report.html (its charts read delivery-log/ next to each REPORT.json).
    #[arg(long, default_value = "hookproof-report", value_name = "DIR")]
    out: PathBuf,
}

#[derive(Debug, Args)]
struct FuzzArgs {
    #[command(flatten)]
    sut: SutArgs,
    /// Generated cases to run (at most).
    #[arg(long, default_value_t = 100, value_name = "N")]
    cases: usize,
    /// Stop generating cases after this long (e.g. 60s); shrinking is extra.
    #[arg(long, value_name = "DURATION")]
    time: Option<String>,
    /// Seed of the case generator (default: from the clock; always printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Properties judged, comma-separated check names (default: every check
    /// but the timing ones, ack_latency and backs_off).
    #[arg(long, value_delimiter = ',', value_name = "CHECKS")]
    properties: Vec<String>,
    /// Cases run at the same time (each has its own SUT processes and mocks).
    #[arg(long, short = 'j', default_value_t = 8, value_name = "N")]
    jobs: usize,
    /// Most tickets per generated workload.
    #[arg(long, default_value_t = 4, value_name = "N")]
    max_tickets: usize,
    /// Most faults per generated schedule.
    #[arg(long, default_value_t = 3, value_name = "N")]
    max_faults: usize,
    /// Never generate SUT crashes (sut.kill).
    #[arg(long)]
    no_crashes: bool,
    /// Also generate CRM hangs (crm.hang): finds receivers without a client
    /// timeout, but each hung call costs the receiver's client timeout.
    #[arg(long)]
    hangs: bool,
    /// Most shrink steps (each re-runs the SUT).
    #[arg(long, default_value_t = 150, value_name = "N")]
    max_shrink_steps: usize,
    /// Longest time spent shrinking.
    #[arg(long, default_value = "3m", value_name = "DURATION")]
    shrink_time: String,
    /// Where minimal failing cases are saved, and re-checked first on the
    /// next run (like proptest's regression files).
    #[arg(long, default_value = "fuzz-regressions", value_name = "DIR")]
    regressions: PathBuf,
    /// Neither re-check nor save regressions.
    #[arg(long)]
    no_regressions: bool,
    /// Run only share K of N of the generated cases (case i goes to share
    /// i mod N + 1): N CI jobs with one seed cover the campaign once.
    #[arg(long, value_name = "K/N")]
    partition: Option<String>,
    /// Where the SUT state directories of the cases are made (default:
    /// /dev/shm when it exists, else the system's temporary directory).
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// No live progress on stderr.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Also write the campaign as a self-contained HTML page, DIR/report.html
    /// (failures with their evidence, minimal scenario and replay command).
    /// Default: no HTML, only the terminal summary.
    #[arg(long, value_name = "DIR")]
    report_dir: Option<PathBuf>,
}

/// Entry point of the `hookproof` binary; returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    EXIT_PASS
                }
                _ => EXIT_ERROR,
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return EXIT_ERROR;
        }
    };
    match cli.command {
        Command::Run(args) => runtime.block_on(run(args)),
        Command::Selftest(args) => runtime.block_on(selftest(args)),
        Command::Fuzz(args) => runtime.block_on(fuzz(args)),
        Command::Merge(args) => merge_reports(&args),
        Command::Replay(args) => runtime.block_on(replay(args)),
        Command::Proxy(args) => runtime.block_on(proxy(args)),
        Command::Bench(args) => runtime.block_on(bench(args)),
        Command::Mock(MockCommand::Crm { token }) => runtime.block_on(mock_crm(token)),
        Command::Contracts(ContractsCommand::List) => match Contracts::builtin() {
            Ok(c) => {
                let mut files: Vec<&str> = c.files().collect();
                files.sort();
                for f in files {
                    out!("{f}");
                }
                EXIT_PASS
            }
            Err(e) => {
                eprintln!("error: {e}");
                EXIT_ERROR
            }
        },
        Command::Contracts(ContractsCommand::Validate {
            contract,
            contracts,
            files,
        }) => validate_payloads(contract.as_deref(), contracts.as_deref(), &files),
        Command::Contracts(ContractsCommand::Diff {
            old,
            new,
            format,
            allow_breaking,
        }) => contracts_diff(&old, &new, &format, allow_breaking),
        Command::Contracts(ContractsCommand::Import { spec, out, profile }) => {
            contracts_import(&spec, &out, &profile)
        }
        Command::Scenarios => {
            for s in scenario::builtin_suite() {
                out!("{:<14} {}", s.name, s.description);
            }
            out!(
                "\nupgrade rehearsals (not in the default suite; `--scenario {}` runs them all):",
                scenario::UPGRADE_GROUP
            );
            for s in scenario::upgrade_suite() {
                out!("{:<14} {}", s.name, s.description);
            }
            EXIT_PASS
        }
        Command::Sut(SutCommand::Flaws) => {
            for f in Flaw::all() {
                out!("{:<22} {}", f.to_string(), f.description());
            }
            EXIT_PASS
        }
        Command::Sut(SutCommand::Reference { flaw }) => {
            let flaw = match flaw.map(|f| f.parse::<Flaw>()).transpose() {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("error: invalid value for --flaw: {e}");
                    return EXIT_ERROR;
                }
            };
            runtime.block_on(async {
                let config = match reference::ReferenceConfig::from_env(flaw) {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("error: {e}");
                        return EXIT_ERROR;
                    }
                };
                match reference::serve(config).await {
                    Ok(()) => EXIT_PASS,
                    Err(e) => {
                        eprintln!("error: {e}");
                        EXIT_ERROR
                    }
                }
            })
        }
    }
}

fn usage_error(flag: &str, message: impl std::fmt::Display) -> i32 {
    eprintln!("error: invalid value for {flag}: {message}");
    EXIT_ERROR
}

/// Quotes `s` for `sh -c` when needed.
fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn default_sut() -> String {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "hookproof".to_string());
    format!("{} sut reference", shell_quote(&exe))
}

/// A resolved `SutArgs`: the run configuration plus what the report needs.
struct ResolvedSut {
    config: RunConfig,
    /// The SUT command the user gave (None: the bundled reference receiver).
    user_sut: Option<String>,
    /// The command actually run.
    sut_command: String,
    /// Keeps the per-run state directories alive.
    _work_dir: tempfile::TempDir,
}

impl ResolvedSut {
    /// The `--sut …` part of a command line that reruns this SUT (empty for
    /// the bundled reference receiver).
    fn sut_flag(&self) -> String {
        if self.user_sut.is_some() {
            let idle = self
                .config
                .sut
                .idle_path
                .as_ref()
                .map(|p| format!(" --idle-path {}", shell_quote(p)))
                .unwrap_or_default();
            format!(" --sut {}{idle}", shell_quote(&self.sut_command))
        } else {
            String::new()
        }
    }
}

/// Resolves flags, `hookproof.toml` and defaults into a run configuration;
/// on error, reports it and returns the exit code.
fn resolve_sut(args: &SutArgs, work_root: Option<&std::path::Path>) -> Result<ResolvedSut, i32> {
    let config_path = args
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from("hookproof.toml"));
    let project = match crate::project::load(&config_path, args.config.is_some()) {
        Ok(p) => p.unwrap_or_default(),
        Err(e) => {
            eprintln!("error: {e}");
            return Err(EXIT_ERROR);
        }
    };
    let from_file = |flag: &str| format!("{flag} (from {})", config_path.display());
    let (scheme_text, scheme_flag) = match (&args.scheme, &project.sut.scheme) {
        (Some(s), _) => (s.clone(), "--scheme".to_string()),
        (None, Some(s)) => (s.clone(), from_file("sut.scheme")),
        (None, None) => ("zendesk".to_string(), "--scheme".to_string()),
    };
    let scheme: Scheme = scheme_text
        .parse()
        .map_err(|e| usage_error(&scheme_flag, e))?;
    let startup_timeout = match (&args.sut_startup_timeout, project.sut.startup_timeout) {
        (Some(text), _) => {
            scenario::duration::parse(text).map_err(|e| usage_error("--sut-startup-timeout", e))?
        }
        (None, Some(d)) => d,
        (None, None) => Duration::from_secs(15),
    };
    let preset = match (&args.delivery_preset, project.sut.delivery_preset) {
        (Some(text), _) => Some(
            serde_json::from_value::<crate::producer::Preset>(serde_json::Value::String(
                text.clone(),
            ))
            .map_err(|_| {
                usage_error(
                    "--delivery-preset",
                    format!("{text:?} is not one of zendesk, hubspot, svix, stripe, github"),
                )
            })?,
        ),
        (None, p) => p,
    };
    let webhook_path = args
        .webhook_path
        .clone()
        .or(project.sut.webhook_path.clone())
        .unwrap_or_else(|| "/webhooks/helpdesk".into());
    let health_path = args
        .health_path
        .clone()
        .or(project.sut.health_path.clone())
        .unwrap_or_else(|| "/healthz".into());
    let user_sut = args.sut.clone().or(project.sut.command.clone());
    // The bundled reference receiver declares its idle probe; a user's SUT
    // declares one with --idle-path or in hookproof.toml, or none.
    let idle_path = args
        .idle_path
        .clone()
        .or(project.sut.idle_path.clone())
        .or_else(|| {
            user_sut
                .is_none()
                .then(|| crate::reference::IDLE_PATH.to_string())
        });
    for (flag, path) in [
        ("--webhook-path", Some(&webhook_path)),
        ("--health-path", Some(&health_path)),
        ("--idle-path", idle_path.as_ref()),
    ] {
        if let Some(path) = path
            && !path.starts_with('/')
        {
            return Err(usage_error(flag, format!("{path:?} must start with `/`")));
        }
    }
    let contract_source = match &args.contracts {
        Some(dir) => ContractSource::Dir(dir.clone()),
        None => ContractSource::Builtin,
    };
    let contracts = match contract_source.load(Versions::default()) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("error: {e}");
            return Err(EXIT_ERROR);
        }
    };
    let mut versions = VersionOverride::default();
    for (flag, value, side) in [
        (
            "--helpdesk-version",
            &args.helpdesk_version,
            &mut versions.helpdesk,
        ),
        ("--crm-version", &args.crm_version, &mut versions.crm),
    ] {
        if let Some(value) = value {
            match ApiVersion::from_name(value) {
                Some(v) => *side = Some(v),
                None => {
                    return Err(usage_error(
                        flag,
                        format!("{value:?} is not a version; use `current` or `next`"),
                    ));
                }
            }
        }
    }
    // A missing next/ set is a usage error now, not a failure mid-suite.
    if let Err(e) = contract_source.load(versions.apply(Versions::default())) {
        eprintln!("error: {e}");
        return Err(EXIT_ERROR);
    }
    let sut_command = user_sut.clone().unwrap_or_else(default_sut);
    // The bundled reference receiver declares the canonical mapping; a user's
    // SUT declares one in hookproof.toml, or none.
    let mapping = match &user_sut {
        None => Some(crate::check::Mapping::canonical()),
        Some(_) => project.declared_mapping(),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix("hookproof-");
    let work_dir = match work_root {
        Some(root) => builder.tempdir_in(root),
        None => builder.tempdir(),
    }
    .map_err(|e| {
        eprintln!("error: cannot create a temporary directory: {e}");
        EXIT_ERROR
    })?;
    let config = RunConfig {
        sut: SutSpec {
            command: sut_command.clone(),
            in_process: None,
            webhook_path,
            health_path,
            startup_timeout,
            idle_path,
        },
        scheme,
        contracts,
        work_dir: work_dir.path().to_path_buf(),
        seed_override: None,
        mapping,
        preset,
        contract_source,
        versions,
    };
    Ok(ResolvedSut {
        config,
        user_sut,
        sut_command,
        _work_dir: work_dir,
    })
}

async fn run(args: RunArgs) -> i32 {
    let scenarios = match load_scenarios(&args.scenarios) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let scenarios = match args.partition.as_deref().map(str::parse::<Partition>) {
        None => scenarios,
        Some(Err(e)) => return usage_error("--partition", e),
        Some(Ok(p)) => {
            let share = p.select(&scenarios);
            if !args.quiet {
                eprintln!(
                    "partition {p}: {} of {} scenario(s)",
                    share.len(),
                    scenarios.len()
                );
            }
            share
        }
    };
    let baseline = match &args.baseline {
        None => None,
        Some(path) => match crate::report::merge::read_report(path) {
            Ok(r) => Some(r),
            Err(e) => return usage_error("--baseline", e),
        },
    };
    if args.max_p99_regression.is_nan() || args.max_p99_regression < 0.0 {
        return usage_error("--max-p99-regression", "must be a percentage, 0 or more");
    }
    if let Err(e) = check_report_dir(&args.report_dir) {
        return usage_error("--report-dir", e);
    }
    let resolved = match resolve_sut(&args.sut, None) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let mut config = resolved.config.clone();
    config.seed_override = args.seed;
    let scheme = config.scheme;
    let started_at = chrono::Utc::now();
    let started = Instant::now();
    let progress = Progress::new(args.quiet);
    let on_event = |e: RunEvent| progress.event(&e);
    let on_finished =
        |s: &Scenario, o: &ScenarioOutcome| progress.finished(o, s.checks.allow_unknown);
    let outcomes: Vec<ScenarioOutcome> = tokio::select! {
        r = run_suite(&config, &scenarios, args.jobs, &on_event, &on_finished) => match r {
            Ok(outcomes) => outcomes,
            Err(e) => {
                progress.clear();
                eprintln!("error: {e}");
                return EXIT_ERROR;
            }
        },
        _ = tokio::signal::ctrl_c() => {
            progress.clear();
            eprintln!("interrupted: stopped the SUT and the mocks; no report written");
            return EXIT_ERROR;
        }
    };
    let allow_unknown = |name: &str| {
        scenarios
            .iter()
            .find(|s| s.name == name)
            .is_some_and(|s| s.checks.allow_unknown)
    };
    let replay = |o: &ScenarioOutcome| {
        let source = o.source.strip_prefix("builtin:").unwrap_or(&o.source);
        format!(
            "hookproof run{} --scenario {} --seed {}",
            resolved.sut_flag(),
            shell_quote(source),
            o.seed
        )
    };
    let report = RunReport::new(
        &outcomes,
        &resolved.sut_command,
        &scheme.to_string(),
        started_at,
        started.elapsed(),
        &allow_unknown,
        &replay,
    );
    out!("{}", summary_table(&report));
    match write_report_dir(&args.report_dir, &report, &outcomes) {
        Ok(_) => out!(
            "report: {} (report.json, junit.xml, summary.md, report.html, delivery-log/, sut-logs/)",
            args.report_dir.display()
        ),
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
    }
    let gate = baseline.map(|b| {
        let comparison = crate::report::baseline::compare(&b, &report, args.max_p99_regression);
        out!("{}", comparison.table().trim_end());
        comparison.passed()
    });
    if report.passed && gate != Some(false) {
        EXIT_PASS
    } else {
        EXIT_FAIL
    }
}

/// Parses `200/s` or `200` (deliveries per second).
fn parse_rate(text: &str) -> Result<f64, String> {
    let number = text.trim().trim_end_matches("/s").trim();
    number
        .parse::<f64>()
        .ok()
        .filter(|r| r.is_finite() && *r > 0.0)
        .ok_or_else(|| format!("{text:?} is not a rate; write it as \"200/s\""))
}

/// Parses `1%` (a percentage) or `0.01` (a fraction) into a fraction.
fn parse_share(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (number, scale) = match t.strip_suffix('%') {
        Some(n) => (n.trim(), 100.0),
        None => (t, 1.0),
    };
    number
        .parse::<f64>()
        .ok()
        .map(|n| n / scale)
        .filter(|f| (0.0..=1.0).contains(f))
        .ok_or_else(|| format!("{text:?} is not a share; write it as \"1%\" (0% to 100%)"))
}

/// Whether a SUT command runs hookproof's bundled reference receiver
/// (`…/hookproof sut reference [--flaw NAME]`).
fn runs_bundled_reference(command: &str) -> bool {
    let words: Vec<&str> = command.split_whitespace().collect();
    words.windows(3).any(|w| {
        let program = w[0].trim_matches(['\'', '"']);
        std::path::Path::new(program)
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("hookproof"))
            && w[1] == "sut"
            && w[2] == "reference"
    })
}

/// The command line as typed, for reports (`hookproof` and quoted args).
fn command_line() -> String {
    std::iter::once("hookproof".to_string())
        .chain(std::env::args().skip(1).map(|a| shell_quote(&a)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `hookproof bench`.
async fn bench(args: BenchArgs) -> i32 {
    use crate::bench::{self, BenchConfig, FaultProfile, report};
    let duration =
        |flag: &str, text: &str| scenario::duration::parse(text).map_err(|e| usage_error(flag, e));
    let rate = |flag: &str, text: &str| parse_rate(text).map_err(|e| usage_error(flag, e));
    let share = |flag: &str, text: &str| parse_share(text).map_err(|e| usage_error(flag, e));
    let parsed = (|| {
        let fault_profile: FaultProfile = args
            .fault_profile
            .parse()
            .map_err(|e| usage_error("--fault-profile", e))?;
        let rate_value = rate("--rate", &args.rate)?;
        Ok::<_, i32>(BenchConfig {
            rate: rate_value,
            duration: duration("--duration", &args.duration)?,
            saturate: if args.saturate {
                Some(bench::saturate::Stepping {
                    start: rate_value,
                    factor: args.step_factor,
                    max_steps: args.max_steps,
                    max_rate: rate("--max-rate", &args.max_rate)?,
                })
            } else {
                None
            },
            slo: bench::saturate::Slo {
                ack_p99: duration("--slo-p99", &args.slo_p99)?,
                max_error_rate: share("--max-error-rate", &args.max_error_rate)?,
                e2e_p99: match &args.slo_e2e_p99 {
                    Some(text) => Some(duration("--slo-e2e-p99", text)?),
                    None => None,
                },
            },
            fault_profile,
            seed: args.seed,
            duplicates: share("--duplicates", &args.duplicates)?,
            max_in_flight: args.max_in_flight,
            settle_deadline: duration("--settle-deadline", &args.settle_deadline)?,
        })
    })();
    let config = match parsed {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Err(e) = config.validate() {
        eprintln!("error: {e}");
        return EXIT_ERROR;
    }
    if let Err(e) = check_report_dir(&args.report_dir) {
        return usage_error("--report-dir", e);
    }
    let mut resolved = match resolve_sut(&args.sut, None) {
        Ok(r) => r,
        Err(code) => return code,
    };
    // `--sut "hookproof sut reference …"` is the bundled receiver: it
    // implements the canonical mapping, which the loss and duplicate rates need.
    if resolved.config.mapping.is_none() && runs_bundled_reference(&resolved.sut_command) {
        resolved.config.mapping = Some(crate::check::Mapping::canonical());
    }
    let started_at = chrono::Utc::now();
    let started = Instant::now();
    if !args.quiet {
        match &config.saturate {
            None => eprintln!(
                "bench: {}/s for {} against {} …",
                config.rate,
                humantime::format_duration(config.duration),
                resolved.sut_command
            ),
            Some(_) => eprintln!(
                "bench: saturation search from {}/s (×{} per step, {} each) against {} …",
                config.rate,
                args.step_factor,
                humantime::format_duration(config.duration),
                resolved.sut_command
            ),
        }
    }
    let quiet = args.quiet;
    let mut on_step = |step: &bench::saturate::Step| {
        if !quiet {
            let p99 = step
                .kpis
                .ack
                .as_ref()
                .map(|a| format!("{:.1} ms", a.p99_ms))
                .unwrap_or_else(|| "—".into());
            eprintln!(
                "  {}/s: ack p99 {p99}, errors {:.2}%, {:.1} acked/s: {}",
                step.rate,
                step.kpis.error_rate * 100.0,
                step.kpis.throughput,
                step.reason.as_deref().unwrap_or("ok")
            );
        }
    };
    let outcome = tokio::select! {
        r = bench::run_bench(&resolved.config, &config, &mut on_step) => match r {
            Ok(o) => o,
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_ERROR;
            }
        },
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted: stopped the SUT and the mocks; no report written");
            return EXIT_ERROR;
        }
    };
    let report = report::BenchReport {
        schema_version: report::BENCH_SCHEMA_VERSION,
        command: command_line(),
        sut: resolved.sut_command.clone(),
        started_at,
        wall_ms: started.elapsed().as_millis() as u64,
        config,
        outcome,
    };
    out!("{}", report::kpi_table(&report).trim_end());
    match report::write(&args.report_dir, &report) {
        Ok(_) => out!(
            "report: {} (bench.json, bench.md, bench.html)",
            args.report_dir.display()
        ),
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
    }
    EXIT_PASS
}

/// `hookproof replay`.
async fn replay(args: ReplayArgs) -> i32 {
    use crate::history::DeliveryLog;
    use crate::producer::{DeliveryPolicy, Preset, Producer, Progress, Target};
    use crate::replay::{Selection, StatusFilter, read_events, units};
    let duration = |flag: &str, v: &Option<String>| match v {
        None => Ok(None),
        Some(text) => scenario::duration::parse(text)
            .map(Some)
            .map_err(|e| usage_error(flag, e)),
    };
    let (since, until) = match (
        duration("--since", &args.since),
        duration("--until", &args.until),
    ) {
        (Ok(s), Ok(u)) => (s, u),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    let status: StatusFilter = match args.status.parse() {
        Ok(s) => s,
        Err(e) => return usage_error("--status", e),
    };
    let scheme: Scheme = match args.scheme.parse() {
        Ok(s) => s,
        Err(e) => return usage_error("--scheme", e),
    };
    // A --target and its secret are checked before any file is read.
    let checked_target = match &args.target {
        None => None,
        Some(target_url) => {
            let url = match reqwest::Url::parse(target_url) {
                Ok(u) if u.scheme() == "http" => u,
                Ok(_) | Err(_) => {
                    return usage_error(
                        "--target",
                        format!(
                            "{:?} is not an http:// URL such as http://127.0.0.1:4000/webhooks/helpdesk",
                            target_url
                        ),
                    );
                }
            };
            if !crate::proxy::is_loopback(&url) {
                return usage_error(
                    "--target",
                    format!(
                        "{} is not on this machine; hookproof only sends to 127.0.0.1 or ::1",
                        target_url
                    ),
                );
            }
            let Some(secret_env) = &args.secret_env else {
                return usage_error(
                    "--secret-env",
                    "--target needs the receiver's signing secret: --secret-env VAR names the \
                 environment variable that holds it",
                );
            };
            let secret = match std::env::var(secret_env) {
                Ok(s) if !s.is_empty() => s,
                _ => {
                    return usage_error(
                        "--secret-env",
                        format!("environment variable {secret_env} is not set"),
                    );
                }
            };
            Some((target_url.clone(), secret))
        }
    };
    let policy = match &args.delivery_preset {
        None => DeliveryPolicy::default(),
        Some(text) => {
            match serde_json::from_value::<Preset>(serde_json::Value::String(text.clone())) {
                Ok(p) => p.policy(),
                Err(_) => {
                    return usage_error(
                        "--delivery-preset",
                        format!("{text:?} is not one of zendesk, hubspot, svix, stripe, github"),
                    );
                }
            }
        }
    };
    let records = match read_events(&args.log) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
    };
    let selection = Selection {
        since,
        until,
        types: args.types.clone(),
        status,
    };
    let picked: Vec<_> = records.iter().filter(|r| selection.picks(r)).collect();
    let to = match (&args.target, &args.sut) {
        (Some(target), _) => target.clone(),
        (None, Some(sut)) => format!("a fresh `{sut}`"),
        (None, None) => {
            return usage_error(
                "--target",
                "give --target URL (a running receiver) or --sut CMD (hookproof starts it \
                 against fresh mocks)",
            );
        }
    };
    out!(
        "replay: {} of {} event(s) in {} selected, to {to}",
        picked.len(),
        records.len(),
        args.log.display(),
    );
    if picked.is_empty() {
        return EXIT_PASS;
    }
    let Some((target_url, secret)) = checked_target else {
        return replay_into_sut(&args, scheme, &picked).await;
    };
    let target = Target {
        url: target_url.clone(),
        scheme,
        secret,
        wrong_secret: String::new(),
    };
    let log = Arc::new(std::sync::Mutex::new(DeliveryLog::default()));
    let producer = Producer::new(target, policy);
    let work = producer.deliver(
        units(picked.iter().copied()),
        Instant::now(),
        log.clone(),
        Arc::new(Progress::default()),
    );
    tokio::select! {
        () = work => {}
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted: some events may not have been re-delivered");
            return EXIT_ERROR;
        }
    }
    let log = log.lock().unwrap_or_else(|p| p.into_inner());
    let landed = print_deliveries(&log);
    out!("{landed} of {} landed", log.deliveries.len());
    if landed == log.deliveries.len() {
        EXIT_PASS
    } else {
        EXIT_FAIL
    }
}

/// Prints each delivery of a replay with its final status; returns how many
/// were acked.
fn print_deliveries(log: &crate::history::DeliveryLog) -> usize {
    use crate::history::DeliveryStatus;
    let mut landed = 0;
    for d in &log.deliveries {
        let status = match d.status {
            DeliveryStatus::Acked => {
                landed += 1;
                "acked"
            }
            DeliveryStatus::Rejected => "REJECTED",
            DeliveryStatus::DeadLettered => "DEAD-LETTERED",
            DeliveryStatus::Open => "unfinished",
        };
        out!(
            "  {:<13} {} {} ({} attempt(s))",
            status,
            d.event_id,
            d.event_type,
            d.attempts
        );
    }
    landed
}

/// `hookproof replay --sut`: the selected events into a fresh SUT with its
/// own mock CRM and helpdesk; prints each delivery and the CRM state.
async fn replay_into_sut(
    args: &ReplayArgs,
    scheme: Scheme,
    picked: &[&crate::replay::EventRecord],
) -> i32 {
    let sut_args = SutArgs {
        sut: args.sut.clone(),
        config: None,
        scheme: Some(scheme.to_string()),
        webhook_path: args.webhook_path.clone(),
        health_path: args.health_path.clone(),
        idle_path: args.idle_path.clone(),
        sut_startup_timeout: None,
        delivery_preset: args.delivery_preset.clone(),
        contracts: None,
        helpdesk_version: None,
        crm_version: None,
    };
    let resolved = match resolve_sut(&sut_args, None) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let helpdesk = crate::replay::helpdesk_data(picked.iter().copied());
    let units = crate::replay::units(picked.iter().copied());
    let replayed = tokio::select! {
        r = crate::runner::replay_into_sut(&resolved.config, &helpdesk, units) => r,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted: some events may not have been re-delivered");
            return EXIT_ERROR;
        }
    };
    let replayed = match replayed {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
    };
    let landed = print_deliveries(&replayed.log);
    let objects: Vec<String> = replayed
        .snapshot
        .objects
        .iter()
        .map(|(t, o)| format!("{} {t}", o.len()))
        .collect();
    let violations: usize = replayed
        .crm_requests
        .iter()
        .map(|r| r.violations.len())
        .sum();
    out!(
        "CRM after the replay: {}; {} association(s); {} request(s), {violations} contract \
         violation(s){}",
        if objects.is_empty() {
            "no objects".to_string()
        } else {
            objects.join(", ")
        },
        replayed.snapshot.associations.len(),
        replayed.crm_requests.len(),
        if replayed.settled {
            ""
        } else {
            " (the SUT had not finished when the settle deadline passed)"
        }
    );
    out!("{landed} of {} landed", replayed.log.deliveries.len());
    if landed == replayed.log.deliveries.len() && violations == 0 && replayed.settled {
        EXIT_PASS
    } else {
        EXIT_FAIL
    }
}

/// `hookproof merge`.
fn merge_reports(args: &MergeArgs) -> i32 {
    use crate::report::merge::{merge, read_delivery_logs, read_report};
    let mut reports = Vec::new();
    for path in &args.reports {
        match read_report(path) {
            Ok(r) => reports.push((path.clone(), r)),
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_ERROR;
            }
        }
    }
    let merged = match merge(&reports) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
    };
    if let Err(e) = check_report_dir(&args.out) {
        return usage_error("--out", e);
    }
    let logs = match read_delivery_logs(&reports) {
        Ok(logs) => logs,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
    };
    out!("{}", summary_table(&merged));
    match crate::report::write_merged_report_dir(&args.out, &merged, &logs) {
        Ok(_) => out!(
            "merged {} report(s): {} (report.json, junit.xml, summary.md, report.html)",
            reports.len(),
            args.out.display()
        ),
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
    }
    if merged.passed { EXIT_PASS } else { EXIT_FAIL }
}

async fn fuzz(args: FuzzArgs) -> i32 {
    use crate::fuzz::{FuzzConfig, FuzzEvent, FuzzSpace};
    let properties = if args.properties.is_empty() {
        crate::fuzz::default_properties()
    } else {
        let mut names = Vec::new();
        for p in &args.properties {
            match CheckName::ALL.iter().find(|c| c.as_str() == p.trim()) {
                Some(c) => names.push(*c),
                None => {
                    let known: Vec<&str> = CheckName::ALL.iter().map(|c| c.as_str()).collect();
                    return usage_error(
                        "--properties",
                        format!("{p:?} is not a check; use some of: {}", known.join(", ")),
                    );
                }
            }
        }
        names
    };
    let partition = match args
        .partition
        .as_deref()
        .map(str::parse::<Partition>)
        .transpose()
    {
        Ok(p) => p,
        Err(e) => return usage_error("--partition", e),
    };
    if let Some(dir) = &args.report_dir
        && let Err(e) = check_report_dir(dir)
    {
        return usage_error("--report-dir", e);
    }
    let time = match args
        .time
        .as_deref()
        .map(scenario::duration::parse)
        .transpose()
    {
        Ok(t) => t,
        Err(e) => return usage_error("--time", e),
    };
    let shrink_time = match scenario::duration::parse(&args.shrink_time) {
        Ok(t) => t,
        Err(e) => return usage_error("--shrink-time", e),
    };
    for (flag, value) in [
        ("--cases", args.cases),
        ("--jobs", args.jobs),
        ("--max-tickets", args.max_tickets),
    ] {
        if value == 0 {
            return usage_error(flag, "must be at least 1");
        }
    }
    // SUT state directories in memory when the machine has /dev/shm: a
    // SIGKILL does not lose the page cache, so crash faults mean the same,
    // and fsyncs stop dominating a case (see BENCHMARKS.md).
    let shm = std::path::Path::new("/dev/shm");
    let work_root = args
        .work_dir
        .clone()
        .or_else(|| shm.is_dir().then(|| shm.to_path_buf()));
    if let Some(dir) = &args.work_dir
        && !dir.is_dir()
    {
        return usage_error(
            "--work-dir",
            format!("{} is not a directory; create it first", dir.display()),
        );
    }
    let resolved = match resolve_sut(&args.sut, work_root.as_deref()) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    let config = FuzzConfig {
        run: resolved.config.clone(),
        space: FuzzSpace {
            max_tickets: args.max_tickets,
            max_changes: 2,
            max_faults: args.max_faults,
            crashes: !args.no_crashes,
            hangs: args.hangs,
            properties,
            versions: resolved.config.versions.apply(Versions::default()),
        },
        cases: args.cases,
        time,
        seed,
        jobs: args.jobs,
        max_shrink_steps: args.max_shrink_steps,
        shrink_time,
        regressions: (!args.no_regressions).then(|| args.regressions.clone()),
        sut_flags: resolved.sut_flag(),
        partition: partition.map(|p| (p.index - 1, p.count)),
    };
    if !args.quiet {
        eprintln!(
            "fuzz: seed {seed}, up to {} case(s){}, {} at a time, properties: {}",
            args.cases,
            time.map(|t| format!(" or {}", humantime::format_duration(t)))
                .unwrap_or_default(),
            args.jobs,
            config
                .space
                .properties
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(",")
        );
    }
    let tty = std::io::stderr().is_terminal();
    let quiet = args.quiet;
    let on_event = move |e: FuzzEvent| {
        if quiet {
            return;
        }
        let mut err = std::io::stderr().lock();
        match e {
            FuzzEvent::Regression { path, fails } => {
                let _ = writeln!(
                    err,
                    "regression {}: {}",
                    path.display(),
                    if fails { "FAILS" } else { "passes" }
                );
            }
            FuzzEvent::Case { cases, elapsed } => {
                let line = format!(
                    "{cases} case(s), {:.1} cases/s",
                    cases as f64 / elapsed.as_secs_f64().max(1e-9)
                );
                if tty {
                    let _ = write!(err, "\r\x1b[2K{line}");
                } else if cases % 50 == 0 {
                    let _ = writeln!(err, "{line}");
                }
            }
            FuzzEvent::Failed { scenario, checks } => {
                let _ = writeln!(
                    err,
                    "{}case {} failed ({}); shrinking…",
                    if tty { "\r\x1b[2K" } else { "" },
                    scenario.name,
                    checks.join(", ")
                );
            }
            FuzzEvent::Shrink {
                step,
                events,
                faults,
                kept,
            } => {
                let line = format!(
                    "shrink step {step}: smallest failing case {events} event(s), {faults} \
                     fault(s){}",
                    if kept { " (new smallest)" } else { "" }
                );
                if tty {
                    let _ = write!(err, "\r\x1b[2K{line}");
                } else {
                    let _ = writeln!(err, "{line}");
                }
            }
        }
        let _ = err.flush();
    };
    let report = tokio::select! {
        r = crate::fuzz::fuzz(&config, &on_event) => r,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("\ninterrupted: stopped the SUT and the mocks (seed {seed})");
            return EXIT_ERROR;
        }
    };
    if tty && !quiet {
        eprint!("\r\x1b[2K");
    }
    match report {
        Ok(report) => {
            out!("{}", crate::fuzz::summary::summary(&report));
            if let Some(dir) = &args.report_dir {
                let page = crate::fuzz::summary::html(&report);
                match crate::report::write_html_report(dir, &page) {
                    Ok(path) => out!("report: {}", path.display()),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return EXIT_ERROR;
                    }
                }
            }
            if report.failures.is_empty() {
                EXIT_PASS
            } else {
                EXIT_FAIL
            }
        }
        Err(e) => {
            eprintln!("error: {e} (seed {seed})");
            EXIT_ERROR
        }
    }
}

/// `hookproof contracts diff`.
fn contracts_diff(old: &std::path::Path, new: &std::path::Path, format: &str, allow: bool) -> i32 {
    use crate::contract::diff::{Class, diff_paths, table};
    if format != "table" && format != "json" {
        return usage_error("--format", format!("{format:?} is not `table` or `json`"));
    }
    let changes = match diff_paths(old, new) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
    };
    let breaking = changes
        .iter()
        .filter(|c| c.class == Class::Breaking)
        .count();
    if format == "json" {
        let count = |class| changes.iter().filter(|c| c.class == class).count();
        let doc = serde_json::json!({
            "old": old.display().to_string(),
            "new": new.display().to_string(),
            "breaking": breaking,
            "risky": count(Class::Risky),
            "safe": count(Class::Safe),
            "changes": changes,
        });
        out!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        out!("{}", table(&changes).trim_end());
    }
    if breaking > 0 && !allow {
        eprintln!(
            "{breaking} breaking change(s): consumers of {} break on {} (--allow-breaking to accept)",
            old.display(),
            new.display()
        );
        EXIT_FAIL
    } else {
        EXIT_PASS
    }
}

/// `hookproof contracts import`.
fn contracts_import(spec: &std::path::Path, out: &std::path::Path, profile: &str) -> i32 {
    use crate::contract::import;
    let profile = match profile.parse::<import::Profile>() {
        Ok(p) => p,
        Err(e) => return usage_error("--profile", e),
    };
    let written = import::read(spec, profile).and_then(|i| Ok((i.write(out)?, i)));
    let (paths, imported) = match written {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
    };
    let mut notes = 0;
    for (path, contract) in paths.iter().zip(&imported.contracts) {
        out!("wrote {}  <- #{}", path.display(), contract.source);
        for note in &contract.notes {
            out!("  note: {note}");
        }
        notes += contract.notes.len();
    }
    for skipped in &imported.skipped {
        out!("skipped #{}: {}", skipped.source, skipped.reason);
    }
    out!(
        "imported {} contract(s) from {} ({}) into {}; {notes} note(s), {} skipped",
        paths.len(),
        spec.display(),
        imported.kind,
        out.join(profile.name()).display(),
        imported.skipped.len()
    );
    EXIT_PASS
}

/// `hookproof contracts validate`.
fn validate_payloads(
    contract: Option<&str>,
    dir: Option<&std::path::Path>,
    files: &[PathBuf],
) -> i32 {
    let contracts = match dir
        .map(Contracts::load_dir)
        .unwrap_or_else(Contracts::builtin)
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
    };
    let (mut payloads, mut violations) = (0usize, 0usize);
    for file in files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", file.display());
                return EXIT_ERROR;
            }
        };
        let jsonl = file.extension().is_some_and(|x| x == "jsonl");
        let items: Vec<(String, &str)> = if jsonl {
            text.lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
                .map(|(i, l)| (format!("{}:{}", file.display(), i + 1), l))
                .collect()
        } else {
            vec![(file.display().to_string(), text.as_str())]
        };
        for (place, item) in items {
            let value: serde_json::Value = match serde_json::from_str(item) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("error: {place}: not JSON: {e}");
                    return EXIT_ERROR;
                }
            };
            payloads += 1;
            let found = match contract {
                // A line of a `hookproof proxy` recording.
                _ if value["hookproof"] == "proxy-exchange" => {
                    match serde_json::from_value::<crate::proxy::Exchange>(value) {
                        Ok(x) => crate::proxy::revalidate(&contracts, &x),
                        Err(e) => {
                            eprintln!("error: {place}: not a proxy exchange: {e}");
                            return EXIT_ERROR;
                        }
                    }
                }
                Some(name) => match contracts.validate_with(name, &value) {
                    Ok(v) => v,
                    Err(_) => {
                        eprintln!(
                            "error: invalid value for --contract: no contract {name:?}; see `hookproof contracts list`"
                        );
                        return EXIT_ERROR;
                    }
                },
                None if value["type"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("zen:event-type:")) =>
                {
                    contracts.validate_event(&value)
                }
                None => {
                    eprintln!(
                        "error: {place}: cannot tell which contract applies (not a Zendesk event); pass --contract, e.g. --contract hubspot/tickets.create.json"
                    );
                    return EXIT_ERROR;
                }
            };
            for v in &found {
                out!("{place}: {} {}: {}", v.contract, v.pointer, v.message);
            }
            violations += found.len();
        }
    }
    out!("{payloads} payload(s), {violations} violation(s)");
    if violations == 0 {
        EXIT_PASS
    } else {
        EXIT_FAIL
    }
}

async fn mock_crm(token: String) -> i32 {
    if token.trim().is_empty() {
        return usage_error("--token", "the token must not be empty");
    }
    let contracts = match Contracts::builtin() {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
    };
    let crm = match crate::crm::MockCrm::start(crate::crm::CrmConfig::new(token, contracts)).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: cannot start the mock CRM on 127.0.0.1: {e}");
            return EXIT_ERROR;
        }
    };
    if let Err(code) = announce_until_stopped("HOOKPROOF_CRM_URL", &crm.url()).await {
        return code;
    }
    let requests = crm.requests();
    let violations: usize = requests.iter().map(|r| r.violations.len()).sum();
    eprintln!(
        "mock CRM served {} requests ({violations} contract violations)",
        requests.len()
    );
    crm.shutdown().await;
    EXIT_PASS
}

/// Listens for SIGTERM and SIGINT (Ctrl-C) from the moment it returns; the
/// future resolves on the first. Servers call it before printing their URL,
/// so a signal sent as soon as the URL is read stops them cleanly instead
/// of killing them.
/// Prints `VAR=url` once SIGTERM and SIGINT are handled (so whoever starts
/// a server and stops it as soon as it has read the URL stops it cleanly),
/// then waits for one of them.
async fn announce_until_stopped(var: &str, url: &str) -> Result<(), i32> {
    let stopped = stop_signals()?;
    out!("{var}={url}");
    let _ = std::io::stdout().flush();
    stopped.await;
    Ok(())
}

fn stop_signals() -> Result<impl std::future::Future<Output = ()>, i32> {
    use tokio::signal::unix::{SignalKind, signal};
    let listen = |kind: SignalKind| {
        signal(kind).map_err(|e| {
            eprintln!("error: cannot listen for SIGTERM and SIGINT: {e}");
            EXIT_ERROR
        })
    };
    let mut term = listen(SignalKind::terminate())?;
    let mut interrupt = listen(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

/// `hookproof proxy`.
async fn proxy(args: ProxyArgs) -> i32 {
    use crate::proxy::{Proxy, ProxyConfig, Side};
    let side: Side = match args.side.parse() {
        Ok(s) => s,
        Err(e) => return usage_error("--side", e),
    };
    let upstream = match reqwest::Url::parse(&args.upstream) {
        Ok(u) if u.scheme() == "http" => u,
        _ => {
            return usage_error(
                "--upstream",
                format!(
                    "{:?} is not an http:// URL such as http://127.0.0.1:8080",
                    args.upstream
                ),
            );
        }
    };
    let listen: std::net::SocketAddr = match args.listen.parse() {
        Ok(a) => a,
        Err(_) => {
            return usage_error(
                "--listen",
                format!("{:?} is not an address such as 127.0.0.1:4100", args.listen),
            );
        }
    };
    let Some(version) = ApiVersion::from_name(&args.api_version) else {
        return usage_error(
            "--api-version",
            format!(
                "{:?} is not a version; use `current` or `next`",
                args.api_version
            ),
        );
    };
    let timeout = match scenario::duration::parse(&args.upstream_timeout) {
        Ok(t) if !t.is_zero() => t,
        Ok(_) => return usage_error("--upstream-timeout", "must be more than 0"),
        Err(e) => return usage_error("--upstream-timeout", e),
    };
    let source = match &args.contracts {
        Some(dir) => ContractSource::Dir(dir.clone()),
        None => ContractSource::Builtin,
    };
    let versions = match side {
        Side::Crm => Versions {
            crm: version,
            ..Versions::default()
        },
        Side::Helpdesk => Versions {
            helpdesk: version,
            ..Versions::default()
        },
    };
    let contracts = match source.load(versions) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
    };
    let (faults, seed) = match &args.scenario {
        None => (Vec::new(), args.seed.unwrap_or(0)),
        Some(name) => match scenario::resolve(name) {
            Ok(list) => {
                let mut faults = Vec::new();
                let mut seed = None;
                for s in &list {
                    faults.extend(crate::runner::crm_faults(&s.faults));
                    seed.get_or_insert(s.seed);
                }
                if side == Side::Helpdesk && !faults.is_empty() {
                    return usage_error(
                        "--scenario",
                        "CRM faults are injected on the CRM side only (--side crm)",
                    );
                }
                (faults, args.seed.or(seed).unwrap_or(0))
            }
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_ERROR;
            }
        },
    };
    let config = ProxyConfig {
        upstream,
        listen,
        side,
        contracts,
        faults,
        seed,
        record: args.record.clone(),
        upstream_timeout: timeout,
    };
    let proxy = match Proxy::start(config, |x| {
        for v in &x.violations {
            eprintln!(
                "violation: {} {} ({}): {v}",
                x.method, x.path, x.http_status
            );
        }
    })
    .await
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
    };
    if let Err(code) = announce_until_stopped("HOOKPROOF_PROXY_URL", &proxy.url()).await {
        return code;
    }
    let stats = proxy.shutdown().await;
    eprintln!(
        "proxy: {} exchange(s), {} with contract violations, {} with an injected fault, {} \
         the upstream did not answer{}",
        stats.exchanges,
        stats.violating,
        stats.injected,
        stats.upstream_errors,
        args.record
            .as_ref()
            .map(|p| format!("; recording: {}", p.display()))
            .unwrap_or_default()
    );
    if stats.violating > 0 {
        EXIT_FAIL
    } else {
        EXIT_PASS
    }
}

fn load_scenarios(args: &[String]) -> Result<Vec<Scenario>, i32> {
    if args.is_empty() {
        return Ok(scenario::builtin_suite());
    }
    let mut all = Vec::new();
    for arg in args {
        match scenario::resolve(arg) {
            Ok(s) => all.extend(s),
            Err(e) => {
                eprintln!("error: {e}");
                return Err(EXIT_ERROR);
            }
        }
    }
    Ok(all)
}

async fn selftest(args: SelftestArgs) -> i32 {
    let scenarios = match load_scenarios(&args.scenarios) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let flaws: Vec<Flaw> = if args.flaws.is_empty() {
        Flaw::all().to_vec()
    } else {
        match args.flaws.iter().map(|f| f.parse::<Flaw>()).collect() {
            Ok(f) => f,
            Err(e) => return usage_error("--flaw", e),
        }
    };
    let contracts = match Contracts::builtin() {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
    };
    let work_dir = match tempfile::Builder::new().prefix("hookproof-").tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: cannot create a temporary directory: {e}");
            return EXIT_ERROR;
        }
    };
    let exe = std::env::current_exe()
        .map(|p| shell_quote(&p.display().to_string()))
        .unwrap_or_else(|_| "hookproof".into());
    let config = RunConfig {
        sut: SutSpec {
            command: String::new(),
            in_process: None,
            webhook_path: "/webhooks/helpdesk".into(),
            health_path: "/healthz".into(),
            startup_timeout: Duration::from_secs(15),
            idle_path: Some(crate::reference::IDLE_PATH.to_string()),
        },
        scheme: Scheme::Zendesk,
        contracts,
        work_dir: work_dir.path().to_path_buf(),
        seed_override: None,
        mapping: Some(crate::check::Mapping::canonical()),
        preset: None,
        contract_source: ContractSource::Builtin,
        versions: VersionOverride::default(),
    };
    let progress = Progress::new(args.quiet);
    let on_event = |e: RunEvent| progress.event(&e);
    let matrix = tokio::select! {
        r = crate::selftest::selftest(&config, &exe, &scenarios, &flaws, args.full, args.jobs, &on_event) => r,
        _ = tokio::signal::ctrl_c() => {
            progress.clear();
            eprintln!("interrupted: stopped the SUT and the mocks");
            return EXIT_ERROR;
        }
    };
    progress.clear();
    let matrix = match matrix {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
    };
    for row in &matrix.rows {
        let verdict = match (row.sut.as_str(), row.caught()) {
            ("reference", false) => "ok: passes every scenario".to_string(),
            ("reference", true) => "PROBLEM: the reference receiver fails".to_string(),
            (_, true) => "caught".to_string(),
            (_, false) => "PROBLEM: not caught by any scenario".to_string(),
        };
        out!("{:<22} {verdict}", row.sut);
        if !row.rule.is_empty() {
            out!("{:<22}   breaks: {}", "", row.rule);
        }
        for cell in &row.cells {
            let result = if cell.failed.is_empty() {
                "pass".to_string()
            } else {
                let names: Vec<&str> = cell.failed.iter().map(|c| c.as_str()).collect();
                format!("FAIL {}", names.join(", "))
            };
            out!("{:<22}   {:<30} {result}", "", cell.scenario);
        }
    }
    let caught = matrix
        .rows
        .iter()
        .filter(|r| r.sut != "reference" && r.caught())
        .count();
    out!(
        "\n{caught}/{} flaws caught; reference {}",
        matrix.rows.len() - 1,
        if matrix.rows.first().is_some_and(|r| !r.caught()) {
            "clean"
        } else {
            "FAILS"
        }
    );
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&matrix).expect("the matrix serializes");
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return EXIT_ERROR;
        }
    }
    if matrix.passed() {
        EXIT_PASS
    } else {
        EXIT_FAIL
    }
}

/// Live progress on stderr: a rewritten line on a terminal, plain lines otherwise.
struct Progress {
    quiet: bool,
    tty: bool,
    started: Instant,
}

impl Progress {
    fn new(quiet: bool) -> Progress {
        Progress {
            quiet,
            tty: std::io::stderr().is_terminal(),
            started: Instant::now(),
        }
    }

    fn event(&self, e: &RunEvent) {
        if self.quiet {
            return;
        }
        let mut err = std::io::stderr().lock();
        match e {
            RunEvent::ScenarioStarted { name, index, total } => {
                let _ = writeln!(err, "[{}/{}] {name} …", index + 1, total);
            }
            RunEvent::Progress {
                name,
                finished,
                planned,
            } if self.tty => {
                let _ = write!(
                    err,
                    "\r\x1b[2K    {name}: {finished}/{planned} deliveries finished ({:.1}s)",
                    self.started.elapsed().as_secs_f64()
                );
            }
            _ => {}
        }
        let _ = err.flush();
    }

    fn clear(&self) {
        if self.tty && !self.quiet {
            eprint!("\r\x1b[2K");
        }
    }

    fn finished(&self, o: &ScenarioOutcome, allow_unknown: bool) {
        self.clear();
        if self.quiet {
            return;
        }
        eprintln!(
            "    {} {} in {:.1}s ({} deliveries, {} CRM requests)",
            if o.passed(allow_unknown) {
                "pass"
            } else {
                "FAIL"
            },
            o.name,
            Duration::from_millis(o.stats.wall_ms.max(o.clean_stats.wall_ms)).as_secs_f64(),
            o.stats.deliveries,
            o.stats.crm_requests
        );
    }
}

#[cfg(test)]
mod bench_flag_tests {
    use super::*;

    #[test]
    fn rates_and_shares_parse_with_or_without_units() {
        assert_eq!(parse_rate("200/s"), Ok(200.0));
        assert_eq!(parse_rate("12.5"), Ok(12.5));
        assert!(parse_rate("fast").unwrap_err().contains("200/s"));
        assert!(parse_rate("-3/s").is_err());
        assert_eq!(parse_share("1%"), Ok(0.01));
        assert_eq!(parse_share("0.25"), Ok(0.25));
        assert!(parse_share("150%").is_err());
        assert!(parse_share("lots").unwrap_err().contains("1%"));
    }

    #[test]
    fn recognises_the_bundled_reference_receiver() {
        assert!(runs_bundled_reference(
            "/x/target/release/hookproof sut reference"
        ));
        assert!(
            runs_bundled_reference("'/tmp/a b/hookproof' sut reference --flaw no-dedupe")
                || runs_bundled_reference("hookproof sut reference --flaw no-dedupe")
        );
        assert!(!runs_bundled_reference("python3 receiver.py"));
        assert!(!runs_bundled_reference("./my-sut sut reference"));
    }
}
