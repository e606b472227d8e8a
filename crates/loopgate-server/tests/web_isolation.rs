//! Tenant isolation in the reviewer workspace, the server-rendered pages: people of workspace
//! bravo — a reviewer, a lead and an admin, each signed in through the sign-in form — aim every
//! page, row fragment, event stream and form at workspace alpha's items, audits, kill switches and
//! people. They see none of alpha's item ids, customers, messages, drafts or names; alpha's items
//! are not found for them; and none of their forms changes anything stored in alpha. Wherever a
//! route legitimately works in bravo, the test also shows it showing bravo's own data, so an empty
//! page cannot pass for an isolated one.
//!
//! Alpha is the default workspace, so the bootstrapped admin's API views (and the store) give its
//! state before and after; bravo is a second workspace with its own admin key. Like every HTTP
//! test this runs on SQLite, or on PostgreSQL when `LOOPGATE_TEST_POSTGRES_URL` is set.

mod common;

use std::collections::BTreeSet;
use std::time::Duration as StdDuration;

use common::{TestApp, id, lease, secret, submission};
use loopgate_core::audit::AuditActor;
use loopgate_core::{AccessRole, LeaseId, Role, Status, WorkspaceId};
use loopgate_server::web::session::hash_password;
use loopgate_store::NewAccount;
use reqwest::Method;
use serde_json::{Value, json};

/// The second workspace, whose people try to reach alpha.
const BRAVO: &str = "bravo";
/// Every alpha person's password.
const ALPHA_PASSWORD: &str = "alpha password 0123456789";
/// Every bravo person's password.
const BRAVO_PASSWORD: &str = "bravo password 0123456789";
/// Why alpha's lead tripped alpha's `reply.draft` kill switch.
const ALPHA_REASON: &str = "alpha reason escapes spiking";
const FORM: &str = "application/x-www-form-urlencoded";

fn alpha_ws() -> WorkspaceId {
    WorkspaceId::default_workspace()
}

fn bravo_ws() -> WorkspaceId {
    BRAVO.parse().expect("a workspace name")
}

/// `reply.draft` in both workspaces: every auto-approved item is audited, and a first review is
/// due a minute after submission (so waiting items breach once the clock moves two minutes).
fn reply_policy() -> Value {
    common::policy(json!({
        "audit_rate": 1.0,
        "sla": {"P2": {"first_review": 60, "resolve": 3600}},
    }))
}

/// A reply draft about one customer.
fn draft(confidence: f64, customer: (&str, &str, &str), message: &str, reply: &str) -> Value {
    let (id, name, tier) = customer;
    submission(
        confidence,
        json!({
            "input": {"text": message},
            "customer": {"id": id, "name": name, "tier": tier},
            "proposal": {"payload": {"text": reply}},
        }),
    )
}

/// Both customers are called this, in both workspaces: a customer's history must stay in its
/// workspace even when the customer's id is the same.
const SHARED: (&str, &str, &str) = ("shared-customer", "Shared Customer", "standard");

// --- the two workspaces ------------------------------------------------------------------

/// Workspace alpha, the target.
struct Alpha {
    /// Alpha's agent.
    agent: String,
    /// A decided item, an item alpha's reviewer holds, and waiting items (one of a policy only
    /// alpha has, one about the shared customer).
    decided: String,
    leased: String,
    lease: String,
    queued: String,
    shared: String,
    private: String,
    /// Two auto-approved items, one audit of which alpha's lead holds.
    audited: Vec<String>,
    held_audit: String,
    held_audit_lease: String,
    pending_audit: String,
    /// Everything of alpha that must never reach bravo.
    markers: Vec<String>,
}

/// Workspace bravo, whose people try.
struct Bravo {
    agent: String,
    reviewer: String,
    decided: String,
    shared_older: String,
    queued: String,
    shared: String,
    audited: String,
}

impl Bravo {
    /// What waits for a person in bravo, in any order.
    fn waiting(&self) -> BTreeSet<String> {
        [&self.shared_older, &self.queued, &self.shared]
            .into_iter()
            .cloned()
            .collect()
    }
}

struct World {
    app: TestApp,
    alpha: Alpha,
    bravo: Bravo,
    web: Web,
}

async fn account(
    app: &TestApp,
    workspace: &WorkspaceId,
    name: &str,
    access: AccessRole,
    roles: &[Role],
    password_hash: &str,
) {
    app.state
        .store()
        .set_account(
            NewAccount {
                workspace: workspace.clone(),
                name: name.to_owned(),
                access,
                reviewer_roles: roles.to_vec(),
                password_hash: password_hash.to_owned(),
            },
            AuditActor::system("test"),
            app.now(),
        )
        .await
        .expect("the account is created");
}

/// Alpha's state: everything the admin's API shows (items, audit chain verification, policies,
/// keys, codes), every audit chain entry, the people with their password hashes, the kill
/// switches and the audits of every policy.
async fn alpha_state(app: &TestApp) -> Value {
    let store = app.state.store();
    let ws = alpha_ws();
    let mut audits = Vec::new();
    for p in store.list_policies(&ws).await.expect("policies") {
        let tasks = store.audits(&ws, &p.policy.name).await.expect("audits");
        audits.push(json!({"policy": p.policy.name.to_string(), "audits": tasks}));
    }
    let mut people = Vec::new();
    for p in store.principals(&ws).await.expect("principals") {
        let password = store
            .account(&ws, &p.name)
            .await
            .expect("accounts")
            .map(|(_, hash)| hash);
        people.push(json!({"principal": p, "password_hash": password}));
    }
    json!({
        "api": app.stored_state().await,
        "chain": app.audit_log().await,
        "people": people,
        "kill_switches": store.kill_switches(&ws).await.expect("kill switches"),
        "audits": audits,
    })
}

async fn world() -> World {
    let app = TestApp::spawn().await;

    // Alpha, through its admin's API.
    app.put_policy(reply_policy()).await;
    app.put_policy(json!({"name": "alpha.private"})).await;
    let agent = app.agent("alpha-bot").await;
    let reviewer = app.reviewer("alpha-api-reviewer", &["triage"]).await;
    let lead = app.lead("alpha-api-lead").await;
    let submit = async |confidence: f64, customer: (&str, &str, &str), tag: &str| {
        let item = app
            .submit(
                &agent,
                draft(
                    confidence,
                    customer,
                    &format!("alpha message {tag}"),
                    &format!("alpha draft {tag}"),
                ),
            )
            .await;
        id(&item).to_owned()
    };
    let decided = submit(
        0.5,
        ("alpha-cust-globex", "Globex Alpha Hidden", "standard"),
        "one",
    )
    .await;
    let claimed = app.claim_item(&reviewer).await;
    assert_eq!(id(&claimed), decided);
    app.decide_claimed(&reviewer, &claimed, "approve").await;
    let leased = submit(
        0.5,
        ("alpha-cust-hooli", "Hooli Alpha Hidden", "standard"),
        "two",
    )
    .await;
    let claimed = app.claim_item(&reviewer).await;
    assert_eq!(id(&claimed), leased);
    let alpha_lease = lease(&claimed).to_owned();
    let queued = submit(
        0.5,
        ("alpha-cust-initech", "Initech Alpha Hidden", "alphatier"),
        "three",
    )
    .await;
    let shared = submit(0.5, SHARED, "four about the shared customer").await;
    let private = id(&app
        .submit(
            &agent,
            submission(
                0.5,
                json!({
                    "policy": "alpha.private",
                    "input": {"text": "alpha message five"},
                    "customer": {"id": "alpha-cust-wonka", "name": "Wonka Alpha Hidden"},
                    "proposal": {"payload": {"text": "alpha draft five"}},
                }),
            ),
        )
        .await)
    .to_owned();
    let mut audited = Vec::new();
    for tag in ["six", "seven"] {
        let item = submit(
            0.95,
            ("alpha-cust-wonka", "Wonka Alpha Hidden", "standard"),
            tag,
        )
        .await;
        assert_eq!(app.item(&app.admin, &item).await["status"], "auto_approved");
        audited.push(item);
    }
    let held = app
        .post("/v1/audits/claim", &lead, json!({}))
        .await
        .expect(200)["audit"]
        .clone();
    let held_audit = held["id"].as_str().expect("audit id").to_owned();
    let held_audit_lease = held["lease_id"].as_str().expect("lease id").to_owned();
    let pending_audit = app
        .state
        .store()
        .audits(&alpha_ws(), &"reply.draft".parse().expect("a name"))
        .await
        .expect("audits")
        .into_iter()
        .find(|a| a.status == "pending")
        .expect("an audit waits")
        .id;
    app.post(
        "/v1/policies/reply.draft/kill-switch",
        &lead,
        json!({"action": "trip", "reason": ALPHA_REASON}),
    )
    .await
    .expect(200);
    let alpha_hash = hash_password(ALPHA_PASSWORD).expect("hashed");
    let ws = alpha_ws();
    account(
        &app,
        &ws,
        "alpha-rita",
        AccessRole::Reviewer,
        &[Role::Triage],
        &alpha_hash,
    )
    .await;
    account(&app, &ws, "alpha-lena", AccessRole::Lead, &[], &alpha_hash).await;
    account(&app, &ws, "alpha-adam", AccessRole::Admin, &[], &alpha_hash).await;

    let mut markers: Vec<String> = [
        &decided,
        &leased,
        &queued,
        &shared,
        &private,
        &held_audit,
        &pending_audit,
    ]
    .into_iter()
    .chain(&audited)
    .cloned()
    .collect();
    markers.push(alpha_lease.clone());
    markers.push(held_audit_lease.clone());
    markers.extend(
        [
            "alpha-cust-",
            "Alpha Hidden",
            "alpha message",
            "alpha draft",
            "alphatier",
            "alpha.private",
            ALPHA_REASON,
            "alpha-bot",
            "alpha-api-",
            "alpha-rita",
            "alpha-lena",
            "alpha-adam",
        ]
        .map(str::to_owned),
    );
    let alpha = Alpha {
        agent,
        decided,
        leased,
        lease: alpha_lease,
        queued,
        shared,
        private,
        audited,
        held_audit,
        held_audit_lease,
        pending_audit,
        markers,
    };

    // Bravo, through its own admin key.
    let admin = app
        .key_in_workspace(BRAVO, "bravo-api-admin", AccessRole::Admin)
        .await;
    app.post("/v1/policies", &admin, reply_policy())
        .await
        .expect(201);
    let key = async |body: Value| secret(app.post("/v1/keys", &admin, body).await.expect(201));
    let b_agent = key(json!({"name": "bravo-bot", "role": "agent"})).await;
    let b_reviewer = key(json!({
        "name": "bravo-api-reviewer", "role": "reviewer", "reviewer_roles": ["triage"]
    }))
    .await;
    let submit = async |confidence: f64, customer: (&str, &str, &str), tag: &str| {
        let item = app
            .submit(
                &b_agent,
                draft(
                    confidence,
                    customer,
                    &format!("bravo message {tag}"),
                    &format!("bravo draft {tag}"),
                ),
            )
            .await;
        id(&item).to_owned()
    };
    let acme = ("bravo-cust-acme", "Acme Bravo Visible", "standard");
    let b_decided = submit(0.5, acme, "one").await;
    let claimed = app.claim_item(&b_reviewer).await;
    assert_eq!(id(&claimed), b_decided);
    app.decide_claimed(&b_reviewer, &claimed, "approve").await;
    let shared_older = submit(0.5, SHARED, "two about the shared customer").await;
    let b_queued = submit(
        0.5,
        ("bravo-cust-umbrella", "Umbrella Bravo Visible", "bravotier"),
        "three",
    )
    .await;
    let b_shared = submit(0.5, SHARED, "four about the shared customer").await;
    let b_audited = submit(0.95, acme, "five").await;
    let bravo_hash = hash_password(BRAVO_PASSWORD).expect("hashed");
    let ws = bravo_ws();
    let all_roles = [Role::Triage, Role::Quality, Role::Sme];
    account(
        &app,
        &ws,
        "bravo-rev",
        AccessRole::Reviewer,
        &all_roles,
        &bravo_hash,
    )
    .await;
    account(&app, &ws, "bravo-lead", AccessRole::Lead, &[], &bravo_hash).await;
    account(
        &app,
        &ws,
        "bravo-admin",
        AccessRole::Admin,
        &[],
        &bravo_hash,
    )
    .await;
    let bravo = Bravo {
        agent: b_agent,
        reviewer: b_reviewer,
        decided: b_decided,
        shared_older,
        queued: b_queued,
        shared: b_shared,
        audited: b_audited,
    };

    // Every waiting item's first review is now overdue; no lease has lapsed.
    app.advance(120);
    let web = Web::new(&app);
    World {
        app,
        alpha,
        bravo,
        web,
    }
}

impl World {
    /// Alpha's item ids.
    fn alpha_items(&self) -> Vec<&str> {
        let a = &self.alpha;
        [&a.decided, &a.leased, &a.queued, &a.shared, &a.private]
            .into_iter()
            .chain(&a.audited)
            .map(String::as_str)
            .collect()
    }

    /// Asserts that `text`, something bravo's person received, shows nothing of alpha.
    #[track_caller]
    fn assert_nothing_of_alpha(&self, text: &str, what: &str) {
        let leaked: Vec<&str> = self
            .alpha
            .markers
            .iter()
            .map(String::as_str)
            .filter(|m| text.contains(m))
            .collect();
        assert!(
            leaked.is_empty(),
            "{what} showed workspace bravo's person alpha's {leaked:?}:\n{text}"
        );
    }

    async fn sign_in(&self, workspace: &str, name: &str, password: &str) -> Person {
        self.web
            .try_sign_in(workspace, name, password)
            .await
            .unwrap_or_else(|| panic!("{name} signs in to {workspace}"))
    }
}

// --- a browser without JavaScript ----------------------------------------------------------

/// Sends what a browser sends, and follows no redirect: a test sees where a person is sent.
#[derive(Clone)]
struct Web {
    base: String,
    http: reqwest::Client,
}

/// One answer of the workspace.
#[derive(Debug)]
struct Page {
    status: u16,
    location: Option<String>,
    /// The cookies it sets, as `name=value`.
    cookies: Vec<String>,
    text: String,
}

impl Page {
    fn cookie(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        self.cookies
            .iter()
            .find(|c| c.starts_with(&prefix) && c.len() > prefix.len())
            .cloned()
    }

    /// Asserts a redirect and returns where to.
    #[track_caller]
    fn redirect(&self) -> &str {
        assert_eq!(self.status, 303, "a redirect was expected:\n{}", self.text);
        self.location.as_deref().expect("a redirect has a location")
    }

    #[track_caller]
    fn expect(&self, status: u16) -> &str {
        assert_eq!(
            self.status, status,
            "unexpected status; page:\n{}",
            self.text
        );
        &self.text
    }

    /// The JSON of a fragment or preview.
    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

/// The text between the first `start` after which `end` follows.
#[track_caller]
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("no {start:?} in:\n{text}"))
        + start.len();
    let len = text[from..]
        .find(end)
        .unwrap_or_else(|| panic!("no {end:?} after {start:?} in:\n{text}"));
    &text[from..from + len]
}

fn form(fields: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        s.append_pair(k, v);
    }
    s.finish()
}

impl Web {
    fn new(app: &TestApp) -> Self {
        Self {
            base: app.base.clone(),
            http: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                // A bound on a hang, never a wait for something to happen.
                .timeout(StdDuration::from_secs(60))
                .build()
                .expect("an HTTP client"),
        }
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        cookie: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, String)>,
    ) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if !cookie.is_empty() {
            request = request.header("cookie", cookie);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some((content_type, body)) = body {
            request = request.header("content-type", content_type).body(body);
        }
        request
    }

    /// Sends and reads the whole answer; asserts that it is no server error.
    async fn send(
        &self,
        method: Method,
        path: &str,
        cookie: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, String)>,
    ) -> Page {
        let response = self
            .request(method.clone(), path, cookie, headers, body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path} failed: {e}"));
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let cookies = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|c| c.split(';').next())
            .map(str::to_owned)
            .collect();
        let text = response.text().await.expect("the body is readable");
        assert!(status < 500, "{method} {path} answered {status}:\n{text}");
        Page {
            status,
            location,
            cookies,
            text,
        }
    }

    /// Fills in the sign-in form as a person does; `None` when it refuses them.
    async fn try_sign_in(&self, workspace: &str, name: &str, password: &str) -> Option<Person> {
        let page = self.send(Method::GET, "/login", "", &[], None).await;
        page.expect(200);
        let login_cookie = page.cookie("lg_login_csrf").expect("the form's cookie");
        let token = between(&page.text, r#"name="csrf" value=""#, "\"");
        let fields = [
            ("csrf", token),
            ("name", name),
            ("password", password),
            ("workspace", workspace),
            ("next", "/queue"),
        ];
        let answer = self
            .send(
                Method::POST,
                "/login",
                &login_cookie,
                &[],
                Some((FORM, form(&fields))),
            )
            .await;
        let Some(session) = answer.cookie("lg_session") else {
            assert!(
                answer.expect(200).contains("Wrong name or password."),
                "{}",
                answer.text
            );
            return None;
        };
        assert_eq!(answer.redirect(), "/queue");
        let queue = self.send(Method::GET, "/queue", &session, &[], None).await;
        let header = between(queue.expect(200), r#"<div class="who">"#, "</span>");
        assert!(
            header.contains(&format!("{name} · ")) && header.ends_with(&format!(" · {workspace}")),
            "the header names {name} of {workspace}: {header}"
        );
        let csrf = between(&queue.text, r#"data-csrf=""#, "\"").to_owned();
        Some(Person {
            web: self.clone(),
            cookie: session,
            csrf,
        })
    }
}

/// A signed-in person: their session cookie and the token their session's forms carry.
struct Person {
    web: Web,
    cookie: String,
    csrf: String,
}

impl Person {
    async fn get(&self, path: &str) -> Page {
        self.web
            .send(Method::GET, path, &self.cookie, &[], None)
            .await
    }

    /// Posts a form of the page, with this session's token.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut all = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        self.web
            .send(
                Method::POST,
                path,
                &self.cookie,
                &[],
                Some((FORM, form(&all))),
            )
            .await
    }

    /// Posts JSON as the page's script does, the token in a header.
    async fn post_json(&self, path: &str, body: &Value) -> Page {
        self.web
            .send(
                Method::POST,
                path,
                &self.cookie,
                &[("x-csrf-token", &self.csrf)],
                Some(("application/json", body.to_string())),
            )
            .await
    }

    /// Opens the live event stream. It is subscribed once its headers have arrived: the handler
    /// subscribes before it answers.
    async fn events(&self) -> Events {
        let response = self
            .web
            .request(Method::GET, "/events", &self.cookie, &[], None)
            .send()
            .await
            .expect("the event stream opens");
        assert_eq!(response.status().as_u16(), 200);
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        Events {
            response,
            buffer: String::new(),
            read: 0,
        }
    }
}

/// A server-sent event stream, read the way a page's `EventSource` reads it.
struct Events {
    response: reqwest::Response,
    buffer: String,
    read: usize,
}

impl Events {
    /// The item ids of the `changed` events, in order, up to the one naming `until`. Reads no
    /// more than 64 KiB: the stream carries one short event per change.
    async fn until(&mut self, until: &str) -> Vec<String> {
        let mut ids = Vec::new();
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                ids.extend(
                    event
                        .lines()
                        .filter_map(|l| l.strip_prefix("data:"))
                        .map(|d| d.trim().to_owned())
                        // An empty one only asks the page to refresh (after missed changes).
                        .filter(|d| !d.is_empty()),
                );
            }
            if ids.iter().any(|i| i == until) {
                return ids;
            }
            assert!(
                self.read < 64 * 1024,
                "no event for {until} in the stream: {ids:?}"
            );
            let chunk = self
                .response
                .chunk()
                .await
                .expect("the stream reads")
                .expect("the stream stays open");
            self.read += chunk.len();
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("the stream is UTF-8"));
        }
    }
}

// --- the tests -------------------------------------------------------------------------

/// Every page and row fragment, as bravo's reviewer, lead and admin: alpha's items and their
/// audit trails are not found, nothing of alpha shows anywhere, and bravo's own data does.
#[tokio::test]
async fn pages_and_rows_show_only_the_own_workspace() {
    let w = world().await;
    let before = alpha_state(&w.app).await;
    let reviewer = w.sign_in(BRAVO, "bravo-rev", BRAVO_PASSWORD).await;
    let lead = w.sign_in(BRAVO, "bravo-lead", BRAVO_PASSWORD).await;
    let admin = w.sign_in(BRAVO, "bravo-admin", BRAVO_PASSWORD).await;
    let b = &w.bravo;

    // (path, status for bravo's reviewer, lead, admin)
    let mut routes: Vec<(String, [u16; 3])> = [
        "/queue",
        "/queue?policy=reply.draft",
        "/queue?policy=alpha.private",
        "/queue?lane=P2",
        "/queue?tier=standard",
        "/queue/rows",
        "/queue/rows?policy=alpha.private",
        "/audits",
    ]
    .into_iter()
    .map(|p| (p.to_owned(), [200, 200, 200]))
    .collect();
    routes.push(("/lead".into(), [403, 200, 200]));
    routes.push(("/admin/users".into(), [403, 403, 200]));
    routes.push((format!("/items/{}", b.shared), [200, 200, 200]));
    routes.push((format!("/items/{}/audit", b.decided), [200, 200, 200]));
    for item in w.alpha_items() {
        routes.push((format!("/items/{item}"), [404, 404, 404]));
        routes.push((format!("/items/{item}/audit"), [404, 404, 404]));
    }
    for (i, (who, person)) in [("reviewer", &reviewer), ("lead", &lead), ("admin", &admin)]
        .into_iter()
        .enumerate()
    {
        for (path, statuses) in &routes {
            let page = person.get(path).await;
            assert_eq!(
                page.status, statuses[i],
                "GET {path} as bravo's {who}:\n{}",
                page.text
            );
            w.assert_nothing_of_alpha(&page.text, &format!("GET {path} as bravo's {who}"));
        }
    }

    // The queue lists bravo's waiting items, filters them within bravo, and knows no policy of
    // alpha's.
    let queue = reviewer.get("/queue").await;
    for item in b.waiting() {
        assert!(
            queue.text.contains(&format!("/items/{item}")),
            "{item} is listed"
        );
    }
    assert!(queue.text.contains(">3 waiting for you<"), "{}", queue.text);
    assert!(queue.text.contains(r#"<option value="reply.draft""#));
    assert!(queue.text.contains("Umbrella Bravo Visible"));
    let standard = reviewer.get("/queue?tier=standard").await;
    assert!(
        standard.text.contains(">2 waiting for you<"),
        "{}",
        standard.text
    );
    assert!(
        standard
            .text
            .contains(&format!("/items/{}", b.shared_older))
    );
    assert!(!standard.text.contains(&format!("/items/{}", b.queued)));
    let private = reviewer.get("/queue?policy=alpha.private").await;
    assert!(
        private.text.contains(">0 waiting for you<"),
        "{}",
        private.text
    );
    assert!(private.text.contains("Nothing waiting."));

    // The live rows: bravo's, and bravo's count.
    let rows = reviewer.get("/queue/rows").await.json();
    assert_eq!(rows["waiting"], 3, "{rows:#}");
    let html = rows["rows"].as_str().expect("rows");
    for item in b.waiting() {
        assert!(html.contains(&format!("/items/{item}")), "{item} is a row");
    }
    let rows = reviewer
        .get("/queue/rows?policy=alpha.private")
        .await
        .json();
    assert_eq!(rows["waiting"], 0, "{rows:#}");

    // An item page: bravo's item, and the shared customer's history in bravo only.
    let item = reviewer.get(&format!("/items/{}", b.shared)).await;
    assert!(item.text.contains(&format!(r#"data-item="{}""#, b.shared)));
    assert!(
        item.text
            .contains("bravo message four about the shared customer")
    );
    let history = between(&item.text, r#"<ul class="history">"#, "</ul>");
    assert_eq!(
        history.matches("<li>").count(),
        1,
        "one earlier item: {history}"
    );
    assert!(
        history.contains(&format!("/items/{}", b.shared_older)),
        "{history}"
    );

    // An item's audit trail: bravo's reviewer's decision.
    let trail = reviewer.get(&format!("/items/{}/audit", b.decided)).await;
    assert!(trail.text.contains("bravo-api-reviewer"), "{}", trail.text);

    // Audits: bravo's one waiting audit (alpha has two that are not done).
    let audits = reviewer.get("/audits").await;
    assert!(
        audits
            .text
            .contains(">1 auto-approved item(s) sampled for audit<"),
        "{}",
        audits.text
    );

    // The lead's view: bravo's backlog, breaches, throughput and policy; alpha's tripped
    // `reply.draft` switch is not bravo's.
    let page = lead.get("/lead").await;
    let backlog: u64 = between(&page.text, r#"<table class="backlog">"#, "</table>")
        .split("<strong>")
        .skip(1)
        .map(|s| between(s, "", "</strong>").parse::<u64>().expect("a count"))
        .sum();
    assert_eq!(backlog, 3, "bravo's waiting items only");
    let breached = between(&page.text, "SLA breached", "</section>");
    assert!(
        breached.contains(r#"<span class="count">3</span>"#),
        "{breached}"
    );
    assert!(
        breached.contains("reply.draft · Umbrella Bravo Visible"),
        "{breached}"
    );
    let throughput = between(&page.text, "Throughput", "</section>");
    assert!(
        throughput.contains("<td>bravo-api-reviewer</td><td>1</td>"),
        "{throughput}"
    );
    let policies = between(&page.text, r#"<table class="policies">"#, "</table>");
    assert_eq!(policies.matches("<tr class=").count(), 1, "{policies}");
    assert!(policies.contains("reply.draft"), "{policies}");
    assert!(
        policies.contains(">armed<"),
        "bravo's switch is armed: {policies}"
    );
    assert!(!policies.contains("tripped"), "{policies}");

    // People: bravo's.
    let people = admin.get("/admin/users").await;
    let table = between(&people.text, "<tbody>", "</tbody>");
    for name in [
        "bravo-rev",
        "bravo-lead",
        "bravo-admin",
        "bravo-bot",
        "bravo-api-reviewer",
        "bravo-api-admin",
    ] {
        assert!(
            table.contains(&format!("<td>{name}</td>")),
            "{name}: {table}"
        );
    }
    assert_eq!(table.matches("<tr>").count(), 6, "{table}");

    // The same pages show alpha's own people alpha's data, in the very strings looked for above:
    // the checks above could fail.
    let alpha_person = w.sign_in("default", "alpha-rita", ALPHA_PASSWORD).await;
    let queue = alpha_person.get("/queue").await;
    for shown in ["Initech Alpha Hidden", "alphatier", w.alpha.queued.as_str()] {
        assert!(queue.expect(200).contains(shown), "{shown}: {}", queue.text);
    }
    let item = alpha_person
        .get(&format!("/items/{}", w.alpha.shared))
        .await;
    for shown in ["alpha message four", "alpha draft four"] {
        assert!(item.expect(200).contains(shown), "{shown}: {}", item.text);
    }

    assert_eq!(alpha_state(&w.app).await, before, "reading changed alpha");
}

/// The live event stream carries the changes of the person's own workspace only: bravo's
/// reviewer hears bravo's submission and claim and nothing of alpha's, interleaved with them;
/// alpha's reviewer, listening at the same time, hears alpha's and nothing of bravo's.
#[tokio::test]
async fn the_event_stream_carries_only_the_own_workspaces_changes() {
    let w = world().await;
    let bravo_person = w.sign_in(BRAVO, "bravo-rev", BRAVO_PASSWORD).await;
    let alpha_person = w.sign_in("default", "alpha-rita", ALPHA_PASSWORD).await;
    let mut bravo_stream = bravo_person.events().await;
    let mut alpha_stream = alpha_person.events().await;

    // Alpha, bravo, alpha, bravo: each stream's own last change comes after the other's.
    let a_new = id(&w
        .app
        .submit(
            &w.alpha.agent,
            draft(0.5, SHARED, "alpha message new", "alpha draft new"),
        )
        .await)
    .to_owned();
    let b_new = id(&w
        .app
        .submit(
            &w.bravo.agent,
            draft(0.5, SHARED, "bravo message new", "bravo draft new"),
        )
        .await)
    .to_owned();
    let alpha_claimer = w.app.reviewer("alpha-api-reviewer-2", &["triage"]).await;
    let a_claimed = id(&w.app.claim_item(&alpha_claimer).await).to_owned();
    let b_claimed = id(&w.app.claim_item(&w.bravo.reviewer).await).to_owned();
    let alpha_ids: BTreeSet<String> = w
        .alpha_items()
        .into_iter()
        .map(str::to_owned)
        .chain([a_new.clone(), a_claimed.clone()])
        .collect();
    assert!(alpha_ids.contains(&a_claimed), "alpha claimed its own item");
    let mut bravo_ids = w.bravo.waiting();
    bravo_ids.insert(b_new.clone());
    assert!(bravo_ids.contains(&b_claimed), "bravo claimed its own item");

    let heard = bravo_stream.until(&b_claimed).await;
    assert!(
        heard.contains(&b_new),
        "bravo hears its submission: {heard:?}"
    );
    assert!(
        heard.iter().all(|i| bravo_ids.contains(i)),
        "bravo's stream carried another workspace's items: {heard:?} (alpha's: {alpha_ids:?})"
    );
    for a in &alpha_ids {
        assert!(!heard.contains(a), "bravo heard alpha's {a}");
    }

    let heard = alpha_stream.until(&a_claimed).await;
    assert!(
        heard.contains(&a_new),
        "alpha hears its submission: {heard:?}"
    );
    assert!(
        heard.iter().all(|i| alpha_ids.contains(i)),
        "alpha's stream carried bravo's items: {heard:?}"
    );
}

/// Review forms: bravo's reviewer cannot decide on or preview edits of alpha's items — not even
/// with the lease alpha's reviewer holds — and "review next" walks bravo's queue to its end
/// without ever claiming one of alpha's waiting items.
#[tokio::test]
async fn review_forms_reach_only_the_own_workspaces_items() {
    let w = world().await;
    let before = alpha_state(&w.app).await;
    let reviewer = w.sign_in(BRAVO, "bravo-rev", BRAVO_PASSWORD).await;
    let (a, b) = (&w.alpha, &w.bravo);

    // Decisions on alpha's items: the held one under alpha's own lease, a waiting one under a
    // made-up lease.
    for (item, lease, decision) in [
        (&a.leased, a.lease.clone(), "approve"),
        (&a.leased, a.lease.clone(), "reject"),
        (&a.queued, LeaseId::new().to_string(), "approve"),
        (&a.shared, LeaseId::new().to_string(), "escalate"),
    ] {
        let page = reviewer
            .post(
                &format!("/items/{item}/decision"),
                &[("lease_id", &lease), ("decision", decision)],
            )
            .await;
        page.expect(404);
        w.assert_nothing_of_alpha(&page.text, &format!("{decision} on alpha's item"));
    }

    // The edit preview would show alpha's draft; it is not found either. Bravo's own works.
    for item in [&a.leased, &a.queued] {
        let page = reviewer
            .post_json(
                &format!("/items/{item}/diff"),
                &json!({"edited": "bravo text"}),
            )
            .await;
        page.expect(404);
        w.assert_nothing_of_alpha(&page.text, "the diff of alpha's item");
    }
    let preview = reviewer
        .post_json(
            &format!("/items/{}/diff", b.queued),
            &json!({"edited": "bravo text"}),
        )
        .await;
    let preview = preview.json();
    assert_eq!(preview["changed"], true, "{preview:#}");
    let unified = preview["unified"].as_str().expect("a diff");
    assert!(unified.contains("-bravo draft three"), "{unified}");

    // Review next, decide, review next...: bravo's three items, then nothing, though alpha still
    // has three waiting.
    let mut claimed = BTreeSet::new();
    let mut at = reviewer
        .post("/review/next", &[])
        .await
        .redirect()
        .to_owned();
    while at != "/queue?notice=empty" {
        assert!(
            claimed.len() < 3,
            "more than bravo's items were offered: {at}"
        );
        let item = at
            .strip_prefix("/items/")
            .unwrap_or_else(|| panic!("sent to {at}"))
            .to_owned();
        let page = reviewer.get(&at).await;
        w.assert_nothing_of_alpha(page.expect(200), &format!("item page {at}"));
        let held = between(&page.text, r#"name="lease_id" value=""#, "\"").to_owned();
        claimed.insert(item.clone());
        at = reviewer
            .post(
                &format!("/items/{item}/decision"),
                &[("lease_id", &held), ("decision", "approve")],
            )
            .await
            .redirect()
            .to_owned();
    }
    assert_eq!(claimed, b.waiting(), "exactly bravo's waiting items");
    assert_eq!(
        reviewer.post("/review/next", &[]).await.redirect(),
        "/queue?notice=empty"
    );
    for item in &claimed {
        let stored = w
            .app
            .state
            .store()
            .get_item(&bravo_ws(), item.parse().expect("an item id"))
            .await
            .expect("the store answers")
            .expect("bravo's item");
        assert_eq!(
            stored.status,
            Status::Approved,
            "bravo's decision was saved"
        );
    }

    assert_eq!(
        alpha_state(&w.app).await,
        before,
        "bravo's forms changed alpha"
    );
}

/// Audit forms: bravo's reviewer cannot record a verdict on alpha's audits — not even the held
/// one under its holder's lease — and "audit next" gives them bravo's one audit and then none,
/// though one of alpha's still waits.
#[tokio::test]
async fn audit_forms_reach_only_the_own_workspaces_audits() {
    let w = world().await;
    let before = alpha_state(&w.app).await;
    let reviewer = w.sign_in(BRAVO, "bravo-rev", BRAVO_PASSWORD).await;
    let a = &w.alpha;

    for (audit, lease, escaped) in [
        (&a.held_audit, a.held_audit_lease.clone(), "true"),
        (&a.held_audit, a.held_audit_lease.clone(), "false"),
        (&a.pending_audit, LeaseId::new().to_string(), "true"),
    ] {
        let page = reviewer
            .post(
                &format!("/audits/{audit}/verdict"),
                &[
                    ("lease_id", &lease),
                    ("escaped", escaped),
                    ("rationale", "bravo says so"),
                ],
            )
            .await;
        page.expect(404);
        w.assert_nothing_of_alpha(&page.text, "a verdict on alpha's audit");
    }

    let page = reviewer.post("/audits/next", &[]).await;
    let text = page.expect(200);
    w.assert_nothing_of_alpha(text, "the audit bravo's reviewer was given");
    assert!(
        text.contains(&format!(r#"href="/items/{}""#, w.bravo.audited)),
        "{text}"
    );
    assert!(text.contains("bravo message five"), "{text}");
    let audit = between(text, r#"action="/audits/"#, "/verdict\"").to_owned();
    let held = between(text, r#"name="lease_id" value=""#, "\"").to_owned();
    let next = reviewer
        .post(
            &format!("/audits/{audit}/verdict"),
            &[("lease_id", &held), ("escaped", "false")],
        )
        .await;
    assert_eq!(next.redirect(), "/audits?notice=empty");
    assert_eq!(
        reviewer.post("/audits/next", &[]).await.redirect(),
        "/audits?notice=empty"
    );
    let page = reviewer.get("/audits").await;
    assert!(
        page.text
            .contains(">0 auto-approved item(s) sampled for audit<"),
        "{}",
        page.text
    );

    let bravo_audits = w
        .app
        .state
        .store()
        .audits(&bravo_ws(), &"reply.draft".parse().expect("a name"))
        .await
        .expect("audits");
    assert_eq!(bravo_audits.len(), 1);
    assert_eq!(bravo_audits[0].id, audit);
    assert_eq!(bravo_audits[0].item_id.to_string(), w.bravo.audited);
    assert_eq!(
        (bravo_audits[0].status.as_str(), bravo_audits[0].escaped),
        ("done", Some(false))
    );
    assert_eq!(
        alpha_state(&w.app).await,
        before,
        "bravo's audit forms changed alpha"
    );
}

/// Kill switch forms: bravo's lead cannot trip or reset a policy only alpha has, nor reset
/// alpha's tripped `reply.draft`; tripping and resetting bravo's own `reply.draft` leaves alpha's
/// tripped, as alpha's lead left it.
#[tokio::test]
async fn kill_switch_forms_reach_only_the_own_workspaces_switches() {
    let w = world().await;
    let before = alpha_state(&w.app).await;
    let lead = w.sign_in(BRAVO, "bravo-lead", BRAVO_PASSWORD).await;
    let store = w.app.state.store();
    let reply: loopgate_core::PolicyName = "reply.draft".parse().expect("a name");
    let alpha_switch = store
        .kill_switch(&alpha_ws(), &reply)
        .await
        .expect("the store answers")
        .expect("alpha's switch is tripped");
    assert_eq!(
        (
            alpha_switch.reason.as_str(),
            alpha_switch.tripped_by.as_str()
        ),
        (ALPHA_REASON, "alpha-api-lead")
    );
    let switch = async |policy: &str, action: &str, reason: &str| {
        lead.post(
            "/lead/kill-switch",
            &[("policy", policy), ("action", action), ("reason", reason)],
        )
        .await
    };

    for action in ["trip", "reset"] {
        let page = switch("alpha.private", action, "bravo reason").await;
        page.expect(404);
        w.assert_nothing_of_alpha(&page.text, &format!("{action} of alpha's policy"));
    }
    // Bravo's own `reply.draft` is not tripped: the reset changes nothing and says so, and
    // alpha's tripped switch of the same name stays tripped.
    let page = switch("reply.draft", "reset", "bravo resets").await;
    assert_eq!(page.redirect(), "/lead?notice=not_tripped");
    let page = lead.get("/lead?notice=not_tripped").await;
    assert!(
        page.expect(200)
            .contains("That kill switch was not tripped; nothing changed."),
        "{}",
        page.text
    );
    w.assert_nothing_of_alpha(&page.text, "a reset of alpha's tripped switch");
    assert_eq!(
        alpha_state(&w.app).await,
        before,
        "bravo's lead changed alpha"
    );

    let page = switch("reply.draft", "trip", "bravo reason for tripping").await;
    assert_eq!(page.redirect(), "/lead?notice=tripped");
    let bravo_switch = store
        .kill_switch(&bravo_ws(), &reply)
        .await
        .expect("the store answers")
        .expect("bravo's switch is tripped");
    assert_eq!(
        (
            bravo_switch.reason.as_str(),
            bravo_switch.tripped_by.as_str()
        ),
        ("bravo reason for tripping", "bravo-lead")
    );
    let page = lead.get("/lead?notice=tripped").await;
    let policies = between(page.expect(200), r#"<table class="policies">"#, "</table>");
    assert!(
        policies.contains("by bravo-lead: bravo reason for tripping"),
        "{policies}"
    );
    w.assert_nothing_of_alpha(&page.text, "the lead page after bravo tripped");
    assert_eq!(
        alpha_state(&w.app).await,
        before,
        "bravo's trip changed alpha"
    );

    let page = switch("reply.draft", "reset", "bravo fixed it").await;
    assert_eq!(page.redirect(), "/lead?notice=reset");
    assert_eq!(
        store
            .kill_switch(&bravo_ws(), &reply)
            .await
            .expect("the store answers"),
        None
    );
    assert_eq!(
        alpha_state(&w.app).await,
        before,
        "bravo's reset changed alpha"
    );
}

/// People and signing in: bravo's password opens nothing in alpha; bravo's admin saving accounts
/// under the names of alpha's people makes bravo's own people and leaves alpha's (roles and
/// passwords) alone; signing out of bravo ends no session of alpha's.
#[tokio::test]
async fn people_forms_and_sign_in_stay_in_the_own_workspace() {
    let w = world().await;
    let before = alpha_state(&w.app).await;

    for name in ["bravo-admin", "alpha-adam", "alpha-rita"] {
        assert!(
            w.web
                .try_sign_in("default", name, BRAVO_PASSWORD)
                .await
                .is_none(),
            "bravo's password opened alpha as {name}"
        );
    }
    let alpha_person = w.sign_in("default", "alpha-rita", ALPHA_PASSWORD).await;
    let admin = w.sign_in(BRAVO, "bravo-admin", BRAVO_PASSWORD).await;

    let new_password = "bravo new password 0123";
    let namesakes: [&[(&str, &str)]; 2] = [
        &[
            ("name", "alpha-rita"),
            ("role", "reviewer"),
            ("reviewer_roles", "quality"),
        ],
        &[("name", "alpha-adam"), ("role", "lead")],
    ];
    for fields in namesakes {
        let name = fields[0].1;
        let mut fields = fields.to_vec();
        fields.push(("password", new_password));
        let saved = admin.post("/admin/users", &fields).await;
        assert_eq!(
            saved.redirect(),
            "/admin/users?notice=saved",
            "saving {name} in bravo"
        );
    }
    assert_eq!(
        alpha_state(&w.app).await,
        before,
        "bravo's admin changed alpha's people"
    );

    // Alpha's people keep their passwords; bravo's namesakes sign in to bravo only.
    for name in ["alpha-rita", "alpha-adam"] {
        assert!(
            w.web
                .try_sign_in("default", name, new_password)
                .await
                .is_none(),
            "bravo's new password opened alpha as {name}"
        );
        w.sign_in("default", name, ALPHA_PASSWORD).await;
        let namesake = w.sign_in(BRAVO, name, new_password).await;
        w.assert_nothing_of_alpha(
            &namesake.get("/queue").await.text.replace(name, ""),
            &format!("bravo's {name}'s queue"),
        );
    }
    let people = admin.get("/admin/users").await;
    let table = between(people.expect(200), "<tbody>", "</tbody>");
    assert!(
        table.contains("<td>alpha-rita</td><td>reviewer</td><td>quality</td>"),
        "{table}"
    );
    assert!(
        table.contains("<td>alpha-adam</td><td>lead</td>"),
        "{table}"
    );
    assert_eq!(
        table.matches("<tr>").count(),
        8,
        "bravo's six and two: {table}"
    );
    for other in ["alpha-lena", "alpha-bot", "alpha-api-"] {
        assert!(!table.contains(other), "{other} in bravo: {table}");
    }

    // Signing out of bravo ends that session only.
    assert_eq!(admin.post("/logout", &[]).await.redirect(), "/login");
    assert!(
        admin.get("/queue").await.redirect().starts_with("/login"),
        "bravo's admin is signed out"
    );
    alpha_person.get("/queue").await.expect(200);
    assert_eq!(
        alpha_state(&w.app).await,
        before,
        "bravo's sign-ins changed alpha"
    );
}
