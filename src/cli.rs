//! runc's command line, flag for flag (clap derive). Global flags may stand before
//! or after the subcommand; flags may stand before or after the container id.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "husk",
    about = "husk: an OCI runtime-spec compliant, runc-compatible container runtime",
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
    /// Use the systemd cgroup driver (not available yet: containers needing it fail).
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
pub struct SpecArgs {
    /// Directory to write config.json into (default: current directory).
    /// `--rootless` (a global flag) generates a configuration for a rootless container.
    #[arg(short = 'b', long, value_name = "DIR")]
    pub bundle: Option<PathBuf>,
}
