//! Configuration of the reference receiver, read from the SUT protocol's
//! environment variables, and the receiver's error type.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::reference::flaw::Flaw;
use crate::signing::Scheme;

/// Default webhook path when `HOOKPROOF_WEBHOOK_PATH` is unset.
pub const DEFAULT_WEBHOOK_PATH: &str = "/webhooks/helpdesk";

/// Everything the reference receiver needs to run.
#[derive(Debug, Clone)]
pub struct ReferenceConfig {
    /// Address to listen on (`HOOKPROOF_LISTEN`).
    pub listen: SocketAddr,
    /// Webhook signing secret (`HOOKPROOF_WEBHOOK_SECRET`).
    pub secret: String,
    /// Signature scheme (`HOOKPROOF_SIGNATURE_SCHEME`, default `zendesk`).
    pub scheme: Scheme,
    /// Base URL of the CRM (`HOOKPROOF_CRM_URL`).
    pub crm_url: String,
    /// Bearer token for the CRM (`HOOKPROOF_CRM_TOKEN`).
    pub crm_token: String,
    /// Base URL of the helpdesk REST API (`HOOKPROOF_HELPDESK_URL`).
    pub helpdesk_url: String,
    /// Bearer token for the helpdesk API (`HOOKPROOF_HELPDESK_TOKEN`).
    pub helpdesk_token: String,
    /// Directory for durable state (`HOOKPROOF_STATE_DIR`).
    pub state_dir: PathBuf,
    /// Path webhooks are posted to (`HOOKPROOF_WEBHOOK_PATH`).
    pub webhook_path: String,
    /// The deliberate flaw to run with, if any.
    pub flaw: Option<Flaw>,
}

/// Why the reference receiver could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceError {
    /// A required environment variable is not set.
    #[error("environment variable {0} is not set")]
    MissingVar(&'static str),
    /// An environment variable has an unusable value.
    #[error("environment variable {var} is invalid: {reason}")]
    InvalidVar {
        /// The variable.
        var: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// The state directory or inbox database could not be opened.
    #[error("failed to open the inbox in {path}")]
    Inbox {
        /// The database path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// The state directory could not be created.
    #[error("failed to create the state directory {path}")]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP client could not be built.
    #[error("failed to build the HTTP client")]
    Client(#[source] reqwest::Error),
    /// Binding or serving the listener failed.
    #[error("failed to serve on {addr}: {source}")]
    Io {
        /// The listen address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl ReferenceConfig {
    /// Read the configuration from the `HOOKPROOF_*` environment variables.
    pub fn from_env(flaw: Option<Flaw>) -> Result<Self, ReferenceError> {
        Self::from_lookup(flaw, |name| std::env::var(name).ok())
    }

    /// Read the configuration through `lookup` (for tests and embedding).
    pub fn from_lookup(
        flaw: Option<Flaw>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ReferenceError> {
        let required = |var: &'static str| -> Result<String, ReferenceError> {
            match lookup(var) {
                Some(v) if !v.is_empty() => Ok(v),
                _ => Err(ReferenceError::MissingVar(var)),
            }
        };
        let listen_raw = required("HOOKPROOF_LISTEN")?;
        let listen = listen_raw
            .parse::<SocketAddr>()
            .map_err(|e| ReferenceError::InvalidVar {
                var: "HOOKPROOF_LISTEN",
                reason: format!("`{listen_raw}` is not an address like 127.0.0.1:8080 ({e})"),
            })?;
        let scheme = match lookup("HOOKPROOF_SIGNATURE_SCHEME").filter(|s| !s.is_empty()) {
            None => Scheme::Zendesk,
            Some(s) => s
                .parse::<Scheme>()
                .map_err(|e| ReferenceError::InvalidVar {
                    var: "HOOKPROOF_SIGNATURE_SCHEME",
                    reason: e.to_string(),
                })?,
        };
        let url = |var: &'static str| -> Result<String, ReferenceError> {
            let v = required(var)?;
            if !(v.starts_with("http://") || v.starts_with("https://")) {
                return Err(ReferenceError::InvalidVar {
                    var,
                    reason: format!("`{v}` is not an http(s) URL"),
                });
            }
            Ok(v.trim_end_matches('/').to_owned())
        };
        let webhook_path = lookup("HOOKPROOF_WEBHOOK_PATH")
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_WEBHOOK_PATH.to_owned());
        if !webhook_path.starts_with('/') {
            return Err(ReferenceError::InvalidVar {
                var: "HOOKPROOF_WEBHOOK_PATH",
                reason: format!("`{webhook_path}` must start with `/`"),
            });
        }
        Ok(ReferenceConfig {
            listen,
            secret: required("HOOKPROOF_WEBHOOK_SECRET")?,
            scheme,
            crm_url: url("HOOKPROOF_CRM_URL")?,
            crm_token: required("HOOKPROOF_CRM_TOKEN")?,
            helpdesk_url: url("HOOKPROOF_HELPDESK_URL")?,
            helpdesk_token: required("HOOKPROOF_HELPDESK_TOKEN")?,
            state_dir: PathBuf::from(required("HOOKPROOF_STATE_DIR")?),
            webhook_path,
            flaw,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env() -> HashMap<&'static str, String> {
        [
            ("HOOKPROOF_LISTEN", "127.0.0.1:9000"),
            ("HOOKPROOF_WEBHOOK_SECRET", "s3cret"),
            ("HOOKPROOF_CRM_URL", "http://127.0.0.1:1/"),
            ("HOOKPROOF_CRM_TOKEN", "tok"),
            ("HOOKPROOF_HELPDESK_URL", "http://127.0.0.1:2"),
            ("HOOKPROOF_HELPDESK_TOKEN", "htok"),
            ("HOOKPROOF_STATE_DIR", "/tmp/x"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_owned()))
        .collect()
    }

    #[test]
    fn reads_defaults() {
        let vars = env();
        let cfg = ReferenceConfig::from_lookup(None, |k| vars.get(k).cloned()).unwrap();
        assert_eq!(cfg.scheme, Scheme::Zendesk);
        assert_eq!(cfg.webhook_path, DEFAULT_WEBHOOK_PATH);
        assert_eq!(cfg.crm_url, "http://127.0.0.1:1");
    }

    #[test]
    fn names_missing_and_invalid_variables() {
        let mut vars = env();
        vars.remove("HOOKPROOF_CRM_TOKEN");
        let err = ReferenceConfig::from_lookup(None, |k| vars.get(k).cloned()).unwrap_err();
        assert!(err.to_string().contains("HOOKPROOF_CRM_TOKEN"));

        let mut vars = env();
        vars.insert("HOOKPROOF_LISTEN", "nope".into());
        let err = ReferenceConfig::from_lookup(None, |k| vars.get(k).cloned()).unwrap_err();
        assert!(err.to_string().contains("HOOKPROOF_LISTEN"));

        let mut vars = env();
        vars.insert("HOOKPROOF_SIGNATURE_SCHEME", "rot13".into());
        let err = ReferenceConfig::from_lookup(None, |k| vars.get(k).cloned()).unwrap_err();
        assert!(err.to_string().contains("HOOKPROOF_SIGNATURE_SCHEME"));
    }
}
