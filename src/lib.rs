//! husk: an OCI runtime-spec compliant, runc-compatible container runtime.
//!
//! Layout (see docs/architecture.md): `cli` parses runc's command line, `commands`
//! holds one thin file per subcommand, `bundle` loads config.json, `state` owns the
//! per-container state directory, `process` creates the container process, and
//! `linux` holds one small module per kernel facility.

pub mod bundle;
pub mod cgroups;
pub mod cli;
pub mod commands;
pub mod exe_seal;
pub mod hooks;
pub mod linux;
pub mod logging;
pub mod process;
pub mod rfc3339;
pub mod seccomp;
pub mod state;
