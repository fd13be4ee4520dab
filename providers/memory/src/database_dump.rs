//! Dump and restore of one in-memory database: what it holds (its owner and the seeds applied
//! to it) as a JSON document, restored with PostgreSQL's rule that a restore never overwrites a
//! live database.

use super::MemoryDatabase;
use crate::faults::{Changed, Read};
use crate::names::{POSTGRES_BOOTSTRAP_ROLE, postgres_database, postgres_identifier};
use provisio::database::{DatabaseSpec, RestoredDatabase};
use provisio::{ByteStream, Bytes, Error, Result};
use std::collections::BTreeMap;

/// The `format` of a memory dump; anything else is refused by a restore.
pub const DUMP_FORMAT: &str = "provisio-memory-dump/1";
/// The largest dump a restore reads.
pub const MAX_DUMP_SIZE: u64 = 64 * 1024 * 1024;
/// The size of the chunks a dump is handed out in (small, so that readers see several).
pub const DUMP_CHUNK: usize = 64;

/// A dump of one database: everything the memory database models of it. The owner is
/// recorded but, as with `pg_dump --no-owner`, a restore gives the objects to the owner it is
/// told.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Dump {
    format: String,
    database: String,
    owner: String,
    /// Seed id -> checksum of its SQL.
    seeds: BTreeMap<String, String>,
}

impl MemoryDatabase {
    pub(super) async fn dump(&self, name: &str) -> Result<ByteStream> {
        self.base
            .run("database.dump_database", name, async {
                let name = postgres_identifier("database name", name)?;
                let s = self.lock();
                let owner = s.databases.get(&name).ok_or_else(|| {
                    Error::not_found(format!("database {name:?} does not exist"))
                        .with_resource(name.clone())
                })?;
                let dump = Dump {
                    format: DUMP_FORMAT.to_string(),
                    database: name.clone(),
                    owner: owner.clone(),
                    seeds: s
                        .seeds
                        .iter()
                        .filter(|((db, _), _)| *db == name)
                        .map(|((_, id), c)| (id.clone(), c.clone()))
                        .collect(),
                };
                let body = serde_json::to_vec(&dump)
                    .map_err(|e| Error::unexpected(format!("serialising the dump: {e}")))?;
                Ok(Read(provisio::stream::chunked(
                    Bytes::from(body),
                    DUMP_CHUNK,
                )))
            })
            .await
    }

    pub(super) async fn restore(
        &self,
        spec: &DatabaseSpec,
        body: ByteStream,
    ) -> Result<RestoredDatabase> {
        self.base
            .run("database.restore_database", &spec.name, async {
                let name = postgres_database("database name", &spec.name)?;
                let owner = postgres_identifier("database owner", &spec.owner)?;
                // refused before a byte of the dump is read, as the PostgreSQL provider does
                self.check_restorable(&name, &owner)?;
                let bytes = provisio::stream::collect(body, MAX_DUMP_SIZE, "dump").await?;
                let dump: Dump = serde_json::from_slice(&bytes).map_err(|e| {
                    Error::invalid_field(
                        "dump",
                        format!("is not a memory database dump ({})", e.classify_name()),
                    )
                })?;
                if dump.format != DUMP_FORMAT {
                    return Err(Error::invalid_field(
                        "dump",
                        format!("has format {:?}; expected {DUMP_FORMAT:?}", dump.format),
                    ));
                }
                // checked again under the lock that writes: the stream was read in between
                self.check_restorable(&name, &owner)?;
                let mut s = self.lock();
                let created = s.databases.insert(name.clone(), owner).is_none();
                for (id, checksum) in dump.seeds {
                    s.seeds.insert((name.clone(), id), checksum);
                }
                Ok(Changed(RestoredDatabase {
                    database: name,
                    created,
                    bytes: bytes.len() as u64,
                }))
            })
            .await
    }

    /// `Conflict` when `name` exists and holds data (a seed), `NotFound` when `owner` is not a
    /// role.
    fn check_restorable(&self, name: &str, owner: &str) -> Result<()> {
        let s = self.lock();
        if !s.roles.contains_key(owner) && owner != POSTGRES_BOOTSTRAP_ROLE {
            return Err(Error::not_found(format!(
                "role {owner:?} does not exist (create it before restoring the database)"
            ))
            .with_resource(owner.to_string()));
        }
        if s.databases.contains_key(name) {
            let seeds = s.seeds.keys().filter(|(db, _)| db == name).count();
            if seeds > 0 {
                return Err(Error::conflict(format!(
                    "refusing to restore into database {name:?}: it exists and holds data \
                     ({seeds} applied seeds); a restore never overwrites a live database"
                ))
                .with_resource(name.to_string()));
            }
        }
        Ok(())
    }
}

/// The name of a serde_json error's category (never the text around it).
trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected data",
            serde_json::error::Category::Eof => "cut off",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provisio::database::{RoleSpec, SeedSpec};
    use provisio::{Confirm, Database, ErrorKind, SecretString};

    async fn seeded() -> MemoryDatabase {
        let db = MemoryDatabase::new();
        db.ensure_role(&RoleSpec {
            name: "acme".into(),
            password: SecretString::new("pw"),
        })
        .await
        .unwrap();
        db.ensure_database(&DatabaseSpec {
            name: "acme_db".into(),
            owner: "acme".into(),
        })
        .await
        .unwrap();
        for id in ["one", "two"] {
            db.apply_seed(&SeedSpec {
                database: "acme_db".into(),
                id: id.into(),
                sql: format!("insert {id}"),
            })
            .await
            .unwrap();
        }
        db
    }

    fn spec() -> DatabaseSpec {
        DatabaseSpec {
            name: "acme_db".into(),
            owner: "acme".into(),
        }
    }

    #[tokio::test]
    async fn dump_drop_restore_round_trip() {
        let db = seeded().await;
        let before = db.inventory();
        let dump =
            provisio::stream::collect(db.dump_database("acme_db").await.unwrap(), 1 << 20, "d")
                .await
                .unwrap();
        assert!(dump.len() > DUMP_CHUNK, "several chunks");
        // a live database is never overwritten, and nothing is read or changed
        let e = db
            .restore_database(&spec(), provisio::stream::once(dump.clone()))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Conflict);
        assert!(e.to_string().contains("acme_db"), "{e}");
        assert_eq!(db.inventory(), before);

        db.drop_database("acme_db", &Confirm::named("acme_db"))
            .await
            .unwrap();
        let r = db
            .restore_database(&spec(), provisio::stream::chunked(dump.clone(), 7))
            .await
            .unwrap();
        assert!(r.created);
        assert_eq!(r.bytes, dump.len() as u64);
        assert_eq!(db.inventory(), before);

        // an existing empty database is restored into
        db.drop_database("acme_db", &Confirm::named("acme_db"))
            .await
            .unwrap();
        db.ensure_database(&spec()).await.unwrap();
        let r = db
            .restore_database(&spec(), provisio::stream::once(dump))
            .await
            .unwrap();
        assert!(!r.created);
        assert_eq!(db.inventory(), before);
    }

    #[tokio::test]
    async fn refusals_and_faults() {
        let db = seeded().await;
        assert_eq!(
            db.dump_database("ghost").await.err().unwrap().kind(),
            &ErrorKind::NotFound
        );
        let garbage = provisio::stream::once(Bytes::from_static(b"PGDMP not json"));
        let other = DatabaseSpec {
            name: "other_db".into(),
            owner: "acme".into(),
        };
        let e = db.restore_database(&other, garbage).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::InvalidInput);
        assert!(!db.database_exists("other_db").await.unwrap());
        let nobody = DatabaseSpec {
            name: "other_db".into(),
            owner: "nobody".into(),
        };
        let e = db
            .restore_database(&nobody, provisio::stream::once(Bytes::new()))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::NotFound);
        // a stream that breaks off restores nothing
        let broken = provisio::stream::from_results(vec![
            Ok(Bytes::from_static(b"{\"format\"")),
            Err(Error::transient("connection reset")),
        ]);
        let e = db.restore_database(&other, broken).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Transient);
        assert!(!db.database_exists("other_db").await.unwrap());
        // injected faults
        db.faults()
            .error_on_call("database.dump_database", 2, ErrorKind::Transient);
        let e = db.dump_database("acme_db").await.err().unwrap();
        assert_eq!(e.kind(), &ErrorKind::Transient);
        let next = db.faults().calls("database.restore_database") + 1;
        db.faults()
            .error_after_effect("database.restore_database", next, ErrorKind::Timeout);
        let dump =
            provisio::stream::collect(db.dump_database("acme_db").await.unwrap(), 1 << 20, "d")
                .await
                .unwrap();
        let e = db
            .restore_database(&other, provisio::stream::once(dump))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Timeout);
        // the effect happened: the answer was lost
        assert!(db.database_exists("other_db").await.unwrap());
        assert_eq!(db.seeds("other_db").len(), 2);
    }
}
