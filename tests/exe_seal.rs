//! CVE-2019-5736 tests for `husk::exe_seal`, driven through the `seal-probe` helper
//! binary (src/bin/seal-probe.rs), which seals itself like `husk create` will and then
//! plays parts of the attack. Each test runs its own copy of the probe from a fresh
//! directory, so the "host binary" being attacked is that copy, and compares its bytes
//! before and after. Needs root (overlay seal, attacking /proc/PID/exe); skips if not.

use std::ffi::CString;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    eprintln!("skipping: exe_seal tests need root");
    false
}

/// A private copy of seal-probe: the "host husk binary" a test attacks.
struct Probe {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    path: PathBuf,
    original: Vec<u8>,
}

impl Probe {
    fn new() -> Probe {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
        let path = dir.path().join("seal-probe");
        let original = std::fs::read(env!("CARGO_BIN_EXE_seal-probe")).expect("read probe");
        std::fs::write(&path, &original).expect("copy probe");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        Probe {
            dir: dir.path().to_path_buf(),
            _dir: dir,
            path,
            original,
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.path);
        c.args(args).env_remove("_HUSK_EXE_SEALED");
        c
    }

    fn unchanged(&self) -> bool {
        std::fs::read(&self.path).expect("read probe copy") == self.original
    }

    /// A `#!/proc/self/exe ARG` script next to the probe.
    fn script(&self, arg: &str) -> PathBuf {
        let p = self.dir.join(format!("entrypoint-{arg}"));
        std::fs::write(&p, format!("#!/proc/self/exe {arg}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }
}

/// Spawns, retrying ETXTBSY: another test thread may fork while our freshly written
/// copy still has a write fd open (the fd stays open in that child until its exec).
fn spawn(cmd: &mut Command) -> Child {
    for _ in 0..50 {
        match cmd.spawn() {
            Ok(c) => return c,
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            Err(e) => panic!("spawn {cmd:?}: {e}"),
        }
    }
    panic!("spawn {cmd:?}: ETXTBSY persists");
}

fn output(mut cmd: Command) -> Output {
    let child = spawn(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()));
    child.wait_with_output().expect("wait probe")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
}

fn open(path: &str, flags: libc::c_int) -> Result<OwnedFd, i32> {
    let c = CString::new(path).unwrap();
    // SAFETY: NUL-terminated path; open has no other preconditions.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap());
    }
    // SAFETY: `fd` was just returned by open and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// How a write attempt ended.
#[derive(Debug, PartialEq)]
enum Attempt {
    BlockedAtOpen(i32),
    BlockedAtWrite(i32),
    Written,
}

/// Opens `path` for writing and overwrites the start of the file, as the exploit does.
fn try_write(path: &str, flags: libc::c_int) -> Attempt {
    let fd = match open(path, flags) {
        Ok(fd) => fd,
        Err(e) => return Attempt::BlockedAtOpen(e),
    };
    let payload = b"PWNED";
    // SAFETY: writes from a valid buffer of the given length to a valid fd.
    let n = unsafe { libc::pwrite(fd.as_raw_fd(), payload.as_ptr().cast(), payload.len(), 0) };
    if n < 0 {
        let e = std::io::Error::last_os_error().raw_os_error().unwrap();
        // SAFETY: ftruncate on a valid fd.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), 1) } == 0 {
            return Attempt::Written;
        }
        return Attempt::BlockedAtWrite(e);
    }
    Attempt::Written
}

fn is_blocked(a: &Attempt) -> bool {
    const OK: [i32; 4] = [libc::EROFS, libc::EACCES, libc::ETXTBSY, libc::EPERM];
    match a {
        Attempt::BlockedAtOpen(e) | Attempt::BlockedAtWrite(e) => OK.contains(e),
        Attempt::Written => false,
    }
}

/// The attack with its real timing: spawn `args` (which prints a line with `pid=` and
/// `kind=` and then waits for stdin EOF), grab `/proc/PID/exe` O_PATH while the process
/// runs, let it exit so the binary is no longer mapped (no more ETXTBSY), then reopen the
/// O_PATH fd for writing through /proc/self/fd/N. Returns (kind, attempts while alive,
/// attempts after exit, probe stdout).
fn attack_after_exit(probe: &Probe, args: &[&str]) -> (String, Vec<Attempt>, Vec<Attempt>, String) {
    let mut cmd = probe.cmd(args);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = spawn(&mut cmd);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).expect("read ready line");
    let pid = field(&line, "pid=").to_string();
    let kind = field(&line, "kind=").to_string();

    let exe = format!("/proc/{pid}/exe");
    let path_fd = open(&exe, libc::O_PATH).expect("O_PATH /proc/PID/exe");
    let alive = vec![
        try_write(&exe, libc::O_WRONLY),
        try_write(&exe, libc::O_RDWR),
    ];

    drop(child.stdin.take());
    let status = child.wait().expect("wait probe");
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(
        status.success(),
        "probe {args:?} failed: {status}\n{line}{rest}"
    );

    let via = format!("/proc/self/fd/{}", path_fd.as_raw_fd());
    let after = vec![
        try_write(&via, libc::O_WRONLY),
        try_write(&via, libc::O_RDWR),
        try_write(&via, libc::O_WRONLY | libc::O_TRUNC),
    ];
    (kind, alive, after, format!("{line}{rest}"))
}

fn assert_sealed_attack_fails(method: &str, want_kind: &str, args: &[&str], probe: &Probe) {
    let (kind, alive, after, out) = attack_after_exit(probe, args);
    eprintln!("{method} {args:?}: kind={kind} alive={alive:?} after-exit={after:?}\n{out}");
    assert_eq!(kind, want_kind, "{method}: exe kind\n{out}");
    assert!(
        alive.iter().all(is_blocked),
        "{method}: while running: {alive:?}"
    );
    assert!(
        after.iter().all(is_blocked),
        "{method}: after exit: {after:?}"
    );
    assert!(
        !out.contains("WRITTEN"),
        "{method}: probe-side attempt wrote:\n{out}"
    );
    assert!(
        probe.unchanged(),
        "{method}: the on-disk binary was modified"
    );
}

fn child_attack(method: &str, want_kind: &str) {
    if !is_root() {
        return;
    }
    let probe = Probe::new();
    let o = output(probe.cmd(&[method, "attack-child"]));
    let out = text(&o.stdout);
    assert!(
        o.status.success(),
        "{method}: {}\n{out}{}",
        o.status,
        text(&o.stderr)
    );
    assert!(out.starts_with(&format!("kind={want_kind} ")), "{out}");
    assert_eq!(out.matches(": blocked at ").count(), 8, "{out}");
    assert!(!out.contains("WRITTEN"), "{out}");
    assert!(
        probe.unchanged(),
        "{method}: the on-disk binary was modified"
    );
}

#[test]
fn forked_child_of_overlay_sealed_process_cannot_write_exe() {
    child_attack("overlay", "ro");
}

#[test]
fn forked_child_of_memfd_sealed_process_cannot_write_exe() {
    child_attack("memfd", "memfd");
}

#[test]
fn exe_stays_unwritable_after_overlay_sealed_process_exits() {
    if !is_root() {
        return;
    }
    let probe = Probe::new();
    assert_sealed_attack_fails("overlay", "ro", &["overlay", "hold"], &probe);
}

#[test]
fn exe_stays_unwritable_after_memfd_sealed_process_exits() {
    if !is_root() {
        return;
    }
    let probe = Probe::new();
    assert_sealed_attack_fails("memfd", "memfd", &["memfd", "hold"], &probe);
}

#[test]
fn shebang_proc_self_exe_runs_overlay_sealed_copy() {
    if !is_root() {
        return;
    }
    let probe = Probe::new();
    let script = probe.script("inner-hold");
    let s = script.to_str().unwrap();
    assert_sealed_attack_fails("overlay", "ro", &["overlay", "shebang", s], &probe);
}

#[test]
fn shebang_proc_self_exe_runs_memfd_sealed_copy() {
    if !is_root() {
        return;
    }
    let probe = Probe::new();
    let script = probe.script("inner-hold");
    let s = script.to_str().unwrap();
    assert_sealed_attack_fails("memfd", "memfd", &["memfd", "shebang", s], &probe);
}

/// Control: without the seal the same attack overwrites the binary, so the tests above
/// would notice a broken seal.
#[test]
fn control_unsealed_binary_is_overwritten_by_the_attack() {
    if !is_root() {
        return;
    }
    for via_shebang in [false, true] {
        let probe = Probe::new();
        let script = probe.script("inner-hold");
        let s = script.to_str().unwrap();
        let args: &[&str] = if via_shebang {
            &["none", "shebang", s]
        } else {
            &["none", "hold"]
        };
        let (kind, alive, after, out) = attack_after_exit(&probe, args);
        if kind == "ro" {
            eprintln!(
                "skipping control: {} is on a read-only mount",
                probe.dir.display()
            );
            return;
        }
        assert_eq!(kind, "unsealed", "{out}");
        // While it runs, only ETXTBSY protects it...
        assert!(
            alive
                .iter()
                .all(|a| *a == Attempt::BlockedAtOpen(libc::ETXTBSY)),
            "{alive:?}"
        );
        // ...and once it has exited the O_PATH fd reopens for writing.
        assert_eq!(after[0], Attempt::Written, "{after:?}");
        assert!(
            !probe.unchanged(),
            "control attack did not modify the binary"
        );
    }
}

#[test]
fn auto_uses_overlay_as_root_and_reexecs_once() {
    if !is_root() {
        return;
    }
    let probe = Probe::new();
    let o = output(probe.cmd(&["auto", "info"]));
    let out = text(&o.stdout);
    assert!(o.status.success(), "{}\n{out}{}", o.status, text(&o.stderr));
    // One line: the re-executed process found itself sealed and did not exec again.
    assert_eq!(out.lines().count(), 1, "{out}");
    assert_eq!(field(&out, "kind="), "ro", "{out}");
    assert_eq!(field(&out, "reexec="), "1", "{out}");
    // The overlay is detached: the exe path is relative to its root, not the host's.
    assert_eq!(field(&out, "exe="), "/seal-probe", "{out}");
    // The process name survives the fd exec.
    assert_eq!(field(&out, "comm="), "seal-probe", "{out}");
}

#[test]
fn memfd_reexec_keeps_process_name() {
    if !is_root() {
        return;
    }
    let probe = Probe::new();
    let o = output(probe.cmd(&["memfd", "info"]));
    let out = text(&o.stdout);
    assert!(o.status.success(), "{}\n{out}{}", o.status, text(&o.stderr));
    assert_eq!(out.lines().count(), 1, "{out}");
    assert_eq!(field(&out, "kind="), "memfd", "{out}");
    assert_eq!(field(&out, "reexec="), "1", "{out}");
    assert_eq!(field(&out, "comm="), "seal-probe", "{out}");
}

#[test]
fn overlay_seal_handles_separators_in_directory_name() {
    if !is_root() {
        return;
    }
    let probe = Probe::new();
    let odd = probe.dir.join("a:b,c\\d");
    std::fs::create_dir(&odd).unwrap();
    let bin = odd.join("seal-probe");
    std::fs::copy(&probe.path, &bin).unwrap();
    let mut cmd = Command::new(&bin);
    cmd.args(["overlay", "attack-child"])
        .env_remove("_HUSK_EXE_SEALED");
    let o = output(cmd);
    let out = text(&o.stdout);
    assert!(o.status.success(), "{}\n{out}{}", o.status, text(&o.stderr));
    assert!(out.starts_with("kind=ro "), "{out}");
    assert!(!out.contains("WRITTEN"), "{out}");
    assert_eq!(std::fs::read(&bin).unwrap(), probe.original);
}

#[test]
fn binary_on_readonly_mount_is_not_reexeced() {
    if !is_root() {
        return;
    }
    let probe = Probe::new();
    let d = probe.dir.to_str().unwrap();
    let p = probe.path.to_str().unwrap();
    // A private mount namespace: a read-only bind of the probe's directory onto itself.
    let script =
        format!("mount --bind {d} {d} && mount -o remount,bind,ro {d} && exec {p} auto info");
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c", &script])
        .env_remove("_HUSK_EXE_SEALED");
    let o = output(cmd);
    let out = text(&o.stdout);
    if !o.status.success() && text(&o.stderr).contains("unshare") {
        eprintln!("skipping: unshare -m failed: {}", text(&o.stderr));
        return;
    }
    assert!(o.status.success(), "{}\n{out}{}", o.status, text(&o.stderr));
    assert_eq!(field(&out, "kind="), "ro", "{out}");
    assert_eq!(field(&out, "reexec="), "0", "{out}");
    assert_eq!(field(&out, "exe="), p, "{out}");
}

#[test]
fn reexec_loop_is_refused_not_trusted() {
    if !is_root() {
        return;
    }
    let probe = Probe::new();
    // The marker alone must not make an unsealed binary count as sealed.
    let mut cmd = probe.cmd(&["auto", "info"]);
    cmd.env("_HUSK_EXE_SEALED", "seal-probe");
    let o = output(cmd);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stdout));
    let err = text(&o.stderr);
    assert!(
        err.contains("exe seal: /proc/self/exe is still not sealed after re-exec"),
        "{err}"
    );
}
