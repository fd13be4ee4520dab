//! [`AzureBlob`]: Blob storage containers and block blobs through the Blob REST API.
//!
//! Requests are signed with Shared Key when an account key is available (always for the
//! Azurite development account) and carry a Storage bearer token otherwise.
//!
//! * Etags: Azure's `ETag` changes with every write, but provisio's `copy_prefix` compares
//!   content, so an object's etag here is its Content-MD5 (sent on every put and verified by
//!   the service), quoted hex: the same bytes give the same etag.
//! * Tags: container metadata names must be C# identifiers, which `provisio:tenant` is not,
//!   so the tag set is kept as one metadata entry, `provisiotags`, holding base64url JSON.
//! * Archive rules (`archive_after_days`) are kept in the storage account's lifecycle
//!   management policy, one rule per container, when `storage_resource_group` is configured;
//!   otherwise they are unsupported. Versioning is an account-level setting: unsupported.
//! * `copy_prefix` downloads and uploads (the trait's default): it works the same with Shared
//!   Key and bearer auth, needs no polling of asynchronous copies, and the initial assets are
//!   small.

#[path = "blob_stream.rs"]
mod stream;

use crate::client::{Core, Response};
use crate::config::check_endpoint;
use crate::error::PROVIDER;
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use md5::Digest;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use provisio::storage::{
    Bucket, BucketSpec, ClassChange, ObjectMeta, StorageCapabilities, StorageClass,
};
use provisio::{
    Bytes, Deleted, Ensured, Error, ObjectStorage, Page, PageRequest, Provider, ProviderInfo,
    Result, SecretString, Tags, validate,
};
use reqwest::RequestBuilder;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The Blob service version sent as `x-ms-version`.
pub const BLOB_API_VERSION: &str = "2025-01-05";
/// The container metadata entry holding provisio's tags.
pub const TAGS_METADATA: &str = "provisiotags";
/// The largest single Put Blob (5000 MiB).
pub const MAX_PUT_SIZE: u64 = 5000 * 1024 * 1024;

const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// Azure Blob storage as [`ObjectStorage`].
pub struct AzureBlob {
    core: Arc<Core>,
    info: ProviderInfo,
    endpoint: url::Url,
    account: String,
    key: Option<SecretString>,
    /// The account's lifecycle management policy, when `storage_resource_group` is set.
    policy: Option<LifecyclePolicy>,
}

struct Props {
    metadata: BTreeMap<String, String>,
    public: bool,
}

impl AzureBlob {
    pub(crate) fn new(core: Arc<Core>) -> Result<Self> {
        let c = &core.config;
        let account = c
            .required(&c.storage_account, "storage_account")?
            .to_string();
        let endpoint = match &c.blob_endpoint {
            Some(e) => e.clone(),
            None => format!("https://{account}.blob.core.windows.net"),
        };
        let endpoint = check_endpoint("blob_endpoint", &endpoint)?;
        let key = c.resolve_storage_key();
        let policy = match &c.storage_resource_group {
            Some(rg) if !rg.trim().is_empty() => {
                let mut arm_config = c.clone();
                arm_config.resource_group = Some(rg.clone());
                let arm = crate::client::Arm::new(Arc::new(crate::client::Core {
                    config: arm_config,
                    http: core.http.clone(),
                    credential: core.credential.clone(),
                }))?;
                Some(LifecyclePolicy {
                    path: arm.rg_path(&format!(
                        "Microsoft.Storage/storageAccounts/{account}/managementPolicies/default"
                    )),
                    arm,
                    lock: tokio::sync::Mutex::new(()),
                })
            }
            _ => None,
        };
        let info = ProviderInfo::new(PROVIDER, format!("storage/{account}"))
            .with_quota(c.quota(crate::config::AzureService::Blob)?);
        Ok(AzureBlob {
            info,
            core,
            endpoint,
            account,
            key,
            policy,
        })
    }

    pub(crate) fn url(&self, container: &str, blob: Option<&str>) -> url::Url {
        let mut s = self.endpoint.as_str().trim_end_matches('/').to_string();
        s.push('/');
        s.push_str(container);
        if let Some(b) = blob {
            s.push('/');
            s.push_str(&utf8_percent_encode(b, PATH).to_string());
        }
        url::Url::parse(&s).expect("endpoint and encoded names form a URL")
    }

    fn container_url(&self, container: &str, extra: &[(&str, &str)]) -> url::Url {
        let mut u = self.url(container, None);
        {
            let mut q = u.query_pairs_mut();
            q.append_pair("restype", "container");
            for (k, v) in extra {
                q.append_pair(k, v);
            }
        }
        u
    }

    pub(crate) async fn send<F>(&self, build: F) -> Result<Response>
    where
        F: Fn(&reqwest::Client) -> RequestBuilder,
    {
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        let with_version = |http: &reqwest::Client| {
            build(http)
                .header("x-ms-date", date.as_str())
                .header("x-ms-version", BLOB_API_VERSION)
        };
        match &self.key {
            Some(key) => {
                let mut req = with_version(&self.core.http).build().map_err(|e| {
                    Error::invalid_input("cannot build the request")
                        .with_provider(PROVIDER)
                        .with_source(e.without_url())
                })?;
                crate::sharedkey::sign(&mut req, &self.account, key)?;
                provisio::requests::before_request(&self.info).await;
                let resp = self
                    .core
                    .http
                    .execute(req)
                    .await
                    .map_err(crate::error::transport_error)?;
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let body = resp.bytes().await.map_err(crate::error::transport_error)?;
                if status == 429 || status == 503 {
                    // Blob storage says "slow down" with 503 ServerBusy as well as 429.
                    let pause = crate::error::retry_after(&headers)
                        .unwrap_or(std::time::Duration::from_secs(1));
                    provisio::requests::rate_limited(&self.info, pause);
                }
                Ok(Response {
                    status,
                    headers,
                    body,
                })
            }
            None => {
                self.core
                    .send(&self.info, Some(crate::auth::STORAGE_SCOPE), with_version)
                    .await
            }
        }
    }

    fn error_code(resp: &Response) -> Option<String> {
        crate::error::parse_xml_error(&resp.headers, &resp.body).code
    }

    async fn properties(&self, container: &str) -> Result<Option<Props>> {
        let url = self.container_url(container, &[]);
        let resp = self.send(|h| h.head(url.clone())).await?;
        match resp.status {
            200 => {
                let metadata = resp
                    .headers
                    .iter()
                    .filter_map(|(k, v)| {
                        let name = k.as_str().strip_prefix("x-ms-meta-")?;
                        Some((name.to_string(), v.to_str().ok()?.to_string()))
                    })
                    .collect();
                let public = resp.header("x-ms-blob-public-access").is_some();
                Ok(Some(Props { metadata, public }))
            }
            404 => Ok(None),
            _ => Err(resp.xml_error()),
        }
    }

    async fn archive_rule(&self, container: &str) -> Result<Option<u32>> {
        match &self.policy {
            Some(p) => p.rule(container).await,
            None => Ok(None),
        }
    }

    fn decode_tags(meta: &BTreeMap<String, String>) -> Tags {
        meta.get(TAGS_METADATA)
            .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn encode_tags(tags: &Tags) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(tags).expect("tags serialize"))
    }

    fn bucket(name: &str, p: &Props, archive_after_days: Option<u32>) -> Bucket {
        Bucket {
            name: name.to_string(),
            versioning: false,
            archive_after_days,
            block_public_access: !p.public,
            tags: Self::decode_tags(&p.metadata),
        }
    }

    fn meta_headers(
        mut req: RequestBuilder,
        metadata: &BTreeMap<String, String>,
    ) -> RequestBuilder {
        for (k, v) in metadata {
            req = req.header(format!("x-ms-meta-{k}"), v.as_str());
        }
        req
    }

    /// The blob a Get Blob (Properties) answer describes; its tier from `x-ms-access-tier`.
    pub(crate) fn object_meta(key: &str, resp: &Response) -> ObjectMeta {
        let size = resp
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(resp.body.len() as u64);
        ObjectMeta {
            key: key.to_string(),
            size,
            etag: etag_of(resp.header("content-md5"), resp.header("etag")),
            content_type: resp.header("content-type").map(str::to_string),
            storage_class: StorageClass::from_azure_tier(resp.header("x-ms-access-tier")),
        }
    }

    fn names(container: &str, key: Option<&str>) -> Result<()> {
        validate::azure_container_name("bucket", container)?;
        if let Some(k) = key {
            validate::object_key("key", k)?;
            if k.len() > 1024 {
                return Err(Error::invalid_field(
                    "key",
                    "must be at most 1024 characters",
                ));
            }
        }
        Ok(())
    }

    fn err(e: Error, op: &str, resource: &str) -> Error {
        e.in_context(PROVIDER, op)
            .with_resource(resource.to_string())
    }
}

/// The storage account's lifecycle management policy (Resource Manager,
/// `Microsoft.Storage/storageAccounts/{account}/managementPolicies/default`): one rule per
/// container, named `provisio<hex of the container name>` (rule names are alphanumeric), that
/// moves block blobs under `<container>/` to the Archive tier after N days without
/// modification. The policy is one document for the whole account and has no etag, so writes
/// are read-modify-write under a lock held by this provider instance; other writers of the same
/// policy can race with it.
struct LifecyclePolicy {
    arm: crate::client::Arm,
    path: String,
    lock: tokio::sync::Mutex<()>,
}

/// The management policy api-version.
pub const STORAGE_MGMT_API_VERSION: &str = "2023-05-01";

impl LifecyclePolicy {
    fn rule_name(container: &str) -> String {
        format!("provisio{}", hex::encode(container))
    }

    async fn read(&self) -> Result<Vec<serde_json::Value>> {
        let url = self.arm.url(&self.path, STORAGE_MGMT_API_VERSION);
        let resp = self.arm.call(reqwest::Method::GET, &url, None, &[]).await?;
        match resp.status {
            200 => {
                let v: serde_json::Value = resp.json()?;
                Ok(v["properties"]["policy"]["rules"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default())
            }
            404 => Ok(Vec::new()),
            _ => Err(resp.json_error()),
        }
    }

    async fn rule(&self, container: &str) -> Result<Option<u32>> {
        let name = Self::rule_name(container);
        Ok(self
            .read()
            .await?
            .iter()
            .find(|r| r["name"] == name.as_str())
            .and_then(|r| {
                r["definition"]["actions"]["baseBlob"]["tierToArchive"]
                ["daysAfterModificationGreaterThan"]
                .as_u64()
                .map(|d| d as u32)
            }))
    }

    async fn set_rule(&self, container: &str, days: Option<u32>) -> Result<()> {
        let _guard = self.lock.lock().await;
        let name = Self::rule_name(container);
        let mut rules = self.read().await?;
        let before = rules.len();
        rules.retain(|r| r["name"] != name.as_str());
        if days.is_none() && rules.len() == before {
            return Ok(());
        }
        if let Some(days) = days {
            rules.push(serde_json::json!({
                "enabled": true,
                "name": name,
                "type": "Lifecycle",
                "definition": {
                    "filters": { "blobTypes": ["blockBlob"], "prefixMatch": [format!("{container}/")] },
                    "actions": { "baseBlob": { "tierToArchive": { "daysAfterModificationGreaterThan": days } } }
                }
            }));
        }
        let url = self.arm.url(&self.path, STORAGE_MGMT_API_VERSION);
        let resp = if rules.is_empty() {
            // A policy needs at least one rule: delete it instead.
            self.arm
                .call(reqwest::Method::DELETE, &url, None, &[])
                .await?
        } else {
            let body = serde_json::json!({ "properties": { "policy": { "rules": rules } } });
            self.arm
                .call(reqwest::Method::PUT, &url, Some(&body), &[])
                .await?
        };
        if !resp.ok() && resp.status != 404 {
            return Err(resp.json_error());
        }
        Ok(())
    }
}

/// The content etag: quoted hex of the Content-MD5, else the service's ETag.
fn etag_of(content_md5: Option<&str>, service_etag: Option<&str>) -> String {
    match content_md5
        .filter(|m| !m.is_empty())
        .and_then(|m| STANDARD.decode(m.trim()).ok())
    {
        Some(md5) => format!("\"{}\"", hex::encode(md5)),
        None => service_etag.unwrap_or_default().to_string(),
    }
}

#[derive(serde::Deserialize, Default)]
struct EnumerationResults {
    #[serde(rename = "Blobs", default)]
    blobs: Blobs,
    #[serde(rename = "NextMarker", default)]
    next_marker: Option<String>,
}

#[derive(serde::Deserialize, Default)]
struct Blobs {
    #[serde(rename = "Blob", default)]
    blob: Vec<BlobItem>,
}

#[derive(serde::Deserialize)]
struct BlobItem {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Properties")]
    properties: BlobProps,
}

#[derive(serde::Deserialize)]
struct BlobProps {
    #[serde(rename = "Content-Length", default)]
    content_length: u64,
    #[serde(rename = "Content-Type", default)]
    content_type: Option<String>,
    #[serde(rename = "Content-MD5", default)]
    content_md5: Option<String>,
    #[serde(rename = "Etag", default)]
    etag: Option<String>,
    #[serde(rename = "AccessTier", default)]
    access_tier: Option<String>,
}

impl std::fmt::Debug for AzureBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureBlob")
            .field("endpoint", &self.endpoint.as_str())
            .field("account", &self.account)
            .field("shared_key", &self.key.is_some())
            .finish()
    }
}

impl Provider for AzureBlob {
    fn info(&self) -> ProviderInfo {
        self.info.clone()
    }

    /// Azure's container rule (no dots, no consecutive hyphens) for buckets; the portable rule
    /// for the rest.
    fn check_name(
        &self,
        kind: provisio::validate::NameKind,
        field: &str,
        value: &str,
    ) -> Result<()> {
        match kind {
            provisio::validate::NameKind::Bucket => validate::azure_container_name(field, value),
            provisio::validate::NameKind::ObjectKey => validate::object_key(field, value),
            other => validate::portable(other, field, value),
        }
        .map(|_| ())
    }
}

#[async_trait]
impl ObjectStorage for AzureBlob {
    fn capabilities(&self) -> StorageCapabilities {
        StorageCapabilities {
            versioning: false,
            archive_lifecycle: self.policy.is_some(),
            public_access_block: true,
            tags: true,
            max_put_size: MAX_PUT_SIZE,
            storage_classes: vec![
                StorageClass::Standard,
                StorageClass::InfrequentAccess,
                StorageClass::Archive,
            ],
            // lifecycle management policies are Resource Manager's, not the data plane's
            expiry_rules: false,
        }
    }

    async fn ensure_bucket(&self, spec: &BucketSpec) -> Result<Ensured<Bucket>> {
        let op = "storage.ensure_bucket";
        let name = spec.name.as_str();
        let run = async {
            Self::names(name, None)?;
            validate::tags("bucket tags", &spec.tags)?;
            if spec.versioning {
                return Err(Error::unsupported(op).with_resource(name.to_string()));
            }
            if spec.archive_after_days.is_some() && self.policy.is_none() {
                return Err(Error::new(
                    provisio::ErrorKind::Unsupported,
                    "archive lifecycle rules live in the storage account's lifecycle management policy; set storage_resource_group to let provisio write them",
                ));
            }
            if spec.archive_after_days == Some(0) {
                return Err(Error::invalid_field(
                    "archive_after_days",
                    "must be at least 1",
                ));
            }
            let public_header = |r: RequestBuilder| {
                if spec.block_public_access {
                    r
                } else {
                    r.header("x-ms-blob-public-access", "blob")
                }
            };
            let existing = self.properties(name).await?;
            provisio::existence::found(existing.is_some());
            match existing {
                None => {
                    let mut metadata = BTreeMap::new();
                    if !spec.tags.is_empty() {
                        metadata.insert(TAGS_METADATA.to_string(), Self::encode_tags(&spec.tags));
                    }
                    let url = self.container_url(name, &[]);
                    let resp = self
                        .send(|h| public_header(Self::meta_headers(h.put(url.clone()), &metadata)))
                        .await?;
                    if resp.status != 201 {
                        return Err(resp.xml_error());
                    }
                    if let Some(policy) = &self.policy {
                        policy.set_rule(name, spec.archive_after_days).await?;
                    }
                    let props = Props {
                        metadata,
                        public: !spec.block_public_access,
                    };
                    Ok(Ensured::created(Self::bucket(
                        name,
                        &props,
                        spec.archive_after_days,
                    )))
                }
                Some(mut props) => {
                    let archive = self.archive_rule(name).await?;
                    let current = Self::bucket(name, &props, archive);
                    provisio::types::ownership::check_adoptable(
                        &current.tags,
                        &spec.tags,
                        &format!("container {name:?}"),
                    )?;
                    if current.matches(spec) {
                        return Ok(Ensured::unchanged(current));
                    }
                    if !provisio::types::tags_match(&current.tags, &spec.tags) {
                        let mut tags = current.tags.clone();
                        tags.extend(spec.tags.clone());
                        props
                            .metadata
                            .insert(TAGS_METADATA.to_string(), Self::encode_tags(&tags));
                        let url = self.container_url(name, &[("comp", "metadata")]);
                        let resp = self
                            .send(|h| Self::meta_headers(h.put(url.clone()), &props.metadata))
                            .await?;
                        if !resp.ok() {
                            return Err(resp.xml_error());
                        }
                    }
                    if current.block_public_access != spec.block_public_access {
                        let url = self.container_url(name, &[("comp", "acl")]);
                        let resp = self.send(|h| public_header(h.put(url.clone()))).await?;
                        if !resp.ok() {
                            return Err(resp.xml_error());
                        }
                        props.public = !spec.block_public_access;
                    }
                    if current.archive_after_days != spec.archive_after_days
                        && let Some(policy) = &self.policy
                    {
                        policy.set_rule(name, spec.archive_after_days).await?;
                    }
                    Ok(Ensured::updated(Self::bucket(
                        name,
                        &props,
                        spec.archive_after_days,
                    )))
                }
            }
        };
        run.await.map_err(|e| Self::err(e, op, name))
    }

    async fn get_bucket(&self, name: &str) -> Result<Option<Bucket>> {
        let op = "storage.get_bucket";
        let run = async {
            Self::names(name, None)?;
            match self.properties(name).await? {
                Some(p) => Ok(Some(Self::bucket(name, &p, self.archive_rule(name).await?))),
                None => Ok(None),
            }
        };
        run.await.map_err(|e| Self::err(e, op, name))
    }

    async fn delete_bucket(&self, name: &str) -> Result<Deleted> {
        let op = "storage.delete_bucket";
        let run = async {
            Self::names(name, None)?;
            if self.properties(name).await?.is_none() {
                return Ok(Deleted::AlreadyGone);
            }
            let page = self
                .list_objects(name, "", &PageRequest::with_limit(1))
                .await?;
            if !page.items.is_empty() {
                return Err(Error::conflict(format!(
                    "container {name} is not empty; delete its blobs first"
                )));
            }
            let url = self.container_url(name, &[]);
            let resp = self.send(|h| h.delete(url.clone())).await?;
            let gone = match resp.status {
                200 | 202 => Deleted::Deleted,
                404 => Deleted::AlreadyGone,
                _ => return Err(resp.xml_error()),
            };
            if let Some(policy) = &self.policy {
                policy.set_rule(name, None).await?;
            }
            Ok(gone)
        };
        run.await.map_err(|e| Self::err(e, op, name))
    }

    async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<ObjectMeta> {
        let op = "storage.put_object";
        let run = async {
            Self::names(bucket, Some(key))?;
            if body.len() as u64 > MAX_PUT_SIZE {
                return Err(Error::invalid_field(
                    "object size",
                    format!(
                        "{} bytes is more than a single put accepts ({MAX_PUT_SIZE})",
                        body.len()
                    ),
                ));
            }
            let md5 = STANDARD.encode(md5::Md5::digest(&body));
            let url = self.url(bucket, Some(key));
            let resp = self
                .send(|h| {
                    let mut r = h
                        .put(url.clone())
                        .header("x-ms-blob-type", "BlockBlob")
                        .header("content-md5", md5.as_str())
                        .body(body.clone());
                    if body.is_empty() {
                        // an empty body is sent without a length unless told: Blob storage
                        // wants one on every Put Blob
                        r = r.header("content-length", "0");
                    }
                    if let Some(ct) = content_type {
                        r = r.header("content-type", ct);
                    }
                    r
                })
                .await?;
            if resp.status != 201 {
                return Err(resp.xml_error());
            }
            Ok(ObjectMeta {
                key: key.to_string(),
                size: body.len() as u64,
                etag: etag_of(Some(&md5), resp.header("etag")),
                content_type: Some(
                    content_type
                        .unwrap_or("application/octet-stream")
                        .to_string(),
                ),
                // the account's default tier
                storage_class: StorageClass::Standard,
            })
        };
        run.await
            .map_err(|e| Self::err(e, op, &format!("{bucket}/{key}")))
    }

    async fn get_object(&self, bucket: &str, key: &str) -> Result<(Bytes, ObjectMeta)> {
        let op = "storage.get_object";
        let run = async {
            Self::names(bucket, Some(key))?;
            let url = self.url(bucket, Some(key));
            let resp = self.send(|h| h.get(url.clone())).await?;
            if resp.status == 409 && Self::error_code(&resp).as_deref() == Some("BlobArchived") {
                return Err(provisio::storage::archived_object(
                    bucket,
                    key,
                    StorageClass::Archive,
                    "BlobArchived",
                ));
            }
            if resp.status != 200 {
                return Err(resp.xml_error());
            }
            let meta = Self::object_meta(key, &resp);
            Ok((resp.body, meta))
        };
        run.await
            .map_err(|e| Self::err(e, op, &format!("{bucket}/{key}")))
    }

    /// Put Block per 8 MiB and Put Block List (see `blob_stream.rs`).
    async fn put_object_stream(
        &self,
        bucket: &str,
        key: &str,
        body: provisio::ByteStream,
        content_type: Option<&str>,
    ) -> Result<ObjectMeta> {
        self.put_stream(bucket, key, body, content_type).await
    }

    /// Ranged Get Blob requests of 8 MiB (see `blob_stream.rs`).
    async fn get_object_stream(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<(provisio::ByteStream, ObjectMeta)> {
        self.get_stream(bucket, key).await
    }

    async fn head_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>> {
        let op = "storage.head_object";
        let run = async {
            Self::names(bucket, Some(key))?;
            let url = self.url(bucket, Some(key));
            let resp = self.send(|h| h.head(url.clone())).await?;
            match resp.status {
                200 => Ok(Some(Self::object_meta(key, &resp))),
                404 if Self::error_code(&resp).as_deref() == Some("ContainerNotFound") => {
                    Err(resp.xml_error())
                }
                404 => Ok(None),
                _ => Err(resp.xml_error()),
            }
        };
        run.await
            .map_err(|e| Self::err(e, op, &format!("{bucket}/{key}")))
    }

    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        page: &PageRequest,
    ) -> Result<Page<ObjectMeta>> {
        let op = "storage.list_objects";
        let run = async {
            Self::names(bucket, None)?;
            let limit = page.limit.unwrap_or(1000).clamp(1, 5000).to_string();
            let mut params = vec![("comp", "list"), ("maxresults", limit.as_str())];
            if !prefix.is_empty() {
                params.push(("prefix", prefix));
            }
            if let Some(m) = &page.token {
                params.push(("marker", m.as_str()));
            }
            let url = self.container_url(bucket, &params);
            let resp = self.send(|h| h.get(url.clone())).await?;
            if resp.status != 200 {
                return Err(resp.xml_error());
            }
            let text = String::from_utf8_lossy(&resp.body);
            let parsed: EnumerationResults =
                quick_xml::de::from_str(text.trim_start_matches('\u{feff}')).map_err(|e| {
                    Error::unexpected(format!("unreadable blob listing: {e}"))
                        .with_provider(PROVIDER)
                })?;
            let items = parsed
                .blobs
                .blob
                .into_iter()
                .map(|b| ObjectMeta {
                    etag: etag_of(
                        b.properties.content_md5.as_deref(),
                        b.properties.etag.as_deref(),
                    ),
                    key: b.name,
                    size: b.properties.content_length,
                    content_type: b.properties.content_type.filter(|c| !c.is_empty()),
                    storage_class: StorageClass::from_azure_tier(
                        b.properties.access_tier.as_deref(),
                    ),
                })
                .collect();
            Ok(Page {
                items,
                next: parsed.next_marker.filter(|m| !m.is_empty()),
            })
        };
        run.await.map_err(|e| Self::err(e, op, bucket))
    }

    async fn delete_object(&self, bucket: &str, key: &str) -> Result<Deleted> {
        let op = "storage.delete_object";
        let run = async {
            Self::names(bucket, Some(key))?;
            let url = self.url(bucket, Some(key));
            let resp = self.send(|h| h.delete(url.clone())).await?;
            match resp.status {
                200 | 202 => Ok(Deleted::Deleted),
                404 if Self::error_code(&resp).as_deref() == Some("BlobNotFound") => {
                    Ok(Deleted::AlreadyGone)
                }
                _ => Err(resp.xml_error()),
            }
        };
        run.await
            .map_err(|e| Self::err(e, op, &format!("{bucket}/{key}")))
    }

    async fn set_storage_class(
        &self,
        bucket: &str,
        key: &str,
        class: StorageClass,
    ) -> Result<ObjectMeta> {
        let op = "storage.set_storage_class";
        let run = async {
            Self::names(bucket, Some(key))?;
            self.change_tier(bucket, key, class, None).await
        };
        run.await
            .map_err(|e| Self::err(e, op, &format!("{bucket}/{key}")))
    }

    async fn set_prefix_storage_class(
        &self,
        bucket: &str,
        prefix: &str,
        class: StorageClass,
    ) -> Result<ClassChange> {
        let op = "storage.set_prefix_storage_class";
        let run = async {
            Self::names(bucket, None)?;
            self.change_prefix_tier(bucket, prefix, class).await
        };
        run.await.map_err(|e| Self::err(e, op, bucket))
    }

    // Expiry rules: the trait's default `Unsupported` (see `blob_tiers`).
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_follow_content() {
        let md5 = STANDARD.encode(md5::Md5::digest(b"hello"));
        assert_eq!(
            etag_of(Some(&md5), Some("\"0x8D\"")),
            "\"5d41402abc4b2a76b9719d911017c592\""
        );
        assert_eq!(etag_of(None, Some("\"0x8D\"")), "\"0x8D\"");
    }

    #[test]
    fn listing_xml() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="http://127.0.0.1:10000/devstoreaccount1" ContainerName="c"><Prefix>p/</Prefix><MaxResults>2</MaxResults><Blobs><Blob><Name>p/a b.txt</Name><Properties><Creation-Time>Sun, 22 Nov 2026 12:00:00 GMT</Creation-Time><Etag>0x1</Etag><Content-Length>5</Content-Length><Content-Type>text/plain</Content-Type><Content-MD5>XUFAKrxLKna5cZ2REBfFkg==</Content-MD5><BlobType>BlockBlob</BlobType></Properties></Blob><Blob><Name>p/c</Name><Properties><Etag>0x2</Etag><Content-Length>0</Content-Length><Content-MD5 /></Properties></Blob></Blobs><NextMarker>m2</NextMarker></EnumerationResults>"#;
        let r: EnumerationResults = quick_xml::de::from_str(xml).unwrap();
        assert_eq!(r.blobs.blob.len(), 2);
        assert_eq!(r.blobs.blob[0].name, "p/a b.txt");
        assert_eq!(r.blobs.blob[0].properties.content_length, 5);
        assert_eq!(r.next_marker.as_deref(), Some("m2"));
        let empty = r#"<EnumerationResults><Blobs /><NextMarker /></EnumerationResults>"#;
        let r: EnumerationResults = quick_xml::de::from_str(empty).unwrap();
        assert!(r.blobs.blob.is_empty());
        assert!(r.next_marker.unwrap_or_default().is_empty());
    }

    #[test]
    fn tags_survive_metadata() {
        let tags = provisio::types::ownership::tags("acme", "launch", "assets");
        let mut meta = BTreeMap::new();
        meta.insert(TAGS_METADATA.to_string(), AzureBlob::encode_tags(&tags));
        assert_eq!(AzureBlob::decode_tags(&meta), tags);
    }
}
