//! [`Layered`] implements every capability trait by sending each call through its layer.
//!
//! Every method is forwarded, the ones with default bodies too, so a provider's own
//! implementation (a batched `copy_prefix`, a one-fetch `read_files`) is the one that runs.
//! Methods that only describe the provider (`capabilities`, `etag_of`, `info`, `check_name`)
//! are answered without the layer.

use super::{Layered, Safety};
use crate::ci::{BuildRef, BuildResult, CiCapabilities, Job, Linked};
use crate::compute::{ComputeCapabilities, Instance, InstanceSpec, InstanceState};
use crate::database::{
    AppliedSeed, DatabaseCapabilities, DatabaseSpec, DeleteServer, RestoredDatabase, RoleSpec,
    SeedSpec, Server, ServerSpec, Snapshot,
};
use crate::dns::{DnsCapabilities, Record, RecordSpec, RecordType, Zone};
use crate::host::{CommandOutput, DirInspection, HostCapabilities, HostCommand};
use crate::mail::{MailCapabilities, MailIdentity};
use crate::probe::{ProbeAnswer, ProbeCapabilities, ProbeRequest};
use crate::repo::{Branch, BranchFiles, CommitSpec, RepoCapabilities};
use crate::secrets::{SecretMeta, SecretValue, SecretsCapabilities};
use crate::storage::{
    Bucket, BucketSpec, ClassChange, ExpiryRule, ObjectMeta, StorageCapabilities, StorageClass,
};
use crate::stream::ByteStream;
use crate::{
    Bytes, CiServer, Compute, Confirm, Database, Deleted, DnsProvider, Ensured, Host, Mail,
    ObjectStorage, Page, PageRequest, Probe, Provider, ProviderInfo, Repository, Result,
    SecretStore, SecretString, Tags,
};
use std::collections::BTreeMap;
use std::time::Duration;

const IDEMPOTENT: (Safety, Option<Duration>) = (Safety::Idempotent, None);
const ONCE: (Safety, Option<Duration>) = (Safety::OnlyIfRefused, None);
/// A call that reads a [`ByteStream`] body: never sent again by a layer.
const CONSUMES: (Safety, Option<Duration>) = (Safety::Never, None);

/// A body stream handed to the first run of a call only. A layer that runs a
/// [`Safety::Never`] call again anyway (a custom layer) gets an `Unexpected` error instead of
/// an empty body: a stream cannot be replayed.
struct OnceBody(std::sync::Mutex<Option<ByteStream>>);

impl OnceBody {
    fn new(body: ByteStream) -> Self {
        OnceBody(std::sync::Mutex::new(Some(body)))
    }
    fn take(&self, operation: &str) -> Result<ByteStream> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| {
                crate::Error::unexpected(format!(
                    "{operation} was run twice by a layer, but its body stream was read by the \
                     first run and cannot be replayed: call it again with a new stream"
                ))
                .with_operation(operation)
            })
    }
}
/// A call that waits on its own clock for `timeout`.
fn waits(timeout: Duration) -> (Safety, Option<Duration>) {
    (Safety::OnlyIfRefused, Some(timeout))
}

impl<P: ?Sized + Provider> Provider for Layered<P> {
    fn info(&self) -> ProviderInfo {
        self.inner.info()
    }
    fn check_name(&self, kind: crate::validate::NameKind, field: &str, value: &str) -> Result<()> {
        self.inner.check_name(kind, field, value)
    }
}

#[crate::async_trait]
impl DnsProvider for Layered<dyn DnsProvider> {
    fn capabilities(&self) -> DnsCapabilities {
        self.inner.capabilities()
    }
    async fn find_zone(&self, name: &str) -> Result<Option<Zone>> {
        self.run("dns.find_zone", Some(name), IDEMPOTENT, || {
            self.inner.find_zone(name)
        })
        .await
    }
    async fn list_records(&self, zone: &Zone, page: &PageRequest) -> Result<Page<Record>> {
        self.run("dns.list_records", Some(&zone.name), IDEMPOTENT, || {
            self.inner.list_records(zone, page)
        })
        .await
    }
    async fn get_record(
        &self,
        zone: &Zone,
        name: &str,
        record_type: &RecordType,
    ) -> Result<Option<Record>> {
        self.run("dns.get_record", Some(name), IDEMPOTENT, || {
            self.inner.get_record(zone, name, record_type)
        })
        .await
    }
    async fn ensure_record(&self, zone: &Zone, spec: &RecordSpec) -> Result<Ensured<Record>> {
        self.run("dns.ensure_record", Some(&spec.name), IDEMPOTENT, || {
            self.inner.ensure_record(zone, spec)
        })
        .await
    }
    async fn delete_record(
        &self,
        zone: &Zone,
        name: &str,
        record_type: &RecordType,
    ) -> Result<Deleted> {
        self.run("dns.delete_record", Some(name), IDEMPOTENT, || {
            self.inner.delete_record(zone, name, record_type)
        })
        .await
    }
}

#[crate::async_trait]
impl ObjectStorage for Layered<dyn ObjectStorage> {
    fn capabilities(&self) -> StorageCapabilities {
        self.inner.capabilities()
    }
    fn etag_of(&self, body: &[u8]) -> Option<String> {
        self.inner.etag_of(body)
    }
    async fn ensure_bucket(&self, spec: &BucketSpec) -> Result<Ensured<Bucket>> {
        self.run(
            "storage.ensure_bucket",
            Some(&spec.name),
            IDEMPOTENT,
            || self.inner.ensure_bucket(spec),
        )
        .await
    }
    async fn get_bucket(&self, name: &str) -> Result<Option<Bucket>> {
        self.run("storage.get_bucket", Some(name), IDEMPOTENT, || {
            self.inner.get_bucket(name)
        })
        .await
    }
    async fn bucket_exists(&self, name: &str) -> Result<bool> {
        self.run("storage.bucket_exists", Some(name), IDEMPOTENT, || {
            self.inner.bucket_exists(name)
        })
        .await
    }
    async fn delete_bucket(&self, name: &str) -> Result<Deleted> {
        self.run("storage.delete_bucket", Some(name), IDEMPOTENT, || {
            self.inner.delete_bucket(name)
        })
        .await
    }
    async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<ObjectMeta> {
        self.run("storage.put_object", Some(key), IDEMPOTENT, || {
            self.inner
                .put_object(bucket, key, body.clone(), content_type)
        })
        .await
    }
    async fn put_object_if_absent(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<Option<ObjectMeta>> {
        // a second send after a lost answer says "already there": only when refused
        self.run("storage.put_object_if_absent", Some(key), ONCE, || {
            self.inner
                .put_object_if_absent(bucket, key, body.clone(), content_type)
        })
        .await
    }
    async fn get_object(&self, bucket: &str, key: &str) -> Result<(Bytes, ObjectMeta)> {
        self.run("storage.get_object", Some(key), IDEMPOTENT, || {
            self.inner.get_object(bucket, key)
        })
        .await
    }
    async fn head_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>> {
        self.run("storage.head_object", Some(key), IDEMPOTENT, || {
            self.inner.head_object(bucket, key)
        })
        .await
    }
    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        page: &PageRequest,
    ) -> Result<Page<ObjectMeta>> {
        self.run("storage.list_objects", Some(bucket), IDEMPOTENT, || {
            self.inner.list_objects(bucket, prefix, page)
        })
        .await
    }
    async fn delete_object(&self, bucket: &str, key: &str) -> Result<Deleted> {
        self.run("storage.delete_object", Some(key), IDEMPOTENT, || {
            self.inner.delete_object(bucket, key)
        })
        .await
    }
    async fn copy_object(
        &self,
        src_bucket: &str,
        src_key: &str,
        dst_bucket: &str,
        dst_key: &str,
    ) -> Result<ObjectMeta> {
        self.run("storage.copy_object", Some(dst_key), IDEMPOTENT, || {
            self.inner
                .copy_object(src_bucket, src_key, dst_bucket, dst_key)
        })
        .await
    }
    async fn copy_prefix(
        &self,
        src_bucket: &str,
        src_prefix: &str,
        dst_bucket: &str,
        dst_prefix: &str,
    ) -> Result<u64> {
        self.run("storage.copy_prefix", Some(dst_bucket), IDEMPOTENT, || {
            self.inner
                .copy_prefix(src_bucket, src_prefix, dst_bucket, dst_prefix)
        })
        .await
    }
    async fn delete_prefix(&self, bucket: &str, prefix: &str) -> Result<u64> {
        self.run("storage.delete_prefix", Some(bucket), IDEMPOTENT, || {
            self.inner.delete_prefix(bucket, prefix)
        })
        .await
    }
    async fn put_object_stream(
        &self,
        bucket: &str,
        key: &str,
        body: ByteStream,
        content_type: Option<&str>,
    ) -> Result<ObjectMeta> {
        // the body is read as it is sent: never again (see `Safety::Never`)
        let body = OnceBody::new(body);
        let op = "storage.put_object_stream";
        self.run(op, Some(key), CONSUMES, || async {
            let body = body.take(op)?;
            self.inner
                .put_object_stream(bucket, key, body, content_type)
                .await
        })
        .await
    }
    async fn get_object_stream(&self, bucket: &str, key: &str) -> Result<(ByteStream, ObjectMeta)> {
        // retried until the stream is handed out; reading it is the caller's
        self.run("storage.get_object_stream", Some(key), IDEMPOTENT, || {
            self.inner.get_object_stream(bucket, key)
        })
        .await
    }
    async fn set_storage_class(
        &self,
        bucket: &str,
        key: &str,
        class: StorageClass,
    ) -> Result<ObjectMeta> {
        // Sending it twice has the effect of once, but its `Transient` "rehydration pending"
        // answer lasts hours on the service's clock: retrying it at once only repeats the
        // read. Like `wait_for_state`, only a refused call is sent again; the caller polls.
        self.run("storage.set_storage_class", Some(key), ONCE, || {
            self.inner.set_storage_class(bucket, key, class)
        })
        .await
    }
    async fn set_prefix_storage_class(
        &self,
        bucket: &str,
        prefix: &str,
        class: StorageClass,
    ) -> Result<ClassChange> {
        // pending objects are counted, not failed: any failure is a plain one
        self.run(
            "storage.set_prefix_storage_class",
            Some(bucket),
            IDEMPOTENT,
            || self.inner.set_prefix_storage_class(bucket, prefix, class),
        )
        .await
    }
    async fn ensure_expiry_rule(
        &self,
        bucket: &str,
        prefix: &str,
        days: u32,
    ) -> Result<Ensured<ExpiryRule>> {
        self.run(
            "storage.ensure_expiry_rule",
            Some(bucket),
            IDEMPOTENT,
            || self.inner.ensure_expiry_rule(bucket, prefix, days),
        )
        .await
    }
    async fn get_expiry_rule(&self, bucket: &str, prefix: &str) -> Result<Option<ExpiryRule>> {
        self.run("storage.get_expiry_rule", Some(bucket), IDEMPOTENT, || {
            self.inner.get_expiry_rule(bucket, prefix)
        })
        .await
    }
    async fn delete_expiry_rule(&self, bucket: &str, prefix: &str) -> Result<Deleted> {
        self.run(
            "storage.delete_expiry_rule",
            Some(bucket),
            IDEMPOTENT,
            || self.inner.delete_expiry_rule(bucket, prefix),
        )
        .await
    }
}

#[crate::async_trait]
impl Compute for Layered<dyn Compute> {
    fn capabilities(&self) -> ComputeCapabilities {
        self.inner.capabilities()
    }
    async fn launch_instance(&self, spec: &InstanceSpec) -> Result<Ensured<Instance>> {
        // idempotent: the provider finds an instance by its idempotency key and tags
        self.run(
            "compute.launch_instance",
            Some(&spec.name),
            IDEMPOTENT,
            || self.inner.launch_instance(spec),
        )
        .await
    }
    async fn get_instance(&self, id: &str) -> Result<Option<Instance>> {
        self.run("compute.get_instance", Some(id), IDEMPOTENT, || {
            self.inner.get_instance(id)
        })
        .await
    }
    async fn find_instances(&self, tags: &Tags) -> Result<Vec<Instance>> {
        self.run("compute.find_instances", None, IDEMPOTENT, || {
            self.inner.find_instances(tags)
        })
        .await
    }
    async fn wait_for_state(
        &self,
        id: &str,
        state: InstanceState,
        timeout: Duration,
    ) -> Result<Instance> {
        self.run("compute.wait_for_state", Some(id), waits(timeout), || {
            self.inner.wait_for_state(id, state, timeout)
        })
        .await
    }
    async fn terminate_instance(&self, id: &str) -> Result<Deleted> {
        self.run("compute.terminate_instance", Some(id), IDEMPOTENT, || {
            self.inner.terminate_instance(id)
        })
        .await
    }
    async fn stop_instance(&self, id: &str) -> Result<Instance> {
        // idempotent: a second stop of a stopping or stopped instance changes nothing
        self.run("compute.stop_instance", Some(id), IDEMPOTENT, || {
            self.inner.stop_instance(id)
        })
        .await
    }
    async fn start_instance(&self, id: &str) -> Result<Instance> {
        // idempotent: a second start of a pending or running instance changes nothing
        self.run("compute.start_instance", Some(id), IDEMPOTENT, || {
            self.inner.start_instance(id)
        })
        .await
    }
}

#[crate::async_trait]
impl CiServer for Layered<dyn CiServer> {
    fn capabilities(&self) -> CiCapabilities {
        self.inner.capabilities()
    }
    async fn ensure_folder(&self, path: &str) -> Result<Ensured<String>> {
        self.run("ci.ensure_folder", Some(path), IDEMPOTENT, || {
            self.inner.ensure_folder(path)
        })
        .await
    }
    async fn ensure_job(&self, path: &str, config_xml: &str) -> Result<Ensured<Job>> {
        self.run("ci.ensure_job", Some(path), IDEMPOTENT, || {
            self.inner.ensure_job(path, config_xml)
        })
        .await
    }
    async fn get_job_config(&self, path: &str) -> Result<Option<String>> {
        self.run("ci.get_job_config", Some(path), IDEMPOTENT, || {
            self.inner.get_job_config(path)
        })
        .await
    }
    async fn downstream_jobs(&self, job: &str) -> Result<Option<Vec<String>>> {
        self.run("ci.downstream_jobs", Some(job), IDEMPOTENT, || {
            self.inner.downstream_jobs(job)
        })
        .await
    }
    async fn add_downstream(&self, job: &str, downstream: &str) -> Result<Option<Linked>> {
        // idempotent; a retry after a lost answer reports `was_listed: true`
        self.run("ci.add_downstream", Some(job), IDEMPOTENT, || {
            self.inner.add_downstream(job, downstream)
        })
        .await
    }
    async fn remove_downstream(&self, job: &str, downstream: &str) -> Result<Option<Linked>> {
        self.run("ci.remove_downstream", Some(job), IDEMPOTENT, || {
            self.inner.remove_downstream(job, downstream)
        })
        .await
    }
    async fn delete_job(&self, path: &str) -> Result<Deleted> {
        self.run("ci.delete_job", Some(path), IDEMPOTENT, || {
            self.inner.delete_job(path)
        })
        .await
    }
    async fn trigger_build(
        &self,
        path: &str,
        parameters: &BTreeMap<String, String>,
    ) -> Result<BuildRef> {
        // a second send queues a second build
        self.run("ci.trigger_build", Some(path), ONCE, || {
            self.inner.trigger_build(path, parameters)
        })
        .await
    }
    async fn wait_for_build(&self, build: &BuildRef, timeout: Duration) -> Result<BuildResult> {
        self.run(
            "ci.wait_for_build",
            Some(&build.job),
            waits(timeout),
            || self.inner.wait_for_build(build, timeout),
        )
        .await
    }
}

#[crate::async_trait]
impl SecretStore for Layered<dyn SecretStore> {
    fn capabilities(&self) -> SecretsCapabilities {
        self.inner.capabilities()
    }
    async fn put_secret(
        &self,
        name: &str,
        value: &SecretString,
        tags: &Tags,
    ) -> Result<Ensured<SecretMeta>> {
        self.run("secrets.put_secret", Some(name), IDEMPOTENT, || {
            self.inner.put_secret(name, value, tags)
        })
        .await
    }
    async fn create_secret(
        &self,
        name: &str,
        value: &SecretString,
        tags: &Tags,
    ) -> Result<Option<SecretMeta>> {
        // a second send after a lost answer says "already there": only when refused
        self.run("secrets.create_secret", Some(name), ONCE, || {
            self.inner.create_secret(name, value, tags)
        })
        .await
    }
    async fn get_secret(&self, name: &str) -> Result<SecretValue> {
        self.run("secrets.get_secret", Some(name), IDEMPOTENT, || {
            self.inner.get_secret(name)
        })
        .await
    }
    async fn describe_secret(&self, name: &str) -> Result<Option<SecretMeta>> {
        self.run("secrets.describe_secret", Some(name), IDEMPOTENT, || {
            self.inner.describe_secret(name)
        })
        .await
    }
    async fn list_secrets(&self, prefix: &str, page: &PageRequest) -> Result<Page<SecretMeta>> {
        self.run("secrets.list_secrets", Some(prefix), IDEMPOTENT, || {
            self.inner.list_secrets(prefix, page)
        })
        .await
    }
    async fn delete_secret(&self, name: &str, recovery_days: u32) -> Result<Deleted> {
        self.run("secrets.delete_secret", Some(name), IDEMPOTENT, || {
            self.inner.delete_secret(name, recovery_days)
        })
        .await
    }
    async fn recover_secret(&self, name: &str) -> Result<SecretMeta> {
        self.run("secrets.recover_secret", Some(name), ONCE, || {
            self.inner.recover_secret(name)
        })
        .await
    }
    async fn purge_secret(&self, name: &str, confirm: &Confirm) -> Result<Deleted> {
        self.run("secrets.purge_secret", Some(name), IDEMPOTENT, || {
            self.inner.purge_secret(name, confirm)
        })
        .await
    }
}

#[crate::async_trait]
impl Database for Layered<dyn Database> {
    fn capabilities(&self) -> DatabaseCapabilities {
        self.inner.capabilities()
    }
    async fn ensure_server(&self, spec: &ServerSpec) -> Result<Ensured<Server>> {
        self.run(
            "database.ensure_server",
            Some(&spec.name),
            IDEMPOTENT,
            || self.inner.ensure_server(spec),
        )
        .await
    }
    async fn get_server(&self, name: &str) -> Result<Option<Server>> {
        self.run("database.get_server", Some(name), IDEMPOTENT, || {
            self.inner.get_server(name)
        })
        .await
    }
    async fn wait_for_server(&self, name: &str, timeout: Duration) -> Result<Server> {
        self.run(
            "database.wait_for_server",
            Some(name),
            waits(timeout),
            || self.inner.wait_for_server(name, timeout),
        )
        .await
    }
    async fn delete_server(&self, name: &str, options: &DeleteServer) -> Result<Deleted> {
        self.run("database.delete_server", Some(name), IDEMPOTENT, || {
            self.inner.delete_server(name, options)
        })
        .await
    }
    async fn ensure_snapshot(
        &self,
        server: &str,
        snapshot: &str,
        tags: &Tags,
    ) -> Result<Ensured<Snapshot>> {
        // a repeat finds the snapshot taken of the same server: `Unchanged`
        self.run(
            "database.ensure_snapshot",
            Some(snapshot),
            IDEMPOTENT,
            || self.inner.ensure_snapshot(server, snapshot, tags),
        )
        .await
    }
    async fn get_snapshot(&self, snapshot: &str) -> Result<Option<Snapshot>> {
        self.run("database.get_snapshot", Some(snapshot), IDEMPOTENT, || {
            self.inner.get_snapshot(snapshot)
        })
        .await
    }
    async fn delete_snapshot(&self, snapshot: &str) -> Result<Deleted> {
        self.run(
            "database.delete_snapshot",
            Some(snapshot),
            IDEMPOTENT,
            || self.inner.delete_snapshot(snapshot),
        )
        .await
    }
    async fn ensure_role(&self, spec: &RoleSpec) -> Result<Ensured<String>> {
        self.run("database.ensure_role", Some(&spec.name), IDEMPOTENT, || {
            self.inner.ensure_role(spec)
        })
        .await
    }
    async fn ensure_database(&self, spec: &DatabaseSpec) -> Result<Ensured<String>> {
        self.run(
            "database.ensure_database",
            Some(&spec.name),
            IDEMPOTENT,
            || self.inner.ensure_database(spec),
        )
        .await
    }
    async fn apply_seed(&self, spec: &SeedSpec) -> Result<Ensured<AppliedSeed>> {
        // applied once by id and checksum, in one transaction with its record
        self.run(
            "database.apply_seed",
            Some(&spec.database),
            IDEMPOTENT,
            || self.inner.apply_seed(spec),
        )
        .await
    }
    async fn database_exists(&self, name: &str) -> Result<bool> {
        self.run("database.database_exists", Some(name), IDEMPOTENT, || {
            self.inner.database_exists(name)
        })
        .await
    }
    async fn role_exists(&self, name: &str) -> Result<bool> {
        self.run("database.role_exists", Some(name), IDEMPOTENT, || {
            self.inner.role_exists(name)
        })
        .await
    }
    async fn drop_database(&self, name: &str, confirm: &Confirm) -> Result<Deleted> {
        self.run("database.drop_database", Some(name), IDEMPOTENT, || {
            self.inner.drop_database(name, confirm)
        })
        .await
    }
    async fn drop_role(&self, name: &str, confirm: &Confirm) -> Result<Deleted> {
        self.run("database.drop_role", Some(name), IDEMPOTENT, || {
            self.inner.drop_role(name, confirm)
        })
        .await
    }
    async fn dump_database(&self, name: &str) -> Result<ByteStream> {
        // retried until the dump starts; a failure while it runs is the stream's
        self.run("database.dump_database", Some(name), IDEMPOTENT, || {
            self.inner.dump_database(name)
        })
        .await
    }
    async fn restore_database(
        &self,
        spec: &DatabaseSpec,
        body: ByteStream,
    ) -> Result<RestoredDatabase> {
        // the dump is read as it is restored: never again (see `Safety::Never`)
        let body = OnceBody::new(body);
        let op = "database.restore_database";
        self.run(op, Some(&spec.name), CONSUMES, || async {
            let body = body.take(op)?;
            self.inner.restore_database(spec, body).await
        })
        .await
    }
}

#[crate::async_trait]
impl Repository for Layered<dyn Repository> {
    fn capabilities(&self) -> RepoCapabilities {
        self.inner.capabilities()
    }
    async fn ensure_branch(&self, name: &str, base: &str) -> Result<Ensured<Branch>> {
        self.run("repo.ensure_branch", Some(name), IDEMPOTENT, || {
            self.inner.ensure_branch(name, base)
        })
        .await
    }
    async fn get_branch(&self, name: &str) -> Result<Option<Branch>> {
        self.run("repo.get_branch", Some(name), IDEMPOTENT, || {
            self.inner.get_branch(name)
        })
        .await
    }
    async fn read_file(&self, branch: &str, path: &str) -> Result<Option<Bytes>> {
        self.run("repo.read_file", Some(path), IDEMPOTENT, || {
            self.inner.read_file(branch, path)
        })
        .await
    }
    async fn read_files(&self, branch: &str, paths: &[String]) -> Result<Option<BranchFiles>> {
        self.run("repo.read_files", Some(branch), IDEMPOTENT, || {
            self.inner.read_files(branch, paths)
        })
        .await
    }
    async fn write_files(&self, spec: &CommitSpec) -> Result<Ensured<Branch>> {
        // no commit when the files already have this content
        self.run("repo.write_files", Some(&spec.branch), IDEMPOTENT, || {
            self.inner.write_files(spec)
        })
        .await
    }
    async fn delete_branch(&self, name: &str) -> Result<Deleted> {
        self.run("repo.delete_branch", Some(name), IDEMPOTENT, || {
            self.inner.delete_branch(name)
        })
        .await
    }
}

#[crate::async_trait]
impl Mail for Layered<dyn Mail> {
    fn capabilities(&self) -> MailCapabilities {
        self.inner.capabilities()
    }
    async fn ensure_identity(&self, name: &str, tags: &Tags) -> Result<Ensured<MailIdentity>> {
        self.run("mail.ensure_identity", Some(name), IDEMPOTENT, || {
            self.inner.ensure_identity(name, tags)
        })
        .await
    }
    async fn get_identity(&self, name: &str) -> Result<Option<MailIdentity>> {
        self.run("mail.get_identity", Some(name), IDEMPOTENT, || {
            self.inner.get_identity(name)
        })
        .await
    }
    async fn delete_identity(&self, name: &str) -> Result<Deleted> {
        self.run("mail.delete_identity", Some(name), IDEMPOTENT, || {
            self.inner.delete_identity(name)
        })
        .await
    }
}

#[crate::async_trait]
impl Probe for Layered<dyn Probe> {
    fn capabilities(&self) -> ProbeCapabilities {
        self.inner.capabilities()
    }
    async fn fetch(&self, request: &ProbeRequest) -> Result<ProbeAnswer> {
        // a GET or HEAD changes nothing: retried like a read
        self.run("probe.fetch", Some(&request.url), IDEMPOTENT, || {
            self.inner.fetch(request)
        })
        .await
    }
}

#[crate::async_trait]
impl Host for Layered<dyn Host> {
    fn capabilities(&self) -> HostCapabilities {
        self.inner.capabilities()
    }
    async fn write_files(&self, dir: &str, files: &BTreeMap<String, Bytes>) -> Result<()> {
        // the same files again: the same content, each replaced atomically
        self.run("host.write_files", Some(dir), IDEMPOTENT, || {
            self.inner.write_files(dir, files)
        })
        .await
    }
    async fn read_file(&self, path: &str) -> Result<Option<Bytes>> {
        self.run("host.read_file", Some(path), IDEMPOTENT, || {
            self.inner.read_file(path)
        })
        .await
    }
    async fn run(&self, command: &HostCommand) -> Result<Option<CommandOutput>> {
        // a command may not be safe to run twice (it starts something)
        self.run("host.run", Some(&command.dir), ONCE, || {
            self.inner.run(command)
        })
        .await
    }
    async fn inspect(
        &self,
        dir: &str,
        file: &str,
        args: Option<&[String]>,
    ) -> Result<Option<DirInspection>> {
        // its command is a status check: a read
        self.run("host.inspect", Some(dir), IDEMPOTENT, || {
            self.inner.inspect(dir, file, args)
        })
        .await
    }
    async fn remove_dir(&self, dir: &str) -> Result<Deleted> {
        self.run("host.remove_dir", Some(dir), IDEMPOTENT, || {
            self.inner.remove_dir(dir)
        })
        .await
    }
}
