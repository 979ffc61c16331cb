//! The mount(8) option list of a `mounts[]` entry parsed into mount(2) flags,
//! propagation changes and filesystem data (config.md "Mounts", config-linux.md
//! "Mount Propagation"). Pure: no syscalls.

use nix::mount::MsFlags;

/// `MS_NOSYMFOLLOW` (Linux 5.10); not exported by libc/nix yet.
const MS_NOSYMFOLLOW: u64 = 256;

/// A parsed mount(8) option list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags for the mount(2) call (including MS_BIND/MS_REC for bind/rbind).
    pub flags: MsFlags,
    /// Propagation changes, applied one by one with separate mount(2) calls.
    pub propagation: Vec<MsFlags>,
    /// Everything else, comma-joined, passed as the filesystem's data.
    pub data: String,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            propagation: Vec::new(),
            data: String::new(),
        }
    }
}

/// Whether a flag option sets or clears its flag.
enum FlagOp {
    Set(u64),
    Clear(u64),
}

fn flag_option(opt: &str) -> Option<FlagOp> {
    use FlagOp::{Clear, Set};
    let f = |m: MsFlags| m.bits();
    Some(match opt {
        "defaults" => Set(0),
        "ro" => Set(f(MsFlags::MS_RDONLY)),
        "rw" => Clear(f(MsFlags::MS_RDONLY)),
        "nosuid" => Set(f(MsFlags::MS_NOSUID)),
        "suid" => Clear(f(MsFlags::MS_NOSUID)),
        "nodev" => Set(f(MsFlags::MS_NODEV)),
        "dev" => Clear(f(MsFlags::MS_NODEV)),
        "noexec" => Set(f(MsFlags::MS_NOEXEC)),
        "exec" => Clear(f(MsFlags::MS_NOEXEC)),
        "sync" => Set(f(MsFlags::MS_SYNCHRONOUS)),
        "async" => Clear(f(MsFlags::MS_SYNCHRONOUS)),
        "dirsync" => Set(f(MsFlags::MS_DIRSYNC)),
        "remount" => Set(f(MsFlags::MS_REMOUNT)),
        "mand" => Set(f(MsFlags::MS_MANDLOCK)),
        "nomand" => Clear(f(MsFlags::MS_MANDLOCK)),
        "atime" => Clear(f(MsFlags::MS_NOATIME)),
        "noatime" => Set(f(MsFlags::MS_NOATIME)),
        "diratime" => Clear(f(MsFlags::MS_NODIRATIME)),
        "nodiratime" => Set(f(MsFlags::MS_NODIRATIME)),
        "relatime" => Set(f(MsFlags::MS_RELATIME)),
        "norelatime" => Clear(f(MsFlags::MS_RELATIME)),
        "strictatime" => Set(f(MsFlags::MS_STRICTATIME)),
        "nostrictatime" => Clear(f(MsFlags::MS_STRICTATIME)),
        "nosymfollow" => Set(MS_NOSYMFOLLOW),
        "symfollow" => Clear(MS_NOSYMFOLLOW),
        "lazytime" => Set(f(MsFlags::MS_LAZYTIME)),
        "nolazytime" => Clear(f(MsFlags::MS_LAZYTIME)),
        "bind" => Set(f(MsFlags::MS_BIND)),
        "rbind" => Set(f(MsFlags::MS_BIND | MsFlags::MS_REC)),
        _ => return None,
    })
}

/// Maps a propagation keyword (`rslave`, `shared`, ...) to its mount(2) flags.
/// Used for mount options and for `linux.rootfsPropagation`.
pub fn propagation_flags(opt: &str) -> Option<MsFlags> {
    let rec = MsFlags::MS_REC;
    Some(match opt {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | rec,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | rec,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | rec,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | rec,
        _ => return None,
    })
}

/// Parses a spec `options` list: flags, propagation, and the rest as data, in order
/// (a later `rw` undoes an earlier `ro`). Pure; no syscalls.
pub fn parse_options<S: AsRef<str>>(options: &[S]) -> MountOptions {
    let mut bits = 0u64;
    let mut out = MountOptions::default();
    let mut data: Vec<&str> = Vec::new();
    for opt in options.iter().map(AsRef::as_ref) {
        if let Some(op) = flag_option(opt) {
            match op {
                FlagOp::Set(b) => bits |= b,
                FlagOp::Clear(b) => bits &= !b,
            }
        } else if let Some(p) = propagation_flags(opt) {
            out.propagation.push(p);
        } else if !opt.is_empty() {
            data.push(opt);
        }
    }
    out.flags = MsFlags::from_bits_retain(bits as _);
    out.data = data.join(",");
    out
}

/// Flags that only a remount can apply to a bind mount.
pub(crate) fn remount_bits(flags: MsFlags) -> MsFlags {
    flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT)
}
