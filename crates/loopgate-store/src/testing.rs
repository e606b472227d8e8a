//! Test support shared by every crate's integration tests: a fresh, empty store of the backend
//! the test run asks for. With `LOOPGATE_TEST_POSTGRES_URL` set (a database the tests may create
//! schemas in), each store lives in a PostgreSQL schema of its own, so tests run in parallel
//! without seeing each other; without it, each lives in an SQLite file in a temporary directory.
//!
//! Compiled only with the `testing` feature, which only dev-dependencies turn on.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::Connection;

use crate::postgres::{Options, PostgresStore};
use crate::{SqliteStore, Store};

/// The environment variable naming the PostgreSQL database tests run against.
pub const POSTGRES_URL_VAR: &str = "LOOPGATE_TEST_POSTGRES_URL";

/// The PostgreSQL database tests should use, if the run asks for one.
pub fn postgres_url() -> Option<String> {
    std::env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|u| !u.trim().is_empty())
}

/// A fresh, empty schema in the test database, dropped (with everything in it) when this guard
/// is dropped.
#[derive(Debug)]
pub struct TestSchema {
    base: String,
    name: String,
    url: String,
}

impl TestSchema {
    /// Creates a uniquely named schema in the database at `base` (a `postgres://` URL).
    /// Panics when the database cannot be reached: a test run that asked for PostgreSQL must
    /// not quietly test less.
    pub async fn create(base: &str) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "lgt_{}_{}_{}",
            std::process::id(),
            nanos,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = sqlx::PgConnection::connect(base)
            .await
            .unwrap_or_else(|e| panic!("{POSTGRES_URL_VAR}={base}: cannot connect: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{name}\"")))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("cannot create schema {name}: {e}"));
        let _ = conn.close().await;
        let mut url = url::Url::parse(base)
            .unwrap_or_else(|e| panic!("{POSTGRES_URL_VAR}={base} is not a URL: {e}"));
        url.query_pairs_mut()
            .append_pair("options", &format!("-c search_path={name}"));
        Self {
            base: base.to_owned(),
            name,
            url: url.to_string(),
        }
    }

    /// A URL whose connections work in this schema (through `search_path`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        // Drop runs outside any async context we could borrow, so the schema is dropped on a
        // thread with a runtime of its own. A failure leaves only an orphan schema behind.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async move {
                let mut conn = sqlx::PgConnection::connect(&base).await.ok()?;
                // Connections of stores still closing may hold locks briefly; don't hang on them.
                sqlx::query("SET lock_timeout = '10s'")
                    .execute(&mut conn)
                    .await
                    .ok()?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS \"{name}\" CASCADE"
                )))
                .execute(&mut conn)
                .await
                .ok()?;
                conn.close().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("note: could not drop test schema {}", self.name);
        }
    }
}

/// Which database a test store lives in.
#[derive(Debug)]
pub enum TestDatabase {
    /// An SQLite file in the data directory given.
    Sqlite,
    /// A PostgreSQL schema of its own, with a handle on the store's pool for inspection.
    Postgres {
        /// The store, as its concrete type.
        store: PostgresStore,
        /// The schema; dropped when this is.
        schema: TestSchema,
    },
}

/// A fresh store in a new schema of the PostgreSQL database at `base`.
pub async fn postgres_store(base: &str) -> (PostgresStore, TestSchema) {
    let schema = TestSchema::create(base).await;
    // Small pools: many tests run at once against one server.
    let options = Options {
        max_connections: 8,
        ..Options::default()
    };
    let store = PostgresStore::connect_with(schema.url(), options)
        .await
        .unwrap_or_else(|e| panic!("cannot open a store in schema {}: {e}", schema.name()));
    (store, schema)
}

/// A fresh store for one test: PostgreSQL when [`POSTGRES_URL_VAR`] is set, SQLite in `data_dir`
/// otherwise. Keep the returned [`TestDatabase`] for as long as the store is used.
pub async fn fresh_store(data_dir: &Path) -> (Arc<dyn Store>, TestDatabase) {
    match postgres_url() {
        Some(base) => {
            let (store, schema) = postgres_store(&base).await;
            (
                Arc::new(store.clone()),
                TestDatabase::Postgres { store, schema },
            )
        }
        None => (
            Arc::new(SqliteStore::open(data_dir).expect("the SQLite store opens")),
            TestDatabase::Sqlite,
        ),
    }
}

/// A backend to test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded store.
    Sqlite,
    /// The scale-out store, on the database of [`POSTGRES_URL_VAR`].
    Postgres,
}

/// A fresh store with its own temporary directory, for tests that need nothing else.
#[derive(Debug)]
pub struct TestStore {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Where it lives.
    pub database: TestDatabase,
    _dir: tempfile::TempDir,
}

impl TestStore {
    /// A fresh store of `backend`; `None` for PostgreSQL when the run names no database.
    pub async fn of(backend: Backend) -> Option<Self> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (store, database): (Arc<dyn Store>, TestDatabase) = match backend {
            Backend::Sqlite => (
                Arc::new(SqliteStore::open(dir.path()).expect("the SQLite store opens")),
                TestDatabase::Sqlite,
            ),
            Backend::Postgres => {
                let (store, schema) = postgres_store(&postgres_url()?).await;
                (
                    Arc::new(store.clone()),
                    TestDatabase::Postgres { store, schema },
                )
            }
        };
        Some(Self {
            store,
            database,
            _dir: dir,
        })
    }

    /// Another store on the same database, as a second server would open it (PostgreSQL only).
    pub async fn second_server(&self) -> Option<PostgresStore> {
        match &self.database {
            TestDatabase::Postgres { schema, .. } => Some(
                PostgresStore::connect_with(
                    schema.url(),
                    Options {
                        max_connections: 8,
                        ..Options::default()
                    },
                )
                .await
                .expect("a second store opens"),
            ),
            TestDatabase::Sqlite => None,
        }
    }
}
