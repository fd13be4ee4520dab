//! Helpers shared by the Jenkins provider's integration tests.
#![allow(dead_code)]

use provisio_fake_jenkins::FakeJenkins;
use provisio_jenkins::{JenkinsCi, JenkinsConfig};
use std::time::Duration;

pub const USER: &str = "provisio-bot";
pub const TOKEN: &str = "11aa22bb33cc44dd55ee66ff77889900";
pub const PASSWORD: &str = "correct horse battery staple";

/// A fake with one user holding both a password and an API token, short queue and build
/// times.
pub async fn fake() -> FakeJenkins {
    let fake = FakeJenkins::start().await.expect("start the Jenkins fake");
    fake.add_user(USER, Some(PASSWORD), Some(TOKEN));
    fake.set_queue_delay(Duration::from_millis(50));
    fake.set_build_duration(Duration::from_millis(50));
    fake
}

/// A configuration for `url` that reads nothing from the environment.
pub fn config(url: &str) -> JenkinsConfig {
    JenkinsConfig {
        user_env: "PROVISIO_JENKINS_TEST_NO_USER".into(),
        api_token_env: "PROVISIO_JENKINS_TEST_NO_TOKEN".into(),
        password_env: "PROVISIO_JENKINS_TEST_NO_PASSWORD".into(),
        ..JenkinsConfig::new(url)
    }
    .with_poll_interval(Duration::from_millis(20))
}

/// A client authenticating with the API token.
pub fn token_client(fake: &FakeJenkins) -> JenkinsCi {
    JenkinsCi::new(config(fake.url()).with_user(USER).with_api_token(TOKEN)).expect("client")
}

/// A client authenticating with the password (crumbs needed).
pub fn password_client(fake: &FakeJenkins) -> JenkinsCi {
    JenkinsCi::new(config(fake.url()).with_user(USER).with_password(PASSWORD)).expect("client")
}

/// A fake and a token client, kept together so the fake lives as long as the client.
pub struct WithFake {
    pub ci: JenkinsCi,
    pub fake: FakeJenkins,
}

impl std::ops::Deref for WithFake {
    type Target = JenkinsCi;
    fn deref(&self) -> &JenkinsCi {
        &self.ci
    }
}

pub async fn with_fake() -> WithFake {
    let fake = fake().await;
    WithFake {
        ci: token_client(&fake),
        fake,
    }
}
