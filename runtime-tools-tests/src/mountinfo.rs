//! Parser for `/proc/<pid>/mountinfo` (proc(5)).

/// One mount as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub id: u32,
    pub parent: u32,
    /// `major:minor` of the filesystem.
    pub dev: String,
    /// Path inside the filesystem that forms this mount's root.
    pub root: String,
    pub mount_point: String,
    /// Per-mount (VFS) options: `ro`, `nosuid`, `relatime`, ...
    pub vfs_opts: Vec<String>,
    /// Optional fields: `shared:N`, `master:N`, `propagate_from:N`, `unbindable`.
    pub optional: Vec<String>,
    pub fstype: String,
    pub source: String,
    /// Per-superblock options: `mode=755`, `size=65536k`, ...
    pub super_opts: Vec<String>,
}

impl Mount {
    /// Whether a per-mount option is set.
    pub fn has_vfs(&self, opt: &str) -> bool {
        self.vfs_opts.iter().any(|o| o == opt)
    }

    /// Whether the mount is a member of a peer group (`shared:N`).
    pub fn is_shared(&self) -> bool {
        self.optional.iter().any(|o| o.starts_with("shared:"))
    }

    /// Whether the mount receives propagation from a master (`master:N`).
    pub fn is_slave(&self) -> bool {
        self.optional.iter().any(|o| o.starts_with("master:"))
    }

    /// Whether the mount is unbindable.
    pub fn is_unbindable(&self) -> bool {
        self.optional.iter().any(|o| o == "unbindable")
    }
}

/// Undoes the octal escapes (`\040`) the kernel uses for spaces and the like.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses one mountinfo line.
pub fn parse_line(line: &str) -> Option<Mount> {
    let (left, right) = line.split_once(" - ")?;
    let mut l = left.split(' ');
    let id = l.next()?.parse().ok()?;
    let parent = l.next()?.parse().ok()?;
    let dev = l.next()?.to_string();
    let root = unescape(l.next()?);
    let mount_point = unescape(l.next()?);
    let vfs_opts = l.next()?.split(',').map(str::to_string).collect();
    let optional = l.filter(|s| !s.is_empty()).map(str::to_string).collect();
    let mut r = right.split(' ');
    let fstype = r.next()?.to_string();
    let source = unescape(r.next()?);
    let super_opts = r
        .next()
        .unwrap_or("")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    Some(Mount {
        id,
        parent,
        dev,
        root,
        mount_point,
        vfs_opts,
        optional,
        fstype,
        source,
        super_opts,
    })
}

/// Parses a whole mountinfo text, skipping lines it cannot read.
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_line).collect()
}

/// Reads the calling process's mount table.
pub fn read_self() -> std::io::Result<Vec<Mount>> {
    Ok(parse(&std::fs::read_to_string("/proc/self/mountinfo")?))
}

/// The topmost mount whose mount point is exactly `path`.
pub fn at<'a>(mounts: &'a [Mount], path: &str) -> Option<&'a Mount> {
    mounts.iter().rev().find(|m| m.mount_point == path)
}

/// The topmost mount that contains `path` (longest mount point prefix).
pub fn covering<'a>(mounts: &'a [Mount], path: &str) -> Option<&'a Mount> {
    let mut best: Option<&Mount> = None;
    for m in mounts {
        let mp = m.mount_point.as_str();
        let inside = path == mp
            || mp == "/"
            || (path.starts_with(mp) && path.as_bytes().get(mp.len()) == Some(&b'/'));
        if inside && best.is_none_or(|b| mp.len() >= b.mount_point.len()) {
            best = Some(m);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str =
        "68 67 0:42 / /dev/pts rw,nosuid,noexec,relatime shared:3 - devpts devpts rw,gid=5,mode=620";

    #[test]
    fn parses_fields() {
        let m = parse_line(LINE).unwrap();
        assert_eq!(m.mount_point, "/dev/pts");
        assert!(m.has_vfs("noexec"));
        assert!(m.is_shared());
        assert_eq!(m.fstype, "devpts");
        assert_eq!(m.super_opts, vec!["rw", "gid=5", "mode=620"]);
    }

    #[test]
    fn unescapes_spaces() {
        let m = parse_line("1 0 0:1 / /a\\040b rw - tmpfs x rw").unwrap();
        assert_eq!(m.mount_point, "/a b");
        assert!(m.optional.is_empty());
    }

    #[test]
    fn covering_picks_longest_prefix() {
        let ms = parse("1 0 0:1 / / rw - ext4 a rw\n2 1 0:2 / /proc rw - proc p rw\n3 2 0:2 /sys /proc/sys ro - proc p rw\n");
        assert_eq!(covering(&ms, "/proc/sys/kernel").unwrap().id, 3);
        assert_eq!(covering(&ms, "/procx").unwrap().id, 1);
    }
}
