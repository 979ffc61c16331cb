//! Device cgroup rules: the ones a container gets, in the order they are applied.
//! As runc: everything is denied first, then `linux.resources.devices` in order,
//! then runc's default allowed devices, then an allow rule for every configured
//! `linux.devices` entry. v1 writes them to devices.allow/devices.deny; v2
//! compiles them to an eBPF program (`ebpf`).

use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType};

/// One rule as the v1 device controller reads it: `c 1:3 rwm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    /// 'a', 'c' or 'b'.
    pub typ: char,
    pub major: Option<i64>,
    pub minor: Option<i64>,
    pub access: String,
}

impl Rule {
    /// The line for devices.allow / devices.deny.
    pub fn v1_line(&self) -> String {
        if self.typ == 'a' {
            return "a".to_string();
        }
        let num = |n: Option<i64>| n.map_or("*".to_string(), |n| n.to_string());
        format!(
            "{} {}:{} {}",
            self.typ,
            num(self.major),
            num(self.minor),
            self.access
        )
    }
}

/// runc's default allowed devices (libcontainer/specconv AllowedDevices, 1.1):
/// mknod of any char/block device, null, random, full, tty, zero, urandom, the
/// pty slaves and ptmx, and tun.
pub fn default_allowed() -> Vec<Rule> {
    let table: [(char, Option<i64>, Option<i64>, &str); 11] = [
        ('c', None, None, "m"),
        ('b', None, None, "m"),
        ('c', Some(1), Some(3), "rwm"),
        ('c', Some(1), Some(8), "rwm"),
        ('c', Some(1), Some(7), "rwm"),
        ('c', Some(5), Some(0), "rwm"),
        ('c', Some(1), Some(5), "rwm"),
        ('c', Some(1), Some(9), "rwm"),
        ('c', Some(136), None, "rwm"),
        ('c', Some(5), Some(2), "rwm"),
        ('c', Some(10), Some(200), "rwm"),
    ];
    table
        .iter()
        .map(|&(typ, major, minor, access)| Rule {
            allow: true,
            typ,
            major,
            minor,
            access: access.to_string(),
        })
        .collect()
}

fn type_char(t: LinuxDeviceType) -> Option<char> {
    match t {
        LinuxDeviceType::A => Some('a'),
        LinuxDeviceType::B => Some('b'),
        LinuxDeviceType::C | LinuxDeviceType::U => Some('c'),
        // The device controller has no rules for FIFOs.
        LinuxDeviceType::P => None,
    }
}

fn from_spec(d: &LinuxDeviceCgroup) -> Option<Rule> {
    let typ = type_char(d.typ().unwrap_or_default())?;
    Some(Rule {
        allow: d.allow(),
        typ,
        major: d.major(),
        minor: d.minor(),
        access: d.access().clone().unwrap_or_else(|| "rwm".to_string()),
    })
}

/// The rules to apply after denying everything.
pub fn rules(resources: Option<&[LinuxDeviceCgroup]>, devices: &[LinuxDevice]) -> Vec<Rule> {
    let mut out: Vec<Rule> = resources
        .unwrap_or_default()
        .iter()
        .filter_map(from_spec)
        .collect();
    out.extend(default_allowed());
    out.extend(devices.iter().filter_map(|d| {
        Some(Rule {
            allow: true,
            typ: type_char(d.typ())?,
            major: Some(d.major()),
            minor: Some(d.minor()),
            access: "rwm".to_string(),
        })
    }));
    out
}
