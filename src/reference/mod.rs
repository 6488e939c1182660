//! The bundled reference receiver.
