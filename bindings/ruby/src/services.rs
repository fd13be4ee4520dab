//! The capability objects (`Provisio::Dns`, `Storage`, `Compute`, `Ci`, `Secrets`, `Database`,
//! `Repo`, `Mail`). Each has one native entry point, `__call(operation, args)`, that the Ruby
//! side (`lib/provisio/services.rb`) calls from methods with keyword arguments: Ruby checks
//! the argument names, this file their types, then runs the operation on the shared runtime
//! with the GVL released.

use crate::convert::{Args, bytes_to_ruby, from_json, secret_to_ruby};
use crate::errors::guard;
use crate::runtime::{Output, Task};
use magnus::value::ReprValue;
use magnus::{Error, RHash, Ruby, Value};
use provisio::ci::BuildRef;
use provisio::compute::{InstanceSpec, InstanceState};
use provisio::database::{DatabaseSpec, DeleteServer, RoleSpec, SeedSpec, ServerSpec};
use provisio::dns::{RecordSpec, RecordType, Zone};
use provisio::repo::{Author, CommitSpec};
use provisio::storage::BucketSpec;
use provisio::types::Confirm;
use provisio::{
    Bytes, CiServer, Compute as ComputeTrait, Database as DatabaseTrait, DnsProvider,
    Mail as MailTrait, ObjectStorage, PageRequest, Repository, SecretStore,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Defines a capability class: its wrapper struct, `info`, `capabilities` and `__call`.
macro_rules! service {
    ($(#[doc = $doc:literal])* $name:ident, $class:literal, $trait_:path, $dispatch:ident) => {
        $(#[doc = $doc])*
        #[magnus::wrap(class = $class, free_immediately, size)]
        pub(crate) struct $name {
            pub(crate) inner: Arc<dyn $trait_>,
        }

        impl $name {
            /// Who this provider is: `{name:, account:, quota:}`.
            fn info(ruby: &Ruby, rb_self: &Self) -> Result<Value, Error> {
                crate::convert::to_ruby(ruby, &serde_json::to_value(rb_self.inner.info()).unwrap_or_default())
            }

            /// What this provider supports.
            fn capabilities(ruby: &Ruby, rb_self: &Self) -> Result<Value, Error> {
                crate::convert::to_ruby(ruby, &serde_json::to_value(rb_self.inner.capabilities()).unwrap_or_default())
            }

            /// Runs `operation` with `args` (a Symbol-keyed Hash of its arguments).
            fn call(ruby: &Ruby, rb_self: &Self, operation: String, args: RHash) -> Result<Value, Error> {
                guard(ruby, || {
                    let args = Args::new(ruby, args);
                    let task = $dispatch(ruby, &rb_self.inner, &operation, &args)?;
                    task.wait(ruby)
                })
            }

            /// Defines the class and its methods.
            pub(crate) fn define(ruby: &Ruby, module: magnus::RModule) -> Result<(), Error> {
                use magnus::prelude::*;
                let short = $class.rsplit("::").next().unwrap_or($class);
                let class = module.define_class(short, ruby.class_object())?;
                class.define_method("info", magnus::method!($name::info, 0))?;
                class.define_method("capabilities", magnus::method!($name::capabilities, 0))?;
                class.define_private_method("__call", magnus::method!($name::call, 2))?;
                Ok(())
            }
        }
    };
}

/// `ArgumentError` for an operation the class does not have.
fn unknown(ruby: &Ruby, op: &str) -> Error {
    Error::new(
        ruby.exception_arg_error(),
        format!("unknown operation {op}"),
    )
}

/// The `token:`/`limit:` arguments of a list operation.
fn page(args: &Args<'_>) -> Result<PageRequest, Error> {
    Ok(PageRequest {
        token: args.get("token")?,
        limit: args.get("limit")?,
    })
}

service!(
    /// A DNS provider.
    Dns, "Provisio::Dns", DnsProvider, dns_op
);
service!(
    /// An object storage provider.
    Storage, "Provisio::Storage", ObjectStorage, storage_op
);
service!(
    /// A compute provider.
    Compute, "Provisio::Compute", ComputeTrait, compute_op
);
service!(
    /// A CI server.
    Ci, "Provisio::Ci", CiServer, ci_op
);
service!(
    /// A secret store.
    Secrets, "Provisio::Secrets", SecretStore, secrets_op
);
service!(
    /// A database provider.
    Database, "Provisio::Database", DatabaseTrait, database_op
);
service!(
    /// A git repository.
    Repo, "Provisio::Repo", Repository, repo_op
);
service!(
    /// A mail-sending provider.
    Mail, "Provisio::Mail", MailTrait, mail_op
);

/// A zone argument: its name (looked up) or a zone Hash as `find_zone` returns it.
enum ZoneArg {
    Name(String),
    Zone(Zone),
}

/// The `zone` argument: a name or a zone Hash.
fn zone_arg(ruby: &Ruby, args: &Args<'_>) -> Result<ZoneArg, Error> {
    match args.json("zone")? {
        serde_json::Value::String(name) => Ok(ZoneArg::Name(name)),
        other => Ok(ZoneArg::Zone(from_json(ruby, "zone", other)?)),
    }
}

/// The zone of a zone argument (looked up by name when needed).
async fn resolve(dns: &Arc<dyn DnsProvider>, zone: ZoneArg) -> provisio::Result<Zone> {
    match zone {
        ZoneArg::Zone(z) => Ok(z),
        ZoneArg::Name(name) => dns.find_zone(&name).await?.ok_or_else(|| {
            provisio::Error::not_found(format!("zone {name:?} does not exist"))
                .with_provider(dns.info().name)
                .with_operation("dns.find_zone")
                .with_resource(name)
        }),
    }
}

/// The task of a `Provisio::Dns` operation.
fn dns_op(ruby: &Ruby, dns: &Arc<dyn DnsProvider>, op: &str, a: &Args<'_>) -> Result<Task, Error> {
    let d = dns.clone();
    Ok(match op {
        "find_zone" => {
            let name: String = a.get("name")?;
            Task::json(async move { d.find_zone(&name).await })
        }
        "list_records" => {
            let (zone, page) = (zone_arg(ruby, a)?, page(a)?);
            Task::json(async move {
                let zone = resolve(&d, zone).await?;
                d.list_records(&zone, &page).await
            })
        }
        "get_record" | "delete_record" => {
            let zone = zone_arg(ruby, a)?;
            let name: String = a.get("name")?;
            let rtype = RecordType::parse(&a.get::<String>("type")?);
            if op == "get_record" {
                Task::json(async move {
                    let zone = resolve(&d, zone).await?;
                    d.get_record(&zone, &name, &rtype).await
                })
            } else {
                Task::json(async move {
                    let zone = resolve(&d, zone).await?;
                    d.delete_record(&zone, &name, &rtype).await
                })
            }
        }
        "ensure_record" => {
            let zone = zone_arg(ruby, a)?;
            let spec: RecordSpec = from_json(
                ruby,
                "record",
                json!({
                    "name": a.get::<String>("name")?, "type": a.get::<String>("type")?,
                    "content": a.get::<String>("content")?, "ttl": a.get::<u32>("ttl")?,
                    "proxied": a.get::<Option<bool>>("proxied")?,
                    "priority": a.get::<Option<u16>>("priority")?,
                }),
            )?;
            Task::json(async move {
                let zone = resolve(&d, zone).await?;
                d.ensure_record(&zone, &spec).await
            })
        }
        _ => return Err(unknown(ruby, op)),
    })
}

/// The task of a `Provisio::Storage` operation.
fn storage_op(
    ruby: &Ruby,
    s: &Arc<dyn ObjectStorage>,
    op: &str,
    a: &Args<'_>,
) -> Result<Task, Error> {
    let s = s.clone();
    Ok(match op {
        "ensure_bucket" => {
            let spec: BucketSpec = from_json(
                ruby,
                "bucket",
                json!({
                    "name": a.get::<String>("name")?, "versioning": a.get::<bool>("versioning")?,
                    "archive_after_days": a.get::<Option<u32>>("archive_after_days")?,
                    "block_public_access": a.get::<bool>("block_public_access")?,
                    "tags": a.tags("tags")?,
                }),
            )?;
            Task::json(async move { s.ensure_bucket(&spec).await })
        }
        "get_bucket" => {
            let name: String = a.get("name")?;
            Task::json(async move { s.get_bucket(&name).await })
        }
        "delete_bucket" => {
            let name: String = a.get("name")?;
            Task::json(async move { s.delete_bucket(&name).await })
        }
        "put_object" => {
            let (bucket, key): (String, String) = (a.get("bucket")?, a.get("key")?);
            let body = a.bytes("body")?;
            let content_type: Option<String> = a.get("content_type")?;
            Task::json(async move {
                s.put_object(&bucket, &key, body, content_type.as_deref())
                    .await
            })
        }
        "get_object" => {
            let (bucket, key): (String, String) = (a.get("bucket")?, a.get("key")?);
            Task::custom(async move {
                let (body, meta) = s.get_object(&bucket, &key).await?;
                let meta = crate::convert::json(&meta)?;
                Ok(Box::new(move |ruby: &Ruby| {
                    let pair = ruby.ary_new();
                    pair.push(bytes_to_ruby(ruby, &body))?;
                    pair.push(crate::convert::to_ruby(ruby, &meta)?)?;
                    pair.freeze();
                    Ok(pair.as_value())
                }) as Output)
            })
        }
        "head_object" => {
            let (bucket, key): (String, String) = (a.get("bucket")?, a.get("key")?);
            Task::json(async move { s.head_object(&bucket, &key).await })
        }
        "list_objects" => {
            let (bucket, prefix): (String, String) = (a.get("bucket")?, a.get("prefix")?);
            let page = page(a)?;
            Task::json(async move { s.list_objects(&bucket, &prefix, &page).await })
        }
        "delete_object" => {
            let (bucket, key): (String, String) = (a.get("bucket")?, a.get("key")?);
            Task::json(async move { s.delete_object(&bucket, &key).await })
        }
        "copy_prefix" => {
            let (sb, sp): (String, String) = (a.get("src_bucket")?, a.get("src_prefix")?);
            let (db, dp): (String, String) = (a.get("dst_bucket")?, a.get("dst_prefix")?);
            Task::json(async move { s.copy_prefix(&sb, &sp, &db, &dp).await })
        }
        "delete_prefix" => {
            let (bucket, prefix): (String, String) = (a.get("bucket")?, a.get("prefix")?);
            Task::json(async move { s.delete_prefix(&bucket, &prefix).await })
        }
        "set_storage_class" => {
            let (bucket, key): (String, String) = (a.get("bucket")?, a.get("key")?);
            let class: String = a.get("storage_class")?;
            Task::json(async move {
                let class = provisio::storage::StorageClass::parse("storage_class", &class)?;
                s.set_storage_class(&bucket, &key, class).await
            })
        }
        "set_prefix_storage_class" => {
            let (bucket, prefix): (String, String) = (a.get("bucket")?, a.get("prefix")?);
            let class: String = a.get("storage_class")?;
            Task::json(async move {
                let class = provisio::storage::StorageClass::parse("storage_class", &class)?;
                s.set_prefix_storage_class(&bucket, &prefix, class).await
            })
        }
        "ensure_expiry_rule" => {
            let (bucket, prefix): (String, String) = (a.get("bucket")?, a.get("prefix")?);
            let days: u32 = a.get("days")?;
            Task::json(async move { s.ensure_expiry_rule(&bucket, &prefix, days).await })
        }
        "get_expiry_rule" => {
            let (bucket, prefix): (String, String) = (a.get("bucket")?, a.get("prefix")?);
            Task::json(async move { s.get_expiry_rule(&bucket, &prefix).await })
        }
        "delete_expiry_rule" => {
            let (bucket, prefix): (String, String) = (a.get("bucket")?, a.get("prefix")?);
            Task::json(async move { s.delete_expiry_rule(&bucket, &prefix).await })
        }
        _ => return Err(unknown(ruby, op)),
    })
}

/// The task of a `Provisio::Compute` operation.
fn compute_op(
    ruby: &Ruby,
    c: &Arc<dyn ComputeTrait>,
    op: &str,
    a: &Args<'_>,
) -> Result<Task, Error> {
    let c = c.clone();
    Ok(match op {
        "launch_instance" => {
            let spec: InstanceSpec = from_json(
                ruby,
                "instance",
                json!({
                    "name": a.get::<String>("name")?, "image": a.get::<String>("image")?,
                    "size": a.get::<String>("size")?,
                    "idempotency_key": a.get::<String>("idempotency_key")?,
                    "tags": a.tags("tags")?, "user_data": a.get::<Option<String>>("user_data")?,
                }),
            )?;
            Task::json(async move { c.launch_instance(&spec).await })
        }
        "get_instance" => {
            let id: String = a.get("id")?;
            Task::json(async move { c.get_instance(&id).await })
        }
        "find_instances" => {
            let tags = a.tags("tags")?;
            Task::json(async move { c.find_instances(&tags).await })
        }
        "wait_for_state" => {
            let id: String = a.get("id")?;
            let state: InstanceState = a.get("state")?;
            let timeout = a.seconds("timeout")?;
            Task::json(async move { c.wait_for_state(&id, state, timeout).await })
        }
        "terminate_instance" => {
            let id: String = a.get("id")?;
            Task::json(async move { c.terminate_instance(&id).await })
        }
        "stop_instance" => {
            let id: String = a.get("id")?;
            Task::json(async move { c.stop_instance(&id).await })
        }
        "start_instance" => {
            let id: String = a.get("id")?;
            Task::json(async move { c.start_instance(&id).await })
        }
        _ => return Err(unknown(ruby, op)),
    })
}

/// The task of a `Provisio::Ci` operation.
fn ci_op(ruby: &Ruby, c: &Arc<dyn CiServer>, op: &str, a: &Args<'_>) -> Result<Task, Error> {
    let c = c.clone();
    Ok(match op {
        "ensure_folder" => {
            let path: String = a.get("path")?;
            Task::json(async move { c.ensure_folder(&path).await })
        }
        "ensure_job" => {
            let (path, xml): (String, String) = (a.get("path")?, a.get("config_xml")?);
            Task::json(async move { c.ensure_job(&path, &xml).await })
        }
        "get_job_config" => {
            let path: String = a.get("path")?;
            Task::json(async move { c.get_job_config(&path).await })
        }
        "downstream_jobs" => {
            let path: String = a.get("path")?;
            Task::json(async move { c.downstream_jobs(&path).await })
        }
        "add_downstream" => {
            let (path, down): (String, String) = (a.get("path")?, a.get("downstream")?);
            Task::json(async move { c.add_downstream(&path, &down).await })
        }
        "remove_downstream" => {
            let (path, down): (String, String) = (a.get("path")?, a.get("downstream")?);
            Task::json(async move { c.remove_downstream(&path, &down).await })
        }
        "delete_job" => {
            let path: String = a.get("path")?;
            Task::json(async move { c.delete_job(&path).await })
        }
        "trigger_build" => {
            let path: String = a.get("path")?;
            let params: Option<BTreeMap<String, String>> = a.get("parameters")?;
            let params = params.unwrap_or_default();
            Task::json(async move { c.trigger_build(&path, &params).await })
        }
        "wait_for_build" => {
            let build: BuildRef = a.get("build")?;
            let timeout = a.seconds("timeout")?;
            Task::json(async move { c.wait_for_build(&build, timeout).await })
        }
        _ => return Err(unknown(ruby, op)),
    })
}

/// The task of a `Provisio::Secrets` operation.
fn secrets_op(
    ruby: &Ruby,
    s: &Arc<dyn SecretStore>,
    op: &str,
    a: &Args<'_>,
) -> Result<Task, Error> {
    let s = s.clone();
    Ok(match op {
        "put_secret" => {
            let name: String = a.get("name")?;
            let value = a.secret("value")?;
            let tags = a.tags("tags")?;
            Task::json(async move { s.put_secret(&name, &value, &tags).await })
        }
        "get_secret" => {
            let name: String = a.get("name")?;
            Task::custom(async move {
                let v = s.get_secret(&name).await?;
                Ok(Box::new(move |ruby: &Ruby| {
                    let h = ruby.hash_new();
                    h.aset(ruby.to_symbol("value"), secret_to_ruby(ruby, &v.value)?)?;
                    let version = ruby.str_new(&v.version);
                    version.freeze();
                    h.aset(ruby.to_symbol("version"), version)?;
                    h.freeze();
                    Ok(h.as_value())
                }) as Output)
            })
        }
        "describe_secret" => {
            let name: String = a.get("name")?;
            Task::json(async move { s.describe_secret(&name).await })
        }
        "list_secrets" => {
            let prefix: String = a.get("prefix")?;
            let page = page(a)?;
            Task::json(async move { s.list_secrets(&prefix, &page).await })
        }
        "delete_secret" => {
            let name: String = a.get("name")?;
            let days: u32 = a.get("recovery_days")?;
            Task::json(async move { s.delete_secret(&name, days).await })
        }
        "recover_secret" => {
            let name: String = a.get("name")?;
            Task::json(async move { s.recover_secret(&name).await })
        }
        "purge_secret" => {
            let (name, confirm): (String, String) = (a.get("name")?, a.get("confirm")?);
            Task::json(async move { s.purge_secret(&name, &Confirm::named(confirm)).await })
        }
        _ => return Err(unknown(ruby, op)),
    })
}

/// The task of a `Provisio::Database` operation.
fn database_op(
    ruby: &Ruby,
    d: &Arc<dyn DatabaseTrait>,
    op: &str,
    a: &Args<'_>,
) -> Result<Task, Error> {
    let d = d.clone();
    Ok(match op {
        "ensure_server" => {
            let spec = ServerSpec {
                name: a.get("name")?,
                engine: a.get("engine")?,
                version: a.get("version")?,
                size: a.get("size")?,
                storage_gb: a.get("storage_gb")?,
                admin_user: a.get("admin_user")?,
                admin_password: a.secret("admin_password")?,
                deletion_protection: a.get("deletion_protection")?,
                tags: a.tags("tags")?,
                // not exposed here yet: a server restored from a snapshot is the engine's job
                restore_from_snapshot: None,
            };
            Task::json(async move { d.ensure_server(&spec).await })
        }
        "get_server" => {
            let name: String = a.get("name")?;
            Task::json(async move { d.get_server(&name).await })
        }
        "wait_for_server" => {
            let name: String = a.get("name")?;
            let timeout = a.seconds("timeout")?;
            Task::json(async move { d.wait_for_server(&name, timeout).await })
        }
        "delete_server" => {
            let name: String = a.get("name")?;
            let options = DeleteServer {
                final_snapshot: a.get("final_snapshot")?,
                skip_final_snapshot: a.get("skip_final_snapshot")?,
                override_protection: a
                    .get::<Option<String>>("override_protection")?
                    .map(Confirm::named),
            };
            Task::json(async move { d.delete_server(&name, &options).await })
        }
        "ensure_role" => {
            let spec = RoleSpec {
                name: a.get("name")?,
                password: a.secret("password")?,
            };
            Task::json(async move { d.ensure_role(&spec).await })
        }
        "ensure_database" => {
            let spec: DatabaseSpec = from_json(
                ruby,
                "database",
                json!({"name": a.get::<String>("name")?, "owner": a.get::<String>("owner")?}),
            )?;
            Task::json(async move { d.ensure_database(&spec).await })
        }
        "apply_seed" => {
            let spec = SeedSpec {
                database: a.get("database")?,
                id: a.get("id")?,
                sql: a.get("sql")?,
            };
            Task::json(async move { d.apply_seed(&spec).await })
        }
        "database_exists" => {
            let name: String = a.get("name")?;
            Task::json(async move { d.database_exists(&name).await })
        }
        "role_exists" => {
            let name: String = a.get("name")?;
            Task::json(async move { d.role_exists(&name).await })
        }
        "drop_database" => {
            let (name, confirm): (String, String) = (a.get("name")?, a.get("confirm")?);
            Task::json(async move { d.drop_database(&name, &Confirm::named(confirm)).await })
        }
        "drop_role" => {
            let (name, confirm): (String, String) = (a.get("name")?, a.get("confirm")?);
            Task::json(async move { d.drop_role(&name, &Confirm::named(confirm)).await })
        }
        "dump_to_storage" => {
            let s = storage_arg(ruby, a)?;
            let (name, bucket, key): (String, String, String) =
                (a.get("name")?, a.get("bucket")?, a.get("key")?);
            Task::json(async move {
                provisio::archive::dump_to_storage(d.as_ref(), s.as_ref(), &name, &bucket, &key)
                    .await
            })
        }
        "restore_from_storage" => {
            let s = storage_arg(ruby, a)?;
            let spec = DatabaseSpec {
                name: a.get("name")?,
                owner: a.get("owner")?,
            };
            let (bucket, key): (String, String) = (a.get("bucket")?, a.get("key")?);
            let expected = provisio::archive::Expected {
                size: a.get("size")?,
                sha256: a.get("sha256")?,
            };
            Task::json(async move {
                provisio::archive::restore_from_storage(
                    d.as_ref(),
                    s.as_ref(),
                    &spec,
                    &bucket,
                    &key,
                    &expected,
                )
                .await
            })
        }
        _ => return Err(unknown(ruby, op)),
    })
}

/// The `storage:` argument: a `Provisio::Storage`; `TypeError` otherwise.
fn storage_arg(ruby: &Ruby, a: &Args<'_>) -> Result<Arc<dyn ObjectStorage>, Error> {
    use magnus::TryConvert;
    magnus::typed_data::Obj::<Storage>::try_convert(a.raw("storage"))
        .map(|s| s.inner.clone())
        .map_err(|_| {
            Error::new(
                ruby.exception_type_error(),
                "storage: expected a Provisio::Storage",
            )
        })
}

/// The task of a `Provisio::Repo` operation.
fn repo_op(ruby: &Ruby, r: &Arc<dyn Repository>, op: &str, a: &Args<'_>) -> Result<Task, Error> {
    let r = r.clone();
    Ok(match op {
        "ensure_branch" => {
            let (name, base): (String, String) = (a.get("name")?, a.get("base")?);
            Task::json(async move { r.ensure_branch(&name, &base).await })
        }
        "get_branch" => {
            let name: String = a.get("name")?;
            Task::json(async move { r.get_branch(&name).await })
        }
        "read_file" => {
            let (branch, path): (String, String) = (a.get("branch")?, a.get("path")?);
            Task::custom(async move {
                let body = r.read_file(&branch, &path).await?;
                Ok(Box::new(move |ruby: &Ruby| {
                    Ok(match body {
                        Some(b) => bytes_to_ruby(ruby, &b),
                        None => ruby.qnil().as_value(),
                    })
                }) as Output)
            })
        }
        "write_files" => {
            let files = RHash::from_value(a.raw("files")).ok_or_else(|| {
                Error::new(
                    ruby.exception_type_error(),
                    "files: expected a Hash of path => String",
                )
            })?;
            let mut contents = BTreeMap::<String, Bytes>::new();
            files.foreach(|k: Value, v: Value| {
                let key = crate::convert::from_ruby(ruby, "files", k)?;
                let Some(key) = key.as_str().map(str::to_string) else {
                    return Err(Error::new(
                        ruby.exception_type_error(),
                        "files: paths must be Strings",
                    ));
                };
                let body = crate::convert::bytes_from_ruby(ruby, &format!("files[{key:?}]"), v)?;
                contents.insert(key, body);
                Ok(magnus::r_hash::ForEach::Continue)
            })?;
            let author: Author = from_json(
                ruby,
                "author",
                json!({"name": a.get::<String>("author_name")?, "email": a.get::<String>("author_email")?}),
            )?;
            let spec = CommitSpec {
                branch: a.get("branch")?,
                files: contents,
                message: a.get("message")?,
                author,
            };
            Task::json(async move { r.write_files(&spec).await })
        }
        "delete_branch" => {
            let name: String = a.get("name")?;
            Task::json(async move { r.delete_branch(&name).await })
        }
        _ => return Err(unknown(ruby, op)),
    })
}

/// The task of a `Provisio::Mail` operation.
fn mail_op(ruby: &Ruby, m: &Arc<dyn MailTrait>, op: &str, a: &Args<'_>) -> Result<Task, Error> {
    let m = m.clone();
    Ok(match op {
        "ensure_identity" => {
            let name: String = a.get("name")?;
            let tags = a.tags("tags")?;
            Task::json(async move { m.ensure_identity(&name, &tags).await })
        }
        "get_identity" => {
            let name: String = a.get("name")?;
            Task::json(async move { m.get_identity(&name).await })
        }
        "delete_identity" => {
            let name: String = a.get("name")?;
            Task::json(async move { m.delete_identity(&name).await })
        }
        _ => return Err(unknown(ruby, op)),
    })
}
