//! How many network sessions the git provider opens, counted where a server would count them:
//! every session goes through an `ssh` stand-in that logs the git command it runs
//! (`git-upload-pack`: a list or a fetch; `git-receive-pack`: a push). The provider's own
//! count (the request tally of the step) must match.

mod common;

use common::{FakeSsh, Remote, bare_git};
use provisio::existence::{Existence, watched};
use provisio::repo::{Author, CommitSpec};
use provisio::requests::{RequestTally, counted};
use provisio::{Bytes, Outcome, Repository};
use provisio_git::{GitRepository, GitTransport};
use std::future::Future;
use std::sync::Arc;

fn spec(branch: &str, files: &[(&str, &str)], message: &str) -> CommitSpec {
    CommitSpec {
        branch: branch.to_string(),
        files: files
            .iter()
            .map(|(p, c)| (p.to_string(), Bytes::from(c.to_string())))
            .collect(),
        message: message.to_string(),
        author: Author {
            name: "Provisio Bot".into(),
            email: "bot@provisio.example".into(),
        },
    }
}

const FILES: [(&str, &str); 3] = [
    ("config.yml", "tenant: acme\n"),
    ("nginx.conf", "server_name acme.example.com;\n"),
    ("docker-compose.yml", "services: {}\n"),
];

/// Runs `fut` as a step would: returns its output, the requests it counted and what it
/// reported about existence.
async fn step<F: Future>(fut: F) -> (F::Output, u64, Option<bool>) {
    let tally = Arc::new(RequestTally::default());
    let existence = Arc::new(Existence::default());
    let out = counted(tally.clone(), watched(existence.clone(), fut)).await;
    (out, tally.total(), existence.get())
}

/// The sessions logged since `before`: (reads, writes).
fn since(remote: &Remote, before: (usize, usize)) -> (usize, usize) {
    let now = FakeSsh::sessions(remote);
    (now.0 - before.0, now.1 - before.1)
}

/// One tenant's two branches and their files, then a read, as a first launch and a refresh
/// do them: a session per operation, and none more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_session_per_operation() {
    let remote = Remote::new();
    let repo = remote.provider(&FakeSsh::url(&remote), GitTransport::Auto);

    // The first branch of the process: one fetch (the branch and its base), one push.
    let s = FakeSsh::sessions(&remote);
    let (made, n, existed) = step(repo.ensure_branch("acme", "main")).await;
    assert_eq!(made.unwrap().outcome, Outcome::Created);
    assert_eq!((since(&remote, s), n, existed), ((1, 1), 2, Some(false)));

    // The next branch from the base it learned: one push.
    let s = FakeSsh::sessions(&remote);
    let (made, n, existed) = step(repo.ensure_branch("dev-acme", "main")).await;
    assert_eq!(made.unwrap().outcome, Outcome::Created);
    assert_eq!((since(&remote, s), n, existed), ((0, 1), 1, Some(false)));

    // Files on the head it created: one push each.
    let mut heads = Vec::new();
    for branch in ["acme", "dev-acme"] {
        let s = FakeSsh::sessions(&remote);
        let (written, n, existed) =
            step(repo.write_files(&spec(branch, &FILES, "Configure"))).await;
        let written = written.unwrap();
        assert_eq!(written.outcome, Outcome::Updated);
        assert_eq!((since(&remote, s), n, existed), ((0, 1), 1, Some(false)));
        assert_eq!(remote.rev(branch), written.value.head);
        heads.push(written.value.head);
    }

    // A refresh reads every file of a branch from one fetch, at one head.
    let paths: Vec<String> = FILES.iter().map(|(p, _)| p.to_string()).collect();
    let s = FakeSsh::sessions(&remote);
    let (read, n, _) = step(repo.read_files("acme", &paths)).await;
    let read = read.unwrap().expect("the branch exists");
    assert_eq!((since(&remote, s), n), ((1, 0), 1));
    assert_eq!(read.branch.head, heads[0]);
    for (path, content) in FILES {
        assert_eq!(
            read.files[path].as_deref(),
            Some(content.as_bytes()),
            "{path}"
        );
    }

    // A branch read is one list.
    let s = FakeSsh::sessions(&remote);
    let (got, n, _) = step(repo.get_branch("dev-acme")).await;
    assert_eq!(got.unwrap().unwrap().head, heads[1]);
    assert_eq!((since(&remote, s), n), ((1, 0), 1));

    // Ensuring a branch this process knows: one fetch confirms it.
    let s = FakeSsh::sessions(&remote);
    let (kept, n, existed) = step(repo.ensure_branch("acme", "main")).await;
    assert_eq!(kept.unwrap().value.head, heads[0]);
    assert_eq!((since(&remote, s), n, existed), ((1, 0), 1, Some(true)));

    // The same files again: no commit; one fetch proves the remembered head is current.
    let s = FakeSsh::sessions(&remote);
    let (same, n, existed) = step(repo.write_files(&spec("acme", &FILES, "Again"))).await;
    let same = same.unwrap();
    assert_eq!(
        (same.outcome, same.value.head.as_str()),
        (Outcome::Unchanged, &*heads[0])
    );
    assert_eq!((since(&remote, s), n, existed), ((1, 0), 1, Some(true)));
}

/// A new process (its own cache) on branches that exist: ensure is one read, a changed file
/// one push on the head that read learned, a refresh one read per resource.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_process_reads_each_branch_once() {
    let remote = Remote::new();
    let url = FakeSsh::url(&remote);
    let first = remote.provider(&url, GitTransport::Auto);
    first.ensure_branch("acme", "main").await.unwrap();
    first
        .write_files(&spec("acme", &FILES, "Configure"))
        .await
        .unwrap();

    let repo = remote.provider(&url, GitTransport::Auto);
    let s = FakeSsh::sessions(&remote);
    let (kept, n, existed) = step(repo.ensure_branch("acme", "main")).await;
    assert_eq!(kept.unwrap().outcome, Outcome::Unchanged);
    assert_eq!((since(&remote, s), n, existed), ((1, 0), 1, Some(true)));

    let s = FakeSsh::sessions(&remote);
    let changed = spec(
        "acme",
        &[("config.yml", "tenant: acme\nplan: pro\n")],
        "Plan",
    );
    let (written, n, existed) = step(repo.write_files(&changed)).await;
    assert_eq!(written.unwrap().outcome, Outcome::Updated);
    assert_eq!((since(&remote, s), n, existed), ((0, 1), 1, Some(false)));
    assert_eq!(
        bare_git(&remote.bare, &["show", "acme:config.yml"]),
        "tenant: acme\nplan: pro"
    );
}

/// Many tenants at once share sessions: 8 tenants' 16 branches and 16 commits take far fewer
/// than the 32 pushes one session per operation would, and every commit lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_tenants_share_sessions() {
    const TENANTS: usize = 8;
    let remote = Remote::new();
    let repo: GitRepository = remote.provider(&FakeSsh::url(&remote), GitTransport::Auto);
    let tally = Arc::new(RequestTally::default());
    let mut tasks = Vec::new();
    for t in 0..TENANTS {
        let repo = repo.clone();
        let tally = tally.clone();
        tasks.push(tokio::spawn(counted(tally, async move {
            let prod = format!("tenant-{t}");
            let dev = format!("dev-tenant-{t}");
            let (a, b) = tokio::join!(
                repo.ensure_branch(&prod, "main"),
                repo.ensure_branch(&dev, "main")
            );
            assert_eq!(a.unwrap().outcome, Outcome::Created);
            assert_eq!(b.unwrap().outcome, Outcome::Created);
            let (prod_files, dev_files) = (
                spec(&prod, &FILES, "Configure"),
                spec(&dev, &FILES, "Configure staging"),
            );
            let (a, b) = tokio::join!(repo.write_files(&prod_files), repo.write_files(&dev_files));
            assert_eq!(a.unwrap().outcome, Outcome::Updated);
            assert_eq!(b.unwrap().outcome, Outcome::Updated);
        })));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let (reads, writes) = FakeSsh::sessions(&remote);
    eprintln!("{TENANTS} tenants: {reads} read and {writes} write sessions");
    assert_eq!(
        tally.total() as usize,
        reads + writes,
        "the tally counts every session once"
    );
    assert!(
        writes <= 2 * TENANTS,
        "{writes} pushes for {TENANTS} tenants: more than 2 per tenant"
    );
    assert!(reads <= TENANTS, "{reads} reads for {TENANTS} tenants");
    for t in 0..TENANTS {
        for branch in [format!("tenant-{t}"), format!("dev-tenant-{t}")] {
            assert_eq!(
                bare_git(&remote.bare, &["rev-list", "--count", &branch]),
                "2",
                "{branch}"
            );
        }
    }
}
