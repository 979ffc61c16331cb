//! The mount(8) option list of a `mounts[]` entry parsed into mount(2) flags,
//! propagation changes and filesystem data (config.md "Mounts", config-linux.md
//! "Mount Propagation"), plus the recursive `r*` attributes (for mount_setattr(2))
//! and `idmap`/`ridmap`. Pure: no syscalls.

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
    /// `rro`, `rnosuid`, ...: applied to the whole mounted tree with
    /// mount_setattr(AT_RECURSIVE) after the mount.
    pub rec_attr: RecAttr,
    /// `idmap` (`Some(false)`) or `ridmap` (`Some(true)`, the whole tree).
    pub idmap: Option<bool>,
    /// `tmpcopyup` (runc extension): fill a tmpfs with the covered directory's contents.
    pub tmpcopyup: bool,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            propagation: Vec::new(),
            data: String::new(),
            rec_attr: RecAttr::default(),
            idmap: None,
            tmpcopyup: false,
        }
    }
}

/// `MOUNT_ATTR_*` of mount_setattr(2) (linux/mount.h).
pub mod attr {
    pub const RDONLY: u64 = 0x1;
    pub const NOSUID: u64 = 0x2;
    pub const NODEV: u64 = 0x4;
    pub const NOEXEC: u64 = 0x8;
    /// The access-time setting is a 3-valued field, not a set of bits.
    pub const ATIME_MASK: u64 = 0x70;
    pub const RELATIME: u64 = 0x0;
    pub const NOATIME: u64 = 0x10;
    pub const STRICTATIME: u64 = 0x20;
    pub const NODIRATIME: u64 = 0x80;
    pub const IDMAP: u64 = 0x0010_0000;
    pub const NOSYMFOLLOW: u64 = 0x0020_0000;
}

/// The `attr_set` / `attr_clr` pair of a `struct mount_attr`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecAttr {
    pub set: u64,
    pub clr: u64,
}

impl RecAttr {
    pub fn is_empty(&self) -> bool {
        self.set == 0 && self.clr == 0
    }

    fn set(&mut self, bits: u64) {
        self.set |= bits;
        self.clr &= !bits;
    }

    fn clear(&mut self, bits: u64) {
        self.clr |= bits;
        self.set &= !bits;
    }

    /// Atime is an enum: the whole field is cleared and one value set, as
    /// mount_setattr(2) requires (a later atime option replaces an earlier one).
    fn atime(&mut self, value: u64) {
        self.clr |= attr::ATIME_MASK;
        self.set = (self.set & !attr::ATIME_MASK) | value;
    }
}

/// Applies one recursive option (`rro`, `rnoatime`, ...) to `a`; false if `opt` is
/// not one. `ratime`, `rnorelatime` and `rnostrictatime` select the kernel default
/// (relatime), `rstrictatime` strictatime and `rnoatime` noatime.
fn rec_option(opt: &str, a: &mut RecAttr) -> bool {
    match opt {
        "rro" => a.set(attr::RDONLY),
        "rrw" => a.clear(attr::RDONLY),
        "rnosuid" => a.set(attr::NOSUID),
        "rsuid" => a.clear(attr::NOSUID),
        "rnodev" => a.set(attr::NODEV),
        "rdev" => a.clear(attr::NODEV),
        "rnoexec" => a.set(attr::NOEXEC),
        "rexec" => a.clear(attr::NOEXEC),
        "rnodiratime" => a.set(attr::NODIRATIME),
        "rdiratime" => a.clear(attr::NODIRATIME),
        "rnosymfollow" => a.set(attr::NOSYMFOLLOW),
        "rsymfollow" => a.clear(attr::NOSYMFOLLOW),
        "rnoatime" => a.atime(attr::NOATIME),
        "rstrictatime" => a.atime(attr::STRICTATIME),
        "rrelatime" | "ratime" | "rnorelatime" | "rnostrictatime" => a.atime(attr::RELATIME),
        _ => return false,
    }
    true
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
        } else if rec_option(opt, &mut out.rec_attr) {
        } else if opt == "idmap" || opt == "ridmap" {
            out.idmap = Some(opt == "ridmap");
        } else if opt == "tmpcopyup" || opt == "notmpcopyup" {
            out.tmpcopyup = opt == "tmpcopyup";
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
