//! Host facts recorded for the checker, and holder processes whose namespaces tests
//! join by path.

use crate::hostinfo::HostInfo;
use crate::procfs::{self, NAMESPACES};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The runner's own namespaces, bounding set, seccomp mode and LSMs: the runtime
/// runs with these, so they are the "runtime namespaces" of the spec.
pub fn gather() -> HostInfo {
    let mut h = HostInfo::default();
    for (_, file) in NAMESPACES {
        if let Ok(i) = procfs::ns_inode(format!("/proc/self/ns/{file}")) {
            h.host_ns.insert(file.to_string(), i);
        }
    }
    let status = procfs::status("self").unwrap_or_default();
    h.cap_bounding = status
        .get("CapBnd")
        .and_then(|v| procfs::hex_mask(v))
        .unwrap_or(0);
    h.seccomp_mode = status.get("Seccomp").cloned().unwrap_or_else(|| "0".into());
    h.apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y");
    h.selinux = Path::new("/sys/fs/selinux/enforce").exists();
    h
}

/// A process sitting in fresh namespaces (made by `unshare`) for tests to join.
#[derive(Debug)]
pub struct NsHolder {
    child: Child,
    /// The process that is inside the namespaces.
    pub pid: u32,
}

impl NsHolder {
    /// `unshare FLAGS busybox sh -c SCRIPT`, where SCRIPT ends in `exec /bin/sleep N`;
    /// with `--pid` it forks, and the holder is the forked child (pid 1 of the new pid
    /// namespace).
    pub fn spawn(flags: &[&str], script: &str) -> Result<Self, String> {
        let busybox = "/bin/busybox";
        let forks = flags.contains(&"--pid");
        let mut cmd = Command::new("unshare");
        cmd.args(flags);
        if forks {
            cmd.args(["--fork", "--kill-child"]);
        }
        cmd.args(["--", busybox, "sh", "-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().map_err(|e| format!("unshare: {e}"))?;
        let mut holder = NsHolder {
            pid: child.id(),
            child,
        };
        let start = Instant::now();
        loop {
            if forks {
                let children = format!("/proc/{0}/task/{0}/children", holder.child.id());
                if let Some(p) = std::fs::read_to_string(children)
                    .ok()
                    .and_then(|s| s.split_whitespace().next()?.parse().ok())
                {
                    holder.pid = p;
                }
            }
            // Ready once the script has done its setup and exec'd /bin/sleep.
            let comm =
                std::fs::read_to_string(format!("/proc/{}/comm", holder.pid)).unwrap_or_default();
            if comm.trim() == "sleep" {
                return Ok(holder);
            }
            if start.elapsed() > Duration::from_secs(5) {
                return Err(format!("namespace holder {flags:?} did not start"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// `/proc/PID/ns/FILE` of the holder.
    pub fn ns_path(&self, file: &str) -> String {
        format!("/proc/{}/ns/{file}", self.pid)
    }

    /// Inode of the holder's namespace `file`.
    pub fn ns_inode(&self, file: &str) -> u64 {
        procfs::ns_inode(self.ns_path(file)).unwrap_or(0)
    }
}

impl Drop for NsHolder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
