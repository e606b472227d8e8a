//! Shared helpers for the HTTP integration tests: a real server on a free port over a fresh
//! store per test, a manual clock that tests move instead of sleeping, and small builders for
//! policies, submissions, keys, claims and decisions.
//!
//! The store is SQLite in a temporary directory, or, when `LOOPGATE_TEST_POSTGRES_URL` is set, a
//! fresh schema of that PostgreSQL database: every HTTP test runs on either backend unchanged.
//!
//! Every request made through [`TestApp::send`] asserts the one rule that holds for every call:
//! the server never answers 5xx, and every error body is `{"error": {"code", "message"}}`.

// Each test crate compiles this module on its own and uses a subset of it.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use loopgate_core::audit::AuditActor;
use loopgate_core::clock::from_millis;
use loopgate_core::{AccessRole, Clock, ManualClock, Role, Timestamp, WorkspaceId};
use loopgate_server::{AppState, Settings, bootstrap_admin, keys};
use loopgate_store::NewKey;
use loopgate_store::testing::{TestDatabase, fresh_store};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The admin secret every test app is bootstrapped with.
pub const ADMIN_KEY: &str = "lg_test_bootstrap_admin_key_0123456789";

/// The largest body the server accepts outside a batch (1 MiB).
pub const MAX_BODY: usize = 1024 * 1024;

/// 2026-11-24T00:00:00Z: where every test app's clock starts.
pub fn t0() -> Timestamp {
    from_millis(1_795_478_400_000).expect("in range")
}

/// `t0` plus `seconds`.
pub fn at(seconds: i64) -> Timestamp {
    t0() + Duration::seconds(seconds)
}

/// `t0`'s date plus `days`, as a submission's `renewal_date`.
pub fn date_in(days: i64) -> String {
    (t0().date_naive() + Duration::days(days)).to_string()
}

/// A running Loopgate over its own data directory.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The server's state: its store, clock and long-poll watchers.
    pub state: AppState,
    /// The clock the server reads; tests move it.
    pub clock: Arc<ManualClock>,
    /// The bootstrapped admin's secret.
    pub admin: String,
    /// The HTTP client.
    pub client: reqwest::Client,
    /// Which database the store is in.
    pub database: TestDatabase,
    dir: TempDir,
    server: JoinHandle<()>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A response, read in full.
#[derive(Debug, Clone)]
pub struct Res {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body as JSON; `Null` when empty.
    pub body: Value,
}

impl Res {
    /// Asserts the status and returns the body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {:#}",
            self.body
        );
        &self.body
    }

    /// Asserts an error response with this status and code; returns the message.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> String {
        self.expect(status);
        assert_eq!(
            self.body["error"]["code"], code,
            "unexpected error code; body: {:#}",
            self.body
        );
        self.body["error"]["message"]
            .as_str()
            .expect("message is a string")
            .to_owned()
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// How a request's body is sent.
#[derive(Debug, Clone)]
pub enum Body {
    /// None at all.
    Empty,
    /// JSON, with `Content-Type: application/json`.
    Json(Value),
    /// Raw bytes with an optional content type.
    Raw(Option<&'static str>, Vec<u8>),
}

impl TestApp {
    /// Starts a server on 127.0.0.1:0 over a new store (see the module doc), with the clock at
    /// [`t0`] and an admin key registered.
    pub async fn spawn() -> Self {
        Self::spawn_with(Settings::default()).await
    }

    /// As [`TestApp::spawn`], with other settings.
    pub async fn spawn_with(settings: Settings) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let (store, database) = fresh_store(dir.path()).await;
        let clock = Arc::new(ManualClock::new(t0()));
        assert!(
            bootstrap_admin(store.as_ref(), ADMIN_KEY, clock.now())
                .await
                .expect("bootstrap")
        );
        let state = AppState::new(store, clock.clone(), settings);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("address");
        let served = state.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let shutdown = async move {
                // A dropped sender (the test ended) is no shutdown: the task is aborted then.
                if stopped.await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            loopgate_server::serve(listener, served, shutdown)
                .await
                .expect("the server runs");
        });
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(StdDuration::from_secs(120))
            .build()
            .expect("client");
        Self {
            base: format!("http://{addr}"),
            state,
            clock,
            admin: ADMIN_KEY.to_owned(),
            client,
            database,
            dir,
            server,
            stop: Some(stop),
        }
    }

    /// Shuts the server down as SIGTERM does and waits for it to stop. Panics if it is still
    /// serving after a generous bound: that is a hang, not a race.
    pub async fn shut_down(&mut self) {
        self.stop
            .take()
            .expect("the server is shut down once")
            .send(())
            .expect("the server is running");
        tokio::time::timeout(StdDuration::from_secs(20), &mut self.server)
            .await
            .expect("the server stops within 20 s of its shutdown")
            .expect("the server task ends without panicking");
    }

    /// The data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The server's time.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Moves the server's clock forward.
    pub fn advance(&self, seconds: i64) {
        self.clock.advance(Duration::seconds(seconds));
    }

    /// Sends a request and reads the whole response. Asserts that it is not a 5xx and that an
    /// error response has the documented shape.
    pub async fn send(&self, method: Method, path: &str, key: Option<&str>, body: Body) -> Res {
        self.send_with(method, path, key, body, &[]).await
    }

    /// As [`TestApp::send`], with extra headers.
    pub async fn send_with(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Body,
        headers: &[(&str, &str)],
    ) -> Res {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request = match body {
            Body::Empty => request,
            Body::Json(v) => request.json(&v),
            Body::Raw(content_type, bytes) => {
                if let Some(ct) = content_type {
                    request = request.header("content-type", ct);
                }
                request.body(bytes)
            }
        };
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path} failed: {e}"));
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("the body is readable");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "{method} {path} answered {status} with a body that is not JSON ({e}): {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        assert!(
            !status.is_server_error(),
            "{method} {path} answered {status}: {body:#}"
        );
        if status.is_client_error() {
            assert_error_shape(&body);
        }
        Res {
            status,
            headers,
            body,
        }
    }

    /// GET with a key.
    pub async fn get(&self, path: &str, key: &str) -> Res {
        self.send(Method::GET, path, Some(key), Body::Empty).await
    }

    /// POST JSON with a key.
    pub async fn post(&self, path: &str, key: &str, body: Value) -> Res {
        self.send(Method::POST, path, Some(key), Body::Json(body))
            .await
    }

    /// DELETE with a key.
    pub async fn delete(&self, path: &str, key: &str) -> Res {
        self.send(Method::DELETE, path, Some(key), Body::Empty)
            .await
    }

    /// Creates a key through `POST /v1/keys` as the admin; returns the response body (with the
    /// secret in `key`).
    pub async fn create_key(&self, name: &str, role: &str, reviewer_roles: &[&str]) -> Value {
        self.post(
            "/v1/keys",
            &self.admin,
            json!({"name": name, "role": role, "reviewer_roles": reviewer_roles}),
        )
        .await
        .expect(201)
        .clone()
    }

    /// A new agent's secret.
    pub async fn agent(&self, name: &str) -> String {
        secret(&self.create_key(name, "agent", &[]).await)
    }

    /// A new reviewer's secret.
    pub async fn reviewer(&self, name: &str, roles: &[&str]) -> String {
        secret(&self.create_key(name, "reviewer", roles).await)
    }

    /// A new lead's secret.
    pub async fn lead(&self, name: &str) -> String {
        secret(&self.create_key(name, "lead", &[]).await)
    }

    /// An admin key of another workspace, created directly in the store (the API only creates
    /// keys in the caller's own workspace).
    pub async fn key_in_workspace(
        &self,
        workspace: &str,
        name: &str,
        access: AccessRole,
    ) -> String {
        let minted = keys::mint();
        self.state
            .store()
            .create_key(
                NewKey {
                    workspace: workspace.parse::<WorkspaceId>().expect("workspace name"),
                    name: name.to_owned(),
                    access,
                    reviewer_roles: if access == AccessRole::Reviewer {
                        vec![Role::Triage]
                    } else {
                        Vec::new()
                    },
                    secret_hash: minted.hash,
                    prefix: minted.prefix.clone(),
                },
                AuditActor::system("test"),
                self.now(),
            )
            .await
            .expect("the key is created");
        minted.secret
    }

    /// Creates or replaces a policy as the admin: [`base_policy`] merged with `overrides`.
    pub async fn put_policy(&self, overrides: Value) -> Value {
        let res = self
            .post("/v1/policies", &self.admin, policy(overrides))
            .await;
        assert!(
            res.status == StatusCode::CREATED || res.status == StatusCode::OK,
            "policy refused: {:#}",
            res.body
        );
        res.body
    }

    /// Submits and expects 201; returns the item.
    pub async fn submit(&self, key: &str, submission: Value) -> Value {
        self.post("/v1/items", key, submission)
            .await
            .expect(201)
            .clone()
    }

    /// Claims with an optional filter body. `None` on 204.
    pub async fn claim(&self, key: &str, filter: Option<Value>) -> Option<Value> {
        let body = filter.map_or(Body::Empty, Body::Json);
        let res = self
            .send(Method::POST, "/v1/reviews/claim", Some(key), body)
            .await;
        match res.status.as_u16() {
            200 => Some(res.body),
            204 => {
                assert_eq!(res.body, Value::Null, "204 has no body");
                None
            }
            other => panic!("claim answered {other}: {:#}", res.body),
        }
    }

    /// Claims and expects an item; returns the claimed item (not the context around it).
    pub async fn claim_item(&self, key: &str) -> Value {
        self.claim(key, None).await.expect("an item to claim")["item"].clone()
    }

    /// Posts a decision on `item` under `lease`, with `extra` fields merged into the body.
    pub async fn decide(
        &self,
        key: &str,
        item: &str,
        lease: &str,
        decision: &str,
        extra: Value,
    ) -> Res {
        let mut body = json!({"lease_id": lease, "decision": decision});
        merge(&mut body, &extra);
        self.post(&format!("/v1/items/{item}/decision"), key, body)
            .await
    }

    /// Decides a claimed item under its lease and expects 200; returns the item.
    pub async fn decide_claimed(&self, key: &str, claimed: &Value, decision: &str) -> Value {
        self.decide(key, id(claimed), lease(claimed), decision, json!({}))
            .await
            .expect(200)
            .clone()
    }

    /// The item as `key` sees it.
    pub async fn item(&self, key: &str, id: &str) -> Value {
        self.get(&format!("/v1/items/{id}"), key)
            .await
            .expect(200)
            .clone()
    }

    /// The item's audit entries, as the admin sees them.
    pub async fn audit(&self, id: &str) -> Vec<Value> {
        self.get(&format!("/v1/items/{id}/audit"), &self.admin)
            .await
            .expect(200)["entries"]
            .as_array()
            .expect("entries")
            .clone()
    }

    /// The `action` of each of the item's audit entries, in order.
    pub async fn audit_actions(&self, id: &str) -> Vec<String> {
        self.audit(id)
            .await
            .iter()
            .map(|e| e["action"].as_str().expect("action").to_owned())
            .collect()
    }

    /// `GET /v1/audit/verify` as the admin.
    pub async fn verify(&self) -> Value {
        self.get("/v1/audit/verify", &self.admin)
            .await
            .expect(200)
            .clone()
    }

    /// The number of entries in the workspace's audit chain, asserting that it verifies.
    pub async fn audit_len(&self) -> i64 {
        let v = self.verify().await;
        assert_eq!(v["valid"], true, "the audit chain verifies: {v:#}");
        v["entries"].as_i64().expect("entries")
    }

    /// Every item of the workspace, as the admin sees them (up to 500).
    pub async fn all_items(&self) -> Vec<Value> {
        self.get("/v1/items?limit=500", &self.admin)
            .await
            .expect(200)["items"]
            .as_array()
            .expect("items")
            .clone()
    }

    /// What a refused request must leave untouched: every item, the audit chain, the policies,
    /// the keys and the decision codes, as the admin sees them.
    pub async fn stored_state(&self) -> Value {
        json!({
            "items": self.all_items().await,
            "audit": self.verify().await,
            "policies": self.get("/v1/policies", &self.admin).await.expect(200).clone(),
            "keys": self.get("/v1/keys", &self.admin).await.expect(200).clone(),
            "codes": self.get("/v1/decision-codes", &self.admin).await.expect(200).clone(),
        })
    }

    /// Waits, by yielding, until `n` items are being long-polled. Panics after a generous bound:
    /// that is a hang, not a race.
    pub async fn wait_for_watchers(&self, n: usize) {
        let give_up = tokio::time::Instant::now() + StdDuration::from_secs(30);
        while self.state.watchers().len() != n {
            assert!(
                tokio::time::Instant::now() < give_up,
                "no long-poll registered"
            );
            tokio::task::yield_now().await;
        }
    }
}

/// Asserts `{"error": {"code": "snake_case", "message": "..."}}` and nothing else.
#[track_caller]
pub fn assert_error_shape(body: &Value) {
    let error = body["error"]
        .as_object()
        .unwrap_or_else(|| panic!("an error body has an `error` object: {body:#}"));
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{body:#}");
    assert_eq!(error.len(), 2, "error has code and message only: {body:#}");
    let code = error["code"].as_str().expect("code is a string");
    assert!(
        !code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
        "code {code:?} is snake_case"
    );
    let message = error["message"].as_str().expect("message is a string");
    assert!(!message.trim().is_empty(), "message is not empty");
}

/// The secret of a created key.
pub fn secret(created: &Value) -> String {
    created["key"].as_str().expect("key").to_owned()
}

/// An item's id.
pub fn id(item: &Value) -> &str {
    item["id"].as_str().expect("id")
}

/// A claimed item's lease id.
pub fn lease(item: &Value) -> &str {
    item["lease"]["id"].as_str().expect("lease id")
}

/// A timestamp field.
#[track_caller]
pub fn time(v: &Value) -> DateTime<Utc> {
    let text = v.as_str().unwrap_or_else(|| panic!("{v} is a timestamp"));
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .with_timezone(&Utc)
}

/// The codes of an item's verdict reasons, in order.
pub fn reason_codes(item: &Value) -> Vec<String> {
    item["verdict"]["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .map(|r| r["code"].as_str().expect("code").to_owned())
        .collect()
}

/// JSON Merge Patch (RFC 7396): `patch` applied to `target`.
pub fn merge(target: &mut Value, patch: &Value) {
    if let Value::Object(patch) = patch {
        if !target.is_object() {
            *target = json!({});
        }
        let map = target.as_object_mut().expect("object");
        for (k, v) in patch {
            if v.is_null() {
                map.remove(k);
            } else {
                merge(map.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    } else {
        *target = patch.clone();
    }
}

/// The baseline policy: reversible, live, reply drafts, U = 0.9, L = 0.2, defaults elsewhere.
pub fn base_policy() -> Value {
    json!({
        "name": "reply.draft",
        "kind": "reply",
        "thresholds": {"approve_at": 0.9, "reject_below": 0.2}
    })
}

/// [`base_policy`] with `overrides` merged in.
pub fn policy(overrides: Value) -> Value {
    let mut v = base_policy();
    merge(&mut v, &overrides);
    v
}

/// The baseline submission for `reply.draft`: a standard customer, no signals.
pub fn base_submission(confidence: f64) -> Value {
    json!({
        "policy": "reply.draft",
        "input": {"text": "Where is my invoice?", "channel": "email"},
        "customer": {"id": "acme", "tier": "standard"},
        "proposal": {"kind": "reply", "payload": {"text": "Hello"}, "confidence": confidence},
        "signals": []
    })
}

/// [`base_submission`] with `overrides` merged in.
pub fn submission(confidence: f64, overrides: Value) -> Value {
    let mut v = base_submission(confidence);
    merge(&mut v, &overrides);
    v
}

impl TestApp {
    /// Every entry of the default workspace's audit chain, oldest first, read straight from the
    /// database (the API lists only an item's own entries). Each entry has `seq`, `item_id`,
    /// `actor`, `actor_role`, `action`, `from`, `to` and `detail` (parsed JSON).
    pub async fn audit_log(&self) -> Vec<Value> {
        type Row = (
            i64,
            Option<String>,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            String,
        );
        const QUERY: &str =
            "SELECT seq, item_id, actor_name, actor_role, action, from_state, to_state, detail
             FROM audit_log WHERE workspace = 'default' ORDER BY seq";
        let rows: Vec<Row> = match &self.database {
            TestDatabase::Postgres { store, .. } => sqlx::query_as(QUERY)
                .fetch_all(store.pool())
                .await
                .expect("the audit log is readable"),
            TestDatabase::Sqlite => {
                let path = self.dir.path().join(loopgate_store::sqlite::DB_FILE);
                let conn = rusqlite::Connection::open_with_flags(
                    &path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .expect("the database opens read-only");
                let mut stmt = conn.prepare(QUERY).expect("the audit log is readable");
                stmt.query_map([], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                    ))
                })
                .expect("the audit log is readable")
                .collect::<Result<Vec<_>, _>>()
                .expect("every audit entry reads")
            }
        };
        rows.into_iter()
            .map(|(seq, item_id, actor, role, action, from, to, detail)| {
                json!({
                    "seq": seq,
                    "item_id": item_id,
                    "actor": actor,
                    "actor_role": role,
                    "action": action,
                    "from": from,
                    "to": to,
                    "detail": serde_json::from_str::<Value>(&detail).unwrap_or(Value::Null),
                })
            })
            .collect()
    }

    /// GET with a key, the body read as text (for non-JSON answers such as JSON Lines). Asserts
    /// that it is not a 5xx.
    pub async fn get_text(&self, path: &str, key: &str) -> (StatusCode, HeaderMap, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path} failed: {e}"));
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("the body is readable");
        assert!(
            !status.is_server_error(),
            "GET {path} answered {status}: {text}"
        );
        (status, headers, text)
    }
}

/// Every `METHOD path` the document lists.
pub fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .expect("operations")
                .keys()
                .filter(|m| {
                    matches!(
                        m.as_str(),
                        "get" | "post" | "put" | "patch" | "delete" | "head" | "options"
                    )
                })
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect()
}
