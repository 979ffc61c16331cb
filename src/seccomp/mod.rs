//! `linux.seccomp`: turn the OCI seccomp profile into a classic BPF program with
//! libseccomp, in the parent before the clone, and install it in the container's
//! init with a single `seccomp(2)` call.
//!
//! Semantics follow runc: syscall names unknown to libseccomp are skipped (they
//! may be newer than the library), rules whose action equals the default action
//! are skipped, several conditions on the same argument index are ORed by adding
//! one rule per condition, and libseccomp does not set no_new_privs (the init does
//! that itself when `process.noNewPrivileges` asks for it). A syscall above every
//! one the profile names fails with ENOSYS (`enosys`), as in runc.

mod enosys;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use std::io::{Read, Seek};
use std::os::fd::{FromRawFd, OwnedFd};
use std::str::FromStr;

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// A profile field that cannot be turned into a filter.
    #[error("{field}: {msg}")]
    Invalid { field: String, msg: String },
    /// libseccomp refused something.
    #[error("{field}: libseccomp: {source}")]
    Library {
        field: String,
        source: libseccomp::error::SeccompError,
    },
    /// Exporting the program (memfd, read).
    #[error("linux.seccomp: exporting the BPF program: {0}")]
    Export(std::io::Error),
    /// Loading the program in the init.
    #[error("linux.seccomp: {step}: {source}")]
    Install {
        step: &'static str,
        source: nix::Error,
    },
}

fn invalid(field: impl Into<String>, msg: impl Into<String>) -> SeccompError {
    SeccompError::Invalid {
        field: field.into(),
        msg: msg.into(),
    }
}

fn lib(field: impl Into<String>) -> impl FnOnce(libseccomp::error::SeccompError) -> SeccompError {
    let field = field.into();
    move |source| SeccompError::Library { field, source }
}

const FLAG_TSYNC: u32 = 1 << 0;
const FLAG_LOG: u32 = 1 << 1;
const FLAG_SPEC_ALLOW: u32 = 1 << 2;

/// A compiled filter: the BPF instructions and the `seccomp(2)` flags.
#[derive(Clone)]
pub struct Program {
    filter: Vec<libc::sock_filter>,
    flags: u32,
}

impl Program {
    /// Number of BPF instructions.
    pub fn len(&self) -> usize {
        self.filter.len()
    }

    pub fn is_empty(&self) -> bool {
        self.filter.is_empty()
    }

    /// The `seccomp(2)` flags (SECCOMP_FILTER_FLAG_*).
    pub fn flags(&self) -> u32 {
        self.flags
    }
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("instructions", &self.filter.len())
            .field("flags", &self.flags)
            .finish()
    }
}

/// The OCI name of an enum value, as it appears in config.json.
fn json_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "?".to_string())
}

/// Map an OCI action (with its errnoRet) onto libseccomp's.
fn action(
    a: LinuxSeccompAction,
    errno_ret: Option<u32>,
    field: &str,
) -> Result<ScmpAction, SeccompError> {
    let ret = errno_ret.unwrap_or(libc::EPERM as u32);
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(ret as u16 as i32),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(ret as u16),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(invalid(field, "SCMP_ACT_NOTIFY is not supported yet"))
        }
    })
}

fn compare_op(op: LinuxSeccompOperator, value: u64) -> ScmpCompareOp {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(value),
    }
}

fn filter_flags(s: &LinuxSeccomp) -> Result<u32, SeccompError> {
    let mut flags = 0;
    for (i, f) in s.flags().iter().flatten().enumerate() {
        flags |= match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => FLAG_SPEC_ALLOW,
            other => {
                return Err(invalid(
                    format!("linux.seccomp.flags[{i}]"),
                    format!(
                        "{} is not supported (it only applies to SCMP_ACT_NOTIFY, which is not supported yet)",
                        json_name(other)
                    ),
                ))
            }
        };
    }
    Ok(flags)
}

/// Validate the profile and compile it into BPF. Runs in the parent.
pub fn compile(s: &LinuxSeccomp) -> Result<Program, SeccompError> {
    let default = action(
        s.default_action(),
        s.default_errno_ret(),
        "linux.seccomp.defaultAction",
    )?;
    let flags = filter_flags(s)?;
    // Check every rule's action and arguments before asking libseccomp anything,
    // so a bad field is reported even when its syscalls are unknown.
    for (i, call) in s.syscalls().iter().flatten().enumerate() {
        action(
            call.action(),
            call.errno_ret(),
            &format!("linux.seccomp.syscalls[{i}].action"),
        )?;
        for (j, name) in call.names().iter().enumerate() {
            if name.is_empty() {
                return Err(invalid(
                    format!("linux.seccomp.syscalls[{i}].names[{j}]"),
                    "empty syscall name",
                ));
            }
        }
        for (j, arg) in call.args().iter().flatten().enumerate() {
            if arg.index() > 5 {
                return Err(invalid(
                    format!("linux.seccomp.syscalls[{i}].args[{j}].index"),
                    format!("{} is out of range (0-5)", arg.index()),
                ));
            }
        }
    }

    let mut ctx = ScmpFilterContext::new(default).map_err(lib("linux.seccomp.defaultAction"))?;
    let mut archs = vec![ScmpArch::Native];
    ctx.set_ctl_nnp(false)
        .map_err(lib("linux.seccomp: clearing the no_new_privs attribute"))?;
    for (i, arch) in s.architectures().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.architectures[{i}]");
        let name = json_name(arch);
        let a = ScmpArch::from_str(&name)
            .map_err(|_| invalid(&field, format!("{name} is not known to libseccomp")))?;
        archs.push(a);
        if !ctx.is_arch_present(a).map_err(lib(&field))? {
            ctx.add_arch(a)
                .map_err(|e| invalid(&field, format!("{name}: libseccomp: {e}")))?;
        }
    }

    for (i, call) in s.syscalls().iter().flatten().enumerate() {
        let act = action(call.action(), call.errno_ret(), "")?;
        if act == default {
            continue;
        }
        let args = call.args().as_deref().unwrap_or_default();
        let conds: Vec<ScmpArgCompare> = args
            .iter()
            .map(|a| {
                ScmpArgCompare::new(
                    a.index() as u32,
                    compare_op(a.op(), a.value()),
                    if a.op() == LinuxSeccompOperator::ScmpCmpMaskedEq {
                        a.value_two().unwrap_or(0)
                    } else {
                        a.value()
                    },
                )
            })
            .collect();
        let same_index = args
            .iter()
            .enumerate()
            .any(|(j, a)| args[..j].iter().any(|b| b.index() == a.index()));
        for (j, name) in call.names().iter().enumerate() {
            let Ok(sc) = ScmpSyscall::from_name(name) else {
                // Unknown to this libseccomp: maybe newer than the library. runc skips it.
                continue;
            };
            let field = format!("linux.seccomp.syscalls[{i}].names[{j}]");
            let added = if conds.is_empty() {
                ctx.add_rule(act, sc).map(|_| ())
            } else if same_index {
                conds
                    .iter()
                    .try_for_each(|c| ctx.add_rule_conditional(act, sc, &[*c]).map(|_| ()))
            } else {
                ctx.add_rule_conditional(act, sc, &conds).map(|_| ())
            };
            added.map_err(|e| invalid(&field, format!("{name:?}: libseccomp: {e}")))?;
        }
    }

    let mut filter = match default {
        // Unknown syscalls are allowed (or ENOSYS) already.
        ScmpAction::Allow | ScmpAction::Log => Vec::new(),
        ScmpAction::Errno(e) if e == libc::ENOSYS => Vec::new(),
        _ => {
            let names = s.syscalls().iter().flatten().flat_map(|c| c.names().iter());
            enosys::stub(&archs, names.map(String::as_str))
        }
    };
    filter.extend(export(&ctx)?);
    Ok(Program { filter, flags })
}

/// Export the filter's BPF through a memfd and decode the instructions.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>, SeccompError> {
    // SAFETY: memfd_create with a NUL-terminated name and a flag; the returned fd
    // is owned by us alone.
    let fd = unsafe { libc::memfd_create(c"husk-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(SeccompError::Export(std::io::Error::last_os_error()));
    }
    // SAFETY: `fd` was just created and is not owned by anything else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    ctx.export_bpf(&fd)
        .map_err(lib("linux.seccomp: exporting the BPF program"))?;
    let mut file = std::fs::File::from(fd);
    file.rewind().map_err(SeccompError::Export)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(SeccompError::Export)?;
    decode(&bytes)
}

/// Native-endian `struct sock_filter` records: u16 code, u8 jt, u8 jf, u32 k.
fn decode(bytes: &[u8]) -> Result<Vec<libc::sock_filter>, SeccompError> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(8) {
        return Err(SeccompError::Export(std::io::Error::other(format!(
            "libseccomp exported {} bytes, not a whole number of instructions",
            bytes.len()
        ))));
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

/// Load the program into the calling process. Runs in the container's init: one
/// `seccomp(2)` call, or `prctl(PR_SET_SECCOMP)` on kernels without seccomp(2).
pub fn install(p: &Program) -> Result<(), SeccompError> {
    let prog = libc::sock_fprog {
        len: p.filter.len() as libc::c_ushort,
        filter: p.filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at `p.filter`, which outlives the call; the kernel
    // copies the program.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            p.flags as libc::c_ulong,
            &prog as *const libc::sock_fprog,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = nix::Error::last();
    if err != nix::Error::ENOSYS || p.flags != 0 {
        return Err(SeccompError::Install {
            step: "seccomp(SECCOMP_SET_MODE_FILTER)",
            source: err,
        });
    }
    // SAFETY: as above; PR_SET_SECCOMP takes the mode and a sock_fprog pointer.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER as libc::c_ulong,
            &prog as *const libc::sock_fprog,
            0,
            0,
        )
    };
    if rc != 0 {
        return Err(SeccompError::Install {
            step: "prctl(PR_SET_SECCOMP)",
            source: nix::Error::last(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
