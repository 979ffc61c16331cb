//! One module per kernel facility. Each maps spec fields onto syscalls and owns its
//! error type; every error message names the spec field and the step.

pub mod capabilities;
pub mod cgroup_mounts;
pub mod console;
pub mod cpu_affinity;
pub mod devices;
pub mod list_format;
pub mod memory_policy;
pub mod mount_attr;
pub mod mount_options;
pub mod mounts;
pub mod namespaces;
pub mod net_devices;
pub mod netlink;
pub mod personality;
pub mod rlimits;
pub mod rootfs;
pub mod rootless;
pub mod scheduler;
pub mod sysctl;
pub mod tmpcopyup;
pub mod user;
