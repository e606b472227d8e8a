//! A server whose PostgreSQL goes away: while the database is down, requests that need it answer
//! 503 with the code `unavailable` (and the process stays up); when the database is back, the
//! same process serves again without a restart, with everything acknowledged before the outage.
//!
//! Runs against a PostgreSQL cluster of its own (initdb in a temporary directory, on a free port),
//! which it stops and starts; never the shared server. Needs `LOOPGATE_TEST_POSTGRES_URL` like
//! every PostgreSQL test (CI sets it); without it the test says so and passes.

mod common;

use std::time::Duration;

use common::{Cluster, Db, Server};
use serde_json::{Value, json};

const ADMIN: &str = "lg_outage_test_bootstrap_admin_0123456789";

fn submission(n: usize) -> Value {
    json!({
        "policy": "reply.draft",
        "input": {"text": format!("Ticket {n}")},
        "customer": {"id": "acme"},
        "proposal": {"kind": "reply", "payload": {"text": "Hello"}, "confidence": 0.5}
    })
}

/// Asks until the server answers `/readyz` with 200; each attempt is a real request, bounded.
async fn until_ready(server: &Server) {
    for _ in 0..300 {
        let (status, _) = server.get("/readyz", ADMIN).await;
        if status == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server did not recover: {}", server.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_answer_503_while_postgres_is_down_and_the_server_recovers_by_itself() {
    if loopgate_store::testing::postgres_url().is_none() {
        eprintln!("skipped: set LOOPGATE_TEST_POSTGRES_URL to run the PostgreSQL tests");
        return;
    }
    let cluster = Cluster::start_new();
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = Server::start(
        tmp.path(),
        Db::Url(cluster.url()),
        &[("LOOPGATE_BOOTSTRAP_ADMIN_KEY", ADMIN)],
    )
    .await;
    let policy = json!({"name": "reply.draft", "kind": "reply",
                        "thresholds": {"approve_at": 0.9, "reject_below": 0.2}});
    assert_eq!(server.post("/v1/policies", ADMIN, policy).await.0, 201);
    let (status, before) = server.post("/v1/items", ADMIN, submission(1)).await;
    assert_eq!(status, 201, "{before}");
    let id = before["id"].as_str().expect("id").to_owned();

    cluster.stop();

    for (status, body) in [
        server.get(&format!("/v1/items/{id}"), ADMIN).await,
        server.post("/v1/items", ADMIN, submission(2)).await,
        server.get("/readyz", ADMIN).await,
    ] {
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"]["code"], "unavailable", "{body}");
    }
    // The process itself is alive.
    assert_eq!(server.get("/healthz", ADMIN).await.0, 200);

    cluster.start();
    until_ready(&server).await;

    let (status, again) = server.get(&format!("/v1/items/{id}"), ADMIN).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["status"], "queued");
    let (status, after) = server.post("/v1/items", ADMIN, submission(3)).await;
    assert_eq!(status, 201, "{after}");
    let (status, verified) = server.get("/v1/audit/verify", ADMIN).await;
    assert_eq!(status, 200);
    assert_eq!(verified["valid"], true, "{verified}");
    // The bootstrap key, the policy, and the two items acknowledged with 201.
    assert_eq!(verified["entries"], 4);
}
