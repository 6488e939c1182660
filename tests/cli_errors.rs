//! Bad input gets a clear message and exit code 2, never a panic or a hang,
//! and never leaves a SUT process behind.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn hookproof(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hookproof"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("hookproof runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn pid_alive(pid: i32) -> bool {
    // Signal 0 checks existence; a zombie would still count, so also read /proc state.
    let status = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !status.is_empty() && !status.contains(") Z ")
}

fn wait_gone(pid: i32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if !pid_alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = hookproof(&["run", "--no-such-flag"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--no-such-flag"), "{}", stderr(&o));
}

#[test]
fn bad_flag_values_name_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let o = hookproof(&["run", "--scheme", "md5"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--scheme"), "{}", stderr(&o));
    let o = hookproof(&["run", "--sut-startup-timeout", "soon"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--sut-startup-timeout"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("250ms"), "{}", stderr(&o));
}

#[test]
fn bad_scenario_file_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("typo.toml");
    let text = "name = \"typo\"\ndescription = \"x\"\n\n[[fault]]\nkind = \"crm.status\"\nstatus = 503\nfrom = \"1s\"\nfor = \"2s\"\nfracton = 0.5\n";
    std::fs::write(&file, text).unwrap();
    let o = hookproof(&["run", "--scenario", file.to_str().unwrap()], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("typo.toml:"), "{err}");
    assert!(err.contains("fracton"), "{err}");
    assert!(err.contains("help:"), "{err}");
    // The user's file is untouched.
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
}

#[test]
fn unknown_scenario_name_lists_the_builtins() {
    let dir = tempfile::tempdir().unwrap();
    let o = hookproof(&["run", "--scenario", "crm-outtage"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("crm-outage"), "{}", stderr(&o));
}

#[test]
fn sut_that_exits_at_once_is_reported_with_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let o = hookproof(
        &[
            "run",
            "--scenario",
            "baseline",
            "--sut",
            "echo 'listening? no: config missing' >&2; exit 3",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("exited with"), "{err}");
    assert!(err.contains("config missing"), "{err}");
    assert!(!dir.path().join("hookproof-report").exists());
}

#[test]
fn sut_that_never_gets_ready_times_out_and_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("sut.pid");
    let cmd = format!("echo $$ > {}; exec sleep 60", pidfile.display());
    let started = Instant::now();
    let o = hookproof(
        &[
            "run",
            "--scenario",
            "baseline",
            "--sut-startup-timeout",
            "1s",
            "--sut",
            &cmd,
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(started.elapsed() < Duration::from_secs(30));
    let err = stderr(&o);
    assert!(err.contains("did not answer 2xx"), "{err}");
    assert!(err.contains("--sut-startup-timeout"), "{err}");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(wait_gone(pid), "SUT process {pid} was left behind");
}

#[test]
fn report_dir_with_foreign_files_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("mine");
    std::fs::create_dir(&reports).unwrap();
    std::fs::write(reports.join("notes.txt"), "precious").unwrap();
    let o = hookproof(
        &[
            "run",
            "--scenario",
            "baseline",
            "--report-dir",
            reports.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--report-dir"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(reports.join("notes.txt")).unwrap(),
        "precious"
    );
}

#[test]
fn sut_that_hangs_on_webhooks_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("hang.py");
    std::fs::write(
        &script,
        r#"
import http.server, os, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def do_POST(self):
        time.sleep(3600)
    def log_message(self, *a): pass
host, port = os.environ["HOOKPROOF_LISTEN"].rsplit(":", 1)
http.server.ThreadingHTTPServer((host, int(port)), H).serve_forever()
"#,
    )
    .unwrap();
    let pidfile = dir.path().join("sut.pid");
    let cmd = format!(
        "echo $$ > {}; exec python3 {}",
        pidfile.display(),
        script.display()
    );
    let scenario = dir.path().join("small.toml");
    std::fs::write(
        &scenario,
        "name = \"small\"\ndescription = \"d\"\n[workload]\ntickets = 3\n[delivery]\ntimeout = \"300ms\"\nretry = [\"10ms\"]\n",
    )
    .unwrap();
    let started = Instant::now();
    let o = hookproof(
        &[
            "run",
            "--scenario",
            scenario.to_str().unwrap(),
            "--sut",
            &cmd,
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(started.elapsed() < Duration::from_secs(60));
    let err = stderr(&o);
    assert!(err.contains("it hangs"), "{err}");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(wait_gone(pid), "SUT process {pid} was left behind");
}

#[test]
fn ctrl_c_stops_the_run_and_leaves_no_sut_behind() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("sut.pids");
    let cmd = format!(
        "echo $$ >> {}; exec '{}' sut reference",
        pids.display(),
        env!("CARGO_BIN_EXE_hookproof")
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookproof"))
        .args(["run", "--quiet", "--scenario", "crm-outage", "--sut", &cmd])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(&pids)
        .map(|t| t.lines().count() < 2)
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "the SUTs never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: sending SIGINT to our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(2));
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(err.contains("interrupted"), "{err}");
    for pid in std::fs::read_to_string(&pids).unwrap().lines() {
        let pid: i32 = pid.trim().parse().unwrap();
        assert!(
            wait_gone(pid),
            "SUT process {pid} was left behind after Ctrl-C"
        );
    }
}

#[test]
fn sut_that_dies_mid_run_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // The reference receiver, killed by its own shell after half a second.
    let cmd = format!(
        "'{}' sut reference & pid=$!; sleep 0.5; kill -9 $pid; echo 'worker crashed' >&2; wait",
        env!("CARGO_BIN_EXE_hookproof")
    );
    let o = hookproof(
        &["run", "--scenario", "baseline", "--sut", &cmd],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("exited on its own"), "{err}");
    assert!(err.contains("worker crashed"), "{err}");
}

#[test]
fn contracts_validate_reports_pointers_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let good = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/payloads/zendesk/ticket_created.json"
    );
    let o = hookproof(&["contracts", "validate", good], dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(good).unwrap()).unwrap();
    event["detail"]["status"] = serde_json::json!("open");
    let bad = dir.path().join("events.jsonl");
    std::fs::write(
        &bad,
        format!(
            "{}\n{}\n",
            std::fs::read_to_string(good).unwrap().replace('\n', ""),
            event
        ),
    )
    .unwrap();
    let o = hookproof(
        &["contracts", "validate", bad.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("events.jsonl:2") && out.contains("/detail/status"),
        "{out}"
    );
    let o = hookproof(
        &[
            "contracts",
            "validate",
            "--contract",
            "hubspot/nope.json",
            good,
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--contract"), "{}", stderr(&o));
}

#[test]
fn a_closed_stdout_ends_the_output_without_a_panic() {
    use std::process::Stdio;
    // `hookproof sut flaws | head -0`: the reader is gone before the writes.
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookproof"))
        .args(["sut", "flaws"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
}
