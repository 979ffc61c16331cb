//! The husk binary: parse runc's command line, set up logging, dispatch, and map
//! errors to one line on stderr (and the log) plus exit status 1.

use husk::cli::Command;
use husk::commands::{self, Context};

use husk::cli::VERSION;

fn print_version() {
    print!("{}", husk::cli::version_text());
}

/// The operation and container id, for error messages (`create demo`).
fn describe(cmd: &Command) -> String {
    match cmd {
        Command::Create(a) => format!("create {}", a.id),
        Command::Run(a) => format!("run {}", a.create.id),
        Command::Start(a) => format!("start {}", a.id),
        Command::State(a) => format!("state {}", a.id),
        Command::Kill(a) => format!("kill {}", a.id),
        Command::Delete(a) => format!("delete {}", a.id),
        Command::List(_) => "list".into(),
        Command::Spec(_) => "spec".into(),
        Command::Exec(a) => format!("exec {}", a.id),
        Command::Pause(a) => format!("pause {}", a.id),
        Command::Resume(a) => format!("resume {}", a.id),
        Command::Ps(a) => format!("ps {}", a.id),
        Command::Events(a) => format!("events {}", a.id),
        Command::Update(a) => format!("update {}", a.id),
        Command::Features => "features".into(),
    }
}

/// The exit status of a failed command: runc exits 255 when `exec` fails (the
/// process's own status is relayed unchanged when it ran), 1 otherwise.
fn failure_status(cmd: &Command) -> i32 {
    match cmd {
        Command::Exec(_) => 255,
        _ => 1,
    }
}

fn dispatch(ctx: &Context, cmd: &Command) -> Result<i32, commands::CommandError> {
    match cmd {
        Command::Create(a) => commands::create::run(ctx, a),
        Command::Run(a) => commands::run::run(ctx, a),
        Command::Start(a) => commands::start::run(ctx, a),
        Command::State(a) => commands::state::run(ctx, a),
        Command::Kill(a) => commands::kill::run(ctx, a),
        Command::Delete(a) => commands::delete::run(ctx, a),
        Command::List(a) => commands::list::run(ctx, a),
        Command::Exec(a) => commands::exec::run(ctx, a),
        Command::Pause(a) => commands::pause::run(ctx, a),
        Command::Resume(a) => commands::resume::run(ctx, a),
        Command::Ps(a) => commands::ps::run(ctx, a),
        Command::Events(a) => commands::events::run(ctx, a),
        Command::Update(a) => commands::update::run(ctx, a),
        Command::Features => commands::features::run(),
        Command::Spec(a) => {
            let dir = a.bundle.clone().unwrap_or_else(|| ".".into());
            let rootless = ctx.global.rootless.as_deref().is_some_and(|v| v == "true");
            commands::spec::run(&dir, rootless)?;
            Ok(0)
        }
    }
}

/// Debug builds only: `HUSK_TEST_UNSEALED=1` skips the CVE-2019-5736 seal so the
/// end-to-end test can prove that its attack works against an unsealed binary.
fn unsealed_for_tests() -> bool {
    cfg!(debug_assertions) && std::env::var_os("HUSK_TEST_UNSEALED").is_some_and(|v| v == "1")
}

/// `--log FILE` and `--log-format json` read straight from argv, for errors that
/// happen before the command line could be parsed (containerd reads log.json).
fn log_setup_from_argv() {
    let argv: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        argv.iter().enumerate().find_map(|(i, a)| {
            a.strip_prefix(&format!("{flag}="))
                .map(str::to_string)
                .or_else(|| (a == flag).then(|| argv.get(i + 1).cloned()).flatten())
        })
    };
    let format = match value("--log-format").as_deref() {
        Some("json") => husk::cli::LogFormat::Json,
        _ => husk::cli::LogFormat::Text,
    };
    husk::logging::init(value("--log").map(Into::into), format, false);
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if let Some(topic) = husk::cli::unknown_help_topic(&argv) {
        eprintln!("No help topic for '{topic}'");
        std::process::exit(3);
    }
    let cli = match husk::cli::parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            log_setup_from_argv();
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or_default();
            husk::logging::to_log_only("error", first.trim_start_matches("error: "));
            e.exit()
        }
        Err(e) => e.exit(),
    };
    if cli.global.version {
        print_version();
        return;
    }
    let Some(cmd) = cli.command else {
        let _ = husk::cli::command().print_help();
        std::process::exit(1);
    };
    husk::logging::init(
        cli.global.log.clone(),
        cli.global.log_format,
        cli.global.debug,
    );
    if matches!(cmd, Command::Create(_) | Command::Run(_) | Command::Exec(_))
        && !unsealed_for_tests()
    {
        if let Err(e) = husk::exe_seal::ensure_sealed() {
            husk::logging::error(&format!("{}: {e}", describe(&cmd)));
            std::process::exit(failure_status(&cmd));
        }
    }
    husk::logging::debug(|| {
        format!(
            "husk {VERSION}: {}{}",
            describe(&cmd),
            match husk::exe_seal::exe_safety() {
                Ok(s) => format!(", binary {s:?}"),
                Err(_) => String::new(),
            }
        )
    });
    let ctx = Context::new(cli.global);
    match dispatch(&ctx, &cmd) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            husk::logging::error(&format!("{}: {e}", describe(&cmd)));
            std::process::exit(failure_status(&cmd));
        }
    }
}
