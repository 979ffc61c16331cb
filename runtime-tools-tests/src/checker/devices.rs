//! Devices: configured `linux.devices` (type, major/minor, mode, owner), the default
//! devices every container gets, `/dev/ptmx`, and the `/dev` symlinks.

use crate::procfs::{major, minor};
use crate::tap::Tap;
use serde_json::Value;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

/// The default devices of config-linux.md: path, major, minor (all character devices).
const DEFAULT_DEVICES: [(&str, u64, u64); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// The symlinks of runtime-linux.md: link, target.
const DEV_LINKS: [(&str, &str); 4] = [
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
];

/// Checks default devices, `/dev/ptmx`, `/dev` symlinks and `linux.devices`.
pub fn check(cfg: &Value, tap: &mut Tap) {
    for (path, maj, min) in DEFAULT_DEVICES {
        let name = format!("default device {path} is char {maj}:{min}");
        match std::fs::metadata(path) {
            Ok(st) => {
                let got = (
                    st.file_type().is_char_device(),
                    major(st.rdev()),
                    minor(st.rdev()),
                );
                tap.eq(name, got, (true, maj, min));
            }
            Err(e) => tap.fail(name, e),
        }
    }
    check_null_usable(tap);
    check_ptmx(tap);
    if std::path::Path::new("/proc/self/fd").exists() {
        for (link, target) in DEV_LINKS {
            let got = std::fs::read_link(link).map(|p| p.to_string_lossy().into_owned());
            tap.check(
                got.as_deref().ok() == Some(target),
                format!("symlink {link} -> {target}"),
                format_args!("{got:?}"),
            );
        }
    }
    for d in cfg["linux"]["devices"].as_array().into_iter().flatten() {
        check_device(d, tap);
    }
}

fn check_null_usable(tap: &mut Tap) {
    let r = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"x"));
    tap.check(
        r.is_ok(),
        "default device /dev/null is writable",
        format_args!("{r:?}"),
    );
}

fn check_ptmx(tap: &mut Tap) {
    let name = "/dev/ptmx is the container's /dev/pts/ptmx";
    let link = std::fs::read_link("/dev/ptmx");
    if let Ok(l) = &link {
        let l = l.to_string_lossy();
        return tap.check(
            l == "pts/ptmx" || l == "/dev/pts/ptmx",
            name,
            format_args!("symlink to {l}"),
        );
    }
    match (
        std::fs::metadata("/dev/ptmx"),
        std::fs::metadata("/dev/pts/ptmx"),
    ) {
        (Ok(a), Ok(b)) => tap.check(
            (a.dev(), a.ino()) == (b.dev(), b.ino()),
            name,
            "a different file",
        ),
        (a, b) => tap.fail(name, format_args!("{:?} / {:?}", a.err(), b.err())),
    }
}

fn check_device(d: &Value, tap: &mut Tap) {
    let path = d["path"].as_str().unwrap_or("");
    let kind = d["type"].as_str().unwrap_or("");
    let name = format!("device {path} ({kind})");
    let st = match std::fs::metadata(path) {
        Ok(st) => st,
        Err(e) => return tap.fail(name, e),
    };
    let ft = st.file_type();
    let mut problems = Vec::new();
    let type_ok = match kind {
        "c" | "u" => ft.is_char_device(),
        "b" => ft.is_block_device(),
        "p" => ft.is_fifo(),
        _ => false,
    };
    if !type_ok {
        problems.push(format!("file type {ft:?} is not {kind}"));
    }
    if kind != "p" {
        let want = (
            d["major"].as_u64().unwrap_or(0),
            d["minor"].as_u64().unwrap_or(0),
        );
        let got = (major(st.rdev()), minor(st.rdev()));
        if got != want {
            problems.push(format!("major:minor {got:?}, want {want:?}"));
        }
    }
    if let Some(mode) = d["fileMode"].as_u64() {
        if u64::from(st.mode() & 0o7777) != mode & 0o7777 {
            problems.push(format!(
                "mode {:o}, want {:o}",
                st.mode() & 0o7777,
                mode & 0o7777
            ));
        }
    }
    if let Some(uid) = d["uid"].as_u64() {
        if u64::from(st.uid()) != uid {
            problems.push(format!("uid {}, want {uid}", st.uid()));
        }
    }
    if let Some(gid) = d["gid"].as_u64() {
        if u64::from(st.gid()) != gid {
            problems.push(format!("gid {}, want {gid}", st.gid()));
        }
    }
    tap.check(problems.is_empty(), name, problems.join("\n"));
}
