//! Small readers for `/proc` files shared by the checker and the runner.

use std::collections::BTreeMap;
use std::path::Path;

/// The `Key:\tvalue` lines of a `/proc/<pid>/status` file.
pub fn status(pid: &str) -> std::io::Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    Ok(parse_status(&text))
}

/// Parses `Key:\tvalue` lines.
pub fn parse_status(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// A hexadecimal capability mask from a status value (`CapEff` ...).
pub fn hex_mask(v: &str) -> Option<u64> {
    u64::from_str_radix(v.trim(), 16).ok()
}

/// The inode of a namespace link such as `/proc/self/ns/net`.
pub fn ns_inode(path: impl AsRef<Path>) -> std::io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata(path)?.ino())
}

/// Namespace names under `/proc/<pid>/ns` and the `config.json` type each belongs to.
pub const NAMESPACES: [(&str, &str); 8] = [
    ("pid", "pid"),
    ("network", "net"),
    ("mount", "mnt"),
    ("ipc", "ipc"),
    ("uts", "uts"),
    ("user", "user"),
    ("cgroup", "cgroup"),
    ("time", "time"),
];

/// The `/proc/<pid>/ns` file name of a `config.json` namespace type.
pub fn ns_file(config_type: &str) -> Option<&'static str> {
    NAMESPACES
        .iter()
        .find(|(t, _)| *t == config_type)
        .map(|(_, f)| *f)
}

/// Device major number of a `dev_t` (glibc's encoding).
pub fn major(dev: u64) -> u64 {
    ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)
}

/// Device minor number of a `dev_t` (glibc's encoding).
pub fn minor(dev: u64) -> u64 {
    (dev & 0xff) | ((dev >> 12) & !0xff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_masks() {
        let s = parse_status("Name:\tx\nCapEff:\t0000000020000420\n");
        assert_eq!(hex_mask(&s["CapEff"]), Some(0x20000420));
    }

    #[test]
    fn splits_dev_t() {
        let dev = (5u64 << 8) | 2;
        assert_eq!((major(dev), minor(dev)), (5, 2));
    }
}
