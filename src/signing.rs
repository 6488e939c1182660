//! TODO: signing
