//! Streamed block blobs on Azurite (`PROVISIO_TEST_AZURITE_BLOB_URL`; skipped when unset):
//! Put Block per 8 MiB and one Put Block List, a small body as one Put Blob, ranged reads,
//! each counted on the request tally.

mod common;

use provisio::requests::{RequestTally, counted};
use provisio::storage::BucketSpec;
use provisio::{Bytes, ObjectStorage};
use std::future::Future;
use std::sync::Arc;

const MIB: usize = 1024 * 1024;

async fn count<F: Future>(fut: F) -> (F::Output, u64) {
    let tally = Arc::new(RequestTally::default());
    let out = counted(tally.clone(), fut).await;
    (out, tally.total())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_and_ranges_are_counted() {
    let Some(blob_url) = provisio_testkit::endpoint_from_env("AZURITE_BLOB_URL") else {
        provisio_testkit::skip("blocks_and_ranges_are_counted", "AZURITE_BLOB_URL");
        return;
    };
    let blob = common::azure_with_azurite(&blob_url).blob().unwrap();
    let bucket = provisio_testkit::unique("stream");
    blob.ensure_bucket(&BucketSpec::new(&bucket)).await.unwrap();
    let big = Bytes::from((0..17 * MIB).map(|i| (i % 251) as u8).collect::<Vec<u8>>());

    // 8 + 8 + 1 MiB: three Put Block, one Put Block List
    let (meta, n) = count(blob.put_object_stream(
        &bucket,
        "db.dump",
        provisio::stream::chunked(big.clone(), MIB),
        None,
    ))
    .await;
    let meta = meta.unwrap();
    assert_eq!(n, 4, "blocks and the list");
    eprintln!("put_object_stream of 17 MiB: {n} requests");
    assert_eq!(meta.size, big.len() as u64);
    // the whole body's MD5 is the blob's: the etag follows the content as for a simple put
    assert_eq!(
        blob.head_object(&bucket, "db.dump")
            .await
            .unwrap()
            .unwrap()
            .etag,
        meta.etag
    );

    // read as three ranges of 8 MiB: the first with the call, the others while reading
    let tally = Arc::new(RequestTally::default());
    let read = counted(tally.clone(), async {
        let (stream, got) = blob.get_object_stream(&bucket, "db.dump").await.unwrap();
        assert_eq!(got.size, big.len() as u64);
        assert_eq!(got.etag, meta.etag);
        provisio::stream::collect(stream, u64::MAX, "blob")
            .await
            .unwrap()
    })
    .await;
    assert!(read == big);
    assert_eq!(tally.total(), 3, "ranged reads");

    // a small body: one Put Blob; an empty one reads back empty
    let (r, n) = count(blob.put_object_stream(
        &bucket,
        "small",
        provisio::stream::once(Bytes::from_static(b"tiny")),
        None,
    ))
    .await;
    r.unwrap();
    assert_eq!(n, 1);
    blob.put_object_stream(&bucket, "empty", provisio::stream::once(Bytes::new()), None)
        .await
        .unwrap();
    let (stream, got) = blob.get_object_stream(&bucket, "empty").await.unwrap();
    assert_eq!(got.size, 0);
    assert!(
        provisio::stream::collect(stream, 10, "blob")
            .await
            .unwrap()
            .is_empty()
    );
    blob.delete_prefix(&bucket, "").await.unwrap();
    blob.delete_bucket(&bucket).await.unwrap();
}
