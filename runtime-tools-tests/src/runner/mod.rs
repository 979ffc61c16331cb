//! The runner: builds one bundle per test, drives `RUNTIME` through its command line
//! and prints TAP, ending with `N passed, M failed, K skipped`.

mod bundle;
mod configs;
mod ctx;
mod errors;
mod exec;
mod exec_ops;
mod flows;
mod hooks;
mod host;
mod leaks;
mod lifecycle;
mod locate;
mod runtime;
mod skiplist;
mod spec;
mod terminal;

pub use ctx::Ctx;

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by SIGINT/SIGTERM/SIGHUP: stop after the current test and clean up.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn catch_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
    }
}

/// The body of a test; `Err` carries the explanation of a failure.
pub type TestFn = Box<dyn Fn(&mut Ctx) -> Result<(), String>>;

/// A named test.
pub struct Test {
    pub name: String,
    pub run: TestFn,
}

impl Test {
    /// Wraps a closure as a test.
    pub fn new(name: &str, run: impl Fn(&mut Ctx) -> Result<(), String> + 'static) -> Self {
        Test {
            name: name.to_string(),
            run: Box::new(run),
        }
    }
}

/// Every test of the suite, in order.
pub fn all_tests() -> Vec<Test> {
    let mut t = configs::tests();
    t.extend(lifecycle::tests());
    t.extend(errors::tests());
    t.extend(hooks::tests());
    t.extend(terminal::tests());
    t.extend(exec_ops::tests());
    t
}

struct Options {
    runtime: Option<PathBuf>,
    checker: Option<PathBuf>,
    skip_file: Option<PathBuf>,
    results: Option<PathBuf>,
    filters: Vec<String>,
    verbose: bool,
    list: bool,
    keep: bool,
}

const USAGE: &str = "usage: rtt-runner [--runtime PATH] [--checker PATH] [--skip-file FILE] \
[--results FILE] [--verbose] [--keep] [--list] [FILTER...]
  RUNTIME (env) or --runtime: runtime binary (default: husk from this workspace's target/)
  RTT_CHECKER (env) or --checker: static rtt-checker binary (default: built by cargo)
  FILTER: run only tests whose name contains one of these substrings";

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        runtime: std::env::var_os("RUNTIME").map(PathBuf::from),
        checker: std::env::var_os("RTT_CHECKER").map(PathBuf::from),
        skip_file: None,
        results: None,
        filters: Vec::new(),
        verbose: false,
        list: false,
        keep: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .map(PathBuf::from)
                .ok_or(format!("{a} needs a value"))
        };
        match a.as_str() {
            "--runtime" => o.runtime = Some(value()?),
            "--checker" => o.checker = Some(value()?),
            "--skip-file" => o.skip_file = Some(value()?),
            "--results" => o.results = Some(value()?),
            "-v" | "--verbose" => o.verbose = true,
            "--list" => o.list = true,
            "--keep" => o.keep = true,
            "-h" | "--help" => return Err(USAGE.into()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}\n{USAGE}")),
            s => o.filters.push(s.to_string()),
        }
    }
    Ok(o)
}

/// Entry point of `rtt-runner`; returns the exit code (1 if any non-skipped test failed).
pub fn main() -> i32 {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let tests: Vec<Test> = all_tests()
        .into_iter()
        .filter(|t| opts.filters.is_empty() || opts.filters.iter().any(|f| t.name.contains(f)))
        .collect();
    if opts.list {
        tests.iter().for_each(|t| println!("{}", t.name));
        return 0;
    }
    match run(&opts, &tests) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rtt-runner: {e}");
            2
        }
    }
}

fn run(opts: &Options, tests: &[Test]) -> Result<i32, String> {
    let runtime = match &opts.runtime {
        Some(r) => r.clone(),
        None => locate::husk()?,
    };
    let checker = match &opts.checker {
        Some(c) => c.clone(),
        None => locate::checker()?,
    };
    locate::ensure_static(&checker)?;
    let mut ctx = Ctx::new(runtime, &checker, opts.verbose, opts.keep)?;
    catch_signals();
    let skip_path = opts
        .skip_file
        .clone()
        .unwrap_or_else(|| locate::skip_file(&ctx.rt.name()));
    let skips = skiplist::load(&skip_path)?;
    println!(
        "# runtime {} (skip list {})",
        ctx.rt.bin.display(),
        skip_path.display()
    );
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let mut results = String::new();
    for (i, t) in tests.iter().enumerate() {
        if INTERRUPTED.load(Ordering::SeqCst) {
            println!("# interrupted: cleaning up");
            failed += tests.len() - i;
            break;
        }
        let n = i + 1;
        let run = std::panic::AssertUnwindSafe(|| (t.run)(&mut ctx));
        let outcome = std::panic::catch_unwind(run).unwrap_or_else(|p| {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(format!("test panicked: {msg}"))
        });
        let notes = ctx.finish_test();
        let (status, detail) = match (skips.get(&t.name), &outcome) {
            (Some(why), o) => {
                skipped += 1;
                println!("ok {n} - {} # SKIP {why}", t.name);
                if o.is_ok() {
                    println!("# note: passes now; remove it from {}", skip_path.display());
                }
                ("skip", why.clone())
            }
            (None, Ok(())) => {
                passed += 1;
                println!("ok {n} - {}", t.name);
                ("pass", String::new())
            }
            (None, Err(e)) => {
                failed += 1;
                println!("not ok {n} - {}", t.name);
                for l in e.lines() {
                    println!("#   {l}");
                }
                ("fail", e.lines().next().unwrap_or("").to_string())
            }
        };
        for l in notes {
            println!("# {l}");
        }
        results.push_str(&format!(
            "{}\t{status}\t{}\n",
            t.name,
            detail.replace('\t', " ")
        ));
        let _ = std::io::stdout().flush();
    }
    ctx.shutdown();
    if let Some(r) = &opts.results {
        std::fs::write(r, results).map_err(|e| format!("{}: {e}", r.display()))?;
    }
    println!("1..{}", tests.len());
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    Ok(if failed > 0 { 1 } else { 0 })
}
