//! The SQLite store's [`StateStore`] operations: resources, the journal, leases, fleet cursors.

use super::*;

#[provisio::async_trait]
impl StateStore for SqliteStateStore {
    async fn get_resource(&self, tenant: &str, name: &str) -> Result<Option<ResourceRecord>> {
        let (tenant, name) = (tenant.to_string(), name.to_string());
        self.read("state.get_resource", move |c| {
            let sql =
                format!("SELECT {RESOURCE_COLUMNS} FROM resources WHERE tenant = ?1 AND name = ?2");
            Ok(collect(c, &sql, params![tenant, name], resource_from_row)?.pop())
        })
        .await
    }

    async fn list_resources(&self, tenant: &str) -> Result<Vec<ResourceRecord>> {
        let tenant = tenant.to_string();
        self.read("state.list_resources", move |c| {
            let sql =
                format!("SELECT {RESOURCE_COLUMNS} FROM resources WHERE tenant = ?1 ORDER BY name");
            collect(c, &sql, [tenant], resource_from_row)
        })
        .await
    }

    async fn put_resource(&self, record: &ResourceRecord) -> Result<()> {
        let params_json = to_json(&record.params)?;
        let outputs_json = to_json(&record.outputs)?;
        let depends_json = to_json(&record.depends_on)?;
        let r = record.clone();
        self.write("state.put_resource", move |c| {
            c.prepare_cached(&format!(
                "INSERT OR REPLACE INTO resources ({RESOURCE_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
            ))?
            .execute(params![
                r.tenant,
                r.name,
                r.resource_type,
                r.provider,
                r.identity,
                params_json,
                outputs_json,
                r.protect,
                depends_json,
                r.updated_at_ms,
            ])?;
            Ok(())
        })
        .await
    }

    async fn delete_resource(&self, tenant: &str, name: &str) -> Result<()> {
        let (tenant, name) = (tenant.to_string(), name.to_string());
        self.write("state.delete_resource", move |c| {
            c.prepare_cached("DELETE FROM resources WHERE tenant = ?1 AND name = ?2")?
                .execute(params![tenant, name])?;
            Ok(())
        })
        .await
    }

    async fn list_tenants(&self) -> Result<Vec<String>> {
        self.read("state.list_tenants", |c| {
            collect(
                c,
                "SELECT tenant FROM resources UNION SELECT tenant FROM journal ORDER BY tenant",
                [],
                |r| Ok(r.get(0)?),
            )
        })
        .await
    }

    async fn append_journal(&self, entry: &JournalEntry) -> Result<u64> {
        let tags = to_json(&entry.tags)?;
        let detail = to_json(&entry.detail)?;
        let e = entry.clone();
        self.write("state.append_journal", move |c| {
            // Autocommit: the INSERT is its own transaction, fsync'ed (synchronous=FULL)
            // before execute returns.
            let seq: i64 = c
                .prepare_cached(
                    "INSERT INTO journal (run_id, tenant, resource, resource_type, action, phase,
                        identity, tags, token, detail, at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                     RETURNING seq",
                )?
                .query_row(
                    params![
                        e.run_id,
                        e.tenant,
                        e.resource,
                        e.resource_type,
                        e.action,
                        e.phase.as_str(),
                        e.identity,
                        tags,
                        e.token,
                        detail,
                        e.at_ms,
                    ],
                    |r| r.get(0),
                )?;
            Ok(seq_of(seq))
        })
        .await
    }

    async fn journal(&self, tenant: &str, after: u64) -> Result<Vec<JournalEntry>> {
        let tenant = tenant.to_string();
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        self.read("state.journal", move |c| {
            let sql = format!(
                "SELECT {JOURNAL_COLUMNS} FROM journal WHERE tenant = ?1 AND seq > ?2 ORDER BY seq"
            );
            collect(c, &sql, params![tenant, after], entry_from_row)
        })
        .await
    }

    async fn pending_intents(&self, tenant: &str) -> Result<Vec<JournalEntry>> {
        let tenant = tenant.to_string();
        self.read("state.pending_intents", move |c| {
            let sql = format!(
                "SELECT {JOURNAL_COLUMNS} FROM journal AS i
                 WHERE i.tenant = ?1 AND i.phase = 'intent'
                   AND NOT EXISTS (
                       SELECT 1 FROM journal AS r
                       WHERE r.tenant = i.tenant AND r.token = i.token AND r.seq > i.seq
                         AND r.phase IN ('succeeded', 'failed'))
                 ORDER BY i.seq"
            );
            collect(c, &sql, [tenant], entry_from_row)
        })
        .await
    }

    async fn acquire_lease(&self, tenant: &str, owner: &str, ttl: Duration) -> Result<Lease> {
        let (t, owner) = (tenant.to_string(), owner.to_string());
        self.with_lease_slot(
            "state.acquire_lease",
            tenant.to_string(),
            move |slot, now| slot.acquire(&t, &owner, ttl, now),
        )
        .await
    }

    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Lease> {
        let l = lease.clone();
        self.with_lease_slot(
            "state.renew_lease",
            lease.tenant.clone(),
            move |slot, now| slot.renew(&l, ttl, now),
        )
        .await
    }

    async fn release_lease(&self, lease: &Lease) -> Result<()> {
        let l = lease.clone();
        self.with_lease_slot(
            "state.release_lease",
            lease.tenant.clone(),
            move |slot, _| {
                slot.release(&l);
                Ok(())
            },
        )
        .await
    }

    async fn get_lease(&self, tenant: &str) -> Result<Option<Lease>> {
        let tenant = tenant.to_string();
        self.read("state.get_lease", move |c| {
            Ok(load_slot(c, &tenant)?.current(&tenant))
        })
        .await
    }

    async fn break_lease(&self, tenant: &str) -> Result<Option<Lease>> {
        let t = tenant.to_string();
        self.with_lease_slot("state.break_lease", tenant.to_string(), move |slot, _| {
            Ok(slot.break_lease(&t))
        })
        .await
    }

    async fn put_fleet_cursor(&self, cursor: &FleetCursor) -> Result<()> {
        let json = to_json(cursor)?;
        let id = cursor.fleet_id.clone();
        self.write("state.put_fleet_cursor", move |c| {
            c.prepare_cached(
                "INSERT OR REPLACE INTO fleet_cursors (fleet_id, cursor, updated_at_ms)
                 VALUES (?1, ?2, ?3)",
            )?
            .execute(params![id, json, now_ms()])?;
            Ok(())
        })
        .await
    }

    async fn get_fleet_cursor(&self, fleet_id: &str) -> Result<Option<FleetCursor>> {
        let id = fleet_id.to_string();
        self.read("state.get_fleet_cursor", move |c| {
            let text: Option<String> = c
                .prepare_cached("SELECT cursor FROM fleet_cursors WHERE fleet_id = ?1")?
                .query_row([id], |r| r.get(0))
                .optional()?;
            text.map(|t| from_json("cursor", &t)).transpose()
        })
        .await
    }

    async fn get_phase(&self, tenant: &str) -> Result<Option<TenantPhase>> {
        let t = tenant.to_string();
        self.read("state.get_phase", move |c| {
            let text: Option<String> = c
                .prepare_cached("SELECT record FROM tenant_phases WHERE tenant = ?1")?
                .query_row([t], |r| r.get(0))
                .optional()?;
            text.map(|t| from_json("phase", &t)).transpose()
        })
        .await
    }

    async fn put_phase(&self, record: &TenantPhase) -> Result<()> {
        let json = to_json(record)?;
        let t = record.tenant.clone();
        self.write("state.put_phase", move |c| {
            c.prepare_cached(
                "INSERT OR REPLACE INTO tenant_phases (tenant, record, updated_at_ms)
                 VALUES (?1, ?2, ?3)",
            )?
            .execute(params![t, json, now_ms()])?;
            Ok(())
        })
        .await
    }

    async fn delete_phase(&self, tenant: &str) -> Result<()> {
        let t = tenant.to_string();
        self.write("state.delete_phase", move |c| {
            c.prepare_cached("DELETE FROM tenant_phases WHERE tenant = ?1")?
                .execute([t])?;
            Ok(())
        })
        .await
    }
}
