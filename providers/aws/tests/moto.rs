//! Behaviour that matters because moto (like a lost network answer) does not give it for free.
//!
//! moto 5 does not honour a repeated EC2 `ClientToken` (a second `RunInstances` with the same
//! token starts a second instance) and answers HTTP 500 to the `client-token` filter of
//! `DescribeInstances`; a repeated Route 53 `CallerReference` creates a second hosted zone.
//! provisio therefore carries launch idempotency itself, by adopting the
//! instance that carries the spec's ownership tags before any `RunInstances`. These tests
//! check exactly that, and record the moto gaps (printed, not asserted, so a moto that fixes
//! them does not fail the suite; docs/providers/aws.md lists them).

mod common;

use aws_sdk_ec2::types::{Filter, InstanceType, ResourceType, Tag, TagSpecification};
use provisio::compute::InstanceSpec;
use provisio::{Compute, Outcome};

fn spec(tenant: &str, key: &str) -> InstanceSpec {
    InstanceSpec {
        name: format!("{tenant}-web"),
        image: common::MOTO_AMI.into(),
        size: "t3.micro".into(),
        tags: provisio::types::ownership::tags(tenant, "launch-tenant", "web"),
        user_data: None,
        idempotency_key: key.into(),
    }
}

/// `RunInstances` as the first attempt sent it: same token, same tags; provisio never saw
/// the answer.
async fn run_instances_raw(
    ec2: &aws_sdk_ec2::Client,
    spec: &InstanceSpec,
) -> Result<String, String> {
    let mut tags: Vec<Tag> = spec
        .tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    tags.push(Tag::builder().key("Name").value(&spec.name).build());
    let out = ec2
        .run_instances()
        .image_id(&spec.image)
        .instance_type(InstanceType::from(spec.size.as_str()))
        .min_count(1)
        .max_count(1)
        .client_token(&spec.idempotency_key)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Instance)
                .set_tags(Some(tags))
                .build(),
        )
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(out
        .instances()
        .first()
        .and_then(|i| i.instance_id())
        .unwrap_or_default()
        .to_string())
}

#[test]
fn launch_after_a_lost_response_adopts_the_first_instance() {
    let Some(endpoint) = provisio_testkit::endpoint_from_env("AWS_ENDPOINT") else {
        provisio_testkit::skip("launch_after_a_lost_response", "AWS_ENDPOINT");
        return;
    };
    provisio_testkit::run_case("launch_after_a_lost_response", async move {
        let aws = common::aws(&endpoint).await?;
        let ec2 = aws_sdk_ec2::Client::new(aws.sdk_config());
        let compute = aws.compute();
        let tenant = provisio_testkit::unique("lost");
        let spec = spec(&tenant, &provisio_testkit::unique("token"));

        // The first attempt reached EC2, but its answer was lost.
        let first = run_instances_raw(&ec2, &spec)
            .await
            .map_err(provisio::Error::unexpected)?;
        assert!(first.starts_with("i-"));

        // The engine retries the launch with the same spec and token.
        let retried = compute.launch_instance(&spec).await?;
        assert_eq!(
            retried.outcome,
            Outcome::Unchanged,
            "the retried launch must adopt"
        );
        assert_eq!(
            retried.value.id, first,
            "the retried launch must find the first instance"
        );
        // And again, as a resumed run would.
        let again = compute.launch_instance(&spec).await?;
        assert_eq!(again.value.id, first);
        assert_eq!(
            common::live_ids_by_tenant(&ec2, &tenant).await,
            vec![first.clone()],
            "exactly one instance"
        );

        compute.terminate_instance(&first).await?;
        assert!(common::live_ids_by_tenant(&ec2, &tenant).await.is_empty());
        Ok(())
    });
}

#[test]
fn adoption_ignores_terminated_and_other_tenants_instances() {
    let Some(endpoint) = provisio_testkit::endpoint_from_env("AWS_ENDPOINT") else {
        provisio_testkit::skip("adoption_ignores_terminated", "AWS_ENDPOINT");
        return;
    };
    provisio_testkit::run_case("adoption_ignores_terminated", async move {
        let aws = common::aws(&endpoint).await?;
        let compute = aws.compute();
        let tenant = provisio_testkit::unique("adopt");
        let other = provisio_testkit::unique("adopt");
        let a = spec(&tenant, &provisio_testkit::unique("token"));
        // Same instance name, another tenant: never adopted.
        let mut b = spec(&other, &provisio_testkit::unique("token"));
        b.name = a.name.clone();
        let made_b = compute.launch_instance(&b).await?;
        assert_eq!(made_b.outcome, Outcome::Created);
        let made_a = compute.launch_instance(&a).await?;
        assert_eq!(made_a.outcome, Outcome::Created);
        assert_ne!(made_a.value.id, made_b.value.id);
        // A terminated instance is never adopted: a relaunch starts a new one.
        compute.terminate_instance(&made_a.value.id).await?;
        let mut relaunch = a.clone();
        relaunch.idempotency_key = provisio_testkit::unique("token");
        let made = compute.launch_instance(&relaunch).await?;
        assert_eq!(made.outcome, Outcome::Created);
        assert_ne!(made.value.id, made_a.value.id);
        compute.terminate_instance(&made.value.id).await?;
        compute.terminate_instance(&made_b.value.id).await?;
        Ok(())
    });
}

/// Records the moto gaps provisio works around (see the module documentation).
#[test]
fn moto_gaps_are_as_documented() {
    let Some(endpoint) = provisio_testkit::endpoint_from_env("AWS_ENDPOINT") else {
        provisio_testkit::skip("moto_gaps_are_as_documented", "AWS_ENDPOINT");
        return;
    };
    provisio_testkit::run_case("moto_gaps_are_as_documented", async move {
        let aws = common::aws(&endpoint).await?;
        let ec2 = aws_sdk_ec2::Client::new(aws.sdk_config());
        let tenant = provisio_testkit::unique("gap");
        let spec = spec(&tenant, &provisio_testkit::unique("token"));
        let first = run_instances_raw(&ec2, &spec)
            .await
            .map_err(provisio::Error::unexpected)?;
        let second = run_instances_raw(&ec2, &spec)
            .await
            .map_err(provisio::Error::unexpected)?;
        if first != second {
            eprintln!(
                "moto gap confirmed: a repeated ClientToken started a second instance ({first}, {second})"
            );
        } else {
            eprintln!("moto now honours a repeated ClientToken: update docs/providers/aws.md");
        }
        let filtered = ec2
            .describe_instances()
            .filters(
                Filter::builder()
                    .name("client-token")
                    .values(&spec.idempotency_key)
                    .build(),
            )
            .send()
            .await;
        match filtered {
            Err(e) => eprintln!(
                "moto gap confirmed: the client-token filter fails (HTTP {:?})",
                e.raw_response().map(|r| r.status().as_u16())
            ),
            Ok(_) => {
                eprintln!("moto now supports the client-token filter: update docs/providers/aws.md")
            }
        }
        let compute = aws.compute();
        for id in [first, second] {
            compute.terminate_instance(&id).await?;
        }

        // Route 53: a repeated CallerReference.
        let r53 = aws_sdk_route53::Client::new(aws.sdk_config());
        let zone = format!("{}.test", provisio_testkit::unique("ref"));
        let reference = provisio_testkit::unique("ref");
        let mut made = Vec::new();
        for _ in 0..2 {
            match r53
                .create_hosted_zone()
                .name(&zone)
                .caller_reference(&reference)
                .send()
                .await
            {
                Ok(out) => made.extend(out.hosted_zone().map(|z| z.id().to_string())),
                Err(e) => eprintln!("the repeated CallerReference was refused: {e}"),
            }
        }
        if made.len() == 2 && made[0] != made[1] {
            eprintln!("moto gap confirmed: a repeated CallerReference created a second zone");
        } else {
            eprintln!("moto now honours a repeated CallerReference: update docs/providers/aws.md");
        }
        for id in made {
            r53.delete_hosted_zone()
                .id(id)
                .send()
                .await
                .map_err(|e| provisio::Error::unexpected(format!("delete zone: {e:?}")))?;
        }
        Ok(())
    });
}
