//! The SUT controller: starts the system under test with the protocol's
//! environment, waits for readiness, captures its output, kills it (SIGKILL,
//! the crash fault) and restarts it with the same state directory.
//!
//! The SUT runs in its own process group, and the whole group is killed on
//! [`SutProcess::kill`] and on drop, so no process is ever left behind — also
//! when the harness fails or the user presses Ctrl-C (the CLI turns Ctrl-C
//! into an orderly unwind that drops every `SutProcess`).

use futures::future::BoxFuture;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A receiver run as a task inside this process instead of as a command
/// (see `hookproof::testing`). It is given the protocol environment and must
/// serve until its future is dropped; a crash fault drops the future (so the
/// receiver should own its background tasks, e.g. in a `JoinSet`) and calls
/// it again with the same state directory.
#[derive(Clone)]
pub struct InProcess(pub Arc<dyn Fn(SutEnv) -> BoxFuture<'static, ()> + Send + Sync>);

impl InProcess {
    /// Wraps an async function of the environment.
    pub fn new<F, Fut>(f: F) -> InProcess
    where
        F: Fn(SutEnv) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        InProcess(Arc::new(move |env| Box::pin(f(env))))
    }
}

impl std::fmt::Debug for InProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InProcess(..)")
    }
}

/// How to start and probe the SUT.
#[derive(Debug, Clone)]
pub struct SutSpec {
    /// Shell command line (run with `sh -c`); for an in-process receiver, a
    /// name shown in reports.
    pub command: String,
    /// Run this in-process receiver instead of `command`.
    pub in_process: Option<InProcess>,
    /// Path the webhooks are POSTed to.
    pub webhook_path: String,
    /// Readiness path (`GET` answers 2xx when ready).
    pub health_path: String,
    /// How long to wait for readiness.
    pub startup_timeout: Duration,
    /// Idle probe (`GET` answers 2xx when the SUT has no unfinished work:
    /// everything it acked is applied or given up). When set, a run settles
    /// as soon as the SUT is idle and the CRM has no request in flight,
    /// instead of waiting for a quiet period; see `docs/design-notes.md`.
    pub idle_path: Option<String>,
}

/// The protocol environment handed to the SUT.
#[derive(Debug, Clone)]
pub struct SutEnv {
    /// Port the SUT must listen on (on 127.0.0.1).
    pub port: u16,
    /// Webhook signing secret.
    pub webhook_secret: String,
    /// Signature scheme name.
    pub scheme: String,
    /// Mock CRM base URL.
    pub crm_url: String,
    /// Mock CRM bearer token.
    pub crm_token: String,
    /// Mock helpdesk API base URL.
    pub helpdesk_url: String,
    /// Mock helpdesk API token.
    pub helpdesk_token: String,
    /// Durable state directory (kept across restarts within a run).
    pub state_dir: PathBuf,
}

impl SutEnv {
    /// The address the SUT must listen on.
    pub fn listen_addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The `HOOKPROOF_*` variables, as passed to the process.
    pub fn vars(&self, spec: &SutSpec) -> Vec<(&'static str, String)> {
        vec![
            ("HOOKPROOF_LISTEN", format!("127.0.0.1:{}", self.port)),
            ("HOOKPROOF_WEBHOOK_SECRET", self.webhook_secret.clone()),
            ("HOOKPROOF_SIGNATURE_SCHEME", self.scheme.clone()),
            ("HOOKPROOF_WEBHOOK_PATH", spec.webhook_path.clone()),
            ("HOOKPROOF_CRM_URL", self.crm_url.clone()),
            ("HOOKPROOF_CRM_TOKEN", self.crm_token.clone()),
            ("HOOKPROOF_HELPDESK_URL", self.helpdesk_url.clone()),
            ("HOOKPROOF_HELPDESK_TOKEN", self.helpdesk_token.clone()),
            (
                "HOOKPROOF_STATE_DIR",
                self.state_dir.to_string_lossy().into_owned(),
            ),
        ]
    }
}

/// One captured line of SUT output.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LogLine {
    /// Time since the controller was created.
    pub at: Duration,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// Which incarnation of the process (0 = first start, 1 = after the first restart…).
    pub incarnation: u32,
    /// The line, with secrets redacted.
    pub line: String,
}

/// Errors starting or probing the SUT.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SutError {
    /// The command could not be spawned.
    #[error("could not start the SUT `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// Why.
        source: std::io::Error,
    },
    /// The process exited before it became ready.
    #[error(
        "the SUT `{command}` exited with {status} before it became ready on {health_url}; \
         its last output:\n{tail}"
    )]
    ExitedEarly {
        /// The command line.
        command: String,
        /// Exit status.
        status: String,
        /// The readiness URL.
        health_url: String,
        /// Last lines of output.
        tail: String,
    },
    /// Readiness was not reached in time.
    #[error(
        "the SUT `{command}` did not answer 2xx on {health_url} within {timeout:?}; \
         make it listen on $HOOKPROOF_LISTEN and serve the health path, or raise \
         --sut-startup-timeout; its last output:\n{tail}"
    )]
    NotReady {
        /// The command line.
        command: String,
        /// The readiness URL.
        health_url: String,
        /// The timeout.
        timeout: Duration,
        /// Last lines of output.
        tail: String,
    },
}

/// A running (or killed) SUT.
pub struct SutProcess {
    spec: SutSpec,
    env: SutEnv,
    child: Option<Child>,
    task: Option<tokio::task::JoinHandle<()>>,
    pgid: Option<i32>,
    log: Arc<Mutex<Vec<LogLine>>>,
    secrets: Arc<Vec<String>>,
    origin: Instant,
    incarnation: u32,
}

impl std::fmt::Debug for SutProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SutProcess")
            .field("command", &self.spec.command)
            .field("port", &self.env.port)
            .field("pgid", &self.pgid)
            .finish()
    }
}

/// Starts tried when the SUT reports its port taken.
const PORT_TRIES: u32 = 3;

/// Whether SUT output says its listen address was taken.
fn says_address_in_use(output: &str) -> bool {
    let output = output.to_ascii_lowercase();
    output.contains("address already in use") || output.contains("eaddrinuse")
}

/// Most lines of SUT output kept per process (older lines are dropped).
const MAX_LOG_LINES: usize = 20_000;

impl SutProcess {
    /// Starts the SUT and waits until it is ready.
    pub async fn start(spec: SutSpec, env: SutEnv) -> Result<SutProcess, SutError> {
        let secrets = Arc::new(
            [&env.webhook_secret, &env.crm_token, &env.helpdesk_token]
                .iter()
                .filter(|s| s.len() >= 4)
                .map(|s| s.to_string())
                .collect(),
        );
        let mut sut = SutProcess {
            spec,
            env,
            child: None,
            task: None,
            pgid: None,
            log: Arc::new(Mutex::new(Vec::new())),
            secrets,
            origin: Instant::now(),
            incarnation: 0,
        };
        // The port was free when it was picked, but the SUT binds it
        // later: under load another process's outgoing connection can take
        // it in between. A SUT that exits saying so gets a fresh port.
        let mut tries = 1;
        loop {
            match sut.spawn_and_wait().await {
                Err(SutError::ExitedEarly { tail, .. })
                    if tries < PORT_TRIES && says_address_in_use(&tail) =>
                {
                    tries += 1;
                    sut.env.port = free_port().map_err(|source| SutError::Spawn {
                        command: sut.spec.command.clone(),
                        source,
                    })?;
                    sut.log.lock().unwrap().clear();
                }
                other => return other.map(|()| sut),
            }
        }
    }

    /// The idle probe URL, when the SUT declares one.
    pub fn idle_url(&self) -> Option<String> {
        self.spec
            .idle_path
            .as_ref()
            .map(|p| format!("http://127.0.0.1:{}{p}", self.env.port))
    }

    /// The webhook URL.
    pub fn webhook_url(&self) -> String {
        format!(
            "http://127.0.0.1:{}{}",
            self.env.port, self.spec.webhook_path
        )
    }

    /// The captured output so far.
    pub fn log(&self) -> Vec<LogLine> {
        self.log.lock().unwrap().clone()
    }

    /// How many times the SUT was restarted.
    pub fn restarts(&self) -> u32 {
        self.incarnation
    }

    /// SIGKILLs the SUT's whole process group and reaps it.
    pub async fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // SAFETY: killpg with a process group id we created; no memory is touched.
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
            let _ = child.wait().await;
        }
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// SIGKILL, then start the same command with the same state directory.
    pub async fn restart(&mut self, delay: Duration) -> Result<(), SutError> {
        self.kill().await;
        tokio::time::sleep(delay).await;
        self.incarnation += 1;
        self.spawn_and_wait().await
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        if let Some(task) = &self.task {
            return !task.is_finished();
        }
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The exit status, if the process (started and not killed by us) exited.
    pub fn exit_status(&mut self) -> Option<String> {
        if let Some(task) = &self.task {
            return task
                .is_finished()
                .then(|| "the in-process receiver's future completed".to_string());
        }
        match &mut self.child {
            Some(child) => child.try_wait().ok().flatten().map(|s| s.to_string()),
            None => None,
        }
    }

    async fn spawn_and_wait(&mut self) -> Result<(), SutError> {
        if let Some(launch) = &self.spec.in_process {
            self.task = Some(tokio::spawn((launch.0)(self.env.clone())));
            return self.wait_ready().await;
        }
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(&self.spec.command)
            .envs(self.env.vars(&self.spec))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command.as_std_mut().process_group(0);
        let mut child = command.spawn().map_err(|source| SutError::Spawn {
            command: self.spec.command.clone(),
            source,
        })?;
        self.pgid = child.id().map(|id| id as i32);
        if let Some(stdout) = child.stdout.take() {
            self.capture(stdout, "stdout");
        }
        if let Some(stderr) = child.stderr.take() {
            self.capture(stderr, "stderr");
        }
        self.child = Some(child);
        self.wait_ready().await
    }

    fn capture<R>(&self, stream: R, name: &'static str)
    where
        R: tokio::io::AsyncRead + Unpin + Send + 'static,
    {
        let log = self.log.clone();
        let secrets = self.secrets.clone();
        let origin = self.origin;
        let incarnation = self.incarnation;
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut line = line;
                for secret in secrets.iter() {
                    if line.contains(secret.as_str()) {
                        line = line.replace(secret.as_str(), "[redacted]");
                    }
                }
                let mut log = log.lock().unwrap();
                if log.len() >= MAX_LOG_LINES {
                    log.remove(0);
                }
                log.push(LogLine {
                    at: origin.elapsed(),
                    stream: name.to_string(),
                    incarnation,
                    line,
                });
            }
        });
    }

    async fn wait_ready(&mut self) -> Result<(), SutError> {
        let health_url = format!(
            "http://127.0.0.1:{}{}",
            self.env.port, self.spec.health_path
        );
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_millis(500))
            .build()
            .expect("a plain HTTP client always builds");
        let deadline = Instant::now() + self.spec.startup_timeout;
        loop {
            let exited = match (&mut self.child, &self.task) {
                (Some(child), _) => child.try_wait().ok().flatten().map(|s| s.to_string()),
                (None, Some(task)) => task
                    .is_finished()
                    .then(|| "its future completed".to_string()),
                (None, None) => None,
            };
            if let Some(status) = exited {
                // Give the output readers a moment to drain.
                tokio::time::sleep(Duration::from_millis(50)).await;
                self.pgid = None;
                return Err(SutError::ExitedEarly {
                    command: self.spec.command.clone(),
                    status,
                    health_url,
                    tail: self.tail(20),
                });
            }
            if let Ok(response) = client.get(&health_url).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.kill().await;
                return Err(SutError::NotReady {
                    command: self.spec.command.clone(),
                    health_url,
                    timeout: self.spec.startup_timeout,
                    tail: self.tail(20),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The last `n` lines of output, for error messages.
    pub fn tail(&self, n: usize) -> String {
        let log = self.log.lock().unwrap();
        let lines: Vec<String> = log
            .iter()
            .rev()
            .take(n)
            .rev()
            .map(|l| format!("  [{}] {}", l.stream, l.line))
            .collect();
        if lines.is_empty() {
            "  (no output)".to_string()
        } else {
            lines.join("\n")
        }
    }
}

impl Drop for SutProcess {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        if let Some(pgid) = self.pgid.take() {
            // SAFETY: see `kill`.
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
        }
        // `kill_on_drop` reaps the direct child.
    }
}

/// Picks a free TCP port on 127.0.0.1 for the SUT to listen on.
pub fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_a_taken_port_in_the_output() {
        assert!(says_address_in_use(
            "error: cannot listen on 127.0.0.1:4000: Address already in use (os error 98)"
        ));
        assert!(says_address_in_use("Error: listen EADDRINUSE: :::4000"));
        assert!(!says_address_in_use("error: HOOKPROOF_CRM_URL is not set"));
    }
}
