//! The command-line interface: parses flags, runs the library, prints, exits.

/// Entry point of the `hookproof` binary; returns the process exit code.
pub fn main() -> i32 {
    0
}
