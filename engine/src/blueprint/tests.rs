//! Tests of blueprint parsing, validation and resolution.

use super::*;
use crate::test_support::{registry, tenant};
use serde_json::json;
use std::path::Path;

const YAML: &str = r#"
name: launch-tenant
variables:
  domain: { default: example.com }
  smtp_password: { secret: true }
resources:
  web:
    type: test.server
    provider: default
    params: { name: "${tenant.name}-web", size: small }
    depends_on: []
    protect: false
    retry: { max_attempts: 5, initial_backoff_ms: 100, max_backoff_ms: 5000 }
    timeout_secs: 600
  www:
    type: test.record
    params: { zone: "${tenant.domain}", name: "${tenant.name}.${tenant.domain}", content: "${web.public_ip}" }
"#;

const TOML: &str = r#"
name = "launch-tenant"
[variables.domain]
default = "example.com"
[variables.smtp_password]
secret = true
[resources.web]
type = "test.server"
provider = "default"
params = { name = "${tenant.name}-web", size = "small" }
depends_on = []
protect = false
retry = { max_attempts = 5, initial_backoff_ms = 100, max_backoff_ms = 5000 }
timeout_secs = 600
[resources.www]
type = "test.record"
params = { zone = "${tenant.domain}", name = "${tenant.name}.${tenant.domain}", content = "${web.public_ip}" }
"#;

const JSON: &str = r#"{
  "name": "launch-tenant",
  "variables": {"domain": {"default": "example.com"}, "smtp_password": {"secret": true}},
  "resources": {
    "web": {"type": "test.server", "provider": "default",
            "params": {"name": "${tenant.name}-web", "size": "small"},
            "depends_on": [], "protect": false,
            "retry": {"max_attempts": 5, "initial_backoff_ms": 100, "max_backoff_ms": 5000},
            "timeout_secs": 600},
    "www": {"type": "test.record",
            "params": {"zone": "${tenant.domain}", "name": "${tenant.name}.${tenant.domain}", "content": "${web.public_ip}"}}
  }
}"#;

fn built() -> Blueprint {
    Blueprint::new("launch-tenant")
        .variable("domain", Variable::with_default("example.com"))
        .variable("smtp_password", Variable::secret())
        .resource(
            "web",
            ResourceSpec::new("test.server")
                .param("name", "${tenant.name}-web")
                .param("size", "small")
                .retry(RetryPolicy::default())
                .timeout(Duration::from_secs(600)),
        )
        .resource(
            "www",
            ResourceSpec::new("test.record").params(json!({
                "zone": "${tenant.domain}",
                "name": "${tenant.name}.${tenant.domain}",
                "content": "${web.public_ip}"
            })),
        )
}

#[test]
fn three_formats_and_builder_agree() {
    let y = Blueprint::from_yaml(YAML).unwrap();
    let t = Blueprint::from_toml(TOML).unwrap();
    let j = Blueprint::from_json(JSON).unwrap();
    assert_eq!(y, t);
    assert_eq!(y, j);
    assert_eq!(y, built());
    let g = y.validate(&registry()).unwrap();
    assert_eq!(g.order(), ["web", "www"]);
    assert!(g.dependencies("www").contains("web"));
    assert_eq!(g.dependents("web"), vec!["www".to_string()]);
    // round trip through each format's serializer
    let back = Blueprint::from_yaml(&serde_saphyr::to_string(&y).unwrap()).unwrap();
    assert_eq!(back, y);
    let back = Blueprint::from_toml(&toml::to_string(&y).unwrap()).unwrap();
    assert_eq!(back, y);
}

#[test]
fn format_by_extension_and_shape_errors() {
    assert_eq!(Format::from_path(Path::new("a.yml")), Some(Format::Yaml));
    assert_eq!(Format::from_path(Path::new("a.TOML")), Some(Format::Toml));
    assert_eq!(Format::from_path(Path::new("a.txt")), None);
    let e = Blueprint::from_yaml("name: x\nresources:\n  a: {type: t, colour: red}\n").unwrap_err();
    assert!(
        e.message()
            .starts_with("<blueprint>:3:16: resources.a.colour: unknown field `colour`"),
        "{e}"
    );
    assert!(Blueprint::from_json("{").is_err());
    assert!(Blueprint::from_toml("name = ").is_err());
}

fn rejected(bp: Blueprint) -> String {
    let e = bp.validate(&registry()).unwrap_err();
    assert_eq!(e.kind(), &provisio::ErrorKind::InvalidInput, "{e}");
    e.message().to_string()
}

#[test]
fn load_time_rejections() {
    // cycle, named
    let m = rejected(
        Blueprint::new("b")
            .resource(
                "a",
                ResourceSpec::new("test.server").param("name", "${c.public_ip}"),
            )
            .resource(
                "b",
                ResourceSpec::new("test.server")
                    .param("name", "x")
                    .depends_on("a"),
            )
            .resource(
                "c",
                ResourceSpec::new("test.server").param("name", "${b.id}"),
            ),
    );
    assert_eq!(m, "dependency cycle: a -> c -> b -> a");
    let m = rejected(Blueprint::new("b").resource(
        "a",
        ResourceSpec::new("test.server").param("name", "${a.id}"),
    ));
    assert_eq!(m, "dependency cycle: a -> a");

    // unknown resource
    let m = rejected(
        Blueprint::new("b").resource(
            "a",
            ResourceSpec::new("test.record")
                .param("content", "${wbe.public_ip}")
                .param("name", "x"),
        ),
    );
    assert_eq!(
        m,
        "resource \"a\": params.content: ${wbe.public_ip} refers to unknown resource \"wbe\""
    );

    // unknown output
    let m = rejected(
        built().resource(
            "www",
            ResourceSpec::new("test.record")
                .param("name", "x")
                .param("content", "${web.ip}"),
        ),
    );
    assert!(m.starts_with("resource \"www\": params.content: ${web.ip} refers to unknown output \"ip\" of resource \"web\" (test.server outputs: id, public_ip"), "{m}");

    // undeclared tenant variable
    let m = rejected(built().resource(
        "www",
        ResourceSpec::new("test.record").param("name", "${tenant.domian}"),
    ));
    assert!(m.starts_with("resource \"www\": params.name: ${tenant.domian} refers to undeclared tenant variable \"domian\""), "{m}");

    // secret variable interpolated
    let m = rejected(
        built().resource(
            "www",
            ResourceSpec::new("test.record")
                .param("name", "x")
                .param("content", "pw=${tenant.smtp_password}"),
        ),
    );
    assert!(m.contains("params.content: ${tenant.smtp_password} refers to secret variable \"smtp_password\"; secrets are never interpolated"), "{m}");

    // unknown type
    let m = rejected(Blueprint::new("b").resource("a", ResourceSpec::new("test.nope")));
    assert!(
        m.starts_with("resource \"a\": type: unknown resource type \"test.nope\" (known: "),
        "{m}"
    );

    // bad params (ResourceType::validate)
    let m = rejected(
        Blueprint::new("b").resource("a", ResourceSpec::new("test.server").param("size", "small")),
    );
    assert_eq!(m, "resources.a.params.name: is required");

    // bad names
    let m = rejected(
        Blueprint::new("b").resource("Web", ResourceSpec::new("test.server").param("name", "x")),
    );
    assert!(m.contains("\"Web\" must match [a-z][a-z0-9_]{0,62}"), "{m}");
    let long = "a".repeat(64);
    let m = rejected(
        Blueprint::new("b").resource(long, ResourceSpec::new("test.server").param("name", "x")),
    );
    assert!(m.contains("must match"), "{m}");
    assert!(
        rejected(Blueprint::new("b").resource(
            "tenant",
            ResourceSpec::new("test.server").param("name", "x")
        ))
        .contains("reserved")
    );
    assert!(rejected(Blueprint::new("")).contains("blueprint name"));

    // unknown depends_on
    let m = rejected(
        Blueprint::new("b").resource(
            "a",
            ResourceSpec::new("test.server")
                .param("name", "x")
                .depends_on("zz"),
        ),
    );
    assert_eq!(
        m,
        "resource \"a\": depends_on: names unknown resource \"zz\""
    );

    // malformed reference
    let m = rejected(Blueprint::new("b").resource(
        "a",
        ResourceSpec::new("test.server").param("name", "${oops"),
    ));
    assert!(
        m.starts_with("resource \"a\": params.name: unterminated reference"),
        "{m}"
    );

    // secret default, reserved variable name
    assert!(
        rejected(Blueprint::new("b").variable(
            "pw",
            Variable {
                secret: true,
                default: Some(json!("x")),
                ..Default::default()
            }
        ))
        .contains("cannot have a default")
    );
    assert!(
        rejected(Blueprint::new("b").variable("name", Variable::optional()))
            .contains("variable name")
    );

    // retry and timeout sanity
    let m = rejected(
        Blueprint::new("b").resource(
            "a",
            ResourceSpec::new("test.server")
                .param("name", "x")
                .retry(RetryPolicy {
                    max_attempts: 0,
                    ..Default::default()
                }),
        ),
    );
    assert!(m.contains("retry.max_attempts"), "{m}");
}

#[test]
fn resolves_and_checks_tenant() {
    let bp = built();
    let t = tenant("acme").secret("smtp_password", "pw");
    bp.check_tenant(&t).unwrap();
    let e = bp.check_tenant(&tenant("acme")).unwrap_err();
    assert!(
        e.message()
            .contains("required secret variable \"smtp_password\""),
        "{e}"
    );
    assert!(bp.check_tenant(&tenant("Not A Name")).is_err());

    let mut outs = BTreeMap::new();
    let p = bp.resolve("www", &t, &outs).unwrap();
    assert_eq!(
        p,
        json!({"zone": "example.com", "name": "acme.example.com", "content": crate::template::KNOWN_AFTER_APPLY})
    );
    outs.insert(
        "web".to_string(),
        json!({"id": "i-1", "public_ip": "10.0.0.9"}),
    );
    let t2 = t.clone().var("domain", "corp.test");
    let p = bp.resolve("www", &t2, &outs).unwrap();
    assert_eq!(
        p,
        json!({"zone": "corp.test", "name": "acme.corp.test", "content": "10.0.0.9"})
    );
    // a known upstream missing the key is an error
    outs.insert("web".to_string(), json!({"id": "i-1"}));
    let e = bp.resolve("www", &t, &outs).unwrap_err();
    assert!(e.message().contains("has no output \"public_ip\""), "{e}");
    // escapes
    let bp = Blueprint::new("b").resource(
        "a",
        ResourceSpec::new("test.server").param("name", "$${literal}"),
    );
    assert_eq!(
        bp.resolve("a", &t, &BTreeMap::new()).unwrap()["name"],
        "${literal}"
    );
}

/// A built-in type's parameter refusal names the resource and the exact field path.
#[test]
fn parameter_errors_name_the_field_path() {
    let registry = crate::types::builtin();
    let check = |params: &str| -> String {
        let text = format!(
            "name: b\nvariables: {{ ttl: {{ default: 300 }} }}\nresources:\n  dns_prod:\n    type: dns.record\n    params: {params}\n"
        );
        match Blueprint::from_yaml(&text).unwrap().validate(&registry) {
            Ok(_) => "ok".to_string(),
            Err(e) => {
                assert_eq!(e.kind(), &provisio::ErrorKind::InvalidInput, "{e}");
                assert_eq!(e.resource(), Some("dns_prod"), "{e}");
                e.message().to_string()
            }
        }
    };
    let base = "zone: example.com, name: www, type: A, content: 192.0.2.1";
    assert_eq!(check(&format!("{{ {base}, ttl: 300 }}")), "ok");
    // a reference where an integer belongs is checked once resolved
    assert_eq!(
        check(&format!("{{ {base}, ttl: \"${{tenant.ttl}}\" }}")),
        "ok"
    );
    assert_eq!(
        check(&format!("{{ {base}, ttl: abc }}")),
        "resources.dns_prod.params.ttl: expected an integer, found \"abc\""
    );
    assert_eq!(
        check(&format!("{{ {base}, ttl: 0 }}")),
        "resources.dns_prod.params.ttl: must be from 1 to 4294967295, got 0"
    );
    assert_eq!(
        check(&format!("{{ {base}, proxied: [true] }}")),
        "resources.dns_prod.params.proxied: expected true or false, found a list"
    );
    assert_eq!(
        check("{ zone: example.com, name: www, type: A }"),
        "resources.dns_prod.params.content: is required"
    );
    assert!(
            check(&format!("{{ {base}, colour: red }}")).starts_with(
                "resources.dns_prod.params.colour: unknown field \"colour\" (expected one of: zone, name, type, content,"
            )
        );
    assert_eq!(
        check("[1, 2]"),
        "resources.dns_prod.params: dns.record takes an object of parameters, found a list"
    );
    // a name rule of the second pass
    assert!(
        check("{ zone: example.com, name: \"a b\", type: A, content: 192.0.2.1 }")
            .starts_with("resources.dns_prod.params.name: "),
    );
    // a refusal that names no parameter keeps the resource prefix
    assert!(
        check("{ zone: example.com, name: www, type: A, content: nope }")
            .starts_with("resource \"dns_prod\": invalid record content: "),
    );

    // nested objects and map entries
    let assets = |params: &str| {
        let bp = Blueprint::from_yaml(&format!(
            "name: b\nresources:\n  assets:\n    type: storage.objects\n    params: {params}\n"
        ))
        .unwrap();
        bp.validate(&registry).unwrap_err().message().to_string()
    };
    assert_eq!(
        assets("{ bucket: shared-assets, prefix: t/, copy_from: { prefix: initial/ } }"),
        "resources.assets.params.copy_from.bucket: is required"
    );
    assert_eq!(
        assets("{ bucket: shared-assets, prefix: t/, copy_from: { bucket: b, prefix: p/, x: 1 } }"),
        "resources.assets.params.copy_from.x: unknown field \"x\" (expected one of: bucket, prefix)"
    );
    assert_eq!(
        assets("{ bucket: shared-assets, prefix: t/, files: { \"conf/app.yml\": [1] } }"),
        "resources.assets.params.files[\"conf/app.yml\"]: expected a string, found a list"
    );
}
