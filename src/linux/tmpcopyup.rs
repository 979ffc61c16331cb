//! The `tmpcopyup` mount option (a runc extension podman uses): a tmpfs mounted
//! over a directory of the image starts with a copy of that directory's contents.
//! Everything is done through fds (`*at` calls, no symlink followed), so the copy
//! cannot leave the rootfs.

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fchmodat, fstatat, mkdirat, mknodat, FchmodatFlags, Mode, SFlag};
use nix::unistd::{fchownat, symlinkat, Gid, Uid};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Copy the contents of directory `from` into directory `to`, keeping modes,
/// owners, symlinks and device nodes.
pub fn copy_dir(from: BorrowedFd, to: BorrowedFd) -> Result<(), Errno> {
    let mut dir = Dir::openat(
        Some(from.as_raw_fd()),
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let names: Vec<std::ffi::CString> = dir
        .iter()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_owned())
        .filter(|n| n.as_bytes() != b"." && n.as_bytes() != b"..")
        .collect();
    for name in names {
        copy_entry(from.as_raw_fd(), to.as_raw_fd(), &name)?;
    }
    Ok(())
}

fn copy_entry(from: RawFd, to: RawFd, name: &std::ffi::CStr) -> Result<(), Errno> {
    let st = fstatat(Some(from), name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    let kind = SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT);
    let perm = Mode::from_bits_truncate(st.st_mode & 0o7777);
    match kind {
        SFlag::S_IFDIR => {
            mkdirat(Some(to), name, perm)?;
            let src = open_dir(from, name)?;
            let dst = open_dir(to, name)?;
            copy_dir(fd(&src), fd(&dst))?;
        }
        SFlag::S_IFREG => {
            let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
            let src = own(openat(Some(from), name, flags, Mode::empty())?);
            let wflags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC;
            let dst = own(openat(Some(to), name, wflags, perm)?);
            let (mut r, mut w) = (std::fs::File::from(src), std::fs::File::from(dst));
            std::io::copy(&mut r, &mut w)
                .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))?;
        }
        SFlag::S_IFLNK => {
            let target = readlinkat(Some(from), name)?;
            symlinkat(target.as_os_str(), Some(to), name)?;
        }
        _ => mknodat(Some(to), name, kind, perm, st.st_rdev)?,
    }
    fchownat(
        Some(to),
        name,
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )?;
    if kind != SFlag::S_IFLNK {
        // chown may clear setuid bits: set the mode last.
        fchmodat(Some(to), name, perm, FchmodatFlags::NoFollowSymlink).or_else(|e| {
            if e == Errno::EOPNOTSUPP {
                fchmodat(Some(to), name, perm, FchmodatFlags::FollowSymlink)
            } else {
                Err(e)
            }
        })?;
    }
    Ok(())
}

fn open_dir(at: RawFd, name: &std::ffi::CStr) -> Result<OwnedFd, Errno> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    Ok(own(openat(Some(at), name, flags, Mode::empty())?))
}

fn own(raw: RawFd) -> OwnedFd {
    // SAFETY: `raw` was just returned by openat and is owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(raw) }
}

fn fd(f: &OwnedFd) -> BorrowedFd<'_> {
    use std::os::fd::AsFd;
    f.as_fd()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn copies_files_dirs_symlinks_with_modes() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::create_dir(a.path().join("d")).unwrap();
        std::fs::write(a.path().join("d/f"), "data").unwrap();
        std::fs::set_permissions(a.path().join("d/f"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        std::os::unix::fs::symlink("d/f", a.path().join("l")).unwrap();
        let fa = std::fs::File::open(a.path()).unwrap();
        let fb = std::fs::File::open(b.path()).unwrap();
        copy_dir(fa.as_fd(), fb.as_fd()).unwrap();
        assert_eq!(
            std::fs::read_to_string(b.path().join("d/f")).unwrap(),
            "data"
        );
        assert_eq!(
            std::fs::metadata(b.path().join("d/f")).unwrap().mode() & 0o777,
            0o640
        );
        assert_eq!(
            std::fs::read_link(b.path().join("l")).unwrap(),
            std::path::Path::new("d/f")
        );
    }
}
