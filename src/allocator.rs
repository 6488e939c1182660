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

/// The jemalloc arena the calling thread allocates from, or `None` when
/// jemalloc does not say.
///
/// jemalloc gives each new thread an arena of its own choosing, and the
/// pages an arena keeps for reuse serve only that arena: the checks, which
/// start new threads on every run and build indexes of hundreds of
/// megabytes on them, would fault fresh pages in whenever a thread lands on
/// another arena than last time. Their threads share their caller's arena
/// instead (see `check::parallel::both`).
pub(crate) fn thread_arena() -> Option<u32> {
    thread_arena_swap(None)
}

/// Makes the calling thread allocate from `arena` (one [`thread_arena`]
/// gave).
pub(crate) fn use_arena(arena: u32) {
    thread_arena_swap(Some(arena));
}

/// Reads the calling thread's arena, and writes `new` when given.
fn thread_arena_swap(mut new: Option<u32>) -> Option<u32> {
    let mut old: u32 = 0;
    let mut old_len = std::mem::size_of::<u32>();
    let (new_ptr, new_len) = match new.as_mut() {
        Some(arena) => (
            std::ptr::from_mut(arena).cast::<std::ffi::c_void>(),
            std::mem::size_of::<u32>(),
        ),
        None => (std::ptr::null_mut(), 0),
    };
    // SAFETY: `thread.arena` is an `unsigned` (a `u32` here): `old` and
    // `new` are valid for its size and live across the call, and the name
    // is a NUL-terminated C string.
    let status = unsafe {
        tikv_jemalloc_sys::mallctl(
            c"thread.arena".as_ptr(),
            std::ptr::from_mut(&mut old).cast(),
            &mut old_len,
            new_ptr,
            new_len,
        )
    };
    (status == 0).then_some(old)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_can_take_another_threads_arena() {
        let parent = thread_arena().expect("jemalloc reports the arena");
        let child = std::thread::spawn(move || {
            use_arena(parent);
            thread_arena()
        })
        .join()
        .unwrap();
        assert_eq!(child, Some(parent));
    }
}
