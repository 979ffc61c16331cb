//! `events`: `--stats` prints one stats event in runc's JSON shape with values
//! read from the container's cgroup; without it, a stream of stats events every
//! `--interval` (a Go duration) that ends when the container stops. The values
//! come from the v1 or the v2 files, whichever the host has.

use husk_integration::cgroupfs::by_layout;
use husk_integration::stream::Stream;
use husk_integration::{is_husk, poll, require_root, Bundle, Runtime};
use serde_json::{json, Value};

#[test]
fn stats_once_with_runc_field_names_and_cgroup_values() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.config_mut()["linux"]["resources"] =
        json!({"memory": {"limit": 67108864}, "pids": {"limit": 20}});
    b.sh("sleep 1000 & sleep 1000 & i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done; echo ready; wait");
    let c = rt.container(&b);
    c.start_ok();
    assert!(c.wait_stdout_contains("ready"));

    let out = rt.cmd(&["events", "--stats", c.id()]);
    out.assert_ok();
    assert_eq!(out.stdout.lines().count(), 1, "one JSON line:\n{out}");
    let e: Value = serde_json::from_str(out.stdout.trim()).expect("JSON");
    assert_eq!(e["type"], "stats");
    assert_eq!(e["id"], c.id());
    let d = &e["data"];
    for path in [
        "/cpu/usage",
        "/cpu/throttling",
        "/memory/usage",
        "/memory/swap",
        "/memory/kernel",
        "/memory/raw",
        "/pids",
        "/blkio",
        "/hugetlb",
    ] {
        assert!(
            d.pointer(path).is_some_and(Value::is_object),
            "{path} in {d}"
        );
    }
    assert!(d["cpu"]["usage"]["total"].as_u64().unwrap_or(0) > 0, "{d}");
    assert!(d["cpu"]["usage"]["kernel"].is_u64() && d["cpu"]["usage"]["user"].is_u64());
    assert_eq!(d["pids"]["current"], 3, "{d}");
    assert_eq!(d["pids"]["limit"], 20, "{d}");
    assert!(
        d["memory"]["usage"]["usage"].as_u64().unwrap_or(0) > 0,
        "{d}"
    );
    assert!(d["memory"]["usage"]["failcnt"].is_u64());
    // The limit from memory.limit_in_bytes (v1) or memory.max (v2); raw is
    // memory.stat, whose keys differ.
    assert_eq!(d["memory"]["usage"]["limit"], 67108864u64, "{d}");
    let stat_key = by_layout("rss", "anon");
    assert!(
        d["memory"]["raw"][stat_key].is_u64(),
        "memory.stat keys: {d}"
    );
}

#[test]
fn stream_prints_stats_every_interval_and_ends_when_the_container_stops() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let c = rt.container(&b);
    c.start_ok();
    let mut s = Stream::start(&rt, &["events", "--interval", "200ms", c.id()]);
    assert!(
        poll::wait_until(poll::PATIENCE, || s.count("stats") >= 3),
        "{:?}",
        s.events()
    );
    for e in s.events() {
        assert_eq!(e["id"], c.id());
        assert!(e["data"]["memory"].is_object(), "{e}");
    }
    c.kill("KILL").assert_ok();
    assert!(c.wait_status("stopped"));
    if !is_husk() {
        husk_integration::skip!("runc 1.1.5 ends the stream when the cgroup is removed (delete), not when the container stops");
    }
    assert!(s.exits(), "events went on after the container stopped");
}

#[test]
fn bad_interval_and_stopped_container_fail() {
    require_root!();
    let rt = Runtime::from_env();
    let mut b = Bundle::new();
    b.args(&["true"]);
    let c = rt.container(&b);
    rt.cmd(&["events", "--interval", "1x", c.id()])
        .assert_fail();
    c.start_ok();
    assert!(c.wait_status("stopped"));
    let out = rt.cmd(&["events", "--stats", c.id()]);
    out.assert_fail();
    assert!(out.stderr.contains("not running"), "{out}");
}
