//! Mounts: each configured mount exists at its destination with its filesystem type,
//! source, per-mount flags, propagation and the filesystem options that the kernel
//! reports back; `linux.rootfsPropagation` on the root mount.

use crate::hostinfo::HostInfo;
use crate::mountinfo::{self, Mount};
use crate::tap::Tap;
use serde_json::Value;
use std::os::unix::fs::MetadataExt;

/// Checks `mounts` and `linux.rootfsPropagation`.
pub fn check(cfg: &Value, host: &HostInfo, tap: &mut Tap) {
    let table = match mountinfo::read_self() {
        Ok(t) => t,
        Err(e) => return tap.fail("read /proc/self/mountinfo", e),
    };
    for m in cfg["mounts"].as_array().into_iter().flatten() {
        check_one(m, &table, host, tap);
    }
    if let Some(p) = cfg["linux"]["rootfsPropagation"].as_str() {
        let name = format!("rootfsPropagation {p}");
        match mountinfo::at(&table, "/") {
            Some(root) => {
                let problems = propagation_problems(p, root);
                tap.check(problems.is_empty(), name, problems.join("; "));
            }
            None => tap.fail(name, "no mount at /"),
        }
    }
}

fn check_one(m: &Value, table: &[Mount], host: &HostInfo, tap: &mut Tap) {
    let raw = m["destination"].as_str().unwrap_or("");
    let dest = if raw.starts_with('/') {
        raw.to_string()
    } else {
        format!("/{raw}")
    };
    let dest = dest.trim_end_matches('/').to_string();
    let dest = if dest.is_empty() { "/".into() } else { dest };
    let fstype = m["type"].as_str().unwrap_or("");
    let opts = super::strings(&m["options"]);
    let name = format!(
        "mount {dest} ({})",
        [fstype]
            .into_iter()
            .chain(opts.iter().copied())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(",")
    );
    let bind = fstype == "bind" || opts.iter().any(|o| *o == "bind" || *o == "rbind");
    let mut problems = Vec::new();
    let targets: Vec<&Mount> = if fstype == "cgroup" || fstype == "cgroup2" {
        // cgroup v1 is a tmpfs of per-controller mounts; v2 a single mount.
        table
            .iter()
            .filter(|t| t.fstype.starts_with("cgroup"))
            .filter(|t| t.mount_point == dest || t.mount_point.starts_with(&format!("{dest}/")))
            .collect()
    } else {
        mountinfo::at(table, &dest).into_iter().collect()
    };
    let Some(first) = targets.first() else {
        return tap.fail(name, format_args!("nothing mounted at {dest}"));
    };
    if bind {
        match (host.bind_sources.get(&dest), std::fs::metadata(&dest)) {
            (Some(&(dev, ino)), Ok(st)) if (st.dev(), st.ino()) != (dev, ino) => {
                problems.push(format!(
                    "{dest} is not the bind source (dev/ino {}/{} vs {dev}/{ino})",
                    st.dev(),
                    st.ino()
                ))
            }
            (_, Err(e)) => problems.push(format!("stat {dest}: {e}")),
            _ => {}
        }
    } else if !fstype.starts_with("cgroup") {
        if !fstype.is_empty() && first.fstype != fstype {
            problems.push(format!("type {} instead of {fstype}", first.fstype));
        }
        let source = m["source"].as_str().unwrap_or("");
        if !source.is_empty() && first.source != source {
            problems.push(format!("source {} instead of {source}", first.source));
        }
    }
    for t in &targets {
        problems.extend(option_problems(&opts, t));
    }
    tap.check(problems.is_empty(), name, problems.join("\n"));
}

/// What is wrong with one mount given its configured options.
fn option_problems(opts: &[&str], t: &Mount) -> Vec<String> {
    let mut p = Vec::new();
    let at = &t.mount_point;
    let want_flag = |p: &mut Vec<String>, flag: &str| {
        if !t.has_vfs(flag) {
            p.push(format!("{at}: missing {flag} in {}", t.vfs_opts.join(",")));
        }
    };
    let want_no_flag = |p: &mut Vec<String>, flag: &str| {
        if t.has_vfs(flag) {
            p.push(format!(
                "{at}: unexpected {flag} in {}",
                t.vfs_opts.join(",")
            ));
        }
    };
    if !opts.contains(&"ro") && !opts.contains(&"rro") {
        want_flag(&mut p, "rw");
    }
    for o in opts {
        match *o {
            "ro" | "rw" | "nosuid" | "nodev" | "noexec" | "noatime" | "relatime" => {
                want_flag(&mut p, o)
            }
            "nodiratime" if !t.has_vfs("noatime") => want_flag(&mut p, o),
            "suid" | "dev" | "exec" => want_no_flag(&mut p, &format!("no{o}")),
            "strictatime" => {
                want_no_flag(&mut p, "relatime");
                want_no_flag(&mut p, "noatime");
            }
            "norelatime" => want_no_flag(&mut p, "relatime"),
            // Recursive attributes (mount_setattr): the mount itself shows them too.
            "rro" | "rnosuid" | "rnodev" | "rnoexec" | "rnoatime" | "rnosymfollow" => {
                want_flag(&mut p, &o[1..])
            }
            "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" | "unbindable"
            | "runbindable" => p.extend(propagation_problems(o.trim_start_matches('r'), t)),
            _ => {
                if let Some((k, v)) = o.split_once('=') {
                    p.extend(data_problem(k, v, t));
                }
            }
        }
    }
    p
}

/// Propagation type of a mount against `shared`, `slave`, `private` or `unbindable`.
///
/// `slave` only requires "not shared": a mount made a slave of a private mount has no
/// master and the kernel shows it as private.
fn propagation_problems(want: &str, t: &Mount) -> Vec<String> {
    let got = t.optional.join(" ");
    let ok = match want {
        "shared" => t.is_shared(),
        "slave" => !t.is_shared(),
        "private" => !t.is_shared() && !t.is_slave() && !t.is_unbindable(),
        "unbindable" => t.is_unbindable(),
        _ => true,
    };
    if ok {
        Vec::new()
    } else {
        vec![format!(
            "{}: propagation '{got}' is not {want}",
            t.mount_point
        )]
    }
}

/// Filesystem data options the kernel echoes back in mountinfo.
fn data_problem(key: &str, val: &str, t: &Mount) -> Option<String> {
    let norm = |k: &str, v: &str| -> Option<u64> {
        match k {
            "mode" | "ptmxmode" => u64::from_str_radix(v, 8).ok(),
            "uid" | "gid" => v.parse().ok(),
            "size" => {
                let (n, mul) = match v.chars().last()? {
                    'k' | 'K' => (&v[..v.len() - 1], 1024),
                    'm' | 'M' => (&v[..v.len() - 1], 1 << 20),
                    'g' | 'G' => (&v[..v.len() - 1], 1 << 30),
                    _ => (v, 1),
                };
                n.parse::<u64>().ok().map(|n| n * mul)
            }
            _ => None,
        }
    };
    if val.ends_with('%') {
        return None;
    }
    let mut want = norm(key, val)?;
    if key == "uid" || key == "gid" {
        // The kernel shows owners as ids of the initial user namespace.
        want = to_host_id(&format!("/proc/self/{key}_map"), want);
    }
    let got = t
        .super_opts
        .iter()
        .filter_map(|o| o.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(k, v)| norm(k, v))
        // tmpfs does not echo its default mode.
        .or((key == "mode" && t.fstype == "tmpfs").then_some(0o1777));
    (got != Some(want)).then(|| {
        format!(
            "{}: {key}={val} not in {}",
            t.mount_point,
            t.super_opts.join(",")
        )
    })
}

/// Maps an id of this user namespace to the initial namespace through `map_file`.
fn to_host_id(map_file: &str, id: u64) -> u64 {
    let text = std::fs::read_to_string(map_file).unwrap_or_default();
    for line in text.lines() {
        let f: Vec<u64> = line
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if f.len() == 3 && id >= f[0] && id - f[0] < f[2] {
            return f[1] + (id - f[0]);
        }
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_options_are_normalised() {
        let t = mountinfo::parse_line(
            "1 0 0:1 / /dev/pts rw,nosuid,noexec - devpts devpts rw,gid=5,mode=620,ptmxmode=666",
        )
        .unwrap();
        assert!(option_problems(
            &[
                "nosuid",
                "noexec",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
                "newinstance"
            ],
            &t
        )
        .is_empty());
        assert_eq!(option_problems(&["nodev"], &t).len(), 1);
        let s = mountinfo::parse_line("1 0 0:1 / /x rw - tmpfs t rw,size=1024k").unwrap();
        assert!(data_problem("size", "1m", &s).is_none());
    }
}
