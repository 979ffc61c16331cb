//! One OCI bundle per test: a busybox rootfs with the checker at `/rtt/checker`, the
//! config, and the host facts the checker needs (`/rtt/config.json`, `/rtt/host.json`).

use crate::hostinfo::HostInfo;
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// busybox applets linked into `/bin` of every rootfs.
const APPLETS: [&str; 13] = [
    "sh", "sleep", "cat", "echo", "true", "ls", "mkdir", "id", "hostname", "kill", "touch", "env",
    "readlink",
];

/// A bundle directory and the config that will be written into it.
#[derive(Debug)]
pub struct Bundle {
    pub id: String,
    pub dir: PathBuf,
    pub config: Value,
    /// Inodes of namespaces the config joins by path, by config type.
    pub joined: BTreeMap<String, u64>,
}

fn link_or_copy(from: &Path, to: &Path) -> std::io::Result<()> {
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to)?;
    }
    Ok(())
}

fn mkdir_mode(p: &Path, mode: u32) -> std::io::Result<()> {
    std::fs::create_dir_all(p)?;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
}

impl Bundle {
    /// Makes `dir` with a rootfs (busybox and checker hard-linked from `template`).
    pub fn create(
        id: String,
        dir: PathBuf,
        template: &Path,
        config: Value,
    ) -> std::io::Result<Self> {
        let rootfs = dir.join("rootfs");
        mkdir_mode(&dir, 0o755)?;
        for d in ["bin", "proc", "sys", "dev", "etc", "mnt", "rtt"] {
            mkdir_mode(&rootfs.join(d), 0o755)?;
        }
        mkdir_mode(&rootfs.join("tmp"), 0o1777)?;
        mkdir_mode(&rootfs.join("rtt/out"), 0o777)?;
        link_or_copy(&template.join("busybox"), &rootfs.join("bin/busybox"))?;
        for a in APPLETS {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a))?;
        }
        link_or_copy(&template.join("checker"), &rootfs.join("rtt/checker"))?;
        Ok(Bundle {
            id,
            dir,
            config,
            joined: BTreeMap::new(),
        })
    }

    /// The rootfs directory.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    /// A file the container writes under `/rtt/out`.
    pub fn out(&self, name: &str) -> PathBuf {
        self.rootfs().join("rtt/out").join(name)
    }

    /// What the container (and `create`) wrote to stdout.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.join("stdout")).unwrap_or_default()
    }

    /// Sets `process.args`.
    pub fn args(&mut self, args: &[&str]) {
        self.config["process"]["args"] = serde_json::json!(args);
    }

    /// Writes `config.json`, and `/rtt/config.json` + `/rtt/host.json` in the rootfs.
    pub fn write(&self, host: &HostInfo) -> Result<(), String> {
        let text = serde_json::to_string_pretty(&self.config).map_err(|e| e.to_string())?;
        let w = |p: PathBuf, t: &str| {
            std::fs::write(&p, t).map_err(|e| format!("{}: {e}", p.display()))
        };
        w(self.dir.join("config.json"), &text)?;
        let rtt = self.rootfs().join("rtt");
        if rtt.is_dir() {
            let mut h = host.clone();
            h.joined_ns = self.joined.clone();
            h.bind_sources = self.bind_sources();
            w(rtt.join("config.json"), &text)?;
            w(rtt.join("host.json"), &h.to_json().to_string())?;
        }
        Ok(())
    }

    /// `(st_dev, st_ino)` of each bind mount source, by destination.
    fn bind_sources(&self) -> BTreeMap<String, (u64, u64)> {
        let mut out = BTreeMap::new();
        for m in self.config["mounts"].as_array().into_iter().flatten() {
            let opts = crate::checker::strings(&m["options"]);
            let bind = m["type"] == "bind" || opts.iter().any(|o| *o == "bind" || *o == "rbind");
            let (Some(src), Some(dest)) = (m["source"].as_str(), m["destination"].as_str()) else {
                continue;
            };
            if !bind {
                continue;
            }
            let src = self.dir.join(src);
            if let Ok(st) = std::fs::metadata(&src) {
                let dest = format!("/{}", dest.trim_start_matches('/'));
                out.insert(dest, (st.dev(), st.ino()));
            }
        }
        out
    }
}
