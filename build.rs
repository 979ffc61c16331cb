//! Embeds the git commit husk is built from (`husk --version`: `commit: …`) as
//! HUSK_COMMIT; `unknown` outside a git checkout.

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| !o.stdout.is_empty());
    if let Some(c) = commit {
        let suffix = if dirty { "-dirty" } else { "" };
        println!("cargo:rustc-env=HUSK_COMMIT={c}{suffix}");
    }
    // A new commit or checkout changes HEAD or the ref it names.
    for f in [".git/HEAD", ".git/index"] {
        println!("cargo:rerun-if-changed={f}");
    }
    if let Ok(head) = std::fs::read_to_string(".git/HEAD") {
        if let Some(r) = head.trim().strip_prefix("ref: ") {
            println!("cargo:rerun-if-changed=.git/{r}");
        }
    }
}
