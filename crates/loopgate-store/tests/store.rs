//! The storage suite: the same scenarios, written once against the `Store` trait, run on SQLite
//! always and on PostgreSQL when `LOOPGATE_TEST_POSTGRES_URL` names a database (each test in a
//! fresh schema of its own). Whatever a server relies on from its store is checked here on both
//! backends: idempotent submits, claims in urgency order and never twice under concurrency, lease
//! expiry once, refused transitions leaving nothing behind, the audit chain staying one chain
//! under concurrent writers, and atomic read-modify-write of learned state.

use std::collections::{BTreeSet, HashSet};

use chrono::Duration;
use loopgate_core::audit::AuditActor;
use loopgate_core::clock::from_millis;
use loopgate_core::verdict::decide;
use loopgate_core::{
    AccessRole, Actor, Decision, DecisionRequest, Item, ItemId, Lane, LeaseId, Policy, PolicyName,
    PolicySpec, PrincipalId, Reviewer, Role, Status, Timestamp, Uncalibrated, VerdictContext,
    WorkspaceId,
};
use loopgate_store::testing::TestStore;
use loopgate_store::{
    ClaimRequest, CodeRecord, Effects, IdempotencyClaim, ItemFilter, NewItem, NewKey, Store,
    StoreError,
};
use serde_json::{Value, json};

/// Runs each scenario on both backends: `<name>::sqlite` and `<name>::postgres`.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let t = loopgate_store::testing::TestStore::of(loopgate_store::testing::Backend::Sqlite)
                    .await
                    .expect("SQLite is always there");
                super::$name(&t).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                match loopgate_store::testing::TestStore::of(loopgate_store::testing::Backend::Postgres).await {
                    Some(t) => super::$name(&t).await,
                    None => eprintln!(
                        "skipped on PostgreSQL: set {} to run it",
                        loopgate_store::testing::POSTGRES_URL_VAR
                    ),
                }
            }
        }
    )+};
}

on_both_backends!(
    keys_authenticate_until_revoked,
    policies_are_versioned,
    a_retried_submit_returns_the_first_item,
    a_reused_key_with_another_body_writes_nothing,
    claims_take_the_most_urgent_item_first,
    concurrent_claimers_never_take_the_same_item,
    a_refused_decision_leaves_the_item_and_the_chain_unchanged,
    a_lapsed_lease_is_returned_once,
    concurrent_writers_keep_one_audit_chain,
    learned_state_changes_never_lose_an_update,
    kill_switches_trip_once_and_reset_once,
    audits_are_claimed_once_and_recorded_under_their_lease,
    changes_are_announced_after_commit,
    look_ups_by_text_with_nul_find_nothing,
);

fn t0() -> Timestamp {
    from_millis(1_795_478_400_000).expect("in range")
}

fn at(seconds: i64) -> Timestamp {
    t0() + Duration::seconds(seconds)
}

fn ws() -> WorkspaceId {
    WorkspaceId::default_workspace()
}

fn system() -> AuditActor {
    AuditActor::system("test")
}

fn policy(overrides: Value) -> Policy {
    let mut spec = json!({
        "name": "reply.draft", "kind": "reply",
        "thresholds": {"approve_at": 0.9, "reject_below": 0.2}
    });
    if let (Some(spec), Some(o)) = (spec.as_object_mut(), overrides.as_object()) {
        for (k, v) in o {
            spec.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value::<PolicySpec>(spec)
        .expect("a policy spec")
        .validate()
        .expect("a valid policy")
}

fn actor(name: &str) -> Actor {
    Actor {
        id: PrincipalId::new(),
        name: name.to_owned(),
    }
}

fn reviewer(name: &str) -> Reviewer {
    Reviewer {
        actor: actor(name),
        roles: vec![Role::Triage, Role::Quality, Role::Sme],
    }
}

/// An item submitted at `now` with `confidence`, and `signals` (e.g. `legal` for lane P0 with a
/// routing rule).
fn item(policy: &Policy, confidence: f64, customer: &str, now: Timestamp) -> Item {
    let submission = serde_json::from_value(json!({
        "policy": policy.name,
        "input": {"text": "Where is my invoice?", "channel": "email"},
        "customer": {"id": customer, "tier": "standard"},
        "proposal": {"kind": "reply", "payload": {"text": "Hello"}, "confidence": confidence},
    }))
    .expect("a submission");
    let ctx = VerdictContext {
        now,
        calibrator: &Uncalibrated,
        kill_switch: None,
        novelty: None,
        thresholds: None,
    };
    let route = decide(policy, &submission, &ctx);
    Item::new(
        ItemId::new(),
        ws(),
        policy,
        1,
        submission,
        route,
        actor("agent"),
        now,
    )
}

fn new(item: Item, key: Option<(&str, &str)>) -> NewItem {
    NewItem {
        item,
        idempotency: key.map(|(key, hash)| IdempotencyClaim {
            key: key.to_owned(),
            request_hash: hash.to_owned(),
        }),
        audit: None,
    }
}

async fn setup(store: &dyn Store, p: &Policy) {
    store
        .put_policy(&ws(), p.clone(), system(), t0())
        .await
        .expect("policy stored");
}

async fn submit(store: &dyn Store, items: Vec<Item>) -> Vec<Item> {
    store
        .insert_items(
            &ws(),
            PrincipalId::new(),
            items.into_iter().map(|i| new(i, None)).collect(),
        )
        .await
        .expect("items stored")
        .into_iter()
        .map(|i| i.item)
        .collect()
}

fn claim_request(r: &Reviewer, now: Timestamp) -> ClaimRequest {
    ClaimRequest {
        reviewer: r.clone(),
        roles: Vec::new(),
        lanes: Vec::new(),
        lease_id: LeaseId::new(),
        default_lease: Duration::minutes(5),
        now,
    }
}

async fn chain_len(store: &dyn Store) -> i64 {
    let reports = store.verify_audit().await.expect("verification runs");
    let report = reports
        .iter()
        .find(|r| r.workspace == ws())
        .expect("the workspace has a chain");
    *report.result.as_ref().expect("the chain is intact")
}

async fn keys_authenticate_until_revoked(t: &TestStore) {
    let store = t.store.as_ref();
    assert!(!store.has_keys().await.unwrap());
    let key = |name: &str, access, hash: u8| NewKey {
        workspace: ws(),
        name: name.to_owned(),
        access,
        reviewer_roles: Vec::new(),
        secret_hash: [hash; 32],
        prefix: format!("lg_{hash}"),
    };
    let made = store
        .create_key(key("bot", AccessRole::Agent, 1), system(), t0())
        .await
        .unwrap();
    assert!(store.has_keys().await.unwrap());
    let who = store
        .principal_by_key([1; 32])
        .await
        .unwrap()
        .expect("known");
    assert_eq!((who.name.as_str(), who.access), ("bot", AccessRole::Agent));

    // The same secret twice, and the same name with another role, are conflicts.
    let again = store
        .create_key(key("other", AccessRole::Agent, 1), system(), t0())
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let role = store
        .create_key(key("bot", AccessRole::Admin, 2), system(), t0())
        .await;
    assert!(matches!(role, Err(StoreError::Conflict(_))), "{role:?}");
    assert_eq!(store.list_keys(&ws(), None, 100).await.unwrap().len(), 1);

    // Listed a page at a time, newest first; `before` is the previous page's last key.
    for (n, name) in ["bot-2", "bot-3"].into_iter().enumerate() {
        store
            .create_key(
                key(name, AccessRole::Agent, 3 + n as u8),
                system(),
                at(n as i64),
            )
            .await
            .unwrap();
    }
    let names = |keys: &[loopgate_store::KeyRecord]| {
        keys.iter()
            .map(|k| k.principal.name.clone())
            .collect::<Vec<_>>()
    };
    let first = store.list_keys(&ws(), None, 2).await.unwrap();
    assert_eq!(names(&first), ["bot-3", "bot-2"]);
    let rest = store.list_keys(&ws(), Some(first[1].id), 2).await.unwrap();
    assert_eq!(names(&rest), ["bot"]);
    let unknown = store
        .list_keys(&ws(), Some(loopgate_core::KeyId::new()), 2)
        .await
        .unwrap();
    assert!(unknown.is_empty(), "{unknown:?}");

    let entries = chain_len(store).await;
    let revoked = store
        .revoke_key(&ws(), made.id, system(), at(1))
        .await
        .unwrap();
    assert_eq!(revoked.revoked_at, Some(at(1)));
    // Revoking twice changes nothing and audits nothing.
    store
        .revoke_key(&ws(), made.id, system(), at(2))
        .await
        .unwrap();
    assert_eq!(chain_len(store).await, entries + 1);
    assert_eq!(store.principal_by_key([1; 32]).await.unwrap(), None);
    let missing = store
        .revoke_key(&ws(), loopgate_core::KeyId::new(), system(), at(3))
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound("key"))),
        "{missing:?}"
    );
}

async fn policies_are_versioned(t: &TestStore) {
    let store = t.store.as_ref();
    let p = policy(json!({}));
    assert_eq!(
        store
            .put_policy(&ws(), p.clone(), system(), t0())
            .await
            .unwrap()
            .version,
        1
    );
    let changed = policy(json!({"thresholds": {"approve_at": 0.95, "reject_below": 0.2}}));
    assert_eq!(
        store
            .put_policy(&ws(), changed.clone(), system(), at(1))
            .await
            .unwrap()
            .version,
        2
    );
    let stored = store
        .get_policy(&ws(), &p.name)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!((stored.version, stored.policy), (2, changed));
    let other: WorkspaceId = "other".parse().unwrap();
    assert_eq!(store.get_policy(&other, &p.name).await.unwrap(), None);
    assert_eq!(store.list_policies(&ws()).await.unwrap().len(), 1);
    store
        .define_code(
            &ws(),
            CodeRecord {
                code: "LATE".into(),
                description: "too late".into(),
            },
            system(),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(store.decision_codes(&ws()).await.unwrap()[0].code, "LATE");
}

async fn a_retried_submit_returns_the_first_item(t: &TestStore) {
    let store = t.store.as_ref();
    let p = policy(json!({}));
    setup(store, &p).await;
    let agent = PrincipalId::new();
    let first = item(&p, 0.5, "acme", t0());
    let inserted = store
        .insert_items(&ws(), agent, vec![new(first.clone(), Some(("k1", "h1")))])
        .await
        .unwrap();
    assert!(!inserted[0].replayed);
    let entries = chain_len(store).await;

    // The retry (a new item id, the same key and body) and a batch repeating the key in itself.
    let retry = item(&p, 0.5, "acme", at(1));
    let twice = item(&p, 0.5, "beta", at(1));
    let twice_again = item(&p, 0.5, "beta", at(1));
    let out = store
        .insert_items(
            &ws(),
            agent,
            vec![
                new(retry, Some(("k1", "h1"))),
                new(twice.clone(), Some(("k2", "h2"))),
                new(twice_again, Some(("k2", "h2"))),
            ],
        )
        .await
        .unwrap();
    assert!(out[0].replayed && out[0].item.id == first.id);
    assert!(!out[1].replayed && out[1].item.id == twice.id);
    assert!(out[2].replayed && out[2].item.id == twice.id);
    // Only the one new item was written and audited.
    assert_eq!(chain_len(store).await, entries + 1);
    let all = store
        .list_items(
            &ws(),
            &ItemFilter {
                limit: 100,
                ..ItemFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    // Another agent's identical key is its own.
    let other = store
        .insert_items(
            &ws(),
            PrincipalId::new(),
            vec![new(item(&p, 0.5, "acme", at(2)), Some(("k1", "h1")))],
        )
        .await
        .unwrap();
    assert!(!other[0].replayed);
}

async fn a_reused_key_with_another_body_writes_nothing(t: &TestStore) {
    let store = t.store.as_ref();
    let p = policy(json!({}));
    setup(store, &p).await;
    let agent = PrincipalId::new();
    store
        .insert_items(
            &ws(),
            agent,
            vec![new(item(&p, 0.5, "acme", t0()), Some(("k1", "h1")))],
        )
        .await
        .unwrap();
    let entries = chain_len(store).await;
    let fresh = item(&p, 0.5, "beta", at(1));
    let refused = store
        .insert_items(
            &ws(),
            agent,
            vec![
                new(fresh.clone(), None),
                new(item(&p, 0.5, "acme", at(1)), Some(("k1", "other body"))),
            ],
        )
        .await;
    match refused {
        Err(StoreError::IdempotencyMismatch { key, index }) => {
            assert_eq!((key.as_str(), index), ("k1", 1))
        }
        other => panic!("expected a mismatch, got {other:?}"),
    }
    assert_eq!(store.get_item(&ws(), fresh.id).await.unwrap(), None);
    assert_eq!(chain_len(store).await, entries);
}

async fn claims_take_the_most_urgent_item_first(t: &TestStore) {
    let store = t.store.as_ref();
    let p = policy(json!({}));
    setup(store, &p).await;
    // Submitted later, so due later, but in lane P0 (as a routing rule would put it): first.
    let mut urgent = item(&p, 0.5, "vip", at(100));
    urgent.lane = Some(Lane::P0);
    let early = item(&p, 0.5, "a", t0());
    let late = item(&p, 0.5, "b", at(50));
    let stored = submit(store, vec![late.clone(), early.clone(), urgent.clone()]).await;
    assert!(stored.iter().all(|i| i.status == Status::Queued));
    let r = reviewer("ana");
    let mut order = Vec::new();
    while let Some(claimed) = store
        .claim_next(&ws(), claim_request(&r, at(200)))
        .await
        .unwrap()
    {
        assert_eq!(claimed.status, Status::InReview);
        order.push(claimed.id);
    }
    assert_eq!(order, vec![urgent.id, early.id, late.id]);
}

async fn concurrent_claimers_never_take_the_same_item(t: &TestStore) {
    let store = t.store.clone();
    let p = policy(json!({}));
    setup(store.as_ref(), &p).await;
    let items: Vec<Item> = (0..60)
        .map(|i| item(&p, 0.5, &format!("c{i}"), t0()))
        .collect();
    submit(store.as_ref(), items).await;
    let claimers: Vec<_> = (0..12)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let r = reviewer(&format!("r{n}"));
                let mut mine = Vec::new();
                while let Some(i) = store
                    .claim_next(&ws(), claim_request(&r, at(10)))
                    .await
                    .unwrap()
                {
                    mine.push(i.id);
                }
                mine
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for c in claimers {
        claimed.extend(c.await.unwrap());
    }
    let distinct: HashSet<_> = claimed.iter().collect();
    assert_eq!(claimed.len(), 60, "every item claimed");
    assert_eq!(distinct.len(), 60, "no item claimed twice");
    // 60 submissions and 60 claims, one chain.
    assert_eq!(chain_len(store.as_ref()).await, 1 + 60 + 60);
}

fn approve(lease: LeaseId) -> DecisionRequest {
    DecisionRequest {
        lease_id: lease,
        decision: Decision::Approve,
        codes: Vec::new(),
        rubric: None,
        edited_payload: None,
        rationale: None,
    }
}

fn decision(r: Reviewer, request: DecisionRequest, now: Timestamp) -> loopgate_store::ItemMutation {
    Box::new(move |item: &mut Item| {
        let (event, review) = item.decide(&r, &request, &BTreeSet::new(), now)?;
        Ok(Effects {
            events: vec![event],
            review: Some(review),
            outcome: None,
        })
    })
}

async fn a_refused_decision_leaves_the_item_and_the_chain_unchanged(t: &TestStore) {
    let store = t.store.as_ref();
    let p = policy(json!({}));
    setup(store, &p).await;
    submit(store, vec![item(&p, 0.5, "acme", t0())]).await;
    let ana = reviewer("ana");
    let claimed = store
        .claim_next(&ws(), claim_request(&ana, at(1)))
        .await
        .unwrap()
        .unwrap();
    let entries = chain_len(store).await;

    let refused = store
        .mutate_item(
            &ws(),
            claimed.id,
            decision(ana.clone(), approve(LeaseId::new()), at(2)),
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::Rejected(_))),
        "{refused:?}"
    );
    assert_eq!(
        store.get_item(&ws(), claimed.id).await.unwrap().unwrap(),
        claimed
    );
    assert_eq!(chain_len(store).await, entries);
    let unknown = store
        .mutate_item(
            &ws(),
            ItemId::new(),
            decision(ana.clone(), approve(LeaseId::new()), at(2)),
        )
        .await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound("item"))),
        "{unknown:?}"
    );

    let lease = claimed.lease.as_ref().unwrap().id;
    let decided = store
        .mutate_item(&ws(), claimed.id, decision(ana, approve(lease), at(3)))
        .await
        .unwrap();
    assert_eq!(decided.status, Status::Approved);
    assert_eq!(store.reviews(&ws(), claimed.id).await.unwrap().len(), 1);
    let actions: Vec<String> = store
        .item_audit(&ws(), claimed.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["submitted", "claimed", "approved"]);
}

async fn a_lapsed_lease_is_returned_once(t: &TestStore) {
    let store = t.store.clone();
    let p = policy(json!({"lease_seconds": 60}));
    setup(store.as_ref(), &p).await;
    submit(
        store.as_ref(),
        (0..20)
            .map(|i| item(&p, 0.5, &format!("c{i}"), t0()))
            .collect(),
    )
    .await;
    let ana = reviewer("ana");
    for _ in 0..20 {
        store
            .claim_next(&ws(), claim_request(&ana, at(1)))
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(
        store.expire_leases(at(30), 100).await.unwrap(),
        0,
        "not yet lapsed"
    );
    // Four sweepers at once, as four servers would run them.
    let sweeps: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.expire_leases(at(61), 100).await.unwrap() })
        })
        .collect();
    let mut expired = 0;
    for s in sweeps {
        expired += s.await.unwrap();
    }
    assert_eq!(expired, 20);
    let queued = store
        .list_items(
            &ws(),
            &ItemFilter {
                statuses: vec![Status::Queued],
                limit: 100,
                ..ItemFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(queued.len(), 20);
    assert_eq!(chain_len(store.as_ref()).await, 1 + 20 + 20 + 20);
}

async fn concurrent_writers_keep_one_audit_chain(t: &TestStore) {
    let store = t.store.clone();
    let p = policy(json!({}));
    setup(store.as_ref(), &p).await;
    let writers: Vec<_> = (0..8)
        .map(|n| {
            let store = store.clone();
            let p = p.clone();
            tokio::spawn(async move {
                for i in 0..10 {
                    let batch = vec![
                        item(&p, 0.5, &format!("w{n}-{i}"), t0()),
                        item(&p, 0.95, "x", t0()),
                    ];
                    store
                        .insert_items(
                            &ws(),
                            PrincipalId::new(),
                            batch.into_iter().map(|i| new(i, None)).collect(),
                        )
                        .await
                        .unwrap();
                    store
                        .define_code(
                            &ws(),
                            CodeRecord {
                                code: format!("C{n}"),
                                description: format!("v{i}"),
                            },
                            system(),
                            t0(),
                        )
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(chain_len(store.as_ref()).await, 1 + 8 * 10 * 3);
}

async fn learned_state_changes_never_lose_an_update(t: &TestStore) {
    let store = t.store.clone();
    let name: PolicyName = "reply.draft".parse().unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            let name = name.clone();
            tokio::spawn(async move {
                store
                    .update_policy_state(
                        &ws(),
                        &name,
                        Box::new(|stored| {
                            let n = stored.and_then(|s| s["n"].as_i64()).unwrap_or(0);
                            Ok((json!({"n": n + 1}), None))
                        }),
                        t0(),
                    )
                    .await
                    .unwrap()
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        store.policy_state(&ws(), &name).await.unwrap(),
        Some(json!({"n": 16}))
    );
}

async fn kill_switches_trip_once_and_reset_once(t: &TestStore) {
    let store = t.store.clone();
    let name: PolicyName = "reply.draft".parse().unwrap();
    let trips: Vec<_> = (0..4)
        .map(|n| {
            let store = store.clone();
            let name = name.clone();
            tokio::spawn(async move {
                store
                    .trip_kill_switch(&ws(), &name, None, &format!("reason {n}"), system(), at(n))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut tripped = Vec::new();
    for trip in trips {
        tripped.push(trip.await.unwrap());
    }
    assert!(
        tripped.windows(2).all(|w| w[0] == w[1]),
        "everyone sees the one trip: {tripped:?}"
    );
    assert_eq!(chain_len(store.as_ref()).await, 1);

    // One intent's switch is a scope of its own.
    let intent = store
        .trip_kill_switch(
            &ws(),
            &name,
            Some("refund"),
            "refund escapes",
            system(),
            at(5),
        )
        .await
        .unwrap();
    assert_eq!(intent.intent.as_deref(), Some("refund"));
    let scopes: Vec<Option<String>> = store
        .policy_kill_switches(&ws(), &name)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.intent)
        .collect();
    assert_eq!(scopes, vec![None, Some("refund".to_owned())]);
    assert_eq!(chain_len(store.as_ref()).await, 2);

    store
        .reset_kill_switch(&ws(), &name, None, "fixed", system(), at(9))
        .await
        .unwrap();
    let again = store
        .reset_kill_switch(&ws(), &name, None, "fixed", system(), at(9))
        .await;
    assert!(
        matches!(again, Err(StoreError::NotFound("kill switch"))),
        "{again:?}"
    );
    assert_eq!(store.kill_switch(&ws(), &name).await.unwrap(), None);
    let left = store.policy_kill_switches(&ws(), &name).await.unwrap();
    assert_eq!(left.len(), 1, "the intent's switch stays: {left:?}");
    store
        .reset_kill_switch(&ws(), &name, Some("refund"), "fixed", system(), at(10))
        .await
        .unwrap();
    assert!(store.kill_switches(&ws()).await.unwrap().is_empty());
}

async fn audits_are_claimed_once_and_recorded_under_their_lease(t: &TestStore) {
    let store = t.store.clone();
    let p = policy(json!({}));
    setup(store.as_ref(), &p).await;
    let approved = item(&p, 0.95, "acme", t0());
    assert_eq!(approved.status, Status::AutoApproved);
    store
        .insert_items(
            &ws(),
            PrincipalId::new(),
            vec![NewItem {
                audit: Some(0.5),
                ..new(approved.clone(), None)
            }],
        )
        .await
        .unwrap();
    let quality = AuditActor::person(&actor("qa"), "quality");
    let claims: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            let quality = quality.clone();
            tokio::spawn(async move {
                store
                    .claim_audit(&ws(), quality, LeaseId::new(), at(300), at(1))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut won = Vec::new();
    for c in claims {
        won.extend(c.await.unwrap());
    }
    assert_eq!(won.len(), 1, "one claimer gets the audit");
    let (task, audited) = &won[0];
    assert_eq!(audited.id, approved.id);
    let wrong = store
        .record_audit(
            &ws(),
            &task.id,
            LeaseId::new(),
            quality.clone(),
            false,
            json!({}),
            at(2),
        )
        .await;
    assert!(matches!(wrong, Err(StoreError::Conflict(_))), "{wrong:?}");
    let (done, _) = store
        .record_audit(
            &ws(),
            &task.id,
            task.lease_id.unwrap(),
            quality,
            true,
            json!({"note": "bad"}),
            at(2),
        )
        .await
        .unwrap();
    assert_eq!((done.status.as_str(), done.escaped), ("done", Some(true)));
    let outcomes = store.outcomes(&ws(), &p.name, 0, 10).await.unwrap();
    assert_eq!(outcomes.len(), 1);
    assert!(!outcomes[0].correct);
    assert_eq!(outcomes[0].inclusion, 0.5);
}

async fn changes_are_announced_after_commit(t: &TestStore) {
    let store = t.store.as_ref();
    let p = policy(json!({}));
    setup(store, &p).await;
    let mut here = store.subscribe();
    // On PostgreSQL, a second server on the same database hears the change too.
    let second = t.second_server().await;
    let mut there = second.as_ref().map(|s| s.subscribe());
    let submitted = submit(store, vec![item(&p, 0.5, "acme", t0())]).await;
    let heard = here.recv().await.unwrap();
    assert_eq!((heard.id, heard.status), (submitted[0].id, Status::Queued));
    if let Some(there) = there.as_mut() {
        let heard = tokio::time::timeout(std::time::Duration::from_secs(10), there.recv())
            .await
            .expect("the other server hears the change")
            .unwrap();
        assert_eq!((heard.id, heard.status), (submitted[0].id, Status::Queued));
    }
    // A change made on the second server reaches the first.
    if let Some(second) = &second {
        let claimed = second
            .claim_next(&ws(), claim_request(&reviewer("ana"), at(1)))
            .await
            .unwrap()
            .unwrap();
        let heard = tokio::time::timeout(std::time::Duration::from_secs(10), here.recv())
            .await
            .expect("this server hears the other's change")
            .unwrap();
        assert_eq!((heard.id, heard.status), (claimed.id, Status::InReview));
    }
}

async fn look_ups_by_text_with_nul_find_nothing(t: &TestStore) {
    let store = t.store.as_ref();
    let p = policy(json!({}));
    setup(store, &p).await;
    let stored = submit(store, vec![item(&p, 0.5, "acme", t0())]).await;
    let filter = ItemFilter {
        customer_id: Some("acme\0".into()),
        limit: 10,
        ..ItemFilter::default()
    };
    assert_eq!(store.list_items(&ws(), &filter).await.unwrap(), vec![]);
    assert_eq!(
        store
            .customer_history(&ws(), "acme\0", stored[0].id, 10)
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(store.account(&ws(), "ana\0").await.unwrap(), None);
}
