//! Conformance suite for OCI runtimes, written from the OCI runtime spec.
//!
//! Two binaries share this library: `rtt-checker` runs as the container's process and
//! compares its `config.json` with what it observes from inside; `rtt-runner` builds a
//! bundle per test and drives a runtime (runc's command line) through the lifecycle.

pub mod caps;
pub mod checker;
pub mod hostinfo;
pub mod mountinfo;
pub mod procfs;
pub mod runner;
pub mod tap;
