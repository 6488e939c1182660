// jemalloc instead of the system allocator: the mock CRM and the proxy
// allocate a few dozen small objects per request on two threads, which
// glibc malloc serves markedly slower (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    std::process::exit(hookproof::cli::main());
}
