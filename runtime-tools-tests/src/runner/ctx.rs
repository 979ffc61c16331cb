//! Per-run context: the runtime with its private `--root`, the work directory, host
//! facts, and everything a test created, so it is all removed after the test.

use super::bundle::Bundle;
use super::host::{self, NsHolder};
use super::leaks;
use super::runtime::Runtime;
use super::spec;
use crate::hostinfo::HostInfo;
use std::path::{Path, PathBuf};

/// State shared by the tests of one run.
pub struct Ctx {
    pub rt: Runtime,
    pub host: HostInfo,
    pub verbose: bool,
    keep: bool,
    workdir: PathBuf,
    template: PathBuf,
    seq: usize,
    /// (bundle dir, container id) made by the current test.
    made: Vec<(PathBuf, String)>,
    holders: Vec<NsHolder>,
}

impl Ctx {
    /// Makes the work directory (`/tmp/rtt-<runtime>-<pid>`) with the runtime's root.
    pub fn new(
        runtime: PathBuf,
        checker: &Path,
        verbose: bool,
        keep: bool,
    ) -> Result<Self, String> {
        let name = runtime
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let workdir = std::env::temp_dir().join(format!("rtt-{name}-{}", std::process::id()));
        let template = workdir.join("template");
        let io = |e: std::io::Error| format!("{}: {e}", workdir.display());
        std::fs::create_dir_all(&template).map_err(io)?;
        std::fs::create_dir_all(workdir.join("logs")).map_err(io)?;
        std::fs::create_dir_all(workdir.join("root")).map_err(io)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&workdir, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
        std::fs::copy("/bin/busybox", template.join("busybox"))
            .map_err(|e| format!("/bin/busybox (install busybox-static): {e}"))?;
        std::fs::copy(checker, template.join("checker"))
            .map_err(|e| format!("{}: {e}", checker.display()))?;
        let rt = Runtime::new(runtime, workdir.join("root"), workdir.join("logs"));
        Ok(Ctx {
            rt,
            host: host::gather(),
            verbose,
            keep,
            workdir,
            template,
            seq: 0,
            made: Vec::new(),
            holders: Vec::new(),
        })
    }

    /// A fresh bundle with the base config, for container id `rtt-<pid>-<name>`.
    pub fn bundle(&mut self, name: &str) -> Result<Bundle, String> {
        self.seq += 1;
        let id = format!("rtt{}-{}-{name}", std::process::id(), self.seq);
        let dir = self.workdir.join(format!("{}-{name}", self.seq));
        self.made.push((dir.clone(), id.clone()));
        let cfg = spec::base(&id);
        Bundle::create(id, dir.clone(), &self.template, cfg)
            .map_err(|e| format!("bundle {}: {e}", dir.display()))
    }

    /// The run's work directory (outside every rootfs).
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// Keeps a namespace holder alive until the end of the current test.
    pub fn hold(&mut self, h: NsHolder) -> &NsHolder {
        self.holders.push(h);
        self.holders.last().expect("just pushed")
    }

    /// Removes everything the test made; returns notes about what had to be cleaned.
    pub fn finish_test(&mut self) -> Vec<String> {
        let mut notes = Vec::new();
        for (dir, id) in std::mem::take(&mut self.made) {
            if self.rt.list_ids().is_ok_and(|ids| ids.contains(&id)) {
                self.rt.force_delete(&id);
            }
            let found = leaks::find(&dir, &id);
            if !found.is_empty() {
                notes.push(format!(
                    "cleanup of {id}: {}",
                    found
                        .iter()
                        .map(|l| l.to_string())
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
                leaks::clean(&found);
            }
            if !self.keep {
                if let Err(e) = leaks::remove_tree(&dir) {
                    notes.push(e);
                }
            }
        }
        self.holders.clear();
        notes
    }

    /// Deletes any container left in the runtime's root, then the work directory.
    pub fn shutdown(&mut self) {
        for id in self.rt.list_ids().unwrap_or_default() {
            self.rt.force_delete(&id);
        }
        if self.keep {
            println!("# kept {}", self.workdir.display());
        } else if let Err(e) = leaks::remove_tree(&self.workdir) {
            println!("# {e}");
        }
    }
}
