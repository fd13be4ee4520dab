//! The PostgreSQL store's [`StateStore`] operations: resources, the journal, leases, fleet cursors.

use super::*;

#[provisio::async_trait]
impl StateStore for PostgresStateStore {
    async fn get_resource(&self, tenant: &str, name: &str) -> Result<Option<ResourceRecord>> {
        self.query_opt("state.get_resource", |s| &s.get_resource, &[&tenant, &name])
            .await?
            .as_ref()
            .map(resource_from_row)
            .transpose()
    }

    async fn list_resources(&self, tenant: &str) -> Result<Vec<ResourceRecord>> {
        self.query("state.list_resources", |s| &s.list_resources, &[&tenant])
            .await?
            .iter()
            .map(resource_from_row)
            .collect()
    }

    async fn put_resource(&self, r: &ResourceRecord) -> Result<()> {
        let params = to_json(&r.params)?;
        let outputs = to_json(&r.outputs)?;
        let depends_on = to_json(&r.depends_on)?;
        self.execute(
            "state.put_resource",
            |s| &s.put_resource,
            &[
                &r.tenant,
                &r.name,
                &r.resource_type,
                &r.provider,
                &r.identity,
                &params,
                &outputs,
                &r.protect,
                &depends_on,
                &r.updated_at_ms,
            ],
        )
        .await?;
        Ok(())
    }

    async fn delete_resource(&self, tenant: &str, name: &str) -> Result<()> {
        self.execute(
            "state.delete_resource",
            |s| &s.delete_resource,
            &[&tenant, &name],
        )
        .await?;
        Ok(())
    }

    async fn list_tenants(&self) -> Result<Vec<String>> {
        Ok(self
            .query("state.list_tenants", |s| &s.list_tenants, &[])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    async fn append_journal(&self, e: &JournalEntry) -> Result<u64> {
        let tags = to_json(&e.tags)?;
        let detail = to_json(&e.detail)?;
        let phase = e.phase.as_str();
        let rows = self
            .query(
                "state.append_journal",
                |s| &s.append_journal,
                &[
                    &e.run_id,
                    &e.tenant,
                    &e.resource,
                    &e.resource_type,
                    &e.action,
                    &phase,
                    &e.identity,
                    &tags,
                    &e.token,
                    &detail,
                    &e.at_ms,
                ],
            )
            .await?;
        let row = rows.first().ok_or_else(|| {
            Error::unexpected("journal insert returned no sequence number")
                .with_provider("postgres")
        })?;
        Ok(to_u64(row.get(0)))
    }

    async fn journal(&self, tenant: &str, after: u64) -> Result<Vec<JournalEntry>> {
        let after = to_i64(after);
        self.query("state.journal", |s| &s.journal, &[&tenant, &after])
            .await?
            .iter()
            .map(entry_from_row)
            .collect()
    }

    async fn pending_intents(&self, tenant: &str) -> Result<Vec<JournalEntry>> {
        self.query("state.pending_intents", |s| &s.pending_intents, &[&tenant])
            .await?
            .iter()
            .map(entry_from_row)
            .collect()
    }

    async fn acquire_lease(&self, tenant: &str, owner: &str, ttl: Duration) -> Result<Lease> {
        let op = "state.acquire_lease";
        for _ in 0..ACQUIRE_ATTEMPTS {
            let now = now_ms();
            let expires = now.saturating_add(crate::state::ttl_ms(ttl));
            let won = self
                .query_opt(op, |s| &s.acquire_lease, &[&tenant, &owner, &now, &expires])
                .await?;
            if let Some(row) = won {
                return Ok(lease_from_row(tenant, &row));
            }
            // Someone else holds it: name them. If they let go meanwhile, try again.
            if let Some(holder) = self.get_lease(tenant).await?
                && holder.owner != owner
                && holder.expires_at_ms > now
            {
                return Err(crate::state::lease_conflict(tenant, &holder, now));
            }
        }
        Err(Error::conflict(format!(
            "tenant {tenant} is changing hands too fast to lease"
        ))
        .with_operation(op)
        .with_resource(tenant))
    }

    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Lease> {
        let expires = now_ms().saturating_add(crate::state::ttl_ms(ttl));
        let generation = to_i64(lease.generation);
        let renewed = self
            .query_opt(
                "state.renew_lease",
                |s| &s.renew_lease,
                &[&lease.tenant, &lease.owner, &generation, &expires],
            )
            .await?;
        match renewed {
            Some(row) => Ok(lease_from_row(&lease.tenant, &row)),
            None => {
                let current = self.get_lease(&lease.tenant).await?;
                Err(crate::state::lease_lost(lease, current.as_ref()))
            }
        }
    }

    async fn release_lease(&self, lease: &Lease) -> Result<()> {
        let generation = to_i64(lease.generation);
        self.execute(
            "state.release_lease",
            |s| &s.release_lease,
            &[&lease.tenant, &lease.owner, &generation],
        )
        .await?;
        Ok(())
    }

    async fn get_lease(&self, tenant: &str) -> Result<Option<Lease>> {
        Ok(self
            .query_opt("state.get_lease", |s| &s.get_lease, &[&tenant])
            .await?
            .map(|row| lease_from_row(tenant, &row)))
    }

    async fn break_lease(&self, tenant: &str) -> Result<Option<Lease>> {
        Ok(self
            .query_opt("state.break_lease", |s| &s.break_lease, &[&tenant])
            .await?
            .map(|row| lease_from_row(tenant, &row)))
    }

    async fn put_fleet_cursor(&self, cursor: &FleetCursor) -> Result<()> {
        let json = to_json(cursor)?;
        self.execute(
            "state.put_fleet_cursor",
            |s| &s.put_fleet_cursor,
            &[&cursor.fleet_id, &json, &now_ms()],
        )
        .await?;
        Ok(())
    }

    async fn get_fleet_cursor(&self, fleet_id: &str) -> Result<Option<FleetCursor>> {
        self.query_opt(
            "state.get_fleet_cursor",
            |s| &s.get_fleet_cursor,
            &[&fleet_id],
        )
        .await?
        .map(|row| from_json("cursor", row.get(0)))
        .transpose()
    }

    async fn get_phase(&self, tenant: &str) -> Result<Option<TenantPhase>> {
        self.query_opt("state.get_phase", |s| &s.get_phase, &[&tenant])
            .await?
            .map(|row| from_json("phase", row.get(0)))
            .transpose()
    }

    async fn put_phase(&self, record: &TenantPhase) -> Result<()> {
        let json = to_json(record)?;
        self.execute(
            "state.put_phase",
            |s| &s.put_phase,
            &[&record.tenant, &json, &now_ms()],
        )
        .await?;
        Ok(())
    }

    async fn delete_phase(&self, tenant: &str) -> Result<()> {
        self.execute("state.delete_phase", |s| &s.delete_phase, &[&tenant])
            .await?;
        Ok(())
    }
}

/// The shared rate limits of every worker using this store: one row per provider account in
/// `rate_buckets`, refilled by the server's clock (workers' clocks may differ) and taken under
/// its row lock, one statement per grant.
#[provisio::async_trait]
impl provisio::ratelimit::SharedBuckets for PostgresStateStore {
    async fn take(
        &self,
        key: &str,
        rate: f64,
        capacity: f64,
        want: u32,
    ) -> Result<provisio::ratelimit::Grant> {
        use provisio::ratelimit::Grant;
        let op = "state.rate_limit.take";
        let want = f64::from(want.max(1));
        for _ in 0..2 {
            let row = self
                .query_opt(op, |s| &s.bucket_take, &[&key, &capacity, &rate, &want])
                .await?;
            let Some(row) = row else {
                self.execute(op, |s| &s.bucket_seed, &[&key, &capacity])
                    .await?;
                continue;
            };
            let (granted, level): (f64, f64) = (row.get(0), row.get(1));
            return Ok(if granted >= 1.0 {
                Grant::Tokens(granted as u32)
            } else {
                Grant::WaitFor(Duration::from_secs_f64(
                    ((1.0 - level) / rate.max(f64::MIN_POSITIVE)).clamp(0.001, 3600.0),
                ))
            });
        }
        Err(Error::unexpected(format!(
            "the shared rate limit {key:?} vanished while it was being taken"
        )))
    }

    async fn pause(&self, key: &str, rate: f64, delay: Duration) -> Result<()> {
        let secs = delay.as_secs_f64();
        self.execute(
            "state.rate_limit.pause",
            |s| &s.bucket_pause,
            &[&key, &secs, &rate],
        )
        .await?;
        Ok(())
    }
}
