//! Shared building blocks of the end-to-end tests.
//!
//! A test builds a [`Bundle`] (busybox rootfs + runc's default `config.json`),
//! drives the runtime under test through a [`Runtime`] (a private `--root` per
//! test, every command bounded by a timeout) and holds each container in a
//! [`Container`] guard that force-deletes it on drop. Dropping the `Bundle` and the
//! `Runtime` runs the leak checks of [`leak`]: no container process, mount, state
//! dir or cgroup may survive a test, also when the test fails.
//!
//! The binary under test comes from `RUNTIME` (absolute path); see [`env`].

pub mod bundle;
pub mod cgroupfs;
pub mod container;
pub mod env;
pub mod exec;
pub mod leak;
pub mod poll;
pub mod probe;
pub mod procfs;
pub mod rootfs;
pub mod rootless;
pub mod runtime;
pub mod spec;
pub mod stream;

pub use bundle::Bundle;
pub use container::Container;
pub use env::{is_crun, is_husk, is_root, is_runc, runtime_binary};
pub use exec::Output;
pub use runtime::Runtime;

/// Return early from a test (it counts as passed) when not running as root,
/// saying why on stderr.
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::is_root() {
            eprintln!("skip: end-to-end container tests need root");
            return;
        }
    };
}

/// Return early from a test, printing `skip: <reason>` on stderr.
#[macro_export]
macro_rules! skip {
    ($($arg:tt)*) => {{
        eprintln!("skip: {}", format!($($arg)*));
        return;
    }};
}
