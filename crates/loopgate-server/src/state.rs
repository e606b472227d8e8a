//! What every request handler shares: the store, the clock, the settings and the long-poll
//! watchers. Nothing here is needed for correctness across servers: all state that matters is in
//! the store.

use std::sync::Arc;

use chrono::Duration;
use loopgate_core::Clock;
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
    /// Mark session cookies `Secure` (serve over HTTPS, directly or behind a proxy).
    pub secure_cookies: bool,
    /// Seed of audit sampling; random when absent. Tests fix it to check the rate.
    pub audit_seed: Option<u64>,
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
            secure_cookies: false,
            audit_seed: None,
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
        Self {
            inner: Arc::new(Inner {
                store,
                clock,
                settings,
                watchers,
                audit_dice,
                models: crate::model::Models::default(),
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

    /// The gateway's own models.
    pub fn models(&self) -> &crate::model::Models {
        &self.inner.models
    }

    /// The long-poll watchers.
    pub fn watchers(&self) -> &Watchers {
        &self.inner.watchers
    }
}
