//! Valid documents of every kind provisio reads, the starting points of the mutations, and
//! their rendering in each format.

use provisio_loader::{Format, Limits};
use serde_json::{Value, json};
use std::path::PathBuf;

/// A value planted in every secret-looking field of the seeds: no error message may contain it.
pub const SECRET_MARKER: &str = "S3cr3tMarker-do-not-print";

/// The kinds of documents provisio reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A blueprint (engine).
    Blueprint,
    /// A provider configuration file (config).
    Providers,
    /// Memory fixtures (memory, config).
    Fixtures,
    /// A variables file (CLI `--vars-file`).
    Vars,
    /// A JSON tenants file (CLI fleet runs).
    TenantsJson,
    /// A CSV tenants file (CLI fleet runs).
    TenantsCsv,
}

impl Kind {
    /// The seed documents of this kind, as values.
    pub fn seeds(self) -> Vec<Value> {
        match self {
            Kind::Blueprint => vec![example("blueprint.yaml"), small_blueprint()],
            Kind::Providers => vec![providers()],
            Kind::Fixtures => vec![example("memory-fixtures.yaml"), fixtures()],
            Kind::Vars => vec![json!({
                "size": "large", "replicas": 2, "domain": "corp.test",
                "smtp_password": SECRET_MARKER, "flags": {"beta": true}
            })],
            Kind::TenantsJson => vec![json!([
                {"name": "acme", "size": "small", "api_token": SECRET_MARKER},
                {"name": "globex", "vars": {"size": "large", "domain": "globex.test"}}
            ])],
            Kind::TenantsCsv => Vec::new(),
        }
    }
}

/// The CSV tenants seed.
pub const TENANTS_CSV: &str = "name,domain,size,password\nacme,acme.test,,S3cr3tMarker-do-not-print\nglobex, example.org ,large,\n";

/// The repository's examples directory.
pub fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/launch-tenant")
}

fn example(file: &str) -> Value {
    provisio_loader::load_file(examples_dir().join(file), &Limits::default())
        .unwrap_or_else(|e| panic!("example {file}: {e}"))
}

fn small_blueprint() -> Value {
    json!({
        "name": "small",
        "variables": {
            "domain": {"default": "example.com"},
            "db_password": {"secret": true, "description": "handed over by the Automator"}
        },
        "resources": {
            "web": {"type": "compute.instance",
                    "params": {"name": "${tenant.name}-web", "image": "img-1", "size": "small"},
                    "retry": {"max_attempts": 3}, "timeout_secs": 60},
            "www": {"type": "dns.record", "depends_on": ["web"],
                    "params": {"zone": "${tenant.domain}", "name": "${tenant.name}.${tenant.domain}",
                               "type": "A", "content": "${web.public_ip}", "ttl": 300}},
            "bucket": {"type": "storage.bucket", "protect": true,
                       "params": {"name": "${tenant.name}-assets", "versioning": true}},
            "secret": {"type": "secrets.secret",
                       "params": {"name": "${tenant.name}-db", "from_var": "db_password"}}
        }
    })
}

/// A blueprint holding one resource of every built-in type, with literal parameters (so that
/// the name rules and ranges of the types' second pass run at load time too), and the
/// variants that choose between fields (`files` or `copy_from`, `generate` or `from_var`).
pub fn typed_blueprint() -> Value {
    json!({
        "name": "typed",
        "variables": {"smtp_password": {"secret": true}},
        "resources": {
            "dns": {"type": "dns.record", "params": {"zone": "example.com", "name": "www",
                    "type": "MX", "content": "mail.example.com", "ttl": 300, "priority": 10}},
            "cdn": {"type": "dns.record", "params": {"zone": "example.com", "name": "cdn",
                    "type": "CNAME", "content": "edge.example.net", "proxied": true}},
            "bucket": {"type": "storage.bucket", "params": {"name": "acme-assets",
                       "versioning": true, "archive_after_days": 90, "block_public_access": "true"}},
            "files": {"type": "storage.objects", "params": {"bucket": "acme-assets",
                      "prefix": "tenants/acme/", "files": {"README.txt": "hello", "conf/app.yml": "a: 1"}}},
            "copy": {"type": "storage.objects", "params": {"bucket": "acme-assets", "prefix": "p/",
                     "copy_from": {"bucket": "template-assets", "prefix": "v3/"}}},
            "web": {"type": "compute.instance", "params": {"name": "acme-web", "image": "img-1",
                    "size": "small", "user_data": "#!/bin/sh\n", "tags": {"team": "platform"},
                    "wait_for": "running", "wait_timeout_secs": "600"}},
            "folder": {"type": "ci.folder", "params": {"path": "tenants/acme"}},
            "job": {"type": "ci.job", "params": {"path": "tenants/acme/build",
                    "config_xml": "<project><builders/></project>"}},
            "umbrella": {"type": "ci.downstream", "params": {"job": "umbrella/build-all",
                         "downstream": "tenants/acme/build"}},
            "generated": {"type": "secrets.secret", "params": {"name": "acme-db",
                          "generate": {"length": 40, "alphabet": "abcdef0123456789"}, "recovery_days": 7}},
            "handed": {"type": "secrets.secret", "params": {"name": "acme-smtp",
                       "from_var": "smtp_password"}},
            "server": {"type": "database.server", "params": {"name": "acme-db", "version": 16,
                       "size": "db.t3.micro", "storage_gb": 20, "admin_user": "provisio_admin",
                       "admin_password_secret": "acme-db", "deletion_protection": false,
                       "skip_final_snapshot": true, "wait_timeout_secs": 60}},
            "role": {"type": "database.role", "params": {"name": "acme", "password_secret": "acme-db",
                     "secrets_provider": "default"}},
            "database": {"type": "database.database", "params": {"name": "acme", "owner": "acme"}},
            "seed": {"type": "database.seed", "params": {"database": "acme", "id": "initial-data",
                     "sql": "SELECT 1"}},
            "branch": {"type": "repo.branch", "params": {"name": "acme", "base": "main"}},
            "config": {"type": "repo.files", "params": {"branch": "acme", "message": "Configure acme",
                       "files": {"config.yml": "a: 1"},
                       "author": {"name": "Automator", "email": "automator@example.com"}}},
            "mail": {"type": "mail.identity", "params": {"name": "acme.example.com"}}
        }
    })
}

fn providers() -> Value {
    json!({
        "fallback": "memory",
        "memory": {"seed": 7, "persist": "world.json", "fixtures": "fixtures.yaml"},
        "providers": {
            "dns": {"default": {"kind": "memory"}},
            "repo": {"default": {"kind": "git", "url": "ssh://git@git.internal/ops/cfg.git",
                                 "cache_dir": ".provisio/git"}},
            "database": {"main": {"kind": "postgres", "url": "postgres://app@db/app",
                                  "password": SECRET_MARKER}}
        }
    })
}

fn fixtures() -> Value {
    json!({
        "dns": {"zones": [{"name": "example.com",
                           "records": [{"name": "www", "type": "A", "content": "192.0.2.1", "ttl": 300}]}]},
        "storage": {"buckets": [{"name": "shared-assets", "versioning": true,
                                 "objects": {"a.txt": "a", "b.bin": {"base64": "AP8=", "content_type": "application/octet-stream"}}}],
                    "foreign_buckets": ["someone-elses"]},
        "compute": {"instances": [{"name": "bastion", "image": "img-1", "size": "small"}]},
        "ci": {"folders": ["umbrella"], "jobs": {"umbrella/core_build-stg": "<project/>"}},
        "secrets": {"shared-smtp-password": SECRET_MARKER},
        "database": {"servers": [{"name": "db-1", "admin_password": SECRET_MARKER}],
                     "roles": {"app": {"password": SECRET_MARKER}},
                     "databases": {"app_db": {"owner": "app"}}},
        "repo": {"branches": {"main": {"README.md": "# configs\n"}}},
        "mail": {"identities": [{"name": "example.com", "verified": true}]}
    })
}

/// `value` written in `format`; `None` when the format cannot hold it (TOML has no null and
/// no top-level array).
pub fn render(value: &Value, format: Format) -> Option<String> {
    match format {
        Format::Json => serde_json::to_string_pretty(value).ok(),
        Format::Yaml => serde_saphyr::to_string(value).ok(),
        Format::Toml => toml::to_string(value).ok(),
    }
}
