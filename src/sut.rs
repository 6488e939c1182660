//! TODO: sut
