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
        let root = global
            .root
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT));
        Context {
            global,
            store: Store::new(root),
        }
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

    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| CommandError::Io { what, source }
    }
}
