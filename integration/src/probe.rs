//! Small static C programs the tests run inside busybox containers, where a
//! shell cannot do what is needed (`probes/*.c`, e.g. calling a syscall by
//! number). Each is built once per test binary with the host's C compiler
//! (`cc -static`; .ci/run installs build-essential) into a temp directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The built probe `name` (`probes/<name>.c`); panics with the compiler's
/// output if it cannot be built.
pub fn build(name: &str) -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap();
    let dir = DIR.get_or_init(|| {
        tempfile::Builder::new()
            .prefix("husk-it-probes-")
            .tempdir()
            .expect("probe dir")
    });
    let out = dir.path().join(name);
    if out.exists() {
        return out;
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("probes")
        .join(format!("{name}.c"));
    let res = Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .arg(&out)
        .arg(&src)
        .output()
        .unwrap_or_else(|e| panic!("cc (needed to build {}): {e}", src.display()));
    assert!(
        res.status.success(),
        "cc -static {}: {}",
        src.display(),
        String::from_utf8_lossy(&res.stderr)
    );
    out
}

/// Copy probe `name` into the bundle's rootfs at `/<name>`; returns that path.
pub fn install(name: &str, rootfs: &Path) -> String {
    std::fs::copy(build(name), rootfs.join(name)).expect("copying the probe");
    format!("/{name}")
}
