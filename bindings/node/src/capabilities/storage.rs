//! `Storage`: [`provisio::ObjectStorage`].

use crate::errors::OrThrow;
use crate::{from_js, to_js};
use napi::bindgen_prelude::{Buffer, Either};
use napi_derive::napi;
use provisio::ObjectStorage;
use provisio::storage::{BucketSpec, StorageClass};
use serde_json::Value;
use std::sync::Arc;

/// An object's body and metadata.
#[napi(object)]
pub struct StoredObject {
    /// The content.
    pub body: Buffer,
    /// `{ key, size, etag, content_type, storage_class }`.
    pub meta: Value,
}

/// Object storage: buckets and objects.
#[napi]
pub struct Storage {
    pub(crate) inner: Arc<dyn ObjectStorage>,
}

/// A body given as a `Buffer` or a string (UTF-8).
pub(crate) fn body(value: Either<Buffer, String>) -> provisio::Bytes {
    match value {
        Either::A(b) => provisio::Bytes::from(b.to_vec()),
        Either::B(s) => provisio::Bytes::from(s.into_bytes()),
    }
}

#[napi]
impl Storage {
    /// Who the provider is.
    #[napi]
    pub fn info(&self) -> napi::Result<Value> {
        to_js(&self.inner.info())
    }
    /// What the provider supports.
    #[napi]
    pub fn capabilities(&self) -> napi::Result<Value> {
        to_js(&self.inner.capabilities())
    }
    /// Creates the bucket or brings its settings to `spec`.
    #[napi]
    pub async fn ensure_bucket(&self, spec: Value) -> napi::Result<Value> {
        let spec: BucketSpec = from_js("bucket spec", spec)?;
        to_js(&self.inner.ensure_bucket(&spec).await.or_throw()?)
    }
    /// The bucket's settings, or `null`.
    #[napi]
    pub async fn get_bucket(&self, name: String) -> napi::Result<Value> {
        to_js(&self.inner.get_bucket(&name).await.or_throw()?)
    }
    /// Deletes an empty bucket.
    #[napi]
    pub async fn delete_bucket(&self, name: String) -> napi::Result<Value> {
        to_js(&self.inner.delete_bucket(&name).await.or_throw()?)
    }
    /// Stores an object; returns its metadata.
    #[napi]
    pub async fn put_object(
        &self,
        bucket: String,
        key: String,
        body: Either<Buffer, String>,
        content_type: Option<String>,
    ) -> napi::Result<Value> {
        let body = self::body(body);
        let meta = self
            .inner
            .put_object(&bucket, &key, body, content_type.as_deref())
            .await
            .or_throw()?;
        to_js(&meta)
    }
    /// Reads an object: `{ body: Buffer, meta }`; `NotFoundError` when missing.
    #[napi]
    pub async fn get_object(&self, bucket: String, key: String) -> napi::Result<StoredObject> {
        let (body, meta) = self.inner.get_object(&bucket, &key).await.or_throw()?;
        Ok(StoredObject {
            body: body.to_vec().into(),
            meta: to_js(&meta)?,
        })
    }
    /// An object's metadata, or `null`.
    #[napi]
    pub async fn head_object(&self, bucket: String, key: String) -> napi::Result<Value> {
        to_js(&self.inner.head_object(&bucket, &key).await.or_throw()?)
    }
    /// One page of the objects under `prefix`.
    #[napi]
    pub async fn list_objects(
        &self,
        bucket: String,
        prefix: String,
        page: Option<Value>,
    ) -> napi::Result<Value> {
        let page = super::page(page)?;
        to_js(
            &self
                .inner
                .list_objects(&bucket, &prefix, &page)
                .await
                .or_throw()?,
        )
    }
    /// Deletes an object.
    #[napi]
    pub async fn delete_object(&self, bucket: String, key: String) -> napi::Result<Value> {
        to_js(&self.inner.delete_object(&bucket, &key).await.or_throw()?)
    }
    /// Copies every object under a prefix; returns how many were written.
    #[napi]
    pub async fn copy_prefix(
        &self,
        src_bucket: String,
        src_prefix: String,
        dst_bucket: String,
        dst_prefix: String,
    ) -> napi::Result<f64> {
        let n = self
            .inner
            .copy_prefix(&src_bucket, &src_prefix, &dst_bucket, &dst_prefix)
            .await
            .or_throw()?;
        Ok(n as f64)
    }
    /// Deletes every object under a prefix; returns how many were deleted.
    #[napi]
    pub async fn delete_prefix(&self, bucket: String, prefix: String) -> napi::Result<f64> {
        let n = self
            .inner
            .delete_prefix(&bucket, &prefix)
            .await
            .or_throw()?;
        Ok(n as f64)
    }
    /// Moves an object to a storage class (`standard`, `infrequent_access`, `archive`,
    /// `deep_archive`, or a provider's spelling such as `GLACIER`); resolves to its metadata.
    /// Out of an archive class it restores first: rejects with kind `transient` while the
    /// restore runs.
    #[napi]
    pub async fn set_storage_class(
        &self,
        bucket: String,
        key: String,
        storage_class: String,
    ) -> napi::Result<Value> {
        let class = StorageClass::parse("storage_class", &storage_class).or_throw()?;
        to_js(
            &self
                .inner
                .set_storage_class(&bucket, &key, class)
                .await
                .or_throw()?,
        )
    }
    /// Moves every object under a prefix to a storage class: `{ changed, unchanged, pending }`
    /// (pending: still being restored; call again).
    #[napi]
    pub async fn set_prefix_storage_class(
        &self,
        bucket: String,
        prefix: String,
        storage_class: String,
    ) -> napi::Result<Value> {
        let class = StorageClass::parse("storage_class", &storage_class).or_throw()?;
        to_js(
            &self
                .inner
                .set_prefix_storage_class(&bucket, &prefix, class)
                .await
                .or_throw()?,
        )
    }
    /// Ensures a rule deleting the objects under a prefix `days` days after they were
    /// written: `{ value: { id, prefix, days }, outcome }`.
    #[napi]
    pub async fn ensure_expiry_rule(
        &self,
        bucket: String,
        prefix: String,
        days: u32,
    ) -> napi::Result<Value> {
        to_js(
            &self
                .inner
                .ensure_expiry_rule(&bucket, &prefix, days)
                .await
                .or_throw()?,
        )
    }
    /// The expiry rule of a prefix, or `null`.
    #[napi]
    pub async fn get_expiry_rule(&self, bucket: String, prefix: String) -> napi::Result<Value> {
        to_js(
            &self
                .inner
                .get_expiry_rule(&bucket, &prefix)
                .await
                .or_throw()?,
        )
    }
    /// Removes the expiry rule of a prefix (never an object).
    #[napi]
    pub async fn delete_expiry_rule(&self, bucket: String, prefix: String) -> napi::Result<Value> {
        to_js(
            &self
                .inner
                .delete_expiry_rule(&bucket, &prefix)
                .await
                .or_throw()?,
        )
    }
}
