//! TODO: history
