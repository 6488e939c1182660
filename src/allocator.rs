//! The allocator every hookproof binary runs on: jemalloc, told to keep the
//! pages it frees.
//!
//! The mock CRM and the proxy allocate a few dozen small objects per
//! request on two threads, which glibc's malloc serves markedly slower; the
//! checks build indexes of hundreds of megabytes over a large run and free
//! them again. By default jemalloc hands freed pages back to the kernel
//! over ten seconds, and the next index faults every one of them in again,
//! zero-filled: a quarter of the checks' time over a million events went to
//! page faults (see BENCHMARKS.md). `dirty_decay_ms:-1` keeps freed pages
//! for reuse instead. hookproof is a batch tool whose peak is what it
//! needs anyway; the resident set stays at that peak rather than falling
//! back between scenarios.

/// jemalloc's options, read when it starts (`malloc_conf`, a C string).
#[doc(hidden)]
pub const MALLOC_CONF: &[u8; 18] = b"dirty_decay_ms:-1\0";

/// Declares jemalloc as the global allocator, configured as
/// [`crate::allocator`] says. Once, at the root of a binary (`main.rs`, a
/// bench or an example):
///
/// ```ignore
/// hookproof::global_allocator!();
/// ```
#[macro_export]
macro_rules! global_allocator {
    () => {
        #[global_allocator]
        static ALLOCATOR: $crate::allocator::Jemalloc = $crate::allocator::Jemalloc;

        /// jemalloc reads its options from this symbol when it starts.
        #[unsafe(export_name = "_rjem_malloc_conf")]
        pub static MALLOC_CONF: &[u8; 18] = $crate::allocator::MALLOC_CONF;
    };
}

#[doc(hidden)]
pub use tikv_jemallocator::Jemalloc;
