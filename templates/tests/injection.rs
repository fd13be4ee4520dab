//! Template injection: hostile tenant values render as plain data in every format, or are
//! refused by name; they never change the structure of the rendered document.

use provisio::ErrorKind;
use provisio_templates::{Format, TemplateSet};
use serde_json::{Value, json};

/// Values a hostile (or merely careless) tenant could type into the back-office form.
const HOSTILE: &[&str] = &[
    "a<b>&\"c\"'d'",
    "line1\nline2: injected\n  - item\n",
    "${SECRET} $HOME $$ `id`",
    "]]><evil attr=\"x\"/><![CDATA[",
    "key: value # comment",
    "{{ other }} {% raw %} {# c #}",
    "x; rm -rf /; }",
    "{a: 1, b: [2]}",
    "- item\n---\n...\n%YAML 1.2",
    "&anchor *alias !!python/object:os.system ? |",
    "tab\there\r\nCRLF",
    "back\\slash \\n not a newline",
    "",
    "  leading and trailing  ",
    "null",
    "true",
    "0x1F",
    "ünïcödé \u{2028} sep \u{85} nel",
];

fn vars(value: &str) -> Value {
    json!({
        "name": value,
        "description": value,
        "note": value.replace(['\n', '\r', '\t'], " "),
        "command": value,
        "motd": value,
        "image": "registry.example.com/app:1.2",
        "plan": "pro",
        "replicas": 3,
        "hosts": [value, "b.example.com"],
        "other": "SHOULD NOT APPEAR",
    })
}

// ---- XML -------------------------------------------------------------------------------------

const JENKINS_XML: &str = r#"<?xml version='1.1' encoding='UTF-8'?>
<project>
  <description>{{ description }}</description>
  <scm class="hudson.scm.NullSCM" note="{{ note }}"/>
  <builders>
    <hudson.tasks.Shell>
      <command>{{ command }}</command>
    </hudson.tasks.Shell>
  </builders>
  <tenant>{{ name }}</tenant>
</project>
"#;

/// One element: `(depth, name, attributes, text)`, text unescaped.
type Row = (usize, String, Vec<(String, String)>, String);

/// The element tree as rows.
fn parse_xml(xml: &str) -> Vec<Row> {
    use quick_xml::Reader;
    use quick_xml::events::Event;
    let mut reader = Reader::from_str(xml);
    let mut rows: Vec<Row> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    loop {
        let event = reader
            .read_event()
            .expect("the rendered XML must be well-formed");
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = e.name().as_ref().to_string();
                let attrs = e
                    .attributes()
                    .map(|a| {
                        let a = a.unwrap();
                        (
                            a.key.as_ref().to_string(),
                            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                .unwrap()
                                .into_owned(),
                        )
                    })
                    .collect();
                rows.push((open.len(), name, attrs, String::new()));
                if matches!(event, Event::Start(_)) {
                    open.push(rows.len() - 1);
                }
            }
            Event::End(_) => {
                open.pop().expect("balanced tags");
            }
            Event::Text(t) => {
                if let Some(&i) = open.last() {
                    rows[i].3.push_str(&t);
                }
            }
            Event::GeneralRef(r) => {
                let entity = format!("&{};", &*r);
                let text = quick_xml::escape::unescape(&entity).unwrap().into_owned();
                if let Some(&i) = open.last() {
                    rows[i].3.push_str(&text);
                }
            }
            Event::CData(_) => panic!("a CDATA section appeared in the rendered XML"),
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(open.is_empty(), "unclosed elements");
    rows
}

#[test]
fn xml_hostile_values_stay_text() {
    let set = TemplateSet::from_strings([("jobs/acme/config.xml", JENKINS_XML)]).unwrap();
    let benign = parse_xml(&set.render("jobs/acme/config.xml", &vars("benign")).unwrap());
    let shape = |rows: &[Row]| {
        rows.iter()
            .map(|(d, n, a, _)| {
                (
                    *d,
                    n.clone(),
                    a.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>()
    };
    for hostile in HOSTILE {
        let xml = set.render("jobs/acme/config.xml", &vars(hostile)).unwrap();
        assert!(!xml.contains("SHOULD NOT APPEAR"));
        let rows = parse_xml(&xml);
        assert_eq!(
            shape(&rows),
            shape(&benign),
            "structure changed for {hostile:?}:\n{xml}"
        );
        let text_of = |name: &str| rows.iter().find(|r| r.1 == name).unwrap().3.clone();
        assert_eq!(text_of("description"), *hostile, "{xml}");
        assert_eq!(text_of("command"), *hostile, "{xml}");
        assert_eq!(text_of("tenant"), *hostile, "{xml}");
        let scm = rows.iter().find(|r| r.1 == "scm").unwrap();
        assert_eq!(
            scm.2[0],
            ("class".to_string(), "hudson.scm.NullSCM".to_string())
        );
        assert_eq!(scm.2[1].1, hostile.replace(['\n', '\r', '\t'], " "));
    }
}

#[test]
fn xml_refuses_characters_it_cannot_hold() {
    let set = TemplateSet::from_strings([("config.xml", "<a>\n{{ description }}</a>")]).unwrap();
    let err = set
        .render("config.xml", &json!({"description": "bell\u{7}"}))
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput);
    let msg = err.message();
    assert!(msg.contains("variable description"), "{msg}");
    assert!(msg.contains("config.xml line 2"), "{msg}");
    assert!(msg.contains("U+0007"), "{msg}");
}

// ---- YAML ------------------------------------------------------------------------------------

const CONFIG_YML: &str = "# tenant configuration\n\
tenant:\n  name: {{ name }}\n  motd: {{ motd }}\n\
{% if plan == \"pro\" %}plan: {{ plan }}\n{% endif %}\
replicas: {{ replicas }}\n\
hosts:\n{% for h in hosts %}  - {{ h }}\n{% endfor %}\
flow: [{{ name }}, {{ plan }}]\n\
url: {{ \"https://\" ~ name ~ \"/\" }}\n";

#[test]
fn yaml_hostile_values_stay_scalars() {
    let set = TemplateSet::from_strings([("config.yml", CONFIG_YML)]).unwrap();
    for hostile in HOSTILE {
        let text = set.render("config.yml", &vars(hostile)).unwrap();
        let doc: serde_json::Value = serde_saphyr::from_str(&text)
            .unwrap_or_else(|e| panic!("{hostile:?} broke the YAML: {e}\n{text}"));
        let expected = json!({
            "tenant": {"name": hostile, "motd": hostile},
            "plan": "pro",
            "replicas": 3,
            "hosts": [hostile, "b.example.com"],
            "flow": [hostile, "pro"],
            "url": format!("https://{hostile}/"),
        });
        assert_eq!(doc, expected, "{hostile:?} changed the document:\n{text}");
    }
}

#[test]
fn docker_compose_quotes_and_doubles_dollars() {
    let compose = "services:\n  web:\n    image: {{ image }}\n    environment:\n      TENANT: {{ name }}\n      MOTD: {{ motd }}\n";
    let set = TemplateSet::from_strings([("docker-compose.yml", compose)]).unwrap();
    assert_eq!(
        set.format_of("docker-compose.yml"),
        Some(Format::DockerCompose)
    );
    for hostile in HOSTILE {
        let text = set.render("docker-compose.yml", &vars(hostile)).unwrap();
        let doc: serde_json::Value = serde_saphyr::from_str(&text)
            .unwrap_or_else(|e| panic!("{hostile:?} broke the compose file: {e}\n{text}"));
        let env = &doc["services"]["web"]["environment"];
        assert_eq!(
            doc["services"]["web"].as_object().unwrap().len(),
            2,
            "{text}"
        );
        assert_eq!(env.as_object().unwrap().len(), 2, "{text}");
        for key in ["TENANT", "MOTD"] {
            let raw = env[key].as_str().unwrap();
            // Compose interpolates `$`: every `$` must be doubled, and `$$` reads back as `$`.
            assert!(
                raw.split("$$").all(|part| !part.contains('$')),
                "an undoubled $ in {raw:?}"
            );
            assert_eq!(raw.replace("$$", "$"), *hostile);
        }
        assert_eq!(
            doc["services"]["web"]["image"],
            "registry.example.com/app:1.2"
        );
    }
}

// ---- JSON ------------------------------------------------------------------------------------

#[test]
fn json_hostile_values_stay_strings() {
    let set = TemplateSet::from_strings([(
        "settings.json",
        "{\"name\": {{ name }}, \"replicas\": {{ replicas }}, \"hosts\": [{% for h in hosts %}{{ h }}{% if not loop.last %}, {% endif %}{% endfor %}]}",
    )])
    .unwrap();
    for hostile in HOSTILE {
        let text = set.render("settings.json", &vars(hostile)).unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            doc,
            json!({"name": hostile, "replicas": 3, "hosts": [hostile, "b.example.com"]})
        );
    }
}

// ---- nginx and plain text: refusal -----------------------------------------------------------

const NGINX_CONF: &str =
    "server {\n    listen 80;\n    server_name {{ host }};\n    root /srv/{{ name }}/public;\n}\n";

#[test]
fn nginx_refuses_structural_characters_by_name() {
    let set = TemplateSet::from_strings([("nginx/nginx.conf", NGINX_CONF)]).unwrap();
    let ok = set
        .render(
            "nginx/nginx.conf",
            &json!({"host": "acme.example.com", "name": "acme", "unused": "a;b\n{"}),
        )
        .unwrap();
    assert_eq!(
        ok,
        "server {\n    listen 80;\n    server_name acme.example.com;\n    root /srv/acme/public;\n}\n"
    );
    let mut refused = 0;
    for hostile in HOSTILE {
        let result = set.render(
            "nginx/nginx.conf",
            &json!({"host": "acme.example.com", "name": hostile}),
        );
        let structural = hostile.is_empty()
            || hostile
                .chars()
                .all(|c| c.is_alphanumeric() || "._-:/".contains(c));
        match result {
            Ok(text) => {
                assert!(structural, "{hostile:?} was accepted:\n{text}");
                assert_eq!(text.matches(';').count(), 3);
            }
            Err(err) => {
                refused += 1;
                assert_eq!(err.kind(), &ErrorKind::InvalidInput);
                let msg = err.message();
                assert!(msg.contains("variable name"), "{msg}");
                assert!(msg.contains("nginx/nginx.conf line 4"), "{msg}");
                assert!(msg.contains("nginx values must not contain"), "{msg}");
                assert!(hostile.len() < 4 || !msg.contains(hostile), "{msg}");
            }
        }
    }
    assert!(refused >= HOSTILE.len() - 5, "only {refused} refused");
    for bad in [
        "a;b", "a b", "a\nb", "a{", "a}", "a\"", "a'", "$host", "a`b", "a#b", "a\\b",
    ] {
        let err = set
            .render("nginx/nginx.conf", &json!({"host": bad, "name": "acme"}))
            .unwrap_err();
        assert!(err.message().contains("variable host"), "{bad:?}: {err}");
        assert!(err.message().contains("line 3"), "{bad:?}: {err}");
    }
}

#[test]
fn plain_text_refuses_line_breaks() {
    let set = TemplateSet::from_strings([("tenant.env", "TENANT={{ name }}\nPLAN={{ plan }}\n")])
        .unwrap();
    assert_eq!(set.format_of("tenant.env"), Some(Format::Text));
    let ok = set
        .render(
            "tenant.env",
            &json!({"name": "acme; {x} $y", "plan": "pro"}),
        )
        .unwrap();
    assert_eq!(ok, "TENANT=acme; {x} $y\nPLAN=pro\n");
    for bad in ["a\nADMIN=1", "a\rb", "a\u{2028}b", "a\u{0}b"] {
        let err = set
            .render("tenant.env", &json!({"name": "acme", "plan": bad}))
            .unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidInput);
        assert!(err.message().contains("variable plan"), "{err}");
        assert!(err.message().contains("tenant.env line 2"), "{err}");
    }
}

#[test]
fn explicit_format_overrides_the_extension() {
    let set = TemplateSet::from_strings([("site.tmpl", "server_name {{ host }};")])
        .unwrap()
        .with_format("site.tmpl", Format::Nginx)
        .unwrap();
    assert!(set.render("site.tmpl", &json!({"host": "a b"})).is_err());
    let set = set.with_format("site.tmpl", Format::Yaml).unwrap();
    assert_eq!(
        set.render("site.tmpl", &json!({"host": "a b"})).unwrap(),
        "server_name \"a b\";"
    );
    let err = TemplateSet::from_strings([("a.txt", "")])
        .unwrap()
        .with_format("missing.txt", Format::Xml)
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::NotFound);
}

// ---- undefined variables ---------------------------------------------------------------------

#[test]
fn undefined_variables_name_template_line_and_variable() {
    let set = TemplateSet::from_strings([
        (
            "config.yml",
            "# header\ntenant: {{ tenant.name }}\ndomain: {{ tenant.domain }}\n",
        ),
        (
            "nginx.conf",
            "{% include \"_common.conf\" %}\nserver_name {{ host }};\n",
        ),
        ("_common.conf", "# common\n\nuser {{ nginx_user }};\n"),
        (
            "loop.yml",
            "hosts:\n\n{% for h in hostnames %}  - {{ h }}\n{% endfor %}",
        ),
    ])
    .unwrap();
    let vars = json!({"tenant": {"name": "acme", "domain": null}, "host": "acme.example.com"});

    let err = set.render("config.yml", &vars).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput);
    assert_eq!(
        err.message(),
        "invalid variable tenant.domain: is not defined (template config.yml line 3)"
    );

    let err = set.render("nginx.conf", &vars).unwrap_err();
    assert_eq!(
        err.message(),
        "invalid variable nginx_user: is not defined (template _common.conf line 3)"
    );

    let err = set.render("loop.yml", &vars).unwrap_err();
    assert!(err.message().contains("variable hostnames"), "{err}");
    assert!(err.message().contains("loop.yml line 3"), "{err}");

    // A whole list or object interpolated would print its items unescaped: refused.
    let set = TemplateSet::from_strings([("hosts.yml", "a: 1\nhosts: {{ hosts }}\n")]).unwrap();
    let err = set
        .render("hosts.yml", &json!({"hosts": ["a\nb: c"]}))
        .unwrap_err();
    assert!(err.message().contains("variable hosts"), "{err}");
    assert!(err.message().contains("hosts.yml line 2"), "{err}");
    assert!(err.message().contains("list or an object"), "{err}");
}

#[test]
fn templates_that_do_not_parse_name_the_file() {
    let err = TemplateSet::from_strings([("bad.yml", "a: 1\nb: {{ unclosed\n")]).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput);
    assert!(err.message().contains("bad.yml"), "{err}");
    assert!(
        err.message().contains("--> 3:1"),
        "tera's position is kept: {err}"
    );
}

// ---- loading a directory ---------------------------------------------------------------------

#[test]
fn load_and_render_all() {
    let dir = tempfile::tempdir().unwrap();
    let write = |p: &str, s: &str| {
        let path = dir.path().join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, s).unwrap();
    };
    write("config.yml.tera", "tenant: {{ name }}\n");
    write(
        "nginx/nginx.conf",
        "{% import \"_macros.tera\" as m %}server_name {{ m::host(name=name) }};\n",
    );
    write(
        "_macros.tera",
        "{% macro host(name) %}{{ name }}.example.com{% endmacro host %}",
    );
    write("jenkins/config.xml", "<d>{{ name }}</d>");
    write(".hidden/x.txt", "{{ undefined }}");
    let set = TemplateSet::load(dir.path()).unwrap();
    assert_eq!(
        set.names().collect::<Vec<_>>(),
        vec![
            "_macros.tera",
            "config.yml.tera",
            "jenkins/config.xml",
            "nginx/nginx.conf"
        ]
    );
    let files = set.render_all(&json!({"name": "acme"})).unwrap();
    assert_eq!(
        files.keys().map(String::as_str).collect::<Vec<_>>(),
        vec!["config.yml", "jenkins/config.xml", "nginx/nginx.conf"]
    );
    assert_eq!(files["config.yml"], "tenant: \"acme\"\n");
    assert_eq!(files["nginx/nginx.conf"], "server_name acme.example.com;\n");
    // The macro body is escaped for the calling template's format, too.
    let err = set.render_all(&json!({"name": "a;b"})).unwrap_err();
    assert!(err.message().contains("variable name"), "{err}");

    let err = TemplateSet::load(dir.path().join("missing")).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::NotFound);
}
