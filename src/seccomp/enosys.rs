//! The `-ENOSYS` stub put in front of the compiled filter, as runc does: a syscall
//! whose number is above every syscall the profile names for its architecture
//! (`syscall(1000)`, or one newer than the profile) fails with ENOSYS instead of
//! the default action, so programs fall back to an older call (glibc's `clone3`
//! → `clone`, `faccessat2` → `faccessat`, ...) instead of failing with EPERM.
//! Every syscall up to the highest one named keeps the default action.
//!
//! Unlike runc 1.1.5, which stubs only the listed `architectures`, the native
//! architecture is stubbed when none are listed too. No stub is needed when the
//! default action allows (or already is ENOSYS).
//!
//! Layout (classic BPF, forward jumps only):
//!
//! ```text
//!   ld  [arch]
//!   per architecture:  jeq ARCH ? +0 : next    ld [nr]    (x86_64: jset X32_BIT ? x32 : +0)
//!                      jgt MAX ? enosys : main
//!   ja  main
//!   enosys: ret ERRNO|ENOSYS
//!   main:   the libseccomp program
//! ```

use libseccomp::{ScmpArch, ScmpSyscall};

const BPF_LD: u16 = 0x00;
const BPF_W: u16 = 0x00;
const BPF_ABS: u16 = 0x20;
const BPF_JMP: u16 = 0x05;
const BPF_JA: u16 = 0x00;
const BPF_JEQ: u16 = 0x10;
const BPF_JGT: u16 = 0x20;
const BPF_JSET: u16 = 0x40;
const BPF_K: u16 = 0x00;
const BPF_RET: u16 = 0x06;

/// Offsets in `struct seccomp_data`.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;

const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
/// x32 syscalls arrive with AUDIT_ARCH_X86_64 and this bit set in the number.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
const AUDIT_ARCH_RISCV64: u32 = 0xc000_00f3;
const AUDIT_ARCH_PPC64LE: u32 = 0xc000_0015;
const AUDIT_ARCH_S390X: u32 = 0x8000_0016;

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The AUDIT_ARCH_* value a syscall of `arch` carries (x32: x86_64's).
fn audit_arch(arch: ScmpArch) -> Option<u32> {
    Some(match arch {
        ScmpArch::X8664 | ScmpArch::X32 => AUDIT_ARCH_X86_64,
        ScmpArch::X86 => AUDIT_ARCH_I386,
        ScmpArch::Aarch64 => AUDIT_ARCH_AARCH64,
        ScmpArch::Arm => AUDIT_ARCH_ARM,
        ScmpArch::Riscv64 => AUDIT_ARCH_RISCV64,
        ScmpArch::Ppc64Le => AUDIT_ARCH_PPC64LE,
        ScmpArch::S390X => AUDIT_ARCH_S390X,
        _ => return None,
    })
}

/// The highest number among `names` on `arch` (x32 numbers with their bit), if
/// any is known there.
fn max_number<'a>(names: impl Iterator<Item = &'a str>, arch: ScmpArch) -> Option<u32> {
    names
        .filter_map(|n| ScmpSyscall::from_name_by_arch(n, arch).ok())
        .map(i32::from)
        .filter(|nr| *nr >= 0)
        .map(|nr| {
            let nr = nr as u32;
            if arch == ScmpArch::X32 {
                nr | X32_SYSCALL_BIT
            } else {
                nr
            }
        })
        .max()
}

/// Per AUDIT_ARCH: the highest named syscall, and for x86_64 that of x32.
struct Limit {
    audit: u32,
    max: Option<u32>,
    x32_max: Option<u32>,
}

/// The stub for `archs` (the filter's architectures, native included) and the
/// syscall names of the profile; empty when nothing would be stubbed.
pub fn stub<'a>(
    archs: &[ScmpArch],
    names: impl Iterator<Item = &'a str> + Clone,
) -> Vec<libc::sock_filter> {
    let mut limits: Vec<Limit> = Vec::new();
    for &arch in archs {
        let arch = if arch == ScmpArch::Native {
            ScmpArch::native()
        } else {
            arch
        };
        let Some(audit) = audit_arch(arch) else {
            continue;
        };
        let max = max_number(names.clone(), arch);
        let limit = match limits.iter_mut().find(|l| l.audit == audit) {
            Some(l) => l,
            None => {
                limits.push(Limit {
                    audit,
                    max: None,
                    x32_max: None,
                });
                limits.last_mut().expect("just pushed")
            }
        };
        if arch == ScmpArch::X32 {
            limit.x32_max = max;
        } else {
            limit.max = max;
        }
    }
    limits.retain(|l| l.max.is_some() || l.x32_max.is_some());
    if limits.is_empty() {
        return Vec::new();
    }
    // Each block ends in a jump to `enosys` or `main`; offsets are filled in
    // once the blocks' sizes are known.
    let blocks: Vec<Vec<Insn>> = limits.iter().map(block).collect();
    let total: usize = 1 + blocks.iter().map(Vec::len).sum::<usize>() + 1;
    let enosys = total; // index of the ret, after the final `ja main`
    let main = total + 1;
    let mut out = vec![stmt(BPF_LD | BPF_W | BPF_ABS, OFF_ARCH)];
    for b in blocks {
        let start = out.len();
        let next = start + b.len();
        for (i, insn) in b.into_iter().enumerate() {
            let at = start + i;
            let target = |t: Target| -> u8 {
                let to = match t {
                    Target::Next => next,
                    Target::Enosys => enosys,
                    Target::Main => main,
                    Target::Here(k) => start + k,
                };
                u8::try_from(to - at - 1).expect("the stub is short")
            };
            out.push(match insn {
                Insn::Stmt(code, k) => stmt(code, k),
                Insn::Jump(code, k, jt, jf) => jump(code, k, target(jt), target(jf)),
            });
        }
    }
    out.push(stmt(BPF_JMP | BPF_JA, 1));
    out.push(stmt(
        BPF_RET | BPF_K,
        SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
    ));
    out
}

#[derive(Clone, Copy)]
enum Target {
    Next,
    Enosys,
    Main,
    /// The k-th instruction of this block.
    Here(usize),
}

enum Insn {
    Stmt(u16, u32),
    Jump(u16, u32, Target, Target),
}

/// One architecture's block; the accumulator holds the arch on entry.
fn block(l: &Limit) -> Vec<Insn> {
    let cmp = |max: Option<u32>| match max {
        Some(m) => Insn::Jump(BPF_JMP | BPF_JGT | BPF_K, m, Target::Enosys, Target::Main),
        // No syscall of this ABI named: leave all of them to the filter (nothing
        // is greater than u32::MAX).
        None => Insn::Jump(
            BPF_JMP | BPF_JGT | BPF_K,
            u32::MAX,
            Target::Enosys,
            Target::Main,
        ),
    };
    let mut b = vec![
        Insn::Jump(
            BPF_JMP | BPF_JEQ | BPF_K,
            l.audit,
            Target::Here(1),
            Target::Next,
        ),
        Insn::Stmt(BPF_LD | BPF_W | BPF_ABS, OFF_NR),
    ];
    if l.audit == AUDIT_ARCH_X86_64 {
        // x32 numbers have the bit set: their own limit (4), else x86_64's (3).
        b.push(Insn::Jump(
            BPF_JMP | BPF_JSET | BPF_K,
            X32_SYSCALL_BIT,
            Target::Here(4),
            Target::Here(3),
        ));
        b.push(cmp(l.max));
        b.push(cmp(l.x32_max));
    } else {
        b.push(cmp(l.max));
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny classic-BPF interpreter for the stub's instructions: returns
    /// Some(ret value) or None when control reaches `main` (index len).
    fn run(prog: &[libc::sock_filter], arch: u32, nr: u32) -> Option<u32> {
        let (mut pc, mut a) = (0usize, 0u32);
        while pc < prog.len() {
            let i = prog[pc];
            pc += 1;
            match i.code {
                c if c == BPF_LD | BPF_W | BPF_ABS => a = if i.k == OFF_ARCH { arch } else { nr },
                c if c == BPF_JMP | BPF_JA => pc += i.k as usize,
                c if c == BPF_JMP | BPF_JEQ | BPF_K => {
                    pc += usize::from(if a == i.k { i.jt } else { i.jf })
                }
                c if c == BPF_JMP | BPF_JGT | BPF_K => {
                    pc += usize::from(if a > i.k { i.jt } else { i.jf })
                }
                c if c == BPF_JMP | BPF_JSET | BPF_K => {
                    pc += usize::from(if a & i.k != 0 { i.jt } else { i.jf })
                }
                c if c == BPF_RET | BPF_K => return Some(i.k),
                c => panic!("unexpected code {c:#x}"),
            }
        }
        None
    }

    const ENOSYS_RET: u32 = SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

    #[test]
    fn numbers_above_the_highest_named_get_enosys() {
        let names = ["read", "write", "openat"]; // x86_64: 0, 1, 257
        let p = stub(
            &[ScmpArch::X8664, ScmpArch::X86, ScmpArch::X32],
            names.iter().copied(),
        );
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 1000), Some(ENOSYS_RET));
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 258), Some(ENOSYS_RET));
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 257), None);
        assert_eq!(
            run(&p, AUDIT_ARCH_X86_64, 39),
            None,
            "not named, below: default"
        );
        // i386: openat is 295.
        assert_eq!(run(&p, AUDIT_ARCH_I386, 295), None);
        assert_eq!(run(&p, AUDIT_ARCH_I386, 296), Some(ENOSYS_RET));
        // x32: openat is 257 | bit.
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 257), None);
        assert_eq!(
            run(&p, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 600),
            Some(ENOSYS_RET)
        );
        // An architecture the filter does not know: the filter decides.
        assert_eq!(run(&p, AUDIT_ARCH_AARCH64, 1000), None);
    }

    #[test]
    fn without_x32_its_syscalls_are_left_to_the_filter() {
        let p = stub(&[ScmpArch::Native], ["read"].iter().copied());
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 5), None);
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 1), Some(ENOSYS_RET));
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 0), None);
    }

    #[test]
    fn no_known_name_means_no_stub() {
        assert!(stub(&[ScmpArch::X8664], ["husk_no_such_syscall"].iter().copied()).is_empty());
        assert!(stub(&[ScmpArch::X8664], std::iter::empty()).is_empty());
    }
}
