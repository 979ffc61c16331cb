//! `linux.netDevices` (spec 1.3): a host interface moves into the container's
//! network namespace, renamed when `name` is set, with its permanent global
//! addresses, and set up; it is gone from the host meanwhile. On delete the
//! runtime leaves it alone and the kernel destroys a veth with the namespace
//! (both ends). Errors (missing device, no network namespace of the container's
//! own, a name taken in the container) name the field and leave the device where
//! it was; a create that fails after the move puts it back on the host as it was.
//!
//! Each test makes its own veth pair (the `dummy` type is not available on every
//! kernel) and a guard deletes it, also when the test fails. runc 1.1.5 does not
//! know the field (skipped).

use husk_integration::poll::{wait_until, PATIENCE};
use husk_integration::{is_husk, is_runc, procfs, require_root, skip, Bundle, Runtime};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A veth pair `<name>a` / `<name>b` on the host, deleted on drop. `a` gets the
/// address 198.18.<n>.1/24 (a benchmarking range: nothing is sent anywhere) and
/// is set up.
struct Veth {
    a: String,
    b: String,
    addr: String,
}

impl Veth {
    fn new() -> Veth {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let base = format!("hv{}x{n}", std::process::id() % 100_000);
        let (a, b) = (format!("{base}a"), format!("{base}b"));
        let veth = Veth {
            a,
            b,
            addr: format!("198.18.{}.1/24", n % 250),
        };
        ip(&[
            "link", "add", &veth.a, "type", "veth", "peer", "name", &veth.b,
        ]);
        ip(&["addr", "add", &veth.addr, "dev", &veth.a]);
        ip(&["link", "set", &veth.a, "up"]);
        veth
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        for name in [&self.a, &self.b] {
            if on_host(name) {
                let _ = Command::new("ip").args(["link", "del", name]).status();
            }
        }
    }
}

#[track_caller]
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("running ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn on_host(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// `ip -o addr show dev <name>` on the host.
fn host_addresses(name: &str) -> String {
    let out = Command::new("ip")
        .args(["-o", "addr", "show", "dev", name])
        .output()
        .expect("running ip");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn host_is_up(name: &str) -> bool {
    let flags = std::fs::read_to_string(format!("/sys/class/net/{name}/flags")).unwrap_or_default();
    u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).is_ok_and(|f| f & 1 != 0)
}

/// The device is on the host as the test made it: address and up.
#[track_caller]
fn assert_untouched(v: &Veth) {
    assert!(on_host(&v.a), "{} must be on the host", v.a);
    assert!(
        host_addresses(&v.a).contains(&v.addr),
        "{}",
        host_addresses(&v.a)
    );
    assert!(host_is_up(&v.a), "{} must be up", v.a);
}

/// Script printing, for `dev` in the container: its name in /sys/class/net, its
/// flags and its addresses.
fn inspect(dev: &str) -> String {
    format!("ls /sys/class/net; cat /sys/class/net/{dev}/flags; ip addr show dev {dev}")
}

#[test]
fn a_device_moves_in_renamed_with_its_address_and_up_and_dies_with_the_namespace() {
    require_root!();
    if is_runc() {
        skip!("runc 1.1.5 has no linux.netDevices");
    }
    let v = Veth::new();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["sleep", "60"]);
    b.config_mut()["linux"]["netDevices"] = json!({ &v.a: {"name": "eth7"} });
    let c = rt.container(&b);
    assert!(!on_host(&v.a), "{} must have left the host", v.a);
    assert!(on_host(&v.b), "its peer stays");
    c.start_ok();
    assert!(procfs::wait_cmdline_contains(c.pid(), "sleep"));
    let out = rt.cmd(&["exec", c.id(), "sh", "-c", &inspect("eth7")]);
    out.assert_ok();
    let mut lines = out.stdout.lines();
    let names: Vec<&str> = lines
        .by_ref()
        .take_while(|l| !l.starts_with("0x"))
        .collect();
    assert_eq!(names, ["eth7", "lo"], "{out}");
    let flags = out
        .stdout
        .lines()
        .find(|l| l.starts_with("0x"))
        .unwrap_or("0x0");
    let flags = u32::from_str_radix(flags.trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags & 1, 1, "eth7 must be up:\n{out}");
    assert!(out.stdout.contains(&format!("inet {} ", v.addr)), "{out}");
    c.kill("KILL").assert_ok();
    assert!(c.wait_status("stopped"));
    c.delete().assert_ok();
    // The runtime does not move it out; the kernel destroys a veth (and its peer)
    // when the namespace is freed, which it does in the background.
    assert!(
        wait_until(PATIENCE, || !on_host(&v.a) && !on_host(&v.b)),
        "the veth pair must be gone with the container's network namespace"
    );
}

#[test]
fn without_a_name_the_device_keeps_its_host_name() {
    require_root!();
    if is_runc() {
        skip!("runc 1.1.5 has no linux.netDevices");
    }
    let v = Veth::new();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.sh(&format!(
        "ls /sys/class/net; test -e /sys/class/net/{}",
        v.b
    ));
    b.config_mut()["linux"]["netDevices"] = json!({ &v.a: {} });
    let out = rt.run_bundle(&b);
    assert_eq!(
        out.code(),
        Some(1),
        "the peer is not in the container:\n{out}"
    );
    assert_eq!(out.out(), format!("{}\nlo", v.a));
}

#[test]
fn templates_get_the_first_free_numbers() {
    require_root!();
    if is_runc() {
        skip!("runc 1.1.5 has no linux.netDevices");
    }
    let (v1, v2) = (Veth::new(), Veth::new());
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["ls", "/sys/class/net"]);
    b.config_mut()["linux"]["netDevices"] =
        json!({ &v1.a: {"name": "net%d"}, &v2.a: {"name": "net%d"} });
    assert_eq!(rt.run_ok(&b), "lo\nnet0\nnet1");
}

#[test]
fn a_user_namespace_container_gets_the_device_too() {
    require_root!();
    if is_runc() {
        skip!("runc 1.1.5 has no linux.netDevices");
    }
    let v = Veth::new();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.add_namespace("user");
    b.config_mut()["linux"]["uidMappings"] = map.clone();
    b.config_mut()["linux"]["gidMappings"] = map;
    b.config_mut()["linux"]["netDevices"] = json!({ &v.a: {"name": "eth1"} });
    b.sh("ip addr show dev eth1");
    let out = rt.run_ok(&b);
    assert!(out.contains(&format!("inet {} ", v.addr)), "{out}");
}

/// `create` fails, says `mentions` (husk), and leaves the state, the cgroup (leak
/// checks) and the device as they were.
fn assert_create_fails(b: &Bundle, v: &Veth, mentions: &[&str]) {
    let rt = Runtime::from_env();
    let id = rt.new_id("netdev-bad");
    let out = rt.create(&id, b);
    out.assert_fail();
    if is_husk() {
        for m in mentions {
            assert!(
                out.stderr.contains(m),
                "husk's error should name {m:?}:\n{out}"
            );
        }
    }
    rt.state_raw(&id).assert_fail();
    assert_untouched(v);
}

#[test]
fn a_missing_device_fails_create() {
    require_root!();
    if is_runc() {
        skip!("runc 1.1.5 has no linux.netDevices");
    }
    let v = Veth::new();
    let mut b = Bundle::new();
    b.args(&["true"]);
    b.config_mut()["linux"]["netDevices"] = json!({ &v.a: {}, "hvmissing0": {} });
    assert_create_fails(
        &b,
        &v,
        &["linux.netDevices[\"hvmissing0\"]: no network device"],
    );
}

#[test]
fn the_host_network_namespace_cannot_take_devices() {
    require_root!();
    if is_runc() {
        skip!("runc 1.1.5 has no linux.netDevices");
    }
    let v = Veth::new();
    let mut b = Bundle::new();
    b.args(&["true"]).remove_namespace("network");
    b.config_mut()["linux"]["netDevices"] = json!({ &v.a: {} });
    assert_create_fails(&b, &v, &["linux.netDevices: needs a network namespace"]);
}

#[test]
fn joining_the_runtimes_own_network_namespace_is_refused() {
    require_root!();
    if is_runc() {
        skip!("runc 1.1.5 has no linux.netDevices");
    }
    let v = Veth::new();
    let mut b = Bundle::new();
    b.args(&["true"])
        .namespace_path("network", "/proc/self/ns/net");
    b.config_mut()["linux"]["netDevices"] = json!({ &v.a: {} });
    assert_create_fails(
        &b,
        &v,
        &["linux.netDevices: the container's network namespace is the runtime's own"],
    );
}

#[test]
fn a_name_taken_in_the_container_fails_create() {
    require_root!();
    if is_runc() {
        skip!("runc 1.1.5 has no linux.netDevices");
    }
    let v = Veth::new();
    let mut b = Bundle::new();
    b.args(&["true"]);
    b.config_mut()["linux"]["netDevices"] = json!({ &v.a: {"name": "lo"} });
    let want = format!(
        "linux.netDevices[\"{}\"]: the container's network namespace already has a device named \"lo\"",
        v.a
    );
    assert_create_fails(&b, &v, &[&want]);
}

#[test]
fn a_create_failing_after_the_move_puts_the_devices_back() {
    require_root!();
    if is_runc() {
        skip!("runc 1.1.5 has no linux.netDevices");
    }
    let (v1, v2) = (Veth::new(), Veth::new());
    let mut b = Bundle::new();
    b.args(&["/bin/does-not-exist"]);
    b.config_mut()["linux"]["netDevices"] =
        json!({ &v1.a: {"name": "eth1"}, &v2.a: {"name": "eth2"} });
    assert_create_fails(&b, &v1, &["process.args[0]"]);
    assert_untouched(&v2);
}

#[test]
fn a_second_device_failing_puts_the_first_back() {
    require_root!();
    if is_runc() {
        skip!("runc 1.1.5 has no linux.netDevices");
    }
    let (v1, v2) = (Veth::new(), Veth::new());
    // Devices move in the order of their host names: the first one moves, the
    // second one's name is taken.
    let (first, second) = if v1.a < v2.a { (&v1, &v2) } else { (&v2, &v1) };
    let mut b = Bundle::new();
    b.args(&["true"]);
    b.config_mut()["linux"]["netDevices"] =
        json!({ &first.a: {"name": "lo0"}, &second.a: {"name": "lo"} });
    assert_create_fails(&b, second, &["already has a device named \"lo\""]);
    assert_untouched(first);
}

#[test]
fn bad_names_fail_create_naming_the_field() {
    require_root!();
    if is_runc() {
        skip!("runc 1.1.5 has no linux.netDevices");
    }
    let v = Veth::new();
    let mut b = Bundle::new();
    b.args(&["true"]);
    b.config_mut()["linux"]["netDevices"] = json!({ &v.a: {"name": "much-too-long-name"} });
    let want = format!("linux.netDevices[\"{}\"].name: ", v.a);
    assert_create_fails(&b, &v, &[&want]);
}
