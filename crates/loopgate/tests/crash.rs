//! `kill -9` in the middle of a submit load. After a restart on the same data directory every
//! acknowledged item is there exactly once (a retry with its `Idempotency-Key` replays it, and
//! no other item carries its text), every item that is there is whole (its verdict and its audit
//! entry were written with it), the lease the dead process had handed out lapses and the item
//! returns to the queue, and `loopgate audit verify` finds the chain intact.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use common::{Server, assert_audit_intact};
use serde_json::{Value, json};

const ADMIN: &str = "lg_crash_test_bootstrap_admin_key_0123456789";
const AGENTS: usize = 8;
/// Acknowledged submits before the kill.
const KILL_AFTER: usize = 400;

fn submission(n: usize) -> Value {
    json!({
        "policy": "reply.draft",
        "input": {"text": format!("Ticket {n}: the invoice shows the wrong VAT number")},
        "customer": {"id": format!("customer-{}", n % 50)},
        "proposal": {"kind": "reply", "payload": {"text": "We will correct it."}, "confidence": 0.5}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_submits_survive_kill_9_and_leases_of_the_dead_process_lapse() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let env = [("LOOPGATE_BOOTSTRAP_ADMIN_KEY", ADMIN)];
    let mut server = Server::start(tmp.path(), &data, &env).await;

    let (status, body) = server
        .post(
            "/v1/policies",
            ADMIN,
            json!({"name": "reply.draft", "kind": "reply", "lease_seconds": 1,
                   "thresholds": {"approve_at": 0.99, "reject_below": 0.01}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let agent = server
        .create_key(ADMIN, json!({"name": "bot", "role": "agent"}))
        .await;
    let reviewer = server
        .create_key(
            ADMIN,
            json!({"name": "rita", "role": "reviewer", "reviewer_roles": ["triage"]}),
        )
        .await;

    // A reviewer holds a lease when the process dies.
    let (status, first) = server.post("/v1/items", &agent, submission(0)).await;
    assert_eq!(status, 201, "{first}");
    let (status, claimed) = server.post("/v1/reviews/claim", &reviewer, json!({})).await;
    assert_eq!(status, 200, "{claimed}");
    let leased = claimed["item"]["id"].as_str().expect("id").to_owned();
    assert_eq!(leased, first["id"].as_str().expect("id"));

    // Agents submit as fast as they can, each submit with its own Idempotency-Key; the server
    // is killed once KILL_AFTER submits were acknowledged, with others in flight.
    let acked: Arc<Mutex<HashMap<String, (usize, String)>>> = Arc::default();
    let enough = Arc::new(Notify::new());
    let mut agents = Vec::new();
    for a in 0..AGENTS {
        let (client, base, agent, acked, enough) = (
            server.client.clone(),
            server.base.clone(),
            agent.clone(),
            acked.clone(),
            enough.clone(),
        );
        agents.push(tokio::spawn(async move {
            for i in 0.. {
                let n = 1 + a + i * AGENTS;
                let idempotency = format!("submit-{n}");
                let sent = client
                    .post(format!("{base}/v1/items"))
                    .bearer_auth(&agent)
                    .header("Idempotency-Key", &idempotency)
                    .json(&submission(n))
                    .send()
                    .await;
                let Ok(response) = sent else { return };
                if response.status() != 201 {
                    return;
                }
                let Ok(item) = response.json::<Value>().await else {
                    return;
                };
                let id = item["id"].as_str().expect("id").to_owned();
                let mut acked = acked.lock().expect("lock");
                acked.insert(idempotency, (n, id));
                if acked.len() == KILL_AFTER {
                    enough.notify_one();
                }
            }
        }));
    }
    tokio::time::timeout(Duration::from_secs(120), enough.notified())
        .await
        .expect("the load did not get going");
    server.kill_9();
    for agent in agents {
        agent
            .await
            .expect("the agent task ends when the server is gone");
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() >= KILL_AFTER);

    // Restart on the same data directory.
    let server = Server::start(tmp.path(), &data, &env).await;

    // Every stored item, once each.
    let mut stored: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/items?limit=500&before={c}"),
            None => "/v1/items?limit=500".to_owned(),
        };
        let (status, page) = server.get(&path, ADMIN).await;
        assert_eq!(status, 200, "{page}");
        stored.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_before"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let ids: HashSet<&str> = stored
        .iter()
        .map(|i| i["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids.len(), stored.len(), "an item is listed twice");
    let mut texts: HashMap<&str, usize> = HashMap::new();
    for item in &stored {
        *texts
            .entry(item["input"]["text"].as_str().expect("text"))
            .or_default() += 1;
    }
    assert!(
        texts.values().all(|&n| n == 1),
        "a submission was stored twice"
    );

    // Every acknowledged submit is there, and its retry finds it instead of storing it again.
    for (idempotency, (n, id)) in &acked {
        assert!(ids.contains(id.as_str()), "acknowledged item {id} was lost");
        let retried = server
            .client
            .post(format!("{}/v1/items", server.base))
            .bearer_auth(&agent)
            .header("Idempotency-Key", idempotency)
            .json(&submission(*n))
            .send()
            .await
            .expect("the server answers");
        assert_eq!(retried.status(), 201);
        assert_eq!(
            retried
                .headers()
                .get("idempotent-replayed")
                .and_then(|v| v.to_str().ok()),
            Some("true"),
            "a retry of {idempotency} stored anew"
        );
        let item: Value = retried.json().await.expect("JSON");
        assert_eq!(item["id"], id.as_str());
    }
    // At most the submits in flight at the kill were stored without an acknowledgement.
    assert!(
        stored.len() <= 1 + acked.len() + AGENTS,
        "{} stored, {} acknowledged",
        stored.len(),
        acked.len()
    );

    // Every stored item is whole: routed, with its submission in the audit trail.
    for item in &stored {
        assert!(item["verdict"]["band"].is_string(), "{item:#}");
        let (status, trail) = server
            .get(
                &format!("/v1/items/{}/audit", item["id"].as_str().expect("id")),
                ADMIN,
            )
            .await;
        assert_eq!(status, 200, "{trail}");
        assert_eq!(
            trail["entries"][0]["action"], "submitted",
            "item without its audit entry: {trail:#}"
        );
    }

    // The dead process's lease (one second long) lapses: the restarted server's sweep returns
    // the item to the queue, and says so in the audit trail.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, item) = server.get(&format!("/v1/items/{leased}"), ADMIN).await;
        assert_eq!(status, 200, "{item}");
        if item["status"] == "queued" {
            break;
        }
        assert_eq!(item["status"], "in_review", "{item:#}");
        assert!(
            Instant::now() < deadline,
            "the dead process's lease never lapsed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, trail) = server
        .get(&format!("/v1/items/{leased}/audit"), ADMIN)
        .await;
    assert_eq!(status, 200, "{trail}");
    let actions: Vec<&str> = trail["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert_eq!(actions, ["submitted", "claimed", "lease_expired"]);
    drop(server);
    assert_audit_intact(tmp.path(), &data);
}
