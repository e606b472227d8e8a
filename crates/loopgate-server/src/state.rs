//! What every request handler shares: the store, the clock, the settings and the long-poll
//! watchers. Nothing here is needed for correctness across servers: all state that matters is in
//! the store.

use std::num::NonZeroU32;
use std::sync::Arc;

use chrono::Duration;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use loopgate_core::{Clock, PrincipalId};
use loopgate_store::Store;

use crate::watch::Watchers;

/// Tunable limits and defaults of the HTTP server.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Lease length for policies that set none.
    pub default_lease: Duration,
    /// Largest body of any request but a batch, in bytes.
    pub max_body_bytes: usize,
    /// Largest body of a batch submit, in bytes.
    pub max_batch_body_bytes: usize,
    /// Most items in one batch.
    pub max_batch_items: usize,
    /// Longest long-poll wait, in seconds.
    pub max_wait_seconds: u64,
    /// Largest page of a listing.
    pub max_page: u32,
    /// Most policies a workspace may hold; they are listed whole.
    pub max_policies: usize,
    /// Most decision codes of its own a workspace may define; they are listed whole.
    pub max_codes: usize,
    /// Mark session cookies `Secure` (serve over HTTPS, directly or behind a proxy).
    pub secure_cookies: bool,
    /// Seed of audit sampling; random when absent. Tests fix it to check the rate.
    pub audit_seed: Option<u64>,
    /// Requests each API key may send; `None` for no limit.
    pub rate_limit: Option<RateLimit>,
    /// How long the server waits on a silent client: for a request's headers, counted from when
    /// the connection opened or its previous answer went out, and between the pieces of a
    /// request's body; and for a client to take any of an answer the server is writing. A client
    /// that sends headers slowly (slowloris), stalls its body, keeps an idle connection open, or
    /// stops reading for longer is disconnected, so it cannot hold connections forever.
    pub client_timeout: std::time::Duration,
    /// How long a request's body may take in all, however steadily it trickles in.
    pub body_deadline: std::time::Duration,
}

/// A per-key request rate: `burst` requests at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained requests per second.
    pub per_second: NonZeroU32,
    /// Requests a key may send at once after a quiet spell.
    pub burst: NonZeroU32,
}

impl Default for RateLimit {
    /// Far above what one agent or reviewer sends; it stops a runaway client, not a busy one.
    fn default() -> Self {
        Self {
            per_second: NonZeroU32::new(2_000).expect("non-zero"),
            burst: NonZeroU32::new(20_000).expect("non-zero"),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            default_lease: Duration::minutes(5),
            max_body_bytes: 1024 * 1024,
            max_batch_body_bytes: 32 * 1024 * 1024,
            max_batch_items: 1000,
            max_wait_seconds: 60,
            max_page: 500,
            max_policies: 1000,
            max_codes: 1000,
            secure_cookies: false,
            audit_seed: None,
            rate_limit: Some(RateLimit::default()),
            client_timeout: std::time::Duration::from_secs(30),
            // A 32 MiB batch over a link of 1 Mbit/s, with room to spare.
            body_deadline: std::time::Duration::from_secs(600),
        }
    }
}

/// Shared by every handler; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: Settings,
    watchers: Watchers,
    audit_dice: std::sync::Mutex<rand::rngs::StdRng>,
    models: crate::model::Models,
    limiter: Option<DefaultKeyedRateLimiter<PrincipalId>>,
    /// `true` once the server is shutting down.
    draining: tokio::sync::watch::Sender<bool>,
    /// Client connections open now.
    connections: tokio::sync::watch::Sender<usize>,
}

impl AppState {
    /// State over a store, a clock and settings. Starts the task that wakes long-polls when the
    /// store reports a change, so it must be called inside a Tokio runtime.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, settings: Settings) -> Self {
        use rand::SeedableRng;
        let watchers = Watchers::start(store.subscribe());
        let audit_dice = std::sync::Mutex::new(match settings.audit_seed {
            Some(seed) => rand::rngs::StdRng::seed_from_u64(seed),
            None => rand::rngs::StdRng::from_rng(&mut rand::rng()),
        });
        let limiter = settings.rate_limit.map(|r| {
            DefaultKeyedRateLimiter::keyed(Quota::per_second(r.per_second).allow_burst(r.burst))
        });
        Self {
            inner: Arc::new(Inner {
                limiter,
                store,
                clock,
                settings,
                watchers,
                audit_dice,
                models: crate::model::Models::default(),
                draining: tokio::sync::watch::Sender::new(false),
                connections: tokio::sync::watch::Sender::new(0),
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    /// The store, shared.
    pub fn store_arc(&self) -> Arc<dyn Store> {
        self.inner.store.clone()
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        self.inner.clock.as_ref()
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Whether an auto-approved item is audited, with probability `rate`.
    pub fn sample_audit(&self, rate: f64) -> bool {
        use rand::RngExt;
        rate > 0.0
            && self
                .inner
                .audit_dice
                .lock()
                .expect("audit dice mutex poisoned")
                .random::<f64>()
                < rate
    }

    /// Counts a request of `key` against its rate limit; how long to wait when it is over.
    /// Limits are per server: with several servers behind a balancer a key may send each its
    /// own rate.
    pub fn check_rate(&self, key: &PrincipalId) -> Result<(), std::time::Duration> {
        match &self.inner.limiter {
            Some(limiter) => limiter
                .check_key(key)
                .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now())),
            None => Ok(()),
        }
    }

    /// The gateway's own models.
    pub fn models(&self) -> &crate::model::Models {
        &self.inner.models
    }

    /// The long-poll watchers.
    pub fn watchers(&self) -> &Watchers {
        &self.inner.watchers
    }

    /// Tells the requests that wait (long-polls, event streams) that the server is shutting
    /// down: they answer at once instead of holding the shutdown up.
    pub fn begin_draining(&self) {
        self.inner.draining.send_replace(true);
    }

    /// Whether the server is shutting down, as a receiver that sees the change.
    pub fn draining(&self) -> tokio::sync::watch::Receiver<bool> {
        self.inner.draining.subscribe()
    }

    /// Completes once the server is shutting down (at once if it already is).
    pub async fn drained(&self) {
        // The sender lives as long as this state, so waiting cannot fail.
        let _ = self.draining().wait_for(|draining| *draining).await;
    }

    /// How many client connections the server holds open, as a receiver that sees each change.
    pub fn open_connections(&self) -> tokio::sync::watch::Receiver<usize> {
        self.inner.connections.subscribe()
    }

    /// Counts a connection as open until the returned guard is dropped.
    pub(crate) fn connection_opened(&self) -> OpenConnection {
        self.inner.connections.send_modify(|open| *open += 1);
        OpenConnection(self.clone())
    }
}

/// A client connection, counted in [`AppState::open_connections`] while it lives.
#[derive(Debug)]
pub(crate) struct OpenConnection(AppState);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.inner.connections.send_modify(|open| *open -= 1);
    }
}
