//! The busybox root filesystem fixture.
//!
//! Built once per machine (per busybox binary) from Debian's static busybox
//! (package busybox-static, installed by `.ci/run`; tests never apt-get) into
//! `/tmp/husk-test-rootfs-<uid>-<busybox size>-<mtime>`: built in a temp dir and
//! renamed into place, so concurrent test binaries never see a half-built tree.
//! Each bundle gets its own copy (2 MB + symlinks), so tests may scribble on it.

use std::fs;
use std::io;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Where Debian's busybox-static puts its binary.
pub const BUSYBOX: &str = "/bin/busybox";

const DIRS: [&str; 9] = [
    "bin", "proc", "sys", "dev", "tmp", "etc", "root", "usr/bin", "sbin",
];
const PASSWD: &str =
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP: &str = "root:x:0:\nnobody:x:65534:\n";

/// The cached pristine rootfs, built on first use.
pub fn template() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        build_cached().unwrap_or_else(|e| panic!("building the busybox rootfs: {e}"))
    })
}

fn build_cached() -> io::Result<PathBuf> {
    let meta = fs::metadata(BUSYBOX).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "{BUSYBOX} is missing ({e}): the tests need Debian's static busybox, \
                 install it with `apt-get install busybox-static` (.ci/run does)"
            ),
        )
    })?;
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let name = format!("husk-test-rootfs-{uid}-{}-{}", meta.size(), meta.mtime());
    let dest = std::env::temp_dir().join(name);
    if dest.join("bin/busybox").is_file() {
        return Ok(dest);
    }
    let tmp = tempfile::Builder::new()
        .prefix(".husk-rootfs-build-")
        .tempdir_in(std::env::temp_dir())?;
    populate(tmp.path())?;
    let built = tmp.keep();
    match fs::rename(&built, &dest) {
        Ok(()) => Ok(dest),
        // Another test binary won the race: use its tree, drop ours.
        Err(_) if dest.join("bin/busybox").is_file() => {
            let _ = fs::remove_dir_all(&built);
            Ok(dest)
        }
        Err(e) => Err(e),
    }
}

fn populate(root: &Path) -> io::Result<()> {
    for dir in DIRS {
        fs::create_dir_all(root.join(dir))?;
    }
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777))?;
    fs::copy(BUSYBOX, root.join("bin/busybox"))?;
    let list = Command::new(BUSYBOX).arg("--list").output()?;
    if !list.status.success() {
        return Err(io::Error::other("`busybox --list` failed"));
    }
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let applet = applet.trim();
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        symlink("busybox", root.join("bin").join(applet))?;
    }
    fs::write(root.join("etc/passwd"), PASSWD)?;
    fs::write(root.join("etc/group"), GROUP)?;
    fs::write(root.join("etc/hostname"), "husk-test\n")?;
    Ok(())
}

/// Copy the cached rootfs to `dest` (which must not exist).
pub fn copy_to(dest: &Path) -> io::Result<()> {
    copy_tree(template(), dest)
}

fn copy_tree(src: &Path, dest: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(src)?;
    let kind = meta.file_type();
    if kind.is_symlink() {
        symlink(fs::read_link(src)?, dest)
    } else if kind.is_dir() {
        fs::create_dir(dest)?;
        fs::set_permissions(dest, meta.permissions())?;
        for entry in fs::read_dir(src)? {
            let entry = entry?;
            copy_tree(&entry.path(), &dest.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        fs::copy(src, dest).map(drop)
    }
}
