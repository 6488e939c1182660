//! `hookproof contracts diff` end to end: exit codes, table and JSON output,
//! and errors that name the file.

use std::path::Path;
use std::process::{Command, Output};

fn diff(old: &Path, new: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hookproof"))
        .args(["contracts", "diff"])
        .arg(old)
        .arg(new)
        .args(extra)
        .output()
        .unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn a_new_status_and_a_removed_field_in_the_shared_ticket_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let old = Path::new(env!("CARGO_MANIFEST_DIR")).join("contracts/zendesk");
    let new = tmp.path().join("zendesk");
    copy_dir(&old, &new);
    let path = new.join("ticket.json");
    let mut ticket: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    ticket["$defs"]["status"]["enum"]
        .as_array_mut()
        .unwrap()
        .push("MERGED".into());
    ticket["properties"]
        .as_object_mut()
        .unwrap()
        .remove("subject");
    std::fs::write(&path, ticket.to_string()).unwrap();

    let out = diff(&old, &new, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let row = |words: &[&str]| {
        stdout
            .lines()
            .any(|l| words.iter().all(|w| l.split_whitespace().any(|x| x == *w)))
    };
    assert!(
        row(&["breaking", "ticket.json", "/properties/subject"]),
        "{stdout}"
    );
    assert!(
        row(&[
            "risky",
            "ticket.status_changed.json",
            "/properties/event/properties/current"
        ]),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-breaking"));

    let json = diff(&old, &new, &["--format", "json", "--allow-breaking"]);
    assert_eq!(json.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["breaking"], 5, "{doc}");
    assert!(doc["risky"].as_u64().unwrap() >= 6, "{doc}");
    assert_eq!(doc["changes"][0]["class"], "breaking");
}

#[test]
fn identical_versions_exit_0() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("contracts");
    let out = diff(&dir, &dir, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 breaking, 0 risky, 0 safe"));
}

#[test]
fn bad_inputs_name_the_file_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.json");
    std::fs::write(&bad, "{\n  \"type\": ,\n}").unwrap();
    let good = tmp.path().join("good.json");
    std::fs::write(&good, "{}").unwrap();
    let empty_dir = tmp.path().join("empty");
    std::fs::create_dir(&empty_dir).unwrap();
    for (old, new, named) in [
        (&bad, &good, "bad.json:2:"),
        (&good, &tmp.path().join("missing.json"), "missing.json"),
        (&good, &empty_dir, "both be files or both be directories"),
    ] {
        let out = diff(old, new, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(named), "{err}");
    }
    let out = diff(&good, &good, &["--format", "xml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--format"));
}
