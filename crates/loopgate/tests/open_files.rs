//! Connections beyond the soft limit of open files the server was started with: `loopgate
//! serve` raises it to the hard limit, so a service manager's default of 1,024 does not cap the
//! agents that may wait at once.

mod common;

use std::time::Duration;

use common::{Db, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Connections held open at once: more than the soft limit the server is started with.
const CONNECTIONS: usize = 300;
/// The soft limit of open files `sh` sets before it runs the server.
const SOFT_LIMIT: u64 = 128;

#[tokio::test]
async fn the_server_holds_more_connections_than_its_inherited_soft_limit_of_open_files() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let server =
        Server::start_with_open_files(tmp.path(), Db::Dir(tmp.path().join("data")), SOFT_LIMIT)
            .await;
    let address = server.base.trim_start_matches("http://").to_owned();

    let mut open = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let mut stream = TcpStream::connect(&address).await.expect("connects");
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: loopgate\r\n\r\n")
            .await
            .expect("writes");
        open.push(stream);
    }
    // Every one is answered while all of them stay open. Past the soft limit the server could
    // not accept them at all: the wait below is a bound on that hang.
    for (n, stream) in open.iter_mut().enumerate() {
        let mut answer = Vec::new();
        let mut chunk = [0u8; 512];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            let read = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut chunk))
                .await
                .unwrap_or_else(|_| panic!("connection {n} of {CONNECTIONS} was never answered"))
                .expect("reads");
            assert!(read > 0, "connection {n} was closed unanswered");
            answer.extend_from_slice(&chunk[..read]);
        }
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with("HTTP/1.1 200 "),
            "connection {n}: {answer}"
        );
    }
    drop(open);
    server.stop().await;
}
