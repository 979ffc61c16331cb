//! Filesystem jail: masked paths cannot be read, read-only paths and a read-only root
//! are mounted read-only.

use crate::mountinfo;
use crate::tap::Tap;
use serde_json::Value;
use std::io::Read;

/// Checks `linux.maskedPaths`, `linux.readonlyPaths` and `root.readonly`.
pub fn check(cfg: &Value, tap: &mut Tap) {
    let table = mountinfo::read_self().unwrap_or_default();
    for p in super::strings(&cfg["linux"]["maskedPaths"]) {
        check_masked(p, tap);
    }
    for p in super::strings(&cfg["linux"]["readonlyPaths"]) {
        let name = format!("readonly path {p}");
        if std::fs::symlink_metadata(p).is_err() {
            tap.pass(format_args!("{name} (absent)"));
            continue;
        }
        match mountinfo::covering(&table, p) {
            Some(m) => tap.check(
                m.has_vfs("ro"),
                name,
                format_args!("{} mounted {}", m.mount_point, m.vfs_opts.join(",")),
            ),
            None => tap.fail(name, "no mount covers it"),
        }
    }
    let want_ro = cfg["root"]["readonly"].as_bool().unwrap_or(false);
    match mountinfo::at(&table, "/") {
        Some(m) => tap.check(
            m.has_vfs("ro") == want_ro,
            format!(
                "root is {}",
                if want_ro { "read-only" } else { "read-write" }
            ),
            format_args!("/ mounted {}", m.vfs_opts.join(",")),
        ),
        None => tap.fail("root mount", "no mount at /"),
    }
}

fn check_masked(p: &str, tap: &mut Tap) {
    let name = format!("masked path {p}");
    let st = match std::fs::metadata(p) {
        Ok(st) => st,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return tap.pass(format_args!("{name} (absent)"))
        }
        // Not even stat-able: it cannot be read either.
        Err(_) => return tap.pass(name),
    };
    if st.is_dir() {
        match std::fs::read_dir(p) {
            Ok(entries) => {
                let names: Vec<String> = entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .take(5)
                    .collect();
                tap.check(names.is_empty(), name, format_args!("lists {names:?}"));
            }
            Err(_) => tap.pass(name),
        }
    } else {
        let mut buf = [0u8; 16];
        let read = std::fs::File::open(p).and_then(|mut f| f.read(&mut buf));
        tap.check(
            !matches!(read, Ok(n) if n > 0),
            name,
            format_args!("read {read:?} bytes"),
        );
    }
}
