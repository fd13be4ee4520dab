//! Streamed objects on S3: a multipart upload for [`ObjectStorage::put_object_stream`] and a
//! streamed `GetObject` for [`ObjectStorage::get_object_stream`].
//!
//! * **Upload.** The stream is cut into parts of [`PART_SIZE`] (8 MiB; S3 wants at least
//!   5 MiB for every part but the last). A body that ends before its first part is full goes
//!   as one `PutObject` (one request). Otherwise: one `CreateMultipartUpload`, one
//!   `UploadPart` per part, sent one after the other while the next part is read (at most two
//!   parts in memory: the one being sent and the one being read), then one
//!   `CompleteMultipartUpload`. A part is held in
//!   memory until S3 took it, so a part that fails with a retryable error is sent again by the
//!   client (the stream itself is never replayed). When the stream fails, or a part or the
//!   completion fails, the upload is aborted (`AbortMultipartUpload`, one more request): S3
//!   keeps no invisible parts, and the key keeps its previous object.
//! * **Download.** One `GetObject`, whose body is handed out as it arrives.
//!
//! [`ObjectStorage::put_object_stream`]: provisio::ObjectStorage::put_object_stream
//! [`ObjectStorage::get_object_stream`]: provisio::ObjectStorage::get_object_stream

use crate::error::{kind_for, located, service_message};
use crate::storage::{S3Storage, bucket_name, key_path, object_key, read_xml};
use crate::wire::Request;
use crate::wire::xml::escape;
use provisio::layer::Safety;
use provisio::storage::{ObjectMeta, StorageClass};
use provisio::{ByteStream, Bytes, Error, Result};
use reqwest::Method;

/// The size of every part of a multipart upload but the last.
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// S3's largest number of parts in one upload (with 8 MiB parts: 80,000 MiB).
const MAX_PARTS: usize = 10_000;

impl S3Storage {
    /// See the [module docs](self).
    pub(crate) async fn put_stream(
        &self,
        bucket: &str,
        key: &str,
        mut body: ByteStream,
        content_type: Option<&str>,
    ) -> Result<ObjectMeta> {
        let op = "storage.put_object_stream";
        let resource = format!("{bucket}/{key}");
        let bucket = bucket_name(bucket).map_err(|e| located(e, op, &resource))?;
        let key = object_key(key).map_err(|e| located(e, op, &resource))?;
        let mut buf = Vec::with_capacity(PART_SIZE);
        let more = provisio::stream::fill(&mut body, &mut buf, PART_SIZE)
            .await
            .map_err(|e| located(e, op, &resource))?;
        if !more {
            // small enough for one PutObject
            let size = buf.len() as u64;
            let mut request = Request::new(Method::PUT, key_path(&key))
                .on_bucket(&bucket)
                .body(Bytes::from(buf));
            if let Some(ct) = content_type {
                request = request.header("content-type", ct);
            }
            let answer = self.client.send(&request, op, &resource).await?;
            return Ok(ObjectMeta {
                key,
                size,
                etag: answer.header("etag").unwrap_or_default().to_string(),
                content_type: content_type.map(str::to_string),
                storage_class: StorageClass::Standard,
            });
        }
        let mut create = Request::new(Method::POST, key_path(&key))
            .on_bucket(&bucket)
            .param("uploads", "")
            // a second create would leave the first upload behind: only when refused
            .safety(Safety::OnlyIfRefused);
        if let Some(ct) = content_type {
            create = create.header("content-type", ct);
        }
        let answer = self.client.send(&create, op, &resource).await?;
        let root = read_xml(&answer, "CreateMultipartUpload", op, &resource)?;
        let upload_id = root
            .text_at(&["UploadId"])
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                located(
                    Error::transient("CreateMultipartUpload answered without an UploadId"),
                    op,
                    &resource,
                )
            })?
            .to_string();
        let upload = Upload {
            s3: self,
            bucket: &bucket,
            key: &key,
            upload_id: &upload_id,
            resource: &resource,
        };
        match upload.parts(&mut body, buf).await {
            Ok((etag, size)) => Ok(ObjectMeta {
                key: key.clone(),
                size,
                etag,
                content_type: content_type.map(str::to_string),
                storage_class: StorageClass::Standard,
            }),
            Err(e) => {
                upload.abort().await;
                Err(located(e, op, &resource))
            }
        }
    }

    /// See the [module docs](self).
    pub(crate) async fn get_stream(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<(ByteStream, ObjectMeta)> {
        let op = "storage.get_object_stream";
        let resource = format!("{bucket}/{key}");
        let bucket = bucket_name(bucket).map_err(|e| located(e, op, &resource))?;
        let key = object_key(key).map_err(|e| located(e, op, &resource))?;
        let request = Request::get(key_path(&key)).on_bucket(&bucket);
        let answer = match self.client.send_streaming(&request, op, &resource).await {
            Ok(a) => a,
            // an archived object that is not restored (S3 answers 403 InvalidObjectState):
            // the same refusal as get_object's
            Err(e) if e.message().contains("InvalidObjectState") => {
                return Err(located(
                    provisio::storage::archived_object(
                        &bucket,
                        &key,
                        StorageClass::Archive,
                        "InvalidObjectState",
                    ),
                    op,
                    &resource,
                ));
            }
            Err(e) => return Err(e),
        };
        let meta = ObjectMeta {
            key: key.clone(),
            size: answer
                .header("content-length")
                .and_then(|l| l.trim().parse().ok())
                .unwrap_or(0),
            etag: answer.header("etag").unwrap_or_default().to_string(),
            content_type: answer.header("content-type").map(str::to_string),
            storage_class: StorageClass::from_s3(answer.header("x-amz-storage-class")),
        };
        let body = answer.body;
        let what = resource.clone();
        let body = futures::StreamExt::map(body, move |chunk| {
            chunk.map_err(|e| located(e, "storage.get_object_stream", &what))
        });
        Ok((Box::pin(body), meta))
    }
}

/// One multipart upload in progress.
struct Upload<'a> {
    s3: &'a S3Storage,
    bucket: &'a str,
    key: &'a str,
    upload_id: &'a str,
    resource: &'a str,
}

impl Upload<'_> {
    const OP: &'static str = "storage.put_object_stream";

    /// Uploads every part, `first` (full) included, and completes the upload: its etag and
    /// size. While a part is being sent, the next one is read from `body` (two parts in
    /// memory at most), so the producer (`pg_dump`) keeps writing instead of waiting for each
    /// upload.
    async fn parts(&self, body: &mut ByteStream, first: Vec<u8>) -> Result<(String, u64)> {
        let mut buf = first;
        let mut etags: Vec<String> = Vec::new();
        let mut size = 0u64;
        let mut more =
            buf.len() >= PART_SIZE || provisio::stream::fill(body, &mut buf, PART_SIZE).await?;
        while more || !buf.is_empty() {
            let part: Vec<u8> = if buf.len() >= PART_SIZE {
                buf.drain(..PART_SIZE).collect()
            } else {
                std::mem::take(&mut buf)
            };
            if etags.len() == MAX_PARTS {
                return Err(Error::invalid_field(
                    "object body",
                    format!(
                        "is larger than {MAX_PARTS} parts of {} MiB, the most one upload takes",
                        PART_SIZE / (1024 * 1024)
                    ),
                ));
            }
            size += part.len() as u64;
            let upload = self.part(etags.len() + 1, Bytes::from(part));
            if !more {
                etags.push(upload.await?);
                break;
            }
            let next = async {
                if buf.len() >= PART_SIZE {
                    Ok(true)
                } else {
                    provisio::stream::fill(body, &mut buf, PART_SIZE).await
                }
            };
            let (etag, next_more) = futures::future::try_join(upload, next).await?;
            etags.push(etag);
            more = next_more;
        }
        Ok((self.complete(&etags).await?, size))
    }

    /// `UploadPart` number `n` (from 1); its etag.
    async fn part(&self, n: usize, body: Bytes) -> Result<String> {
        let request = Request::new(Method::PUT, key_path(self.key))
            .on_bucket(self.bucket)
            .param("partNumber", n.to_string())
            .param("uploadId", self.upload_id)
            .body(body);
        let answer = self
            .s3
            .client
            .send(&request, Self::OP, self.resource)
            .await?;
        answer
            .header("etag")
            .map(str::to_string)
            .ok_or_else(|| Error::transient(format!("UploadPart {n} answered without an ETag")))
    }

    /// `CompleteMultipartUpload`; the object's etag. S3 may answer 200 and report a failure
    /// in the body: that is a failure too.
    async fn complete(&self, etags: &[String]) -> Result<String> {
        let mut xml = String::from("<CompleteMultipartUpload>");
        for (i, etag) in etags.iter().enumerate() {
            xml.push_str(&format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
                i + 1,
                escape(etag)
            ));
        }
        xml.push_str("</CompleteMultipartUpload>");
        let request = Request::new(Method::POST, key_path(self.key))
            .on_bucket(self.bucket)
            .param("uploadId", self.upload_id)
            .xml_body(xml)
            // a second completion after a lost answer finds no upload: only when refused
            .safety(Safety::OnlyIfRefused);
        let answer = self
            .s3
            .client
            .send(&request, Self::OP, self.resource)
            .await?;
        let root = read_xml(&answer, "CompleteMultipartUpload", Self::OP, self.resource)?;
        if root.name == "Error" {
            let code = root.text_at(&["Code"]);
            return Err(Error::new(
                kind_for(code, Some(500)),
                service_message(code, root.text_at(&["Message"]), answer.status),
            ));
        }
        Ok(root.text_at(&["ETag"]).unwrap_or_default().to_string())
    }

    /// `AbortMultipartUpload`, best effort: the upload's failure is what the caller reports.
    async fn abort(&self) {
        let request = Request::new(Method::DELETE, key_path(self.key))
            .on_bucket(self.bucket)
            .param("uploadId", self.upload_id)
            .expect_code("NoSuchUpload");
        if let Err(e) = self.s3.client.send(&request, Self::OP, self.resource).await {
            tracing::warn!(
                upload = self.upload_id,
                error = %e,
                "AbortMultipartUpload failed; the bucket's lifecycle rule for incomplete uploads removes the parts"
            );
        }
    }
}
