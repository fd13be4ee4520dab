//! Conformance cases for [`Database`].
//!
//! A database provider implements managed servers, or roles/databases/seeds, or both; which
//! cases apply follows from its [`DatabaseCapabilities`]. A case for the half the provider does
//! not implement checks that its operations are `Unsupported` instead.

use crate::{Tracker, expect_invalid, expect_kind, expect_unsupported, first_error, guarded};
use provisio::database::{
    DatabaseCapabilities, DatabaseSpec, DeleteServer, RoleSpec, SeedSpec, ServerSpec,
};
use provisio::{Confirm, Database, Deleted, ErrorKind, Outcome, Result, SecretString, Tags};
use std::time::{Duration, Instant};

/// What the database cases need from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseContext {
    /// The engine for managed servers (`postgres`).
    pub engine: String,
    /// The engine's major version for managed servers (`16`).
    pub version: String,
    /// The server size (`db.t3.micro`).
    pub size: String,
    /// The allocated storage in GiB.
    pub storage_gb: u32,
    /// How long to wait for a new managed server to become `available` before changing it.
    pub wait_timeout: Duration,
}

impl Default for DatabaseContext {
    /// A small PostgreSQL 16 server (what moto and RDS accept).
    fn default() -> Self {
        DatabaseContext {
            engine: "postgres".into(),
            version: "16".into(),
            size: "db.t3.micro".into(),
            storage_gb: 20,
            wait_timeout: Duration::from_secs(900),
        }
    }
}

/// Every database case by name.
pub const CASES: &[crate::Case<dyn Database, DatabaseContext>] =
    crate::database_conformance!(@table);

/// Generates one `#[test]` per database case; see the [crate documentation](crate).
///
/// ```ignore
/// provisio_testkit::database_conformance! {
///     provider: my_postgres(),
///     context: provisio_testkit::database::DatabaseContext::default(),
/// }
/// ```
#[macro_export]
macro_rules! database_conformance {
    (@table) => { $crate::database_conformance!(@cases @table) };
    (@cases $($how:tt)*) => {
        $crate::__conformance! { $($how)* database [
            role_and_database_happy_path,
            database_owner_update,
            seed_applies_once,
            drop_requires_matching_confirm,
            not_found,
            invalid_names,
            server_happy_path,
            server_update_and_protection,
            capability_honesty,
            dump_restore_round_trip,
            snapshot_and_restore,
        ] }
    };
    ($($setup:tt)*) => { $crate::database_conformance!(@cases @tests { $($setup)* }); };
}

fn ident(kind: &str) -> String {
    // PostgreSQL folds unquoted names to lower case; provisio quotes, but lower case keeps the
    // names easy to use from psql when debugging a failed run.
    crate::unique(kind)
}

fn password() -> SecretString {
    SecretString::new(format!("pw-{}-Aa1!", crate::run_id()))
}

/// Checks that a provider without roles and databases refuses them, and says whether the
/// roles-and-databases cases apply.
async fn roles_supported(db: &dyn Database) -> Result<bool> {
    let caps = db.capabilities();
    if caps.roles_and_databases {
        return Ok(true);
    }
    let role = RoleSpec {
        name: ident("role"),
        password: password(),
    };
    expect_unsupported(db.ensure_role(&role).await, "ensure_role");
    Ok(false)
}

/// Checks that a provider without managed servers refuses them, and says whether the server
/// cases apply.
async fn servers_supported(db: &dyn Database) -> Result<bool> {
    if db.capabilities().servers {
        return Ok(true);
    }
    expect_unsupported(db.get_server(&ident("srv")).await, "get_server");
    Ok(false)
}

/// Drops tracked databases (`db:<name>`) and then roles (`role:<name>`).
async fn drop_all(db: &dyn Database, made: &Tracker) -> Result<()> {
    let all = made.all();
    let mut results = Vec::new();
    for item in all.iter().rev() {
        if let Some(name) = item.strip_prefix("db:") {
            results.push(
                db.drop_database(name, &Confirm::named(name))
                    .await
                    .map(|_| ()),
            );
        }
    }
    for item in all.iter().rev() {
        if let Some(name) = item.strip_prefix("role:") {
            results.push(db.drop_role(name, &Confirm::named(name)).await.map(|_| ()));
        }
    }
    first_error(results)
}

async fn new_role(db: &dyn Database, made: &Tracker) -> Result<String> {
    let name = ident("role");
    made.add(format!("role:{name}"));
    let r = db
        .ensure_role(&RoleSpec {
            name: name.clone(),
            password: password(),
        })
        .await?;
    assert_eq!(r.outcome, Outcome::Created, "ensure_role of a new role");
    assert_eq!(r.value, name, "ensure_role returns the role's name");
    Ok(name)
}

async fn new_database(db: &dyn Database, made: &Tracker, owner: &str) -> Result<String> {
    let name = ident("db");
    made.add(format!("db:{name}"));
    let d = db
        .ensure_database(&DatabaseSpec {
            name: name.clone(),
            owner: owner.to_string(),
        })
        .await?;
    assert_eq!(
        d.outcome,
        Outcome::Created,
        "ensure_database of a new database"
    );
    assert_eq!(d.value, name, "ensure_database returns the database's name");
    Ok(name)
}

/// Creates a role and a database it owns, ensures both again (no `Created` the second time),
/// and drops them: `Deleted`, then `AlreadyGone`.
pub async fn role_and_database_happy_path(db: &dyn Database, _ctx: &DatabaseContext) -> Result<()> {
    if !roles_supported(db).await? {
        return Ok(());
    }
    let made = Tracker::default();
    guarded(
        async {
            let role = new_role(db, &made).await?;
            assert!(
                db.role_exists(&role).await?,
                "role_exists after ensure_role"
            );
            let again = db
                .ensure_role(&RoleSpec {
                    name: role.clone(),
                    password: password(),
                })
                .await?;
            assert_ne!(
                again.outcome,
                Outcome::Created,
                "ensure_role of an existing role"
            );

            let name = new_database(db, &made, &role).await?;
            assert!(
                db.database_exists(&name).await?,
                "database_exists after ensure_database"
            );
            let spec = DatabaseSpec {
                name: name.clone(),
                owner: role.clone(),
            };
            let again = db.ensure_database(&spec).await?;
            assert_eq!(
                again.outcome,
                Outcome::Unchanged,
                "ensure_database with the same owner"
            );

            let dropped = db.drop_database(&name, &Confirm::named(&name)).await?;
            assert_eq!(dropped, Deleted::Deleted, "drop_database");
            assert!(
                !db.database_exists(&name).await?,
                "database_exists after drop_database"
            );
            let dropped = db.drop_database(&name, &Confirm::named(&name)).await?;
            assert_eq!(dropped, Deleted::AlreadyGone, "second drop_database");

            let dropped = db.drop_role(&role, &Confirm::named(&role)).await?;
            assert_eq!(dropped, Deleted::Deleted, "drop_role");
            assert!(!db.role_exists(&role).await?, "role_exists after drop_role");
            let dropped = db.drop_role(&role, &Confirm::named(&role)).await?;
            assert_eq!(dropped, Deleted::AlreadyGone, "second drop_role");
            Ok(())
        },
        drop_all(db, &made),
    )
    .await
}

/// Ensuring a database with another owner is `Updated`.
pub async fn database_owner_update(db: &dyn Database, _ctx: &DatabaseContext) -> Result<()> {
    if !roles_supported(db).await? {
        return Ok(());
    }
    let made = Tracker::default();
    guarded(
        async {
            let first = new_role(db, &made).await?;
            let second = new_role(db, &made).await?;
            let name = new_database(db, &made, &first).await?;
            let spec = DatabaseSpec {
                name: name.clone(),
                owner: second.clone(),
            };
            let changed = db.ensure_database(&spec).await?;
            assert_eq!(
                changed.outcome,
                Outcome::Updated,
                "ensure_database with another owner"
            );
            let again = db.ensure_database(&spec).await?;
            assert_eq!(
                again.outcome,
                Outcome::Unchanged,
                "ensure_database after the owner change"
            );
            Ok(())
        },
        drop_all(db, &made),
    )
    .await
}

/// A seed applies once: `Created` with the SQL's checksum, then `Unchanged`; the same id with
/// other SQL is a `Conflict`; another id applies; a seed into a missing database is `NotFound`.
pub async fn seed_applies_once(db: &dyn Database, _ctx: &DatabaseContext) -> Result<()> {
    if !roles_supported(db).await? {
        return Ok(());
    }
    let made = Tracker::default();
    guarded(
        async {
            let role = new_role(db, &made).await?;
            let name = new_database(db, &made, &role).await?;
            let seed = SeedSpec {
                database: name.clone(),
                id: "initial-data".into(),
                sql: "CREATE TABLE provisio_conformance (id integer primary key);\n\
                      INSERT INTO provisio_conformance VALUES (1);"
                    .into(),
            };
            let applied = db.apply_seed(&seed).await?;
            assert_eq!(applied.outcome, Outcome::Created, "first apply_seed");
            assert_eq!(applied.value.database, name, "apply_seed's database");
            assert_eq!(applied.value.id, seed.id, "apply_seed's id");
            assert_eq!(
                applied.value.checksum,
                seed.checksum(),
                "apply_seed's checksum"
            );
            let again = db.apply_seed(&seed).await?;
            assert_eq!(
                again.outcome,
                Outcome::Unchanged,
                "apply_seed of the same seed again"
            );
            assert_eq!(again.value, applied.value, "the unchanged seed differs");

            let changed = SeedSpec {
                sql: "INSERT INTO provisio_conformance VALUES (3);".into(),
                ..seed.clone()
            };
            let err = db.apply_seed(&changed).await;
            expect_kind(
                err,
                ErrorKind::Conflict,
                "apply_seed with the same id and other SQL",
            );

            let second = SeedSpec {
                id: "more-data".into(),
                sql: "INSERT INTO provisio_conformance VALUES (2);".into(),
                ..seed.clone()
            };
            let applied = db.apply_seed(&second).await?;
            assert_eq!(
                applied.outcome,
                Outcome::Created,
                "apply_seed with a new id"
            );
            assert_eq!(
                applied.value.checksum,
                second.checksum(),
                "the second seed's checksum"
            );

            let missing = SeedSpec {
                database: ident("nodb"),
                ..seed.clone()
            };
            let err = db.apply_seed(&missing).await;
            expect_kind(
                err,
                ErrorKind::NotFound,
                "apply_seed into a missing database",
            );
            assert!(
                !db.database_exists(&missing.database).await?,
                "apply_seed created a database"
            );
            Ok(())
        },
        drop_all(db, &made),
    )
    .await
}

/// Dropping a database or role with a `Confirm` naming something else is `Protected` and keeps
/// it.
pub async fn drop_requires_matching_confirm(
    db: &dyn Database,
    _ctx: &DatabaseContext,
) -> Result<()> {
    if !roles_supported(db).await? {
        return Ok(());
    }
    let made = Tracker::default();
    guarded(
        async {
            let role = new_role(db, &made).await?;
            let name = new_database(db, &made, &role).await?;
            let err = db
                .drop_database(&name, &Confirm::named(format!("{name}-other")))
                .await;
            expect_kind(
                err,
                ErrorKind::Protected,
                "drop_database with a Confirm naming another database",
            );
            assert!(
                db.database_exists(&name).await?,
                "the refused drop_database dropped the database"
            );
            let err = db.drop_role(&role, &Confirm::named(&name)).await;
            expect_kind(
                err,
                ErrorKind::Protected,
                "drop_role with a Confirm naming the database",
            );
            assert!(
                db.role_exists(&role).await?,
                "the refused drop_role dropped the role"
            );
            Ok(())
        },
        drop_all(db, &made),
    )
    .await
}

/// Missing things: `database_exists`/`role_exists` are false, drops are `AlreadyGone`,
/// `get_server` is `None`, an owner that does not exist is `NotFound`.
pub async fn not_found(db: &dyn Database, _ctx: &DatabaseContext) -> Result<()> {
    let caps: DatabaseCapabilities = db.capabilities();
    if caps.roles_and_databases {
        let name = ident("nodb");
        assert!(
            !db.database_exists(&name).await?,
            "database_exists of a missing database"
        );
        assert!(
            !db.role_exists(&name).await?,
            "role_exists of a missing role"
        );
        let d = db.drop_database(&name, &Confirm::named(&name)).await?;
        assert_eq!(
            d,
            Deleted::AlreadyGone,
            "drop_database of a missing database"
        );
        let d = db.drop_role(&name, &Confirm::named(&name)).await?;
        assert_eq!(d, Deleted::AlreadyGone, "drop_role of a missing role");
        let spec = DatabaseSpec {
            name: name.clone(),
            owner: ident("norole"),
        };
        let err = db.ensure_database(&spec).await;
        expect_kind(
            err,
            ErrorKind::NotFound,
            "ensure_database owned by a missing role",
        );
        assert!(
            !db.database_exists(&name).await?,
            "a refused ensure_database created the database"
        );
    }
    if caps.servers {
        let name = ident("srv");
        let s = db.get_server(&name).await?;
        assert!(s.is_none(), "get_server of a missing server returned {s:?}");
        let opts = DeleteServer {
            skip_final_snapshot: true,
            ..DeleteServer::default()
        };
        assert_eq!(
            db.delete_server(&name, &opts).await?,
            Deleted::AlreadyGone,
            "delete_server of a missing server"
        );
    }
    assert!(
        caps.servers || caps.roles_and_databases,
        "a database provider must support servers or roles and databases"
    );
    Ok(())
}

/// Bad identifiers are `InvalidInput` naming the field, and create nothing.
pub async fn invalid_names(db: &dyn Database, ctx: &DatabaseContext) -> Result<()> {
    let caps = db.capabilities();
    if caps.roles_and_databases {
        let too_long = "r".repeat(64);
        for bad in ["pg_reserved", "", too_long.as_str(), "nul\0byte"] {
            let spec = RoleSpec {
                name: bad.to_string(),
                password: password(),
            };
            expect_invalid(
                db.ensure_role(&spec).await,
                "role",
                &format!("ensure_role({bad:?})"),
            );
            if let Ok(true) = db.role_exists(bad).await {
                panic!("a refused ensure_role({bad:?}) created the role");
            }
        }
        let made = Tracker::default();
        guarded(
            async {
                let role = new_role(db, &made).await?;
                for bad in ["pg_catalog2", "", too_long.as_str()] {
                    let spec = DatabaseSpec {
                        name: bad.to_string(),
                        owner: role.clone(),
                    };
                    expect_invalid(
                        db.ensure_database(&spec).await,
                        "database",
                        &format!("ensure_database({bad:?})"),
                    );
                }
                Ok(())
            },
            drop_all(db, &made),
        )
        .await?;
    }
    if caps.servers {
        let mut spec = server_spec(ctx);
        spec.name = "Bad_Name!".into();
        expect_invalid(
            db.ensure_server(&spec).await,
            "server",
            "ensure_server(\"Bad_Name!\")",
        );
    }
    if caps.snapshots {
        let tags = Tags::new();
        for bad in ["Bad_Name!", "", "a--b", "1abc", "ends-"] {
            expect_invalid(
                db.ensure_snapshot(&ident("srv"), bad, &tags).await,
                "snapshot",
                &format!("ensure_snapshot(_, {bad:?})"),
            );
            expect_invalid(
                db.get_snapshot(bad).await,
                "snapshot",
                &format!("get_snapshot({bad:?})"),
            );
            expect_invalid(
                db.delete_snapshot(bad).await,
                "snapshot",
                &format!("delete_snapshot({bad:?})"),
            );
            let spec = ServerSpec {
                restore_from_snapshot: Some(bad.to_string()),
                ..server_spec(ctx)
            };
            expect_invalid(
                db.ensure_server(&spec).await,
                "restore_from_snapshot",
                &format!("ensure_server with restore_from_snapshot {bad:?}"),
            );
            assert!(
                db.get_server(&spec.name).await?.is_none(),
                "a refused ensure_server created the server"
            );
        }
    }
    Ok(())
}

fn server_spec(ctx: &DatabaseContext) -> ServerSpec {
    ServerSpec {
        name: ident("srv"),
        engine: ctx.engine.clone(),
        version: ctx.version.clone(),
        size: ctx.size.clone(),
        storage_gb: ctx.storage_gb,
        admin_user: "provisio_admin".into(),
        admin_password: password(),
        deletion_protection: true,
        tags: provisio::types::ownership::tags(&crate::unique("tn"), "conformance", "db"),
        restore_from_snapshot: None,
    }
}

/// Polls `get_server` until the server is `available`. The trait has no wait of its own, and a
/// server that is still `creating` may refuse changes (RDS `InvalidDBInstanceState`).
async fn wait_available(db: &dyn Database, name: &str, timeout: Duration) -> Result<()> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(20);
    loop {
        let server = db.get_server(name).await?;
        let server = server
            .unwrap_or_else(|| panic!("get_server({name}) returned None while waiting for it"));
        if server.status == "available" {
            assert!(
                server.endpoint.is_some(),
                "an available server has no endpoint: {server:?}"
            );
            return Ok(());
        }
        assert!(
            started.elapsed() < timeout,
            "server {name} is still {:?} after {timeout:?}",
            server.status
        );
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// Deletes a tracked server, overriding protection and skipping the snapshot.
async fn delete_servers(db: &dyn Database, made: &Tracker) -> Result<()> {
    let mut results = Vec::new();
    for name in made.all() {
        let opts = DeleteServer {
            final_snapshot: None,
            skip_final_snapshot: true,
            override_protection: Some(Confirm::named(&name)),
        };
        results.push(db.delete_server(&name, &opts).await.map(|_| ()));
    }
    first_error(results)
}

/// Creates a managed server, reads it back, ensures it again (`Unchanged`), deletes it.
pub async fn server_happy_path(db: &dyn Database, ctx: &DatabaseContext) -> Result<()> {
    if !servers_supported(db).await? {
        return Ok(());
    }
    let made = Tracker::default();
    let spec = server_spec(ctx);
    guarded(
        async {
            made.add(spec.name.clone());
            let created = db.ensure_server(&spec).await?;
            assert_eq!(
                created.outcome,
                Outcome::Created,
                "ensure_server of a new server"
            );
            let s = &created.value;
            assert_eq!(s.name, spec.name, "ensure_server's name");
            assert_eq!(s.engine, spec.engine, "ensure_server's engine");
            assert!(s.deletion_protection, "ensure_server's deletion protection");
            assert!(
                provisio::types::tags_match(&s.tags, &spec.tags),
                "ensure_server's tags {:?}",
                s.tags
            );
            assert!(!s.status.is_empty(), "ensure_server's status is empty");
            let read = db
                .get_server(&spec.name)
                .await?
                .expect("get_server of the new server");
            assert_eq!(read.name, spec.name, "get_server's name");
            let again = db.ensure_server(&spec).await?;
            assert_eq!(
                again.outcome,
                Outcome::Unchanged,
                "second ensure_server with the same spec"
            );
            let opts = DeleteServer {
                final_snapshot: None,
                skip_final_snapshot: true,
                override_protection: Some(Confirm::named(&spec.name)),
            };
            assert_eq!(
                db.delete_server(&spec.name, &opts).await?,
                Deleted::Deleted,
                "delete_server"
            );
            match db.get_server(&spec.name).await? {
                None => {}
                Some(s) => assert_eq!(s.status, "deleting", "get_server after delete_server"),
            }
            assert_eq!(
                db.delete_server(&spec.name, &opts).await?,
                Deleted::AlreadyGone,
                "second delete_server"
            );
            Ok(())
        },
        delete_servers(db, &made),
    )
    .await
}

/// Deletion protection: a delete without override, or with an override naming another server,
/// is `Protected`; turning protection off is an `Updated` ensure; then a plain delete works.
pub async fn server_update_and_protection(db: &dyn Database, ctx: &DatabaseContext) -> Result<()> {
    if !servers_supported(db).await? {
        return Ok(());
    }
    let made = Tracker::default();
    let spec = server_spec(ctx);
    guarded(
        async {
            made.add(spec.name.clone());
            db.ensure_server(&spec).await?;
            wait_available(db, &spec.name, ctx.wait_timeout).await?;
            let plain = DeleteServer {
                skip_final_snapshot: true,
                ..DeleteServer::default()
            };
            let err = db.delete_server(&spec.name, &plain).await;
            expect_kind(
                err,
                ErrorKind::Protected,
                "delete_server of a protected server without override",
            );
            let wrong = DeleteServer {
                override_protection: Some(Confirm::named(format!("{}-other", spec.name))),
                ..plain.clone()
            };
            let err = db.delete_server(&spec.name, &wrong).await;
            expect_kind(
                err,
                ErrorKind::Protected,
                "delete_server with an override naming another server",
            );
            assert!(
                db.get_server(&spec.name).await?.is_some(),
                "a refused delete_server deleted the server"
            );

            let unprotected = ServerSpec {
                deletion_protection: false,
                ..spec.clone()
            };
            let updated = db.ensure_server(&unprotected).await?;
            assert_eq!(
                updated.outcome,
                Outcome::Updated,
                "ensure_server turning deletion protection off"
            );
            assert!(
                !updated.value.deletion_protection,
                "the updated server is still protected"
            );
            let read = db
                .get_server(&spec.name)
                .await?
                .expect("get_server after the update");
            assert!(
                !read.deletion_protection,
                "get_server after the update shows protection on"
            );
            assert_eq!(
                db.delete_server(&spec.name, &plain).await?,
                Deleted::Deleted,
                "delete_server of an unprotected server"
            );
            Ok(())
        },
        delete_servers(db, &made),
    )
    .await
}

/// Each half the capabilities deny is `Unsupported` in every operation.
pub async fn capability_honesty(db: &dyn Database, ctx: &DatabaseContext) -> Result<()> {
    let caps = db.capabilities();
    if !caps.snapshots {
        let name = ident("snap");
        expect_unsupported(
            db.ensure_snapshot(&ident("srv"), &name, &Tags::new()).await,
            "ensure_snapshot",
        );
        expect_unsupported(db.get_snapshot(&name).await, "get_snapshot");
        expect_unsupported(db.delete_snapshot(&name).await, "delete_snapshot");
    }
    if !caps.servers {
        let spec = server_spec(ctx);
        expect_unsupported(db.ensure_server(&spec).await, "ensure_server");
        expect_unsupported(db.get_server(&spec.name).await, "get_server");
        let opts = DeleteServer {
            skip_final_snapshot: true,
            override_protection: Some(Confirm::named(&spec.name)),
            ..DeleteServer::default()
        };
        expect_unsupported(db.delete_server(&spec.name, &opts).await, "delete_server");
    }
    if !caps.roles_and_databases {
        let name = ident("x");
        let role = RoleSpec {
            name: name.clone(),
            password: password(),
        };
        expect_unsupported(db.ensure_role(&role).await, "ensure_role");
        let spec = DatabaseSpec {
            name: name.clone(),
            owner: name.clone(),
        };
        expect_unsupported(db.ensure_database(&spec).await, "ensure_database");
        let seed = SeedSpec {
            database: name.clone(),
            id: "x".into(),
            sql: "SELECT 1".into(),
        };
        expect_unsupported(db.apply_seed(&seed).await, "apply_seed");
        expect_unsupported(db.database_exists(&name).await, "database_exists");
        expect_unsupported(db.role_exists(&name).await, "role_exists");
        expect_unsupported(
            db.drop_database(&name, &Confirm::named(&name)).await,
            "drop_database",
        );
        expect_unsupported(
            db.drop_role(&name, &Confirm::named(&name)).await,
            "drop_role",
        );
    }
    if caps.servers && caps.roles_and_databases {
        // Nothing is denied: both halves answer (the other cases check them in depth).
        assert!(
            db.get_server(&ident("srv")).await?.is_none(),
            "get_server of a fresh name"
        );
        assert!(
            !db.role_exists(&ident("role")).await?,
            "role_exists of a fresh name"
        );
    }
    Ok(())
}

/// Dump and restore, for a provider with [`DatabaseCapabilities::dump_restore`] (others must
/// answer `Unsupported`): a seeded database dumps to a non-empty stream; restoring over it (a
/// live database) is a `Conflict` naming it and leaves it as it was; restoring into a new
/// database creates it with the seed's record (the same seed is then `Unchanged`); dumping a
/// missing database is `NotFound`.
pub async fn dump_restore_round_trip(db: &dyn Database, _ctx: &DatabaseContext) -> Result<()> {
    if !db.capabilities().dump_restore {
        expect_unsupported(
            db.dump_database(&ident("db")).await.map(|_| ()),
            "dump_database",
        );
        return Ok(());
    }
    let made = Tracker::default();
    guarded(
        async {
            let role = new_role(db, &made).await?;
            let name = new_database(db, &made, &role).await?;
            let seed = |database: &str| SeedSpec {
                database: database.to_string(),
                id: "schema".into(),
                sql: "CREATE TABLE provisio_conformance (id int PRIMARY KEY); \
                      INSERT INTO provisio_conformance VALUES (1), (2);"
                    .into(),
            };
            db.apply_seed(&seed(&name)).await?;
            let dump =
                provisio::stream::collect(db.dump_database(&name).await?, 1 << 30, "dump").await?;
            assert!(!dump.is_empty(), "dump_database streamed nothing");

            let live = DatabaseSpec {
                name: name.clone(),
                owner: role.clone(),
            };
            let err = expect_kind(
                db.restore_database(&live, provisio::stream::once(dump.clone()))
                    .await,
                ErrorKind::Conflict,
                "restore_database over a live database",
            );
            assert!(
                err.to_string().contains(&name),
                "the refusal names the database: {err}"
            );
            assert_eq!(
                db.apply_seed(&seed(&name)).await?.outcome,
                Outcome::Unchanged,
                "the refused restore left the live database as it was"
            );

            let target = ident("db");
            made.add(format!("db:{target}"));
            let spec = DatabaseSpec {
                name: target.clone(),
                owner: role.clone(),
            };
            let restored = db
                .restore_database(&spec, provisio::stream::chunked(dump.clone(), 1000))
                .await?;
            assert!(restored.created, "restore_database created the database");
            assert_eq!(
                restored.bytes,
                dump.len() as u64,
                "restore_database read the dump"
            );
            assert!(db.database_exists(&target).await?, "the restored database");
            assert_eq!(
                db.apply_seed(&seed(&target)).await?.outcome,
                Outcome::Unchanged,
                "the restored database holds the seed it was dumped with"
            );
            let err = db.dump_database(&ident("db")).await.map(|_| ());
            expect_kind(
                err,
                ErrorKind::NotFound,
                "dump_database of a missing database",
            );
            Ok(())
        },
        drop_all(db, &made),
    )
    .await
}

/// Polls `get_snapshot` until the snapshot is `available`.
async fn wait_snapshot(db: &dyn Database, id: &str, timeout: Duration) -> Result<()> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(20);
    loop {
        let snap = db
            .get_snapshot(id)
            .await?
            .unwrap_or_else(|| panic!("get_snapshot({id}) returned None while waiting for it"));
        if snap.status == "available" {
            return Ok(());
        }
        assert!(
            started.elapsed() < timeout,
            "snapshot {id} is still {:?} after {timeout:?}",
            snap.status
        );
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// Deletes tracked snapshots (`snap:<id>`) and servers (the rest), servers first.
async fn delete_servers_and_snapshots(db: &dyn Database, made: &Tracker) -> Result<()> {
    let servers = Tracker::default();
    let mut snapshots = Vec::new();
    for item in made.all() {
        match item.strip_prefix("snap:") {
            Some(id) => snapshots.push(id.to_string()),
            None => servers.add(item),
        }
    }
    let mut results = vec![delete_servers(db, &servers).await];
    for id in snapshots {
        results.push(db.delete_snapshot(&id).await.map(|_| ()));
    }
    first_error(results)
}

/// Snapshots, for a provider with [`DatabaseCapabilities::snapshots`] (others answer
/// `Unsupported`, checked by [`capability_honesty`]): a snapshot of an available server is
/// `Created`, then `Unchanged`, names its server and becomes `available`; the same identifier
/// for another server is a `Conflict` naming both; a snapshot of a missing server is
/// `NotFound`; the snapshot outlives its server (and is still `Unchanged` then), and
/// `ensure_server` with `restore_from_snapshot` restores a missing server from it (`Created`,
/// then `Unchanged` with the field ignored); a restore from a missing snapshot is `NotFound`
/// naming it and creates nothing; delete is `Deleted`, then `AlreadyGone`.
pub async fn snapshot_and_restore(db: &dyn Database, ctx: &DatabaseContext) -> Result<()> {
    if !db.capabilities().snapshots {
        return Ok(());
    }
    let made = Tracker::default();
    let spec = ServerSpec {
        deletion_protection: false,
        ..server_spec(ctx)
    };
    let other = ServerSpec {
        deletion_protection: false,
        ..server_spec(ctx)
    };
    let id = ident("snap");
    let tags = spec.tags.clone();
    guarded(
        async {
            made.add(spec.name.clone());
            made.add(other.name.clone());
            made.add(format!("snap:{id}"));
            db.ensure_server(&spec).await?;
            db.ensure_server(&other).await?;
            wait_available(db, &spec.name, ctx.wait_timeout).await?;
            wait_available(db, &other.name, ctx.wait_timeout).await?;

            let taken = db.ensure_snapshot(&spec.name, &id, &tags).await?;
            assert_eq!(
                taken.outcome,
                Outcome::Created,
                "ensure_snapshot of a new snapshot"
            );
            assert_eq!(taken.value.id, id, "ensure_snapshot's id");
            assert_eq!(taken.value.server, spec.name, "ensure_snapshot's server");
            assert!(
                !taken.value.status.is_empty(),
                "ensure_snapshot's status is empty"
            );
            wait_snapshot(db, &id, ctx.wait_timeout).await?;
            let read = db
                .get_snapshot(&id)
                .await?
                .expect("get_snapshot of the new snapshot");
            assert_eq!(read.server, spec.name, "get_snapshot's server");
            assert!(
                provisio::types::tags_match(&read.tags, &tags),
                "get_snapshot's tags {:?}",
                read.tags
            );
            let again = db.ensure_snapshot(&spec.name, &id, &tags).await?;
            assert_eq!(again.outcome, Outcome::Unchanged, "second ensure_snapshot");
            let err = expect_kind(
                db.ensure_snapshot(&other.name, &id, &tags).await,
                ErrorKind::Conflict,
                "ensure_snapshot of an identifier taken of another server",
            );
            assert!(
                err.message().contains(&spec.name) && err.message().contains(&other.name),
                "the conflict names both servers: {err}"
            );
            let missing_server = ident("srv");
            expect_kind(
                db.ensure_snapshot(&missing_server, &ident("snap"), &tags)
                    .await,
                ErrorKind::NotFound,
                "ensure_snapshot of a missing server",
            );

            // the snapshot outlives its server, and brings it back
            let skip = DeleteServer {
                skip_final_snapshot: true,
                ..DeleteServer::default()
            };
            db.delete_server(&spec.name, &skip).await?;
            let gone = db.ensure_snapshot(&spec.name, &id, &tags).await?;
            assert_eq!(
                gone.outcome,
                Outcome::Unchanged,
                "ensure_snapshot once its server is gone"
            );
            // Restored under a new name: a real delete takes minutes, and moto keeps the first
            // server's automated backup, named by the minute, which a new server of the same
            // name in the same minute collides with (docs/providers/aws.md). The same name
            // comes back in the engine's lifecycle tests.
            let restore = ServerSpec {
                name: ident("srv"),
                restore_from_snapshot: Some(id.clone()),
                ..spec.clone()
            };
            made.add(restore.name.clone());
            let restored = db.ensure_server(&restore).await?;
            assert_eq!(
                restored.outcome,
                Outcome::Created,
                "ensure_server restoring a missing server"
            );
            assert_eq!(
                restored.value.name, restore.name,
                "the restored server's name"
            );
            wait_available(db, &restore.name, ctx.wait_timeout).await?;
            let ignored = ServerSpec {
                restore_from_snapshot: Some(ident("snap")),
                ..restore.clone()
            };
            assert_eq!(
                db.ensure_server(&ignored).await?.outcome,
                Outcome::Unchanged,
                "ensure_server of an existing server ignores restore_from_snapshot"
            );

            let nowhere = ident("snap");
            let lost = ServerSpec {
                name: ident("srv"),
                restore_from_snapshot: Some(nowhere.clone()),
                ..spec.clone()
            };
            made.add(lost.name.clone());
            let err = expect_kind(
                db.ensure_server(&lost).await,
                ErrorKind::NotFound,
                "ensure_server restoring from a missing snapshot",
            );
            assert!(
                err.message().contains(&nowhere),
                "the NotFound names the snapshot: {err}"
            );
            assert!(
                db.get_server(&lost.name).await?.is_none(),
                "a restore from a missing snapshot created a server"
            );

            assert_eq!(
                db.delete_snapshot(&id).await?,
                Deleted::Deleted,
                "delete_snapshot"
            );
            assert!(
                db.get_snapshot(&id).await?.is_none(),
                "get_snapshot after delete_snapshot"
            );
            assert_eq!(
                db.delete_snapshot(&id).await?,
                Deleted::AlreadyGone,
                "second delete_snapshot"
            );
            Ok(())
        },
        delete_servers_and_snapshots(db, &made),
    )
    .await
}
