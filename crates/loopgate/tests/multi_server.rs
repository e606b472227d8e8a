//! Three real `loopgate serve` processes on one PostgreSQL database: 10,000 submitted items, 50
//! reviewers racing to claim and decide them through all three servers. Every item is claimed
//! exactly once and decided exactly once (checked through the API and in the audit trail), the
//! audit chain stays one valid chain (`loopgate audit verify`), and a long-poll on one server
//! wakes when another server decides its item.
//!
//! Needs `LOOPGATE_TEST_POSTGRES_URL` (CI sets it); without it the test says so and passes.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Db, Server, loopgate, run, stderr, stdout};
use loopgate_store::testing::{TestSchema, postgres_url};
use serde_json::{Value, json};

const ADMIN: &str = "lg_multi_server_bootstrap_admin_0123456789";
const ITEMS: usize = 10_000;
const BATCH: usize = 1_000;
const REVIEWERS: usize = 50;

fn submission(n: usize) -> Value {
    json!({
        "policy": "reply.draft",
        "input": {"text": format!("Ticket {n}: where is my invoice?")},
        "customer": {"id": format!("customer-{}", n % 500)},
        "proposal": {"kind": "reply", "payload": {"text": "Hello"}, "confidence": 0.5}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_on_one_database_claim_and_decide_every_item_exactly_once() {
    let Some(base) = postgres_url() else {
        eprintln!(
            "skipped: set LOOPGATE_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run the multi-server test"
        );
        return;
    };
    let started = Instant::now();
    let schema = TestSchema::create(&base).await;
    let db = Db::Url(schema.url().to_owned());
    let tmp = tempfile::tempdir().expect("tempdir");

    // All three start at once on the empty database: migrations and the bootstrap key race.
    let env = [("LOOPGATE_BOOTSTRAP_ADMIN_KEY", ADMIN)];
    let (a, b, c) = tokio::join!(
        Server::start(tmp.path(), &db, &env),
        Server::start(tmp.path(), &db, &env),
        Server::start(tmp.path(), &db, &env),
    );
    let servers = Arc::new([a, b, c]);
    let policy = json!({
        "name": "reply.draft", "kind": "reply",
        "thresholds": {"approve_at": 0.9, "reject_below": 0.2},
        "lease_seconds": 3600
    });
    let (status, body) = servers[0].post("/v1/policies", ADMIN, policy).await;
    assert_eq!(status, 201, "{body}");
    let agent = servers[1]
        .create_key(ADMIN, json!({"name": "bot", "role": "agent"}))
        .await;
    let mut reviewers = Vec::new();
    for n in 0..REVIEWERS {
        let body = json!({"name": format!("reviewer-{n}"), "role": "reviewer", "reviewer_roles": ["triage"]});
        reviewers.push(servers[n % 3].create_key(ADMIN, body).await);
    }

    // A long-poll on server 1 wakes when server 2 decides its item.
    let (status, watched) = servers[0].post("/v1/items", &agent, submission(0)).await;
    assert_eq!(status, 201, "{watched}");
    let watched_id = watched["id"].as_str().expect("id").to_owned();
    let poll = {
        let servers = servers.clone();
        let (agent, id) = (agent.clone(), watched_id.clone());
        tokio::spawn(async move {
            let (status, item) = servers[0]
                .get(&format!("/v1/items/{id}?wait=60"), &agent)
                .await;
            (status, item, Instant::now())
        })
    };
    let (status, claimed) = servers[1]
        .post("/v1/reviews/claim", &reviewers[0], json!({}))
        .await;
    assert_eq!(status, 200, "{claimed}");
    assert_eq!(claimed["item"]["id"], watched_id);
    let decision = json!({"lease_id": claimed["item"]["lease"]["id"], "decision": "reject"});
    let (status, decided) = servers[1]
        .post(
            &format!("/v1/items/{watched_id}/decision"),
            &reviewers[0],
            decision,
        )
        .await;
    assert_eq!(status, 200, "{decided}");
    let decided_at = Instant::now();
    let (status, polled, returned_at) = poll.await.expect("the long-poll task");
    assert_eq!(status, 200, "{polled}");
    assert_eq!(
        polled["status"], "rejected",
        "the long-poll returns the final verdict"
    );
    assert_eq!(polled["final"], true);
    let latency = returned_at.saturating_duration_since(decided_at);
    // A wake-up, not the end of the 60-second wait; the bound is generous on purpose.
    assert!(latency < Duration::from_secs(20), "woke after {latency:?}");
    eprintln!("long-poll on server 1 returned {latency:?} after server 2's decision");

    // 10,000 items in batches of 1,000, spread over the servers.
    let mut ids: Vec<String> = Vec::with_capacity(ITEMS);
    let batches: Vec<_> = (0..ITEMS / BATCH)
        .map(|b| {
            let servers = servers.clone();
            let agent = agent.clone();
            tokio::spawn(async move {
                let items: Vec<Value> = (0..BATCH).map(|i| submission(1 + b * BATCH + i)).collect();
                let (status, body) = servers[b % 3]
                    .post("/v1/items:batch", &agent, json!({"items": items}))
                    .await;
                assert_eq!(status, 201, "{body}");
                body["items"]
                    .as_array()
                    .expect("items")
                    .iter()
                    .map(|i| {
                        assert_eq!(i["status"], "queued");
                        i["id"].as_str().expect("id").to_owned()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for batch in batches {
        ids.extend(batch.await.expect("a batch"));
    }
    assert_eq!(ids.len(), ITEMS);
    eprintln!("submitted {ITEMS} items after {:?}", started.elapsed());

    // 50 reviewers claim and decide until nothing is left, each through one of the servers.
    let claimers: Vec<_> = reviewers
        .iter()
        .enumerate()
        .map(|(n, reviewer)| {
            let servers = servers.clone();
            let reviewer = reviewer.clone();
            tokio::spawn(async move {
                let server = &servers[n % 3];
                let mut decided = Vec::new();
                loop {
                    let (status, claimed) =
                        server.post("/v1/reviews/claim", &reviewer, json!({})).await;
                    if status == 204 {
                        return decided;
                    }
                    assert_eq!(status, 200, "{claimed}");
                    let item = &claimed["item"];
                    let id = item["id"].as_str().expect("id").to_owned();
                    let body = json!({"lease_id": item["lease"]["id"], "decision": "approve"});
                    let (status, answer) = server
                        .post(&format!("/v1/items/{id}/decision"), &reviewer, body)
                        .await;
                    assert_eq!(status, 200, "{answer}");
                    assert_eq!(answer["status"], "approved");
                    decided.push(id);
                }
            })
        })
        .collect();
    let mut decided = Vec::with_capacity(ITEMS);
    for claimer in claimers {
        decided.extend(claimer.await.expect("a claimer"));
    }
    eprintln!("claimed and decided after {:?}", started.elapsed());
    let distinct: HashSet<&String> = decided.iter().collect();
    assert_eq!(distinct.len(), decided.len(), "no item was claimed twice");
    assert_eq!(
        distinct,
        ids.iter().collect::<HashSet<_>>(),
        "every item was claimed and decided"
    );

    // Through the API: nothing left waiting, every item approved once.
    let (status, waiting) = servers[2]
        .get("/v1/items?status=queued,in_review&limit=10", ADMIN)
        .await;
    assert_eq!(status, 200);
    assert_eq!(waiting["items"], json!([]));
    let mut approved = HashSet::new();
    let mut before: Option<String> = None;
    loop {
        let path = match &before {
            Some(b) => format!("/v1/items?status=approved&limit=500&before={b}"),
            None => "/v1/items?status=approved&limit=500".to_owned(),
        };
        let (status, page) = servers[approved.len() % 3].get(&path, ADMIN).await;
        assert_eq!(status, 200, "{page}");
        for item in page["items"].as_array().expect("items") {
            assert_eq!(
                item["outcome"]["decided_by"].as_array().map(Vec::len),
                Some(1)
            );
            assert!(approved.insert(item["id"].as_str().expect("id").to_owned()));
        }
        match page["next_before"].as_str() {
            Some(next) => before = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(approved.len(), ITEMS);

    // In the audit trail: exactly one claim and one decision per item, one valid chain.
    let pool = sqlx::PgPool::connect(schema.url()).await.expect("connects");
    let per_item: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT item_id, action, COUNT(*) FROM audit_log
         WHERE item_id IS NOT NULL GROUP BY item_id, action",
    )
    .fetch_all(&pool)
    .await
    .expect("the audit log is readable");
    let mut counts: HashMap<(String, String), i64> = HashMap::new();
    for (item, action, n) in per_item {
        counts.insert((item, action), n);
    }
    for id in &ids {
        for action in ["submitted", "claimed", "approved"] {
            assert_eq!(
                counts.get(&(id.clone(), action.to_owned())),
                Some(&1),
                "item {id}: {action} once"
            );
        }
    }
    pool.close().await;
    let (status, verified) = servers[1].get("/v1/audit/verify", ADMIN).await;
    assert_eq!(status, 200);
    assert_eq!(verified["valid"], true, "{verified}");
    // The bootstrap key, the policy, 51 keys, the watched item's 3 entries, 3 per item.
    let expected = 1 + 1 + 1 + REVIEWERS as i64 + 3 + 3 * ITEMS as i64;
    assert_eq!(verified["entries"], expected);

    let output = run(loopgate(tmp.path())
        .args(["audit", "verify"])
        .args(db.args()));
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert_eq!(
        stdout(&output).trim(),
        format!("workspace default: {expected} entries, chain intact")
    );
    drop(servers);
    eprintln!("done after {:?}", started.elapsed());
}
