//! Provider layers around the real AWS provider on moto: a [`Faults`] layer loses the answer of
//! a call after the call took effect, and the [`Retry`] layer outside it sends the call again,
//! as a direct caller's default stack does. What is left is counted on moto itself, through the
//! SDK, not in provisio's state.
//!
//! ```sh
//! PROVISIO_TEST_AWS_ENDPOINT=http://127.0.0.1:5055 cargo test -p provisio-aws --test layers
//! ```

mod common;

use provisio::compute::InstanceSpec;
use provisio::layer::{FaultRule, Faults, Retry, RetryPolicy, Stack};
use provisio::storage::BucketSpec;
use provisio::{ErrorKind, Outcome};

fn fast_retries() -> Retry {
    Retry::new(RetryPolicy {
        initial_backoff_ms: 10,
        max_backoff_ms: 50,
        ..RetryPolicy::default()
    })
}

#[test]
fn a_lost_launch_answer_is_retried_without_a_second_instance() {
    let Some(endpoint) = provisio_testkit::endpoint_from_env("AWS_ENDPOINT") else {
        provisio_testkit::skip("lost_launch_answer_retried", "AWS_ENDPOINT");
        return;
    };
    provisio_testkit::run_case("lost_launch_answer_retried", async move {
        let aws = common::aws(&endpoint).await?;
        let ec2 = aws_sdk_ec2::Client::new(aws.sdk_config());
        let faults = Faults::new(1);
        faults.add(
            FaultRule::on_call("compute.launch_instance", 1, ErrorKind::Transient).after_effect(),
        );
        let compute = Stack::new()
            .with(faults.clone())
            .with(fast_retries())
            .compute(aws.compute());
        let tenant = provisio_testkit::unique("layer");
        let spec = InstanceSpec {
            name: format!("{tenant}-web"),
            image: common::MOTO_AMI.into(),
            size: "t3.micro".into(),
            tags: provisio::types::ownership::tags(&tenant, "launch-tenant", "web"),
            user_data: None,
            idempotency_key: provisio_testkit::unique("token"),
        };

        let launched = compute.launch_instance(&spec).await?;
        // the first call started the instance and its answer was lost; the retry adopted it
        assert_eq!(faults.calls("compute.launch_instance"), 2);
        assert_eq!(faults.injected(), 1);
        assert_eq!(launched.outcome, Outcome::Unchanged, "the retry must adopt");
        let live = common::live_ids_by_tenant(&ec2, &tenant).await;
        assert_eq!(live.len(), 1, "exactly one instance on moto: {live:?}");
        assert_eq!(live[0], launched.value.id);

        compute.terminate_instance(&launched.value.id).await?;
        Ok(())
    });
}

#[test]
fn a_lost_put_answer_is_retried_into_one_object() {
    let Some(endpoint) = provisio_testkit::endpoint_from_env("AWS_ENDPOINT") else {
        provisio_testkit::skip("lost_put_answer_retried", "AWS_ENDPOINT");
        return;
    };
    provisio_testkit::run_case("lost_put_answer_retried", async move {
        let aws = common::aws(&endpoint).await?;
        let s3 = aws_sdk_s3::Client::new(aws.sdk_config());
        let faults = Faults::new(2);
        faults
            .add(FaultRule::on_call("storage.put_object", 1, ErrorKind::Transient).after_effect());
        // a failure before the call too: the retry covers both
        faults.add(FaultRule::on_call(
            "storage.put_object",
            2,
            ErrorKind::Transient,
        ));
        let storage = Stack::new()
            .with(faults.clone())
            .with(fast_retries())
            .storage(aws.storage());
        let bucket = provisio_testkit::unique("layers");
        storage
            .ensure_bucket(&BucketSpec {
                name: bucket.clone(),
                versioning: false,
                archive_after_days: None,
                block_public_access: true,
                tags: Default::default(),
            })
            .await?;
        storage
            .put_object(&bucket, "assets/a.txt", "hello".into(), Some("text/plain"))
            .await?;
        assert_eq!(faults.calls("storage.put_object"), 3);
        assert_eq!(faults.injected(), 2);

        // on moto: one object with the body
        let listed = s3
            .list_objects_v2()
            .bucket(&bucket)
            .send()
            .await
            .map_err(|e| provisio::Error::unexpected(format!("list: {e:?}")))?;
        let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
        assert_eq!(keys, ["assets/a.txt"]);
        let body = s3
            .get_object()
            .bucket(&bucket)
            .key("assets/a.txt")
            .send()
            .await
            .map_err(|e| provisio::Error::unexpected(format!("get: {e:?}")))?
            .body
            .collect()
            .await
            .map_err(|e| provisio::Error::unexpected(format!("body: {e:?}")))?
            .into_bytes();
        assert_eq!(&body[..], b"hello");

        storage.delete_prefix(&bucket, "").await?;
        Ok(())
    });
}
