//! Checks (oracles).
