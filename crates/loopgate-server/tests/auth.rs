//! Who may do what: API keys, the four access roles, agents seeing only their own items, and
//! workspaces that cannot see or touch each other.

mod common;

use common::{Body, TestApp, id, secret, submission};
use loopgate_core::AccessRole;
use reqwest::Method;
use serde_json::{Value, json};

const MADE_UP_LEASE: &str = "0190c1b2-0000-7000-8000-000000000000";

/// Everything a role might try, with a valid body, so that only permissions decide.
fn operations(item: &str, key_id: &str) -> Vec<(&'static str, Method, String, Option<Value>)> {
    vec![
        (
            "submit",
            Method::POST,
            "/v1/items".into(),
            Some(submission(0.5, json!({}))),
        ),
        (
            "submit a batch",
            Method::POST,
            "/v1/items:batch".into(),
            Some(json!({"items": [submission(0.5, json!({}))]})),
        ),
        ("list items", Method::GET, "/v1/items".into(), None),
        (
            "read an item",
            Method::GET,
            format!("/v1/items/{item}"),
            None,
        ),
        (
            "read an item's audit",
            Method::GET,
            format!("/v1/items/{item}/audit"),
            None,
        ),
        (
            "read an item's reviews",
            Method::GET,
            format!("/v1/items/{item}/reviews"),
            None,
        ),
        (
            "claim",
            Method::POST,
            "/v1/reviews/claim".into(),
            Some(json!({"lanes": ["P0"]})),
        ),
        (
            "decide",
            Method::POST,
            format!("/v1/items/{item}/decision"),
            Some(json!({"lease_id": MADE_UP_LEASE, "decision": "approve"})),
        ),
        ("list policies", Method::GET, "/v1/policies".into(), None),
        (
            "read a policy",
            Method::GET,
            "/v1/policies/reply.draft".into(),
            None,
        ),
        (
            "write a policy",
            Method::POST,
            "/v1/policies".into(),
            Some(common::policy(json!({"name": "other.policy"}))),
        ),
        (
            "list decision codes",
            Method::GET,
            "/v1/decision-codes".into(),
            None,
        ),
        (
            "define a decision code",
            Method::POST,
            "/v1/decision-codes".into(),
            Some(json!({"code": "WRONG_CURRENCY", "description": "Wrong currency."})),
        ),
        (
            "create a key",
            Method::POST,
            "/v1/keys".into(),
            Some(json!({"name": "new-bot", "role": "agent"})),
        ),
        ("list keys", Method::GET, "/v1/keys".into(), None),
        (
            "revoke a key",
            Method::DELETE,
            format!("/v1/keys/{key_id}"),
            None,
        ),
        (
            "verify the audit chain",
            Method::GET,
            "/v1/audit/verify".into(),
            None,
        ),
        ("ask who they are", Method::GET, "/v1/me".into(), None),
    ]
}

/// What each role may do, by operation name.
fn allowed(role: &str) -> &'static [&'static str] {
    const READ: [&str; 4] = [
        "list items",
        "read an item",
        "read an item's audit",
        "read an item's reviews",
    ];
    match role {
        "agent" => &[
            "submit",
            "submit a batch",
            READ[0],
            READ[1],
            READ[2],
            READ[3],
            "ask who they are",
        ],
        "reviewer" => &[
            READ[0],
            READ[1],
            READ[2],
            READ[3],
            "claim",
            "decide",
            "list policies",
            "read a policy",
            "list decision codes",
            "ask who they are",
        ],
        "lead" => &[
            READ[0],
            READ[1],
            READ[2],
            READ[3],
            "claim",
            "decide",
            "list policies",
            "read a policy",
            "write a policy",
            "list decision codes",
            "define a decision code",
            "verify the audit chain",
            "ask who they are",
        ],
        _ => &[],
    }
}

#[tokio::test]
async fn each_role_may_do_exactly_what_it_is_for() {
    for role in ["agent", "reviewer", "lead"] {
        let app = TestApp::spawn().await;
        app.put_policy(json!({})).await;
        let owner = app.agent("owner").await;
        let created = app
            .create_key(
                role,
                role,
                if role == "reviewer" { &["triage"] } else { &[] },
            )
            .await;
        let key = secret(&created);
        let agent_key = if role == "agent" {
            key.clone()
        } else {
            owner.clone()
        };
        let item = app.submit(&agent_key, submission(0.5, json!({}))).await;
        let spare = app.create_key("spare", "agent", &[]).await;
        let ops = operations(id(&item), spare["id"].as_str().expect("key id"));
        let may = allowed(role);

        let before = app.stored_state().await;
        for (what, method, path, body) in ops.iter().filter(|op| !may.contains(&op.0)) {
            let body = body.clone().map_or(Body::Empty, Body::Json);
            let res = app.send(method.clone(), path, Some(&key), body).await;
            let message = res.expect_error(403, "forbidden");
            assert!(message.contains("role"), "{role} {what}: {message}");
        }
        assert_eq!(
            app.stored_state().await,
            before,
            "{role}: refused requests change nothing"
        );

        for (what, method, path, body) in ops.iter().filter(|op| may.contains(&op.0)) {
            let body = body.clone().map_or(Body::Empty, Body::Json);
            let res = app.send(method.clone(), path, Some(&key), body).await;
            assert!(
                !matches!(res.status.as_u16(), 401 | 403),
                "{role} may {what}: {} {:#}",
                res.status,
                res.body
            );
        }
    }
}

#[tokio::test]
async fn an_admin_may_do_everything() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let item = app.submit(&app.admin, submission(0.5, json!({}))).await;
    let spare = app.create_key("spare", "agent", &[]).await;

    for (what, method, path, body) in operations(id(&item), spare["id"].as_str().expect("key id")) {
        let body = body.map_or(Body::Empty, Body::Json);
        let res = app.send(method, &path, Some(&app.admin), body).await;
        assert!(
            !matches!(res.status.as_u16(), 401 | 403),
            "admin may {what}: {:#}",
            res.body
        );
    }
}

#[tokio::test]
async fn requests_without_a_valid_key_are_unauthenticated() {
    let app = TestApp::spawn().await;
    let created = app.create_key("bot", "agent", &[]).await;
    let revoked = secret(&created);
    app.delete(
        &format!("/v1/keys/{}", created["id"].as_str().expect("id")),
        &app.admin,
    )
    .await
    .expect(200);

    let attempts: [(&str, Vec<(&str, String)>); 6] = [
        ("no header", vec![]),
        (
            "another scheme",
            vec![("authorization", format!("Basic {}", app.admin))],
        ),
        ("no secret", vec![("authorization", "Bearer ".to_owned())]),
        (
            "unknown key",
            vec![(
                "authorization",
                "Bearer lg_not_a_key_at_all_0123456789".to_owned(),
            )],
        ),
        (
            "revoked key",
            vec![("authorization", format!("Bearer {revoked}"))],
        ),
        (
            "admin key in lowercase scheme",
            vec![("authorization", format!("bearer{}", app.admin))],
        ),
    ];
    for (what, headers) in attempts {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for (method, path) in [
            (Method::GET, "/v1/me"),
            (Method::GET, "/v1/items"),
            (Method::POST, "/v1/reviews/claim"),
        ] {
            let res = app
                .send_with(method, path, None, Body::Empty, &headers)
                .await;
            res.expect_error(401, "unauthenticated");
            assert_eq!(
                res.header("www-authenticate"),
                Some("Bearer"),
                "{what} {path}"
            );
        }
    }
}

#[tokio::test]
async fn a_revoked_key_stops_working_at_once_and_others_keep_working() {
    let app = TestApp::spawn().await;
    let first = app.create_key("bot", "agent", &[]).await;
    let second = app.create_key("bot", "agent", &[]).await;
    assert_eq!(
        first["principal"]["id"], second["principal"]["id"],
        "same name, same principal"
    );
    app.get("/v1/me", &secret(&first)).await.expect(200);

    let revoked = app
        .delete(
            &format!("/v1/keys/{}", first["id"].as_str().expect("id")),
            &app.admin,
        )
        .await
        .expect(200)
        .clone();

    assert!(revoked["revoked_at"].is_string());
    app.get("/v1/me", &secret(&first))
        .await
        .expect_error(401, "unauthenticated");
    assert_eq!(
        app.get("/v1/me", &secret(&second)).await.expect(200)["principal"]["name"],
        "bot"
    );
}

#[tokio::test]
async fn key_listings_never_show_secrets() {
    let app = TestApp::spawn().await;
    let created = app
        .create_key("alice", "reviewer", &["quality", "triage", "triage"])
        .await;
    let secret = secret(&created);
    assert!(secret.starts_with(created["prefix"].as_str().expect("prefix")));
    assert_eq!(
        created["principal"]["reviewer_roles"],
        json!(["triage", "quality"])
    );

    let listed = app.get("/v1/keys", &app.admin).await.expect(200).clone();

    let text = listed.to_string();
    assert!(!text.contains(&secret), "the secret is never listed");
    assert!(!text.contains(common::ADMIN_KEY), "nor the admin's");
    let names: Vec<&str> = listed["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["principal"]["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["alice", "admin"], "newest first");
}

#[tokio::test]
async fn key_listings_come_a_page_at_a_time_newest_first() {
    let app = TestApp::spawn().await;
    for name in ["k1", "k2", "k3", "k4"] {
        app.create_key(name, "agent", &[]).await;
        app.advance(1);
    }
    let mut names = Vec::new();
    let mut path = "/v1/keys?limit=2".to_owned();
    loop {
        let page = app.get(&path, &app.admin).await.expect(200).clone();
        let keys = page["keys"].as_array().expect("keys");
        assert!(keys.len() <= 2, "{page:#}");
        names.extend(
            keys.iter()
                .map(|k| k["principal"]["name"].as_str().expect("name").to_owned()),
        );
        match page["next_before"].as_str() {
            Some(before) => path = format!("/v1/keys?limit=2&before={before}"),
            None => break,
        }
    }
    // The bootstrap admin's key is the oldest; every key once, newest first.
    assert_eq!(names, ["k4", "k3", "k2", "k1", "admin"]);
    assert_eq!(
        app.get("/v1/keys", &app.admin).await.expect(200)["keys"]
            .as_array()
            .expect("keys")
            .len(),
        5,
        "one page by default"
    );

    for bad in ["limit=0", "limit=501", "before=nope", "limit=x"] {
        app.get(&format!("/v1/keys?{bad}"), &app.admin)
            .await
            .expect_error(400, "invalid_query");
    }
}

#[tokio::test]
async fn me_says_who_the_key_belongs_to() {
    let app = TestApp::spawn().await;
    let reviewer = app.reviewer("alice", &["quality"]).await;
    let lead = app.lead("lena").await;

    let me = app.get("/v1/me", &reviewer).await.expect(200).clone();
    assert_eq!(me["principal"]["name"], "alice");
    assert_eq!(me["principal"]["access"], "reviewer");
    assert_eq!(me["principal"]["workspace"], "default");
    assert_eq!(me["effective_roles"], json!(["quality"]));
    let me = app.get("/v1/me", &lead).await.expect(200).clone();
    assert_eq!(me["effective_roles"], json!(["triage", "quality", "sme"]));
}

#[tokio::test]
async fn an_agent_sees_only_the_items_it_submitted() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let one = app.agent("one").await;
    let two = app.agent("two").await;
    let reviewer = app.reviewer("alice", &["triage"]).await;
    let mine = app.submit(&one, submission(0.5, json!({}))).await;
    let theirs = app.submit(&two, submission(0.5, json!({}))).await;

    for path in [
        format!("/v1/items/{}", id(&theirs)),
        format!("/v1/items/{}?wait=5", id(&theirs)),
        format!("/v1/items/{}/audit", id(&theirs)),
        format!("/v1/items/{}/reviews", id(&theirs)),
    ] {
        app.get(&path, &one)
            .await
            .expect_error(404, "item_not_found");
    }
    let listed = app.get("/v1/items", &one).await.expect(200)["items"].clone();
    let ids: Vec<&str> = listed.as_array().expect("items").iter().map(id).collect();
    assert_eq!(ids, [id(&mine)]);
    let listed = app.get("/v1/items", &reviewer).await.expect(200)["items"].clone();
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(2),
        "reviewers see the whole workspace"
    );
}

#[tokio::test]
async fn a_role_clash_on_an_existing_name_is_a_conflict() {
    let app = TestApp::spawn().await;
    app.create_key("alice", "reviewer", &["triage"]).await;
    let before = app.stored_state().await;

    app.post(
        "/v1/keys",
        &app.admin,
        json!({"name": "alice", "role": "agent"}),
    )
    .await
    .expect_error(409, "conflict");

    assert_eq!(app.stored_state().await, before);
}

#[tokio::test]
async fn another_workspace_cannot_see_or_touch_this_ones_items_policies_or_keys() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    let item = app.submit(&agent, submission(0.5, json!({}))).await;
    let bot_key = app.get("/v1/keys", &app.admin).await.expect(200)["keys"][0]["id"].clone();
    let outsider = app
        .key_in_workspace("other", "other-admin", AccessRole::Admin)
        .await;
    let outside_agent = app
        .key_in_workspace("other", "other-bot", AccessRole::Agent)
        .await;
    let before = app.stored_state().await;

    for path in [
        format!("/v1/items/{}", id(&item)),
        format!("/v1/items/{}/audit", id(&item)),
        format!("/v1/items/{}/reviews", id(&item)),
    ] {
        app.get(&path, &outsider)
            .await
            .expect_error(404, "item_not_found");
    }
    app.post(
        &format!("/v1/items/{}/decision", id(&item)),
        &outsider,
        json!({"lease_id": MADE_UP_LEASE, "decision": "reject"}),
    )
    .await
    .expect_error(404, "item_not_found");
    assert_eq!(app.claim(&outsider, None).await, None);
    assert_eq!(
        app.get("/v1/items", &outsider).await.expect(200)["items"],
        json!([])
    );
    assert_eq!(
        app.get("/v1/policies", &outsider).await.expect(200)["policies"],
        json!([])
    );
    app.get("/v1/policies/reply.draft", &outsider)
        .await
        .expect_error(404, "policy_not_found");
    app.post("/v1/items", &outside_agent, submission(0.5, json!({})))
        .await
        .expect_error(422, "unknown_policy");
    app.delete(
        &format!("/v1/keys/{}", bot_key.as_str().expect("id")),
        &outsider,
    )
    .await
    .expect_error(404, "key_not_found");
    let their_keys = app.get("/v1/keys", &outsider).await.expect(200)["keys"].clone();
    let names: Vec<&str> = their_keys
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["principal"]["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["other-bot", "other-admin"]);

    assert_eq!(app.stored_state().await, before);
    app.get("/v1/me", &agent).await.expect(200);
    assert_eq!(app.item(&agent, id(&item)).await["status"], "queued");
}

#[tokio::test]
async fn workspaces_keep_separate_policies_and_audit_chains() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let outsider = app
        .key_in_workspace("other", "other-admin", AccessRole::Admin)
        .await;

    let theirs = app
        .post(
            "/v1/policies",
            &outsider,
            common::policy(json!({"thresholds": {"approve_at": 0.5, "reject_below": 0.1}})),
        )
        .await
        .expect(201)
        .clone();

    assert_eq!(
        theirs["version"], 1,
        "a policy of the same name elsewhere is a new policy"
    );
    let ours = app
        .get("/v1/policies/reply.draft", &app.admin)
        .await
        .expect(200)
        .clone();
    assert_eq!(ours["thresholds"]["approve_at"], 0.9);
    assert_eq!(ours["version"], 1);
    let verified = app
        .get("/v1/audit/verify", &outsider)
        .await
        .expect(200)
        .clone();
    assert_eq!(
        verified,
        json!({"valid": true, "entries": 2, "broken": null})
    );
    assert_eq!(app.audit_len().await, 2);
}
