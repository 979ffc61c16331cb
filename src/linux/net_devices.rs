//! `linux.netDevices`: host network devices the runtime moves into the container's
//! network namespace (config-linux.md "Network Devices"), over rtnetlink from the
//! parent (`netlink.rs`).
//!
//! - bundle load: names are valid interface names, final names are unique, and
//!   the container has a network namespace of its own;
//! - before the clone (`Mover::prepare`): each device exists on the host; its
//!   permanent global-scope addresses are recorded;
//! - when the init reports its namespaces are in place (`Message::NetDevices`):
//!   each device is moved and renamed in one RTM_NEWLINK (a name taken in the
//!   container is an error, unless it is a `%d` template), its addresses are added
//!   again (the kernel drops them on the move) and it is set up;
//! - if `create` fails after that, `Mover::restore` moves the devices back to the
//!   host under their names, with their addresses and state;
//! - on delete nothing is done: the spec forbids moving them out; when the
//!   namespace is freed the kernel returns physical devices to the host and
//!   destroys virtual ones (a veth pair goes with its peer).

use crate::linux::netlink::{Address, Link, NetlinkError, Socket};
use oci_spec::runtime::{LinuxNetDevice, Spec};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;

#[derive(Debug, thiserror::Error)]
pub enum NetDevicesError {
    #[error(
        "linux.netDevices: needs a network namespace of the container's own \
         (a {{\"type\": \"network\"}} entry in linux.namespaces)"
    )]
    NeedsNetworkNamespace,
    #[error("linux.netDevices[{host:?}]{field}: {msg}")]
    Invalid {
        host: String,
        field: &'static str,
        msg: String,
    },
    #[error(
        "linux.netDevices[{host:?}]: no network device {host:?} in the runtime's network namespace"
    )]
    Missing { host: String },
    #[error("linux.netDevices[{host:?}]: the container's network namespace already has a device named {name:?}")]
    NameTaken { host: String, name: String },
    #[error("linux.netDevices[{host:?}]: {step}: {source}")]
    Netlink {
        host: String,
        step: String,
        source: NetlinkError,
    },
    #[error("linux.netDevices: {step}: {source}")]
    Namespace {
        step: String,
        source: std::io::Error,
    },
    #[error("linux.netDevices: the container's network namespace is the runtime's own: there is nowhere to move the devices")]
    SameNamespace,
}

fn invalid(host: &str, field: &'static str, msg: impl Into<String>) -> NetDevicesError {
    NetDevicesError::Invalid {
        host: host.to_string(),
        field,
        msg: msg.into(),
    }
}

/// The devices in a stable order (by host name).
fn sorted(devices: &HashMap<String, LinuxNetDevice>) -> BTreeMap<&str, &LinuxNetDevice> {
    devices.iter().map(|(k, v)| (k.as_str(), v)).collect()
}

/// The name a device gets in the container: `name`, or its host name.
fn final_name<'a>(host: &'a str, d: &'a LinuxNetDevice) -> &'a str {
    d.name()
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(host)
}

/// An interface name the kernel accepts (dev_valid_name): 1-15 bytes, not `.` or
/// `..`, no `/`, `:` or blanks. `template` also allows one `%d`.
fn check_name(name: &str, template: bool) -> Result<(), String> {
    if name.is_empty() || name.len() > 15 {
        return Err(format!("{name:?}: an interface name has 1 to 15 bytes"));
    }
    if name == "." || name == ".." {
        return Err(format!("{name:?} is not an interface name"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| *c == '/' || *c == ':' || c.is_ascii_whitespace())
    {
        return Err(format!("{name:?}: an interface name has no {c:?}"));
    }
    let percents = name.matches('%').count();
    if percents > 0 && !(template && percents == 1 && name.contains("%d")) {
        return Err(format!(
            "{name:?}: '%' is only allowed as one \"%d\" template in `name`"
        ));
    }
    Ok(())
}

/// Check `linux.netDevices` against itself and the namespaces (no system state).
pub fn validate(
    devices: &HashMap<String, LinuxNetDevice>,
    own_network_namespace: bool,
) -> Result<(), NetDevicesError> {
    if devices.is_empty() {
        return Ok(());
    }
    if !own_network_namespace {
        return Err(NetDevicesError::NeedsNetworkNamespace);
    }
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for (host, d) in sorted(devices) {
        check_name(host, false).map_err(|m| invalid(host, "", m))?;
        let name = final_name(host, d);
        check_name(name, true).map_err(|m| invalid(host, ".name", m))?;
        if name.contains('%') {
            continue;
        }
        if let Some(other) = seen.insert(name, host) {
            return Err(invalid(
                host,
                ".name",
                format!("{name:?} is also the name of linux.netDevices[{other:?}]"),
            ));
        }
    }
    Ok(())
}

/// `linux.netDevices` of a spec (empty when unset).
pub fn of(spec: &Spec) -> HashMap<String, LinuxNetDevice> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.net_devices().clone())
        .unwrap_or_default()
}

/// A host device to move, as found before the clone.
struct HostDevice {
    key: String,
    target: String,
    link: Link,
    addresses: Vec<Address>,
}

/// A device in the container: where it came from and what it is called there.
struct Moved {
    device: usize,
    name: String,
}

/// Moves the devices in, and back out if `create` fails. Holding it keeps the
/// container's network namespace alive (its netlink socket lives there).
pub struct Mover {
    host: Socket,
    host_netns: File,
    devices: Vec<HostDevice>,
    container: Option<Socket>,
    moved: Vec<Moved>,
}

impl Mover {
    /// Find every device of the spec on the host (before anything is created).
    /// None when the spec has no devices.
    pub fn prepare(spec: &Spec) -> Result<Option<Mover>, NetDevicesError> {
        let wanted = of(spec);
        if wanted.is_empty() {
            return Ok(None);
        }
        let host = Socket::open().map_err(|source| NetDevicesError::Netlink {
            host: String::new(),
            step: "opening a netlink socket".into(),
            source,
        })?;
        let host_netns = open_netns("/proc/self/ns/net")?;
        let mut devices = Vec::new();
        for (key, d) in sorted(&wanted) {
            devices.push(find_on_host(&host, key, final_name(key, d))?);
        }
        Ok(Some(Mover {
            host,
            host_netns,
            devices,
            container: None,
            moved: Vec::new(),
        }))
    }

    /// Move every device into the network namespace of `pid`, rename it, give it
    /// its addresses back and set it up.
    pub fn move_in(&mut self, pid: i32) -> Result<(), NetDevicesError> {
        let netns = open_netns(&format!("/proc/{pid}/ns/net"))?;
        if same_file(&netns, &self.host_netns) {
            return Err(NetDevicesError::SameNamespace);
        }
        let container = socket_in(&netns)?;
        let result = self.move_all(&netns, &container);
        // Kept even after a failure: `restore` moves back through it.
        self.container = Some(container);
        result
    }

    fn move_all(&mut self, netns: &File, container: &Socket) -> Result<(), NetDevicesError> {
        let mut taken: HashSet<String> = links_of(container)?;
        for i in 0..self.devices.len() {
            let name = self.pick_name(i, &taken)?;
            self.move_one(i, netns, container, &name)?;
            taken.insert(name.clone());
            self.configure(i, container, &name)?;
        }
        Ok(())
    }

    /// The final name of device `i`: its target, or the first free name of a
    /// `%d` template (as the kernel would pick it).
    fn pick_name(&self, i: usize, taken: &HashSet<String>) -> Result<String, NetDevicesError> {
        let d = &self.devices[i];
        if d.target.contains("%d") {
            return (0..u32::MAX)
                .map(|n| d.target.replacen("%d", &n.to_string(), 1))
                .find(|n| n.len() <= 15 && !taken.contains(n))
                .ok_or_else(|| NetDevicesError::NameTaken {
                    host: d.key.clone(),
                    name: d.target.clone(),
                });
        }
        if taken.contains(&d.target) {
            return Err(NetDevicesError::NameTaken {
                host: d.key.clone(),
                name: d.target.clone(),
            });
        }
        Ok(d.target.clone())
    }

    fn move_one(
        &mut self,
        i: usize,
        netns: &File,
        container: &Socket,
        name: &str,
    ) -> Result<(), NetDevicesError> {
        let d = &self.devices[i];
        let moved = self.host.move_link(d.link.index, netns.as_raw_fd(), name);
        if let Err(source) = moved {
            // A failed rename can follow a successful move: look before leaving it.
            if let Ok(Some(_)) = container.link(&d.link.name) {
                self.moved.push(Moved {
                    device: i,
                    name: d.link.name.clone(),
                });
            }
            return Err(NetDevicesError::Netlink {
                host: d.key.clone(),
                step: format!("moving into the container's network namespace as {name:?}"),
                source,
            });
        }
        self.moved.push(Moved {
            device: i,
            name: name.to_string(),
        });
        Ok(())
    }

    /// In the container: the permanent global addresses, then up.
    fn configure(&self, i: usize, container: &Socket, name: &str) -> Result<(), NetDevicesError> {
        let d = &self.devices[i];
        let step = |step: String| {
            let host = d.key.clone();
            move |source| NetDevicesError::Netlink { host, step, source }
        };
        let link = container
            .link(name)
            .map_err(step(format!("looking up {name:?} in the container")))?
            .ok_or_else(|| NetDevicesError::Missing {
                host: d.key.clone(),
            })?;
        for a in &d.addresses {
            container
                .add_address(link.index, a)
                .map_err(step(format!("adding address {}", a.describe())))?;
        }
        container
            .set_up(link.index, true)
            .map_err(step(format!("setting {name:?} up")))
    }

    /// Undo `move_in` after a failed `create`: each moved device goes back to the
    /// host under its name, with its addresses and up/down state. Problems are
    /// only logged: the caller is already reporting the error that got us here.
    pub fn restore(&mut self) {
        let Some(container) = self.container.take() else {
            return;
        };
        for m in std::mem::take(&mut self.moved).into_iter().rev() {
            if let Err(e) = self.move_back(&container, &m) {
                crate::logging::warn(&e.to_string());
            }
        }
    }

    fn move_back(&self, container: &Socket, m: &Moved) -> Result<(), NetDevicesError> {
        let d = &self.devices[m.device];
        let step = |step: &str| {
            let host = d.key.clone();
            let step = step.to_string();
            move |source| NetDevicesError::Netlink { host, step, source }
        };
        let link = container
            .link(&m.name)
            .map_err(step("moving back: looking it up in the container"))?
            .ok_or_else(|| NetDevicesError::Missing {
                host: d.key.clone(),
            })?;
        let _ = container.set_up(link.index, false);
        container
            .move_link(link.index, self.host_netns.as_raw_fd(), &d.link.name)
            .map_err(step("moving back to the runtime's network namespace"))?;
        let back = self
            .host
            .link(&d.link.name)
            .map_err(step("moving back: looking it up on the host"))?
            .ok_or_else(|| NetDevicesError::Missing {
                host: d.key.clone(),
            })?;
        for a in &d.addresses {
            self.host
                .add_address(back.index, a)
                .map_err(step("moving back: adding its addresses again"))?;
        }
        if d.link.up {
            self.host
                .set_up(back.index, true)
                .map_err(step("moving back: setting it up"))?;
        }
        Ok(())
    }
}

/// The device `key` on the host, with the addresses that move with it.
fn find_on_host(host: &Socket, key: &str, target: &str) -> Result<HostDevice, NetDevicesError> {
    let step = |step: &str| {
        let host = key.to_string();
        let step = step.to_string();
        move |source| NetDevicesError::Netlink { host, step, source }
    };
    let link = host
        .link(key)
        .map_err(step("looking it up on the host"))?
        .ok_or_else(|| NetDevicesError::Missing { host: key.into() })?;
    let addresses = host
        .addresses(link.index)
        .map_err(step("listing its addresses"))?
        .into_iter()
        .filter(Address::is_permanent_global)
        .collect();
    Ok(HostDevice {
        key: key.to_string(),
        target: target.to_string(),
        link,
        addresses,
    })
}

fn links_of(container: &Socket) -> Result<HashSet<String>, NetDevicesError> {
    Ok(container
        .links()
        .map_err(|source| NetDevicesError::Netlink {
            host: String::new(),
            step: "listing the container's devices".into(),
            source,
        })?
        .into_iter()
        .map(|l| l.name)
        .collect())
}

fn open_netns(path: &str) -> Result<File, NetDevicesError> {
    File::open(path).map_err(|source| NetDevicesError::Namespace {
        step: format!("opening {path}"),
        source,
    })
}

fn same_file(a: &File, b: &File) -> bool {
    match (a.metadata(), b.metadata()) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
}

/// A netlink socket inside `netns`: a short-lived thread joins the namespace (a
/// network namespace is per thread) and opens it; the socket stays there.
fn socket_in(netns: &File) -> Result<Socket, NetDevicesError> {
    let opened = std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::setns(netns, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| std::io::Error::from_raw_os_error(e as i32))?;
            Socket::open().map_err(|e| std::io::Error::other(e.to_string()))
        })
        .join()
    });
    match opened {
        Ok(Ok(socket)) => Ok(socket),
        Ok(Err(source)) => Err(NetDevicesError::Namespace {
            step: "opening a netlink socket in the container's network namespace".into(),
            source,
        }),
        Err(_) => Err(NetDevicesError::Namespace {
            step: "opening a netlink socket in the container's network namespace".into(),
            source: std::io::Error::other("the helper thread panicked"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn devices(v: serde_json::Value) -> HashMap<String, LinuxNetDevice> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn no_devices_need_nothing() {
        assert!(validate(&HashMap::new(), false).is_ok());
    }

    #[test]
    fn devices_need_a_network_namespace() {
        let e = validate(&devices(serde_json::json!({"hv0": {}})), false).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("linux.netDevices: needs a network namespace"),
            "{e}"
        );
        assert!(validate(&devices(serde_json::json!({"hv0": {}})), true).is_ok());
    }

    #[test]
    fn names_must_be_interface_names() {
        for (v, want) in [
            (serde_json::json!({"": {}}), "linux.netDevices[\"\"]: "),
            (
                serde_json::json!({"hv0": {"name": "a-very-long-name0"}}),
                "linux.netDevices[\"hv0\"].name: ",
            ),
            (
                serde_json::json!({"hv0": {"name": "eth/1"}}),
                "linux.netDevices[\"hv0\"].name: ",
            ),
            (
                serde_json::json!({"hv:0": {}}),
                "linux.netDevices[\"hv:0\"]: ",
            ),
            (
                serde_json::json!({"hv%d": {}}),
                "linux.netDevices[\"hv%d\"]: ",
            ),
            (
                serde_json::json!({"hv0": {"name": "e%s"}}),
                "linux.netDevices[\"hv0\"].name: ",
            ),
        ] {
            let e = validate(&devices(v), true).unwrap_err().to_string();
            assert!(e.starts_with(want), "{e}");
        }
        assert!(validate(
            &devices(serde_json::json!({"hv0": {"name": "eth%d"}})),
            true
        )
        .is_ok());
    }

    #[test]
    fn two_devices_cannot_end_with_one_name() {
        let e = validate(
            &devices(serde_json::json!({"a": {"name": "b"}, "b": {}})),
            true,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "linux.netDevices[\"b\"].name: \"b\" is also the name of linux.netDevices[\"a\"]"
        );
        // Templates never clash: the kernel (here: husk) picks free names.
        assert!(validate(
            &devices(serde_json::json!({"a": {"name": "e%d"}, "b": {"name": "e%d"}})),
            true
        )
        .is_ok());
    }

    #[test]
    fn a_missing_device_is_found_before_anything_is_made() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.3.0",
            "linux": {"netDevices": {"husk-missing0": {}}}
        }))
        .unwrap();
        let e = Mover::prepare(&spec).err().unwrap().to_string();
        assert_eq!(
            e,
            "linux.netDevices[\"husk-missing0\"]: no network device \"husk-missing0\" in the runtime's network namespace"
        );
    }
}
