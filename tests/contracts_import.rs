//! `hookproof contracts import` end to end: a vendor's OpenAPI 3.1 and
//! AsyncAPI 3.0 specs become contract files that `contracts diff` and
//! `contracts validate --contracts` use; existing files are never
//! overwritten; bad input names the file and exits 2.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn hookproof(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hookproof"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

const OPENAPI: &str = "tests/data/import/zendesk-webhooks.openapi.json";
const ASYNCAPI: &str = "tests/data/import/helpdesk-events.asyncapi.yaml";

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            copy_dir(&p, &to.join(p.file_name().unwrap()));
        } else {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn openapi_webhooks_import_and_diff_against_the_builtin_contracts() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("vendor");
    let o = hookproof(&["contracts", "import", OPENAPI, "--out", path(&out)]);
    let stdout = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{stdout}{}", text(&o.stderr));
    let created = out.join("zendesk/ticket.created.json");
    let changed = out.join("zendesk/ticket.status_changed.json");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with(&format!(
            "wrote {}  <- #/webhooks/ticket.created/post/",
            created.display()
        )),
        "{stdout}"
    );
    assert!(
        lines[1].contains("note: converted OpenAPI 3.0 `nullable: true` at #/components/schemas/Ticket/properties/external_id"),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("wrote {}", changed.display()))),
        "{stdout}"
    );
    assert!(
        lines.last().unwrap().starts_with("imported 2 contract(s) from tests/data/import/zendesk-webhooks.openapi.json (OpenAPI 3.1.0)"),
        "{stdout}"
    );
    let names: Vec<String> = std::fs::read_dir(out.join("zendesk"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    let schema = read_json(&created);
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(schema["properties"]["detail"]["$ref"], "#/$defs/Ticket");
    assert_eq!(
        schema["$defs"]["Ticket"]["properties"]["external_id"]["type"],
        serde_json::json!(["string", "null"])
    );
    assert!(
        schema["description"]
            .as_str()
            .unwrap()
            .contains("zendesk-webhooks.openapi.json (OpenAPI 3.1.0: \"Helpdesk event webhooks\" 2022-11-06) at #/webhooks/ticket.created/"),
        "{}",
        schema["description"]
    );

    // The vendor's spec against hookproof's own contract, file by file.
    let o = hookproof(&[
        "contracts",
        "diff",
        "contracts/zendesk/ticket.created.json",
        path(&created),
    ]);
    let table = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{table}{}", text(&o.stderr));
    let row = |words: &[&str]| {
        table
            .lines()
            .any(|l| words.iter().all(|w| l.split_whitespace().any(|x| x == *w)))
    };
    assert!(
        row(&[
            "risky",
            "ticket.created.json",
            "/properties/detail/properties/status",
            "\"MERGED\""
        ]),
        "{table}"
    );
    assert!(
        row(&[
            "risky",
            "/properties/detail/properties/requester_id",
            "optional"
        ]),
        "{table}"
    );
    assert!(
        table.trim_end().ends_with("0 breaking, 3 risky, 0 safe"),
        "{table}"
    );

    let o = hookproof(&[
        "contracts",
        "diff",
        "contracts/zendesk/ticket.status_changed.json",
        path(&changed),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (doc["breaking"].as_u64(), doc["risky"].as_u64()),
        (Some(0), Some(3)),
        "{doc}"
    );
    let pointers: Vec<&str> = doc["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["pointer"].as_str().unwrap())
        .collect();
    assert!(
        pointers.contains(&"/properties/event/properties/current"),
        "{doc}"
    );
}

#[test]
fn never_overwrites_and_imported_files_work_as_a_contracts_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("contracts");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("contracts"),
        &dir,
    );
    let created = dir.join("zendesk/ticket.created.json");
    let changed = dir.join("zendesk/ticket.status_changed.json");
    let before: Vec<Vec<u8>> = [&created, &changed]
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    // ticket.status_changed.json is ours: the import must leave it alone,
    // and write nothing else either.
    std::fs::remove_file(&created).unwrap();
    let o = hookproof(&["contracts", "import", OPENAPI, "--out", path(&dir)]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(&changed.display().to_string()), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert!(!created.exists(), "nothing is written when a target exists");
    assert_eq!(std::fs::read(&changed).unwrap(), before[1]);
    assert!(o.stdout.is_empty(), "{}", text(&o.stdout));

    // With both files out of the way the import fills the gap, and the set
    // loads: the real payloads validate against the vendor's schemas.
    std::fs::remove_file(&changed).unwrap();
    let o = hookproof(&["contracts", "import", OPENAPI, "--out", path(&dir)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_ne!(std::fs::read(&created).unwrap(), before[0]);
    let o = hookproof(&[
        "contracts",
        "validate",
        "--contracts",
        path(&dir),
        "tests/data/payloads/zendesk/ticket_created.json",
        "tests/data/payloads/zendesk/ticket_status_changed.json",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    // A payload the vendor's schema rejects: a numeric ticket id.
    let mut bad = read_json(Path::new(&format!(
        "{}/tests/data/payloads/zendesk/ticket_created.json",
        env!("CARGO_MANIFEST_DIR")
    )));
    bad["detail"]["id"] = 5158.into();
    let bad_path = tmp.path().join("bad.json");
    std::fs::write(&bad_path, bad.to_string()).unwrap();
    let o = hookproof(&[
        "contracts",
        "validate",
        "--contracts",
        path(&dir),
        path(&bad_path),
    ]);
    let report = format!("{}{}", text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{report}");
    assert!(report.contains("zendesk/ticket.created.json"), "{report}");
    assert!(report.contains("/detail/id"), "{report}");
}

#[test]
fn asyncapi_3_yaml_import_with_a_cycle() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = hookproof(&["contracts", "import", ASYNCAPI, "--out", path(&out)]);
    let stdout = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{stdout}{}", text(&o.stderr));
    assert!(stdout.contains("(AsyncAPI 3.0.0)"), "{stdout}");
    let created: PathBuf = out.join("zendesk/ticket.created.json");
    let priority = out.join("zendesk/ticket.priority_changed.json");
    let schema = read_json(&created);
    // Ticket.merged_into refers back to Ticket: copied once, referenced by name.
    assert_eq!(
        schema["$defs"]["Ticket"]["properties"]["merged_into"]["$ref"],
        "#/$defs/Ticket"
    );
    assert_eq!(schema["$defs"].as_object().unwrap().len(), 2, "{schema}");
    let validator = jsonschema::validator_for(&schema).unwrap();
    let payload = read_json(Path::new(&format!(
        "{}/tests/data/payloads/zendesk/ticket_created.json",
        env!("CARGO_MANIFEST_DIR")
    )));
    assert!(validator.is_valid(&payload));
    let mut merged = payload.clone();
    merged["detail"]["merged_into"] =
        serde_json::json!({"id": "1", "subject": "x", "status": "WRONG"});
    assert!(!validator.is_valid(&merged));

    let schema = read_json(&priority);
    assert_eq!(
        schema["$defs"]["Priority"]["enum"],
        serde_json::json!(["LOW", "NORMAL", "HIGH", "URGENT", null])
    );
    assert!(
        schema["$comment"].as_str().unwrap().contains("nullable"),
        "{schema}"
    );

    // --profile hubspot writes to hubspot/ and says the names are not CRM
    // operations.
    let o = hookproof(&[
        "contracts",
        "import",
        ASYNCAPI,
        "--out",
        path(&out),
        "--profile",
        "hubspot",
    ]);
    let stdout = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(out.join("hubspot/ticket.created.json").exists());
    assert!(stdout.contains("is not a CRM operation"), "{stdout}");
}

#[test]
fn bad_input_names_the_file_and_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let external = tmp.path().join("external.yaml");
    std::fs::write(
        &external,
        "openapi: 3.1.0\nwebhooks:\n  ticket.created:\n    post:\n      requestBody:\n        content:\n          application/json:\n            schema:\n              $ref: 'common.yaml#/components/schemas/Ticket'\n",
    )
    .unwrap();
    let missing = tmp.path().join("missing.json");
    let broken = tmp.path().join("broken.yaml");
    std::fs::write(&broken, "asyncapi: 3.0.0\nchannels: [\n").unwrap();
    let cases: Vec<(Vec<&str>, Vec<String>)> = vec![
        (
            vec!["contracts/zendesk/event.json"],
            vec![
                "contracts/zendesk/event.json".into(),
                "expected an OpenAPI 3.1 document".into(),
            ],
        ),
        (
            vec![path(&external)],
            vec![
                external.display().to_string(),
                "/webhooks/ticket.created/post/requestBody/content/application~1json/schema/$ref"
                    .into(),
                "nothing is fetched".into(),
            ],
        ),
        (
            vec![path(&broken)],
            vec![format!("{}:", broken.display()), "YAML".into()],
        ),
        (vec![path(&missing)], vec!["missing.json".into()]),
        (
            vec![OPENAPI, "--profile", "salesforce"],
            vec!["--profile".into(), "salesforce".into()],
        ),
    ];
    for (args, wanted) in cases {
        let mut all = vec!["contracts", "import", "--out", path(&out)];
        all.extend(args.iter());
        let o = hookproof(&all);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        for w in wanted {
            assert!(err.contains(&w), "{args:?}: {w:?} not in {err}");
        }
        assert!(!out.exists(), "{args:?} wrote something");
    }
    // --out is required.
    let o = hookproof(&["contracts", "import", OPENAPI]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--out"), "{}", text(&o.stderr));
}
