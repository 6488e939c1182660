//! TODO: producer
