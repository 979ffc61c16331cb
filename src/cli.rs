//! runc's command line, flag for flag (clap derive). Global flags may stand before
//! or after the subcommand; flags may stand before or after the container id.

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// husk's version, as `--version` and `--help` print it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The runtime spec version husk implements.
pub const SPEC_VERSION: &str = "1.3.0";

/// The commit husk was built from (embedded by build.rs), or `unknown`.
pub fn commit() -> &'static str {
    option_env!("HUSK_COMMIT").unwrap_or("unknown")
}

/// `--version`: runc's lines (`husk version X.Y.Z`, `commit: …`, `spec: …`).
pub fn version_text() -> String {
    format!(
        "husk version {VERSION}\ncommit: {}\nspec: {SPEC_VERSION}\n",
        commit()
    )
}

/// The command line with help in runc's (urfave/cli's) layout: `NAME:`,
/// `USAGE:`, `VERSION:`, `COMMANDS:`, `GLOBAL OPTIONS:` at the top, and `NAME:`,
/// `USAGE:`, `OPTIONS:` for each command.
pub fn command() -> clap::Command {
    let top = format!(
        "NAME:\n   husk - {{about}}\n\nUSAGE:\n   husk [global options] command [command \
         options] [arguments...]\n\nVERSION:\n   {VERSION}\ncommit: {}\nspec: {SPEC_VERSION}\n\n\
         COMMANDS:\n{{subcommands}}\n\nGLOBAL OPTIONS:\n{{options}}\n",
        commit()
    );
    Cli::command().help_template(top).mut_subcommands(|s| {
        let name = s.get_name().to_string();
        s.help_template(format!(
            "NAME:\n   husk {name} - {{about}}\n\nUSAGE:\n   {{usage}}\n\nARGUMENTS:\n\
             {{positionals}}\n\nOPTIONS:\n{{options}}\n"
        ))
    })
}

/// What `husk FOO --help` (or `husk help FOO`) names, when FOO is not a command:
/// runc answers `No help topic for 'FOO'` (exit status 3).
pub fn unknown_help_topic(argv: &[String]) -> Option<String> {
    // The words that are not flags, nor the values of global flags given apart.
    let mut words: Vec<&str> = Vec::new();
    let mut args = argv.iter().skip(1).map(String::as_str);
    while let Some(a) = args.next() {
        if matches!(a, "--root" | "--log" | "--log-format" | "--criu") {
            args.next();
        } else if !a.starts_with('-') {
            words.push(a);
        }
    }
    let asks_help =
        argv.iter().any(|a| a == "--help" || a == "-h") || words.first() == Some(&"help");
    if !asks_help {
        return None;
    }
    let topic = match words.first() {
        Some(&"help") => words.get(1)?,
        Some(w) => w,
        None => return None,
    };
    let cmd = command();
    let known = cmd
        .get_subcommands()
        .any(|s| s.get_name() == *topic || s.get_all_aliases().any(|a| a == *topic))
        || *topic == "help";
    (!known).then(|| topic.to_string())
}

/// Parse the command line (runc's layout of help).
pub fn parse() -> Result<Cli, clap::Error> {
    let matches = command().try_get_matches()?;
    Cli::from_arg_matches(&matches)
}

#[derive(Debug, Parser)]
#[command(
    name = "husk",
    about = "an OCI runtime-spec compliant, runc-compatible container runtime",
    disable_version_flag = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args, Clone)]
pub struct GlobalOpts {
    /// Root directory for storage of container state (default /run/husk).
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Log file (default: stderr).
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long = "log-format", global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Enable debug logging.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Rootless mode: true, false or auto (`spec --rootless` writes a rootless config).
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub rootless: Option<String>,
    /// Use the systemd cgroup driver: the container is a transient systemd scope.
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for runc compatibility (checkpoint/restore).
    #[arg(long, global = true, value_name = "PATH", hide = true)]
    pub criu: Option<String>,
    /// Print the version.
    #[arg(short = 'v', long = "version", global = true)]
    pub version: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a container (it waits for `start` before running the user process).
    Create(CreateArgs),
    /// Run the user process of a created container.
    Start(IdArg),
    /// Output the state of a container.
    State(IdArg),
    /// Send a signal to the container's init process.
    Kill(KillArgs),
    /// Delete a stopped container and release its resources.
    Delete(DeleteArgs),
    /// Create and start a container; wait for it unless --detach.
    Run(RunArgs),
    /// List containers.
    List(ListArgs),
    /// Create a new default config.json.
    Spec(SpecArgs),
    /// Execute a new process inside a running container.
    Exec(ExecArgs),
    /// Suspend every process of the container.
    Pause(IdArg),
    /// Resume every process of a paused container.
    Resume(IdArg),
    /// Display the processes running inside a container.
    Ps(PsArgs),
    /// Display container events: OOM notifications and resource usage statistics.
    Events(EventsArgs),
    /// Update the resource limits of a running container.
    Update(UpdateArgs),
    /// Show what this husk supports (the runtime spec's features document).
    Features,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Container id.
    pub id: String,
    /// The command and its arguments (unless --process is given).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
    /// Unix socket to which the pty master is sent (with --tty).
    #[arg(long = "console-socket", value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Working directory in the container.
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Set an environment variable (KEY=VALUE); repeatable.
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Allocate a pseudo-TTY.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// User as UID[:GID].
    #[arg(short = 'u', long, value_name = "UID[:GID]")]
    pub user: Option<String>,
    /// Additional gids; repeatable.
    #[arg(short = 'g', long = "additional-gids", value_name = "GID")]
    pub additional_gids: Vec<u32>,
    /// A process.json (the spec's `process` object) describing the process.
    #[arg(short = 'p', long, value_name = "FILE")]
    pub process: Option<PathBuf>,
    /// Detach from the process.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// File to write the process's pid to.
    #[arg(long = "pid-file", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// SELinux label for the process (accepted; SELinux is not supported yet).
    #[arg(long = "process-label", value_name = "LABEL")]
    pub process_label: Option<String>,
    /// AppArmor profile for the process (accepted; AppArmor is not supported yet).
    #[arg(long, value_name = "PROFILE")]
    pub apparmor: Option<String>,
    /// Set no_new_privs for the process.
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Add a capability to the bounding, effective and permitted sets; repeatable.
    #[arg(short = 'c', long = "cap", value_name = "CAP")]
    pub cap: Vec<String>,
    /// Pass N additional file descriptors (3..3+N) to the process.
    #[arg(long = "preserve-fds", value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Run the process in an existing sub-cgroup of the container's cgroup:
    /// `[CONTROLLER[,CONTROLLER]:]PATH`, PATH relative to the container's cgroup;
    /// repeatable (one per set of controllers).
    #[arg(long, value_name = "[CONTROLLER:]PATH")]
    pub cgroup: Vec<String>,
    /// Allow exec in a paused container.
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
}

#[derive(Debug, Args)]
pub struct IdArg {
    /// Container id.
    pub id: String,
}

#[derive(Debug, Args, Clone)]
pub struct CreateArgs {
    /// Container id.
    pub id: String,
    /// Path to the bundle directory (default: current directory).
    #[arg(short = 'b', long, value_name = "DIR")]
    pub bundle: Option<PathBuf>,
    /// Unix socket to which the pty master is sent (when process.terminal is true).
    #[arg(long = "console-socket", value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Accepted for runc compatibility: unix socket to which a pidfd is sent.
    #[arg(long = "pidfd-socket", value_name = "PATH", hide = true)]
    pub pidfd_socket: Option<PathBuf>,
    /// File to write the container init's pid to.
    #[arg(long = "pid-file", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Do not use pivot_root (MS_MOVE + chroot instead).
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring for the container.
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N additional file descriptors (3..3+N) to the container.
    #[arg(long = "preserve-fds", value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Detach from the container's process.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Do not delete the container after it exits.
    #[arg(long)]
    pub keep: bool,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Container id.
    pub id: String,
    /// Signal: name (with or without SIG) or number; default SIGTERM.
    pub signal: Option<String>,
    /// Send the signal to every process of the container.
    #[arg(short = 'a', long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Container id.
    pub id: String,
    /// Kill the container first if it is still running or created.
    #[arg(short = 'f', long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Output format: table or json.
    #[arg(short = 'f', long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    /// Print only the container ids.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Container id.
    pub id: String,
    /// Output format: table (the host's `ps`, filtered) or json (the pids).
    #[arg(short = 'f', long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    /// Arguments for `ps` (default `-ef`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Container id.
    pub id: String,
    /// The stats collection interval (a Go duration: 5s, 500ms, 1m).
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub interval: String,
    /// Display the container's stats once, then exit.
    #[arg(long)]
    pub stats: bool,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Container id.
    pub id: String,
    /// File with the resources (a linux.resources JSON object), `-` for stdin;
    /// the other flags are then ignored.
    #[arg(short = 'r', long, value_name = "FILE")]
    pub resources: Option<String>,
    /// Block IO weight, 10 to 1000.
    #[arg(long = "blkio-weight", value_name = "N")]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period (microseconds).
    #[arg(long = "cpu-period", value_name = "US")]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota (microseconds per period).
    #[arg(long = "cpu-quota", value_name = "US", allow_negative_numbers = true)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight).
    #[arg(long = "cpu-share", visible_alias = "cpu-shares", value_name = "N")]
    pub cpu_share: Option<u64>,
    /// CPU realtime period (microseconds).
    #[arg(long = "cpu-rt-period", value_name = "US")]
    pub cpu_rt_period: Option<u64>,
    /// CPU realtime runtime (microseconds per period).
    #[arg(
        long = "cpu-rt-runtime",
        value_name = "US",
        allow_negative_numbers = true
    )]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs to use (`0-2,4`).
    #[arg(long = "cpuset-cpus", value_name = "LIST")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes to use.
    #[arg(long = "cpuset-mems", value_name = "LIST")]
    pub cpuset_mems: Option<String>,
    /// Kernel memory limit (deprecated and ignored by the kernel's cgroup code).
    #[arg(
        long = "kernel-memory",
        value_name = "SIZE",
        allow_hyphen_values = true
    )]
    pub kernel_memory: Option<String>,
    /// Kernel TCP buffer memory limit (ignored).
    #[arg(
        long = "kernel-memory-tcp",
        value_name = "SIZE",
        allow_hyphen_values = true,
        hide = true
    )]
    pub kernel_memory_tcp: Option<String>,
    /// Memory limit (bytes, or with a unit: 64m, 1g; -1 unlimited).
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory reservation (soft limit).
    #[arg(
        long = "memory-reservation",
        value_name = "SIZE",
        allow_hyphen_values = true
    )]
    pub memory_reservation: Option<String>,
    /// Total memory + swap limit; -1 for unlimited swap.
    #[arg(long = "memory-swap", value_name = "SIZE", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Maximum number of pids (-1 unlimited).
    #[arg(long = "pids-limit", value_name = "N", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// Intel RDT L3 cache schema (not supported).
    #[arg(long = "l3-cache-schema", value_name = "SCHEMA")]
    pub l3_cache_schema: Option<String>,
    /// Intel RDT memory bandwidth schema (not supported).
    #[arg(long = "mem-bw-schema", value_name = "SCHEMA")]
    pub mem_bw_schema: Option<String>,
}

#[derive(Debug, Args)]
pub struct SpecArgs {
    /// Directory to write config.json into (default: current directory).
    /// `--rootless` (a global flag) generates a configuration for a rootless container.
    #[arg(short = 'b', long, value_name = "DIR")]
    pub bundle: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn unknown_help_topics() {
        assert_eq!(
            unknown_help_topic(&argv("husk foo --help")),
            Some("foo".into())
        );
        assert_eq!(
            unknown_help_topic(&argv("husk help foo")),
            Some("foo".into())
        );
        assert_eq!(
            unknown_help_topic(&argv("husk --root /r --log /l foo -h")),
            Some("foo".into())
        );
        assert_eq!(unknown_help_topic(&argv("husk create --help")), None);
        assert_eq!(unknown_help_topic(&argv("husk help create")), None);
        assert_eq!(unknown_help_topic(&argv("husk --help")), None);
        assert_eq!(
            unknown_help_topic(&argv("husk foo")),
            None,
            "not a help request"
        );
        assert_eq!(unknown_help_topic(&argv("husk exec c1 sh --help")), None);
    }

    #[test]
    fn help_is_in_runcs_layout() {
        let top = command().render_help().to_string();
        for section in [
            "NAME:\n   husk - ",
            "USAGE:\n",
            "VERSION:\n",
            "COMMANDS:\n",
            "GLOBAL OPTIONS:\n",
        ] {
            assert!(top.contains(section), "{section:?} in:\n{top}");
        }
        let mut cmd = command();
        let create = cmd
            .find_subcommand_mut("create")
            .unwrap()
            .render_help()
            .to_string();
        assert!(create.starts_with("NAME:\n   husk create - "), "{create}");
        assert!(create.contains("OPTIONS:\n"), "{create}");
    }
}
