//! Streamed objects on moto (`PROVISIO_TEST_AWS_ENDPOINT`; skipped when unset): a multipart
//! upload of a body over 5 MiB with its parts counted on the request tally, a small body as
//! one `PutObject`, an aborted upload that leaves nothing behind (checked with the SDK on the
//! server), and a streamed `GetObject`.

mod common;

use provisio::requests::{RequestTally, counted};
use provisio::storage::BucketSpec;
use provisio::{Bytes, ErrorKind, ObjectStorage};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

const MIB: usize = 1024 * 1024;

async fn count<F: Future>(fut: F) -> (F::Output, u64, BTreeMap<String, u64>) {
    let tally = Arc::new(RequestTally::default());
    let out = counted(tally.clone(), fut).await;
    (out, tally.total(), tally.by_service())
}

/// `len` bytes that differ from part to part.
fn body(len: usize) -> Bytes {
    Bytes::from(
        (0..len)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1])
            .collect::<Vec<u8>>(),
    )
}

#[test]
fn multipart_upload_and_streamed_get() {
    let Some(endpoint) = provisio_testkit::endpoint_from_env("AWS_ENDPOINT") else {
        provisio_testkit::skip("multipart_upload_and_streamed_get", "AWS_ENDPOINT");
        return;
    };
    provisio_testkit::run_case("multipart_upload_and_streamed_get", async move {
        let aws = common::aws(&endpoint).await?;
        let s3 = aws.storage();
        let bucket = provisio_testkit::unique("stream");
        s3.ensure_bucket(&BucketSpec::new(&bucket)).await?;
        let sdk = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(aws.sdk_config())
                .force_path_style(true)
                .build(),
        );

        // 19 MiB in 1 MiB + 1 chunks: CreateMultipartUpload, 3 parts (8 + 8 + 3 MiB), Complete
        let big = body(19 * MIB);
        let (meta, n, by) = count(s3.put_object_stream(
            &bucket,
            "dumps/big.dump",
            provisio::stream::chunked(big.clone(), MIB + 1),
            Some("application/octet-stream"),
        ))
        .await;
        let meta = meta?;
        assert_eq!(n, 5, "multipart upload of 19 MiB: {by:?}");
        eprintln!("put_object_stream of 19 MiB: {n} requests");
        assert_eq!(meta.size, big.len() as u64);
        assert!(meta.etag.trim_matches('"').ends_with("-3"), "{}", meta.etag);
        let head = sdk
            .head_object()
            .bucket(&bucket)
            .key("dumps/big.dump")
            .send()
            .await
            .map_err(|e| provisio::Error::unexpected(format!("{e:?}")))?;
        assert_eq!(head.content_length(), Some(big.len() as i64));
        assert_eq!(head.content_type(), Some("application/octet-stream"));

        let (r, n, _) = count(s3.get_object_stream(&bucket, "dumps/big.dump")).await;
        let (stream, got) = r?;
        assert_eq!(n, 1, "one GetObject");
        assert_eq!(got.size, big.len() as u64);
        let read = provisio::stream::collect(stream, u64::MAX, "object").await?;
        assert!(read == big, "the object read back is the one streamed up");

        // exactly two full parts: no empty third part
        let two = body(16 * MIB);
        let (r, n, by) = count(s3.put_object_stream(
            &bucket,
            "dumps/two.dump",
            provisio::stream::chunked(two.clone(), 4 * MIB),
            None,
        ))
        .await;
        assert!(r?.etag.trim_matches('"').ends_with("-2"));
        assert_eq!(n, 4, "16 MiB: {by:?}");

        // a small body: one PutObject
        let small = body(100 * 1024);
        let (r, n, _) = count(s3.put_object_stream(
            &bucket,
            "dumps/small.dump",
            provisio::stream::chunked(small.clone(), 4096),
            None,
        ))
        .await;
        assert_eq!(r?.etag, s3.etag_of(&small).unwrap());
        assert_eq!(n, 1, "a small body is one PutObject");
        let (empty, n, _) = count(s3.put_object_stream(
            &bucket,
            "dumps/empty",
            provisio::stream::once(Bytes::new()),
            None,
        ))
        .await;
        assert_eq!(empty?.size, 0);
        assert_eq!(n, 1);

        // the stream breaks off after 10 MiB: one part went, the upload is aborted, the key
        // keeps its previous object and no upload is left in progress
        let broken = provisio::stream::from_results(vec![
            Ok(body(10 * MIB)),
            Err(provisio::Error::transient("the dump process died")),
        ]);
        let (r, n, by) =
            count(s3.put_object_stream(&bucket, "dumps/small.dump", broken, None)).await;
        let e = r.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Transient, "{e}");
        assert_eq!(n, 3, "create, one part, abort: {by:?}");
        let (still, _) = s3.get_object(&bucket, "dumps/small.dump").await?;
        assert_eq!(still, small);
        let uploads = sdk
            .list_multipart_uploads()
            .bucket(&bucket)
            .send()
            .await
            .map_err(|e| provisio::Error::unexpected(format!("{e:?}")))?;
        assert!(uploads.uploads().is_empty(), "{:?}", uploads.uploads());

        // a missing key fails the call, not the stream
        let (r, n, _) = count(s3.get_object_stream(&bucket, "dumps/none")).await;
        assert_eq!(r.err().unwrap().kind(), &ErrorKind::NotFound);
        assert_eq!(n, 1);

        s3.delete_prefix(&bucket, "").await?;
        s3.delete_bucket(&bucket).await?;
        Ok(())
    });
}
