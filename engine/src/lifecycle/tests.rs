use super::*;
use crate::blueprint::{Blueprint, ResourceSpec};
use crate::types;
use serde_json::json;

const BP: &str = r#"
name: shop
variables:
  maintenance_ip: { default: 192.0.2.250 }
resources:
  web:
    type: compute.instance
    params: { name: "${tenant.name}-web", image: img-1, size: small, tags: { tier: web, team: a } }
    phases:
      suspended: { params: { tags: { tier: parked } } }
      archived: absent
  www:
    type: dns.record
    params: { zone: example.com, name: "${tenant.name}.example.com", type: A, content: "${web.public_ip}" }
    phases:
      archived: { params: { content: "${tenant.maintenance_ip}" } }
  archive:
    type: storage.objects
    only_in: [archived, retired]
    params: { bucket: archives, prefix: "${tenant.name}/", files: { a.txt: "from ${web.id}" } }
"#;

#[test]
fn transitions_start_from_their_phases_and_end_in_their_target() {
    let allowed = |p: Phase| p.transitions();
    assert_eq!(
        allowed(Phase::Launched),
        [Transition::Suspend, Transition::Archive, Transition::Retire]
    );
    assert_eq!(
        allowed(Phase::Suspended),
        [Transition::Resume, Transition::Archive, Transition::Retire]
    );
    assert_eq!(
        allowed(Phase::Archived),
        [Transition::Restore, Transition::Retire]
    );
    assert!(allowed(Phase::Retired).is_empty());
    assert_eq!(Transition::Restore.target(), Phase::Launched);
    assert_eq!(Transition::parse("archive").unwrap(), Transition::Archive);
    let e = Transition::parse("hibernate").unwrap_err();
    assert_eq!(
        e.message(),
        "invalid transition: \"hibernate\" is not one of suspend, resume, archive, restore, retire"
    );
}

#[test]
fn phase_views_merge_params_and_leave_out_absent_resources() {
    let bp = Blueprint::from_yaml(BP).unwrap();
    bp.validate(&types::builtin()).unwrap();

    let launched = bp.in_phase(Phase::Launched);
    assert_eq!(
        launched.resources.keys().collect::<Vec<_>>(),
        ["web", "www"]
    );
    assert!(launched.resources["web"].phases.is_empty());

    let suspended = bp.in_phase(Phase::Suspended);
    // objects merge key by key
    assert_eq!(
        suspended.resources["web"].params["tags"],
        json!({"tier": "parked", "team": "a"})
    );

    let archived = bp.in_phase(Phase::Archived);
    assert_eq!(
        archived.resources.keys().collect::<Vec<_>>(),
        ["archive", "www"]
    );
    assert_eq!(
        archived.resources["www"].params["content"],
        "${tenant.maintenance_ip}"
    );
    // `web` is absent but still referred to: its recorded outputs stand in
    assert_eq!(archived.ghosts["web"], "compute.instance");
    let g = archived.validate(&types::builtin()).unwrap();
    assert!(g.dependencies("archive").is_empty());

    let retired = bp.in_phase(Phase::Retired);
    assert_eq!(retired.resources.keys().collect::<Vec<_>>(), ["archive"]);

    // a blueprint without declarations: every phase but retired is itself
    let plain = Blueprint::new("p").resource("x", ResourceSpec::new("dns.record"));
    assert!(matches!(
        plain.in_phase(Phase::Archived),
        std::borrow::Cow::Borrowed(_)
    ));
    assert!(plain.in_phase(Phase::Retired).resources.is_empty());
}

#[test]
fn the_phase_format_round_trips() {
    let bp = Blueprint::from_yaml(BP).unwrap();
    let text = serde_json::to_string(&bp).unwrap();
    assert!(text.contains(r#""archived":"absent""#), "{text}");
    assert_eq!(Blueprint::from_json(&text).unwrap(), bp);
    let built = ResourceSpec::new("dns.record")
        .in_phase(Phase::Archived, PhaseVariant::Absent)
        .only_in([Phase::Launched, Phase::Archived]);
    assert!(built.present_in(Phase::Launched));
    assert!(!built.present_in(Phase::Archived));
    assert!(!built.present_in(Phase::Suspended));
}

fn invalid(yaml_resources: &str) -> String {
    let bp = Blueprint::from_yaml(&format!("name: shop\nresources:\n{yaml_resources}"));
    match bp {
        Err(e) => e.message().to_string(),
        Ok(bp) => bp
            .validate(&types::builtin())
            .unwrap_err()
            .message()
            .to_string(),
    }
}

#[test]
fn bad_declarations_are_refused_naming_the_field_and_rule() {
    let rec = "    type: dns.record\n    params: { zone: example.com, name: a.example.com, type: A, content: 192.0.2.1 }\n";
    assert!(
        invalid(&format!("  a:\n{rec}    phases: {{ launched: absent }}\n"))
            .contains("phases.launched: the resource's own params are its launched phase"),
    );
    assert!(
        invalid(&format!("  a:\n{rec}    phases: {{ archivd: absent }}\n")).contains("archivd"),
    );
    assert!(
        invalid(&format!("  a:\n{rec}    phases: {{ archived: gone }}\n"))
            .contains("expected `absent` or a map `{ params: {...} }`, found \"gone\""),
    );
    assert!(
        invalid(&format!(
            "  a:\n{rec}    phases: {{ archived: {{ parms: {{}} }} }}\n"
        ))
        .contains("parms"),
    );
    assert_eq!(
        invalid(&format!(
            "  a:\n{rec}    only_in: [archived]\n    phases: {{ suspended: absent }}\n"
        )),
        "resource \"a\": phases.suspended: the resource is not in phase suspended (only_in: archived)"
    );
    assert_eq!(
        invalid(&format!("  a:\n{rec}    only_in: []\n")),
        "resource \"a\": only_in: must name at least one phase"
    );
    // a phase's params are checked by the type, naming the phase
    assert_eq!(
        invalid(&format!(
            "  a:\n{rec}    phases: {{ suspended: {{ params: {{ ttl: soon }} }} }}\n"
        )),
        "resources.a.phases.suspended.params.ttl: expected an integer, found \"soon\""
    );
}

#[test]
fn a_protected_resource_is_released_only_by_its_own_declaration() {
    let bp = Blueprint::new("shop")
        .resource(
            "db",
            ResourceSpec::new("dns.record")
                .protect()
                .in_phase(Phase::Archived, PhaseVariant::Absent),
        )
        .resource("other", ResourceSpec::new("dns.record").protect());
    assert_eq!(
        bp.released_in(Phase::Archived)
            .into_iter()
            .collect::<Vec<_>>(),
        ["db"]
    );
    assert!(bp.released_in(Phase::Retired).is_empty());
}

#[test]
fn status_describes_a_transition_under_way() {
    let mut p = TenantPhase {
        tenant: "acme".into(),
        phase: Phase::Launched,
        transition: Some(Transition::Archive),
        last: None,
        run_id: "run-1".into(),
        updated_at_ms: 0,
    };
    assert_eq!(p.describe(), "archiving (from launched)");
    p.transition = None;
    p.phase = Phase::Archived;
    assert_eq!(p.describe(), "archived");
}
