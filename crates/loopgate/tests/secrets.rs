//! API keys and passwords never show up where they could leak: not in the server's log (at debug
//! level), not in any response, not in the audit log, and not anywhere in the database files,
//! which hold only hashes. Exercised with the bootstrap key, keys made and revoked over the API,
//! a made-up key, a malformed header, and right and wrong passwords at the sign-in page.

mod common;

use std::path::Path;
use std::process::Stdio;

use common::{Server, loopgate, stderr};
use serde_json::{Value, json};

const ADMIN: &str = "lg_secrets_test_bootstrap_admin_key_98765";
const PASSWORD: &str = "correct-horse-battery-staple-42";
const WRONG_PASSWORD: &str = "incorrect-donkey-battery-staple-17";
const MADE_UP_KEY: &str = "lg_0000made_up_but_plausible_key_31337";

/// Every byte under `dir`, file by file.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push((
                path.display().to_string(),
                std::fs::read(&path).expect("read"),
            ));
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// The sign-in form's CSRF cookie and token.
async fn login_form(server: &Server) -> (String, String) {
    let page = server
        .client
        .get(format!("{}/login", server.base))
        .send()
        .await
        .expect("login page");
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("lg_login_csrf="))
        .expect("CSRF cookie")
        .split(';')
        .next()
        .expect("name=value")
        .to_owned();
    let html = page.text().await.expect("HTML");
    let token = html
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("CSRF token in the form")
        .to_owned();
    (cookie, token)
}

async fn sign_in(server: &Server, password: &str) -> (u16, String) {
    let (cookie, token) = login_form(server).await;
    let no_redirects = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let response = no_redirects
        .post(format!("{}/login", server.base))
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("csrf", &token)
                .append_pair("name", "ana")
                .append_pair("password", password)
                .append_pair("workspace", "default")
                .finish(),
        )
        .send()
        .await
        .expect("sign-in answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_passwords_never_reach_logs_responses_or_the_database() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");

    // A person's account, its password on standard input.
    let mut child = loopgate(tmp.path())
        .args([
            "users", "create", "--name", "ana", "--role", "lead", "--data",
        ])
        .arg(&data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("loopgate starts");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "{PASSWORD}").expect("password written");
    }
    let created = child.wait_with_output().expect("users create finishes");
    assert!(created.status.success(), "{}", stderr(&created));
    let mut seen = String::from_utf8_lossy(&created.stdout).into_owned();
    seen.push_str(&stderr(&created));

    let server = Server::start(
        tmp.path(),
        &data,
        &[
            ("LOOPGATE_BOOTSTRAP_ADMIN_KEY", ADMIN),
            ("RUST_LOG", "debug"),
        ],
    )
    .await;
    let mut answer = |status: u16, body: &Value| {
        seen.push_str(&body.to_string());
        status
    };

    // Keys made over the API: their secrets are in the creating response only.
    let (status, agent) = server
        .post("/v1/keys", ADMIN, json!({"name": "bot", "role": "agent"}))
        .await;
    assert_eq!(status, 201, "{agent}");
    let agent_key = agent["key"].as_str().expect("secret").to_owned();
    let (status, reviewer) = server
        .post(
            "/v1/keys",
            ADMIN,
            json!({"name": "rita", "role": "reviewer", "reviewer_roles": ["triage"]}),
        )
        .await;
    assert_eq!(status, 201, "{reviewer}");
    let reviewer_key = reviewer["key"].as_str().expect("secret").to_owned();
    let reviewer_id = reviewer["id"].as_str().expect("id").to_owned();

    let (status, body) = server
        .post(
            "/v1/policies",
            ADMIN,
            json!({"name": "reply.draft", "kind": "reply",
                   "thresholds": {"approve_at": 0.99, "reject_below": 0.01}}),
        )
        .await;
    assert_eq!(answer(status, &body), 201, "{body}");
    let submission = json!({
        "policy": "reply.draft",
        "input": {"text": "Where is my refund?"},
        "customer": {"id": "acme"},
        "proposal": {"kind": "reply", "payload": {"text": "Soon."}, "confidence": 0.5}
    });
    let (status, body) = server.post("/v1/items", &agent_key, submission).await;
    assert_eq!(answer(status, &body), 201, "{body}");
    let (status, body) = server
        .post("/v1/reviews/claim", &reviewer_key, json!({}))
        .await;
    assert_eq!(answer(status, &body), 200, "{body}");
    let (status, body) = server.get("/v1/keys", ADMIN).await;
    assert_eq!(answer(status, &body), 200, "{body}");
    let (status, body) = server
        .request(
            reqwest::Method::DELETE,
            &format!("/v1/keys/{reviewer_id}"),
            ADMIN,
            None,
        )
        .await;
    assert!(answer(status, &body) < 300, "{body}");

    // Refused keys: revoked, made up, and in a malformed header.
    let (status, body) = server.get("/v1/me", &reviewer_key).await;
    assert_eq!(answer(status, &body), 401, "{body}");
    let (status, body) = server.get("/v1/me", MADE_UP_KEY).await;
    assert_eq!(answer(status, &body), 401, "{body}");
    let malformed = server
        .client
        .get(format!("{}/v1/me", server.base))
        .header("authorization", format!("Token {MADE_UP_KEY}"))
        .send()
        .await
        .expect("answers");
    assert_eq!(malformed.status(), 401);
    seen.push_str(&malformed.text().await.expect("body"));

    // Passwords at the sign-in page, wrong then right.
    let (status, page) = sign_in(&server, WRONG_PASSWORD).await;
    assert_eq!(status, 200, "the form again, with an error");
    seen.push_str(&page);
    let (status, page) = sign_in(&server, PASSWORD).await;
    assert_eq!(status, 303, "signed in: {page}");
    seen.push_str(&page);

    let log = server.log();
    drop(server);
    assert!(log.contains("DEBUG"), "debug logging was on: {log}");

    // A minted key is listed by its first characters, which are random; the chosen bootstrap
    // key by a fingerprint: its first characters would be half of it.
    let secrets = [
        ("the bootstrap admin key", ADMIN),
        ("the start of the bootstrap admin key", &ADMIN[..11]),
        ("an agent key", agent_key.as_str()),
        ("a revoked key", reviewer_key.as_str()),
        ("a made-up key", MADE_UP_KEY),
        ("a password", PASSWORD),
        ("a wrong password", WRONG_PASSWORD),
    ];
    for (what, secret) in secrets {
        assert!(!log.contains(secret), "{what} is in the server log");
        for (path, bytes) in files(&data) {
            assert!(!contains(&bytes, secret), "{what} is stored in {path}");
        }
    }
    // Responses: only the key-creating answers carry a secret, each its own.
    for (what, secret) in [
        ("the bootstrap admin key", ADMIN),
        ("the start of the bootstrap admin key", &ADMIN[..11]),
        ("a revoked key", reviewer_key.as_str()),
        ("a made-up key", MADE_UP_KEY),
        ("a password", PASSWORD),
        ("a wrong password", WRONG_PASSWORD),
    ] {
        assert!(!seen.contains(secret), "{what} came back in a response");
    }
}
