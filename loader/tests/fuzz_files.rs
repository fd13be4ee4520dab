//! Fuzz/property test over every file format provisio accepts — blueprints, provider files and
//! memory fixtures in YAML, TOML and JSON, variables files, tenants files in CSV and JSON — and
//! every name validator of `provisio::validate`.
//!
//! Valid seed documents are broken in generated ways (wrong types, unknown fields, missing
//! fields, invalid names, deep and huge values, truncation, junk, lost bytes, deep nesting,
//! alias bombs, huge scalars), then read through the same functions the engine, the
//! configuration and the CLI use. Every case must end without a panic in under a second, and
//! every refusal must name the document (or resource), the place (line and column or field)
//! and the rule, without quoting a secret value. About 12,000 cases, deterministically seeded;
//! each family prints its case count and slowest case (`cargo test -p provisio-loader --test
//! fuzz_files -- --nocapture`).

mod fuzz;

use fuzz::checks::{self, Verdict, located, refused, validation};
use fuzz::mutations::{
    Damage, Edit, bad_name, damage, damaged, damaged_text, edit, planted_secret,
};
use fuzz::seeds::{Kind, TENANTS_CSV, examples_dir, render, typed_blueprint};
use proptest::prelude::*;
use provisio::validate::{self, NameKind};
use provisio::{Error, Result};
use provisio_config::{MemorySettings, ProviderConfig};
use provisio_engine::Blueprint;
use provisio_engine::render::BlueprintTemplates;
use provisio_loader::{Format, Limits, tenants, vars};
use provisio_memory::MemoryFixtures;
use std::path::{Path, PathBuf};

const FORMATS: [Format; 3] = [Format::Yaml, Format::Toml, Format::Json];

/// The templates of the example blueprint, so that its `$template` parameters validate.
fn example_templates() -> Option<BlueprintTemplates> {
    Blueprint::load(examples_dir()).unwrap().templates
}

/// A seed of `kind` in `format`, edited and damaged.
struct Mutated {
    /// The damaged document.
    bytes: Vec<u8>,
    /// The seed's text (where secret fields' values sit).
    seed: String,
    /// A secret value the edit planted, which no message may repeat.
    planted: Option<&'static str>,
}

fn mutated(kind: Kind, seed: usize, format: Format, e: &Edit, d: &Damage) -> Option<Mutated> {
    let seeds = kind.seeds();
    let value = &seeds[seed % seeds.len()];
    let original = render(value, format)?;
    let text = render(&fuzz::mutations::apply(value, e), format)?;
    Some(Mutated {
        bytes: damaged(&text, d),
        seed: original,
        planted: planted_secret(value, e),
    })
}

/// Fails when `message` repeats the planted secret.
fn no_planted(message: &str, planted: Option<&str>) -> std::result::Result<(), String> {
    match planted {
        Some(p) if message.contains(p) => {
            Err(format!("planted secret {p:?} in message: {message}"))
        }
        _ => Ok(()),
    }
}

/// Parses text of a structured kind the way its crate does, then validates what parsed.
fn read_text_as(
    kind: Kind,
    format: Format,
    text: &str,
    templates: &Option<BlueprintTemplates>,
) -> std::result::Result<(), Refusal> {
    use Refusal::{Read, Rule};
    match kind {
        Kind::Blueprint => {
            let mut bp = Blueprint::parse(text, format).map_err(Read)?;
            bp.templates = templates.clone();
            bp.validate(&provisio_engine::types::builtin())
                .map_err(Rule)?;
        }
        Kind::Providers => {
            match format {
                Format::Yaml => ProviderConfig::from_yaml(text),
                Format::Toml => ProviderConfig::from_toml(text),
                Format::Json => ProviderConfig::from_json(text),
            }
            .map_err(Read)?;
        }
        Kind::Fixtures => {
            let f = match format {
                Format::Yaml => MemoryFixtures::from_yaml(text),
                Format::Toml => MemoryFixtures::from_toml(text),
                Format::Json => MemoryFixtures::from_json(text),
            }
            .map_err(Read)?;
            f.validate().map_err(Rule)?;
        }
        Kind::Vars => {
            vars::parse_vars(text, format, "<vars>", &Limits::default()).map_err(Read)?;
        }
        Kind::TenantsJson => {
            tenants::parse_tenants_json(text, "<tenants>", &Limits::default()).map_err(Read)?;
        }
        Kind::TenantsCsv => {
            tenants::parse_tenants_csv(text, "<tenants>").map_err(Read)?;
        }
    }
    Ok(())
}

/// Why a document was refused: it did not parse (or a file could not be read), or what
/// parsed broke a rule of the engine or the providers (those errors name resources and
/// fields, not positions).
enum Refusal {
    Read(Error),
    Rule(Error),
}

fn origin(kind: Kind) -> &'static str {
    match kind {
        Kind::Blueprint => "<blueprint>",
        Kind::Providers => "<provider config>",
        Kind::Fixtures => "<memory fixtures>",
        Kind::Vars => "<vars>",
        Kind::TenantsJson | Kind::TenantsCsv => "<tenants>",
    }
}

/// Checks the outcome of reading `bytes` as `kind`.
fn check_outcome(
    kind: Kind,
    r: std::result::Result<(), Refusal>,
    bytes: &[u8],
    seed: &str,
    planted: Option<&str>,
) -> std::result::Result<Verdict, String> {
    let e = match r {
        Ok(()) => return Ok(Verdict::Accepted),
        Err(Refusal::Rule(e)) => {
            validation(&e)?;
            e
        }
        Err(Refusal::Read(e)) => {
            located(&e, origin(kind), bytes, seed)?;
            e
        }
    };
    refused(no_planted(e.message(), planted))
}

fn structured(kind: Kind, cases: u32) {
    let templates = example_templates();
    let name = format!("{kind:?} (YAML, TOML, JSON)");
    let formats = if kind == Kind::TenantsJson {
        &FORMATS[2..]
    } else {
        &FORMATS[..]
    };
    let strategy = (0usize..4, 0..formats.len(), edit(), damage());
    checks::run(&name, cases, strategy, |(seed, f, e, d)| {
        let format = formats[*f];
        let Some(m) = mutated(kind, *seed, format, e, d) else {
            return Ok(Verdict::Accepted); // TOML cannot hold this value (a null): no input
        };
        let text = String::from_utf8_lossy(&m.bytes);
        let outcome = read_text_as(kind, format, &text, &templates);
        check_outcome(kind, outcome, &m.bytes, &m.seed, m.planted)
    });
}

#[test]
fn blueprints() {
    structured(Kind::Blueprint, 2_400);
}

/// Edits of one resource's parameters only (wrong types, unknown fields, missing fields, invalid
/// names, deep and huge values), in blueprints holding every built-in type and in the example:
/// the typed parameters of each type refuse them without a panic, and the refusal names the
/// resource and the parameter's path (`resources.web.params.tags.team: expected a string,
/// found 3`).
#[test]
fn typed_parameters() {
    let templates = example_templates();
    let seeds = [
        typed_blueprint(),
        fuzz::seeds::Kind::Blueprint.seeds().remove(0),
    ];
    let strategy = (0..seeds.len(), any::<usize>(), 0..FORMATS.len(), edit());
    let typed = std::cell::Cell::new(0usize);
    checks::run("typed parameters", 2_000, strategy, |(s, r, f, e)| {
        let mut doc = seeds[*s].clone();
        let names: Vec<String> = doc["resources"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let name = &names[r % names.len()];
        let params = &mut doc["resources"][name.as_str()]["params"];
        *params = fuzz::mutations::apply(params, e);
        let Some(text) = render(&doc, FORMATS[*f]) else {
            return Ok(Verdict::Accepted); // TOML cannot hold a null
        };
        let planted = planted_secret(&seeds[*s]["resources"][name.as_str()]["params"], e);
        let mut bp = match Blueprint::parse(&text, FORMATS[*f]) {
            Ok(bp) => bp,
            Err(err) => {
                // too deep for the loader: refused while reading, located
                located(&err, "<blueprint>", text.as_bytes(), "")?;
                return refused(no_planted(err.message(), planted));
            }
        };
        bp.templates = templates.clone();
        let Err(err) = bp.validate(&provisio_engine::types::builtin()) else {
            return Ok(Verdict::Accepted);
        };
        validation(&err)?;
        if checks::names_parameter(&err, name)? {
            typed.set(typed.get() + 1);
        }
        refused(no_planted(err.message(), planted))
    });
    println!(
        "fuzz typed parameters: {} refusals by the typed parameters",
        typed.get()
    );
    assert!(
        typed.get() >= 500,
        "only {} refusals came from the typed parameters",
        typed.get()
    );
}

#[test]
fn provider_files() {
    structured(Kind::Providers, 1_200);
}

#[test]
fn memory_fixtures() {
    structured(Kind::Fixtures, 1_500);
}

#[test]
fn variables_files() {
    structured(Kind::Vars, 900);
}

#[test]
fn tenants_json_files() {
    structured(Kind::TenantsJson, 600);
}

#[test]
fn tenants_csv_files() {
    // Cell edits (an invalid name, a lost or extra cell) and text damage.
    let strategy = (any::<usize>(), any::<usize>(), bad_name(), 0u8..3, damage());
    checks::run("TenantsCsv", 800, strategy, |(row, col, cell, how, d)| {
        let mut rows: Vec<Vec<String>> = TENANTS_CSV
            .lines()
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect();
        let r = row % rows.len();
        let c = col % rows[r].len();
        match how {
            0 => rows[r][c] = cell.clone(),
            1 => {
                rows[r].remove(c);
            }
            _ => rows[r].push(cell.clone()),
        }
        let text: String = rows.iter().map(|r| r.join(",") + "\n").collect();
        let text = damaged_text(&text, d);
        let r = tenants::parse_tenants_csv(&text, "<tenants>")
            .map(|_| ())
            .map_err(Refusal::Read);
        check_outcome(Kind::TenantsCsv, r, text.as_bytes(), TENANTS_CSV, None)
    });
}

/// Reads a file of `kind` through the public file API its users call.
fn read_file_as(
    kind: Kind,
    path: &Path,
    templates: &Option<BlueprintTemplates>,
) -> std::result::Result<(), Refusal> {
    use Refusal::{Read, Rule};
    match kind {
        Kind::Blueprint => {
            let mut bp = Blueprint::from_file(path).map_err(Read)?;
            bp.templates = templates.clone();
            bp.validate(&provisio_engine::types::builtin())
                .map_err(Rule)?;
        }
        Kind::Providers => {
            ProviderConfig::from_file(path).map_err(Read)?;
        }
        Kind::Fixtures => {
            // Both readers: the memory crate's (parse and validate) and the configuration's
            // (parse, then apply to a new memory world).
            MemoryFixtures::from_path(path).map_err(Read)?;
            let settings = MemorySettings {
                fixtures: Some(path.to_path_buf()),
                ..MemorySettings::default()
            };
            tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap()
                .block_on(settings.open())
                .map_err(Read)?;
        }
        Kind::Vars => {
            vars::load_vars(path, &Limits::default()).map_err(Read)?;
        }
        Kind::TenantsJson | Kind::TenantsCsv => {
            tenants::load_tenants(path, &Limits::default()).map_err(Read)?;
        }
    }
    Ok(())
}

#[test]
fn files_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let templates = example_templates();
    let kinds = [
        Kind::Blueprint,
        Kind::Providers,
        Kind::Fixtures,
        Kind::Vars,
        Kind::TenantsJson,
        Kind::TenantsCsv,
    ];
    let extensions = ["yaml", "yml", "toml", "json", "csv", "", "txt"];
    // (kind, seed, format of the content, extension, edit, damage, oversize)
    let strategy = (
        0..kinds.len(),
        0usize..4,
        0usize..3,
        0..extensions.len(),
        edit(),
        damage(),
        prop::bool::weighted(0.01),
    );
    checks::run(
        "files on disk",
        800,
        strategy,
        |(k, seed, f, x, e, d, oversize)| {
            let kind = kinds[*k];
            let m = if kind == Kind::TenantsCsv {
                Mutated {
                    bytes: damaged(TENANTS_CSV, d),
                    seed: TENANTS_CSV.to_string(),
                    planted: None,
                }
            } else {
                match mutated(kind, *seed, FORMATS[*f], e, d) {
                    Some(m) => m,
                    None => return Ok(Verdict::Accepted),
                }
            };
            let mut bytes = m.bytes;
            if *oversize {
                bytes.resize(Limits::DEFAULT_MAX_BYTES as usize + 1, b' ');
            }
            let mut path = PathBuf::from(dir.path()).join(format!("{kind:?}"));
            if !extensions[*x].is_empty() {
                path.set_extension(extensions[*x]);
            }
            std::fs::write(&path, &bytes).unwrap();
            let shown = path.display().to_string();
            let outcome = read_file_as(kind, &path, &templates);
            std::fs::remove_file(&path).unwrap();
            let e = match outcome {
                Ok(()) => return Ok(Verdict::Accepted),
                Err(Refusal::Rule(e)) => {
                    validation(&e)?;
                    return refused(no_planted(e.message(), m.planted));
                }
                Err(Refusal::Read(e)) => e,
            };
            no_planted(e.message(), m.planted)?;
            let after = e.message().strip_prefix(&shown);
            if let Some(after) = after {
                if after.starts_with(": cannot tell the format")
                    || after.starts_with(": tenants files are")
                {
                    return Ok(Verdict::Refused);
                }
                return refused(located(&e, &shown, &bytes, &m.seed));
            }
            // Fixtures that parse but break a rule, or that the memory world refuses: the
            // readers name the file before the field.
            if kind == Kind::Fixtures
                && e.message().contains(&shown)
                && !e.message().ends_with(": ")
            {
                return refused(checks::no_secret(e.message(), &bytes, &m.seed));
            }
            Err(format!("does not start with the file: {e}"))
        },
    );
}

/// Every name validator of `provisio::validate` and the portable rule of every name kind.
#[allow(clippy::type_complexity)]
fn validators() -> Vec<(&'static str, Box<dyn Fn(&str, &str) -> Result<String>>)> {
    let mut all: Vec<(&'static str, Box<dyn Fn(&str, &str) -> Result<String>>)> = vec![
        ("dns_name", Box::new(validate::dns_name)),
        ("hostname", Box::new(validate::hostname)),
        ("s3_bucket_name", Box::new(validate::s3_bucket_name)),
        (
            "azure_container_name",
            Box::new(validate::azure_container_name),
        ),
        ("jenkins_item_name", Box::new(validate::jenkins_item_name)),
        ("jenkins_job_path", Box::new(validate::jenkins_job_path)),
        ("pg_identifier", Box::new(validate::pg_identifier)),
        (
            "keyvault_secret_name",
            Box::new(validate::keyvault_secret_name),
        ),
        ("aws_secret_name", Box::new(validate::aws_secret_name)),
        ("secret_name", Box::new(validate::secret_name)),
        ("git_branch_name", Box::new(validate::git_branch_name)),
        ("repo_file_path", Box::new(validate::repo_file_path)),
        ("object_key", Box::new(validate::object_key)),
        ("tenant_name", Box::new(validate::tenant_name)),
        (
            "tag",
            Box::new(|f: &str, v: &str| validate::tag(f, v, v).map(|()| v.to_string())),
        ),
    ];
    for kind in [
        NameKind::DnsName,
        NameKind::Bucket,
        NameKind::ObjectKey,
        NameKind::Secret,
        NameKind::Database,
        NameKind::Role,
        NameKind::Branch,
        NameKind::RepoPath,
        NameKind::JobPath,
    ] {
        all.push((
            kind.as_str(),
            Box::new(move |f: &str, v: &str| validate::portable(kind, f, v)),
        ));
    }
    all
}

/// Names near valid ones (one character changed, added or lost) and arbitrary ones.
fn names() -> impl Strategy<Value = String> {
    let valid = prop::sample::select(vec![
        "acme",
        "acme-db",
        "www.example.com",
        "tenants/acme/build",
        "dev-acme",
        "config/nginx.conf",
        "initial/robots.txt",
        "provisio-shared-assets",
        "app_db",
    ]);
    prop_oneof![
        2 => bad_name(),
        2 => (valid, any::<usize>(), any::<char>(), 0u8..3).prop_map(|(v, i, c, how)| {
            let mut chars: Vec<char> = v.chars().collect();
            let i = i % (chars.len() + 1);
            match how {
                0 if i < chars.len() => chars[i] = c,
                1 => chars.insert(i, c),
                _ if i < chars.len() => { chars.remove(i); }
                _ => {}
            }
            chars.into_iter().collect()
        }),
        1 => "[a-z0-9.-]{200,2000}",
    ]
}

#[test]
fn name_validators() {
    let all = validators();
    let strategy = (0..all.len(), names());
    checks::run("name validators", 2_600, strategy, |(i, name)| {
        let (rule, check) = &all[*i];
        let field = "fuzzed field";
        match check(field, name) {
            Ok(canonical) => {
                // The canonical form is itself valid, and stays as it is.
                match check(field, &canonical) {
                    Ok(again) if again == canonical => Ok(Verdict::Accepted),
                    other => Err(format!("{rule}: {name:?} -> {canonical:?} -> {other:?}")),
                }
            }
            Err(e) => {
                let m = e.message();
                let ok = e.kind() == &provisio::ErrorKind::InvalidInput
                    && m.starts_with(&format!("invalid {field}: "))
                    && m.len() > format!("invalid {field}: ").len();
                if ok {
                    Ok(Verdict::Refused)
                } else {
                    Err(format!("{rule}: {name:?}: {e}"))
                }
            }
        }
    });
}

/// The two reported documents (issue bugs 11 and 12), written as each kind of YAML file and
/// read through the public readers: refused by the depth limit and the alias budget, fast.
/// The alias bomb sits where each kind takes free-form values (a resource's `params`, a
/// provider's settings, the variables); fixtures have none, and refuse it by type.
#[test]
fn reported_documents_through_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    let templates = example_templates();
    let deep = format!("{}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(deep.len(), 200_001);
    let indent = |text: &str, by: usize| -> String {
        text.lines()
            .map(|l| format!("{}{l}\n", " ".repeat(by)))
            .collect()
    };
    let laughs = fuzz::mutations::Hostile::Laughs.text();
    let bombs = [
        (
            Kind::Blueprint,
            format!(
                "name: x\nresources:\n  a:\n    type: dns.record\n    params:\n{}",
                indent(&laughs, 6)
            ),
            "max_alias_events",
        ),
        (
            Kind::Providers,
            format!(
                "providers:\n  dns:\n    default:\n      kind: memory\n{}",
                indent(&laughs, 6)
            ),
            "max_alias_events",
        ),
        (
            Kind::Fixtures,
            format!("secrets:\n{}", indent(&laughs, 2)),
            "expected string",
        ),
        (Kind::Vars, laughs.clone(), "max_alias_events"),
    ];
    for (kind, bomb, bomb_rule) in bombs {
        for (text, rule) in [(deep.as_str(), "max_depth"), (bomb.as_str(), bomb_rule)] {
            let path = dir.path().join(format!("{kind:?}.yaml"));
            std::fs::write(&path, text).unwrap();
            let start = std::time::Instant::now();
            let Err(Refusal::Read(e)) = read_file_as(kind, &path, &templates) else {
                panic!("{kind:?}: not refused");
            };
            let took = start.elapsed();
            assert!(took < checks::CASE_LIMIT, "{kind:?} {rule}: {took:?}");
            assert!(e.message().contains(rule), "{kind:?}: {e}");
            located(&e, &path.display().to_string(), text.as_bytes(), "").unwrap();
        }
    }
}
