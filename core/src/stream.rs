//! Streamed bodies: [`ByteStream`], for objects and database dumps too large to hold in memory.
//!
//! A stream is read once. That shapes every operation that takes one: a layer cannot send a
//! call again after its stream was (partly) read, so such calls are never retried by a layer
//! ([`crate::layer::Safety::Never`]); the caller retries by making a new stream (dumping the
//! database again, opening the object again). Operations that *return* a stream are retried
//! like any read until they return it; a failure while the stream is being read is an `Err`
//! item of the stream, seen by whoever reads it.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use provisio::stream::{self, ByteStream};
//! let body: ByteStream = stream::chunked(provisio::Bytes::from_static(b"hello world"), 4);
//! let all = stream::collect(body, 1024, "body").await.unwrap();
//! assert_eq!(&all[..], b"hello world");
//! # });
//! ```

use crate::{Bytes, Error, Result};
use futures::{Stream, StreamExt};
use std::pin::Pin;

/// A body of bytes delivered in chunks, each chunk or a failure; `Send`, read once.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>;

/// A stream of one chunk (nothing for an empty body).
pub fn once(body: Bytes) -> ByteStream {
    if body.is_empty() {
        return Box::pin(futures::stream::empty());
    }
    Box::pin(futures::stream::once(async move { Ok(body) }))
}

/// A stream of `body` cut into chunks of at most `chunk` bytes (at least 1).
pub fn chunked(body: Bytes, chunk: usize) -> ByteStream {
    let chunk = chunk.max(1);
    let parts: Vec<Result<Bytes>> = (0..body.len())
        .step_by(chunk)
        .map(|at| Ok(body.slice(at..(at + chunk).min(body.len()))))
        .collect();
    Box::pin(futures::stream::iter(parts))
}

/// A stream of these chunks (and failures), in order: for tests and callers that have parts.
pub fn from_results(parts: Vec<Result<Bytes>>) -> ByteStream {
    Box::pin(futures::stream::iter(parts))
}

/// Reads the whole stream into one buffer, refusing a body over `limit` bytes with
/// `InvalidInput` naming `field` (reading stops there: the rest is never buffered). The
/// stream's own failure is returned as it is.
pub async fn collect(mut body: ByteStream, limit: u64, field: &str) -> Result<Bytes> {
    let mut all = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        if (all.len() + chunk.len()) as u64 > limit {
            return Err(Error::invalid_field(
                field,
                format!(
                    "is larger than {limit} bytes, the most this provider stores from a stream \
                     in one request"
                ),
            ));
        }
        all.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(all))
}

/// Fills `buf` from `body` until it holds at least `want` bytes or the stream ends; returns
/// `false` when the stream has ended. What arrives beyond `want` stays in `buf` (the next part
/// starts with it). A multipart upload cuts a stream into parts with it.
pub async fn fill(body: &mut ByteStream, buf: &mut Vec<u8>, want: usize) -> Result<bool> {
    while buf.len() < want {
        match body.next().await {
            Some(chunk) => buf.extend_from_slice(&chunk?),
            None => return Ok(false),
        }
    }
    Ok(true)
}

/// The size and SHA-256 of everything that passed through a [`digesting`] stream, readable
/// once the stream has been read to its end.
#[derive(Debug, Clone, Default)]
pub struct Digest {
    inner: std::sync::Arc<std::sync::Mutex<DigestState>>,
}

#[derive(Debug, Default)]
struct DigestState {
    hasher: sha2::Sha256,
    size: u64,
    finished: bool,
}

impl Digest {
    /// `(size, sha256 hex)` once the stream ended; `None` while it is unread or failed.
    pub fn result(&self) -> Option<(u64, String)> {
        use sha2::Digest as _;
        let s = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        s.finished
            .then(|| (s.size, hex::encode(s.hasher.clone().finalize())))
    }
}

/// Passes `body` through unchanged while computing its size and SHA-256 (no copy, no buffer):
/// how `database.dump` records a checksum of the dump it uploads while uploading it.
pub fn digesting(body: ByteStream) -> (ByteStream, Digest) {
    use sha2::Digest as _;
    let digest = Digest::default();
    let state = digest.inner.clone();
    let mut failed = false;
    let mut body = body;
    let stream = futures::stream::poll_fn(move |cx| {
        let next = body.as_mut().poll_next(cx);
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        match &next {
            std::task::Poll::Ready(Some(Ok(chunk))) => {
                s.hasher.update(chunk);
                s.size += chunk.len() as u64;
            }
            std::task::Poll::Ready(Some(Err(_))) => failed = true,
            std::task::Poll::Ready(None) => s.finished = !failed,
            std::task::Poll::Pending => {}
        }
        next
    });
    (Box::pin(stream), digest)
}

/// Passes `body` through, checking at its end that it had `size` bytes and the SHA-256
/// `sha256` (hex) when they are given. The last chunk is held back until the check passed:
/// on a mismatch the reader gets a `Conflict` error *instead of* the last chunk, so a
/// consumer that commits only at the end of its input (`pg_restore --single-transaction`)
/// never commits a body that is not the one recorded.
pub fn verifying(body: ByteStream, size: Option<u64>, sha256: Option<String>) -> ByteStream {
    use sha2::Digest as _;
    struct State {
        body: ByteStream,
        held: Option<Bytes>,
        hasher: sha2::Sha256,
        seen: u64,
        size: Option<u64>,
        sha256: Option<String>,
    }
    let state = State {
        body,
        held: None,
        hasher: sha2::Sha256::default(),
        seen: 0,
        size,
        sha256: sha256.map(|s| s.to_ascii_lowercase()),
    };
    let stream = futures::stream::unfold(Some(state), |state| async move {
        let mut st = state?;
        loop {
            match st.body.next().await {
                Some(Ok(chunk)) => {
                    st.hasher.update(&chunk);
                    st.seen += chunk.len() as u64;
                    if let Some(prev) = st.held.replace(chunk) {
                        return Some((Ok(prev), Some(st)));
                    }
                }
                Some(Err(e)) => return Some((Err(e), None)),
                None => {
                    if let Some(want) = st.size
                        && want != st.seen
                    {
                        let e = Error::conflict(format!(
                            "the body has {} bytes, not the {want} recorded for it",
                            st.seen
                        ));
                        return Some((Err(e), None));
                    }
                    let got = hex::encode(std::mem::take(&mut st.hasher).finalize());
                    if let Some(want) = &st.sha256
                        && *want != got
                    {
                        let e = Error::conflict(format!(
                            "the body's SHA-256 is {got}, not the {want} recorded for it"
                        ));
                        return Some((Err(e), None));
                    }
                    return st.held.take().map(|last| (Ok(last), None));
                }
            }
        }
    });
    Box::pin(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn chunks_collect_and_limits() {
        let body = Bytes::from_static(b"0123456789");
        let parts: Vec<Bytes> = chunked(body.clone(), 3).map(|c| c.unwrap()).collect().await;
        assert_eq!(parts.len(), 4);
        assert_eq!(&parts[3][..], b"9");
        assert_eq!(
            collect(chunked(body.clone(), 3), 10, "b").await.unwrap(),
            body
        );
        let e = collect(chunked(body.clone(), 3), 9, "b").await.unwrap_err();
        assert_eq!(e.kind(), &crate::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("b"));
        assert!(
            collect(once(Bytes::new()), 0, "b")
                .await
                .unwrap()
                .is_empty()
        );
        let failing = from_results(vec![Ok(body.clone()), Err(Error::transient("cut"))]);
        assert_eq!(
            collect(failing, 100, "b").await.unwrap_err().kind(),
            &crate::ErrorKind::Transient
        );
    }

    #[tokio::test]
    async fn fill_cuts_parts() {
        let mut s = chunked(Bytes::from_static(b"abcdefgh"), 3);
        let mut buf = Vec::new();
        assert!(fill(&mut s, &mut buf, 5).await.unwrap());
        assert_eq!(buf, b"abcdef");
        buf.drain(..5);
        assert!(!fill(&mut s, &mut buf, 5).await.unwrap());
        assert_eq!(buf, b"fgh");
    }

    #[tokio::test]
    async fn verifying_holds_back_the_last_chunk() {
        use sha2::Digest as _;
        let body = Bytes::from_static(b"abcdef");
        let sha = hex::encode(sha2::Sha256::digest(&body));
        let ok = verifying(chunked(body.clone(), 2), Some(6), Some(sha.clone()));
        assert_eq!(collect(ok, 100, "b").await.unwrap(), body);
        let ok = verifying(chunked(body.clone(), 2), None, None);
        assert_eq!(collect(ok, 100, "b").await.unwrap(), body);
        let mut bad = verifying(chunked(body.clone(), 2), None, Some("00".repeat(32)));
        assert_eq!(&bad.next().await.unwrap().unwrap()[..], b"ab");
        assert_eq!(&bad.next().await.unwrap().unwrap()[..], b"cd");
        let e = bad.next().await.unwrap().unwrap_err();
        assert_eq!(e.kind(), &crate::ErrorKind::Conflict);
        assert!(bad.next().await.is_none(), "the last chunk never comes");
        let short = verifying(chunked(body.clone(), 4), Some(7), Some(sha));
        let e = collect(short, 100, "b").await.unwrap_err();
        assert!(e.to_string().contains("6 bytes"), "{e}");
        assert!(
            collect(verifying(once(Bytes::new()), Some(0), None), 1, "b")
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn digest_of_what_passed() {
        use sha2::Digest as _;
        let (s, d) = digesting(chunked(Bytes::from_static(b"abc"), 1));
        assert_eq!(d.result(), None);
        let all = collect(s, 10, "b").await.unwrap();
        assert_eq!(&all[..], b"abc");
        assert_eq!(
            d.result(),
            Some((3, hex::encode(sha2::Sha256::digest(b"abc"))))
        );
        let (s, d) = digesting(from_results(vec![Err(Error::transient("x"))]));
        assert!(collect(s, 10, "b").await.is_err());
        assert_eq!(d.result(), None);
    }
}
