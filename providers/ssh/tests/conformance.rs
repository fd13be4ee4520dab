//! The host conformance suite against the test sshd, once with the host key checked against
//! a known_hosts file and once with it pinned (skipped without `PROVISIO_TEST_GIT_SSH`; see
//! `tests/common/mod.rs`).

mod common;

const ROOT: &str = "/tmp/provisio-ssh-conformance";

mod known_hosts {
    provisio_testkit::host_conformance! {
        env: url = "GIT_SSH",
        provider: std::sync::Arc::new(provisio_ssh::SshHost::new(
            super::common::Sshd::from_url(&url).config(),
        )?),
        context: provisio_testkit::host::HostContext::new(super::ROOT),
    }
}

mod pinned {
    provisio_testkit::host_conformance! {
        env: url = "GIT_SSH",
        provider: std::sync::Arc::new(provisio_ssh::SshHost::new(
            super::common::Sshd::from_url(&url).pinned(),
        )?),
        context: provisio_testkit::host::HostContext::new(super::ROOT),
    }
}
