//! Connections as the operating system sees them: a client that never finishes its request's
//! headers, stalls its body, or leaves its connection idle is disconnected after the client
//! timeout; a shutdown answers the requests that wait (long-polls, the live event stream) instead
//! of hanging on them.

mod common;

use std::time::Duration as StdDuration;

use chrono::Duration;
use common::{TestApp, id, submission};
use loopgate_core::audit::AuditActor;
use loopgate_core::{AccessRole, Role, WorkspaceId};
use loopgate_server::Settings;
use loopgate_server::web::session::{SESSION_COOKIE, secret_hash};
use loopgate_store::{NewAccount, NewSession};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Reads until the server closes the connection; panics if it is still open after a bound far
/// above the client timeout (then the server would hold it forever).
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(StdDuration::from_secs(20), stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection")
        .expect("the connection reads cleanly");
    String::from_utf8_lossy(&answer).into_owned()
}

/// Sends a submit whose body stops a fifth of the way in, and asserts that it is answered
/// `408 request_timeout`, the connection closed, and nothing stored.
async fn assert_stalled_submit_is_refused(app: &TestApp) {
    let address = app.base.trim_start_matches("http://");
    let mut stalled = TcpStream::connect(address).await.expect("connects");
    let head = format!(
        "POST /v1/items HTTP/1.1\r\nHost: loopgate\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{{\"policy\": \"reply.draft\"",
        app.admin
    );
    stalled.write_all(head.as_bytes()).await.expect("writes");
    let answer = read_until_closed(&mut stalled).await;
    assert!(
        answer.starts_with("HTTP/1.1 408 ") && answer.contains(r#""code":"request_timeout""#),
        "a stalled body is answered 408 request_timeout: {answer}"
    );
    let items = app.get("/v1/items", &app.admin).await;
    assert_eq!(items.expect(200)["items"], json!([]), "nothing was stored");
}

#[tokio::test]
async fn slow_stalled_and_idle_connections_are_closed_after_the_client_timeout() {
    let app = with_one_second_client_timeout().await;
    let address = app.base.trim_start_matches("http://").to_owned();

    // Slowloris: headers begun and never finished.
    let mut slow = TcpStream::connect(&address).await.expect("connects");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: loopgate\r\nX-Slow: 1")
        .await
        .expect("writes");
    let answer = read_until_closed(&mut slow).await;
    assert!(
        !answer.contains(" 200 "),
        "an unfinished request was answered: {answer}"
    );

    // Keep-alive: one request answered, then nothing more.
    let mut idle = TcpStream::connect(&address).await.expect("connects");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: loopgate\r\n\r\n")
        .await
        .expect("writes");
    let answer = read_until_closed(&mut idle).await;
    assert!(
        answer.starts_with("HTTP/1.1 200 "),
        "the request before the idle spell is answered: {answer}"
    );

    // A body announced and stalled half-way: answered 408, and nothing is stored.
    app.put_policy(json!({})).await;
    assert_stalled_submit_is_refused(&app).await;

    // A web form stalled half-way: the workspace's error page, 408.
    let mut form = TcpStream::connect(&address).await.expect("connects");
    form.write_all(
        b"POST /login HTTP/1.1\r\nHost: loopgate\r\n\
          Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\nname=rita",
    )
    .await
    .expect("writes");
    let answer = read_until_closed(&mut form).await;
    assert!(
        answer.starts_with("HTTP/1.1 408 ") && answer.contains("The form did not arrive"),
        "a stalled form is answered with the 408 page: {answer}"
    );

    // A silent connection: opened and never written to.
    let mut silent = TcpStream::connect(&address).await.expect("connects");
    assert_eq!(read_until_closed(&mut silent).await, "");

    // The server goes on serving prompt clients.
    app.get("/healthz", &app.admin).await.expect(200);
}

/// A client that asks for answers and reads none of them is disconnected once the server's
/// writes have made no progress for the client timeout, rather than holding the connection, its
/// queued answers and their buffers for as long as it likes.
#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected_after_the_client_timeout() {
    let app = with_one_second_client_timeout().await;
    let document = openapi_len(&app).await;
    let mut open = app.state.open_connections();
    let open_are = async |open: &mut tokio::sync::watch::Receiver<usize>, n: usize, why: &str| {
        tokio::time::timeout(StdDuration::from_secs(20), open.wait_for(|open| *open == n))
            .await
            .unwrap_or_else(|_| panic!("{why}"))
            .expect("the server's state lives");
    };
    open_are(&mut open, 0, "the idle client connection is closed").await;

    let mut reader = connect_with_receive_buffer(&app, 4096).await;
    // Far more than the kernel buffers both ends can hold.
    let requests = 400;
    let ask = ASK_OPENAPI.repeat(requests);
    reader.write_all(ask.as_bytes()).await.expect("writes");
    open_are(&mut open, 1, "the connection is taken").await;
    open_are(&mut open, 0, "a connection that reads nothing is closed").await;

    // What the kernel had taken before the server gave up still arrives; the rest never does.
    let mut answer = Vec::new();
    let read = tokio::time::timeout(StdDuration::from_secs(20), async {
        // The end may come as a reset (the server dropped what it could not send): that ends it
        // as well.
        let _ = reader.read_to_end(&mut answer).await;
    });
    read.await.expect("the closed connection reads to its end");
    assert!(
        answer.starts_with(b"HTTP/1.1 200 "),
        "the answers are begun: {:?}",
        String::from_utf8_lossy(&answer[..answer.len().min(200)])
    );
    assert!(
        answer.len() < requests * document,
        "the answers stop short: {} bytes of at least {}",
        answer.len(),
        requests * document
    );

    // The server goes on serving prompt clients.
    app.get("/healthz", &app.admin).await.expect(200);
}

/// A slow reader that keeps taking some of a long answer gets all of it: the write timeout ends
/// only clients that take nothing, however far the kernel has grown the send buffer.
#[tokio::test]
async fn a_slow_reader_that_keeps_reading_gets_the_whole_answer() {
    let app = with_one_second_client_timeout().await;
    let document = openapi_len(&app).await;

    let mut reader = connect_with_receive_buffer(&app, 64 * 1024).await;
    // About 6 MB: more than the server's send buffer grows to (4 MiB at most).
    let requests = 75;
    let ask = ASK_OPENAPI.repeat(requests - 1)
        + "GET /v1/openapi.json HTTP/1.1\r\nHost: loopgate\r\nConnection: close\r\n\r\n";
    reader.write_all(ask.as_bytes()).await.expect("writes");

    // 32 KiB every 50 ms, about 640 KB/s: far slower than the server writes.
    let mut answer = Vec::new();
    let mut chunk = vec![0; 32 * 1024];
    let mut pace = tokio::time::interval(StdDuration::from_millis(50));
    tokio::time::timeout(StdDuration::from_secs(120), async {
        loop {
            pace.tick().await;
            match reader.read(&mut chunk).await {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
                Err(e) => panic!(
                    "the slow reader was cut off after {} bytes: {e}",
                    answer.len()
                ),
            }
        }
    })
    .await
    .expect("the answers end");
    let answered = String::from_utf8_lossy(&answer)
        .matches("HTTP/1.1 200 ")
        .count();
    assert_eq!(
        (answered, answer.len() >= requests * document),
        (requests, true),
        "every answer arrives whole: {} bytes",
        answer.len()
    );
}

/// The length of the OpenAPI document the server answers.
async fn openapi_len(app: &TestApp) -> usize {
    app.client
        .get(format!("{}/v1/openapi.json", app.base))
        .send()
        .await
        .expect("the OpenAPI document is served")
        .bytes()
        .await
        .expect("the document reads whole")
        .len()
}

/// A request for the OpenAPI document (82 KB), to pipeline.
const ASK_OPENAPI: &str = "GET /v1/openapi.json HTTP/1.1\r\nHost: loopgate\r\n\r\n";

/// A server whose client timeout is one second.
async fn with_one_second_client_timeout() -> TestApp {
    TestApp::spawn_with(Settings {
        client_timeout: StdDuration::from_secs(1),
        ..Settings::default()
    })
    .await
}

/// A connection to the server whose receive buffer holds `bytes`, so that the client's side
/// fills as soon as it stops reading.
async fn connect_with_receive_buffer(app: &TestApp, bytes: u32) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket.set_recv_buffer_size(bytes).expect("sets the buffer");
    let address = app
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("an address");
    socket.connect(address).await.expect("connects")
}

/// A body must arrive whole within the body deadline, however it trickles: with a client timeout
/// longer than the wait below, only the deadline can end this one.
#[tokio::test]
async fn a_body_late_past_its_deadline_is_refused_and_nothing_is_stored() {
    let app = TestApp::spawn_with(Settings {
        client_timeout: StdDuration::from_secs(60),
        body_deadline: StdDuration::from_secs(1),
        ..Settings::default()
    })
    .await;
    app.put_policy(json!({})).await;
    assert_stalled_submit_is_refused(&app).await;
}

/// The client timeout bounds silence from the client, not the server's own wait: a long-poll
/// longer than the timeout is answered at the end of its wait.
#[tokio::test]
async fn a_long_poll_outlasts_the_client_timeout() {
    let app = with_one_second_client_timeout().await;
    app.put_policy(json!({})).await;
    let queued = app.submit(&app.admin, submission(0.5, json!({}))).await;
    let poll = app
        .get(&format!("/v1/items/{}?wait=3", id(&queued)), &app.admin)
        .await;
    assert_eq!(poll.expect(200)["status"], "queued");
}

/// A reviewer's session for the web workspace, made in the store as signing in makes it.
async fn reviewer_cookie(app: &TestApp) -> String {
    let store = app.state.store();
    let reviewer = store
        .set_account(
            NewAccount {
                workspace: WorkspaceId::default_workspace(),
                name: "rita".into(),
                access: AccessRole::Reviewer,
                reviewer_roles: vec![Role::Triage],
                password_hash: "unused: the session is made directly".into(),
            },
            AuditActor::system("test"),
            app.now(),
        )
        .await
        .expect("the account is made");
    let secret = "a session secret for the shutdown test";
    store
        .create_session(NewSession {
            secret_hash: secret_hash(secret),
            principal: reviewer.id,
            csrf_token: "csrf".into(),
            created_at: app.now(),
            expires_at: app.now() + Duration::hours(1),
        })
        .await
        .expect("the session is made");
    format!("{SESSION_COOKIE}={secret}")
}

#[tokio::test]
async fn a_shutdown_answers_long_polls_and_ends_event_streams() {
    let mut app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let queued = app.submit(&app.admin, submission(0.5, json!({}))).await;
    assert_eq!(queued["status"], "queued");
    let item = id(&queued).to_owned();

    // An agent waits up to a minute for the verdict.
    let poll = tokio::spawn({
        let request = app
            .client
            .get(format!("{}/v1/items/{item}?wait=60", app.base))
            .bearer_auth(&app.admin);
        async move {
            let response = request.send().await.expect("the long-poll is answered");
            let status = response.status().as_u16();
            let body: Value = response.json().await.expect("a JSON item");
            (status, body)
        }
    });
    app.wait_for_watchers(1).await;

    // A reviewer has the live queue open.
    let events = app
        .client
        .get(format!("{}/events", app.base))
        .header("cookie", reviewer_cookie(&app).await)
        .send()
        .await
        .expect("the event stream opens");
    assert_eq!(events.status().as_u16(), 200);
    assert!(
        events
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/event-stream"))
    );

    app.shut_down().await;

    let (status, body) = tokio::time::timeout(StdDuration::from_secs(20), poll)
        .await
        .expect("the long-poll is answered at the shutdown, not at the end of its minute")
        .expect("the long-poll task ends");
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["id"], item.as_str());
    assert_eq!(body["status"], "queued", "the item as it is: {body:#}");

    let rest = tokio::time::timeout(StdDuration::from_secs(20), events.text())
        .await
        .expect("the event stream ends at the shutdown")
        .expect("the event stream ends cleanly");
    assert!(
        !rest.contains("event: changed"),
        "nothing changed while the stream was open: {rest}"
    );
}
