//! Webhook signatures, byte for byte as the real producers compute them.
//!
//! hookproof's mock helpdesk signs every delivery with one of five real
//! schemes, and its signature faults (forged, tampered, stale, wrong secret)
//! are built from the same functions. The bundled reference receiver verifies
//! with [`verify`]. Each scheme is tested against the public test vectors in
//! `tests/data/signature-vectors.json`.
//!
//! | scheme | headers | signed content | signature | freshness |
//! |---|---|---|---|---|
//! | `zendesk` | `X-Zendesk-Webhook-Signature`, `X-Zendesk-Webhook-Signature-Timestamp` (ISO-8601 UTC) | timestamp header + body | base64(HMAC-SHA256(secret bytes as given)) | ±300 s (Zendesk enforces none; receivers should) |
//! | `standard-webhooks` | `webhook-id`, `webhook-timestamp` (unix s), `webhook-signature` | `{id}.{timestamp}.{body}` | `v1,` + base64(HMAC-SHA256(base64-decoded key after `whsec_`)), space-separated list | ±300 s |
//! | `hubspot-v3` | `X-HubSpot-Signature-v3`, `X-HubSpot-Request-Timestamp` (unix ms) | method + uri + body + timestamp ([`hubspot_signed_uri`]) | base64(HMAC-SHA256(client secret)) | older than 300 s rejected |
//! | `stripe` | `Stripe-Signature: t=…,v1=…` | `{t}.{body}` | hex(HMAC-SHA256(full secret incl. `whsec_`)), several `v1` allowed | older than 300 s rejected |
//! | `github` | `X-Hub-Signature-256` | body | `sha256=` + hex(HMAC-SHA256(secret)) | none (no timestamp) |
//!
//! Every comparison is constant-time (`hmac`'s `verify_slice`).
//!
//! Header names are returned in the vendor's casing (e.g.
//! `X-Zendesk-Webhook-Signature`). HTTP header names are case-insensitive;
//! insert them with `HeaderName::try_from`/`HeaderMap::insert(&str …)`, not
//! `HeaderName::from_static` (which only accepts lowercase).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

type HmacSha256 = Hmac<Sha256>;

/// A webhook signature scheme, as a real producer implements it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    /// Zendesk webhooks (`X-Zendesk-Webhook-Signature`).
    Zendesk,
    /// Standard Webhooks / Svix (`webhook-signature`).
    StandardWebhooks,
    /// HubSpot request signature v3 (`X-HubSpot-Signature-v3`).
    HubspotV3,
    /// Stripe (`Stripe-Signature`).
    Stripe,
    /// GitHub (`X-Hub-Signature-256`).
    Github,
}

/// Zendesk's signature header.
pub const ZENDESK_SIGNATURE: &str = "X-Zendesk-Webhook-Signature";
/// Zendesk's timestamp header (ISO-8601 UTC).
pub const ZENDESK_TIMESTAMP: &str = "X-Zendesk-Webhook-Signature-Timestamp";
/// Standard Webhooks' message id header.
pub const WEBHOOK_ID: &str = "webhook-id";
/// Standard Webhooks' timestamp header (unix seconds).
pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
/// Standard Webhooks' signature header (space-separated list).
pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";
/// HubSpot's v3 signature header.
pub const HUBSPOT_SIGNATURE_V3: &str = "X-HubSpot-Signature-v3";
/// HubSpot's request timestamp header (unix milliseconds).
pub const HUBSPOT_TIMESTAMP: &str = "X-HubSpot-Request-Timestamp";
/// Stripe's signature header.
pub const STRIPE_SIGNATURE: &str = "Stripe-Signature";
/// GitHub's SHA-256 signature header.
pub const GITHUB_SIGNATURE_256: &str = "X-Hub-Signature-256";

/// The tolerance every timestamped scheme uses by default: 5 minutes.
const FIVE_MINUTES: Duration = Duration::from_secs(300);

impl Scheme {
    /// Every scheme, in a stable order.
    pub const ALL: [Scheme; 5] = [
        Scheme::Zendesk,
        Scheme::StandardWebhooks,
        Scheme::HubspotV3,
        Scheme::Stripe,
        Scheme::Github,
    ];

    /// The kebab-case name used in configuration and on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Scheme::Zendesk => "zendesk",
            Scheme::StandardWebhooks => "standard-webhooks",
            Scheme::HubspotV3 => "hubspot-v3",
            Scheme::Stripe => "stripe",
            Scheme::Github => "github",
        }
    }

    /// How far a signed timestamp may be from "now" before a receiver
    /// rejects it; `None` for schemes without a timestamp (GitHub).
    ///
    /// Standard Webhooks and Zendesk (as hookproof verifies it) reject both
    /// old and future timestamps; HubSpot and Stripe, like their SDKs, only
    /// reject old ones.
    pub fn default_tolerance(&self) -> Option<Duration> {
        match self {
            Scheme::Github => None,
            _ => Some(FIVE_MINUTES),
        }
    }

    /// The headers this scheme adds to a delivery, in the vendor's casing.
    pub fn header_names(&self) -> &'static [&'static str] {
        match self {
            Scheme::Zendesk => &[ZENDESK_SIGNATURE, ZENDESK_TIMESTAMP],
            Scheme::StandardWebhooks => &[WEBHOOK_ID, WEBHOOK_TIMESTAMP, WEBHOOK_SIGNATURE],
            Scheme::HubspotV3 => &[HUBSPOT_SIGNATURE_V3, HUBSPOT_TIMESTAMP],
            Scheme::Stripe => &[STRIPE_SIGNATURE],
            Scheme::Github => &[GITHUB_SIGNATURE_256],
        }
    }

    /// Whether the scheme can carry several signatures at once (secret rotation).
    pub fn supports_rotation(&self) -> bool {
        matches!(self, Scheme::StandardWebhooks | Scheme::Stripe)
    }

    /// Whether a future timestamp beyond the tolerance is rejected too.
    fn rejects_future(&self) -> bool {
        matches!(self, Scheme::Zendesk | Scheme::StandardWebhooks)
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error for an unknown scheme name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown signature scheme `{0}` (expected one of: zendesk, standard-webhooks, hubspot-v3, stripe, github)"
)]
pub struct UnknownScheme(pub String);

impl FromStr for Scheme {
    type Err = UnknownScheme;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scheme::ALL
            .into_iter()
            .find(|scheme| scheme.name() == s)
            .ok_or_else(|| UnknownScheme(s.to_owned()))
    }
}

/// What is signed: one delivery.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// Message id (Standard Webhooks' `webhook-id`; ignored by other schemes).
    pub id: &'a str,
    /// Signing time, written into the timestamp header.
    pub timestamp: DateTime<Utc>,
    /// HTTP method (signed by HubSpot v3 only), e.g. `POST`.
    pub method: &'a str,
    /// Full request URL as the receiver sees it (signed by HubSpot v3 only),
    /// e.g. `https://example.com/webhooks/helpdesk`.
    pub url: &'a str,
    /// The raw request body, exactly as sent.
    pub body: &'a [u8],
}

/// An error while signing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SigningError {
    /// The secret cannot be used by this scheme (e.g. not base64 for Standard Webhooks).
    #[error("invalid {scheme} secret: {reason}")]
    InvalidSecret {
        /// The scheme.
        scheme: Scheme,
        /// Why the secret is unusable.
        reason: String,
    },
    /// No secret was given.
    #[error("no signing secret given")]
    NoSecret,
    /// Several secrets were given but the scheme sends a single signature.
    #[error("{0} sends a single signature; secret rotation needs standard-webhooks or stripe")]
    RotationUnsupported(Scheme),
}

/// Why a delivery's signature was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A required header is absent.
    #[error("missing header `{0}`")]
    MissingHeader(&'static str),
    /// A header is present but cannot be parsed.
    #[error("malformed header `{header}`: {reason}")]
    MalformedHeader {
        /// The header name.
        header: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// The signature header holds no signature of the version this scheme
    /// verifies (e.g. only `v1a,` entries for Standard Webhooks).
    #[error("header `{header}` holds no {version} signature")]
    NoSignature {
        /// The header name.
        header: &'static str,
        /// The version looked for, e.g. `v1`.
        version: &'static str,
    },
    /// The timestamp is older than the tolerance.
    #[error("timestamp is {age_secs} s old, tolerance is {tolerance_secs} s")]
    StaleTimestamp {
        /// How old the timestamp is, in seconds.
        age_secs: i64,
        /// The tolerance, in seconds.
        tolerance_secs: u64,
    },
    /// The timestamp is further in the future than the tolerance.
    #[error("timestamp is {ahead_secs} s in the future, tolerance is {tolerance_secs} s")]
    FutureTimestamp {
        /// How far ahead the timestamp is, in seconds.
        ahead_secs: i64,
        /// The tolerance, in seconds.
        tolerance_secs: u64,
    },
    /// No signature matches the secret and content.
    #[error("signature does not match")]
    BadSignature,
    /// The secret cannot be used by this scheme.
    #[error("invalid secret: {0}")]
    InvalidSecret(String),
}

/// Signs `msg` with `secret` and returns the headers to add, in the vendor's
/// casing.
///
/// # Errors
///
/// [`SigningError::InvalidSecret`] if a Standard Webhooks secret is not
/// base64 (with or without `whsec_` prefix and padding).
pub fn sign(
    scheme: Scheme,
    secret: &str,
    msg: &Message,
) -> Result<Vec<(&'static str, String)>, SigningError> {
    sign_with_secrets(scheme, &[secret], msg)
}

/// Signs `msg` once per secret, for secret rotation.
///
/// Standard Webhooks sends a space-separated `v1,…` list and Stripe sends
/// several `v1=` entries, one per secret, in order. The other schemes carry a
/// single signature: with more than one secret they return
/// [`SigningError::RotationUnsupported`] rather than silently dropping one.
///
/// # Errors
///
/// [`SigningError::NoSecret`] for an empty list, [`SigningError::RotationUnsupported`]
/// as above, [`SigningError::InvalidSecret`] as in [`sign`].
pub fn sign_with_secrets(
    scheme: Scheme,
    secrets: &[&str],
    msg: &Message,
) -> Result<Vec<(&'static str, String)>, SigningError> {
    let mut headers = Vec::with_capacity(3);
    Signer::new(scheme, secrets)?.sign(msg, |name, value| headers.push((name, value.to_owned())));
    Ok(headers)
}

/// A signer for one scheme and list of secrets, for a producer that signs
/// many messages: the HMAC keys are set up once (each signature clones a
/// keyed HMAC state instead of hashing the key again), the timestamp text is
/// formatted once per second (per millisecond for HubSpot) and the headers
/// are handed to a callback rather than collected. Its signatures are byte
/// for byte those of [`sign_with_secrets`], which is built on it.
#[derive(Debug)]
pub struct Signer {
    scheme: Scheme,
    /// One keyed HMAC state per secret, in order.
    macs: Vec<HmacSha256>,
    /// The last timestamp formatted: its key (seconds, or milliseconds for
    /// HubSpot) and its text.
    timestamp: std::sync::Mutex<Option<(i64, String)>>,
}

impl Signer {
    /// A signer with `secrets` (several only for schemes that support
    /// rotation, see [`sign_with_secrets`]).
    ///
    /// # Errors
    ///
    /// As [`sign_with_secrets`].
    pub fn new(scheme: Scheme, secrets: &[&str]) -> Result<Signer, SigningError> {
        if secrets.is_empty() {
            return Err(SigningError::NoSecret);
        }
        if secrets.len() > 1 && !scheme.supports_rotation() {
            return Err(SigningError::RotationUnsupported(scheme));
        }
        let macs = secrets
            .iter()
            .map(|secret| match scheme {
                Scheme::StandardWebhooks => standard_webhooks_key(secret)
                    .map(|key| hmac(&key))
                    .map_err(|reason| SigningError::InvalidSecret { scheme, reason }),
                _ => Ok(hmac(secret.as_bytes())),
            })
            .collect::<Result<_, _>>()?;
        Ok(Signer {
            scheme,
            macs,
            timestamp: std::sync::Mutex::new(None),
        })
    }

    /// The scheme it signs with.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Signs `msg`, calling `header` with each header to add (name in the
    /// vendor's casing, value), in the order [`sign_with_secrets`] returns
    /// them.
    pub fn sign(&self, msg: &Message, mut header: impl FnMut(&'static str, &str)) {
        let first = &self.macs[0];
        if self.scheme == Scheme::Github {
            header(GITHUB_SIGNATURE_256, &mac::github(first.clone(), msg.body));
            return;
        }
        let key = match self.scheme {
            Scheme::HubspotV3 => msg.timestamp.timestamp_millis(),
            _ => msg.timestamp.timestamp(),
        };
        let mut cached = self.timestamp.lock().unwrap_or_else(|e| e.into_inner());
        let ts = match &*cached {
            Some((k, text)) if *k == key => text.as_str(),
            _ => {
                let text = match self.scheme {
                    Scheme::Zendesk => zendesk_timestamp(msg.timestamp),
                    _ => key.to_string(),
                };
                &cached.insert((key, text)).1
            }
        };
        match self.scheme {
            Scheme::Zendesk => {
                header(
                    ZENDESK_SIGNATURE,
                    &mac::zendesk(first.clone(), ts, msg.body),
                );
                header(ZENDESK_TIMESTAMP, ts);
            }
            Scheme::StandardWebhooks => {
                let mut sigs = String::with_capacity(self.macs.len() * 48);
                for (i, m) in self.macs.iter().enumerate() {
                    if i > 0 {
                        sigs.push(' ');
                    }
                    sigs.push_str(&mac::standard_webhooks(m.clone(), msg.id, ts, msg.body));
                }
                header(WEBHOOK_ID, msg.id);
                header(WEBHOOK_TIMESTAMP, ts);
                header(WEBHOOK_SIGNATURE, &sigs);
            }
            Scheme::HubspotV3 => {
                let sig = mac::hubspot_v3(first.clone(), msg.method, msg.url, msg.body, ts);
                header(HUBSPOT_SIGNATURE_V3, &sig);
                header(HUBSPOT_TIMESTAMP, ts);
            }
            Scheme::Stripe => {
                let mut value = format!("t={ts}");
                for m in &self.macs {
                    value.push_str(",v1=");
                    value.push_str(&mac::stripe_v1(m.clone(), ts, msg.body));
                }
                header(STRIPE_SIGNATURE, &value);
            }
            Scheme::Github => unreachable!("signed above"),
        }
    }
}

/// Verifies a delivery's signature and timestamp as a careful receiver would.
///
/// `method` and `url` are only used by HubSpot v3 (pass the full URL the
/// producer called). `tolerance`: `None` uses [`Scheme::default_tolerance`];
/// `Some(Duration::MAX)` disables the freshness check (the timestamp must
/// still be well-formed). The signature is checked before the timestamp, so
/// a forged delivery reports [`VerifyError::BadSignature`] whatever its age.
///
/// # Errors
///
/// The first reason the delivery is rejected, see [`VerifyError`].
#[expect(
    clippy::too_many_arguments,
    reason = "fixed public API mirrors what a receiver has at hand"
)]
pub fn verify(
    scheme: Scheme,
    secret: &str,
    headers: &http::HeaderMap,
    method: &str,
    url: &str,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance: Option<Duration>,
) -> Result<(), VerifyError> {
    let tolerance = tolerance.or(scheme.default_tolerance());
    match scheme {
        Scheme::Zendesk => {
            let sig = header(headers, ZENDESK_SIGNATURE)?;
            let ts = header(headers, ZENDESK_TIMESTAMP)?;
            let sig = decode_b64(ZENDESK_SIGNATURE, sig)?;
            let mut mac = hmac(secret.as_bytes());
            mac.update(ts.as_bytes());
            mac.update(body);
            mac.verify_slice(&sig)
                .map_err(|_| VerifyError::BadSignature)?;
            let signed_at = DateTime::parse_from_rfc3339(ts)
                .map_err(|e| malformed(ZENDESK_TIMESTAMP, format!("not ISO-8601: {e}")))?
                .with_timezone(&Utc);
            check_fresh(scheme, signed_at, now, tolerance)
        }
        Scheme::StandardWebhooks => {
            let id = header(headers, WEBHOOK_ID)?;
            let ts = header(headers, WEBHOOK_TIMESTAMP)?;
            let list = header(headers, WEBHOOK_SIGNATURE)?;
            let secs: i64 = ts
                .parse()
                .map_err(|_| malformed(WEBHOOK_TIMESTAMP, "not unix seconds".into()))?;
            let key = standard_webhooks_key(secret).map_err(VerifyError::InvalidSecret)?;
            let mut mac = hmac(&key);
            mac.update(id.as_bytes());
            mac.update(b".");
            mac.update(ts.as_bytes());
            mac.update(b".");
            mac.update(body);
            let mut any_v1 = false;
            let mut ok = false;
            for entry in list.split(' ').filter(|e| !e.is_empty()) {
                let Some(sig) = entry.strip_prefix("v1,") else {
                    continue; // other versions (v1a, v2…) are skipped, as the spec says
                };
                any_v1 = true;
                if let Ok(sig) = STANDARD.decode(sig)
                    && mac.clone().verify_slice(&sig).is_ok()
                {
                    ok = true;
                }
            }
            if !any_v1 {
                return Err(VerifyError::NoSignature {
                    header: WEBHOOK_SIGNATURE,
                    version: "v1",
                });
            }
            if !ok {
                return Err(VerifyError::BadSignature);
            }
            let signed_at = from_unix(WEBHOOK_TIMESTAMP, secs, 0)?;
            check_fresh(scheme, signed_at, now, tolerance)
        }
        Scheme::HubspotV3 => {
            let sig = header(headers, HUBSPOT_SIGNATURE_V3)?;
            let ts = header(headers, HUBSPOT_TIMESTAMP)?;
            let millis: i64 = ts
                .parse()
                .map_err(|_| malformed(HUBSPOT_TIMESTAMP, "not unix milliseconds".into()))?;
            let sig = decode_b64(HUBSPOT_SIGNATURE_V3, sig)?;
            let mut mac = hmac(secret.as_bytes());
            mac.update(method.as_bytes());
            mac.update(hubspot_signed_uri(url).as_bytes());
            mac.update(body);
            mac.update(ts.as_bytes());
            mac.verify_slice(&sig)
                .map_err(|_| VerifyError::BadSignature)?;
            let signed_at = from_unix(
                HUBSPOT_TIMESTAMP,
                millis.div_euclid(1000),
                millis.rem_euclid(1000) as u32 * 1_000_000,
            )?;
            check_fresh(scheme, signed_at, now, tolerance)
        }
        Scheme::Stripe => {
            let value = header(headers, STRIPE_SIGNATURE)?;
            let mut ts = None;
            let mut sigs = Vec::new();
            for item in value.split(',') {
                let Some((key, val)) = item.trim().split_once('=') else {
                    return Err(malformed(
                        STRIPE_SIGNATURE,
                        format!("`{item}` is not key=value"),
                    ));
                };
                match key {
                    "t" => ts = Some(val),
                    "v1" => sigs.push(val),
                    _ => {} // v0 and future schemes are ignored, as Stripe's libraries do
                }
            }
            let ts = ts.ok_or_else(|| malformed(STRIPE_SIGNATURE, "no `t=` timestamp".into()))?;
            let secs: i64 = ts
                .parse()
                .map_err(|_| malformed(STRIPE_SIGNATURE, "`t=` is not unix seconds".into()))?;
            if sigs.is_empty() {
                return Err(VerifyError::NoSignature {
                    header: STRIPE_SIGNATURE,
                    version: "v1",
                });
            }
            let mut mac = hmac(secret.as_bytes());
            mac.update(ts.as_bytes());
            mac.update(b".");
            mac.update(body);
            let ok = sigs.iter().any(|sig| {
                hex::decode(sig).is_ok_and(|sig| mac.clone().verify_slice(&sig).is_ok())
            });
            if !ok {
                return Err(VerifyError::BadSignature);
            }
            let signed_at = from_unix(STRIPE_SIGNATURE, secs, 0)?;
            check_fresh(scheme, signed_at, now, tolerance)
        }
        Scheme::Github => {
            let value = header(headers, GITHUB_SIGNATURE_256)?;
            let hex_sig = value
                .strip_prefix("sha256=")
                .ok_or_else(|| malformed(GITHUB_SIGNATURE_256, "no `sha256=` prefix".into()))?;
            let sig = hex::decode(hex_sig)
                .map_err(|e| malformed(GITHUB_SIGNATURE_256, format!("not hex: {e}")))?;
            let mut mac = hmac(secret.as_bytes());
            mac.update(body);
            mac.verify_slice(&sig)
                .map_err(|_| VerifyError::BadSignature)
        }
    }
}

/// A realistic secret for `scheme`, derived deterministically from `seed_bytes`.
///
/// | scheme | shape |
/// |---|---|
/// | `zendesk` | 44 chars, URL-safe base64 of 32 bytes (as in Zendesk's docs) |
/// | `standard-webhooks` | `whsec_` + base64 of the 24 seed bytes |
/// | `hubspot-v3` | a lowercase UUID-shaped app client secret |
/// | `stripe` | `whsec_` + 32 alphanumeric chars |
/// | `github` | 48 lowercase hex chars (as `openssl rand -hex 24`) |
pub fn generate_secret(scheme: Scheme, seed_bytes: [u8; 24]) -> String {
    match scheme {
        Scheme::Zendesk => URL_SAFE.encode(Sha256::digest(seed_bytes)),
        Scheme::StandardWebhooks => format!("whsec_{}", STANDARD.encode(seed_bytes)),
        Scheme::HubspotV3 => {
            let h = hex::encode(&seed_bytes[..16]);
            format!(
                "{}-{}-{}-{}-{}",
                &h[..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..32]
            )
        }
        Scheme::Stripe => {
            const ALPHABET: &[u8] =
                b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
            let digest = Sha256::digest(seed_bytes);
            let tail: String = digest
                .iter()
                .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
                .collect();
            format!("whsec_{tail}")
        }
        Scheme::Github => hex::encode(seed_bytes),
    }
}

/// The exact timestamp format Zendesk sends: `2025-01-08T10:12:07Z`.
pub fn zendesk_timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Decodes a Standard Webhooks secret into its key bytes: the `whsec_` prefix
/// is optional and so is base64 padding (as in the reference libraries).
///
/// # Errors
///
/// A lowercase reason when the rest is not base64.
pub fn standard_webhooks_key(secret: &str) -> Result<Vec<u8>, String> {
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    let b64 = b64.trim_end_matches('=');
    let padded = format!("{b64}{}", "=".repeat((4 - b64.len() % 4) % 4));
    STANDARD
        .decode(padded)
        .map_err(|e| format!("not base64 after the optional `whsec_` prefix: {e}"))
}

/// The URI HubSpot v3 signs: the full URL with the escapes of
/// `: / ? @ ! $ ' ( ) * , ;` decoded (`%3A` → `:` …, either hex case), as
/// HubSpot's "validating requests" guide tells receivers to do. Other
/// escapes (`%20`, `%26`…) stay as they are.
pub fn hubspot_signed_uri(url: &str) -> std::borrow::Cow<'_, str> {
    if !url.contains('%') {
        return std::borrow::Cow::Borrowed(url);
    }
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let escape = rest.get(i + 1..i + 3).unwrap_or_default();
        let decoded = match escape.to_ascii_uppercase().as_str() {
            "3A" => Some(':'),
            "2F" => Some('/'),
            "3F" => Some('?'),
            "40" => Some('@'),
            "21" => Some('!'),
            "24" => Some('$'),
            "27" => Some('\''),
            "28" => Some('('),
            "29" => Some(')'),
            "2A" => Some('*'),
            "2C" => Some(','),
            "3B" => Some(';'),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[i + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// The signature values themselves, for any timestamp string or content,
/// including ones [`sign`] would never produce (used for test vectors and
/// for forging deliveries).
pub mod raw {
    use super::{hmac, mac};

    /// Zendesk: base64(HMAC-SHA256(secret bytes as given, timestamp + body)).
    pub fn zendesk(secret: &str, timestamp: &str, body: &[u8]) -> String {
        mac::zendesk(hmac(secret.as_bytes()), timestamp, body)
    }

    /// Standard Webhooks: `v1,` + base64(HMAC-SHA256(key, `{id}.{timestamp}.{body}`)),
    /// with `key` already decoded (see [`super::standard_webhooks_key`]).
    pub fn standard_webhooks(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> String {
        mac::standard_webhooks(hmac(key), id, timestamp, body)
    }

    /// HubSpot v3: base64(HMAC-SHA256(client secret, method + uri + body + timestamp_ms)),
    /// where uri is `url` with HubSpot's reserved-character escapes decoded
    /// (see [`super::hubspot_signed_uri`]).
    pub fn hubspot_v3(
        client_secret: &str,
        method: &str,
        url: &str,
        body: &[u8],
        timestamp_ms: &str,
    ) -> String {
        mac::hubspot_v3(
            hmac(client_secret.as_bytes()),
            method,
            url,
            body,
            timestamp_ms,
        )
    }

    /// Stripe: the hex `v1` value, HMAC-SHA256(full secret incl. `whsec_`, `{t}.{body}`).
    pub fn stripe_v1(secret: &str, timestamp: &str, body: &[u8]) -> String {
        mac::stripe_v1(hmac(secret.as_bytes()), timestamp, body)
    }

    /// GitHub: `sha256=` + hex(HMAC-SHA256(secret, body)).
    pub fn github(secret: &str, body: &[u8]) -> String {
        mac::github(hmac(secret.as_bytes()), body)
    }
}

/// Each scheme's signature from an HMAC state already keyed with its
/// secret: what [`raw`] and [`Signer`] share.
mod mac {
    use super::{HmacSha256, STANDARD};
    use base64::Engine as _;
    use hmac::Mac;

    pub(super) fn zendesk(mut mac: HmacSha256, timestamp: &str, body: &[u8]) -> String {
        mac.update(timestamp.as_bytes());
        mac.update(body);
        STANDARD.encode(mac.finalize().into_bytes())
    }

    pub(super) fn standard_webhooks(
        mut mac: HmacSha256,
        id: &str,
        timestamp: &str,
        body: &[u8],
    ) -> String {
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }

    pub(super) fn hubspot_v3(
        mut mac: HmacSha256,
        method: &str,
        url: &str,
        body: &[u8],
        timestamp_ms: &str,
    ) -> String {
        mac.update(method.as_bytes());
        mac.update(super::hubspot_signed_uri(url).as_bytes());
        mac.update(body);
        mac.update(timestamp_ms.as_bytes());
        STANDARD.encode(mac.finalize().into_bytes())
    }

    pub(super) fn stripe_v1(mut mac: HmacSha256, timestamp: &str, body: &[u8]) -> String {
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    pub(super) fn github(mut mac: HmacSha256, body: &[u8]) -> String {
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }
}

fn hmac(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("hmac accepts keys of any length"),
    }
}

fn header<'h>(headers: &'h http::HeaderMap, name: &'static str) -> Result<&'h str, VerifyError> {
    let value = headers.get(name).ok_or(VerifyError::MissingHeader(name))?;
    let value = value
        .to_str()
        .map_err(|_| malformed(name, "not visible ASCII".into()))?;
    Ok(value.trim())
}

fn malformed(header: &'static str, reason: String) -> VerifyError {
    VerifyError::MalformedHeader { header, reason }
}

fn decode_b64(name: &'static str, value: &str) -> Result<Vec<u8>, VerifyError> {
    STANDARD
        .decode(value)
        .map_err(|e| malformed(name, format!("not base64: {e}")))
}

fn from_unix(name: &'static str, secs: i64, nanos: u32) -> Result<DateTime<Utc>, VerifyError> {
    Utc.timestamp_opt(secs, nanos)
        .single()
        .ok_or_else(|| malformed(name, "timestamp out of range".into()))
}

fn check_fresh(
    scheme: Scheme,
    signed_at: DateTime<Utc>,
    now: DateTime<Utc>,
    tolerance: Option<Duration>,
) -> Result<(), VerifyError> {
    let Some(tolerance) = tolerance else {
        return Ok(());
    };
    let Ok(tol) = chrono::Duration::from_std(tolerance) else {
        return Ok(()); // beyond chrono's range: effectively unlimited
    };
    let tolerance_secs = tolerance.as_secs();
    let age = now.signed_duration_since(signed_at);
    if age > tol {
        return Err(VerifyError::StaleTimestamp {
            age_secs: age.num_seconds(),
            tolerance_secs,
        });
    }
    if scheme.rejects_future() && -age > tol {
        return Err(VerifyError::FutureTimestamp {
            ahead_secs: (-age).num_seconds(),
            tolerance_secs,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"id":"cbe4028c","type":"zen:event-type:ticket.created"}"#;

    fn secret(scheme: Scheme) -> String {
        generate_secret(scheme, [7; 24])
    }

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).single().expect("valid time")
    }

    fn msg(ts: DateTime<Utc>) -> Message<'static> {
        Message {
            id: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
            timestamp: ts,
            method: "POST",
            url: "https://127.0.0.1:8080/webhooks/helpdesk",
            body: BODY,
        }
    }

    fn to_map(pairs: &[(&'static str, String)]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::try_from(*name).expect("name"),
                value.parse().expect("value"),
            );
        }
        map
    }

    fn check(
        scheme: Scheme,
        secret: &str,
        map: &http::HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), VerifyError> {
        verify(
            scheme,
            secret,
            map,
            "POST",
            "https://127.0.0.1:8080/webhooks/helpdesk",
            body,
            now,
            None,
        )
    }

    const T0: i64 = 1_736_331_127; // 2025-01-08T10:12:07Z

    #[test]
    fn names_round_trip() {
        for scheme in Scheme::ALL {
            assert_eq!(scheme.to_string().parse::<Scheme>(), Ok(scheme));
            let json = serde_json::to_string(&scheme).expect("serializes");
            assert_eq!(json, format!("\"{scheme}\""));
            assert_eq!(
                serde_json::from_str::<Scheme>(&json).expect("parses"),
                scheme
            );
        }
        let err = "svix".parse::<Scheme>().expect_err("unknown");
        assert!(err.to_string().contains("standard-webhooks"), "{err}");
    }

    #[test]
    fn zendesk_timestamp_format() {
        assert_eq!(zendesk_timestamp(at(T0)), "2025-01-08T10:12:07Z");
    }

    #[test]
    fn every_scheme_round_trips_and_rejects_tampering() {
        for scheme in Scheme::ALL {
            let secret = secret(scheme);
            let signed = sign(scheme, &secret, &msg(at(T0))).expect("signs");
            let names: Vec<_> = signed.iter().map(|(n, _)| *n).collect();
            assert_eq!(names, scheme.header_names(), "{scheme}");
            let map = to_map(&signed);
            check(scheme, &secret, &map, BODY, at(T0 + 10)).expect("verifies");
            // Tampered body.
            let mut tampered = BODY.to_vec();
            tampered[3] ^= 1;
            assert_eq!(
                check(scheme, &secret, &map, &tampered, at(T0)),
                Err(VerifyError::BadSignature),
                "{scheme} tampered"
            );
            // Wrong secret.
            let wrong = generate_secret(scheme, [8; 24]);
            assert_eq!(
                check(scheme, &wrong, &map, BODY, at(T0)),
                Err(VerifyError::BadSignature),
                "{scheme} wrong secret"
            );
            // Each missing header.
            for name in scheme.header_names() {
                let mut map = map.clone();
                map.remove(*name);
                assert_eq!(
                    check(scheme, &secret, &map, BODY, at(T0)),
                    Err(VerifyError::MissingHeader(name)),
                    "{scheme} without {name}"
                );
            }
        }
    }

    #[test]
    fn stale_and_future_timestamps() {
        for scheme in Scheme::ALL {
            let secret = secret(scheme);
            let map = to_map(&sign(scheme, &secret, &msg(at(T0))).expect("signs"));
            let stale = check(scheme, &secret, &map, BODY, at(T0 + 301));
            let future = check(scheme, &secret, &map, BODY, at(T0 - 301));
            match scheme {
                Scheme::Github => {
                    assert_eq!(stale, Ok(()));
                    assert_eq!(future, Ok(()));
                }
                Scheme::Zendesk | Scheme::StandardWebhooks => {
                    assert!(
                        matches!(stale, Err(VerifyError::StaleTimestamp { .. })),
                        "{scheme}"
                    );
                    assert!(
                        matches!(future, Err(VerifyError::FutureTimestamp { .. })),
                        "{scheme}"
                    );
                }
                Scheme::HubspotV3 | Scheme::Stripe => {
                    assert!(
                        matches!(stale, Err(VerifyError::StaleTimestamp { .. })),
                        "{scheme}"
                    );
                    assert_eq!(future, Ok(()), "{scheme} only rejects old timestamps");
                }
            }
            // Exactly at the edge is still fresh.
            assert_eq!(check(scheme, &secret, &map, BODY, at(T0 + 300)), Ok(()));
            // A custom tolerance applies.
            let tight = verify(
                scheme,
                &secret,
                &map,
                "POST",
                "https://127.0.0.1:8080/webhooks/helpdesk",
                BODY,
                at(T0 + 5),
                Some(Duration::from_secs(1)),
            );
            if scheme == Scheme::Github {
                assert_eq!(tight, Ok(()));
            } else {
                assert!(
                    matches!(tight, Err(VerifyError::StaleTimestamp { .. })),
                    "{scheme}"
                );
            }
        }
    }

    #[test]
    fn malformed_headers() {
        let cases: [(Scheme, &str, &str); 7] = [
            (Scheme::Zendesk, ZENDESK_SIGNATURE, "not base64!"),
            (Scheme::StandardWebhooks, WEBHOOK_TIMESTAMP, "yesterday"),
            (Scheme::HubspotV3, HUBSPOT_TIMESTAMP, "2025-01-08"),
            (Scheme::HubspotV3, HUBSPOT_SIGNATURE_V3, "%%%"),
            (Scheme::Stripe, STRIPE_SIGNATURE, "v1=abcd"),
            (Scheme::Stripe, STRIPE_SIGNATURE, "garbage"),
            (Scheme::Github, GITHUB_SIGNATURE_256, "sha1=abcd"),
        ];
        for (scheme, name, value) in cases {
            let secret = secret(scheme);
            let mut map = to_map(&sign(scheme, &secret, &msg(at(T0))).expect("signs"));
            map.insert(
                http::HeaderName::try_from(name).expect("name"),
                value.parse().expect("value"),
            );
            let r = check(scheme, &secret, &map, BODY, at(T0));
            assert!(
                matches!(r, Err(VerifyError::MalformedHeader { header, .. }) if header == name),
                "{scheme} {name}={value}: {r:?}"
            );
        }
    }

    #[test]
    fn unknown_versions_only_is_no_signature() {
        let secret = secret(Scheme::StandardWebhooks);
        let mut map =
            to_map(&sign(Scheme::StandardWebhooks, &secret, &msg(at(T0))).expect("signs"));
        map.insert(
            WEBHOOK_SIGNATURE,
            "v1a,abcd v2,efgh".parse().expect("value"),
        );
        assert_eq!(
            check(Scheme::StandardWebhooks, &secret, &map, BODY, at(T0)),
            Err(VerifyError::NoSignature {
                header: WEBHOOK_SIGNATURE,
                version: "v1"
            })
        );
        let secret = secret_for_stripe();
        let mut map = to_map(&sign(Scheme::Stripe, &secret, &msg(at(T0))).expect("signs"));
        map.insert(
            "stripe-signature",
            format!("t={T0},v0=abcd").parse().expect("value"),
        );
        assert!(matches!(
            check(Scheme::Stripe, &secret, &map, BODY, at(T0)),
            Err(VerifyError::NoSignature { .. })
        ));
    }

    fn secret_for_stripe() -> String {
        secret(Scheme::Stripe)
    }

    #[test]
    fn rotation_lists() {
        let old = generate_secret(Scheme::StandardWebhooks, [1; 24]);
        let new = generate_secret(Scheme::StandardWebhooks, [2; 24]);
        let signed = sign_with_secrets(Scheme::StandardWebhooks, &[&old, &new], &msg(at(T0)))
            .expect("signs");
        let list = &signed[2].1;
        assert_eq!(list.split(' ').count(), 2, "{list}");
        let map = to_map(&signed);
        for secret in [&old, &new] {
            check(Scheme::StandardWebhooks, secret, &map, BODY, at(T0)).expect("either verifies");
        }
        let other = generate_secret(Scheme::StandardWebhooks, [3; 24]);
        assert_eq!(
            check(Scheme::StandardWebhooks, &other, &map, BODY, at(T0)),
            Err(VerifyError::BadSignature)
        );

        let old = generate_secret(Scheme::Stripe, [1; 24]);
        let new = generate_secret(Scheme::Stripe, [2; 24]);
        let signed = sign_with_secrets(Scheme::Stripe, &[&old, &new], &msg(at(T0))).expect("signs");
        assert_eq!(signed[0].1.matches(",v1=").count(), 2, "{}", signed[0].1);
        let map = to_map(&signed);
        for secret in [&old, &new] {
            check(Scheme::Stripe, secret, &map, BODY, at(T0)).expect("either verifies");
        }

        for scheme in [Scheme::Zendesk, Scheme::HubspotV3, Scheme::Github] {
            assert_eq!(
                sign_with_secrets(scheme, &["a", "b"], &msg(at(T0))),
                Err(SigningError::RotationUnsupported(scheme))
            );
        }
        assert_eq!(
            sign_with_secrets(Scheme::Github, &[], &msg(at(T0))),
            Err(SigningError::NoSecret)
        );
    }

    #[test]
    fn hubspot_uri_decoding() {
        assert_eq!(
            hubspot_signed_uri("https://x.test/hook?a=b%3Ac%2fd%20e%26f%3b%"),
            "https://x.test/hook?a=b:c/d%20e%26f;%"
        );
        assert_eq!(
            hubspot_signed_uri("https://x.test/plain"),
            "https://x.test/plain"
        );
        // Signing and verifying agree whether or not the receiver decodes.
        let secret = secret(Scheme::HubspotV3);
        let m = Message {
            url: "https://x.test/hook?email=a%40b.test",
            ..msg(at(T0))
        };
        let map = to_map(&sign(Scheme::HubspotV3, &secret, &m).expect("signs"));
        for url in [
            "https://x.test/hook?email=a%40b.test",
            "https://x.test/hook?email=a@b.test",
        ] {
            verify(
                Scheme::HubspotV3,
                &secret,
                &map,
                "POST",
                url,
                BODY,
                at(T0),
                None,
            )
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        }
    }

    #[test]
    fn unpadded_standard_webhooks_secret() {
        let key = [9u8; 20]; // base64 needs one '=' of padding
        let padded = format!("whsec_{}", STANDARD.encode(key));
        assert!(padded.ends_with('='));
        let unpadded = padded.trim_end_matches('=');
        assert_eq!(
            standard_webhooks_key(unpadded).expect("decodes"),
            key.to_vec()
        );
        let a = sign(Scheme::StandardWebhooks, &padded, &msg(at(T0))).expect("signs");
        let b = sign(Scheme::StandardWebhooks, unpadded, &msg(at(T0))).expect("signs");
        assert_eq!(a, b);
    }

    #[test]
    fn invalid_standard_webhooks_secret() {
        let r = sign(Scheme::StandardWebhooks, "whsec_not base64!", &msg(at(T0)));
        assert!(
            matches!(r, Err(SigningError::InvalidSecret { .. })),
            "{r:?}"
        );
    }

    #[test]
    fn generated_secrets_look_real_and_are_deterministic() {
        let seed = [42; 24];
        let zd = generate_secret(Scheme::Zendesk, seed);
        assert_eq!(zd.len(), 44);
        let sw = generate_secret(Scheme::StandardWebhooks, seed);
        assert!(sw.starts_with("whsec_") && sw.len() == 38, "{sw}");
        assert_eq!(standard_webhooks_key(&sw).expect("decodes"), seed.to_vec());
        let hs = generate_secret(Scheme::HubspotV3, seed);
        assert_eq!(
            hs.split('-').map(str::len).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        let st = generate_secret(Scheme::Stripe, seed);
        assert!(st.starts_with("whsec_") && st.len() == 38, "{st}");
        assert!(st[6..].chars().all(|c| c.is_ascii_alphanumeric()));
        let gh = generate_secret(Scheme::Github, seed);
        assert_eq!(gh.len(), 48);
        for scheme in Scheme::ALL {
            assert_eq!(generate_secret(scheme, seed), generate_secret(scheme, seed));
            assert_ne!(
                generate_secret(scheme, seed),
                generate_secret(scheme, [43; 24])
            );
        }
    }

    #[test]
    fn header_lookup_is_case_insensitive() {
        let secret = secret(Scheme::Zendesk);
        let signed = sign(Scheme::Zendesk, &secret, &msg(at(T0))).expect("signs");
        let mut map = http::HeaderMap::new();
        for (name, value) in &signed {
            map.insert(
                http::HeaderName::try_from(name.to_ascii_lowercase()).expect("name"),
                value.parse().expect("value"),
            );
        }
        check(Scheme::Zendesk, &secret, &map, BODY, at(T0)).expect("verifies");
    }
}
