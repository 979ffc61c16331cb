//! `list`: the table (`ID PID STATUS BUNDLE CREATED OWNER`), `--format json`
//! (what podman and go-runc parse) and `-q` (ids only).

use husk_integration::{require_root, Bundle, Runtime};
use serde_json::Value;

fn sleeper() -> Bundle {
    let mut b = Bundle::new();
    b.args(&["sleep", "30"]);
    b
}

#[test]
fn list_shows_containers_in_every_format() {
    require_root!();
    let rt = Runtime::from_env();
    let b1 = sleeper();
    let b2 = sleeper();
    let created = rt.container(&b1);
    let running = rt.container(&b2);
    running.start_ok();
    assert!(running.wait_status("running"));

    let quiet = rt.list(&["-q"]);
    quiet.assert_ok();
    let mut ids: Vec<&str> = quiet.out().lines().collect();
    ids.sort();
    let mut want = vec![created.id(), running.id()];
    want.sort();
    assert_eq!(ids, want, "{quiet}");

    let table = rt.list(&[]);
    table.assert_ok();
    let mut lines = table.out().lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    for (c, status, bundle) in [(&created, "created", &b1), (&running, "running", &b2)] {
        let row = rows
            .iter()
            .find(|r| r[0] == c.id())
            .unwrap_or_else(|| panic!("{} in table:\n{table}", c.id()));
        assert_eq!(row[1], c.pid().to_string(), "{table}");
        assert_eq!(row[2], status, "{table}");
        assert_eq!(row[3], bundle.path_str(), "{table}");
    }

    let json = rt.list(&["--format", "json"]);
    json.assert_ok();
    let parsed: Value = serde_json::from_str(&json.stdout).expect("list --format json is JSON");
    let entries = parsed.as_array().expect("a JSON array");
    assert_eq!(entries.len(), 2, "{json}");
    for (c, status, bundle) in [(&created, "created", &b1), (&running, "running", &b2)] {
        let e = entries
            .iter()
            .find(|e| e["id"] == c.id())
            .unwrap_or_else(|| panic!("{} in {json}", c.id()));
        assert_eq!(e["pid"], c.pid(), "{e}");
        assert_eq!(e["status"], status, "{e}");
        assert_eq!(e["bundle"], bundle.path_str(), "{e}");
        assert!(e["created"].is_string(), "{e}");
        assert!(e["ociVersion"].is_string(), "{e}");
    }
    let short = rt.list(&["-f", "json"]);
    short.assert_ok();
    assert_eq!(
        serde_json::from_str::<Value>(&short.stdout).ok(),
        Some(parsed),
        "-f is --format"
    );
}

#[test]
fn list_of_an_empty_root() {
    require_root!();
    let rt = Runtime::from_env();
    let quiet = rt.list(&["-q"]);
    quiet.assert_ok();
    assert_eq!(quiet.out(), "");
    let json = rt.list(&["--format", "json"]);
    json.assert_ok();
    // runc prints `null` for no containers; an empty array means the same to
    // every client.
    let v: Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert!(
        v.is_null() || v.as_array().is_some_and(|a| a.is_empty()),
        "{json}"
    );
}

#[test]
fn list_shows_stopped_containers() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["true"]);
    let c = rt.container(&b);
    c.start_ok();
    assert!(c.wait_status("stopped"));
    let json = rt.list(&["--format", "json"]);
    let v: Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(v[0]["id"], c.id(), "{json}");
    assert_eq!(v[0]["status"], "stopped", "{json}");
}
