//! Shared helpers for the tests that run the `loopgate` binary: the command with a clean
//! environment, a `loopgate serve` process on a free port (killed when dropped) that is ready when
//! `start` returns, the database it runs on (an SQLite data directory or a PostgreSQL URL), and a
//! throwaway PostgreSQL cluster a test may stop and start at will.

// Each test crate compiles this module on its own and uses a subset of it.
#![allow(dead_code)]

use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

/// The binary, with no `LOOPGATE_*` settings inherited from the environment, run in `cwd` so a
/// default data directory could never land in the repository.
pub fn loopgate(cwd: &Path) -> Command {
    configured(Command::new(env!("CARGO_BIN_EXE_loopgate")), cwd)
}

/// As [`loopgate`], started by `sh` with its soft limit of open files lowered to `limit` first,
/// as a service manager's default may leave it.
pub fn loopgate_with_open_files(cwd: &Path, limit: u64) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("ulimit -Sn {limit} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_loopgate"));
    configured(command, cwd)
}

/// `command` run in `cwd`, with no `LOOPGATE_*` settings inherited from the environment.
pub fn configured(mut command: Command, cwd: &Path) -> Command {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("LOOPGATE_") {
            command.env_remove(name);
        }
    }
    command.current_dir(cwd).env("RUST_LOG", "warn");
    command
}

/// Runs a command to completion.
pub fn run(command: &mut Command) -> Output {
    command.output().expect("the binary runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Where a command's database is.
#[derive(Debug, Clone)]
pub enum Db {
    /// The embedded SQLite database in this data directory (`--data`).
    Dir(PathBuf),
    /// A PostgreSQL database (`--database`).
    Url(String),
}

impl Db {
    /// The command-line arguments naming it.
    pub fn args(&self) -> Vec<OsString> {
        match self {
            Db::Dir(dir) => vec!["--data".into(), dir.into()],
            Db::Url(url) => vec!["--database".into(), url.into()],
        }
    }
}

impl From<&PathBuf> for Db {
    fn from(dir: &PathBuf) -> Self {
        Db::Dir(dir.clone())
    }
}

impl From<&Db> for Db {
    fn from(db: &Db) -> Self {
        db.clone()
    }
}

/// Asserts that `loopgate audit verify` finds every chain in the data directory `data` intact.
pub fn assert_audit_intact(tmp: &Path, data: &Path) {
    let output = run(loopgate(tmp).args(["audit", "verify", "--data"]).arg(data));
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(
        stdout(&output).contains("chain intact"),
        "{}",
        stdout(&output)
    );
}

/// What became of a `loopgate serve`.
pub enum Started {
    /// It answers `/healthz`.
    Ready(Server),
    /// It exited first, with this status, having logged this.
    Exited(ExitStatus, String),
}

impl Started {
    /// The server, which must have started.
    #[track_caller]
    pub fn expect_ready(self) -> Server {
        match self {
            Started::Ready(server) => server,
            Started::Exited(status, log) => panic!("serve exited with {status}: {log}"),
        }
    }
}

/// A tmpfs mounted over a directory (which needs root), unmounted when dropped.
pub struct Tmpfs {
    mount: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` with further `options` (e.g. `,ro`); `None` when that is not
    /// allowed.
    pub fn mount(at: &Path, size: &str, options: &str) -> Option<Self> {
        std::fs::create_dir_all(at).expect("mount point");
        let mounted = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}{options}"),
                "tmpfs",
            ])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        mounted.then(|| Self {
            mount: at.to_owned(),
        })
    }

    /// Makes the file system read-only (`ro`) or writable again (`rw`), keeping its files.
    pub fn remount(&self, mode: &str) {
        let output = run(Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&self.mount));
        assert!(
            output.status.success(),
            "remount {mode}: {}",
            stderr(&output)
        );
    }

    /// Writes a ballast file until the disk is full.
    pub fn fill(&self) {
        let mut ballast = File::create(self.mount.join("ballast")).expect("ballast");
        let chunk = vec![0u8; 16 * 1024];
        while ballast
            .write_all(&chunk)
            .and_then(|()| ballast.sync_all())
            .is_ok()
        {}
    }

    /// Removes the ballast.
    pub fn free(&self) {
        std::fs::remove_file(self.mount.join("ballast")).expect("ballast removed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
    }
}

/// A `loopgate serve` process, killed when dropped.
pub struct Server {
    child: Child,
    pub base: String,
    log: PathBuf,
    pub client: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `loopgate serve` over `db` with `env`, and waits until `/healthz` answers.
    pub async fn start(tmp: &Path, db: impl Into<Db>, env: &[(&str, &str)]) -> Self {
        Self::try_start(tmp, db, env).await.expect_ready()
    }

    /// Starts `loopgate serve` over `db` with `env`, and waits until it either answers
    /// `/healthz` or exits.
    pub async fn try_start(tmp: &Path, db: impl Into<Db>, env: &[(&str, &str)]) -> Started {
        Self::try_start_as(loopgate(tmp), tmp, db, env).await
    }

    /// As [`Server::start`], with the process's soft limit of open files lowered to `limit`.
    pub async fn start_with_open_files(tmp: &Path, db: impl Into<Db>, limit: u64) -> Self {
        Self::try_start_as(loopgate_with_open_files(tmp, limit), tmp, db, &[])
            .await
            .expect_ready()
    }

    async fn try_start_as(
        mut command: Command,
        tmp: &Path,
        db: impl Into<Db>,
        env: &[(&str, &str)],
    ) -> Started {
        let db = db.into();
        let port = free_port();
        let log = tmp.join(format!("serve-{port}.log"));
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(db.args())
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("log file"));
        if let Db::Url(_) = db {
            // The first-start admin key (when no bootstrap key is given) goes here.
            command.arg("--data").arg(tmp.join(format!("data-{port}")));
        }
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().expect("serve starts");
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(90))
            .build()
            .expect("client");
        let mut server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            client,
        };
        match server.wait_until_ready().await {
            Some(status) => Started::Exited(status, server.log()),
            None => Started::Ready(server),
        }
    }

    /// Readiness polling: a bounded number of attempts; the exit status if the process exits
    /// first.
    async fn wait_until_ready(&mut self) -> Option<ExitStatus> {
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().expect("process status") {
                return Some(status);
            }
            let health = self
                .client
                .get(format!("{}/healthz", self.base))
                .send()
                .await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("serve did not become ready: {}", self.log());
    }

    /// Stops the server with SIGTERM, as an operator or a service manager does, and asserts that
    /// it shuts down cleanly.
    pub async fn stop(mut self) {
        let signalled = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(signalled.success(), "SIGTERM not delivered");
        let mut status = None;
        for _ in 0..1_200 {
            status = self.child.try_wait().expect("process status");
            if status.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let log = self.log();
        let status = status.unwrap_or_else(|| panic!("serve did not stop on SIGTERM: {log}"));
        assert!(status.success(), "serve stopped with {status}: {log}");
        assert!(!log.contains("panicked"), "{log}");
    }

    /// Kills the process with SIGKILL, as a crash or the OOM killer would: no shutdown code
    /// runs.
    pub fn kill_9(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("the process is reaped");
    }

    /// What the server logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn request(
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

    pub async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        self.request(reqwest::Method::GET, path, key, None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        self.request(reqwest::Method::POST, path, key, Some(body))
            .await
    }

    /// Creates a key with `admin` (`body` as `POST /v1/keys` takes it) and returns its secret.
    pub async fn create_key(&self, admin: &str, body: Value) -> String {
        let (status, created) = self.post("/v1/keys", admin, body).await;
        assert_eq!(status, 201, "{created}");
        created["key"].as_str().expect("a key").to_owned()
    }

    /// Creates, with `admin`, a `reply.draft` policy that automates only the near-certain
    /// (approve at 0.99, reject below 0.01) and an agent key `bot`; returns the agent's secret.
    pub async fn reply_policy_and_agent(&self, admin: &str) -> String {
        let (status, body) = self
            .post(
                "/v1/policies",
                admin,
                serde_json::json!({"name": "reply.draft", "kind": "reply",
                       "thresholds": {"approve_at": 0.99, "reject_below": 0.01}}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        self.create_key(admin, serde_json::json!({"name": "bot", "role": "agent"}))
            .await
    }
}

/// Whether this process runs as root (PostgreSQL's tools refuse to, so they run as `postgres`).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A PostgreSQL cluster of the test's own, in a temporary directory on a free port, with trust
/// authentication. Stopped and removed when dropped. Never the machine's shared server.
pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

impl Cluster {
    /// The PostgreSQL server programs: `LOOPGATE_TEST_PG_BIN`, or the newest under
    /// `/usr/lib/postgresql/*/bin`.
    fn bin() -> PathBuf {
        if let Ok(dir) = std::env::var("LOOPGATE_TEST_PG_BIN") {
            return PathBuf::from(dir);
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's server programs are installed under /usr/lib/postgresql")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("initdb").is_file())
            .collect();
        found.sort();
        found
            .pop()
            .expect("initdb is installed under /usr/lib/postgresql/*/bin")
    }

    /// Runs a PostgreSQL tool, as `postgres` when we are root.
    fn tool(&self, name: &str, args: &[&str]) -> Output {
        let program = self.bin.join(name);
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        command
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// Creates the cluster and starts it.
    pub fn start_new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        if is_root() {
            let owned = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown runs");
            assert!(
                owned.success(),
                "cannot hand the cluster's directory to postgres"
            );
        }
        let cluster = Self {
            dir,
            bin: Self::bin(),
            port: free_port(),
        };
        let data = cluster.data();
        let init = cluster.tool(
            "initdb",
            &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"],
        );
        assert!(init.status.success(), "initdb failed: {}", stderr(&init));
        cluster.start();
        cluster
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        let started = self.tool(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "start",
            ],
        );
        assert!(
            started.status.success(),
            "pg_ctl start failed: {}{}",
            stdout(&started),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stops the server (fast: open connections are cut, as in a crash or restart) and waits
    /// until it is down.
    pub fn stop(&self) {
        let stopped = self.tool("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
        assert!(
            stopped.status.success(),
            "pg_ctl stop failed: {}",
            stderr(&stopped)
        );
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.tool(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }
}
