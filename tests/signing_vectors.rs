//! Every published signature vector in `tests/data/signature-vectors.json`,
//! signed and verified through `hookproof::signing`.

use chrono::{DateTime, TimeZone, Utc};
use hookproof::signing::{self, Message, Scheme, VerifyError, raw};
use http::HeaderMap;
use serde_json::Value;
use std::time::Duration;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/signature-vectors.json"
    );
    let text = std::fs::read_to_string(path).expect("vectors file is readable");
    serde_json::from_str(&text).expect("vectors file is JSON")
}

fn find<'v>(all: &'v Value, section: &str, id: &str) -> &'v Value {
    all[section]
        .as_array()
        .expect("section is an array")
        .iter()
        .find(|v| v["id"] == id)
        .unwrap_or_else(|| panic!("vector {id} in {section}"))
}

fn s<'v>(v: &'v Value, key: &str) -> &'v str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is a string"))
}

fn headers(pairs: &[(&str, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            http::HeaderName::try_from(*name).expect("header name"),
            value.parse().expect("header value"),
        );
    }
    map
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().expect("valid time")
}

fn msg<'a>(id: &'a str, ts: DateTime<Utc>, body: &'a [u8]) -> Message<'a> {
    Message {
        id,
        timestamp: ts,
        method: "POST",
        url: "https://example.com/webhooks/helpdesk",
        body,
    }
}

#[test]
fn standard_webhooks_sign_vectors() {
    let all = vectors();
    for id in ["sw-sign-1", "sw-sign-2"] {
        let v = find(&all, "standard_webhooks", id);
        let ts = at(v["timestamp"].as_i64().expect("timestamp"));
        let body = s(v, "payload").as_bytes();
        let secret = s(v, "secret");
        let m = msg(s(v, "msg_id"), ts, body);
        let signed = signing::sign(Scheme::StandardWebhooks, secret, &m).expect("signs");
        assert_eq!(
            signed,
            vec![
                ("webhook-id", s(v, "msg_id").to_owned()),
                ("webhook-timestamp", ts.timestamp().to_string()),
                ("webhook-signature", s(v, "expected_signature").to_owned()),
            ],
            "{id}"
        );
        // The notes: the secret also works without prefix, and unpadded.
        let bare = secret.trim_start_matches("whsec_");
        let again = signing::sign(Scheme::StandardWebhooks, bare, &m).expect("signs bare");
        assert_eq!(again, signed, "{id} without whsec_ prefix");
        let map = headers(&signed);
        signing::verify(
            Scheme::StandardWebhooks,
            secret,
            &map,
            "POST",
            "",
            body,
            ts,
            None,
        )
        .unwrap_or_else(|e| panic!("{id} verifies: {e}"));
        signing::verify(
            Scheme::StandardWebhooks,
            bare,
            &map,
            "POST",
            "",
            body,
            ts,
            None,
        )
        .unwrap_or_else(|e| panic!("{id} verifies with bare secret: {e}"));
    }
}

#[test]
fn standard_webhooks_invalid_vectors_reject() {
    let all = vectors();
    let now = Utc::now();
    for id in ["sw-invalid-1", "svix-invalid-1"] {
        let v = find(&all, "standard_webhooks", id);
        let map = headers(&[
            ("webhook-id", s(v, "msg_id").to_owned()),
            ("webhook-timestamp", now.timestamp().to_string()),
            ("webhook-signature", s(v, "header_signature").to_owned()),
        ]);
        let r = signing::verify(
            Scheme::StandardWebhooks,
            s(v, "secret"),
            &map,
            "POST",
            "",
            s(v, "payload").as_bytes(),
            now,
            None,
        );
        assert_eq!(r, Err(VerifyError::BadSignature), "{id}");
    }
}

#[test]
fn standard_webhooks_multisig_vector_accepts() {
    let all = vectors();
    let v = find(&all, "standard_webhooks", "sw-multisig-1");
    let secret = s(v, "secret");
    let now = Utc::now();
    let body = br#"{"test": 2432232314}"#;
    let m = msg("msg_p5jXN8AQM9LWM0D4loKWxJek", now, body);
    let valid = signing::sign(Scheme::StandardWebhooks, secret, &m).expect("signs");
    let valid_sig = valid[2].1.clone();
    let list: Vec<String> = v["header_signature_list"]
        .as_array()
        .expect("list")
        .iter()
        .map(|e| {
            let e = e.as_str().expect("string");
            if e == "<valid v1 sig for now>" {
                valid_sig.clone()
            } else {
                e.to_owned()
            }
        })
        .collect();
    let map = headers(&[
        ("webhook-id", m.id.to_owned()),
        ("webhook-timestamp", now.timestamp().to_string()),
        ("webhook-signature", list.join(" ")),
    ]);
    signing::verify(
        Scheme::StandardWebhooks,
        secret,
        &map,
        "POST",
        "",
        body,
        now,
        None,
    )
    .expect("one valid v1 entry is enough");
    // The same list without the valid entry is rejected.
    let bad: Vec<&String> = list.iter().filter(|e| **e != valid_sig).collect();
    let map = headers(&[
        ("webhook-id", m.id.to_owned()),
        ("webhook-timestamp", now.timestamp().to_string()),
        (
            "webhook-signature",
            bad.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(" "),
        ),
    ]);
    assert_eq!(
        signing::verify(
            Scheme::StandardWebhooks,
            secret,
            &map,
            "POST",
            "",
            body,
            now,
            None
        ),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn zendesk_vectors() {
    let all = vectors();
    for id in ["zd-event-1", "zd-trigger-1", "zd-rfc3339-ts-1"] {
        let v = find(&all, "zendesk", id);
        let body = s(v, "payload").as_bytes();
        let got = raw::zendesk(s(v, "secret"), s(v, "timestamp_header"), body);
        assert_eq!(got, s(v, "expected_signature"), "{id}");
    }
    // The ISO-8601 vector also goes through sign() and verify().
    let v = find(&all, "zendesk", "zd-rfc3339-ts-1");
    let ts: DateTime<Utc> = s(v, "timestamp_header").parse().expect("iso");
    let body = s(v, "payload").as_bytes();
    let signed =
        signing::sign(Scheme::Zendesk, s(v, "secret"), &msg("x", ts, body)).expect("signs");
    assert_eq!(
        signed,
        vec![
            (
                "X-Zendesk-Webhook-Signature",
                s(v, "expected_signature").to_owned()
            ),
            (
                "X-Zendesk-Webhook-Signature-Timestamp",
                s(v, "timestamp_header").to_owned()
            ),
        ]
    );
    let map = headers(&signed);
    let later = ts + chrono::Duration::seconds(299);
    signing::verify(
        Scheme::Zendesk,
        s(v, "secret"),
        &map,
        "POST",
        "",
        body,
        later,
        None,
    )
    .expect("verifies within tolerance");
    let too_late = ts + chrono::Duration::seconds(301);
    assert!(matches!(
        signing::verify(
            Scheme::Zendesk,
            s(v, "secret"),
            &map,
            "POST",
            "",
            body,
            too_late,
            None
        ),
        Err(VerifyError::StaleTimestamp { .. })
    ));
    // zendesk-go's vectors sign the timestamp string "1234": the signature
    // matches, but a receiver that checks freshness rejects the timestamp.
    let v = find(&all, "zendesk", "zd-event-1");
    let map = headers(&[
        (
            "X-Zendesk-Webhook-Signature",
            s(v, "expected_signature").to_owned(),
        ),
        ("X-Zendesk-Webhook-Signature-Timestamp", "1234".to_owned()),
    ]);
    let r = signing::verify(
        Scheme::Zendesk,
        s(v, "secret"),
        &map,
        "POST",
        "",
        s(v, "payload").as_bytes(),
        Utc::now(),
        None,
    );
    assert!(
        matches!(r, Err(VerifyError::MalformedHeader { .. })),
        "{r:?}"
    );
    // The same headers with a wrong secret fail on the signature first.
    let r = signing::verify(
        Scheme::Zendesk,
        "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ",
        &map,
        "POST",
        "",
        s(v, "payload").as_bytes(),
        Utc::now(),
        None,
    );
    assert_eq!(r, Err(VerifyError::BadSignature));
}

#[test]
fn zendesk_legacy_docs_vector_is_body_then_timestamp_so_rejected() {
    let all = vectors();
    let v = find(&all, "zendesk", "zd-legacy-docs-1");
    let ts = s(v, "timestamp_header");
    let body = s(v, "payload");
    // Our order (timestamp + body) does not reproduce the old docs' value…
    assert_ne!(
        raw::zendesk(s(v, "secret"), ts, body.as_bytes()),
        s(v, "expected_signature")
    );
    // …which is HMAC over body + timestamp, the order the old page described.
    assert_eq!(
        raw::zendesk(s(v, "secret"), "", format!("{body}{ts}").as_bytes()),
        s(v, "expected_signature")
    );
    let map = headers(&[
        (
            "X-Zendesk-Webhook-Signature",
            s(v, "expected_signature").to_owned(),
        ),
        ("X-Zendesk-Webhook-Signature-Timestamp", ts.to_owned()),
    ]);
    let now: DateTime<Utc> = ts.parse().expect("iso");
    assert_eq!(
        signing::verify(
            Scheme::Zendesk,
            s(v, "secret"),
            &map,
            "POST",
            "",
            body.as_bytes(),
            now,
            None
        ),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn hubspot_v3_vector() {
    let all = vectors();
    let v = find(&all, "hubspot", "hs-sdk-v3");
    let secret = s(v, "client_secret");
    let body = s(v, "payload").as_bytes();
    let ts_ms: i64 = s(v, "timestamp").parse().expect("ms");
    let ts = Utc.timestamp_millis_opt(ts_ms).single().expect("time");
    let m = Message {
        id: "ignored",
        timestamp: ts,
        method: s(v, "method"),
        url: s(v, "uri"),
        body,
    };
    let signed = signing::sign(Scheme::HubspotV3, secret, &m).expect("signs");
    assert_eq!(
        signed,
        vec![
            (
                "X-HubSpot-Signature-v3",
                s(v, "expected_signature").to_owned()
            ),
            ("X-HubSpot-Request-Timestamp", s(v, "timestamp").to_owned()),
        ]
    );
    let map = headers(&signed);
    let (method, uri) = (s(v, "method"), s(v, "uri"));
    signing::verify(Scheme::HubspotV3, secret, &map, method, uri, body, ts, None)
        .expect("verifies at signing time");
    // The vector's timestamp is in 1970: a freshness check must reject it.
    assert!(matches!(
        signing::verify(
            Scheme::HubspotV3,
            secret,
            &map,
            method,
            uri,
            body,
            Utc::now(),
            None
        ),
        Err(VerifyError::StaleTimestamp { .. })
    ));
    // Method and URL are signed.
    assert_eq!(
        signing::verify(Scheme::HubspotV3, secret, &map, "PUT", uri, body, ts, None),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(
        signing::verify(
            Scheme::HubspotV3,
            secret,
            &map,
            method,
            "https://www.example.com/other",
            body,
            ts,
            None
        ),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn stripe_vector() {
    let all = vectors();
    let v = find(&all, "stripe", "stripe-derived-1");
    let secret = s(v, "secret");
    let ts = at(v["timestamp"].as_i64().expect("ts"));
    let body = s(v, "payload").as_bytes();
    let signed = signing::sign(Scheme::Stripe, secret, &msg("x", ts, body)).expect("signs");
    assert_eq!(
        signed,
        vec![("Stripe-Signature", s(v, "expected_header").to_owned())]
    );
    let map = headers(&signed);
    signing::verify(Scheme::Stripe, secret, &map, "POST", "", body, ts, None).expect("verifies");
    // Stripe only rejects old timestamps, like stripe-python.
    let stale = ts + chrono::Duration::seconds(301);
    assert!(matches!(
        signing::verify(Scheme::Stripe, secret, &map, "POST", "", body, stale, None),
        Err(VerifyError::StaleTimestamp { .. })
    ));
    let early = ts - chrono::Duration::seconds(3600);
    signing::verify(Scheme::Stripe, secret, &map, "POST", "", body, early, None)
        .expect("future timestamps are not rejected by stripe");
}

#[test]
fn github_vector() {
    let all = vectors();
    let v = find(&all, "github", "gh-docs-1");
    let secret = s(v, "secret");
    let body = s(v, "payload").as_bytes();
    let signed = signing::sign(Scheme::Github, secret, &msg("x", Utc::now(), body)).expect("signs");
    assert_eq!(
        signed,
        vec![("X-Hub-Signature-256", s(v, "expected_header").to_owned())]
    );
    let map = headers(&signed);
    signing::verify(Scheme::Github, secret, &map, "POST", "", body, at(0), None)
        .expect("no timestamp: any time verifies");
    assert_eq!(
        signing::verify(
            Scheme::Github,
            secret,
            &map,
            "POST",
            "",
            b"Hello, World?",
            at(0),
            None
        ),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn disabled_tolerance_accepts_old_vectors() {
    let all = vectors();
    let v = find(&all, "standard_webhooks", "sw-sign-1");
    let ts = at(v["timestamp"].as_i64().expect("ts"));
    let body = s(v, "payload").as_bytes();
    let signed = signing::sign(
        Scheme::StandardWebhooks,
        s(v, "secret"),
        &msg(s(v, "msg_id"), ts, body),
    )
    .expect("signs");
    let map = headers(&signed);
    let now = Utc::now();
    assert!(matches!(
        signing::verify(
            Scheme::StandardWebhooks,
            s(v, "secret"),
            &map,
            "",
            "",
            body,
            now,
            None
        ),
        Err(VerifyError::StaleTimestamp { .. })
    ));
    signing::verify(
        Scheme::StandardWebhooks,
        s(v, "secret"),
        &map,
        "",
        "",
        body,
        now,
        Some(Duration::MAX),
    )
    .expect("Duration::MAX disables the freshness check");
}
