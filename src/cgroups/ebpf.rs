//! cgroup v2 device rules as an eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE).
//!
//! v2 has no devices.allow/devices.deny: the kernel runs the programs attached to
//! the cgroup (type BPF_CGROUP_DEVICE) on every device access and mknod and denies
//! the access unless they return 1. `program` compiles the ordered rule list that
//! v1 writes to the device controller into such a program with a small assembler
//! (raw `bpf_insn`s, see include/uapi/linux/bpf.h and Documentation/bpf); `apply`
//! loads it with bpf(BPF_PROG_LOAD) and attaches it to the cgroup directory,
//! replacing the program a previous call attached.
//!
//! Semantics are runc's: rules are evaluated in order and a later matching rule
//! overrides an earlier one. An `a` rule matches every device (major, minor and
//! access are ignored, as v1 writes it as a bare "a"): it sets the default for the
//! devices that no later rule matches, and everything before it is dropped. Without
//! an `a` rule the default is allow (a fresh v1 device cgroup allows everything).
//! As in the v1 controller, an allow rule matches a request when it grants every
//! requested access (r, w, m), a deny rule when it denies any of them: an open
//! for reading and writing of a device denied for writing is denied (runc's
//! program requires every requested access in a deny rule too, so it lets that
//! open through where v1 does not).
//! The generated program tries the rules last to first; the first match returns.
//! A container's program is compiled from the state its rules settle into in a
//! v1 device cgroup (`devices::settle`): a default and exceptions with one
//! verdict, whose order does not matter.

use super::devices::Rule;
use super::SysErr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

const FIELD: &str = "linux.resources.devices";

#[derive(Debug, thiserror::Error)]
pub enum EbpfError {
    #[error("{FIELD}: rule `{rule}`: {reason}")]
    Invalid { rule: String, reason: String },
    #[error("{FIELD}: the device program has {0} instructions, more than the kernel's 4096")]
    TooLong(usize),
    #[error("{FIELD}: opening {path}: {source}")]
    Open { path: PathBuf, source: SysErr },
    #[error("{FIELD}: BPF_PROG_LOAD: {source}{}", verifier_suffix(.log))]
    Load { source: SysErr, log: String },
    #[error("{FIELD}: {step} on {path}: {source}")]
    Bpf {
        step: &'static str,
        path: PathBuf,
        source: SysErr,
    },
}

fn verifier_suffix(log: &str) -> String {
    if log.is_empty() {
        String::new()
    } else {
        format!(" (verifier: {log})")
    }
}

/// One eBPF instruction (`struct bpf_insn`): the opcode, the destination register
/// in the low nibble and the source register in the high nibble of `regs`, a
/// signed offset (jumps: in instructions from the next one; loads: in bytes) and
/// a signed 32-bit immediate.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

// Opcode parts (include/uapi/linux/bpf_common.h, bpf.h).
const BPF_LDX: u8 = 0x01;
const BPF_ALU: u8 = 0x04;
const BPF_JMP: u8 = 0x05;
const BPF_ALU64: u8 = 0x07;
const BPF_W: u8 = 0x00;
const BPF_MEM: u8 = 0x60;
const BPF_K: u8 = 0x00;
const BPF_X: u8 = 0x08;
const BPF_AND: u8 = 0x50;
const BPF_RSH: u8 = 0x70;
const BPF_MOV: u8 = 0xb0;
const BPF_JEQ: u8 = 0x10;
const BPF_JNE: u8 = 0x50;
const BPF_EXIT: u8 = 0x90;

/// Opcodes the device program uses.
pub mod op {
    use super::*;
    /// dst = *(u32 *)(src + off)
    pub const LDX_W: u8 = BPF_LDX | BPF_W | BPF_MEM;
    /// (u32) dst &= imm
    pub const AND32_K: u8 = BPF_ALU | BPF_AND | BPF_K;
    /// (u32) dst >>= imm
    pub const RSH32_K: u8 = BPF_ALU | BPF_RSH | BPF_K;
    /// (u32) dst = src
    pub const MOV32_X: u8 = BPF_ALU | BPF_MOV | BPF_X;
    /// dst = imm (sign-extended)
    pub const MOV64_K: u8 = BPF_ALU64 | BPF_MOV | BPF_K;
    /// if dst == imm goto pc + 1 + off
    pub const JEQ_K: u8 = BPF_JMP | BPF_JEQ | BPF_K;
    /// if dst != imm goto pc + 1 + off
    pub const JNE_K: u8 = BPF_JMP | BPF_JNE | BPF_K;
    /// if dst != src goto pc + 1 + off
    pub const JNE_X: u8 = BPF_JMP | BPF_JNE | BPF_X;
    /// return r0
    pub const EXIT: u8 = BPF_JMP | BPF_EXIT;
}

impl Insn {
    fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            regs: (src << 4) | (dst & 0x0f),
            off,
            imm,
        }
    }
    pub fn dst(&self) -> u8 {
        self.regs & 0x0f
    }
    pub fn src(&self) -> u8 {
        self.regs >> 4
    }
    pub fn ldx_w(dst: u8, src: u8, off: i16) -> Insn {
        Insn::new(op::LDX_W, dst, src, off, 0)
    }
    pub fn and32(dst: u8, imm: i32) -> Insn {
        Insn::new(op::AND32_K, dst, 0, 0, imm)
    }
    pub fn rsh32(dst: u8, imm: i32) -> Insn {
        Insn::new(op::RSH32_K, dst, 0, 0, imm)
    }
    pub fn mov32_reg(dst: u8, src: u8) -> Insn {
        Insn::new(op::MOV32_X, dst, src, 0, 0)
    }
    pub fn mov64_imm(dst: u8, imm: i32) -> Insn {
        Insn::new(op::MOV64_K, dst, 0, 0, imm)
    }
    pub fn jeq_imm(dst: u8, imm: i32, off: i16) -> Insn {
        Insn::new(op::JEQ_K, dst, 0, off, imm)
    }
    pub fn jne_imm(dst: u8, imm: i32, off: i16) -> Insn {
        Insn::new(op::JNE_K, dst, 0, off, imm)
    }
    pub fn jne_reg(dst: u8, src: u8, off: i16) -> Insn {
        Insn::new(op::JNE_X, dst, src, off, 0)
    }
    pub fn exit() -> Insn {
        Insn::new(op::EXIT, 0, 0, 0, 0)
    }
}

/// `struct bpf_cgroup_dev_ctx` values.
pub const DEV_BLOCK: i32 = 1;
pub const DEV_CHAR: i32 = 2;
pub const ACC_MKNOD: i32 = 1;
pub const ACC_READ: i32 = 2;
pub const ACC_WRITE: i32 = 4;
const ACC_ALL: i32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

// Registers: r1 is the context on entry (then a scratch register), r2 the device
// type, r3 the requested access, r4 the major, r5 the minor; r0 the verdict.
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;

/// The access bits of an `rwm` string; an empty string matches no access.
fn access_bits(rule: &Rule) -> Result<i32, EbpfError> {
    let mut bits = 0;
    for c in rule.access.chars() {
        bits |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => {
                return Err(EbpfError::Invalid {
                    rule: rule.v1_line(),
                    reason: format!("invalid access character {c:?} (want r, w, m)"),
                })
            }
        };
    }
    Ok(bits)
}

/// A major or minor to compare with: None for a wildcard (absent or -1).
fn number(rule: &Rule, what: &str, n: Option<i64>) -> Result<Option<i32>, EbpfError> {
    match n {
        None | Some(-1) => Ok(None),
        Some(n) => i32::try_from(n)
            .ok()
            .filter(|n| *n >= 0)
            .map(Some)
            .ok_or_else(|| EbpfError::Invalid {
                rule: rule.v1_line(),
                reason: format!("{what} {n} is out of range"),
            }),
    }
}

/// The checks of one rule; each jumps to the rule's end (patched later) on a
/// mismatch. Then r0 = verdict; exit.
fn rule_block(rule: &Rule) -> Result<Vec<Insn>, EbpfError> {
    let typ = match rule.typ {
        'c' => DEV_CHAR,
        'b' => DEV_BLOCK,
        t => {
            return Err(EbpfError::Invalid {
                rule: rule.v1_line(),
                reason: format!("invalid device type {t:?} (want a, b, c)"),
            })
        }
    };
    let access = access_bits(rule)?;
    let major = number(rule, "major", rule.major)?;
    let minor = number(rule, "minor", rule.minor)?;
    // Jumps carry the index of the jump within the block; fixed up below.
    let mut b = vec![Insn::jne_imm(R2, typ, 0)];
    if access != ACC_ALL {
        b.push(Insn::mov32_reg(R1, R3));
        b.push(Insn::and32(R1, access));
        if rule.allow {
            // Every requested bit is allowed: (r3 & access) == r3.
            b.push(Insn::jne_reg(R1, R3, 0));
        } else {
            // Some requested bit is denied: (r3 & access) != 0.
            b.push(Insn::jeq_imm(R1, 0, 0));
        }
    }
    if let Some(m) = major {
        b.push(Insn::jne_imm(R4, m, 0));
    }
    if let Some(m) = minor {
        b.push(Insn::jne_imm(R5, m, 0));
    }
    b.push(Insn::mov64_imm(R0, i32::from(rule.allow)));
    b.push(Insn::exit());
    let len = b.len();
    for (i, insn) in b.iter_mut().enumerate() {
        if matches!(insn.code, op::JNE_K | op::JNE_X | op::JEQ_K) {
            // Past the block's end: len - (i + 1) instructions ahead.
            insn.off = (len - i - 1) as i16;
        }
    }
    Ok(b)
}

/// Compile the rules (in v1 order) into a device program.
pub fn program(rules: &[Rule]) -> Result<Vec<Insn>, EbpfError> {
    let (default, rest) = match rules.iter().rposition(|r| r.typ == 'a') {
        Some(i) => (rules[i].allow, &rules[i + 1..]),
        None => (true, rules),
    };
    let mut p = vec![
        Insn::ldx_w(R2, R1, 0),
        Insn::and32(R2, 0xffff),
        Insn::ldx_w(R3, R1, 0),
        Insn::rsh32(R3, 16),
        Insn::ldx_w(R4, R1, 4),
        Insn::ldx_w(R5, R1, 8),
    ];
    for rule in rest.iter().rev() {
        if access_bits(rule)? == 0 {
            // Matches no access at all (v1 stores it and never uses it).
            continue;
        }
        p.extend(rule_block(rule)?);
    }
    p.push(Insn::mov64_imm(R0, i32::from(default)));
    p.push(Insn::exit());
    if p.len() > 4096 {
        return Err(EbpfError::TooLong(p.len()));
    }
    Ok(p)
}

// bpf(2) commands, program and attach types, flags (include/uapi/linux/bpf.h).
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 1 << 1;
const BPF_F_REPLACE: u32 = 1 << 2;

/// `union bpf_attr` for BPF_PROG_LOAD, up to expected_attach_type (the kernel
/// takes a shorter attr and treats the rest as zero). The attr structs have no
/// implicit padding: the kernel rejects non-zero bytes in fields it knows.
#[repr(C, align(8))]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// `union bpf_attr` for BPF_PROG_ATTACH and BPF_PROG_DETACH.
#[repr(C, align(8))]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
    /// relative_fd on Linux 6.6+; zero (no implicit padding reaches the kernel).
    _pad: u32,
}

/// `union bpf_attr` for BPF_PROG_QUERY.
#[repr(C, align(8))]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

/// `union bpf_attr` for BPF_PROG_GET_FD_BY_ID.
#[repr(C, align(8))]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
    _pad: u32,
}

/// bpf(cmd, attr, sizeof attr): the non-negative result or the errno.
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> Result<libc::c_long, SysErr> {
    // SAFETY: attr is a live, initialised #[repr(C)] bpf_attr layout of the
    // given size for this command; pointers inside it refer to buffers that
    // outlive the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(SysErr(std::io::Error::last_os_error()))
    } else {
        Ok(r)
    }
}

fn owned_fd(fd: libc::c_long) -> OwnedFd {
    // SAFETY: the kernel just returned this fd to us and nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

fn load_once(insns: &[Insn], log: Option<&mut [u8]>) -> Result<OwnedFd, SysErr> {
    let license = c"Apache-2.0";
    let mut name = [0u8; 16];
    name[..10].copy_from_slice(b"husk_devcg");
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        expected_attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    if let Some(buf) = log {
        attr.log_level = 1;
        attr.log_size = buf.len() as u32;
        attr.log_buf = buf.as_mut_ptr() as u64;
    }
    bpf(BPF_PROG_LOAD, &mut attr).map(owned_fd)
}

/// The last lines of a verifier log (without its statistics), joined with "; ".
pub(crate) fn log_tail(buf: &[u8]) -> String {
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let text = String::from_utf8_lossy(&buf[..end]);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("processed "))
        .collect();
    lines[lines.len().saturating_sub(3)..].join("; ")
}

/// Load a device program; on failure, load again with a verifier log to say why.
pub fn load(insns: &[Insn]) -> Result<OwnedFd, EbpfError> {
    load_once(insns, None).map_err(|source| {
        let mut buf = vec![0u8; 1 << 16];
        let log = match load_once(insns, Some(&mut buf)) {
            Ok(_) => String::new(),
            Err(_) => log_tail(&buf),
        };
        EbpfError::Load { source, log }
    })
}

/// The ids of the device programs attached to the cgroup `fd` itself, and the
/// attach flags.
fn query(fd: &OwnedFd) -> Result<(Vec<u32>, u32), SysErr> {
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: fd.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut attr)?;
    ids.truncate(attr.prog_cnt.min(64) as usize);
    Ok((ids, attr.attach_flags))
}

fn prog_fd(id: u32) -> Result<OwnedFd, SysErr> {
    let mut attr = GetFdAttr {
        prog_id: id,
        ..Default::default()
    };
    bpf(BPF_PROG_GET_FD_BY_ID, &mut attr).map(owned_fd)
}

fn attach(
    cg: &OwnedFd,
    prog: &OwnedFd,
    flags: u32,
    replace: Option<&OwnedFd>,
) -> Result<(), SysErr> {
    let mut attr = AttachAttr {
        target_fd: cg.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: flags,
        replace_bpf_fd: replace.map_or(0, |f| f.as_raw_fd() as u32),
        _pad: 0,
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map(drop)
}

fn detach(cg: &OwnedFd, prog: &OwnedFd) -> Result<(), SysErr> {
    let mut attr = AttachAttr {
        target_fd: cg.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    bpf(BPF_PROG_DETACH, &mut attr).map(drop)
}

/// The device programs attached to the cgroup directory `dir` itself (ids).
pub fn attached(dir: &Path) -> Result<Vec<u32>, EbpfError> {
    let cg = open_dir(dir)?;
    query(&cg)
        .map(|(ids, _)| ids)
        .map_err(|source| EbpfError::Bpf {
            step: "BPF_PROG_QUERY",
            path: dir.to_path_buf(),
            source,
        })
}

fn open_dir(dir: &Path) -> Result<OwnedFd, EbpfError> {
    std::fs::File::open(dir)
        .map(OwnedFd::from)
        .map_err(|e| EbpfError::Open {
            path: dir.to_path_buf(),
            source: e.into(),
        })
}

/// Load `insns` and attach it to the cgroup directory `dir` in place of the
/// device programs attached there before (one: atomically with BPF_F_REPLACE;
/// else the new one is attached first, then the old ones detached, so the
/// device set is never wider than either program's in between).
pub fn apply(dir: &Path, insns: &[Insn]) -> Result<(), EbpfError> {
    let prog = load(insns)?;
    let cg = open_dir(dir)?;
    let err = |step: &'static str| {
        move |source| EbpfError::Bpf {
            step,
            path: dir.to_path_buf(),
            source,
        }
    };
    let (old_ids, flags) = query(&cg).map_err(err("BPF_PROG_QUERY"))?;
    let old: Vec<OwnedFd> = old_ids.iter().filter_map(|id| prog_fd(*id).ok()).collect();
    if !old.is_empty() && flags & BPF_F_ALLOW_MULTI == 0 {
        // Attached without BPF_F_ALLOW_MULTI: an attach with the same flags
        // replaces the program.
        return attach(&cg, &prog, flags, None).map_err(err("BPF_PROG_ATTACH"));
    }
    if let [one] = old.as_slice() {
        match attach(&cg, &prog, BPF_F_ALLOW_MULTI | BPF_F_REPLACE, Some(one)) {
            Ok(()) => return Ok(()),
            // Before Linux 5.6 there is no BPF_F_REPLACE: attach, then detach.
            Err(e) if e.errno() == Some(libc::EINVAL) => {}
            Err(e) => return Err(err("BPF_PROG_ATTACH")(e)),
        }
    }
    attach(&cg, &prog, BPF_F_ALLOW_MULTI, None).map_err(err("BPF_PROG_ATTACH"))?;
    for o in &old {
        match detach(&cg, o) {
            Ok(()) => {}
            // Detached meanwhile (a concurrent update): fine.
            Err(e) if e.errno() == Some(libc::ENOENT) => {}
            Err(e) => return Err(err("BPF_PROG_DETACH")(e)),
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "ebpf_tests.rs"]
mod tests;
