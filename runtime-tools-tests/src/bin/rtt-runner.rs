//! The suite runner: see `runtime_tools_tests::runner`.
fn main() {
    std::process::exit(runtime_tools_tests::runner::main());
}
