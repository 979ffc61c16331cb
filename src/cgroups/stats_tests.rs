//! Unit tests of the stats readers on fake v1 and v2 cgroup directories.

use super::*;

fn write(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).unwrap();
}

fn dir(controllers: &[&str], path: &Path) -> Dir {
    Dir {
        controllers: controllers.iter().map(|c| c.to_string()).collect(),
        root: path.to_path_buf(),
        path: path.to_path_buf(),
        created: Vec::new(),
    }
}

#[test]
fn parsers() {
    assert_eq!(parse_list("0-2,5\n").unwrap(), vec![0, 1, 2, 5]);
    assert_eq!(parse_list("").unwrap(), Vec::<u16>::new());
    assert!(parse_list("x").is_none());
    let m = parse_flat_keyed("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
    assert_eq!(m["oom_kill"], 3);
    assert_eq!(hugepage_name(2048), "2MB");
    assert_eq!(hugepage_name(1048576), "1GB");
    assert_eq!(hugepage_name(64), "64KB");
    let e = parse_blkio_v1("8:0 Read 4096\n8:0 Write 0\n8:16 Total 4096\nTotal 4096\n");
    assert_eq!(e.len(), 3);
    assert_eq!(
        e[0],
        BlkioEntry {
            major: 8,
            minor: 0,
            op: "Read".into(),
            value: 4096
        }
    );
    let (bytes, ios) = parse_io_stat("259:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n");
    assert_eq!(bytes.len(), 2);
    assert_eq!(bytes[1].op, "Write");
    assert_eq!(bytes[1].value, 20);
    assert_eq!(ios[0].value, 1);
}

#[test]
fn v1_files_to_runc_field_names() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path();
    write(p, "cpuacct.usage", "3000\n");
    write(p, "cpuacct.usage_percpu", "1000 2000 \n");
    write(
        p,
        "cpuacct.usage_all",
        "cpu user system\n0 600 400\n1 1500 500\n",
    );
    write(p, "cpuacct.stat", "user 2\nsystem 1\n");
    write(
        p,
        "cpu.stat",
        "nr_periods 7\nnr_throttled 2\nthrottled_time 99\n",
    );
    write(p, "memory.limit_in_bytes", "33554432\n");
    write(p, "memory.usage_in_bytes", "1048576\n");
    write(p, "memory.max_usage_in_bytes", "2097152\n");
    write(p, "memory.failcnt", "4\n");
    write(p, "memory.stat", "cache 8192\nrss 4096\n");
    write(
        p,
        "memory.oom_control",
        "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
    );
    write(p, "pids.current", "3\n");
    write(p, "pids.max", "max\n");
    write(
        p,
        "blkio.throttle.io_service_bytes_recursive",
        "8:0 Read 512\nTotal 512\n",
    );
    let dirs = vec![dir(&["cpu", "cpuacct", "memory", "pids", "blkio"], p)];
    let s = read(Version::V1, &dirs).unwrap();
    // SAFETY: sysconf with a valid name has no side effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    assert_eq!(s.cpu.usage.user, 2 * 1_000_000_000 / hz);
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(v["cpu"]["usage"]["total"], 3000);
    assert_eq!(v["cpu"]["usage"]["percpu"], serde_json::json!([1000, 2000]));
    assert_eq!(
        v["cpu"]["usage"]["percpu_user"],
        serde_json::json!([600, 1500])
    );
    assert_eq!(
        v["cpu"]["usage"]["percpu_kernel"],
        serde_json::json!([400, 500])
    );
    assert_eq!(v["cpu"]["throttling"]["throttledPeriods"], 2);
    assert_eq!(v["cpu"]["throttling"]["throttledTime"], 99);
    assert_eq!(v["memory"]["usage"]["limit"], 33554432);
    assert_eq!(v["memory"]["usage"]["max"], 2097152);
    assert_eq!(v["memory"]["usage"]["failcnt"], 4);
    assert_eq!(v["memory"]["cache"], 8192);
    assert_eq!(v["memory"]["raw"]["rss"], 4096);
    // No memsw files: zero limit, failcnt kept, usage/max omitted as Go's omitempty.
    assert_eq!(
        v["memory"]["swap"],
        serde_json::json!({"limit": 0, "failcnt": 0})
    );
    assert_eq!(v["pids"], serde_json::json!({"current": 3}));
    assert_eq!(
        v["blkio"]["ioServiceBytesRecursive"],
        serde_json::json!([{"major": 8, "op": "Read", "value": 512}])
    );
    assert_eq!(v["hugetlb"], serde_json::json!({}));
    assert_eq!(oom_kills(Version::V1, &dirs), Some(1));
}

#[test]
fn v2_files_to_runc_field_names() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path();
    write(
        p,
        "cpu.stat",
        "usage_usec 5\nuser_usec 3\nsystem_usec 2\nnr_periods 4\nnr_throttled 1\nthrottled_usec 7\n",
    );
    write(p, "memory.current", "1000\n");
    write(p, "memory.max", "4000\n");
    write(p, "memory.peak", "3000\n");
    write(
        p,
        "memory.events",
        "low 0\nhigh 0\nmax 6\noom 2\noom_kill 2\n",
    );
    write(p, "memory.swap.current", "10\n");
    write(p, "memory.swap.max", "max\n");
    write(p, "memory.stat", "anon 100\nfile 200\n");
    write(p, "pids.current", "2\n");
    write(p, "pids.max", "50\n");
    write(p, "io.stat", "8:0 rbytes=1 wbytes=2 rios=3 wios=4\n");
    let dirs = vec![dir(&[], p)];
    let v = serde_json::to_value(read(Version::V2, &dirs).unwrap()).unwrap();
    assert_eq!(v["cpu"]["usage"]["total"], 5000);
    assert_eq!(v["cpu"]["usage"]["user"], 3000);
    assert_eq!(v["cpu"]["usage"]["kernel"], 2000);
    assert_eq!(v["cpu"]["throttling"]["periods"], 4);
    assert_eq!(v["cpu"]["throttling"]["throttledTime"], 7000);
    assert_eq!(
        v["memory"]["usage"],
        serde_json::json!({"limit": 4000, "usage": 1000, "max": 3000, "failcnt": 6})
    );
    // memory+swap, unlimited stays unlimited.
    assert_eq!(v["memory"]["swap"]["usage"], 1010);
    assert_eq!(v["memory"]["swap"]["limit"], u64::MAX);
    assert_eq!(v["memory"]["cache"], 200);
    assert_eq!(v["pids"], serde_json::json!({"current": 2, "limit": 50}));
    assert_eq!(v["blkio"]["ioServicedRecursive"][1]["value"], 4);
    assert_eq!(oom_kills(Version::V2, &dirs), Some(2));
}

#[test]
fn unreadable_number_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "pids.current", "lots\n");
    let dirs = vec![dir(&[], tmp.path())];
    let e = read(Version::V2, &dirs).unwrap_err().to_string();
    assert!(e.contains("pids.current") && e.contains("lots"), "{e}");
}
