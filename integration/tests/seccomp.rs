//! `linux.seccomp`: the profile is in force in the container, with and without
//! `process.noNewPrivileges` (the runtime loads it at a different point in each
//! case): an errno rule with errnoRet, argument conditions (ANDed across indexes,
//! ORed within one index), the filter count in /proc/self/status, and a bad
//! profile failing `create` with nothing left behind.

use husk_integration::procfs::status_field;
use husk_integration::{is_husk, require_root, Bundle, Runtime};
use serde_json::json;

/// `mkdir` fails with ENOSYS; `kill` with signal 0 or SIGWINCH (28) fails with
/// EPERM, as does `kill` of pid 1 with SIGUSR2 (12) (both args must match).
fn profile() -> serde_json::Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["mkdir", "mkdirat", "husk_no_such_syscall"],
             "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["kill"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"},
                      {"index": 1, "value": 28, "op": "SCMP_CMP_EQ"}]},
            {"names": ["kill"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                      {"index": 1, "value": 12, "op": "SCMP_CMP_EQ"}]},
            {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}
        ]
    })
}

const SCRIPT: &str = "
mkdir /tmp/x 2>&1 || echo mkdir-failed
test -d /tmp/x && echo mkdir-made-it
touch /tmp/y && echo touch-ok
trap 'echo got-usr1' USR1
trap 'echo got-usr2' USR2
trap '' WINCH
kill -0 $$ 2>/dev/null && echo kill0-ok || echo kill0-denied
kill -WINCH $$ 2>/dev/null && echo winch-ok || echo winch-denied
kill -USR1 $$ 2>/dev/null && echo usr1-ok || echo usr1-denied
kill -USR2 1 2>/dev/null && echo usr2-ok || echo usr2-denied
grep -E '^(Seccomp|Seccomp_filters|NoNewPrivs):' /proc/self/status
";

fn check(nnp: bool) {
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.writable().sh(SCRIPT);
    b.config_mut()["process"]["noNewPrivileges"] = json!(nnp);
    b.config_mut()["linux"]["seccomp"] = profile();
    let out = rt.run_ok(&b);
    eprintln!("noNewPrivileges={nnp}:\n{out}");
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("/tmp/x") && l.contains("Function not implemented")),
        "mkdir should fail with ENOSYS:\n{out}"
    );
    for want in [
        "mkdir-failed",
        "touch-ok",
        "kill0-denied",
        "winch-denied",
        "got-usr1",
        "usr1-ok",
        "usr2-denied",
    ] {
        assert!(lines.contains(&want), "missing {want:?} in:\n{out}");
    }
    assert!(!lines.contains(&"mkdir-made-it"), "{out}");
    assert!(!lines.contains(&"got-usr2"), "{out}");
    assert_eq!(status_field(&out, "Seccomp"), Some("2"), "{out}");
    assert_eq!(status_field(&out, "Seccomp_filters"), Some("1"), "{out}");
    assert_eq!(
        status_field(&out, "NoNewPrivs"),
        Some(if nnp { "1" } else { "0" }),
        "{out}"
    );
    assert!(b.rootfs().join("tmp/y").exists());
    assert!(!b.rootfs().join("tmp/x").exists());
}

#[test]
fn profile_applies_with_no_new_privileges() {
    require_root!();
    check(true);
}

#[test]
fn profile_applies_without_no_new_privileges() {
    require_root!();
    check(false);
}

#[test]
fn default_errno_ret_applies_to_the_default_action() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    // Everything but a short allow list fails with EXDEV (18).
    let allowed: Vec<&str> = ALLOWED.split_whitespace().collect();
    b.writable()
        .args(&["/bin/busybox", "mkdir", "/tmp/z"])
        .config_mut()["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 18,
        "syscalls": [{"names": allowed, "action": "SCMP_ACT_ALLOW"}]
    });
    let out = rt.run_bundle(&b);
    eprintln!("{out}");
    assert_ne!(out.code(), Some(0), "{out}");
    assert!(
        out.stderr.contains("Invalid cross-device link"),
        "mkdir should fail with EXDEV:\n{out}"
    );
    assert!(!b.rootfs().join("tmp/z").exists());
}

/// What the runtime's init needs after loading the filter (runc's is written in
/// Go: its runtime threads need a few more) and what busybox needs to report an error.
const ALLOWED: &str = "
    execve exit exit_group write writev read close fstat newfstatat lseek mmap munmap
    brk rt_sigaction rt_sigprocmask rt_sigreturn getpid gettid getuid geteuid getgid
    getegid getppid arch_prctl set_tid_address set_robust_list rseq prlimit64 uname
    readlink ioctl fcntl poll ppoll pselect6 capget capset prctl setresuid setresgid
    setgroups setuid setgid close_range openat futex getrandom sigaltstack umask
    statfs fstatfs getdents64 mprotect madvise sched_yield nanosleep clock_gettime
    epoll_create1 epoll_ctl epoll_pwait epoll_wait tgkill clone clone3 pipe2 dup3
";

#[test]
fn unknown_action_fails_create_and_leaves_nothing() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["true"]).config_mut()["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_HUSK_BOGUS"}]
    });
    let id = rt.new_id("seccomp-bad");
    let out = rt.create(&id, &b);
    eprintln!("{out}");
    out.assert_fail();
    if is_husk() {
        assert!(
            out.stderr.contains("linux.seccomp.syscalls[0].action"),
            "husk's error should name the field:\n{out}"
        );
    }
    rt.state_raw(&id).assert_fail();
    let list = rt.list(&["-q"]);
    list.assert_ok();
    assert_eq!(list.out(), "", "nothing listed after a failed create");
}

#[test]
fn notify_is_refused_by_husk() {
    require_root!();
    if !is_husk() {
        husk_integration::skip!("SCMP_ACT_NOTIFY needs a listenerPath agent in runc");
    }
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["true"]).config_mut()["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
    });
    let id = rt.new_id("seccomp-notify");
    let out = rt.create(&id, &b);
    out.assert_fail();
    assert!(
        out.stderr
            .contains("linux.seccomp.syscalls[0].action: SCMP_ACT_NOTIFY is not supported yet"),
        "{out}"
    );
    rt.state_raw(&id).assert_fail();
}

/// Every syscall name of the host's x86_64 table (linux-libc-dev's
/// asm/unistd_64.h) but `except`.
fn host_syscall_names(except: &[&str]) -> Vec<String> {
    let header = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h";
    let text = std::fs::read_to_string(header)
        .unwrap_or_else(|e| panic!("{header} (package linux-libc-dev): {e}"));
    text.lines()
        .filter_map(|l| l.strip_prefix("#define __NR_"))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| !except.contains(n))
        .map(str::to_string)
        .collect()
}

/// A deny-by-default profile (EPERM) allowing every known syscall but `acct`: a
/// syscall number above all the profile names (1000, 500) fails with ENOSYS, so
/// programs fall back, as with runc's stub; `acct` (163), named nowhere but below
/// the highest named, keeps the default EPERM; `getppid` (110) is allowed. With
/// and without listed architectures (runc 1.1.5 stubs only listed ones).
#[test]
fn syscalls_newer_than_the_profile_fail_with_enosys() {
    require_root!();
    if std::env::consts::ARCH != "x86_64" {
        husk_integration::skip!("the syscall numbers here are x86_64's");
    }
    let rt = Runtime::from_env();
    for archs in [
        json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
        json!([]),
    ] {
        if archs == json!([]) && husk_integration::is_runc() {
            eprintln!(
                "skip (part): runc 1.1.5 puts no ENOSYS stub in a profile without architectures"
            );
            continue;
        }
        let mut b = Bundle::new();
        let probe = husk_integration::probe::install("syscall", &b.rootfs());
        b.args(&[&probe, "1000", "500", "163", "110"]);
        b.config_mut()["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 1,
            "architectures": archs,
            "syscalls": [{"names": host_syscall_names(&["acct"]), "action": "SCMP_ACT_ALLOW"}]
        });
        let out = rt.run_ok(&b);
        let errno = |nr: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(&format!("{nr} ")))
                .and_then(|rest| rest.split_whitespace().nth(1))
                .unwrap_or_else(|| panic!("no line for {nr}: {out}"))
                .to_string()
        };
        assert_eq!(
            errno("1000"),
            "38",
            "syscall(1000), architectures {archs}: {out}"
        );
        assert_eq!(
            errno("500"),
            "38",
            "syscall(500), architectures {archs}: {out}"
        );
        assert_eq!(errno("163"), "1", "acct keeps the default EPERM: {out}");
        assert_eq!(errno("110"), "0", "getppid is allowed: {out}");
    }
}
