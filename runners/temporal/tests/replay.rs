//! Replays stored fleet workflow histories (`tests/histories/*.json`, written by
//! `tests/devserver.rs` with `PROVISIO_TEST_TEMPORAL_SAVE_HISTORIES=<dir>`; the SDK reads
//! its own JSON form, not the `temporal workflow show` one) with the current
//! workflow code. A change that makes the workflow take another path on an old history fails
//! here, with no server: the SDK's runtime detector misses some nondeterminism
//! (`docs/design/temporal.md` §6), and workers replay the histories of rollouts in flight
//! after every deploy.
//!
//! The histories: a completed rollout with a canary wave over two workers (`rollout`), a
//! pause and resume (`pause`), a cancel signal (`cancel`), a failing canary (`canary`), a
//! worker shutting down mid-rollout (`handover`), a cancelled workflow (`wfcancel`), a fleet
//! apply and destroy (`destroy`, `destroy-1`), a failure threshold halt (`threshold`), tenants refused by a worker with other providers
//! (`providers`). A change
//! to the workflow that is meant to change its path must keep these replaying (branch on
//! `ctx.patched(..)`) or, for a new wire version, add new histories next to the old ones.

use provisio_temporal::FleetWorkflow;
use temporalio_client::WorkflowHistory;
use temporalio_sdk::workflow_replayer::{WorkflowReplayer, WorkflowReplayerOptions};

#[tokio::test]
async fn stored_histories_replay_with_the_current_workflow_code() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/histories");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "histories in {}", dir.display());
    let replayer = WorkflowReplayer::new(
        WorkflowReplayerOptions::new()
            .register_workflow::<FleetWorkflow>()
            .unwrap()
            .build(),
    )
    .unwrap();
    for file in files {
        let history = WorkflowHistory::from_json(&std::fs::read(&file).unwrap()).unwrap();
        replayer
            .replay_workflow(history)
            .await
            .unwrap_or_else(|e| panic!("{} does not replay: {e}", file.display()));
    }
}
