//! Device cgroup rules: the ones a container gets, in the order they are applied,
//! and the state they leave a v1 device cgroup in.
//! As runc: everything is denied first, then `linux.resources.devices` in order,
//! then runc's default allowed devices. A node in `linux.devices` is only created
//! (by `linux::devices`), never allowed by itself: access to it is whatever these
//! rules grant, as in runc. v1 writes them to devices.allow/devices.deny; v2
//! compiles the state they settle into (`settle`: what the v1 controller would
//! hold) to an eBPF program (`ebpf`), so both layouts grant the same access.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

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

/// `access` of a rule as given (absent: `rwm`).
fn spec_access(d: &LinuxDeviceCgroup) -> String {
    d.access().clone().unwrap_or_else(|| "rwm".to_string())
}

/// The letters of `access` the device controller knows (r, w, m), in their order;
/// runc ignores the others (`rwa` allows rw).
fn known_access(access: &str) -> String {
    access.chars().filter(|c| "rwm".contains(*c)).collect()
}

fn from_spec(d: &LinuxDeviceCgroup) -> Option<Rule> {
    let typ = type_char(d.typ().unwrap_or_default())?;
    let access = spec_access(d);
    Some(Rule {
        allow: d.allow(),
        typ,
        major: d.major(),
        minor: d.minor(),
        // A rule whose letters are all unknown keeps them: `settle` refuses it.
        access: match known_access(&access) {
            known if known.is_empty() => access,
            known => known,
        },
    })
}

/// One warning per `linux.resources.devices[i].access` with letters other than
/// r, w and m, which are ignored as runc ignores them.
pub fn access_warnings(resources: Option<&[LinuxDeviceCgroup]>) -> Vec<String> {
    resources
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter_map(|(i, d)| {
            let access = spec_access(d);
            let known = known_access(&access);
            (known.len() != access.len() && !known.is_empty()).then(|| {
                format!(
                    "{FIELD}[{i}].access: {access:?}: ignoring the letters other than r, w \
                     and m (using {known:?}), as runc does"
                )
            })
        })
        .collect()
}

/// The rules to apply after denying everything.
pub fn rules(resources: Option<&[LinuxDeviceCgroup]>) -> Vec<Rule> {
    sourced_rules(resources)
        .into_iter()
        .map(|(_, rule)| rule)
        .collect()
}

/// `rules`, each with the spec field it comes from (for errors):
/// `linux.resources.devices[i]`, then the defaults.
pub fn sourced_rules(resources: Option<&[LinuxDeviceCgroup]>) -> Vec<(String, Rule)> {
    let mut out: Vec<(String, Rule)> = resources
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter_map(|(i, d)| Some((format!("{FIELD}[{i}]"), from_spec(d)?)))
        .collect();
    let default = format!("{FIELD} (default allowed devices)");
    out.extend(default_allowed().into_iter().map(|r| (default.clone(), r)));
    out
}

const FIELD: &str = "linux.resources.devices";

/// The rule that denies every access to every device.
pub fn deny_all() -> Rule {
    Rule {
        allow: false,
        typ: 'a',
        major: None,
        minor: None,
        access: "rwm".to_string(),
    }
}

/// What a v1 device cgroup holds once rules are written to it: a default verdict
/// and the exceptions to it (rules with the other verdict).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub default_allow: bool,
    pub exceptions: Vec<Rule>,
}

impl Settled {
    /// The state as rules in v1 order: the `a` rule, then the exceptions (whose
    /// order does not matter: they all have the same verdict).
    pub fn rules(&self) -> Vec<Rule> {
        let mut out = vec![Rule {
            allow: self.default_allow,
            ..deny_all()
        }];
        out.extend(self.exceptions.iter().cloned());
        out
    }
}

/// The access bits of an `rwm` string (r = 1, w = 2, m = 4).
fn access_bits(access: &str) -> Result<u8, char> {
    access.chars().try_fold(0, |bits, c| match c {
        'r' => Ok(bits | 1),
        'w' => Ok(bits | 2),
        'm' => Ok(bits | 4),
        other => Err(other),
    })
}

fn access_string(bits: u8) -> String {
    [(1, 'r'), (2, 'w'), (4, 'm')]
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, c)| c)
        .collect()
}

/// A major or minor: `None` for a wildcard (absent or -1).
fn number(n: Option<i64>) -> Option<i64> {
    n.filter(|n| *n != -1)
}

/// Both rules name exactly the same devices.
fn same_devices(a: &Rule, b: &Rule) -> bool {
    a.typ == b.typ && number(a.major) == number(b.major) && number(a.minor) == number(b.minor)
}

/// `wide` matches every device `narrow` matches, and more.
fn wider(wide: &Rule, narrow: &Rule) -> bool {
    let covers = |w: Option<i64>, n: Option<i64>| number(w).is_none() || number(w) == number(n);
    wide.typ == narrow.typ
        && covers(wide.major, narrow.major)
        && covers(wide.minor, narrow.minor)
        && !same_devices(wide, narrow)
}

/// Write `rules` in order into a fresh device cgroup (everything allowed) the way
/// the v1 device controller does: an `a` rule sets the default verdict and drops
/// every exception; a rule with the other verdict adds an exception (its access
/// merged into the exception for exactly the same devices, if any); a rule with
/// the default's verdict takes its access away from the exception for exactly
/// the same devices, and from nothing else, so a wildcard deny leaves an earlier
/// specific allow in place. A rule that would change a part of a wider exception
/// (deny `c 4:5` inside an allowed `c 4:*`) is refused: v1
/// ignores it silently and a v2 program would enforce it, so it is an error on
/// both layouts, as in runc. Err((field, reason)).
pub fn settle(rules: &[(String, Rule)]) -> Result<Settled, (String, String)> {
    let mut state = Settled {
        default_allow: true,
        exceptions: Vec::new(),
    };
    for (field, rule) in rules {
        if rule.typ == 'a' {
            state.default_allow = rule.allow;
            state.exceptions.clear();
            continue;
        }
        let bits = access_bits(&rule.access).map_err(|c| {
            let reason = format!(
                "rule `{}`: invalid access character {c:?} (want r, w, m)",
                rule.v1_line()
            );
            (field.clone(), reason)
        })?;
        if bits == 0 {
            // Matches no access: v1 stores it and never uses it.
            continue;
        }
        if rule.allow != state.default_allow {
            add_exception(&mut state.exceptions, rule, bits);
        } else {
            remove_access(&mut state.exceptions, rule, bits).map_err(|r| (field.clone(), r))?;
        }
    }
    Ok(state)
}

fn add_exception(exceptions: &mut Vec<Rule>, rule: &Rule, bits: u8) {
    match exceptions.iter_mut().find(|e| same_devices(e, rule)) {
        Some(e) => {
            let merged = access_bits(&e.access).unwrap_or(0) | bits;
            e.access = access_string(merged);
        }
        None => exceptions.push(Rule {
            access: access_string(bits),
            ..rule.clone()
        }),
    }
}

fn remove_access(exceptions: &mut Vec<Rule>, rule: &Rule, bits: u8) -> Result<(), String> {
    let holed = exceptions
        .iter()
        .find(|e| wider(e, rule) && access_bits(&e.access).unwrap_or(0) & bits != 0);
    if let Some(wide) = holed {
        return Err(format!(
            "rule `{}` cannot change a part of the earlier `{}`: the cgroup v1 device \
             controller only changes an exception for exactly the same devices and ignores \
             such a rule, so it is refused on every layout, as runc does",
            rule.v1_line(),
            wide.v1_line()
        ));
    }
    for e in exceptions.iter_mut().filter(|e| same_devices(e, rule)) {
        e.access = access_string(access_bits(&e.access).unwrap_or(0) & !bits);
    }
    exceptions.retain(|e| !e.access.is_empty());
    Ok(())
}

/// The device cgroup a container gets: deny all, then `sourced_rules` in order,
/// settled.
pub fn container_state(
    resources: Option<&[LinuxDeviceCgroup]>,
) -> Result<Settled, (String, String)> {
    let mut all = vec![(FIELD.to_string(), deny_all())];
    all.extend(sourced_rules(resources));
    settle(&all)
}

#[cfg(test)]
#[path = "devices_tests.rs"]
mod tests;
