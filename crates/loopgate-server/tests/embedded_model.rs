//! The gateway's own model, through the API: an agent submits BANKING77 tickets with
//! `"model": "loopgate"`, reviewers correct the proposals, and the model learns from every human
//! label until it proposes the right intent for tickets it has never seen. Unfamiliar inputs go
//! to a person with the novelty reason shown, and the model survives a restart.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::TestApp;
use loopgate_core::{PolicyName, WorkspaceId};
use loopgate_server::model::Models;
use serde_json::{Value, json};

/// BANKING77 rows of the first `intents` intents (by name), at most `per_intent` each,
/// interleaved (one of each intent in turn), as tickets would arrive.
fn banking77(file: &str, intents: usize, per_intent: usize) -> Vec<(String, String)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/banking77")
        .join(file);
    let mut reader =
        csv::Reader::from_path(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let rows: Vec<(String, String)> = reader
        .records()
        .map(|r| {
            let r = r.expect("a CSV record");
            (r[0].to_owned(), r[1].to_owned())
        })
        .collect();
    let mut names: Vec<&str> = rows.iter().map(|(_, l)| l.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let chosen: Vec<String> = names.into_iter().take(intents).map(str::to_owned).collect();
    let mut taken: BTreeMap<String, usize> = BTreeMap::new();
    let mut picked: Vec<(usize, String, String)> = rows
        .into_iter()
        .filter(|(_, label)| chosen.contains(label))
        .filter_map(|(text, label)| {
            let n = taken.entry(label.clone()).or_default();
            *n += 1;
            (*n <= per_intent).then_some((*n, label, text))
        })
        .collect();
    picked.sort();
    picked
        .into_iter()
        .map(|(_, label, text)| (text, label))
        .collect()
}

fn ticket(text: &str) -> Value {
    json!({
        "policy": "ticket.intent",
        "input": {"text": text, "channel": "chat"},
        "customer": {"id": "acme", "tier": "standard"},
        "proposal": {"kind": "label", "model": "loopgate"}
    })
}

fn codes(item: &Value) -> Vec<String> {
    item["verdict"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateways_own_model_learns_banking_intents_from_reviewers() {
    let app = TestApp::spawn().await;
    app.post(
        "/v1/policies",
        &app.admin,
        json!({
            "name": "ticket.intent", "kind": "label", "mode": "shadow",
            "thresholds": {"approve_at": 0.95, "reject_below": 0.0},
            "validators": {"required_fields": ["label"]}
        }),
    )
    .await
    .expect(201);
    let agent = app.agent("bot").await;
    let reviewer = app.reviewer("rita", &["triage"]).await;

    // An untrained model knows nothing: its first proposal goes to a person as novel.
    let (first_text, _) = &banking77("train.csv", 8, 1)[0];
    let first = app.submit(&agent, ticket(first_text)).await;
    assert_eq!(first["status"], "queued");
    assert!(
        codes(&first).contains(&"novel_input".to_owned()),
        "{:?}",
        codes(&first)
    );
    assert_eq!(first["proposal"]["model"], "loopgate");

    // Reviewers correct every proposal; each label trains the model.
    let train = banking77("train.csv", 8, 40);
    let mut right_late = 0;
    for (i, (text, truth)) in train.iter().enumerate() {
        if i > 0 {
            app.submit(&agent, ticket(text)).await;
        }
        let claimed = app.claim_item(&reviewer).await;
        let proposed = claimed["proposal"]["payload"]["label"]
            .as_str()
            .map(str::to_owned);
        let (decision, extra) = if proposed.as_deref() == Some(truth) {
            ("approve", json!({}))
        } else {
            ("edit", json!({"edited_payload": {"label": truth}}))
        };
        if i >= train.len() - 80 && decision == "approve" {
            right_late += 1;
        }
        app.decide(
            &reviewer,
            claimed["id"].as_str().unwrap(),
            claimed["lease"]["id"].as_str().unwrap(),
            decision,
            extra,
        )
        .await
        .expect(200);
    }
    assert!(
        right_late >= 40,
        "late in training the model was right on {right_late} of 80"
    );

    // On tickets it has never seen, it proposes the right intent.
    let test = banking77("test.csv", 8, 20);
    let mut correct = 0;
    let mut novel = 0;
    for (text, truth) in &test {
        let item = app.submit(&agent, ticket(text)).await;
        correct += usize::from(item["proposal"]["payload"]["label"] == json!(truth));
        novel += usize::from(codes(&item).contains(&"novel_input".to_owned()));
        assert!(item["verdict"]["confidence"]["raw"].as_f64().unwrap() > 0.0);
    }
    let accuracy = correct as f64 / test.len() as f64;
    assert!(
        accuracy >= 0.75,
        "accuracy {accuracy:.3} on {} unseen tickets",
        test.len()
    );
    assert!(
        (novel as f64) < 0.25 * test.len() as f64,
        "{novel} of {} ordinary tickets flagged novel",
        test.len()
    );

    // Something unlike any banking ticket is flagged.
    let odd = app
        .submit(
            &agent,
            ticket("Zxqv plorf: wimble the gorse lattice, quonk quonk!"),
        )
        .await;
    assert!(
        codes(&odd).contains(&"novel_input".to_owned()),
        "{:?}",
        codes(&odd)
    );

    // The override rate per intent shows where the model is weak.
    let learning = app
        .get("/v1/policies/ticket.intent/learning", &app.admin)
        .await
        .expect(200)
        .clone();
    let intents = learning["intents"].as_array().unwrap();
    assert!(!intents.is_empty());
    let total: u64 = intents
        .iter()
        .map(|i| i["outcomes"].as_u64().unwrap())
        .sum();
    // Every reviewed proposal counts, except the very first: the untrained model proposed none.
    assert_eq!(total as usize, train.len() - 1);

    // Saved and restored: a fresh model registry reading the same store proposes the same.
    let ws = WorkspaceId::default_workspace();
    let policy: PolicyName = "ticket.intent".parse().unwrap();
    let store = app.state.store();
    app.state
        .models()
        .save(store, app.now(), true)
        .await
        .unwrap();
    let (text, _) = &test[0];
    let before = app
        .state
        .models()
        .propose(store, &ws, &policy, text)
        .await
        .unwrap();
    let restored = Models::default()
        .propose(store, &ws, &policy, text)
        .await
        .unwrap();
    assert_eq!(before.label, restored.label);
    assert!((before.probability - restored.probability).abs() < 1e-9);
}

#[tokio::test]
async fn loopgate_proposes_labels_only() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    let res = app
        .post(
            "/v1/items",
            &agent,
            json!({
                "policy": "reply.draft",
                "input": {"text": "hi"},
                "customer": {"id": "acme"},
                "proposal": {"kind": "reply", "model": "loopgate"}
            }),
        )
        .await;
    let message = res.expect_error(422, "invalid_request");
    assert!(message.contains("labels only"), "{message}");
    assert_eq!(app.all_items().await.len(), 0);
}
