//! `linux.personality`: the execution domain (LINUX or LINUX32) set in init right
//! before execve.

use oci_spec::runtime::{LinuxPersonality, LinuxPersonalityDomain};

#[derive(Debug, thiserror::Error)]
pub enum PersonalityError {
    #[error("linux.personality.domain: personality({domain:#x}): {source}")]
    Set { domain: u64, source: nix::Error },
}

const PER_LINUX: u64 = 0x0000;
const PER_LINUX32: u64 = 0x0008;

/// The persona value of a spec domain.
pub fn domain_value(d: LinuxPersonalityDomain) -> u64 {
    match d {
        LinuxPersonalityDomain::PerLinux => PER_LINUX,
        LinuxPersonalityDomain::PerLinux32 => PER_LINUX32,
    }
}

/// Set the process's execution domain.
pub fn apply(p: &LinuxPersonality) -> Result<(), PersonalityError> {
    let domain = domain_value(p.domain());
    // SAFETY: personality(2) takes a plain integer.
    if unsafe { libc::personality(domain as libc::c_ulong) } < 0 {
        return Err(PersonalityError::Set {
            domain,
            source: nix::Error::last(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_map_to_kernel_values() {
        assert_eq!(domain_value(LinuxPersonalityDomain::PerLinux32), 8);
        assert_eq!(domain_value(LinuxPersonalityDomain::PerLinux), 0);
    }
}
