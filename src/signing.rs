//! Throwaway signing shim (Zendesk only) so the reference receiver builds on
//! its own branch. Replaced by the real `signing` module at merge; it
//! implements exactly the agreed public API.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const ZENDESK_SIGNATURE: &str = "x-zendesk-webhook-signature";
const ZENDESK_TIMESTAMP: &str = "x-zendesk-webhook-signature-timestamp";
const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// A webhook signature scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Zendesk webhooks.
    Zendesk,
    /// Standard Webhooks (Svix).
    StandardWebhooks,
    /// HubSpot signature v3.
    HubspotV3,
    /// Stripe.
    Stripe,
    /// GitHub.
    Github,
}

impl FromStr for Scheme {
    type Err = UnknownScheme;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "zendesk" => Ok(Scheme::Zendesk),
            "standard-webhooks" => Ok(Scheme::StandardWebhooks),
            "hubspot-v3" => Ok(Scheme::HubspotV3),
            "stripe" => Ok(Scheme::Stripe),
            "github" => Ok(Scheme::Github),
            other => Err(UnknownScheme(other.to_owned())),
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scheme::Zendesk => "zendesk",
            Scheme::StandardWebhooks => "standard-webhooks",
            Scheme::HubspotV3 => "hubspot-v3",
            Scheme::Stripe => "stripe",
            Scheme::Github => "github",
        })
    }
}

/// An unknown scheme name.
#[derive(Debug, thiserror::Error)]
#[error("unknown signature scheme `{0}`")]
pub struct UnknownScheme(pub String);

/// What is signed.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    /// Delivery id.
    pub id: &'a str,
    /// Signing time.
    pub timestamp: DateTime<Utc>,
    /// HTTP method.
    pub method: &'a str,
    /// Full URL.
    pub url: &'a str,
    /// Raw body.
    pub body: &'a [u8],
}

/// Why a delivery failed verification.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// A required header is missing.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// The timestamp header is unreadable.
    #[error("invalid timestamp")]
    InvalidTimestamp,
    /// The timestamp is outside the tolerance.
    #[error("stale timestamp")]
    Stale,
    /// The signature does not match.
    #[error("signature mismatch")]
    Mismatch,
    /// The shim does not implement this scheme.
    #[error("scheme {0} not supported by the shim")]
    Unsupported(Scheme),
}

/// Why signing failed.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// The shim does not implement this scheme.
    #[error("scheme {0} not supported by the shim")]
    Unsupported(Scheme),
}

fn zendesk_mac(secret: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("hmac accepts any key");
    mac.update(timestamp.as_bytes());
    mac.update(body);
    mac
}

/// Verify a delivery.
#[allow(clippy::too_many_arguments)]
pub fn verify(
    scheme: Scheme,
    secret: &str,
    headers: &http::HeaderMap,
    _method: &str,
    _url: &str,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance: Option<Duration>,
) -> Result<(), VerifyError> {
    if scheme != Scheme::Zendesk {
        return Err(VerifyError::Unsupported(scheme));
    }
    let sig = headers
        .get(ZENDESK_SIGNATURE)
        .and_then(|v| v.to_str().ok())
        .ok_or(VerifyError::MissingHeader("X-Zendesk-Webhook-Signature"))?;
    let ts = headers
        .get(ZENDESK_TIMESTAMP)
        .and_then(|v| v.to_str().ok())
        .ok_or(VerifyError::MissingHeader(
            "X-Zendesk-Webhook-Signature-Timestamp",
        ))?;
    let when = DateTime::parse_from_rfc3339(ts)
        .map_err(|_| VerifyError::InvalidTimestamp)?
        .with_timezone(&Utc);
    let tolerance = tolerance.unwrap_or(DEFAULT_TOLERANCE);
    let skew = (now - when).num_milliseconds().unsigned_abs();
    if u128::from(skew) > tolerance.as_millis() {
        return Err(VerifyError::Stale);
    }
    let expected = base64::engine::general_purpose::STANDARD
        .decode(sig)
        .map_err(|_| VerifyError::Mismatch)?;
    zendesk_mac(secret, ts, body)
        .verify_slice(&expected)
        .map_err(|_| VerifyError::Mismatch)
}

/// Sign a delivery: the headers to send.
pub fn sign(
    scheme: Scheme,
    secret: &str,
    msg: &Message,
) -> Result<Vec<(&'static str, String)>, SigningError> {
    if scheme != Scheme::Zendesk {
        return Err(SigningError::Unsupported(scheme));
    }
    let ts = msg.timestamp.to_rfc3339_opts(SecondsFormat::Secs, true);
    let sig = base64::engine::general_purpose::STANDARD
        .encode(zendesk_mac(secret, &ts, msg.body).finalize().into_bytes());
    Ok(vec![
        ("X-Zendesk-Webhook-Signature", sig),
        ("X-Zendesk-Webhook-Signature-Timestamp", ts),
    ])
}

/// Shim: a secret derived from `seed_bytes`.
pub fn generate_secret(_scheme: Scheme, seed_bytes: [u8; 24]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(seed_bytes)
}
