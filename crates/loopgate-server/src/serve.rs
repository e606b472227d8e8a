//! Serving connections: HTTP/1.1 on a TCP listener, with a timeout on silent clients and a
//! shutdown that lets requests in flight finish.

use std::future::Future;
use std::io;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_io_timeout::TimeoutWriter;
use tower_http::timeout::{RequestBodyDeadline, RequestBodyTimeout};

use crate::state::AppState;

/// How long a shutdown waits for the connections' last requests before closing them anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Serves the application on `listener` until `shutdown` completes, then stops accepting,
/// ends the requests that wait (long-polls answer with the item as it is, event streams end),
/// lets every request in flight finish (for at most 30 s, then closes their connections), and
/// returns. The state is then draining for good: it serves once.
///
/// The server waits [`Settings::client_timeout`](crate::Settings::client_timeout) for each
/// request's headers, counted from when the connection opened or its previous answer went out,
/// and at most as long between the pieces of a request's body; a body must arrive whole within
/// [`Settings::body_deadline`](crate::Settings::body_deadline). A body that stalls or runs late
/// is answered `408 request_timeout`. An answer that the client takes none of for as long (its
/// receive window shut, the unsent bytes over 128 KiB) ends the connection; a slow reader that
/// takes 128 KiB or more within each timeout is served. So neither a client that sends its
/// headers a byte at a time, nor one that stops sending or trickles its body, nor one that
/// leaves its connection idle, nor one that stops reading can hold a connection (and its file
/// descriptor and its queued answers) for long. What the timeouts do not bound is the server's
/// own wait: a long-poll or the live event stream, while nothing is written.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    // The routes are readied once; every connection shares them.
    let app = crate::router(state.clone()).with_state(());
    let timeout = state.settings().client_timeout;
    let deadline = state.settings().body_deadline;
    let connections = GracefulShutdown::new();
    let mut tasks = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // Forget the connections that have closed.
        while tasks.try_join_next().is_some() {}
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // The client gave up before the connection was taken: nothing to do.
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors, say: wait for some to close rather than spin.
                    tracing::error!(error = %e, "cannot accept connections; retrying in a second");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        () = &mut shutdown => break,
                    }
                }
            },
            () = &mut shutdown => break,
        };
        // A write that makes no progress for the client timeout fails, and the connection
        // with it; hyper bounds the reads.
        keep_unsent_small(&stream);
        let mut stream = TimeoutWriter::new(stream);
        stream.set_timeout(Some(timeout));
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(timeout)
            .serve_connection(
                TokioIo::new(Box::pin(stream)),
                TowerToHyperService::new(RequestBodyTimeout::new(
                    RequestBodyDeadline::new(app.clone(), deadline),
                    timeout,
                )),
            );
        let connection = connections.watch(connection);
        let open = state.connection_opened();
        tasks.spawn(async move {
            let _open = open;
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
        });
    }
    drop(listener);
    state.begin_draining();
    if tokio::time::timeout(SHUTDOWN_GRACE, connections.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            connections = tasks.len(),
            "requests were still running {} s after the shutdown began; closing their connections",
            SHUTDOWN_GRACE.as_secs()
        );
        tasks.shutdown().await;
    }
    Ok(())
}

/// Unsent bytes the kernel may queue on a connection before a write waits.
const UNSENT_LOW_WATER: u32 = 128 * 1024;

/// Lets a write wait only while more than [`UNSENT_LOW_WATER`] bytes are still unsent
/// (`TCP_NOTSENT_LOWAT`), rather than until a third of a send buffer the kernel may have grown
/// to megabytes has drained. A slow reader then lets the answer progress every 128 KiB it takes,
/// not every megabyte or so, so the write timeout ends only clients that take nothing; and what
/// waits in the kernel for a client stays small.
fn keep_unsent_small(stream: &tokio::net::TcpStream) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Err(e) = socket2::SockRef::from(stream).set_tcp_notsent_lowat(UNSENT_LOW_WATER) {
        tracing::debug!(error = %e, "cannot bound a connection's unsent bytes");
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = stream;
}

/// Errors of one incoming connection rather than of the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
