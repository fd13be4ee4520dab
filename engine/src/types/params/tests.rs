//! Tests of typed parameter reading and the wording of its errors.

use super::*;
use serde_json::json;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Origin {
    bucket: String,
    #[allow(dead_code)]
    prefix: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    path: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sample {
    name: String,
    ttl: Option<Int>,
    proxied: Option<Flag>,
    #[serde(default, deserialize_with = "string_like")]
    version: String,
    copy_from: Option<Origin>,
    #[serde(default)]
    files: Vec<File>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    admin_password: Option<String>,
}

fn message(params: Value) -> String {
    parse::<Sample>("test.sample", &params)
        .expect_err("should be refused")
        .message()
        .to_string()
}

#[test]
fn reads_typed_values_with_string_leniency() {
    let s: Sample = parse(
        "test.sample",
        &json!({"name": "a", "ttl": "300", "proxied": "true", "version": 16,
                "copy_from": {"bucket": "b"}, "files": [{"path": "x"}], "tags": {"k": "v"},
                "admin_password": null}),
    )
    .unwrap();
    assert_eq!(s.name, "a");
    assert_eq!(s.ttl, Some(Int::Value(300)));
    assert_eq!(s.proxied, Some(Flag::Value(true)));
    assert_eq!(s.version, "16");
    assert_eq!(s.copy_from.unwrap().bucket, "b");
    assert_eq!(s.files[0].path, "x");
    assert_eq!(s.tags["k"], "v");
    assert_eq!(s.admin_password, None, "null is absent");
    let r: Sample = parse(
        "test.sample",
        &json!({"name": "a", "ttl": "${tenant.ttl}", "proxied": "${tenant.p}"}),
    )
    .unwrap();
    assert_eq!(r.ttl, Some(Int::Reference("${tenant.ttl}".into())));
    // at load time a reference is accepted; once resolved it is an error
    assert_eq!(Phase::Load.int("ttl", r.ttl.as_ref(), 1, 10).unwrap(), None);
    assert_eq!(
        Phase::Resolved
            .int("ttl", r.ttl.as_ref(), 1, 10)
            .unwrap_err()
            .message(),
        "invalid ttl: expected an integer, found \"${tenant.ttl}\""
    );
    assert_eq!(
        Phase::Load.flag("proxied", r.proxied.as_ref()).unwrap(),
        None
    );
    assert!(Phase::Resolved.flag("proxied", r.proxied.as_ref()).is_err());
    assert_eq!(
        Phase::Resolved
            .int("ttl", Some(&Int::Value(0)), 1, 10)
            .unwrap_err()
            .message(),
        "invalid ttl: must be from 1 to 10, got 0"
    );
    assert_eq!(
        Phase::Load
            .name("name", "${tenant.name}", |_, _| Err(Error::invalid_input(
                "x"
            )))
            .unwrap(),
        "${tenant.name}"
    );
}

#[test]
fn errors_name_the_field_path_and_the_rule() {
    assert_eq!(
        message(json!({"name": "a", "ttl": "abc"})),
        "invalid ttl: expected an integer, found \"abc\""
    );
    assert_eq!(
        message(json!({"name": "a", "ttl": -1})),
        "invalid ttl: expected a non-negative integer, found -1"
    );
    assert_eq!(
        message(json!({"name": "a", "ttl": 1.5})),
        "invalid ttl: expected an integer, found 1.5"
    );
    assert_eq!(
        message(json!({"name": "a", "proxied": "yes"})),
        "invalid proxied: expected true or false, found \"yes\""
    );
    assert_eq!(
        message(json!({"name": 5})),
        "invalid name: expected a string, found 5"
    );
    assert_eq!(
        message(json!({"name": "a", "version": [1]})),
        "invalid version: expected a string, found a list"
    );
    // nested
    assert_eq!(
        message(json!({"name": "a", "copy_from": {"prefix": "p"}})),
        "invalid copy_from.bucket: is required"
    );
    assert_eq!(
        message(json!({"name": "a", "copy_from": {"bucket": true}})),
        "invalid copy_from.bucket: expected a string, found true"
    );
    assert_eq!(
        message(json!({"name": "a", "copy_from": "b"})),
        "invalid copy_from: expected an object, found \"b\""
    );
    // list elements
    assert_eq!(
        message(json!({"name": "a", "files": [{"path": "x"}, {"path": "y"}, {"path": 3}]})),
        "invalid files[2].path: expected a string, found 3"
    );
    assert_eq!(
        message(json!({"name": "a", "files": [{"path": "x"}, {}]})),
        "invalid files[1].path: is required"
    );
    // map entries
    assert_eq!(
        message(json!({"name": "a", "tags": {"team x": 1}})),
        "invalid tags[\"team x\"]: expected a string, found 1"
    );
    assert_eq!(
        message(json!({"name": "a", "tags": {"team": null}})),
        "invalid tags.team: expected a string, found null",
        "a map entry is not a field: null is not absent there"
    );
    // unknown and missing fields
    assert_eq!(
        message(json!({"name": "a", "extra": 1})),
        "invalid extra: unknown field \"extra\" (expected one of: name, ttl, proxied, \
             version, copy_from, files, tags, admin_password)"
    );
    assert_eq!(
        message(json!({"name": "a", "copy_from": {"bucket": "b", "x": 1}})),
        "invalid copy_from.x: unknown field \"x\" (expected one of: bucket, prefix)"
    );
    assert_eq!(message(json!({"ttl": 3})), "invalid name: is required");
    assert_eq!(
        message(json!({"name": null})),
        "invalid name: is required",
        "null is absent"
    );
    assert_eq!(
        message(json!([1])),
        "invalid params: test.sample takes an object of parameters, found a list"
    );
}

#[test]
fn values_are_cut_and_secret_values_never_shown() {
    let m = message(json!({"name": "a", "admin_password": 7_355_608}));
    assert!(!m.contains("7355608"), "{m}");
    let m = message(json!({"name": "a", "admin_password": ["hunter2-secret"]}));
    assert!(!m.contains("hunter2"), "{m}");
    let m = message(json!({"name": "a", "ttl": "x".repeat(500)}));
    assert!(m.len() < 120, "{m}");
    assert!(m.contains("(500 characters)"), "{m}");
}

#[test]
fn split_field_reads_parameter_paths_back() {
    let cases = [
        (
            "invalid ttl: expected an integer",
            Some(("ttl", "expected an integer")),
        ),
        (
            "invalid copy_from.bucket: is required",
            Some(("copy_from.bucket", "is required")),
        ),
        (
            "invalid files[2].path: x: y",
            Some(("files[2].path", "x: y")),
        ),
        (
            "invalid files[\"a: \\\"b\\\"]\"]: bad",
            Some(("files[\"a: \\\"b\\\"]\"]", "bad")),
        ),
        (
            "invalid params: not an object",
            Some(("params", "not an object")),
        ),
        ("invalid record content: bad address", None),
        ("invalid .x: no", None),
        ("invalid x.: no", None),
        ("invalid [1]: no", None),
        ("something else", None),
    ];
    for (message, want) in cases {
        assert_eq!(split_field(message), want, "{message}");
    }
}
