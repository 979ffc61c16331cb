//! An unprivileged user for the rootless tests: made once per machine (useradd,
//! with /etc/subuid and /etc/subgid ranges for newuidmap/newgidmap), with an
//! XDG_RUNTIME_DIR of its own; commands run as it through [`User::apply`].

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The test user's name.
pub const NAME: &str = "husk-rootless";
/// Its subordinate id range (/etc/subuid and /etc/subgid): start and size.
pub const SUB_START: u32 = 300_000;
pub const SUB_SIZE: u32 = 65_536;

#[derive(Debug, Clone)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    /// Its XDG_RUNTIME_DIR (mode 0700, its own).
    pub runtime_dir: PathBuf,
}

/// The test user, made on first use (root only).
pub fn user() -> &'static User {
    static USER: OnceLock<User> = OnceLock::new();
    USER.get_or_init(|| make().unwrap_or_else(|e| panic!("making the rootless test user: {e}")))
}

fn id_of(flag: &str) -> Option<u32> {
    let out = Command::new("id").arg(flag).arg(NAME).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn make() -> Result<User, String> {
    if id_of("-u").is_none() {
        let st = Command::new("useradd")
            .args(["--system", "--no-create-home", "--shell", "/bin/sh", NAME])
            .status()
            .map_err(|e| format!("useradd: {e}"))?;
        if !st.success() && id_of("-u").is_none() {
            return Err(format!("useradd {NAME}: {st}"));
        }
    }
    for file in ["/etc/subuid", "/etc/subgid"] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if !text.lines().any(|l| l.starts_with(&format!("{NAME}:"))) {
            let mut t = text;
            if !t.is_empty() && !t.ends_with('\n') {
                t.push('\n');
            }
            t.push_str(&format!("{NAME}:{SUB_START}:{SUB_SIZE}\n"));
            std::fs::write(file, t).map_err(|e| format!("{file}: {e}"))?;
        }
    }
    let uid = id_of("-u").ok_or("no uid")?;
    let gid = id_of("-g").ok_or("no gid")?;
    let runtime_dir = PathBuf::from(format!("/tmp/husk-rootless-run-{uid}"));
    std::fs::create_dir_all(&runtime_dir).map_err(|e| e.to_string())?;
    let user = User {
        uid,
        gid,
        runtime_dir,
    };
    user.chown(&user.runtime_dir);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&user.runtime_dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| e.to_string())?;
    Ok(user)
}

impl User {
    /// Make `path` (not recursively) the user's.
    pub fn chown(&self, path: &Path) {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid))
            .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
    }

    /// Make `path` and everything below it the user's.
    pub fn chown_tree(&self, path: &Path) {
        let st = Command::new("chown")
            .arg("-R")
            .arg(format!("{}:{}", self.uid, self.gid))
            .arg(path)
            .status()
            .expect("chown -R");
        assert!(st.success(), "chown -R {}", path.display());
    }

    /// Run `cmd` as the user, with its environment.
    pub fn apply(&self, cmd: &mut Command) {
        cmd.uid(self.uid)
            .gid(self.gid)
            .env("XDG_RUNTIME_DIR", &self.runtime_dir)
            .env("HOME", &self.runtime_dir)
            .env("USER", NAME)
            .env("LOGNAME", NAME);
    }
}
