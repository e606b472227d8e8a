//! The `loopgate` binary end to end: keys made on the command line work against a server over the
//! same data directory, `serve` bootstraps an admin key, bad data directories fail clearly, and
//! `audit verify` notices an audit log altered behind Loopgate's back.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tempfile::TempDir;

const BOOTSTRAP_KEY: &str = "lg_cli_test_bootstrap_admin_0123456789";

/// The binary, with no `LOOPGATE_*` settings inherited from the environment, run in `cwd` so a
/// default data directory could never land in the repository.
fn loopgate(cwd: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_loopgate"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("LOOPGATE_") {
            command.env_remove(name);
        }
    }
    command.current_dir(cwd).env("RUST_LOG", "warn");
    command
}

/// Runs a command to completion.
fn run(command: &mut Command) -> Output {
    command.output().expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `loopgate keys create …` in `data`; returns the printed secret.
fn create_key(tmp: &Path, data: &Path, args: &[&str]) -> String {
    let output = run(loopgate(tmp)
        .args(["keys", "create", "--data"])
        .arg(data)
        .args(args));
    assert!(
        output.status.success(),
        "keys create failed: {}",
        stderr(&output)
    );
    let printed = stdout(&output);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "only the secret goes to stdout: {printed:?}"
    );
    lines[0].to_owned()
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A `loopgate serve` process, killed when dropped.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
    client: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `loopgate serve` over `data` with `env`, and waits until `/healthz` answers.
    async fn start(tmp: &Path, data: &Path, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let log = tmp.join(format!("serve-{port}.log"));
        let mut command = loopgate(tmp);
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
            .arg(data)
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("log file"));
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().expect("serve starts");
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let mut server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            client,
        };
        server.wait_until_ready().await;
        server
    }

    /// Readiness polling: a bounded number of attempts, failing early if the process exits.
    async fn wait_until_ready(&mut self) {
        for _ in 0..400 {
            if let Some(status) = self.child.try_wait().expect("process status") {
                panic!("serve exited with {status}: {}", self.log());
            }
            let health = self
                .client
                .get(format!("{}/healthz", self.base))
                .send()
                .await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("serve did not become ready: {}", self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("JSON")
        };
        (status, body)
    }

    async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        self.request(reqwest::Method::GET, path, key, None).await
    }

    async fn post(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        self.request(reqwest::Method::POST, path, key, Some(body))
            .await
    }
}

/// Waits for a process that is expected to fail at start-up and returns whether it failed and
/// what it wrote to stderr. A process still running after a generous bound is killed (by its
/// id) and the test fails: that is a hang, not a race.
fn exits_with_failure(child: Child) -> (bool, String) {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(output) => {
            let output = output.expect("the process is waited for");
            (!output.status.success(), stderr(&output))
        }
        Err(_) => {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            panic!("the process kept running");
        }
    }
}

fn submission(confidence: f64) -> Value {
    json!({
        "policy": "reply.draft",
        "input": {"text": "Where is my invoice?"},
        "customer": {"id": "acme"},
        "proposal": {"kind": "reply", "payload": {"text": "Hello"}, "confidence": confidence}
    })
}

/// Runs a journey through a server over `data`: a policy, keys, three submissions, a claim and a
/// decision. Returns the number of audit entries the API reports, after stopping the server.
async fn journey(tmp: &Path, data: &Path) -> i64 {
    let server = Server::start(
        tmp,
        data,
        &[("LOOPGATE_BOOTSTRAP_ADMIN_KEY", BOOTSTRAP_KEY)],
    )
    .await;
    let admin = BOOTSTRAP_KEY;
    let policy = json!({"name": "reply.draft", "kind": "reply", "thresholds": {"approve_at": 0.9, "reject_below": 0.2}});
    assert_eq!(server.post("/v1/policies", admin, policy).await.0, 201);
    let (status, agent) = server
        .post("/v1/keys", admin, json!({"name": "bot", "role": "agent"}))
        .await;
    assert_eq!(status, 201);
    let agent = agent["key"].as_str().expect("key").to_owned();
    let (status, reviewer) = server
        .post(
            "/v1/keys",
            admin,
            json!({"name": "alice", "role": "reviewer", "reviewer_roles": ["triage"]}),
        )
        .await;
    assert_eq!(status, 201);
    let reviewer = reviewer["key"].as_str().expect("key").to_owned();
    for confidence in [0.95, 0.5, 0.5] {
        assert_eq!(
            server
                .post("/v1/items", &agent, submission(confidence))
                .await
                .0,
            201
        );
    }
    let (status, claimed) = server.post("/v1/reviews/claim", &reviewer, json!({})).await;
    assert_eq!(status, 200);
    let item = &claimed["item"];
    let decision = json!({"lease_id": item["lease"]["id"], "decision": "approve"});
    let (status, _) = server
        .post(
            &format!("/v1/items/{}/decision", item["id"].as_str().expect("id")),
            &reviewer,
            decision,
        )
        .await;
    assert_eq!(status, 200);
    let (status, verified) = server.get("/v1/audit/verify", admin).await;
    assert_eq!(status, 200);
    assert_eq!(verified["valid"], true);
    // Stopped with SIGKILL: acknowledged writes must survive it.
    drop(server);
    verified["entries"].as_i64().expect("entries")
}

fn verify(tmp: &Path, data: &Path) -> Output {
    run(loopgate(tmp).args(["audit", "verify", "--data"]).arg(data))
}

fn open_db(data: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(data.join("loopgate.db")).expect("the database opens")
}

#[tokio::test]
async fn a_key_made_on_the_command_line_authenticates_against_a_server_over_that_directory() {
    let tmp = TempDir::new().expect("tempdir");
    let data = tmp.path().join("data");

    let key = create_key(
        tmp.path(),
        &data,
        &[
            "--role",
            "reviewer",
            "--reviewer-roles",
            "triage",
            "--name",
            "x",
        ],
    );
    assert!(key.starts_with("lg_"), "{key}");
    let server = Server::start(tmp.path(), &data, &[]).await;

    let (status, me) = server.get("/v1/me", &key).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["principal"]["name"], "x");
    assert_eq!(me["principal"]["access"], "reviewer");
    assert_eq!(me["principal"]["reviewer_roles"], json!(["triage"]));
    assert_eq!(me["principal"]["workspace"], "default");
    assert_eq!(
        server.post("/v1/reviews/claim", &key, json!({})).await.0,
        204
    );
    assert_eq!(
        server
            .get("/v1/me", "lg_not_the_key_0123456789abcdef")
            .await
            .0,
        401
    );
    assert!(
        !data.join("admin.key").exists(),
        "a store with keys gets no first-start admin key"
    );
}

#[tokio::test]
async fn key_listings_show_prefixes_never_secrets() {
    let tmp = TempDir::new().expect("tempdir");
    let data = tmp.path().join("data");
    let key = create_key(tmp.path(), &data, &["--role", "agent", "--name", "bot"]);

    let output = run(loopgate(tmp.path())
        .args(["keys", "list", "--data"])
        .arg(&data));

    assert!(output.status.success(), "{}", stderr(&output));
    let listed = stdout(&output);
    assert!(listed.contains(&key[..11]), "{listed}");
    assert!(!listed.contains(&key), "{listed}");
    assert!(
        listed.contains("bot") && listed.contains("agent") && listed.contains("active"),
        "{listed}"
    );
}

#[tokio::test]
async fn an_inconsistent_key_request_is_refused_before_anything_is_written() {
    let tmp = TempDir::new().expect("tempdir");
    let data = tmp.path().join("data");

    let output = run(loopgate(tmp.path())
        .args([
            "keys", "create", "--role", "reviewer", "--name", "x", "--data",
        ])
        .arg(&data));

    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("reviewer_roles"),
        "{}",
        stderr(&output)
    );
    assert!(stdout(&output).is_empty());
    assert!(!data.join("loopgate.db").exists());
}

#[tokio::test]
async fn serve_registers_the_bootstrap_admin_key_on_an_empty_directory() {
    let tmp = TempDir::new().expect("tempdir");
    let data = tmp.path().join("fresh");

    let server = Server::start(
        tmp.path(),
        &data,
        &[("LOOPGATE_BOOTSTRAP_ADMIN_KEY", BOOTSTRAP_KEY)],
    )
    .await;
    let (status, me) = server.get("/v1/me", BOOTSTRAP_KEY).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["principal"]["access"], "admin");
    assert_eq!(me["principal"]["name"], "admin");
    assert_eq!(
        server
            .post(
                "/v1/keys",
                BOOTSTRAP_KEY,
                json!({"name": "bot", "role": "agent"})
            )
            .await
            .0,
        201
    );
    assert!(!data.join("admin.key").exists());
    drop(server);

    // Once the store has keys, another bootstrap key is not registered.
    let other = "lg_cli_test_another_bootstrap_key_987654";
    let server = Server::start(
        tmp.path(),
        &data,
        &[("LOOPGATE_BOOTSTRAP_ADMIN_KEY", other)],
    )
    .await;
    assert_eq!(server.get("/v1/me", other).await.0, 401);
    assert_eq!(server.get("/v1/me", BOOTSTRAP_KEY).await.0, 200);
}

#[tokio::test]
async fn a_first_start_without_a_bootstrap_key_leaves_an_admin_key_for_its_owner_only() {
    let tmp = TempDir::new().expect("tempdir");
    let data = tmp.path().join("fresh");

    let server = Server::start(tmp.path(), &data, &[]).await;

    let path = data.join("admin.key");
    let key = std::fs::read_to_string(&path).expect("admin.key is written");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let (status, me) = server.get("/v1/me", key.trim()).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["principal"]["access"], "admin");
}

#[tokio::test]
async fn a_bootstrap_key_too_short_to_be_safe_is_refused() {
    let tmp = TempDir::new().expect("tempdir");
    let child = loopgate(tmp.path())
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--data",
        ])
        .arg(tmp.path().join("data"))
        .env("LOOPGATE_BOOTSTRAP_ADMIN_KEY", "tiny-secret-7")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve starts");

    let (failed, err) = exits_with_failure(child);

    assert!(failed);
    assert!(err.contains("LOOPGATE_BOOTSTRAP_ADMIN_KEY"), "{err}");
    assert!(
        !err.contains("tiny-secret-7"),
        "the rejected secret is not echoed: {err}"
    );
}

/// A directory this process cannot create files in: a read-only directory where permissions
/// apply, and `/sys` (where nobody may create files) when running as root.
fn unwritable_dir(tmp: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = tmp.join("read-only");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    if File::create(dir.join("probe")).is_err() {
        return dir;
    }
    let sys = PathBuf::from("/sys");
    assert!(
        File::create(sys.join("loopgate-probe")).is_err(),
        "no unwritable directory found"
    );
    sys
}

#[tokio::test]
async fn a_data_directory_that_cannot_be_written_is_a_clear_error() {
    let tmp = TempDir::new().expect("tempdir");
    let read_only = unwritable_dir(tmp.path());

    for command in [
        &["migrate"][..],
        &["keys", "create", "--role", "agent", "--name", "bot"],
        &["audit", "verify"],
    ] {
        let output = run(loopgate(tmp.path())
            .args(command)
            .arg("--data")
            .arg(&read_only));
        assert!(!output.status.success(), "{command:?} succeeded");
        let err = stderr(&output);
        assert!(
            err.contains("cannot open") && err.contains(&read_only.display().to_string()),
            "{command:?}: {err}"
        );
        assert!(stdout(&output).is_empty(), "{command:?}");
    }
    let child = loopgate(tmp.path())
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--data",
        ])
        .arg(&read_only)
        .env("LOOPGATE_BOOTSTRAP_ADMIN_KEY", BOOTSTRAP_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let (failed, err) = exits_with_failure(child);
    assert!(failed);
    assert!(
        err.contains("cannot open") && err.contains(&read_only.display().to_string()),
        "{err}"
    );
}

#[tokio::test]
async fn a_data_directory_that_cannot_be_created_is_a_clear_error() {
    let tmp = TempDir::new().expect("tempdir");
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "not a directory").expect("write");
    let under_a_file = file.join("data");

    for data in [&under_a_file, &file] {
        let output = run(loopgate(tmp.path()).args(["migrate", "--data"]).arg(data));
        assert!(!output.status.success());
        let err = stderr(&output);
        assert!(
            err.contains("cannot create data directory")
                && err.contains(&data.display().to_string()),
            "{err}"
        );
    }
    let child = loopgate(tmp.path())
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--data",
        ])
        .arg(&under_a_file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let (failed, err) = exits_with_failure(child);
    assert!(failed);
    assert!(err.contains("cannot create data directory"), "{err}");
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_a_clear_error() {
    let tmp = TempDir::new().expect("tempdir");
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).expect("mkdir");
    std::fs::write(data.join("loopgate.db"), vec![b'x'; 4096]).expect("write");

    let output = run(loopgate(tmp.path()).args(["migrate", "--data"]).arg(&data));

    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("loopgate.db") && err.contains("not a database"),
        "{err}"
    );
}

#[tokio::test]
async fn migrate_creates_the_database_and_can_run_again() {
    let tmp = TempDir::new().expect("tempdir");
    let data = tmp.path().join("data");

    for _ in 0..2 {
        let output = run(loopgate(tmp.path()).args(["migrate", "--data"]).arg(&data));
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(stdout(&output).contains("up to date"));
    }
    assert!(data.join("loopgate.db").exists());
}

#[tokio::test]
async fn audit_verify_passes_an_untouched_log() {
    let tmp = TempDir::new().expect("tempdir");
    let data = tmp.path().join("data");
    let entries = journey(tmp.path(), &data).await;

    let output = verify(tmp.path(), &data);

    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert_eq!(
        stdout(&output).trim(),
        format!("workspace default: {entries} entries, chain intact")
    );
}

#[tokio::test]
async fn the_audit_log_refuses_updates_and_deletes() {
    let tmp = TempDir::new().expect("tempdir");
    let data = tmp.path().join("data");
    journey(tmp.path(), &data).await;
    let db = open_db(&data);

    let update = db.execute(
        "UPDATE audit_log SET actor_name = 'mallory' WHERE seq = 3",
        [],
    );
    let delete = db.execute("DELETE FROM audit_log WHERE seq = 3", []);

    assert!(
        update
            .expect_err("updates are refused")
            .to_string()
            .contains("append-only")
    );
    assert!(
        delete
            .expect_err("deletes are refused")
            .to_string()
            .contains("append-only")
    );
    drop(db);
    assert!(verify(tmp.path(), &data).status.success());
}

#[tokio::test]
async fn audit_verify_names_an_altered_entry() {
    let tmp = TempDir::new().expect("tempdir");
    let data = tmp.path().join("data");
    let entries = journey(tmp.path(), &data).await;
    let altered = entries - 2;
    let db = open_db(&data);
    // What an attacker with access to the file can do: lift the guard, then rewrite history.
    db.execute_batch("DROP TRIGGER audit_log_no_update")
        .expect("drop trigger");
    let changed = db
        .execute(
            "UPDATE audit_log SET actor_name = 'mallory' WHERE seq = ?1",
            [altered],
        )
        .expect("update");
    assert_eq!(changed, 1);
    drop(db);

    let output = verify(tmp.path(), &data);

    assert_eq!(output.status.code(), Some(1));
    let report = stdout(&output);
    assert!(
        report.contains(&format!("entry {altered} was altered")),
        "{report}"
    );

    // The server reports the same break over HTTP.
    let server = Server::start(tmp.path(), &data, &[]).await;
    let (status, verified) = server.get("/v1/audit/verify", BOOTSTRAP_KEY).await;
    assert_eq!(status, 200);
    assert_eq!(verified["valid"], false);
    assert!(
        verified["broken"]
            .as_str()
            .expect("broken")
            .contains(&format!("entry {altered}")),
        "{verified}"
    );
}

#[tokio::test]
async fn audit_verify_names_a_deleted_entry() {
    let tmp = TempDir::new().expect("tempdir");
    let data = tmp.path().join("data");
    let entries = journey(tmp.path(), &data).await;
    let removed = entries / 2;
    let db = open_db(&data);
    db.execute_batch("DROP TRIGGER audit_log_no_delete")
        .expect("drop trigger");
    assert_eq!(
        db.execute("DELETE FROM audit_log WHERE seq = ?1", [removed])
            .expect("delete"),
        1
    );
    drop(db);

    let output = verify(tmp.path(), &data);

    assert_eq!(output.status.code(), Some(1));
    let report = stdout(&output);
    assert!(
        report.contains(&format!("entry {removed} is missing")),
        "{report}"
    );
}

#[tokio::test]
async fn audit_verify_notices_entries_cut_from_the_end() {
    let tmp = TempDir::new().expect("tempdir");
    let data = tmp.path().join("data");
    let entries = journey(tmp.path(), &data).await;
    let db = open_db(&data);
    db.execute_batch("DROP TRIGGER audit_log_no_delete")
        .expect("drop trigger");
    assert_eq!(
        db.execute("DELETE FROM audit_log WHERE seq = ?1", [entries])
            .expect("delete"),
        1
    );
    drop(db);

    let output = verify(tmp.path(), &data);

    assert_eq!(output.status.code(), Some(1));
    let report = stdout(&output);
    assert!(
        report.contains(&format!(
            "ends at entry {} but the recorded head is entry {entries}",
            entries - 1
        )),
        "{report}"
    );
}

#[tokio::test]
async fn a_key_of_another_workspace_cannot_see_this_ones_items_or_policies() {
    let tmp = TempDir::new().expect("tempdir");
    let data = tmp.path().join("data");
    journey(tmp.path(), &data).await;
    let outsider = create_key(
        tmp.path(),
        &data,
        &[
            "--role",
            "admin",
            "--name",
            "other-admin",
            "--workspace",
            "other",
        ],
    );
    let server = Server::start(tmp.path(), &data, &[]).await;
    let (_, items) = server.get("/v1/items", BOOTSTRAP_KEY).await;
    let item = items["items"][0]["id"]
        .as_str()
        .expect("an item")
        .to_owned();

    let (status, me) = server.get("/v1/me", &outsider).await;
    assert_eq!(
        (status, &me["principal"]["workspace"]),
        (200, &json!("other"))
    );
    assert_eq!(
        server.get(&format!("/v1/items/{item}"), &outsider).await.0,
        404
    );
    assert_eq!(
        server.get("/v1/items", &outsider).await.1["items"],
        json!([])
    );
    assert_eq!(
        server.get("/v1/policies", &outsider).await.1["policies"],
        json!([])
    );
    assert_eq!(
        server.get("/v1/policies/reply.draft", &outsider).await.0,
        404
    );
    assert_eq!(
        server
            .post("/v1/reviews/claim", &outsider, json!({}))
            .await
            .0,
        204
    );
    let decision =
        json!({"lease_id": "0190c1b2-0000-7000-8000-000000000000", "decision": "reject"});
    assert_eq!(
        server
            .post(&format!("/v1/items/{item}/decision"), &outsider, decision)
            .await
            .0,
        404
    );
    assert_eq!(
        server
            .get(&format!("/v1/items/{item}"), BOOTSTRAP_KEY)
            .await
            .0,
        200
    );
}

/// Runs `loopgate users create` with `password` on standard input.
fn create_user(tmp: &Path, data: &Path, args: &[&str], password: &str) -> Output {
    use std::io::Write;
    let mut child = loopgate(tmp)
        .args(["users", "create", "--data"])
        .arg(data)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("loopgate starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("password written");
    child.wait_with_output().expect("loopgate finishes")
}

#[test]
fn accounts_made_on_the_command_line_store_only_an_argon2_hash() {
    let tmp = TempDir::new().unwrap();
    let data = tmp.path().join("data");
    let password = "a-long-enough-password";
    let output = create_user(
        tmp.path(),
        &data,
        &[
            "--name",
            "ana",
            "--role",
            "reviewer",
            "--reviewer-roles",
            "triage,quality",
        ],
        password,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("account ana (reviewer)"),
        "{}",
        stderr(&output)
    );
    assert!(
        stdout(&output).is_empty(),
        "a given password is never echoed"
    );

    let db = open_db(&data);
    let hash: String = db
        .query_row(
            "SELECT w.hash FROM passwords w JOIN principals p ON p.id = w.principal_id WHERE p.name = 'ana'",
            [],
            |r| r.get(0),
        )
        .expect("a password row");
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(password));
    assert!(loopgate_server::web::session::verify_password(
        password, &hash
    ));
    let roles: String = db
        .query_row(
            "SELECT reviewer_roles FROM principals WHERE name = 'ana'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(roles, r#"["triage","quality"]"#);
}

#[test]
fn weak_passwords_and_agent_accounts_are_refused() {
    let tmp = TempDir::new().unwrap();
    let data = tmp.path().join("data");
    let short = create_user(
        tmp.path(),
        &data,
        &["--name", "bo", "--role", "lead"],
        "short",
    );
    assert!(!short.status.success());
    assert!(
        stderr(&short).contains("at least 10 characters"),
        "{}",
        stderr(&short)
    );
    let agent = create_user(
        tmp.path(),
        &data,
        &["--name", "bot", "--role", "agent"],
        "a-long-enough-password",
    );
    assert!(!agent.status.success());
    assert!(stderr(&agent).contains("API key"), "{}", stderr(&agent));
}

#[tokio::test]
async fn export_writes_one_json_line_per_item_people_decided() {
    let tmp = TempDir::new().unwrap();
    let data = tmp.path().join("data");
    journey(tmp.path(), &data).await;
    let out = tmp.path().join("train.jsonl");
    let output = run(loopgate(tmp.path())
        .args(["export", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&out));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("exported 1 decided item"),
        "{}",
        stderr(&output)
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "one item was decided by a person: {text}");
    assert_eq!(lines[0]["status"], "approved");
    assert_eq!(lines[0]["proposal_correct"], true);
    assert_eq!(lines[0]["reviews"][0]["reviewer"], "alice");
    assert_eq!(lines[0]["final_payload"], lines[0]["proposal"]["payload"]);

    // Nothing was decided after the future.
    let later = run(loopgate(tmp.path())
        .args(["export", "--since", "2999-01-01T00:00:00Z", "--data"])
        .arg(&data));
    assert!(later.status.success());
    assert!(stdout(&later).is_empty());
}
