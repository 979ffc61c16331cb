//! Finding the binaries the suite needs: the husk binary of this workspace, the static
//! checker (built with cargo when missing), and the skip list of a runtime.

use std::path::{Path, PathBuf};
use std::process::Command;

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
const CHECKER_TARGET: &str = "x86_64-unknown-linux-gnu";

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(MANIFEST_DIR).join("../target"))
}

/// The newest of `target/{release,debug}/husk`.
pub fn husk() -> Result<PathBuf, String> {
    let t = target_dir();
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = ["release", "debug"]
        .iter()
        .map(|p| t.join(p).join("husk"))
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, p)| p)
        .ok_or_else(|| format!("no husk binary under {}; set RUNTIME", t.display()))
}

/// The static checker: next to the runner's target dir, else built now with cargo.
pub fn checker() -> Result<PathBuf, String> {
    let mut dirs = vec![target_dir()];
    if let Some(d) = std::env::current_exe()
        .ok()
        .and_then(|e| Some(e.parent()?.parent()?.to_path_buf()))
    {
        dirs.insert(0, d);
    }
    for d in &dirs {
        let p = d.join(CHECKER_TARGET).join("release/rtt-checker");
        if p.is_file() {
            return Ok(p);
        }
    }
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "-p",
            "runtime-tools-tests",
            "--bin",
            "rtt-checker",
            "--target",
            CHECKER_TARGET,
        ])
        .arg("--manifest-path")
        .arg(Path::new(MANIFEST_DIR).join("Cargo.toml"))
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env("CARGO_TARGET_DIR", &dirs[dirs.len() - 1])
        .status()
        .map_err(|e| format!("cargo: {e}"))?;
    let p = dirs[dirs.len() - 1]
        .join(CHECKER_TARGET)
        .join("release/rtt-checker");
    if status.success() && p.is_file() {
        Ok(p)
    } else {
        Err("building the static checker failed".into())
    }
}

/// Fails unless `path` is an ELF file without an interpreter (statically linked).
pub fn ensure_static(path: &Path) -> Result<(), String> {
    let b = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let u16_at = |o: usize| {
        b.get(o..o + 2)
            .map(|s| u16::from_le_bytes([s[0], s[1]]) as usize)
    };
    let u64_at = |o: usize| {
        b.get(o..o + 8)
            .map(|s| u64::from_le_bytes(s.try_into().unwrap()) as usize)
    };
    if b.get(..4) != Some(b"\x7fELF") || b.get(4) != Some(&2) {
        return Err(format!("{} is not a 64-bit ELF file", path.display()));
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return Err(format!("{}: truncated ELF header", path.display()));
    };
    for i in 0..phnum {
        let o = phoff + i * phentsize;
        if b.get(o..o + 4) == Some(&3u32.to_le_bytes()) {
            return Err(format!(
                "{} is dynamically linked; build it with RUSTFLAGS='-C target-feature=+crt-static'",
                path.display()
            ));
        }
    }
    Ok(())
}

/// `runtime-tools-tests/skip-<name>.txt`.
pub fn skip_file(runtime_name: &str) -> PathBuf {
    Path::new(MANIFEST_DIR).join(format!("skip-{runtime_name}.txt"))
}
