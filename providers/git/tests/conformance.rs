//! The shared repository conformance suite against real bare repositories.

mod common;

/// libgit2 over a local path.
mod local_path {
    provisio_testkit::repo_conformance! {
        provider: super::common::Fixture::new(false, provisio_git::GitTransport::Auto),
        context: provisio_testkit::repo::RepoContext::new("main"),
    }
}

/// libgit2 over a `file://` URL.
mod file_url {
    provisio_testkit::repo_conformance! {
        provider: super::common::Fixture::new(true, provisio_git::GitTransport::Auto),
        context: provisio_testkit::repo::RepoContext::new("main"),
    }
}

/// The `git` command (the ssh/https code path) over a `file://` URL.
mod git_command {
    provisio_testkit::repo_conformance! {
        provider: super::common::Fixture::new(true, provisio_git::GitTransport::Command),
        context: provisio_testkit::repo::RepoContext::new("main"),
    }
}

/// A real ssh server: `PROVISIO_TEST_GIT_SSH=ssh://user@127.0.0.1:2222/srv/git/tenants.git`
/// (a bare repository with a `main` branch), with the key in `PROVISIO_TEST_GIT_SSH_KEY` and
/// optionally a `known_hosts` file in `PROVISIO_TEST_GIT_SSH_KNOWN_HOSTS`; skipped (and
/// passing) when unset. `tests/sshd.sh` starts such a server on 127.0.0.1.
mod ssh {
    provisio_testkit::repo_conformance! {
        env: url = "GIT_SSH",
        provider: {
            let cache = tempfile::tempdir().unwrap().keep();
            let mut config = provisio_git::GitConfig::new(url.clone(), cache);
            if let Ok(key) = std::env::var("PROVISIO_TEST_GIT_SSH_KEY") {
                config = config.with_ssh_key(key);
            }
            if let Ok(hosts) = std::env::var("PROVISIO_TEST_GIT_SSH_KNOWN_HOSTS") {
                config = config.with_ssh_known_hosts(hosts);
            }
            std::sync::Arc::new(provisio_git::GitRepository::new(config)?)
        },
        context: provisio_testkit::repo::RepoContext::new("main"),
    }
}
