//! The container's root filesystem: propagation, the rootfs self-bind, the spec's
//! mounts (via `mounts`), /dev (via `devices`), pivot_root or MS_MOVE+chroot, masked
//! and read-only paths, and `root.readonly`.
//!
//! Called from the container init (process/init.rs), in the container's new mount
//! namespace, in this order: `prepare` -> `enter` -> (sysctl) -> `finish`.

use oci_spec::runtime::Spec;
use std::path::Path;

/// What init knows about the container that changes how the rootfs is built.
#[derive(Debug, Clone, Copy, Default)]
pub struct RootfsOptions {
    /// The process is in a user namespace other than the host's (created or joined):
    /// devices are bind-mounted from the host instead of mknod'ed.
    pub in_user_ns: bool,
    /// The container has a network namespace of its own (sysfs may be mounted).
    pub new_net_ns: bool,
    /// The container has a cgroup namespace (cgroup mounts show its own cgroup as root).
    pub cgroup_ns: bool,
    /// `--no-pivot`: MS_MOVE + chroot instead of pivot_root.
    pub no_pivot: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("{0}")]
    Other(String),
}

/// Before the pivot: rootfs propagation, bind the rootfs onto itself, every
/// `mounts[]` entry in order, default devices, `linux.devices`, /dev symlinks.
pub fn prepare(_spec: &Spec, _rootfs: &Path, _opts: &RootfsOptions) -> Result<(), RootfsError> {
    Err(RootfsError::Other("rootfs: not implemented".into()))
}

/// Make `rootfs` the process's `/`: pivot_root (old root detached), or with
/// `no_pivot` MS_MOVE + chroot. Leaves the cwd at the new `/`.
pub fn enter(_rootfs: &Path, _opts: &RootfsOptions) -> Result<(), RootfsError> {
    Err(RootfsError::Other("rootfs: not implemented".into()))
}

/// After the pivot (and after sysctls were written): masked paths, read-only
/// paths, `root.readonly`, re-apply a shared `rootfsPropagation`.
pub fn finish(_spec: &Spec, _opts: &RootfsOptions) -> Result<(), RootfsError> {
    Err(RootfsError::Other("rootfs: not implemented".into()))
}
