//! The in-container checker: reads the bundle's config (default `/rtt/config.json`) and
//! the runner's host facts (`/rtt/host.json`), checks every field against what the
//! process observes, prints TAP, and exits 0 only if every check passed.

fn main() {
    let mut args = std::env::args().skip(1);
    let config = args.next().unwrap_or_else(|| "/rtt/config.json".into());
    let host = args.next().unwrap_or_else(|| "/rtt/host.json".into());
    std::process::exit(runtime_tools_tests::checker::run(&config, &host));
}
