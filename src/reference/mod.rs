//! TEMPORARY stub (the reference receiver lands from the `ref` branch).
#![allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    AckBeforeCommit,
}
impl std::str::FromStr for Flaw {
    type Err = String;
    fn from_str(_: &str) -> Result<Self, String> {
        Err("stub".into())
    }
}
impl std::fmt::Display for Flaw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("x")
    }
}
impl Flaw {
    pub fn all() -> &'static [Flaw] {
        &[]
    }
    pub fn description(&self) -> &'static str {
        ""
    }
}
#[derive(Debug, thiserror::Error)]
#[error("stub")]
pub struct ReferenceError;
pub struct ReferenceConfig;
impl ReferenceConfig {
    pub fn from_env(_f: Option<Flaw>) -> Result<Self, ReferenceError> {
        Err(ReferenceError)
    }
}
pub async fn serve(_c: ReferenceConfig) -> Result<(), ReferenceError> {
    Ok(())
}
