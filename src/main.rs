//! The husk binary: parse runc's command line and dispatch.
fn main() {
    use clap::Parser;
    let _cli = husk::cli::Cli::parse();
}
