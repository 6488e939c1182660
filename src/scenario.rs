//! TODO: scenario
