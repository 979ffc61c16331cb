//! `process.scheduler` (sched_setattr) and `process.ioPriority` (ioprio_set),
//! applied by init to itself before it drops its capabilities, so that the user
//! process inherits them through execve.

use oci_spec::runtime::{
    IOPriorityClass, LinuxIOPriority, LinuxSchedulerFlag, LinuxSchedulerPolicy, Scheduler,
};

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("process.scheduler: sched_setattr (policy {policy}): {source}")]
    SetAttr { policy: u32, source: nix::Error },
    #[error("process.ioPriority.priority: {0} is out of range 0..=7")]
    IoPriorityRange(i64),
    #[error("process.ioPriority: ioprio_set: {0}")]
    IoPrio(nix::Error),
}

/// The kernel's `struct sched_attr` (SCHED_ATTR_SIZE_VER1 without util clamps).
#[repr(C)]
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SchedAttr {
    pub size: u32,
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
}

fn policy_value(p: LinuxSchedulerPolicy) -> u32 {
    match p {
        LinuxSchedulerPolicy::SchedOther => 0,
        LinuxSchedulerPolicy::SchedFifo => 1,
        LinuxSchedulerPolicy::SchedRr => 2,
        LinuxSchedulerPolicy::SchedBatch => 3,
        LinuxSchedulerPolicy::SchedIso => 4,
        LinuxSchedulerPolicy::SchedIdle => 5,
        LinuxSchedulerPolicy::SchedDeadline => 6,
    }
}

fn flag_value(f: &LinuxSchedulerFlag) -> u64 {
    match f {
        LinuxSchedulerFlag::SchedResetOnFork => 0x01,
        LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
        LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
        LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
        LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
        LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
        LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
    }
}

/// The sched_attr for a spec scheduler.
pub fn attr(s: &Scheduler) -> SchedAttr {
    SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: policy_value(*s.policy()),
        flags: s
            .flags()
            .iter()
            .flatten()
            .map(flag_value)
            .fold(0, |a, b| a | b),
        nice: s.nice().unwrap_or(0),
        priority: s.priority().unwrap_or(0).max(0) as u32,
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
    }
}

/// sched_setattr on the calling process.
pub fn apply_scheduler(s: &Scheduler) -> Result<(), SchedulerError> {
    let a = attr(s);
    // SAFETY: `a` is a valid sched_attr whose size field matches its layout.
    let rc = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &a as *const SchedAttr, 0) };
    if rc != 0 {
        return Err(SchedulerError::SetAttr {
            policy: a.policy,
            source: nix::Error::last(),
        });
    }
    Ok(())
}

/// The ioprio value: class in the top bits, priority below.
pub fn ioprio_value(p: &LinuxIOPriority) -> Result<i32, SchedulerError> {
    let class = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    if !(0..=7).contains(&p.priority()) {
        return Err(SchedulerError::IoPriorityRange(p.priority()));
    }
    Ok((class << 13) | p.priority() as i32)
}

/// ioprio_set(IOPRIO_WHO_PROCESS, self).
pub fn apply_io_priority(p: &LinuxIOPriority) -> Result<(), SchedulerError> {
    let value = ioprio_value(p)?;
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    // SAFETY: ioprio_set takes plain integers.
    let rc = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) };
    if rc != 0 {
        return Err(SchedulerError::IoPrio(nix::Error::last()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_with_nice() {
        let s: Scheduler =
            serde_json::from_value(serde_json::json!({"policy": "SCHED_BATCH", "nice": 5}))
                .unwrap();
        let a = attr(&s);
        assert_eq!((a.policy, a.nice, a.size), (3, 5, 48));
    }

    #[test]
    fn ioprio_packs_class_and_level() {
        let p: LinuxIOPriority =
            serde_json::from_value(serde_json::json!({"class": "IOPRIO_CLASS_BE", "priority": 6}))
                .unwrap();
        assert_eq!(ioprio_value(&p).unwrap(), 16390);
    }
}
