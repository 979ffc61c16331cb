//! Tests of the device rules: the order a container's rules come in, with their
//! fields, and `settle`, the v1 device controller's reading of them (which the
//! v2 program is compiled from).

use super::*;

fn rule(allow: bool, typ: char, major: Option<i64>, minor: Option<i64>, access: &str) -> Rule {
    Rule {
        allow,
        typ,
        major,
        minor,
        access: access.into(),
    }
}

fn allow_all() -> Rule {
    Rule {
        allow: true,
        ..deny_all()
    }
}

/// `rules` with fields `r[0]`, `r[1]`, ...
fn numbered(rules: &[Rule]) -> Vec<(String, Rule)> {
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| (format!("r[{i}]"), r.clone()))
        .collect()
}

fn exception_lines(rules: &[Rule]) -> Vec<String> {
    let state = settle(&numbered(rules)).unwrap();
    state.exceptions.iter().map(Rule::v1_line).collect()
}

#[test]
fn rules_name_their_fields() {
    let spec: Vec<LinuxDeviceCgroup> = serde_json::from_str(
        r#"[{"allow": false, "access": "rwm"},
            {"allow": true, "type": "p", "major": 1},
            {"allow": true, "type": "c", "major": 4, "access": "rw"}]"#,
    )
    .unwrap();
    let rules = sourced_rules(Some(&spec));
    let fields: Vec<&str> = rules.iter().map(|(f, _)| f.as_str()).collect();
    // The FIFO rule (index 1) has no device-controller rule.
    assert_eq!(
        fields[..2],
        ["linux.resources.devices[0]", "linux.resources.devices[2]"]
    );
    assert_eq!(
        fields[2],
        "linux.resources.devices (default allowed devices)"
    );
    assert_eq!(rules.len(), 2 + default_allowed().len());
}

#[test]
fn a_container_gets_deny_all_and_the_defaults() {
    let state = container_state(None).unwrap();
    assert!(!state.default_allow);
    assert_eq!(state.exceptions, default_allowed());
    assert_eq!(state.rules()[0], deny_all());
    assert_eq!(state.rules()[1..], default_allowed()[..]);
}

#[test]
fn allow_rules_on_deny_all_merge_per_device() {
    let lines = exception_lines(&[
        deny_all(),
        rule(true, 'c', Some(1), Some(3), "r"),
        rule(true, 'c', Some(1), Some(3), "m"),
        rule(true, 'c', Some(1), Some(3), "w"),
        rule(true, 'b', Some(1), Some(3), "r"),
    ]);
    assert_eq!(lines, ["c 1:3 rwm", "b 1:3 r"]);
}

#[test]
fn a_deny_takes_access_from_the_same_devices_only() {
    // Exactly the same devices (-1 is a wildcard too): the access goes.
    let lines = exception_lines(&[
        deny_all(),
        rule(true, 'c', Some(4), Some(-1), "rw"),
        rule(false, 'c', Some(4), None, "w"),
    ]);
    assert_eq!(lines, ["c 4:-1 r"]);
    // All of it: the exception goes.
    let lines = exception_lines(&[
        deny_all(),
        rule(true, 'c', Some(4), Some(1), "rw"),
        rule(false, 'c', Some(4), Some(1), "rwm"),
    ]);
    assert!(lines.is_empty(), "{lines:?}");
    // A wildcard deny leaves a specific allow: v1 removes exact matches only.
    let lines = exception_lines(&[
        deny_all(),
        rule(true, 'c', Some(4), Some(7), "rw"),
        rule(false, 'c', Some(4), None, "rw"),
        rule(false, 'c', None, None, "rwm"),
    ]);
    assert_eq!(lines, ["c 4:7 rw"]);
}

#[test]
fn an_a_rule_resets_the_default_and_the_exceptions() {
    let rules = [
        deny_all(),
        rule(true, 'c', Some(1), Some(3), "rwm"),
        allow_all(),
        rule(false, 'b', Some(8), None, "w"),
    ];
    let state = settle(&numbered(&rules)).unwrap();
    assert!(state.default_allow);
    assert_eq!(state.exceptions, [rule(false, 'b', Some(8), None, "w")]);
    // Without an `a` rule a fresh cgroup allows everything.
    let state = settle(&numbered(&[rule(false, 'c', Some(1), None, "r")])).unwrap();
    assert!(state.default_allow);
}

#[test]
fn changing_part_of_a_wider_exception_is_refused() {
    let rules = [
        deny_all(),
        rule(true, 'c', Some(4), None, "rw"),
        rule(false, 'c', Some(4), Some(5), "w"),
    ];
    let (field, reason) = settle(&numbered(&rules)).unwrap_err();
    assert_eq!(field, "r[2]");
    assert!(
        reason.starts_with("rule `c 4:5 w` cannot change a part of the earlier `c 4:* rw`"),
        "{reason}"
    );
    // The same on an allow-all default (allow inside a denied wildcard).
    let rules = [
        allow_all(),
        rule(false, 'c', None, Some(5), "r"),
        rule(true, 'c', Some(1), Some(5), "rw"),
    ];
    let (field, reason) = settle(&numbered(&rules)).unwrap_err();
    assert_eq!(field, "r[2]");
    assert!(reason.contains("`c *:5 r`"), "{reason}");
    // Access the wider exception does not have: nothing to change, fine.
    let rules = [
        deny_all(),
        rule(true, 'c', Some(4), None, "r"),
        rule(false, 'c', Some(4), Some(5), "w"),
    ];
    assert_eq!(exception_lines(&rules), ["c 4:* r"]);
    // Another type is not wider.
    let rules = [
        deny_all(),
        rule(true, 'b', Some(4), None, "rw"),
        rule(false, 'c', Some(4), Some(5), "w"),
    ];
    assert_eq!(exception_lines(&rules), ["b 4:* rw"]);
}

#[test]
fn the_defaults_after_user_rules_are_checked_too() {
    // An allow-all container denying all char devices: the default allow of
    // c 1:3 would change a part of it.
    let spec: Vec<LinuxDeviceCgroup> = serde_json::from_str(
        r#"[{"allow": true, "access": "rwm"},
            {"allow": false, "type": "c", "access": "rw"}]"#,
    )
    .unwrap();
    let (field, reason) = container_state(Some(&spec)).unwrap_err();
    assert_eq!(field, "linux.resources.devices (default allowed devices)");
    assert!(reason.contains("`c 1:3 rwm`"), "{reason}");
}

#[test]
fn bad_and_empty_access() {
    let rules = [deny_all(), rule(true, 'c', Some(1), Some(3), "rwx")];
    let (field, reason) = settle(&numbered(&rules)).unwrap_err();
    assert_eq!(field, "r[1]");
    assert_eq!(
        reason,
        "rule `c 1:3 rwx`: invalid access character 'x' (want r, w, m)"
    );
    // An empty access matches nothing and changes nothing.
    let rules = [
        deny_all(),
        rule(true, 'c', Some(4), None, "rw"),
        rule(false, 'c', Some(4), Some(5), ""),
        rule(true, 'c', Some(9), Some(9), ""),
    ];
    assert_eq!(exception_lines(&rules), ["c 4:* rw"]);
}

#[test]
fn unknown_access_letters_are_dropped_with_a_warning() {
    let spec: Vec<LinuxDeviceCgroup> = serde_json::from_str(
        r#"[{"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "rwa"},
            {"allow": true, "type": "c", "major": 1, "minor": 12, "access": "xyz"},
            {"allow": true, "type": "c", "major": 1, "minor": 13}]"#,
    )
    .unwrap();
    let rules = rules(Some(&spec));
    assert_eq!(rules[1].v1_line(), "c 1:11 rw");
    // Nothing known is left: kept as given, so that `settle` refuses it.
    assert_eq!(rules[2].v1_line(), "c 1:12 xyz");
    assert_eq!(rules[3].v1_line(), "c 1:13 rwm");
    assert_eq!(
        access_warnings(Some(&spec)),
        [
            "linux.resources.devices[1].access: \"rwa\": ignoring the letters other than r, w \
          and m (using \"rw\"), as runc does"
        ]
    );
    let (field, reason) = container_state(Some(&spec)).unwrap_err();
    assert_eq!(field, "linux.resources.devices[2]");
    assert!(reason.contains("invalid access character 'x'"), "{reason}");
}

#[test]
fn linux_devices_are_not_allowed_by_themselves() {
    // deny all + the defaults: a node such as /dev/kmsg (c 1:11) in linux.devices
    // gets no rule of its own, as in runc.
    let spec: Vec<LinuxDeviceCgroup> =
        serde_json::from_str(r#"[{"allow": false, "access": "rwm"}]"#).unwrap();
    let state = container_state(Some(&spec)).unwrap();
    assert!(!state.default_allow);
    assert!(!state
        .exceptions
        .iter()
        .any(|e| e.major == Some(1) && e.minor == Some(11)));
}
