//! Tests of the device program: the assembler's encoding, the instruction stream
//! for a few rule sets, its verdicts (run in a tiny interpreter of the opcodes it
//! uses) against a last-match-wins model, and, as root, loading it and attaching
//! it to a cgroup2 directory to see a process in it denied /dev/zero.

use super::*;

fn rule(allow: bool, typ: char, major: Option<i64>, minor: Option<i64>, access: &str) -> Rule {
    Rule {
        allow,
        typ,
        major,
        minor,
        access: access.into(),
    }
}

fn deny_all() -> Rule {
    rule(false, 'a', None, None, "rwm")
}

fn bytes(i: Insn) -> [u8; 8] {
    // SAFETY: Insn is #[repr(C)], 8 bytes, without padding.
    unsafe { std::mem::transmute::<Insn, [u8; 8]>(i) }
}

#[test]
fn insn_encoding() {
    assert_eq!(std::mem::size_of::<Insn>(), 8);
    assert_eq!(bytes(Insn::ldx_w(2, 1, 4)), [0x61, 0x12, 4, 0, 0, 0, 0, 0]);
    assert_eq!(
        bytes(Insn::and32(2, 0xffff)),
        [0x54, 0x02, 0, 0, 0xff, 0xff, 0, 0]
    );
    assert_eq!(bytes(Insn::rsh32(3, 16)), [0x74, 0x03, 0, 0, 16, 0, 0, 0]);
    assert_eq!(bytes(Insn::mov32_reg(1, 3)), [0xbc, 0x31, 0, 0, 0, 0, 0, 0]);
    assert_eq!(bytes(Insn::mov64_imm(0, 1)), [0xb7, 0x00, 0, 0, 1, 0, 0, 0]);
    assert_eq!(
        bytes(Insn::jne_imm(4, 136, 3)),
        [0x55, 0x04, 3, 0, 136, 0, 0, 0]
    );
    assert_eq!(
        bytes(Insn::jne_reg(1, 3, 2)),
        [0x5d, 0x31, 2, 0, 0, 0, 0, 0]
    );
    assert_eq!(
        bytes(Insn::jeq_imm(1, 0, 2)),
        [0x15, 0x01, 2, 0, 0, 0, 0, 0]
    );
    assert_eq!(bytes(Insn::exit()), [0x95, 0, 0, 0, 0, 0, 0, 0]);
}

fn prologue() -> Vec<Insn> {
    vec![
        Insn::ldx_w(2, 1, 0),
        Insn::and32(2, 0xffff),
        Insn::ldx_w(3, 1, 0),
        Insn::rsh32(3, 16),
        Insn::ldx_w(4, 1, 4),
        Insn::ldx_w(5, 1, 8),
    ]
}

#[test]
fn program_deny_all() {
    let mut want = prologue();
    want.extend([Insn::mov64_imm(0, 0), Insn::exit()]);
    assert_eq!(program(&[deny_all()]).unwrap(), want);
    // Everything before the last `a` rule is dropped.
    let rules = [rule(true, 'c', Some(1), Some(3), "rwm"), deny_all()];
    assert_eq!(program(&rules).unwrap(), want);
}

#[test]
fn program_stream() {
    let rules = [
        deny_all(),
        rule(true, 'c', Some(1), Some(3), "rw"),
        rule(false, 'b', Some(8), None, "rwm"),
    ];
    let mut want = prologue();
    want.extend([
        // Last rule first: b 8:* rwm deny.
        Insn::jne_imm(2, DEV_BLOCK, 3),
        Insn::jne_imm(4, 8, 2),
        Insn::mov64_imm(0, 0),
        Insn::exit(),
        // c 1:3 rw allow.
        Insn::jne_imm(2, DEV_CHAR, 7),
        Insn::mov32_reg(1, 3),
        Insn::and32(1, ACC_READ | ACC_WRITE),
        Insn::jne_reg(1, 3, 4),
        Insn::jne_imm(4, 1, 3),
        Insn::jne_imm(5, 3, 2),
        Insn::mov64_imm(0, 1),
        Insn::exit(),
        // Default: deny.
        Insn::mov64_imm(0, 0),
        Insn::exit(),
    ]);
    assert_eq!(program(&rules).unwrap(), want);
}

/// As v1 on an allow-all default: a request is denied if any of its access is
/// denied (an open for reading and writing of a device denied for writing).
#[test]
fn deny_rules_block_any_denied_access() {
    let rules = [
        rule(true, 'a', None, None, "rwm"),
        rule(false, 'c', Some(4000), Some(1), "w"),
    ];
    let p = program(&rules).unwrap();
    let (c, r, w) = (DEV_CHAR as u32, ACC_READ as u32, ACC_WRITE as u32);
    assert_eq!(run(&p, c, r, 4000, 1), 1);
    assert_eq!(run(&p, c, w, 4000, 1), 0);
    assert_eq!(run(&p, c, r | w, 4000, 1), 0);
    assert_eq!(run(&p, c, r | w, 4000, 2), 1);
    assert_eq!(
        p[6..10],
        [
            Insn::jne_imm(2, DEV_CHAR, 7),
            Insn::mov32_reg(1, 3),
            Insn::and32(1, ACC_WRITE),
            Insn::jeq_imm(1, 0, 4),
        ]
    );
}

#[test]
fn program_without_a_rule_defaults_to_allow() {
    let p = program(&[rule(false, 'c', None, None, "m")]).unwrap();
    assert_eq!(p[p.len() - 2..], [Insn::mov64_imm(0, 1), Insn::exit()]);
    // An empty access matches nothing: no block.
    let p = program(&[deny_all(), rule(true, 'c', Some(1), Some(3), "")]).unwrap();
    assert_eq!(p.len(), prologue().len() + 2);
}

#[test]
fn program_errors_name_the_rule() {
    let e = program(&[deny_all(), rule(true, 'c', Some(1), Some(3), "rwx")]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "linux.resources.devices: rule `c 1:3 rwx`: invalid access character 'x' (want r, w, m)"
    );
    let e = program(&[rule(true, 'c', Some(1 << 40), None, "r")]).unwrap_err();
    assert!(
        e.to_string()
            .contains("major 1099511627776 is out of range"),
        "{e}"
    );
    let e = program(&[rule(true, 'p', Some(1), None, "r")]).unwrap_err();
    assert!(e.to_string().contains("invalid device type 'p'"), "{e}");
    let e = EbpfError::Load {
        source: SysErr(std::io::Error::from_raw_os_error(libc::EACCES)),
        log: "R0 !read_ok".into(),
    };
    assert_eq!(
        e.to_string(),
        "linux.resources.devices: BPF_PROG_LOAD: Permission denied (verifier: R0 !read_ok)"
    );
}

/// Runs the program on (type, access, major, minor) with the semantics of the
/// opcodes in Documentation/bpf; panics on anything else.
fn run(p: &[Insn], typ: u32, access: u32, major: u32, minor: u32) -> u64 {
    let ctx = [(access << 16) | typ, major, minor];
    let mut r = [0u64; 11];
    let mut pc = 0usize;
    for _ in 0..10_000 {
        let i = p[pc];
        let (d, s) = (i.dst() as usize, i.src() as usize);
        pc += 1;
        match i.code {
            op::LDX_W => {
                assert_eq!(s, 1, "loads only from the context");
                r[d] = u64::from(ctx[i.off as usize / 4]);
            }
            op::AND32_K => r[d] = u64::from(r[d] as u32 & i.imm as u32),
            op::RSH32_K => r[d] = u64::from((r[d] as u32) >> i.imm),
            op::MOV32_X => r[d] = u64::from(r[s] as u32),
            op::MOV64_K => r[d] = i64::from(i.imm) as u64,
            op::JNE_K | op::JNE_X | op::JEQ_K => {
                let b = if i.code == op::JNE_X {
                    r[s]
                } else {
                    i64::from(i.imm) as u64
                };
                if (r[d] != b) == (i.code != op::JEQ_K) {
                    pc = (pc as i64 + i64::from(i.off)) as usize;
                }
            }
            op::EXIT => return r[0],
            c => panic!("opcode {c:#x}"),
        }
    }
    panic!("no exit");
}

/// The model: the last rule matching wins; `a` rules match everything; an allow
/// rule matches when it has every requested access, a deny rule when it has any.
fn model(rules: &[Rule], typ: u32, access: u32, major: u32, minor: u32) -> bool {
    let hit = |r: &&Rule| {
        if r.typ == 'a' {
            return true;
        }
        let t = if r.typ == 'c' { 2 } else { 1 };
        let bits = r.access.chars().fold(0, |b, c| {
            b | match c {
                'r' => 2,
                'w' => 4,
                _ => 1,
            }
        });
        let num = |want: Option<i64>, got: u32| want.is_none_or(|w| w == -1 || w == i64::from(got));
        let access_hit = if r.allow {
            access & bits == access
        } else {
            access & bits != 0
        };
        t == typ && access_hit && num(r.major, major) && num(r.minor, minor)
    };
    rules.iter().rev().find(hit).is_none_or(|r| r.allow)
}

#[test]
fn verdicts_match_the_model() {
    let spec: Vec<oci_spec::runtime::LinuxDeviceCgroup> = serde_json::from_str(
        r#"[{"allow": false, "access": "rwm"},
            {"allow": true, "type": "b", "major": 8, "access": "r"},
            {"allow": false, "type": "b", "major": 8, "minor": 1, "access": "r"},
            {"allow": true, "type": "c", "major": 4, "minor": -1, "access": "rw"}]"#,
    )
    .unwrap();
    let mut rules = vec![deny_all()];
    rules.extend(crate::cgroups::devices::rules(Some(&spec)));
    let p = program(&rules).unwrap();
    let mut allowed = 0;
    for typ in [1, 2] {
        for access in 1..8 {
            for major in [0, 1, 4, 5, 8, 10, 136, 4095] {
                for minor in [0, 1, 2, 3, 5, 7, 8, 9, 200, 229, 1000] {
                    let want = model(&rules, typ, access, major, minor);
                    let got = run(&p, typ, access, major, minor);
                    assert_eq!(got, u64::from(want), "{typ} {access} {major}:{minor}");
                    allowed += usize::from(want);
                }
            }
        }
    }
    // Spot checks of the model itself.
    assert!(model(&rules, 2, 6, 1, 3)); // c 1:3 rw (/dev/null)
    assert!(!model(&rules, 2, 6, 10, 229)); // not in the rules: denied
    assert!(model(&rules, 1, 2, 8, 0)); // b 8:0 r
    assert!(!model(&rules, 1, 2, 8, 1)); // b 8:1 r: denied later
    assert!(!model(&rules, 1, 4, 8, 0)); // b 8:0 w
    assert!(model(&rules, 2, 1, 99, 99)); // mknod of any char device
    assert!(!model(&rules, 2, 2, 99, 99));
    assert!(allowed > 0);
}

#[test]
fn v2_device_program() {
    let r: oci_spec::runtime::LinuxResources = serde_json::from_str(
        r#"{"devices": [{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "qz"}]}"#,
    )
    .unwrap();
    let e = crate::cgroups::v2::device_program(&r).unwrap_err();
    assert_eq!(
        e.to_string(),
        "linux.resources.devices[0]: rule `c 1:3 qz`: invalid access character 'q' (want r, w, m)"
    );
    // Defaults only: deny all first, so the program's fallback is deny, and the
    // last default (c 10:200 rwm, tun) is tried first.
    let p = crate::cgroups::v2::device_program(&Default::default()).unwrap();
    assert_eq!(p[p.len() - 2..], [Insn::mov64_imm(0, 0), Insn::exit()]);
    assert_eq!(
        p[6..9],
        [
            Insn::jne_imm(2, DEV_CHAR, 4),
            Insn::jne_imm(4, 10, 3),
            Insn::jne_imm(5, 200, 2)
        ]
    );
}

/// The v2 program grants what the v1 controller would: a later wildcard deny
/// leaves an earlier specific allow (v1 changes exact matches only), and a deny
/// inside an allowed wildcard is refused.
#[test]
fn v2_device_program_reads_the_rules_as_v1() {
    let r: oci_spec::runtime::LinuxResources = serde_json::from_str(
        r#"{"devices": [{"allow": false, "access": "rwm"},
                        {"allow": true, "type": "c", "major": 4000, "minor": 7, "access": "rw"},
                        {"allow": false, "type": "c", "major": 4000, "access": "rw"}]}"#,
    )
    .unwrap();
    let p = crate::cgroups::v2::device_program(&r).unwrap();
    let (char_dev, rw) = (DEV_CHAR as u32, (ACC_READ | ACC_WRITE) as u32);
    assert_eq!(run(&p, char_dev, rw, 4000, 7), 1);
    assert_eq!(run(&p, char_dev, rw, 4000, 8), 0);
    assert_eq!(run(&p, char_dev, rw, 1, 3), 1, "/dev/null (a default)");

    let r: oci_spec::runtime::LinuxResources = serde_json::from_str(
        r#"{"devices": [{"allow": false, "access": "rwm"},
                        {"allow": true, "type": "c", "major": 4000, "access": "rw"},
                        {"allow": false, "type": "c", "major": 4000, "minor": 5, "access": "w"}]}"#,
    )
    .unwrap();
    let e = crate::cgroups::v2::device_program(&r).unwrap_err();
    assert!(
        e.to_string().starts_with(
            "linux.resources.devices[2]: rule `c 4000:5 w` cannot change a part of the earlier `c 4000:* rw`"
        ),
        "{e}"
    );
}

fn is_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    eprintln!("skipped: needs root");
    false
}

#[test]
fn root_load() {
    if !is_root() {
        return;
    }
    let mut rules = vec![deny_all()];
    rules.extend(crate::cgroups::devices::default_allowed());
    load(&program(&rules).unwrap()).expect("BPF_PROG_LOAD");
    // A program the verifier rejects (reads r0 before writing it): the error has
    // the verifier's words.
    let e = load(&[Insn::exit()]).unwrap_err().to_string();
    assert!(
        e.starts_with("linux.resources.devices: BPF_PROG_LOAD: Permission denied (verifier: "),
        "{e}"
    );
    assert!(e.contains("R0 !read_ok") && !e.contains("processed"), "{e}");
}

#[test]
fn verifier_log_tail() {
    let log = b"0: R1=ctx() R10=fp0\n0: (95) exit\nR0 !read_ok\nprocessed 1 insns (limit 1000000)\n\0junk";
    assert_eq!(
        log_tail(log),
        "0: R1=ctx() R10=fp0; 0: (95) exit; R0 !read_ok"
    );
    assert_eq!(log_tail(b"\0"), "");
}

/// A child cgroup of the cgroup2 mount, removed on drop.
struct TempCgroup(PathBuf);

impl Drop for TempCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Forks a child that waits for a byte on a pipe, then opens /dev/null and
/// /dev/zero read-write and exits with 0 (both opened), 1 (/dev/zero EPERM),
/// 2 (/dev/null EPERM) or 3 (anything else). `place` runs with its pid first.
fn open_devices_in(place: impl FnOnce(i32)) -> i32 {
    let (rd, wr) = nix::unistd::pipe().unwrap();
    let (null, zero) = (c"/dev/null", c"/dev/zero");
    // SAFETY: the child only calls async-signal-safe functions (read, open,
    // _exit) on data prepared before the fork.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        let mut b = 0u8;
        // SAFETY: async-signal-safe calls on a valid fd, buffer and C strings.
        unsafe {
            libc::read(rd.as_raw_fd(), (&mut b as *mut u8).cast(), 1);
            let n = libc::open(null.as_ptr(), libc::O_RDWR);
            let ne = *libc::__errno_location();
            let z = libc::open(zero.as_ptr(), libc::O_RDWR);
            let ze = *libc::__errno_location();
            let code = match (n >= 0, z >= 0) {
                (true, true) => 0,
                (true, false) if ze == libc::EPERM => 1,
                (false, _) if ne == libc::EPERM => 2,
                _ => 3,
            };
            libc::_exit(code);
        }
    }
    drop(rd);
    place(pid);
    nix::unistd::write(&wr, b"x").unwrap();
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status));
    libc::WEXITSTATUS(status)
}

/// The cgroup2 mount: /sys/fs/cgroup on a v2 host, else the hybrid one.
fn cgroup2_root() -> Option<PathBuf> {
    ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| {
            nix::sys::statfs::statfs(p)
                .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        })
}

#[test]
fn root_attach_denies_devices() {
    if !is_root() {
        return;
    }
    let Some(root) = cgroup2_root() else {
        eprintln!("skipped: no cgroup2 mount");
        return;
    };
    let cg = TempCgroup(root.join(format!("husk-ebpf-test-{}", std::process::id())));
    std::fs::create_dir(&cg.0).unwrap();
    let procs = cg.0.join("cgroup.procs");
    let into_cgroup = |pid: i32| std::fs::write(&procs, pid.to_string()).unwrap();

    // Without a program both open.
    assert_eq!(open_devices_in(into_cgroup), 0);

    let rules = [deny_all(), rule(true, 'c', Some(1), Some(3), "rw")];
    apply(&cg.0, &program(&rules).unwrap()).unwrap();
    assert_eq!(attached(&cg.0).unwrap().len(), 1);
    assert_eq!(open_devices_in(into_cgroup), 1, "/dev/zero must be EPERM");

    // Applying again replaces the program: still one, now allowing /dev/zero too
    // but not /dev/null.
    let rules = [
        deny_all(),
        rule(true, 'c', Some(1), None, "rw"),
        rule(false, 'c', Some(1), Some(3), "rwm"),
    ];
    let before = attached(&cg.0).unwrap();
    apply(&cg.0, &program(&rules).unwrap()).unwrap();
    let after = attached(&cg.0).unwrap();
    assert_eq!(after.len(), 1);
    assert_ne!(before, after);
    assert_eq!(open_devices_in(into_cgroup), 2, "/dev/null must be EPERM");
}
