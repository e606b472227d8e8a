//! The README's walk through the API, run as a reader pastes it into bash: against a server
//! started as `loopgate serve` starts by default, with `cargo run -q --release --` standing for
//! the binary under test and the server's port for 8080. It must run through, and the agent's
//! long-poll must hear the final verdict the reviewer gave.

mod common;

use std::process::Command;

use common::{Server, configured, run, stderr, stdout};
use serde_json::Value;

const README: &str = include_str!("../../../README.md");

/// The first `sh` block after the heading `## A walk through the API`.
fn walk_through() -> &'static str {
    let section = README
        .split_once("## A walk through the API")
        .expect("the README has its walk through the API")
        .1;
    let block = section
        .split_once("```sh\n")
        .expect("the walk through is a sh block")
        .1;
    block.split_once("\n```").expect("the block is closed").0
}

#[tokio::test]
async fn the_readme_walk_through_works_when_pasted() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // The data directory `loopgate serve` uses by default, in the reader's directory.
    let server = Server::start(tmp.path(), &tmp.path().join("loopgate-data"), &[]).await;
    let script = walk_through()
        .replace("http://127.0.0.1:8080", &server.base)
        .replace(
            "cargo run -q --release --",
            &format!("'{}'", env!("CARGO_BIN_EXE_loopgate")),
        );
    assert!(
        !script.contains("cargo run") && script.contains(&server.base),
        "the walk through runs the binary against the server: {script}"
    );

    // curl as a reader runs it, but with no proxy or ~/.curlrc of this machine's in the way,
    // and bounded: the long-poll waits 60 s at most.
    let output = run(configured(Command::new("timeout"), tmp.path())
        .args(["180", "bash", "-c"])
        .arg(&script)
        .env("NO_PROXY", "*")
        .env("no_proxy", "*")
        .env("CURL_HOME", tmp.path()));
    let (out, err) = (stdout(&output), stderr(&output));
    assert!(
        output.status.success(),
        "the walk through fails: {out}{err}"
    );

    // Step 3: the draft was queued for a person in lane P2.
    assert!(
        out.contains(r#""status":"queued""#) && out.contains(r#""lane":"P2""#),
        "the submitted draft is queued in P2: {out}"
    );
    // Step 6: the long-poll heard the edit, and the agent may send the edited text.
    let verdict: Value = serde_json::from_slice(
        &std::fs::read(tmp.path().join("verdict.json")).expect("the long-poll wrote its answer"),
    )
    .unwrap_or_else(|e| panic!("the long-poll answered an item ({e}): {out}{err}"));
    assert_eq!(verdict["status"], "edited", "{verdict}");
    assert_eq!(verdict["final"], true, "{verdict}");
    assert!(
        verdict["outcome"]["payload"]["text"]
            .as_str()
            .is_some_and(|t| t.contains("the credit note follows today")),
        "the outcome is the reviewer's edit: {verdict}"
    );
    // Step 7: the trail holds the edit, and the chain verifies.
    assert!(
        out.contains(r#""action":"edited""#),
        "the audit trail has the edit: {out}"
    );
    assert!(
        out.trim_end().ends_with("chain intact"),
        "audit verify passes: {out}"
    );
    server.stop().await;
}
