//! Unit tests for the seccomp compiler: errors name the profile field, and valid
//! profiles compile into a non-empty program with the right flags.

use super::*;

fn profile(v: serde_json::Value) -> LinuxSeccomp {
    serde_json::from_value(v).expect("valid profile JSON")
}

fn err(v: serde_json::Value) -> String {
    compile(&profile(v)).unwrap_err().to_string()
}

#[test]
fn allow_profile_with_errno_rule_compiles() {
    let p = compile(&profile(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
        "syscalls": [
            {"names": ["mkdir", "mkdirat", "no_such_syscall_xyz"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
                      {"index": 0, "value": 9, "op": "SCMP_CMP_EQ"}]},
            {"names": ["kill"], "action": "SCMP_ACT_KILL_PROCESS",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                      {"index": 1, "value": 255, "valueTwo": 9, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}
        ]
    })))
    .unwrap();
    assert!(p.len() > 4, "{p:?}");
    assert_eq!(p.flags(), FLAG_LOG | FLAG_SPEC_ALLOW);
}

#[test]
fn errno_default_with_allow_list_compiles() {
    let p = compile(&profile(serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}]
    })))
    .unwrap();
    assert!(!p.is_empty());
    assert_eq!(p.flags(), 0);
}

#[test]
fn notify_default_is_not_supported() {
    let e = err(serde_json::json!({"defaultAction": "SCMP_ACT_NOTIFY"}));
    assert_eq!(
        e,
        "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY is not supported yet"
    );
}

#[test]
fn notify_rule_names_the_rule() {
    let e = err(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}
        ]
    }));
    assert!(
        e.starts_with("linux.seccomp.syscalls[1].action: SCMP_ACT_NOTIFY"),
        "{e}"
    );
}

#[test]
fn notify_only_flag_is_rejected() {
    let e = err(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]
    }));
    assert!(
        e.starts_with("linux.seccomp.flags[1]: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"),
        "{e}"
    );
}

#[test]
fn arg_index_out_of_range_names_the_arg() {
    let e = err(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                      "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]
    }));
    assert!(
        e.starts_with("linux.seccomp.syscalls[0].args[0].index"),
        "{e}"
    );
}

#[test]
fn empty_syscall_name_names_the_field() {
    let e = err(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getpid", ""], "action": "SCMP_ACT_ERRNO"}]
    }));
    assert!(e.starts_with("linux.seccomp.syscalls[0].names[1]"), "{e}");
}

/// Unknown actions, operators and flags are rejected when config.json is parsed,
/// with the JSON path of the field.
#[test]
fn unknown_action_operator_flag_name_the_field() {
    let parse = |seccomp: serde_json::Value| {
        let v = serde_json::json!({
            "ociVersion": "1.3.0",
            "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "root": {"path": "rootfs"},
            "linux": {"seccomp": seccomp}
        });
        crate::bundle::parse(&v.to_string())
            .unwrap_err()
            .to_string()
    };
    let e = parse(serde_json::json!({"defaultAction": "SCMP_ACT_FOO"}));
    assert!(e.contains("linux.seccomp.defaultAction"), "{e}");
    let e = parse(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_BAR"}]
    }));
    assert!(e.contains("linux.seccomp.syscalls[0].action"), "{e}");
    let e = parse(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                      "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_FOO"}]}]
    }));
    assert!(e.contains("linux.seccomp.syscalls[0].args[0].op"), "{e}");
    let e = parse(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_FOO"]
    }));
    assert!(e.contains("linux.seccomp.flags[0]"), "{e}");
}

#[test]
fn decode_rejects_partial_instructions() {
    assert!(decode(&[0; 12]).is_err());
    let f = decode(&[6, 0, 0, 0, 0, 0, 0xff, 0x7f]).unwrap();
    assert_eq!((f[0].code, f[0].k), (6, 0x7fff_0000));
}
