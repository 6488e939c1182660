//! TEMPORARY shim (zendesk only) until the real signing module lands.
#![allow(missing_docs)]
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    Zendesk,
    StandardWebhooks,
    HubspotV3,
    Stripe,
    Github,
}
impl std::str::FromStr for Scheme {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "zendesk" => Ok(Scheme::Zendesk),
            _ => Err(format!("unknown scheme {s}")),
        }
    }
}
impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("zendesk")
    }
}
pub struct Message<'a> {
    pub id: &'a str,
    pub timestamp: chrono::DateTime<chrono::Utc>,
    pub method: &'a str,
    pub url: &'a str,
    pub body: &'a [u8],
}
#[derive(Debug, thiserror::Error)]
#[error("signing error")]
pub struct SigningError;
pub fn sign(
    _scheme: Scheme,
    secret: &str,
    msg: &Message,
) -> Result<Vec<(&'static str, String)>, SigningError> {
    let ts = msg
        .timestamp
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(ts.as_bytes());
    mac.update(msg.body);
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    Ok(vec![
        ("X-Zendesk-Webhook-Signature", sig),
        ("X-Zendesk-Webhook-Signature-Timestamp", ts),
    ])
}
pub fn generate_secret(_scheme: Scheme, seed_bytes: [u8; 24]) -> String {
    base64::engine::general_purpose::STANDARD.encode(seed_bytes)
}
