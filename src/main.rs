fn main() {
    std::process::exit(hookproof::cli::main());
}
