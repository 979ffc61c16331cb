//! Mounting one `mounts[]` entry (options parsed by `mount_options`): resolving and
//! creating the destination inside the rootfs (symlinks can never lead out of it),
//! bind/rbind with read-only remounts, the sysfs/mqueue user-namespace fallbacks;
//! `cgroup` mounts are in `cgroup_mounts`.
//!
//! Also owns the filesystem error type shared by `rootfs` and `devices`, the
//! in-root path resolution (`Root`), and a /proc/self/mountinfo reader.

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::Mode;
use nix::sys::statvfs::{statvfs, FsFlags};
use oci_spec::runtime::{LinuxIdMapping, Mount, Spec};
use std::collections::VecDeque;
use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::linux::cgroup_mounts::mount_cgroup;
pub use crate::linux::cgroup_mounts::{hierarchies_from, Hierarchy};
use crate::linux::mount_attr;
use crate::linux::mount_options::remount_bits;
pub use crate::linux::mount_options::{parse_options, propagation_flags, MountOptions};

/// A failed filesystem step. `field` is the spec field (`mounts[3] /data`), `step`
/// what was being done (`bind source /nope`).
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("{field}: {step}: {}", .errno.desc())]
    Sys {
        field: String,
        step: String,
        errno: Errno,
    },
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
}

impl MountError {
    /// The OS error behind this failure, if any.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            MountError::Sys { errno, .. } => Some(*errno),
            MountError::Invalid { .. } => None,
        }
    }
}

/// Builds a closure turning an `Errno` into a `MountError::Sys` for `field`/`step`.
pub(crate) fn sys_err(field: &str, step: impl Into<String>) -> impl FnOnce(Errno) -> MountError {
    let (field, step) = (field.to_string(), step.into());
    move |errno| MountError::Sys { field, step, errno }
}

// ---------------------------------------------------------------------------------
// Paths inside the rootfs
// ---------------------------------------------------------------------------------

/// The rootfs opened `O_PATH|O_DIRECTORY`: every container path is resolved from it
/// with `openat2(RESOLVE_IN_ROOT)`, so `..` and symlinks (absolute or relative) stay
/// inside it.
pub struct Root {
    fd: OwnedFd,
}

/// What to create at the end of a path that does not exist yet.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Leaf {
    Dir,
    File,
}

/// Symlinks followed while creating one path, as the kernel's MAXSYMLINKS.
const MAX_LINKS: usize = 40;

impl Root {
    pub fn open(path: &Path) -> Result<Root, Errno> {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::open(path, flags, Mode::empty())?;
        // SAFETY: open returned a fresh fd that nothing else owns.
        Ok(Root {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens `path` (taken relative to the rootfs even if absolute) `O_PATH`.
    pub fn open_path(&self, path: &Path, dir: bool) -> Result<OwnedFd, Errno> {
        let mut flags = OFlag::O_PATH | OFlag::O_CLOEXEC;
        if dir {
            flags |= OFlag::O_DIRECTORY;
        }
        openat2_in_root(self.fd(), &relative(path), flags)
    }

    /// Resolves `path` inside the rootfs, creating missing directories (and the
    /// final component as `leaf`), and returns it opened `O_PATH`. Dangling symlinks
    /// are followed, clamped to the rootfs, and their targets created.
    pub fn create(&self, path: &Path, leaf: Leaf) -> Result<OwnedFd, Errno> {
        let mut todo: VecDeque<OsString> = components(path).collect();
        let mut done = PathBuf::new();
        let mut parent = self.open_path(Path::new("."), true)?;
        let mut steps = 0;
        while let Some(name) = todo.pop_front() {
            steps += 1;
            if steps > 4 * MAX_LINKS + 4096 {
                return Err(Errno::ELOOP);
            }
            let want_dir = !todo.is_empty() || leaf == Leaf::Dir;
            let candidate = done.join(&name);
            match self.open_path(&candidate, want_dir) {
                Ok(fd) => {
                    parent = fd;
                    done = candidate;
                    continue;
                }
                Err(Errno::ENOENT) => {}
                Err(e) => return Err(e),
            }
            match nix::fcntl::readlinkat(Some(parent.as_raw_fd()), name.as_os_str()) {
                Ok(target) => {
                    let target = PathBuf::from(target);
                    if target.is_absolute() {
                        done = PathBuf::new();
                        parent = self.open_path(Path::new("."), true)?;
                    }
                    for c in components_keep_dotdot(&target).rev() {
                        todo.push_front(c);
                    }
                    continue;
                }
                Err(Errno::ENOENT) => create_entry(parent.as_fd(), &name, want_dir)?,
                Err(Errno::EINVAL) => return Err(Errno::ENOENT),
                Err(e) => return Err(e),
            }
            todo.push_front(name);
        }
        Ok(parent)
    }
}

/// Creates one directory or empty file in `dir`; an existing entry is fine.
fn create_entry(dir: BorrowedFd, name: &OsStr, want_dir: bool) -> Result<(), Errno> {
    let res = if want_dir {
        nix::sys::stat::mkdirat(Some(dir.as_raw_fd()), name, Mode::from_bits_truncate(0o755))
    } else {
        let flags =
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_WRONLY | OFlag::O_CLOEXEC;
        nix::fcntl::openat(
            Some(dir.as_raw_fd()),
            name,
            flags,
            Mode::from_bits_truncate(0o644),
        )
        // SAFETY: openat returned a fresh fd; wrapping it closes it on drop.
        .map(|fd| drop(unsafe { OwnedFd::from_raw_fd(fd) }))
    };
    match res {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The components of a container path after lexical cleaning (`..` clamped at `/`).
fn components(path: &Path) -> impl Iterator<Item = OsString> {
    let mut out: Vec<OsString> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n.to_os_string()),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out.into_iter()
}

/// The components of a symlink target, keeping `..` for the kernel to resolve.
fn components_keep_dotdot(path: &Path) -> impl DoubleEndedIterator<Item = OsString> + '_ {
    path.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n.to_os_string()),
        Component::ParentDir => Some(OsString::from("..")),
        _ => None,
    })
}

/// `path` made relative (`/a/b` -> `a/b`, `/` -> `.`), after lexical cleaning.
pub(crate) fn relative(path: &Path) -> PathBuf {
    let p: PathBuf = components(path).collect();
    if p.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        p
    }
}

/// `openat2(dirfd, path, flags, RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS)`.
fn openat2_in_root(dirfd: BorrowedFd, path: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
    let cpath = CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: open_how is a plain C struct for which all-zero bytes are valid.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = flags.bits() as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    loop {
        // SAFETY: cpath and how outlive the call; the size matches the struct passed.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd.as_raw_fd(),
                cpath.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if ret >= 0 {
            // SAFETY: the kernel returned a new fd that nothing else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(ret as i32) });
        }
        match Errno::last() {
            Errno::EAGAIN | Errno::EINTR => continue,
            Errno::ENOSYS => return walk_in_root(dirfd, path, flags),
            e => return Err(e),
        }
    }
}

/// The openat2(RESOLVE_IN_ROOT) fallback for kernels before 5.6: `path` is walked
/// one component at a time from `root` with `O_PATH|O_NOFOLLOW`; a symlink is read
/// and its target walked instead (absolute ones from `root`), and `..` never goes
/// above `root`, so nothing resolves outside it. `flags` are applied to the final
/// component (opened again from its directory with `O_NOFOLLOW`).
pub(crate) fn walk_in_root(root: BorrowedFd, path: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
    let step = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let open = |dir: BorrowedFd, name: &OsStr, f: OFlag| {
        let fd = nix::fcntl::openat(Some(dir.as_raw_fd()), name, f, Mode::empty())?;
        // SAFETY: openat returned a fresh fd that nothing else owns.
        Ok::<_, Errno>(unsafe { OwnedFd::from_raw_fd(fd) })
    };
    let mut todo: VecDeque<OsString> = components_keep_dotdot(path).collect();
    // The directories walked so far below `root` with their names; the last entry
    // is the final component once `todo` is empty.
    let mut stack: Vec<(OwnedFd, OsString)> = Vec::new();
    let mut links = 0;
    while let Some(name) = todo.pop_front() {
        if name == ".." {
            stack.pop();
            continue;
        }
        let dir = stack.last().map_or(root, |(fd, _)| fd.as_fd());
        let fd = open(dir, &name, step)?;
        let kind = nix::sys::stat::fstat(fd.as_raw_fd())?.st_mode & libc::S_IFMT;
        if kind == libc::S_IFLNK {
            links += 1;
            if links > MAX_LINKS {
                return Err(Errno::ELOOP);
            }
            let target = PathBuf::from(nix::fcntl::readlinkat(Some(fd.as_raw_fd()), "")?);
            if target.is_absolute() {
                stack.clear();
            }
            for c in components_keep_dotdot(&target).rev() {
                todo.push_front(c);
            }
            continue;
        }
        if !todo.is_empty() && kind != libc::S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        stack.push((fd, name));
    }
    let Some((last, name)) = stack.pop() else {
        return open(root, OsStr::new("."), flags);
    };
    if flags.contains(OFlag::O_DIRECTORY)
        && nix::sys::stat::fstat(last.as_raw_fd())?.st_mode & libc::S_IFMT != libc::S_IFDIR
    {
        return Err(Errno::ENOTDIR);
    }
    let dir = stack.last().map_or(root, |(fd, _)| fd.as_fd());
    open(dir, &name, flags | OFlag::O_NOFOLLOW)
}

/// The `/proc/self/fd/N` path of an fd, for mount(2) calls on a resolved target.
/// Only valid while the host's (or a trusted) procfs is at /proc.
pub fn fd_path(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

// ---------------------------------------------------------------------------------
// Mounting
// ---------------------------------------------------------------------------------

/// What the mounts need to know about the container.
pub struct MountContext<'a> {
    pub root: &'a Root,
    pub in_user_ns: bool,
    pub new_net_ns: bool,
    pub cgroup_ns: bool,
    /// Bind trees (id-mapped or plain) the parent made (`prepare_detached`), by
    /// mount index.
    pub detached: &'a [(usize, OwnedFd)],
}

/// One resolved `mounts[]` entry.
pub(crate) struct Entry<'a> {
    /// The index in `mounts`.
    pub index: usize,
    pub field: String,
    pub dest: &'a Path,
    pub typ: &'a str,
    pub source: Option<&'a Path>,
    pub opts: MountOptions,
}

/// `mounts[index]` with its options parsed.
fn entry(index: usize, m: &Mount) -> Entry<'_> {
    let dest = m.destination().as_path();
    let mut e = Entry {
        index,
        field: format!("mounts[{index}] {}", dest.display()),
        dest,
        typ: m.typ().as_deref().unwrap_or(""),
        source: m.source().as_deref(),
        opts: parse_options(m.options().as_deref().unwrap_or(&[])),
    };
    if e.typ == "bind" {
        e.opts.flags |= MsFlags::MS_BIND;
    }
    e
}

/// Mounts `mounts[index]` inside the rootfs.
pub fn mount_entry(index: usize, m: &Mount, ctx: &MountContext) -> Result<(), MountError> {
    let mut e = entry(index, m);
    let dest = e.dest;
    if is_dev(dest) && !e.opts.flags.contains(MsFlags::MS_BIND) {
        // /dev is filled with devices next; a read-only /dev is remounted by finish.
        e.opts.flags.remove(MsFlags::MS_RDONLY);
    }
    if matches!(e.typ, "proc" | "sysfs") && !e.opts.flags.contains(MsFlags::MS_BIND) {
        require_ordinary_dir(&e, ctx)?;
    }
    if is_idmapped(m, &e.opts) {
        mount_idmapped(&e, m, ctx)?;
    } else if e.opts.flags.contains(MsFlags::MS_BIND) {
        mount_bind(&e, ctx)?;
    } else {
        match e.typ {
            "" => return Err(invalid(&e.field, "type is required unless bind/rbind")),
            "cgroup" => mount_cgroup(&e, ctx)?,
            "sysfs" | "mqueue" => mount_with_userns_fallback(&e, ctx)?,
            "tmpfs" if e.opts.tmpcopyup => mount_tmpfs_copyup(&e, ctx)?,
            _ => mount_fs(&e, ctx).map(drop)?,
        }
    }
    apply_rec_attr(&e, ctx)?;
    apply_propagation(&e, ctx)
}

/// proc and sysfs only on a real directory of the rootfs, never through a
/// symlink there (or on a file), as runc checks: a rootfs whose /proc links
/// elsewhere would otherwise get procfs wherever the link points.
fn require_ordinary_dir(e: &Entry, ctx: &MountContext) -> Result<(), MountError> {
    let rel = relative(e.dest);
    let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
        return Ok(());
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let Ok(dir) = ctx.root.open_path(parent, true) else {
        return Ok(()); // missing: made as a directory below
    };
    match nix::sys::stat::fstatat(
        Some(dir.as_raw_fd()),
        name,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    ) {
        Ok(st) if st.st_mode & libc::S_IFMT != libc::S_IFDIR => Err(invalid(
            &e.field,
            &format!(
                "filesystem {:?} must be mounted on ordinary directory ({} in the rootfs is {})",
                e.typ,
                e.dest.display(),
                if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
                    "a symlink"
                } else {
                    "not a directory"
                }
            ),
        )),
        _ => Ok(()),
    }
}

/// Whether a container path is `/dev` (so its mount is the devices' tmpfs).
pub fn is_dev(dest: &Path) -> bool {
    relative(dest) == Path::new("dev")
}

fn invalid(field: &str, reason: &str) -> MountError {
    MountError::Invalid {
        field: field.to_string(),
        reason: reason.to_string(),
    }
}

/// A non-bind mount of `e.typ` on the (created) destination.
pub(crate) fn mount_fs(e: &Entry, ctx: &MountContext) -> Result<(), MountError> {
    // The directory a tmpfs covers, if it was there before (see `tmpfs_data`).
    let covered = (e.typ == "tmpfs")
        .then(|| ctx.root.open_path(e.dest, true).ok())
        .flatten();
    let target = ctx
        .root
        .create(e.dest, Leaf::Dir)
        .map_err(sys_err(&e.field, "create destination"))?;
    let source = e.source.unwrap_or(Path::new(e.typ));
    let data = match covered {
        Some(dir) => {
            tmpfs_data(&e.opts.data, dir.as_fd()).map_err(sys_err(&e.field, "stat destination"))?
        }
        None => e.opts.data.clone(),
    };
    let data = (!data.is_empty()).then_some(data.as_str());
    mount(
        Some(source),
        &fd_path(&target),
        Some(e.typ),
        e.opts.flags,
        data,
    )
    .map_err(sys_err(&e.field, format!("mount {}", e.typ)))
}

/// A tmpfs without `mode=` on an existing directory takes that directory's mode
/// (tmpfs would make its root 1777, world-writable), as runc does; a `mode=`
/// option wins. On a destination made for it, tmpfs's own default stays (runc).
fn tmpfs_data(data: &str, covered: BorrowedFd) -> Result<String, Errno> {
    if data.split(',').any(|o| o.starts_with("mode=")) {
        return Ok(data.to_string());
    }
    let mode = nix::sys::stat::fstat(covered.as_raw_fd())?.st_mode & 0o7777;
    Ok(if data.is_empty() {
        format!("mode={mode:o}")
    } else {
        format!("{data},mode={mode:o}")
    })
}

/// `tmpcopyup`: open the directory the tmpfs will cover, mount, then copy the
/// covered contents into the new tmpfs.
fn mount_tmpfs_copyup(e: &Entry, ctx: &MountContext) -> Result<(), MountError> {
    let target = ctx
        .root
        .create(e.dest, Leaf::Dir)
        .map_err(sys_err(&e.field, "create destination"))?;
    let covered = nix::fcntl::open(
        &fd_path(&target),
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(sys_err(&e.field, "open the directory to copy up"))?;
    // SAFETY: `covered` was just opened and is owned by nothing else.
    let covered = unsafe { OwnedFd::from_raw_fd(covered) };
    mount_fs(e, ctx)?;
    let top = ctx
        .root
        .create(e.dest, Leaf::Dir)
        .map_err(sys_err(&e.field, "open the new tmpfs"))?;
    let top = nix::fcntl::open(
        &fd_path(&top),
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(sys_err(&e.field, "open the new tmpfs"))?;
    // SAFETY: `top` was just opened and is owned by nothing else.
    let top = unsafe { OwnedFd::from_raw_fd(top) };
    crate::linux::tmpcopyup::copy_dir(covered.as_fd(), top.as_fd())
        .map_err(sys_err(&e.field, "tmpcopyup"))
}

/// sysfs without an own netns and mqueue in a user namespace can fail with EPERM:
/// fall back to an rbind of the host's /sys or /dev/mqueue (with the same flags).
fn mount_with_userns_fallback(e: &Entry, ctx: &MountContext) -> Result<(), MountError> {
    let err = match mount_fs(e, ctx) {
        Ok(()) => return Ok(()),
        Err(err) => err,
    };
    let host = match e.typ {
        "sysfs" if ctx.in_user_ns && !ctx.new_net_ns => "/sys",
        "mqueue" if ctx.in_user_ns => "/dev/mqueue",
        _ => return Err(err),
    };
    if err.errno() != Some(Errno::EPERM) {
        return Err(err);
    }
    let fallback = Entry {
        index: e.index,
        field: e.field.clone(),
        dest: e.dest,
        typ: "bind",
        source: Some(Path::new(host)),
        opts: MountOptions {
            flags: e.opts.flags | MsFlags::MS_BIND | MsFlags::MS_REC,
            ..MountOptions::default()
        },
    };
    mount_bind(&fallback, ctx)
}

/// bind/rbind: the source is a host path; the destination is created as a file or a
/// directory to match it. Flags beyond bind/rec are applied by a bind remount.
pub(crate) fn mount_bind(e: &Entry, ctx: &MountContext) -> Result<(), MountError> {
    if let Some((_, tree)) = ctx.detached.iter().find(|(i, _)| *i == e.index) {
        return attach_detached(e, ctx, tree.as_fd());
    }
    let (source, step) = bind_source(e)?;
    let target = bind_target(e, ctx, source, &step)?;
    let flags = e.opts.flags & (MsFlags::MS_BIND | MsFlags::MS_REC);
    mount(
        Some(source),
        &fd_path(&target),
        None::<&str>,
        flags,
        None::<&str>,
    )
    .map_err(sys_err(&e.field, &step))?;
    remount_bind_flags(e, ctx)
}

/// A bind whose source the parent opened (a container with a user namespace,
/// whose init may not reach the source): attach the tree on a destination made
/// to match it, then the other flags by a bind remount.
fn attach_detached(e: &Entry, ctx: &MountContext, tree: BorrowedFd) -> Result<(), MountError> {
    let st = nix::sys::stat::fstat(tree.as_raw_fd())
        .map_err(sys_err(&e.field, "fstat the prepared bind source"))?;
    let leaf = if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        Leaf::Dir
    } else {
        Leaf::File
    };
    let target = ctx
        .root
        .create(e.dest, leaf)
        .map_err(sys_err(&e.field, "create destination"))?;
    mount_attr::move_onto(tree, target.as_fd())
        .map_err(sys_err(&e.field, "attach the prepared bind mount"))?;
    remount_bind_flags(e, ctx)
}

/// The bind source and the step naming it (`bind source /src`).
fn bind_source<'a>(e: &Entry<'a>) -> Result<(&'a Path, String), MountError> {
    let source = e
        .source
        .ok_or_else(|| invalid(&e.field, "bind mount without a source"))?;
    Ok((source, format!("bind source {}", source.display())))
}

/// The destination of a bind, created as a directory or a file like `source`.
fn bind_target(
    e: &Entry,
    ctx: &MountContext,
    source: &Path,
    step: &str,
) -> Result<OwnedFd, MountError> {
    let st = nix::sys::stat::stat(source).map_err(sys_err(&e.field, step))?;
    let leaf = if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        Leaf::Dir
    } else {
        Leaf::File
    };
    ctx.root
        .create(e.dest, leaf)
        .map_err(sys_err(&e.field, "create destination"))
}

/// Flags beyond bind/rec (`ro`, `nosuid`, ...) by a bind remount of the top mount.
fn remount_bind_flags(e: &Entry, ctx: &MountContext) -> Result<(), MountError> {
    let extra = remount_bits(e.opts.flags);
    if !extra.is_empty() {
        let target = ctx
            .root
            .open_path(e.dest, false)
            .map_err(sys_err(&e.field, "reopen destination"))?;
        bind_remount(&fd_path(&target), extra).map_err(sys_err(&e.field, "remount bind"))?;
    }
    Ok(())
}

/// An id-mapped bind (`idmap`/`ridmap`, or `uidMappings`/`gidMappings`): the tree
/// prepared by the parent (container with a user namespace) or made here, attached
/// on the destination, then the other flags by a bind remount.
fn mount_idmapped(e: &Entry, m: &Mount, ctx: &MountContext) -> Result<(), MountError> {
    let (source, step) = bind_source(e)?;
    let target = bind_target(e, ctx, source, &step)?;
    let made;
    let tree = match ctx.detached.iter().find(|(i, _)| *i == e.index) {
        Some((_, fd)) => fd,
        None => {
            made = idmapped_tree(e, m, &[], &[])?;
            &made
        }
    };
    mount_attr::move_onto(tree.as_fd(), target.as_fd())
        .map_err(sys_err(&e.field, "attach id-mapped mount"))?;
    remount_bind_flags(e, ctx)
}

/// The detached, id-mapped copy of `mounts[index]`'s source. Empty mappings in the
/// mount mean the container's (`container_uids`/`container_gids`).
fn idmapped_tree(
    e: &Entry,
    m: &Mount,
    container_uids: &[LinuxIdMapping],
    container_gids: &[LinuxIdMapping],
) -> Result<OwnedFd, MountError> {
    if !e.opts.flags.contains(MsFlags::MS_BIND) {
        return Err(invalid(&e.field, "idmap/ridmap needs a bind mount"));
    }
    let (source, step) = bind_source(e)?;
    let pick =
        |own: &Option<Vec<LinuxIdMapping>>, container: &[LinuxIdMapping]| match own.as_deref() {
            Some(own) if !own.is_empty() => own.to_vec(),
            _ => container.to_vec(),
        };
    let uids = pick(m.uid_mappings(), container_uids);
    let gids = pick(m.gid_mappings(), container_gids);
    if uids.is_empty() || gids.is_empty() {
        return Err(invalid(
            &e.field,
            "idmap needs uidMappings and gidMappings (or a user namespace with mappings)",
        ));
    }
    let rec_bind = e.opts.flags.contains(MsFlags::MS_REC);
    let rec_map = e.opts.idmap.unwrap_or(rec_bind);
    let tree = mount_attr::clone_tree(source, rec_bind).map_err(sys_err(&e.field, &step))?;
    let userns = mount_attr::userns_fd(&uids, &gids)
        .map_err(sys_err(&e.field, "create user namespace for idmap"))?;
    mount_attr::idmap_tree(tree.as_fd(), rec_map, userns.as_fd())
        .map_err(sys_err(&e.field, "idmap mount"))?;
    Ok(tree)
}

/// Whether `m` is an id-mapped mount.
fn is_idmapped(m: &Mount, opts: &MountOptions) -> bool {
    opts.idmap.is_some() || m.uid_mappings().is_some() || m.gid_mappings().is_some()
}

/// For a container with a user namespace: the bind trees of `spec.mounts`, made
/// by the (host) parent, by mount index, to be passed to `rootfs::prepare`. The
/// init cannot id-map host filesystems, and may not even reach a source that
/// only the host's root can (a directory below a 0700 one): it attaches these
/// trees instead (runc opens the sources before the user namespace, too).
/// Relative sources are relative to `bundle`.
pub fn prepare_detached(spec: &Spec, bundle: &Path) -> Result<Vec<(usize, OwnedFd)>, MountError> {
    let linux = spec.linux().as_ref();
    let uids = linux
        .and_then(|l| l.uid_mappings().clone())
        .unwrap_or_default();
    let gids = linux
        .and_then(|l| l.gid_mappings().clone())
        .unwrap_or_default();
    let mut out = Vec::new();
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let mut e = entry(i, m);
        let absolute;
        if let Some(src) = e.source.filter(|s| s.is_relative()) {
            absolute = bundle.join(src);
            e.source = Some(&absolute);
        }
        if is_idmapped(m, &e.opts) {
            out.push((i, idmapped_tree(&e, m, &uids, &gids)?));
        } else if e.opts.flags.contains(MsFlags::MS_BIND) && e.typ != "cgroup" {
            let (source, step) = bind_source(&e)?;
            let rec = e.opts.flags.contains(MsFlags::MS_REC);
            match mount_attr::clone_tree(source, rec) {
                Ok(tree) => out.push((i, tree)),
                // An unprivileged caller may not clone mounts of its namespace; it
                // can reach no more than the container's root can: the init binds.
                Err(Errno::EPERM) => {}
                Err(errno) => return Err(sys_err(&e.field, &step)(errno)),
            }
        }
    }
    Ok(out)
}

/// Recursive attributes (`rro`, ...) on the mounted destination and everything below.
fn apply_rec_attr(e: &Entry, ctx: &MountContext) -> Result<(), MountError> {
    if e.opts.rec_attr.is_empty() {
        return Ok(());
    }
    let target = ctx
        .root
        .open_path(e.dest, false)
        .map_err(sys_err(&e.field, "reopen destination"))?;
    mount_attr::apply_recursive(target.as_fd(), e.opts.rec_attr)
        .map_err(sys_err(&e.field, "set recursive mount attributes"))
}

/// `MS_REMOUNT|MS_BIND|flags` on `target`. In a user namespace, flags locked by the
/// source mount (nosuid, nodev, noexec, atime) must be kept: on EPERM retry with them.
pub fn bind_remount(target: &Path, flags: MsFlags) -> Result<(), Errno> {
    let base = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | flags;
    match mount(None::<&str>, target, None::<&str>, base, None::<&str>) {
        Err(Errno::EPERM) => {}
        other => return other,
    }
    let locked = locked_flags(target)?;
    mount(
        None::<&str>,
        target,
        None::<&str>,
        base | locked,
        None::<&str>,
    )
}

/// The flags of the mount at `target` that an unprivileged remount may not drop.
fn locked_flags(target: &Path) -> Result<MsFlags, Errno> {
    let st = statvfs(target)?;
    let map = [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
    ];
    Ok(map
        .iter()
        .filter(|(st_flag, _)| st.flags().contains(*st_flag))
        .fold(MsFlags::empty(), |acc, (_, ms)| acc | *ms))
}

/// Propagation options, each a separate mount(2) on the mounted destination.
fn apply_propagation(e: &Entry, ctx: &MountContext) -> Result<(), MountError> {
    if e.opts.propagation.is_empty() {
        return Ok(());
    }
    let target = ctx
        .root
        .open_path(e.dest, false)
        .map_err(sys_err(&e.field, "reopen destination"))?;
    for p in &e.opts.propagation {
        mount(
            None::<&str>,
            &fd_path(&target),
            None::<&str>,
            *p,
            None::<&str>,
        )
        .map_err(sys_err(&e.field, "set propagation"))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// mountinfo
// ---------------------------------------------------------------------------------

/// The fields of one /proc/self/mountinfo line that husk uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    pub root: PathBuf,
    pub mountpoint: PathBuf,
    pub mount_options: Vec<String>,
    /// Optional fields (`shared:1`, `master:2`, ...).
    pub optional: Vec<String>,
    pub fstype: String,
    pub source: String,
    pub super_options: Vec<String>,
}

/// Parses /proc/self/mountinfo text (octal escapes such as `\040` decoded).
pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines().filter_map(parse_mountinfo_line).collect()
}

fn parse_mountinfo_line(line: &str) -> Option<MountInfo> {
    let (left, right) = line.split_once(" - ")?;
    let mut l = left.split(' ');
    let (_id, _parent, _dev) = (l.next()?, l.next()?, l.next()?);
    let root = unescape(l.next()?);
    let mountpoint = unescape(l.next()?);
    let mount_options = l.next()?.split(',').map(String::from).collect();
    let optional = l.map(String::from).collect();
    let mut r = right.split(' ');
    Some(MountInfo {
        root,
        mountpoint,
        mount_options,
        optional,
        fstype: r.next()?.to_string(),
        source: r.next()?.to_string(),
        super_options: r
            .next()
            .unwrap_or("")
            .split(',')
            .map(String::from)
            .collect(),
    })
}

/// Decodes mountinfo's `\ooo` escapes.
fn unescape(s: &str) -> PathBuf {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], oct) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    PathBuf::from(OsStr::from_bytes(&out))
}

pub(crate) fn read_to_string(path: &str) -> Result<String, Errno> {
    std::fs::read_to_string(path)
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
}

/// Reads this process's mount table.
pub fn read_mountinfo() -> Result<Vec<MountInfo>, Errno> {
    Ok(parse_mountinfo(&read_to_string("/proc/self/mountinfo")?))
}

#[cfg(test)]
#[path = "mounts_tests.rs"]
mod tests;
