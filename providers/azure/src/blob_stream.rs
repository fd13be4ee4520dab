//! Streamed block blobs: [`ObjectStorage::put_object_stream`] as blocks and a block list,
//! [`ObjectStorage::get_object_stream`] as ranged reads.
//!
//! * **Upload.** The stream is cut into blocks of [`BLOCK_SIZE`] (8 MiB). A body that ends
//!   before its first block is full goes as one Put Blob (the same request as `put_object`).
//!   Otherwise: one Put Block per block (each with its Content-MD5, checked by the service),
//!   sent one after the other while the next block is read, then one Put Block List that
//!   commits them, with the MD5 of the whole body (computed while streaming) as the blob's
//!   Content-MD5, so the blob's etag is its content's as for a simple put. Until the list is
//!   committed the blob keeps its previous content; when the stream or a block fails, the
//!   uncommitted blocks are left to the service, which discards them after a week (Blob
//!   storage has no call to drop them).
//! * **Download.** Ranged Get Blob requests of [`BLOCK_SIZE`] each, the later ones with
//!   `If-Match` the first answer's ETag: a blob rewritten while it is read fails the stream
//!   (`Conflict`) instead of mixing two versions. At most one range is in memory.
//!
//! [`ObjectStorage::put_object_stream`]: provisio::ObjectStorage::put_object_stream
//! [`ObjectStorage::get_object_stream`]: provisio::ObjectStorage::get_object_stream

use super::{AzureBlob, STANDARD, etag_of};
use base64::Engine;
use md5::Digest;
use provisio::storage::{ObjectMeta, StorageClass};
use provisio::{ByteStream, Bytes, Error, ObjectStorage, Result};
use std::sync::Arc;

/// The size of every block but the last, and of every range read.
pub const BLOCK_SIZE: usize = 8 * 1024 * 1024;
/// The most blocks one blob has.
const MAX_BLOCKS: usize = 50_000;

/// The id of block `n`: base64 of a fixed-length name (a blob's ids must all be as long).
fn block_id(n: usize) -> String {
    STANDARD.encode(format!("provisio-block-{n:06}"))
}

impl AzureBlob {
    pub(super) async fn put_stream(
        &self,
        bucket: &str,
        key: &str,
        mut body: ByteStream,
        content_type: Option<&str>,
    ) -> Result<ObjectMeta> {
        let op = "storage.put_object_stream";
        let resource = format!("{bucket}/{key}");
        Self::names(bucket, Some(key)).map_err(|e| Self::err(e, op, &resource))?;
        let mut buf = Vec::with_capacity(BLOCK_SIZE);
        let more = provisio::stream::fill(&mut body, &mut buf, BLOCK_SIZE)
            .await
            .map_err(|e| Self::err(e, op, &resource))?;
        if !more {
            return self
                .put_object(bucket, key, Bytes::from(buf), content_type)
                .await;
        }
        let run = async {
            let url = self.url(bucket, Some(key));
            let mut whole = md5::Md5::new();
            let mut ids: Vec<String> = Vec::new();
            let mut size = 0u64;
            loop {
                let more = if buf.len() >= BLOCK_SIZE {
                    true
                } else {
                    provisio::stream::fill(&mut body, &mut buf, BLOCK_SIZE).await?
                };
                if !more && buf.is_empty() {
                    break;
                }
                let block: Bytes = if more {
                    buf.drain(..BLOCK_SIZE).collect::<Vec<u8>>().into()
                } else {
                    std::mem::take(&mut buf).into()
                };
                if ids.len() == MAX_BLOCKS {
                    return Err(Error::invalid_field(
                        "object body",
                        format!(
                            "is larger than {MAX_BLOCKS} blocks of {} MiB",
                            BLOCK_SIZE / (1024 * 1024)
                        ),
                    ));
                }
                whole.update(&block);
                size += block.len() as u64;
                let id = block_id(ids.len());
                let md5 = STANDARD.encode(md5::Md5::digest(&block));
                let mut u = url.clone();
                u.query_pairs_mut()
                    .append_pair("comp", "block")
                    .append_pair("blockid", &id);
                let resp = self
                    .send(|h| {
                        h.put(u.clone())
                            .header("content-md5", md5.as_str())
                            .body(block.clone())
                    })
                    .await?;
                if resp.status != 201 {
                    return Err(resp.xml_error());
                }
                ids.push(id);
                if !more {
                    break;
                }
            }
            let mut xml = String::from(r#"<?xml version="1.0" encoding="utf-8"?><BlockList>"#);
            for id in &ids {
                xml.push_str("<Latest>");
                xml.push_str(id);
                xml.push_str("</Latest>");
            }
            xml.push_str("</BlockList>");
            let md5 = STANDARD.encode(whole.finalize());
            let content_type = content_type.unwrap_or("application/octet-stream");
            let mut u = url.clone();
            u.query_pairs_mut().append_pair("comp", "blocklist");
            let resp = self
                .send(|h| {
                    h.put(u.clone())
                        .header("content-type", "application/xml")
                        .header("x-ms-blob-content-type", content_type)
                        .header("x-ms-blob-content-md5", md5.as_str())
                        .body(xml.clone())
                })
                .await?;
            if resp.status != 201 {
                return Err(resp.xml_error());
            }
            Ok(ObjectMeta {
                key: key.to_string(),
                size,
                etag: etag_of(Some(&md5), resp.header("etag")),
                content_type: Some(content_type.to_string()),
                storage_class: StorageClass::Standard,
            })
        };
        run.await.map_err(|e| Self::err(e, op, &resource))
    }

    /// A copy that reads blobs (no lifecycle policy), owned by a stream.
    fn reader(&self) -> AzureBlob {
        AzureBlob {
            core: self.core.clone(),
            info: self.info.clone(),
            endpoint: self.endpoint.clone(),
            account: self.account.clone(),
            key: self.key.clone(),
            policy: None,
        }
    }

    pub(super) async fn get_stream(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<(ByteStream, ObjectMeta)> {
        let op = "storage.get_object_stream";
        let resource = format!("{bucket}/{key}");
        Self::names(bucket, Some(key)).map_err(|e| Self::err(e, op, &resource))?;
        let url = self.url(bucket, Some(key));
        let first = self
            .range(&url, 0, None)
            .await
            .map_err(|e| Self::err(e, op, &resource))?;
        let (body, total, etag) = match first {
            // an empty blob has no range to read
            None => {
                let (b, m) = self.get_object(bucket, key).await?;
                return Ok((provisio::stream::once(b), m));
            }
            Some(r) => r,
        };
        let meta = ObjectMeta {
            key: key.to_string(),
            size: total,
            etag: etag_of(body.header("x-ms-blob-content-md5"), body.header("etag")),
            content_type: body.header("content-type").map(str::to_string),
            storage_class: StorageClass::from_azure_tier(body.header("x-ms-access-tier")),
        };
        let state = Ranged {
            blob: Arc::new(self.reader()),
            url,
            next: body.body.len() as u64,
            total,
            etag,
            resource,
        };
        let first_chunk = body.body;
        let rest = futures::stream::unfold(Some(state), move |state| async move {
            let mut s = state?;
            if s.next >= s.total {
                return None;
            }
            match s.blob.range(&s.url, s.next, Some(&s.etag)).await {
                Ok(Some((resp, _, _))) if !resp.body.is_empty() => {
                    s.next += resp.body.len() as u64;
                    Some((Ok(resp.body), Some(s)))
                }
                Ok(_) => Some((
                    Err(Self::err(
                        Error::transient("the blob ended before its length"),
                        op,
                        &s.resource,
                    )),
                    None,
                )),
                Err(e) => Some((Err(Self::err(e, op, &s.resource)), None)),
            }
        });
        let stream =
            futures::StreamExt::chain(futures::stream::once(async move { Ok(first_chunk) }), rest);
        Ok((Box::pin(stream), meta))
    }

    /// One ranged Get Blob from `start`: the answer, the blob's length and its ETag; `None`
    /// for an empty blob (416 to the first range).
    async fn range(
        &self,
        url: &url::Url,
        start: u64,
        if_match: Option<&str>,
    ) -> Result<Option<(crate::client::Response, u64, String)>> {
        let end = start + BLOCK_SIZE as u64 - 1;
        let range = format!("bytes={start}-{end}");
        let resp = self
            .send(|h| {
                let mut r = h.get(url.clone()).header("x-ms-range", range.as_str());
                if let Some(etag) = if_match {
                    r = r.header("if-match", etag);
                }
                r
            })
            .await?;
        match resp.status {
            206 | 200 => {
                let total = resp
                    .header("content-range")
                    .and_then(|r| r.rsplit('/').next())
                    .and_then(|t| t.trim().parse().ok())
                    .unwrap_or(resp.body.len() as u64);
                let etag = resp.header("etag").unwrap_or_default().to_string();
                Ok(Some((resp, total, etag)))
            }
            416 if start == 0 => Ok(None),
            409 if Self::error_code(&resp).as_deref() == Some("BlobArchived") => {
                Err(provisio::storage::archived_object(
                    "",
                    url.path(),
                    StorageClass::Archive,
                    "BlobArchived",
                ))
            }
            412 => Err(Error::conflict(
                "the blob was rewritten while it was being read",
            )),
            _ => Err(resp.xml_error()),
        }
    }
}

/// Where a ranged read of a blob is.
struct Ranged {
    blob: Arc<AzureBlob>,
    url: url::Url,
    next: u64,
    total: u64,
    etag: String,
    resource: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_ids_have_one_length() {
        assert_eq!(block_id(0).len(), block_id(49_999).len());
        assert_ne!(block_id(1), block_id(2));
    }
}
