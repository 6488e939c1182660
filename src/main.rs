// jemalloc, configured for hookproof (see `hookproof::allocator`).
hookproof::global_allocator!();

fn main() {
    std::process::exit(hookproof::cli::main());
}
