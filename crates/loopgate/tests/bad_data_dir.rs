//! Starting on a data directory that already holds a database with items, on a disk that has
//! since gone bad. On a read-only disk `serve` refuses to start, with an error that names the
//! directory and says it cannot be written. On a full disk it starts, serves reads and refuses
//! writes with 507 `storage_full` (never another 5xx) once its files have no room left. Either way
//! nothing stored before is lost or altered: once the disk is fixed, the same directory serves
//! every acknowledged item as it was and `loopgate audit verify` finds the chain intact. And a
//! read-only data directory with no database yet is a clear error for every command.
//!
//! The disks are tmpfs mounted for the test, which needs root (CI runs as root); elsewhere the
//! tests that need one say so and pass (the empty read-only directory then lacks write permission
//! instead).

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};

use common::{Server, Started, Tmpfs, assert_audit_intact, loopgate, run, stderr, stdout};
use serde_json::{Value, json};

const ADMIN: &str = "lg_bad_data_dir_test_bootstrap_admin_key_0123";

/// Starts `loopgate serve` on `data` with the bootstrap admin key.
async fn try_serve(tmp: &Path, data: &PathBuf) -> Started {
    Server::try_start(tmp, data, &[("LOOPGATE_BOOTSTRAP_ADMIN_KEY", ADMIN)]).await
}

/// Starts `loopgate serve` on `data`, which must succeed.
async fn serve(tmp: &Path, data: &PathBuf) -> Server {
    Server::start(tmp, data, &[("LOOPGATE_BOOTSTRAP_ADMIN_KEY", ADMIN)]).await
}

/// Submits `n` as `agent`, which must be acknowledged; returns the item as acknowledged.
async fn submit(server: &Server, agent: &str, n: usize) -> Value {
    let (status, item) = server.post("/v1/items", agent, submission(n)).await;
    assert_eq!(status, 201, "{item}");
    item
}

/// Asserts that every item in `acknowledged` is stored exactly as it was acknowledged, and that
/// nothing else is.
async fn assert_holds_exactly(server: &Server, acknowledged: &[Value]) {
    for item in acknowledged {
        let id = item["id"].as_str().expect("id");
        let (status, stored) = server.get(&format!("/v1/items/{id}"), ADMIN).await;
        assert_eq!(status, 200, "acknowledged item {id} lost: {stored}");
        assert_eq!(
            without_clock(&stored),
            without_clock(item),
            "item {id} altered"
        );
    }
    let (status, listed) = server.get("/v1/items?limit=500", ADMIN).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(
        listed["items"].as_array().expect("items").len(),
        acknowledged.len(),
        "items stored that were never acknowledged: {listed}"
    );
}

fn submission(n: usize) -> Value {
    json!({
        "policy": "reply.draft",
        "input": {"text": format!("Ticket {n}: {}", "the invoice total is wrong; ".repeat(20))},
        "customer": {"id": format!("customer-{n}")},
        "proposal": {"kind": "reply", "payload": {"text": "We are on it.".repeat(20)}, "confidence": 0.5}
    })
}

/// An item without what is computed from the clock when it is read (the time left to its SLA).
fn without_clock(item: &Value) -> Value {
    let mut item = item.clone();
    item.as_object_mut().expect("an item").remove("sla_status");
    item
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_whose_disk_became_read_only_is_refused_at_start_and_kept_intact() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let Some(disk) = Tmpfs::mount(&tmp.path().join("disk"), "8m", "") else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let data = tmp.path().join("disk/data");

    let server = serve(tmp.path(), &data).await;
    let agent = server.reply_policy_and_agent(ADMIN).await;
    let mut acknowledged = Vec::new();
    for n in 0..5 {
        acknowledged.push(submit(&server, &agent, n).await);
    }
    server.stop().await;

    disk.remount("ro");
    let read_only_start = match try_serve(tmp.path(), &data).await {
        Started::Exited(status, err) => Ok((status, err)),
        Started::Ready(server) => {
            let (ready, _) = server.get("/readyz", ADMIN).await;
            let (status, body) = server.post("/v1/items", &agent, submission(99)).await;
            Err(format!(
                "serve started on a read-only database: /readyz answered {ready}, and a submit \
                 {status} {body}; log: {}",
                server.log()
            ))
        }
    };

    // Once the disk is writable again, the same directory serves everything it held, takes
    // writes, and its audit chain is intact. Checked before the refusal above is asserted, so
    // that a server that wrongly started still has its data checked.
    disk.remount("rw");
    let server = serve(tmp.path(), &data).await;
    assert_holds_exactly(&server, &acknowledged).await;
    acknowledged.push(submit(&server, &agent, 5).await);
    assert_holds_exactly(&server, &acknowledged).await;
    server.stop().await;
    assert_audit_intact(tmp.path(), &data);

    let (status, err) = read_only_start.unwrap_or_else(|started| panic!("{started}"));
    assert!(!status.success(), "serve exited with {status}: {err}");
    let lower = err.to_lowercase();
    assert!(
        err.contains(&data.display().to_string())
            && ["read-only", "readonly", "cannot be written", "not writable"]
                .iter()
                .any(|cause| lower.contains(cause)),
        "the error names the directory and says it cannot be written: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_on_a_disk_that_filled_up_starts_serving_reads_and_refuses_writes_with_507() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let Some(disk) = Tmpfs::mount(&tmp.path().join("disk"), "6m", "") else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let data = tmp.path().join("disk/data");

    let server = serve(tmp.path(), &data).await;
    let agent = server.reply_policy_and_agent(ADMIN).await;
    let mut acknowledged = Vec::new();
    for n in 0..5 {
        acknowledged.push(submit(&server, &agent, n).await);
    }
    server.stop().await;

    // The disk fills while the server is down; it starts anyway, on the database it has.
    disk.fill();
    let server = serve(tmp.path(), &data).await;
    assert_holds_exactly(&server, &acknowledged).await;

    // Writes go on while the database's files have room inside them, then are refused whole.
    let mut refused = 0;
    for n in 100..400 {
        let response = server
            .client
            .post(format!("{}/v1/items", server.base))
            .bearer_auth(&agent)
            .json(&submission(n))
            .send()
            .await
            .expect("the server answers");
        let status = response.status().as_u16();
        let retry_after = response.headers().get("retry-after").cloned();
        let body: Value = response.json().await.expect("JSON");
        match status {
            201 => acknowledged.push(body),
            507 => {
                assert_eq!(body["error"]["code"], "storage_full", "{body}");
                assert!(retry_after.is_some(), "507 without Retry-After");
                refused += 1;
            }
            other => panic!("a submit on a full disk answered {other}: {body}"),
        }
    }
    assert!(
        refused > 0,
        "the disk never filled: {} stored",
        acknowledged.len()
    );
    // Reads still work, and the refused submits left nothing behind.
    assert_holds_exactly(&server, &acknowledged).await;

    // Space is freed and the server restarted: everything acknowledged is there, whole, writes
    // are taken, and the audit chain is intact.
    disk.free();
    server.stop().await;
    let server = serve(tmp.path(), &data).await;
    assert_holds_exactly(&server, &acknowledged).await;
    acknowledged.push(submit(&server, &agent, 1_000).await);
    assert_holds_exactly(&server, &acknowledged).await;
    server.stop().await;
    assert_audit_intact(tmp.path(), &data);
}

/// An empty data directory nothing can be created in: a read-only tmpfs as root (who ignores
/// permissions), a directory without write permission otherwise. `None` if neither works.
fn read_only_empty_dir(tmp: &Path) -> Option<(PathBuf, Option<Tmpfs>)> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tmp.join("read-only");
    std::fs::create_dir(&dir).expect("mkdir");
    let disk = Tmpfs::mount(&dir, "1m", ",ro");
    if disk.is_none() {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    }
    let writable = File::create(dir.join("probe")).is_ok();
    (!writable).then_some((dir, disk))
}

#[tokio::test]
async fn an_empty_data_directory_that_cannot_be_written_is_a_clear_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let Some((read_only, _disk)) = read_only_empty_dir(tmp.path()) else {
        eprintln!("skipped: no way to make a directory read-only here (root without mount)");
        return;
    };
    let names_it =
        |err: &str| err.contains("cannot open") && err.contains(&read_only.display().to_string());

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
        assert!(names_it(&err), "{command:?}: {err}");
        assert!(stdout(&output).is_empty(), "{command:?}");
    }
    match try_serve(tmp.path(), &read_only).await {
        Started::Exited(status, err) => {
            assert!(!status.success(), "serve exited with {status}");
            assert!(names_it(&err), "serve: {err}");
        }
        Started::Ready(server) => panic!("serve started: {}", server.log()),
    }
}
