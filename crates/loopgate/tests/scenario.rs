//! `loopgate scenario` against a real `loopgate serve`: BANKING77 tickets submitted over the
//! API with Loopgate proposing, simulated reviewers deciding, and the figures compared with the
//! simulator's on the same stream. Until a threshold is certified people label every ticket in
//! stream order, so the server's model and the simulator's learn the same labels in the same
//! order and must propose the same labels: the loop over HTTP is the simulated loop.

mod common;

use std::path::PathBuf;

use common::{Server, loopgate, run, stderr, stdout};
use serde_json::Value;

const ADMIN: &str = "lg_scenario_bootstrap_admin_key_0123456789";

fn banking77(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/banking77")
        .join(file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_runs_the_simulated_loop() {
    let tmp = tempfile::tempdir().expect("a temp dir");
    let data = tmp.path().join("data");
    let server = Server::start(
        tmp.path(),
        &data,
        &[
            ("LOOPGATE_BOOTSTRAP_ADMIN_KEY", ADMIN),
            // Refits only when the scenario asks, as the simulator does.
            ("LOOPGATE_REFIT_SECONDS", "3600"),
        ],
    )
    .await;
    let report = tmp.path().join("report");
    let items = 400;
    let output = run(loopgate(tmp.path())
        .args(["scenario", "--url", &server.base, "--admin-key", ADMIN])
        .arg("--data")
        .arg(banking77("train.csv"))
        .arg("--data")
        .arg(banking77("test.csv"))
        .args([
            "--seed",
            "3",
            "--reviewer-accuracy",
            "0.9",
            "--refit-every",
            "100",
        ])
        .args(["--limit", &items.to_string(), "--policy", "banking.intent"])
        .arg("--report")
        .arg(&report));
    assert!(
        output.status.success(),
        "{}\n{}\n{}",
        stdout(&output),
        stderr(&output),
        server.log()
    );
    assert!(
        stdout(&output).contains("| loopgate-api |"),
        "{}",
        stdout(&output)
    );

    let json: Value = serde_json::from_slice(
        &std::fs::read(report.join("scenario.json")).expect("scenario.json"),
    )
    .expect("JSON");
    assert_eq!(json["items"], items);
    let row = |name: &str| {
        json["policies"]
            .as_array()
            .expect("policies")
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no {name} row: {json:#}"))
            .clone()
    };
    let (api, sim) = (row("loopgate-api"), row("loopgate-single-review"));

    // Too few labels to certify anything at 1%: people decide every ticket, on both sides.
    assert_eq!(api["automation"], 0.0);
    assert_eq!(sim["automation"], 0.0);
    assert_eq!(api["reviews"]["first"], items);
    assert_eq!(api["reviews"]["audit"], 0);
    // The same reviewers met the same tickets: the same delivered accuracy, to the item.
    assert_eq!(api["delivered_accuracy"], sim["delivered_accuracy"]);
    // The server's own model proposed what the simulator's did. Only the very first ticket can
    // differ: with nothing learned the server proposes no label, the simulator a fixed one.
    let right = |row: &Value| {
        row["proposal_accuracy"]
            .as_f64()
            .expect("proposal accuracy")
            * items as f64
    };
    let (api_right, sim_right) = (right(&api), right(&sim));
    assert!(
        (api_right - sim_right).abs() <= 1.0 + 1e-9,
        "right proposals: {api_right} over the API, {sim_right} simulated"
    );
    // 400 tickets over 77 intents: far from trained, far above the 1/77 of guessing.
    assert!(
        api_right > items as f64 * 0.15,
        "the model learned: {api_right}"
    );

    // Refits ran on the cadence and the policy's learning view saw every outcome.
    assert_eq!(json["thresholds"].as_array().expect("thresholds").len(), 4);
    let (status, learning) = server
        .get("/v1/policies/banking.intent/learning", ADMIN)
        .await;
    assert_eq!(status, 200, "{learning}");
    assert_eq!(learning["state"]["scored"], "out_of_fold", "{learning:#}");
    assert_eq!(learning["state"]["outcomes"], items, "{learning:#}");
}
