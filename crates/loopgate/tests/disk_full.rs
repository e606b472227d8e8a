//! A full disk under the embedded database. Writes are refused with 507 `storage_full` (never a
//! 500), nothing half-written is left behind, reads keep working, and once space is freed the
//! same server accepts writes again without a restart. Starting on a full disk with no database
//! yet is a clear error, and the data directory is left usable.
//!
//! The disk is a 6 MiB tmpfs mounted for the test, which needs root (CI runs as root); elsewhere
//! the test says so and passes.

mod common;

use common::{Server, Tmpfs, loopgate, run, stderr};
use serde_json::{Value, json};

const ADMIN: &str = "lg_disk_full_test_bootstrap_admin_key_0123";

fn submission(n: usize) -> Value {
    json!({
        "policy": "reply.draft",
        "input": {"text": format!("Ticket {n}: {}", "the invoice total is wrong; ".repeat(20))},
        "customer": {"id": "acme"},
        "proposal": {"kind": "reply", "payload": {"text": "We are on it.".repeat(20)}, "confidence": 0.5}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_with_507_and_recovers_when_space_is_freed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let Some(disk) = Tmpfs::mount(&tmp.path().join("disk"), "6m", "") else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let data = tmp.path().join("disk/data");
    let env = [("LOOPGATE_BOOTSTRAP_ADMIN_KEY", ADMIN)];
    let server = Server::start(tmp.path(), &data, &env).await;
    let agent = server.reply_policy_and_agent(ADMIN).await;

    disk.fill();
    let mut acknowledged = Vec::new();
    let mut refused = 0;
    for n in 0..200 {
        let response = server
            .client
            .post(format!("{}/v1/items", server.base))
            .bearer_auth(&agent)
            .json(&submission(n))
            .send()
            .await
            .expect("the server answers");
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body: Value = response.json().await.expect("JSON");
        match status {
            201 => acknowledged.push(body["id"].as_str().expect("id").to_owned()),
            507 => {
                assert_eq!(body["error"]["code"], "storage_full", "{body}");
                assert!(retry_after.is_some(), "507 without Retry-After");
                refused += 1;
            }
            other => panic!("a submit on a full disk answered {other}: {body}"),
        }
    }
    assert!(
        refused > 0,
        "the disk never filled: {} stored",
        acknowledged.len()
    );

    // A batch large enough to be rendered while the writer inserts it is refused whole.
    let batch = json!({"items": (0..400).map(|n| submission(10_000 + n)).collect::<Vec<_>>()});
    let (status, body) = server.post("/v1/items:batch", &agent, batch).await;
    assert_eq!(status, 507, "{body}");
    assert_eq!(body["error"]["code"], "storage_full", "{body}");

    // Reads still work while the disk is full.
    let (status, listed) = server.get("/v1/items?limit=500", ADMIN).await;
    assert_eq!(status, 200, "{listed}");

    // Space comes back: the same process takes writes again.
    disk.free();
    let (status, item) = server.post("/v1/items", &agent, submission(1_000)).await;
    assert_eq!(status, 201, "{item}");
    acknowledged.push(item["id"].as_str().expect("id").to_owned());

    // Everything acknowledged is there, whole, and the audit chain is intact.
    let (status, listed) = server.get("/v1/items?limit=500", ADMIN).await;
    assert_eq!(status, 200, "{listed}");
    let stored: Vec<&str> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        stored.len(),
        acknowledged.len(),
        "refused submits left items behind"
    );
    for id in &acknowledged {
        assert!(stored.contains(&id.as_str()), "acknowledged item {id} lost");
    }
    let (status, verified) = server.get("/v1/audit/verify", ADMIN).await;
    assert_eq!(status, 200, "{verified}");
    assert_eq!(verified["valid"], true, "{verified}");
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

#[tokio::test]
async fn starting_on_a_full_disk_without_a_database_is_a_clear_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let Some(disk) = Tmpfs::mount(&tmp.path().join("disk"), "1m", "") else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let data = tmp.path().join("disk/data");
    std::fs::create_dir(&data).expect("data dir");
    disk.fill();

    let output = run(loopgate(tmp.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .env("LOOPGATE_BOOTSTRAP_ADMIN_KEY", ADMIN));
    assert!(!output.status.success(), "serve started on a full disk");
    let err = stderr(&output);
    assert!(
        err.contains(&data.display().to_string()) && err.to_lowercase().contains("full"),
        "the error names the directory and the cause: {err}"
    );

    // Once space is freed, the same directory works.
    disk.free();
    let output = run(loopgate(tmp.path()).args(["migrate", "--data"]).arg(&data));
    assert!(output.status.success(), "{}", stderr(&output));
}
