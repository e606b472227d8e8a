//! The end-to-end harness: a real Loopgate on the wall clock, chromedriver on a free port, and a
//! headless Chromium driven over WebDriver the way a reviewer uses the workspace — by keyboard.
//!
//! One browser at a time: every scenario takes [`ONE_BROWSER`] first, so two Chromiums never
//! compete for the machine's cores. Every wait is bounded by [`WAIT`] and watches for something
//! a person would see (an element, a URL); nothing sleeps in place of synchronisation.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt;
use loopgate_core::audit::AuditActor;
use loopgate_core::{
    AccessRole, Item, ItemId, PolicySpec, Principal, Role, SystemClock, WorkspaceId,
};
use loopgate_server::web::session::hash_password;
use loopgate_server::{AppState, Settings, keys};
use loopgate_store::testing::{TestDatabase, fresh_store};
use loopgate_store::{NewAccount, NewKey, Store};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The longest any one wait may take before the scenario fails.
pub const WAIT: Duration = Duration::from_secs(15);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(40);
/// Every account's password.
pub const PASSWORD: &str = "correct horse battery staple";

/// Held while a browser runs: one Chromium at a time.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn tool(env: &str, default: &str, package: &str) -> PathBuf {
    let path = PathBuf::from(std::env::var(env).unwrap_or_else(|_| default.to_owned()));
    assert!(
        path.is_file(),
        "the end-to-end tests need {} (set {env} to use another path); install it with \
         `apt-get install {package}`",
        path.display()
    );
    path
}

/// Where the screenshots go: `target/e2e-screenshots` of the workspace.
pub fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/e2e-screenshots")
}

// --- chromedriver ----------------------------------------------------------------------

/// A running chromedriver, killed when dropped.
struct Chromedriver {
    child: Child,
    url: String,
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Chromedriver {
    /// Starts chromedriver on a free port and waits until its `/status` says it is ready.
    async fn start() -> Self {
        let binary = tool(
            "LOOPGATE_E2E_CHROMEDRIVER",
            "/usr/bin/chromedriver",
            "chromium-driver",
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&binary)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut driver = Chromedriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("an HTTP client");
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = driver.child.try_wait().expect("chromedriver's status") {
                panic!("chromedriver exited at start with {status}");
            }
            let ready = match http.get(format!("{}/status", driver.url)).send().await {
                Ok(r) => r
                    .json::<Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == true),
                Err(_) => false,
            };
            if ready {
                return driver;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer on {} within {WAIT:?}",
                driver.url
            );
            tokio::time::sleep(POLL).await;
        }
    }
}

// --- the server ------------------------------------------------------------------------

/// A real Loopgate on 127.0.0.1:0 over a fresh store (SQLite, or a fresh PostgreSQL schema when
/// `LOOPGATE_TEST_POSTGRES_URL` is set), on the wall clock.
pub struct App {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The server's state.
    pub state: AppState,
    http: reqwest::Client,
    server: JoinHandle<()>,
    _database: TestDatabase,
    _dir: TempDir,
}

impl Drop for App {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The default workspace.
pub fn default_ws() -> WorkspaceId {
    WorkspaceId::default_workspace()
}

/// A workspace by name.
pub fn ws(name: &str) -> WorkspaceId {
    name.parse().expect("a workspace name")
}

impl App {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (store, database) = fresh_store(dir.path()).await;
        let state = AppState::new(store, Arc::new(SystemClock), Settings::default());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("an address");
        let served = state.clone();
        let server = tokio::spawn(async move {
            loopgate_server::serve(listener, served, std::future::pending())
                .await
                .expect("the server runs");
        });
        Self {
            base: format!("http://{addr}"),
            state,
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(WAIT)
                .build()
                .expect("an HTTP client"),
            server,
            _database: database,
            _dir: dir,
        }
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        self.state.store()
    }

    /// The server's time.
    pub fn now(&self) -> loopgate_core::Timestamp {
        self.state.clock().now()
    }

    /// Creates a person's account with [`PASSWORD`].
    pub async fn account(
        &self,
        workspace: &WorkspaceId,
        name: &str,
        access: AccessRole,
        roles: &[Role],
    ) -> Principal {
        self.store()
            .set_account(
                NewAccount {
                    workspace: workspace.clone(),
                    name: name.to_owned(),
                    access,
                    reviewer_roles: roles.to_vec(),
                    password_hash: hash_password(PASSWORD).expect("hashed"),
                },
                AuditActor::system("e2e"),
                self.now(),
            )
            .await
            .expect("the account is created")
    }

    /// Creates or replaces a policy from its JSON spec.
    pub async fn policy(&self, workspace: &WorkspaceId, spec: Value) {
        let spec: PolicySpec = serde_json::from_value(spec).expect("a policy spec");
        let policy = spec.validate().expect("a valid policy");
        self.store()
            .put_policy(workspace, policy, AuditActor::system("e2e"), self.now())
            .await
            .expect("the policy is stored");
    }

    /// A new agent key's secret.
    pub async fn agent(&self, workspace: &WorkspaceId, name: &str) -> String {
        let minted = keys::mint();
        self.store()
            .create_key(
                NewKey {
                    workspace: workspace.clone(),
                    name: name.to_owned(),
                    access: AccessRole::Agent,
                    reviewer_roles: Vec::new(),
                    secret_hash: minted.hash,
                    prefix: minted.prefix.clone(),
                },
                AuditActor::system("e2e"),
                self.now(),
            )
            .await
            .expect("the key is created");
        minted.secret
    }

    /// Submits an item through `POST /v1/items`; returns its id.
    pub async fn submit(&self, agent: &str, submission: Value) -> ItemId {
        let res = self
            .http
            .post(format!("{}/v1/items", self.base))
            .bearer_auth(agent)
            .json(&submission)
            .send()
            .await
            .expect("the submit is answered");
        let status = res.status();
        let body: Value = res.json().await.expect("a JSON body");
        assert_eq!(status.as_u16(), 201, "submit refused: {body:#}");
        body["id"]
            .as_str()
            .expect("an item id")
            .parse()
            .expect("an item id")
    }

    /// An item as stored.
    pub async fn item(&self, workspace: &WorkspaceId, id: ItemId) -> Item {
        self.store()
            .get_item(workspace, id)
            .await
            .expect("the store answers")
            .expect("the item exists")
    }
}

/// A reply draft for `reply.draft`, merged with `overrides`.
pub fn draft(confidence: f64, customer: &str, overrides: Value) -> Value {
    let mut v = json!({
        "policy": "reply.draft",
        "input": {"text": "Our invoice for October charges 12 seats; we only have 10.", "channel": "email"},
        "customer": {"id": customer, "name": customer, "tier": "standard"},
        "proposal": {"kind": "reply", "confidence": confidence, "model": "gpt-support",
                     "payload": {"text": "Sorry about that! We have corrected your invoice to 10 seats."}},
    });
    merge(&mut v, &overrides);
    v
}

/// JSON Merge Patch (RFC 7396).
pub fn merge(target: &mut Value, patch: &Value) {
    if let Value::Object(patch) = patch {
        if !target.is_object() {
            *target = json!({});
        }
        let map = target.as_object_mut().expect("an object");
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

// --- the browser -----------------------------------------------------------------------

/// A headless Chromium pointed at one server.
#[derive(Clone)]
pub struct Browser {
    client: Client,
    base: String,
}

/// Runs one scenario: a fresh server, chromedriver and Chromium (with a fresh profile), closed
/// and killed afterwards even when the scenario fails.
pub async fn scenario<F, Fut>(body: F)
where
    F: FnOnce(App, Browser) -> Fut,
    Fut: Future<Output = ()>,
{
    let chromium = tool("LOOPGATE_E2E_CHROMIUM", "/usr/bin/chromium", "chromium");
    let _one = ONE_BROWSER.lock().await;
    let driver = Chromedriver::start().await;
    let profile = tempfile::tempdir().expect("a profile directory");
    let caps: Capabilities = serde_json::from_value(json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1280,800",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        },
        "timeouts": {"pageLoad": 20_000, "script": 10_000},
    }))
    .expect("capabilities");
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .unwrap_or_else(|e| panic!("Chromium did not start under chromedriver: {e}"));
    let app = App::start().await;
    let browser = Browser {
        client: client.clone(),
        base: app.base.clone(),
    };
    let outcome = AssertUnwindSafe(body(app, browser)).catch_unwind().await;
    let _ = client.close().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

impl Browser {
    /// Opens a path of the server.
    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
    }

    /// The current path with its query, e.g. `/queue?notice=empty`.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("the current URL");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Waits until the browser is at `path` (with its query, if any).
    pub async fn wait_for_path(&self, path: &str) {
        let url = url::Url::parse(&format!("{}{path}", self.base)).expect("a URL");
        if let Err(e) = self
            .client
            .wait()
            .at_most(WAIT)
            .every(POLL)
            .for_url(&url)
            .await
        {
            panic!(
                "the browser did not reach {path} within {WAIT:?} ({e}); it is at {}",
                self.path().await
            );
        }
    }

    /// Waits for an element matching a CSS selector.
    pub async fn wait_for(&self, css: &str) -> Element {
        self.wait_for_locator(Locator::Css(css), css).await
    }

    /// Waits for an element matching an XPath expression.
    pub async fn wait_for_xpath(&self, xpath: &str) -> Element {
        self.wait_for_locator(Locator::XPath(xpath), xpath).await
    }

    async fn wait_for_locator(&self, locator: Locator<'_>, what: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(WAIT)
            .every(POLL)
            .for_element(locator)
            .await
        {
            Ok(e) => e,
            Err(e) => panic!(
                "no {what} within {WAIT:?} ({e}) on {}; the page says:\n{}",
                self.path().await,
                self.text("body").await
            ),
        }
    }

    /// Waits until `check` returns `Some`, polling; panics after [`WAIT`] naming `what`.
    pub async fn until<T>(&self, what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(v) = check().await {
                return v;
            }
            assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
            tokio::time::sleep(POLL).await;
        }
    }

    /// The visible text of the first element matching `css`, or "" when there is none.
    pub async fn text(&self, css: &str) -> String {
        match self.client.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Whether an element matching `css` exists now.
    pub async fn exists(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    /// Presses and releases one key where the focus is, as a person does.
    pub async fn press(&self, key: impl Into<char>) {
        let key = key.into();
        let actions = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: key })
            .then(KeyAction::Up { value: key });
        self.client
            .perform_actions(actions)
            .await
            .unwrap_or_else(|e| panic!("cannot press {key:?}: {e}"));
    }

    /// Presses `key` while holding `modifier`.
    pub async fn chord(&self, modifier: impl Into<char>, key: impl Into<char>) {
        let (m, k) = (modifier.into(), key.into());
        let actions = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: m })
            .then(KeyAction::Down { value: k })
            .then(KeyAction::Up { value: k })
            .then(KeyAction::Up { value: m });
        self.client
            .perform_actions(actions)
            .await
            .unwrap_or_else(|e| panic!("cannot press {m:?}+{k:?}: {e}"));
    }

    /// Types text into the focused element, key by key.
    pub async fn type_text(&self, text: &str) {
        let mut actions = KeyActions::new("keyboard".into());
        for c in text.chars() {
            actions = actions
                .then(KeyAction::Down { value: c })
                .then(KeyAction::Up { value: c });
        }
        self.client
            .perform_actions(actions)
            .await
            .unwrap_or_else(|e| panic!("cannot type {text:?}: {e}"));
    }

    /// Marks the current document, so that [`Browser::wait_for_new_page`] can tell a newly
    /// loaded page from it even when the URL does not change.
    pub async fn mark_page(&self) {
        self.client
            .execute("document.documentElement.dataset.e2eOld = '1';", vec![])
            .await
            .expect("the page runs a script");
    }

    /// Waits until a page other than the one marked by [`Browser::mark_page`] has loaded, with
    /// its scripts run (keys pressed earlier would go nowhere).
    pub async fn wait_for_new_page(&self) {
        let js = "return document.readyState === 'complete' \
                  && !document.documentElement.dataset.e2eOld;";
        self.until("the next page loads", async || {
            // While the old page unloads a script may fail; that only means "not yet".
            let loaded = self.client.execute(js, vec![]).await.ok()?;
            (loaded == Value::Bool(true)).then_some(())
        })
        .await;
    }

    /// Presses a key that navigates, and waits until the next page has loaded.
    pub async fn press_and_load(&self, key: impl Into<char>) {
        self.mark_page().await;
        self.press(key).await;
        self.wait_for_new_page().await;
    }

    /// Signs in through the form, by keyboard, and waits until the sign-in page is left.
    pub async fn sign_in(&self, name: &str) {
        self.sign_in_with(name, PASSWORD).await;
        self.wait_for(".top .who").await;
    }

    /// Fills in and sends the sign-in form (opening it first if needed).
    pub async fn sign_in_with(&self, name: &str, password: &str) {
        if !self.path().await.starts_with("/login") {
            self.goto("/login").await;
        }
        let field = self.wait_for("input[name=name]").await;
        field.clear().await.expect("the name field clears");
        field.send_keys(name).await.expect("the name is typed");
        let pw = self.wait_for("input[name=password]").await;
        pw.send_keys(password).await.expect("the password is typed");
        self.mark_page().await;
        self.press(fantoccini::key::Key::Enter).await;
        self.wait_for_new_page().await;
    }

    /// Signs out with the header's button.
    pub async fn sign_out(&self) {
        let button = self.wait_for(".who form[action='/logout'] button").await;
        self.mark_page().await;
        button.click().await.expect("sign out is clicked");
        self.wait_for_new_page().await;
        self.wait_for_path("/login").await;
    }

    /// Runs a script in the page and returns its value.
    pub async fn script(&self, js: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(js, args)
            .await
            .unwrap_or_else(|e| panic!("the script failed: {e}"))
    }

    /// The HTTP status the server gives the signed-in browser for a request (redirects are
    /// not followed: a redirect is 0). `form` is sent as `application/x-www-form-urlencoded`.
    pub async fn fetch_status(&self, method: &str, path: &str, form: Option<&str>) -> u16 {
        let js = r#"
            const [method, path, form, done] = arguments;
            const init = {method, credentials: "same-origin", redirect: "manual"};
            if (form !== null) {
                init.body = form;
                init.headers = {"Content-Type": "application/x-www-form-urlencoded"};
            }
            fetch(path, init).then(r => done(r.status), e => done(String(e)));
        "#;
        let v = self
            .client
            .execute_async(js, vec![json!(method), json!(path), json!(form)])
            .await
            .unwrap_or_else(|e| panic!("fetch {path} failed: {e}"));
        let status = v
            .as_u64()
            .unwrap_or_else(|| panic!("fetch {method} {path} failed: {v}"));
        u16::try_from(status).expect("a status")
    }

    /// Saves a screenshot of the window as `<name>.png` in [`screenshot_dir`].
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("the screenshot directory");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("the screenshot is written");
        path
    }
}
