//! The CI conformance suite against the Jenkins fake: in-process (always), and against the
//! separately started `provisio-fake-jenkins` (or a real Jenkins) when
//! `PROVISIO_TEST_JENKINS_URL`, `PROVISIO_TEST_JENKINS_USER` and `PROVISIO_TEST_JENKINS_TOKEN`
//! are set (scripts/test.sh does).

mod common;

use std::time::Duration;

mod in_process {
    use super::*;
    provisio_testkit::ci_conformance! {
        provider: common::with_fake().await,
        context: provisio_testkit::ci::CiContext::new("provisio-tests")
            .with_build_timeout(Duration::from_secs(30)),
    }
}

mod service {
    use super::*;
    provisio_testkit::ci_conformance! {
        env: url = "JENKINS_URL",
        provider: {
            let var = |name: &str| std::env::var(name).unwrap_or_default();
            Box::new(provisio_jenkins::JenkinsCi::new(
                common::config(&url)
                    .with_user(var("PROVISIO_TEST_JENKINS_USER"))
                    .with_api_token(var("PROVISIO_TEST_JENKINS_TOKEN"))
                    .with_poll_interval(Duration::from_millis(100)),
            )?)
        },
        context: provisio_testkit::ci::CiContext::new("provisio-tests")
            .with_build_timeout(Duration::from_secs(60)),
    }
}
