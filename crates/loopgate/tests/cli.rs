//! The `loopgate` binary end to end: keys made on the command line work against a server over the
//! same database, `serve` bootstraps an admin key, bad data directories fail clearly, and
//! `audit verify` notices an audit log altered behind Loopgate's back.
//!
//! Tests about the database run on both backends (`<name>::sqlite`, and `<name>::postgres` when
//! `LOOPGATE_TEST_POSTGRES_URL` is set); tests about the data directory, the configuration or
//! input refused before any database is opened run on SQLite only, since the backend plays no
//! part in them.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{Db, Server, free_port, loopgate, run, stderr, stdout};
use loopgate_store::testing::{TestSchema, postgres_url};
use serde_json::{Value, json};
use tempfile::TempDir;

const BOOTSTRAP_KEY: &str = "lg_cli_test_bootstrap_admin_0123456789";

/// Runs each scenario on both backends: `<name>::sqlite` and `<name>::postgres`.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(&super::Fixture::sqlite()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                match super::Fixture::postgres().await {
                    Some(f) => super::$name(&f).await,
                    None => eprintln!("skipped on PostgreSQL: set LOOPGATE_TEST_POSTGRES_URL to run it"),
                }
            }
        }
    )+};
}

/// A scratch directory and an empty database: an SQLite data directory in it, or a fresh schema
/// of the PostgreSQL test database.
struct Fixture {
    tmp: TempDir,
    db: Db,
    schema: Option<TestSchema>,
}

impl Fixture {
    fn sqlite() -> Self {
        let tmp = TempDir::new().expect("tempdir");
        let db = Db::Dir(tmp.path().join("data"));
        Self {
            tmp,
            db,
            schema: None,
        }
    }

    async fn postgres() -> Option<Self> {
        let schema = TestSchema::create(&postgres_url()?).await;
        Some(Self {
            tmp: TempDir::new().expect("tempdir"),
            db: Db::Url(schema.url().to_owned()),
            schema: Some(schema),
        })
    }

    fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// `loopgate <args…>` on this database.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = loopgate(self.path());
        command.args(args).args(self.db.args());
        command
    }

    async fn server(&self, env: &[(&str, &str)]) -> Server {
        Server::start(self.path(), &self.db, env).await
    }

    /// Runs SQL straight on the database, behind Loopgate's back; returns the rows changed or
    /// the database's refusal.
    async fn execute(&self, sql: &str) -> Result<u64, String> {
        match &self.schema {
            Some(schema) => {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(schema.url())
                    .await
                    .expect("connects");
                let done = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                    .execute(&mut conn)
                    .await
                    .map(|r| r.rows_affected())
                    .map_err(|e| e.to_string());
                let _ = conn.close().await;
                done
            }
            None => {
                let db = open_db(self.data());
                db.execute_batch(sql).map_err(|e| e.to_string())?;
                Ok(db.changes())
            }
        }
    }

    /// The first column of the first row of `sql`, as text.
    async fn text(&self, sql: &str) -> String {
        match &self.schema {
            Some(schema) => {
                let pool = sqlx::PgPool::connect(schema.url()).await.expect("connects");
                let found: String = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
                    .fetch_one(&pool)
                    .await
                    .expect("a row");
                pool.close().await;
                found
            }
            None => open_db(self.data())
                .query_row(sql, [], |r| r.get(0))
                .expect("a row"),
        }
    }

    /// Lifts the append-only guard on the audit log, as someone with direct access to the
    /// database could: `update` or `delete`.
    async fn lift_guard(&self, what: &str) {
        let sql = match self.schema {
            Some(_) => format!("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_{what}"),
            None => format!("DROP TRIGGER audit_log_no_{what}"),
        };
        self.execute(&sql).await.expect("the guard is lifted");
    }

    fn data(&self) -> &Path {
        match &self.db {
            Db::Dir(dir) => dir,
            Db::Url(_) => panic!("no data directory on PostgreSQL"),
        }
    }
}

/// `loopgate keys create …` on `db`; returns the printed secret.
fn create_key(tmp: &Path, db: &Db, args: &[&str]) -> String {
    let output = run(loopgate(tmp)
        .args(["keys", "create"])
        .args(db.args())
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

/// Runs a journey through a server over the fixture's database: a policy, keys, three
/// submissions, a claim and a decision. Returns the number of audit entries the API reports,
/// after stopping the server.
async fn journey(f: &Fixture) -> i64 {
    let server = f
        .server(&[("LOOPGATE_BOOTSTRAP_ADMIN_KEY", BOOTSTRAP_KEY)])
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

fn open_db(data: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(data.join("loopgate.db")).expect("the database opens")
}

on_both_backends!(
    a_key_made_on_the_command_line_authenticates_against_a_server_on_that_database,
    key_listings_show_prefixes_never_secrets,
    serve_registers_the_bootstrap_admin_key_on_an_empty_database,
    a_first_start_without_a_bootstrap_key_leaves_an_admin_key_for_its_owner_only,
    migrate_creates_the_schema_and_can_run_again,
    audit_verify_passes_an_untouched_log,
    the_audit_log_refuses_updates_and_deletes,
    audit_verify_names_an_altered_entry,
    audit_verify_names_a_deleted_entry,
    audit_verify_notices_entries_cut_from_the_end,
    a_key_of_another_workspace_cannot_see_this_ones_items_or_policies,
    accounts_made_on_the_command_line_store_only_an_argon2_hash,
    export_writes_one_json_line_per_item_people_decided,
);

async fn a_key_made_on_the_command_line_authenticates_against_a_server_on_that_database(
    f: &Fixture,
) {
    let key = create_key(
        f.path(),
        &f.db,
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
    let server = f.server(&[]).await;

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
    let admin_keys: Vec<PathBuf> = walk(f.path())
        .into_iter()
        .filter(|p| p.ends_with("admin.key"))
        .collect();
    assert!(
        admin_keys.is_empty(),
        "a store with keys gets no first-start admin key: {admin_keys:?}"
    );
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

async fn key_listings_show_prefixes_never_secrets(f: &Fixture) {
    let key = create_key(f.path(), &f.db, &["--role", "agent", "--name", "bot"]);

    let output = run(&mut f.command(&["keys", "list"]));

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

async fn serve_registers_the_bootstrap_admin_key_on_an_empty_database(f: &Fixture) {
    let server = f
        .server(&[("LOOPGATE_BOOTSTRAP_ADMIN_KEY", BOOTSTRAP_KEY)])
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
    assert!(walk(f.path()).iter().all(|p| !p.ends_with("admin.key")));
    drop(server);

    // Once the store has keys, another bootstrap key is not registered.
    let other = "lg_cli_test_another_bootstrap_key_987654";
    let server = f.server(&[("LOOPGATE_BOOTSTRAP_ADMIN_KEY", other)]).await;
    assert_eq!(server.get("/v1/me", other).await.0, 401);
    assert_eq!(server.get("/v1/me", BOOTSTRAP_KEY).await.0, 200);
}

async fn a_first_start_without_a_bootstrap_key_leaves_an_admin_key_for_its_owner_only(f: &Fixture) {
    let server = f.server(&[]).await;

    let keys: Vec<PathBuf> = walk(f.path())
        .into_iter()
        .filter(|p| p.ends_with("admin.key"))
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let path = &keys[0];
    let key = std::fs::read_to_string(path).expect("admin.key is written");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
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

async fn migrate_creates_the_schema_and_can_run_again(f: &Fixture) {
    for _ in 0..2 {
        let output = run(&mut f.command(&["migrate"]));
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(stdout(&output).contains("up to date"));
    }
    assert_eq!(
        f.text("SELECT CAST(COUNT(*) AS TEXT) FROM audit_log").await,
        "0"
    );
    if let Db::Dir(data) = &f.db {
        assert!(data.join("loopgate.db").exists());
    }
}

async fn audit_verify_passes_an_untouched_log(f: &Fixture) {
    let entries = journey(f).await;

    let output = run(&mut f.command(&["audit", "verify"]));

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

async fn the_audit_log_refuses_updates_and_deletes(f: &Fixture) {
    journey(f).await;

    let update = f
        .execute("UPDATE audit_log SET actor_name = 'mallory' WHERE seq = 3")
        .await;
    let delete = f.execute("DELETE FROM audit_log WHERE seq = 3").await;

    assert!(
        update
            .expect_err("updates are refused")
            .contains("append-only"),
        "updates are refused as append-only"
    );
    assert!(
        delete
            .expect_err("deletes are refused")
            .contains("append-only"),
        "deletes are refused as append-only"
    );
    if f.schema.is_some() {
        let truncate = f.execute("TRUNCATE audit_log").await;
        assert!(
            truncate
                .expect_err("truncation is refused")
                .contains("append-only")
        );
    }
    assert!(run(&mut f.command(&["audit", "verify"])).status.success());
}

async fn audit_verify_names_an_altered_entry(f: &Fixture) {
    let entries = journey(f).await;
    let altered = entries - 2;
    // What an attacker with access to the database can do: lift the guard, then rewrite history.
    f.lift_guard("update").await;
    let changed = f
        .execute(&format!(
            "UPDATE audit_log SET actor_name = 'mallory' WHERE seq = {altered}"
        ))
        .await
        .expect("update");
    assert_eq!(changed, 1);

    let output = run(&mut f.command(&["audit", "verify"]));

    assert_eq!(output.status.code(), Some(1));
    let report = stdout(&output);
    assert!(
        report.contains(&format!("entry {altered} was altered")),
        "{report}"
    );

    // The server reports the same break over HTTP.
    let server = f.server(&[]).await;
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

async fn audit_verify_names_a_deleted_entry(f: &Fixture) {
    let entries = journey(f).await;
    let removed = entries / 2;
    f.lift_guard("delete").await;
    assert_eq!(
        f.execute(&format!("DELETE FROM audit_log WHERE seq = {removed}"))
            .await
            .expect("delete"),
        1
    );

    let output = run(&mut f.command(&["audit", "verify"]));

    assert_eq!(output.status.code(), Some(1));
    let report = stdout(&output);
    assert!(
        report.contains(&format!("entry {removed} is missing")),
        "{report}"
    );
}

async fn audit_verify_notices_entries_cut_from_the_end(f: &Fixture) {
    let entries = journey(f).await;
    f.lift_guard("delete").await;
    assert_eq!(
        f.execute(&format!("DELETE FROM audit_log WHERE seq = {entries}"))
            .await
            .expect("delete"),
        1
    );

    let output = run(&mut f.command(&["audit", "verify"]));

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

async fn a_key_of_another_workspace_cannot_see_this_ones_items_or_policies(f: &Fixture) {
    journey(f).await;
    let outsider = create_key(
        f.path(),
        &f.db,
        &[
            "--role",
            "admin",
            "--name",
            "other-admin",
            "--workspace",
            "other",
        ],
    );
    let server = f.server(&[]).await;
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

/// Runs `loopgate users create` on `db` with `password` on standard input.
fn create_user(tmp: &Path, db: &Db, args: &[&str], password: &str) -> Output {
    use std::io::Write;
    let mut child = loopgate(tmp)
        .args(["users", "create"])
        .args(db.args())
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

async fn accounts_made_on_the_command_line_store_only_an_argon2_hash(f: &Fixture) {
    let password = "a-long-enough-password";
    let output = create_user(
        f.path(),
        &f.db,
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

    let hash = f
        .text("SELECT w.hash FROM passwords w JOIN principals p ON p.id = w.principal_id WHERE p.name = 'ana'")
        .await;
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(password));
    assert!(loopgate_server::web::session::verify_password(
        password, &hash
    ));
    let roles = f
        .text("SELECT reviewer_roles FROM principals WHERE name = 'ana'")
        .await;
    assert_eq!(roles, r#"["triage","quality"]"#);
}

#[test]
fn weak_passwords_and_agent_accounts_are_refused() {
    let tmp = TempDir::new().unwrap();
    let data = tmp.path().join("data");
    let short = create_user(
        tmp.path(),
        &Db::Dir(data.clone()),
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
        &Db::Dir(data.clone()),
        &["--name", "bot", "--role", "agent"],
        "a-long-enough-password",
    );
    assert!(!agent.status.success());
    assert!(stderr(&agent).contains("API key"), "{}", stderr(&agent));
}

async fn export_writes_one_json_line_per_item_people_decided(f: &Fixture) {
    journey(f).await;
    let out = f.path().join("train.jsonl");
    let output = run(f.command(&["export"]).arg("--out").arg(&out));
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
    let later = run(&mut f.command(&["export", "--since", "2999-01-01T00:00:00Z"]));
    assert!(later.status.success());
    assert!(stdout(&later).is_empty());
}
