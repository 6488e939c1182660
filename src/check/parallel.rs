//! Two independent pieces of work on two threads: the large checks (the
//! diff, each run's declared-mapping oracle) split their work this way.

use std::thread::{Scope, ScopedJoinHandle};

/// Below this many items, work stays on one thread (a thread costs more
/// than it saves).
pub(crate) const PARALLEL_FROM: usize = 4096;

/// The result of a scoped thread; a panic in it goes on in the caller.
pub(crate) fn join<T>(handle: ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// `(a(), b())`, `b` on a thread of its own when `parallel`.
pub(crate) fn both<A: Send, B: Send>(
    parallel: bool,
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    if !parallel {
        return (a(), b());
    }
    // Both threads allocate from one arena, so that each run reuses the
    // pages the last one freed (see `allocator::thread_arena`).
    let arena = crate::allocator::thread_arena();
    std::thread::scope(|s: &Scope<'_, '_>| {
        let b = s.spawn(move || {
            if let Some(arena) = arena {
                crate::allocator::use_arena(arena);
            }
            b()
        });
        let a = a();
        (a, join(b))
    })
}
