//! One file per subcommand. They orchestrate; the work lives in `state`,
//! `bundle`, `process` and `linux`. Each returns the process exit code.

pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod resume;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
pub mod update;

use crate::cli::GlobalOpts;
use crate::state::Store;
use std::path::PathBuf;

/// The default state root (runc: /run/runc).
pub const DEFAULT_ROOT: &str = "/run/husk";

/// What every command gets: the global flags and the state store.
pub struct Context {
    pub global: GlobalOpts,
    pub store: Store,
}

impl Context {
    pub fn new(global: GlobalOpts) -> Self {
        let root = global.root.clone().unwrap_or_else(default_root);
        Context {
            global,
            store: Store::new(root),
        }
    }

    /// Rootless mode: `--rootless true|false`, else (`auto`, or no flag) detected
    /// as runc does (an unprivileged caller, or a user namespace not the host's).
    pub fn rootless(&self) -> bool {
        match self.global.rootless.as_deref() {
            Some("true") => true,
            Some("false") => false,
            _ => crate::linux::rootless::is_rootless(),
        }
    }
}

/// The state root without `--root`: `$XDG_RUNTIME_DIR/husk` when that is the
/// caller's (as runc decides: an unprivileged caller, or "root" in a user
/// namespace whose $USER is unset or not root, which is how rootless podman
/// calls it),
/// else /run/husk.
pub fn default_root() -> PathBuf {
    // SAFETY: geteuid has no preconditions.
    let unprivileged = unsafe { libc::geteuid() } != 0;
    let honour = unprivileged
        || (crate::linux::rootless::in_user_namespace()
            && std::env::var("USER").map_or(true, |u| u != "root"));
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) if honour => PathBuf::from(dir).join("husk"),
        _ => PathBuf::from(DEFAULT_ROOT),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),
    #[error(transparent)]
    Spawn(#[from] crate::process::spawn::SpawnError),
    #[error(transparent)]
    Spec(#[from] spec::SpecError),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error(transparent)]
    Console(#[from] crate::linux::console::ConsoleError),
    #[error(transparent)]
    Foreground(#[from] crate::process::foreground::ForegroundError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Msg(String),
}

impl CommandError {
    pub fn msg(m: impl Into<String>) -> Self {
        CommandError::Msg(m.into())
    }

    /// A command that needs the container's cgroup, for one without.
    pub fn no_cgroup(what: &str) -> Self {
        CommandError::Msg(format!(
            "{what} needs the container's cgroup, and it has none of its own (rootless \
             without a cgroup this user may write, or state from an older husk)"
        ))
    }

    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| CommandError::Io { what, source }
    }
}
