//! The `loopgate` command: serve the gateway, manage keys, verify the audit trail, benchmark a
//! running server.

mod bench;
mod config;
mod demo;
mod demo_content;
mod scenario;
mod simulate;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use loopgate_core::audit::AuditActor;
use loopgate_core::{AccessRole, Clock, Role, SystemClock, WorkspaceId};
use loopgate_server::routes::keys::check_new_key;
use loopgate_server::web::session::{check_password, hash_password, random_token};
use loopgate_server::{AppState, Settings, keys};
use loopgate_store::{KeyRecord, NewAccount, NewKey, PostgresStore, SqliteStore, Store};
use secrecy::ExposeSecret;

use crate::config::{Config, Overrides};

/// Loopgate: a human-in-the-loop gateway for AI in B2B customer support.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// A TOML config file (also `LOOPGATE_CONFIG`). Environment variables `LOOPGATE_*` override
    /// it; flags override both.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the gateway: HTTP API on --listen, embedded SQLite in --data, or PostgreSQL at
    /// --database (then any number of servers may share that database).
    Serve {
        /// Address to listen on [default: 127.0.0.1:8080, env LOOPGATE_LISTEN].
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Applies database migrations and exits.
    Migrate {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Manages API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manages people's accounts for the reviewer workspace.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Works with the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Writes training data as JSON Lines: every item people decided, with the proposal, the
    /// final payload, the reviews and preference pairs for edits.
    Export {
        /// Only items decided at or after this time (RFC 3339, e.g. 2026-11-01T00:00:00Z).
        #[arg(long)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Only this policy.
        #[arg(long)]
        policy: Option<loopgate_core::PolicyName>,
        /// The workspace.
        #[arg(long, default_value = "default")]
        workspace: WorkspaceId,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Runs a demo: example policies, demo accounts, and a stream of realistic tickets.
    Demo(demo::DemoArgs),
    /// Replays a labelled ticket stream through the verdict pipeline with simulated reviewers
    /// and reports what each policy delivers.
    Simulate(simulate::SimulateArgs),
    /// Drives a running Loopgate over its API with a labelled ticket stream and simulated
    /// reviewers, and reports the same figures as `simulate` next to the simulator's.
    Scenario(scenario::ScenarioArgs),
    /// Drives running servers over HTTP and reports throughput and latency percentiles:
    /// single and batch submits, claim → decide round trips, long-polls, claims at queue depth.
    Bench(Box<bench::BenchArgs>),
}

/// Where Loopgate's database is: the embedded SQLite file in a data directory, or PostgreSQL.
#[derive(Debug, clap::Args)]
struct DbArgs {
    /// Data directory [default: ./loopgate-data, env LOOPGATE_DATA].
    #[arg(long)]
    data: Option<PathBuf>,
    /// A PostgreSQL database to use instead of the embedded one, e.g.
    /// postgres://loopgate@db.internal:5432/loopgate [env LOOPGATE_DATABASE_URL].
    #[arg(long, value_name = "URL")]
    database: Option<String>,
}

impl DbArgs {
    fn overrides(self) -> Overrides {
        Overrides {
            listen: None,
            data: self.data,
            database_url: self.database,
        }
    }
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Creates a key and prints its secret (once) on standard output.
    Create {
        /// agent, reviewer, lead or admin.
        #[arg(long)]
        role: AccessRole,
        /// The principal's name, unique in the workspace.
        #[arg(long)]
        name: String,
        /// For reviewers: comma-separated roles among triage, quality, sme.
        #[arg(long, value_delimiter = ',')]
        reviewer_roles: Vec<Role>,
        /// The workspace (created if new).
        #[arg(long, default_value = "default")]
        workspace: WorkspaceId,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Lists a workspace's keys (never their secrets).
    List {
        /// The workspace.
        #[arg(long, default_value = "default")]
        workspace: WorkspaceId,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Creates an account (or sets its password) for signing in to the workspace. The password
    /// is read from standard input (first line), or generated and printed when stdin is a
    /// terminal or empty.
    Create {
        /// Sign-in name, unique in the workspace.
        #[arg(long)]
        name: String,
        /// reviewer, lead or admin.
        #[arg(long)]
        role: AccessRole,
        /// For reviewers: comma-separated roles among triage, quality, sme.
        #[arg(long, value_delimiter = ',')]
        reviewer_roles: Vec<Role>,
        /// The workspace (created if new).
        #[arg(long, default_value = "default")]
        workspace: WorkspaceId,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Checks every workspace's hash chain; names the first broken entry and exits 1 if any.
    Verify {
        #[command(flatten)]
        db: DbArgs,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=warn,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    let file = cli.config.as_deref();
    match cli.command {
        Command::Serve { listen, db } => {
            let overrides = Overrides {
                listen,
                ..db.overrides()
            };
            serve(Config::load(file, overrides)?).await?;
        }
        Command::Simulate(args) => simulate::run(args)?,
        Command::Scenario(args) => scenario::run(args).await?,
        Command::Bench(args) => bench::run(*args).await?,
        Command::Export {
            since,
            policy,
            workspace,
            out,
            db,
        } => {
            use std::io::Write;
            let config = Config::load(file, db.overrides())?;
            let store = open(&config).await?.store;
            let mut sink: Box<dyn Write> = match &out {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("cannot write {}", path.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let since = since.unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
            let mut after = None;
            let mut written = 0usize;
            loop {
                let page = store
                    .decided_items(&workspace, since, policy.as_ref(), after, 500)
                    .await?;
                let Some(last) = page.last() else {
                    break;
                };
                after = Some(last.id);
                for item in &page {
                    let reviews = store.reviews(&workspace, item.id).await?;
                    writeln!(sink, "{}", loopgate_server::export::record(item, &reviews))?;
                    written += 1;
                }
            }
            sink.flush()?;
            eprintln!("exported {written} decided item(s)");
        }
        Command::Demo(args) => demo::run(args).await?,
        Command::Migrate { db } => {
            let config = Config::load(file, db.overrides())?;
            let opened = open(&config).await?;
            println!("database {} is up to date", opened.name);
        }
        Command::Keys {
            command:
                KeysCommand::Create {
                    role,
                    name,
                    mut reviewer_roles,
                    workspace,
                    db,
                },
        } => {
            let config = Config::load(file, db.overrides())?;
            reviewer_roles.sort();
            reviewer_roles.dedup();
            check_new_key(&name, role, &reviewer_roles).map_err(anyhow::Error::msg)?;
            let store = open(&config).await?.store;
            let minted = keys::mint();
            let record = store
                .create_key(
                    NewKey {
                        workspace,
                        name: name.trim().to_owned(),
                        access: role,
                        reviewer_roles,
                        secret_hash: minted.hash,
                        prefix: minted.prefix.clone(),
                    },
                    AuditActor::system("cli"),
                    SystemClock.now(),
                )
                .await?;
            eprintln!(
                "created {} key {} for {} in workspace {} (shown once; store it now)",
                record.principal.access,
                record.id,
                record.principal.name,
                record.principal.workspace
            );
            println!("{}", minted.secret);
        }
        Command::Keys {
            command: KeysCommand::List { workspace, db },
        } => {
            let config = Config::load(file, db.overrides())?;
            let store = open(&config).await?.store;
            let mut keys = Vec::new();
            loop {
                let page = store
                    .list_keys(&workspace, keys.last().map(|k: &KeyRecord| k.id), 500)
                    .await?;
                let last = page.len() < 500;
                keys.extend(page);
                if last {
                    break;
                }
            }
            for k in keys {
                let roles: Vec<&str> = k
                    .principal
                    .reviewer_roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect();
                println!(
                    "{}  {}  {:<8} {:<20} {:<16} {}",
                    k.id,
                    // A minted key's prefix is the start of the secret; a chosen key's, a hash.
                    if k.prefix.starts_with(keys::KEY_PREFIX) {
                        format!("{}…", k.prefix)
                    } else {
                        k.prefix.clone()
                    },
                    k.principal.access,
                    k.principal.name,
                    roles.join(","),
                    k.revoked_at
                        .map_or("active".to_owned(), |t| format!("revoked {t}")),
                );
            }
        }
        Command::Users {
            command:
                UsersCommand::Create {
                    name,
                    role,
                    mut reviewer_roles,
                    workspace,
                    db,
                },
        } => {
            let config = Config::load(file, db.overrides())?;
            if role == AccessRole::Agent {
                bail!(
                    "agents are programs: give them an API key with `loopgate keys create --role agent`"
                );
            }
            reviewer_roles.sort();
            reviewer_roles.dedup();
            check_new_key(&name, role, &reviewer_roles).map_err(anyhow::Error::msg)?;
            let (password, generated) = read_or_generate_password()?;
            check_password(&password).map_err(anyhow::Error::msg)?;
            let store = open(&config).await?.store;
            let principal = store
                .set_account(
                    NewAccount {
                        workspace,
                        name: name.trim().to_owned(),
                        access: role,
                        reviewer_roles,
                        password_hash: hash_password(&password).map_err(anyhow::Error::msg)?,
                    },
                    AuditActor::system("cli"),
                    SystemClock.now(),
                )
                .await?;
            eprintln!(
                "account {} ({}) ready in workspace {}",
                principal.name, principal.access, principal.workspace
            );
            if generated {
                println!("{password}");
            }
        }
        Command::Audit {
            command: AuditCommand::Verify { db },
        } => {
            let config = Config::load(file, db.overrides())?;
            let store = open(&config).await?.store;
            let mut broken = false;
            for report in store.verify_audit().await? {
                match report.result {
                    Ok(n) => println!("workspace {}: {n} entries, chain intact", report.workspace),
                    Err(b) => {
                        broken = true;
                        println!("BROKEN {b}");
                    }
                }
            }
            if broken {
                return Ok(std::process::ExitCode::FAILURE);
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// The password on stdin's first line, or a generated one when stdin is a terminal or empty.
fn read_or_generate_password() -> anyhow::Result<(String, bool)> {
    use std::io::{BufRead, IsTerminal};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        let line = line.trim_end_matches(['\n', '\r']).to_owned();
        if !line.is_empty() {
            return Ok((line, false));
        }
    }
    Ok((random_token()[..20].to_owned(), true))
}

/// An open store and how to name it in messages.
struct Opened {
    store: Arc<dyn Store>,
    /// The SQLite file, or the PostgreSQL URL without its password.
    name: String,
}

/// Opens the store the configuration names, bringing its schema up to date: PostgreSQL when a
/// database URL is set, else the embedded SQLite database in the data directory.
async fn open(config: &Config) -> anyhow::Result<Opened> {
    match &config.database_url {
        Some(url) => {
            let url = url.expose_secret();
            let store = PostgresStore::connect(url)
                .await
                .context("cannot open the Loopgate database")?;
            Ok(Opened {
                store: Arc::new(store),
                name: loopgate_store::postgres::redact(url),
            })
        }
        None => {
            let data = &config.data;
            let store = SqliteStore::open(data).with_context(|| {
                format!("cannot open the Loopgate database in {}", data.display())
            })?;
            Ok(Opened {
                name: store.path().display().to_string(),
                store: Arc::new(store),
            })
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    raise_open_file_limit();
    let Opened { store, name } = open(&config).await?;
    let clock = Arc::new(SystemClock);
    if let Some(secret) = &config.bootstrap_admin_key {
        let secret = secret.expose_secret();
        keys::check_chosen_secret(secret)
            .map_err(|e| anyhow::anyhow!("LOOPGATE_BOOTSTRAP_ADMIN_KEY: {e}"))?;
        if loopgate_server::bootstrap_admin(store.as_ref(), secret, clock.now()).await? {
            tracing::info!("registered the bootstrap admin key for workspace default");
        }
    } else if !store.has_keys().await? {
        first_admin_key(store.as_ref(), &config.data).await?;
    }

    let settings = Settings {
        default_lease: chrono::Duration::seconds(i64::from(config.lease_seconds)),
        rate_limit: config.rate_limit(),
        client_timeout: Duration::from_secs(u64::from(config.client_timeout_seconds)),
        ..Settings::default()
    };
    let state = AppState::new(store, clock, settings);
    loopgate_server::spawn_workers(
        state.clone(),
        Duration::from_secs(u64::from(config.lease_sweep_seconds)),
    );
    loopgate_server::spawn_refits(
        state.clone(),
        Duration::from_secs(u64::from(config.refit_seconds)),
    );
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    tracing::info!(
        "Loopgate listening on http://{} (database {name})",
        listener.local_addr()?,
    );
    loopgate_server::serve(listener, state.clone(), shutdown_signal()).await?;
    // A saved model spares the next start relearning every label; a lost one costs only that.
    if let Err(e) = state
        .models()
        .save(state.store(), state.clock().now(), true)
        .await
    {
        tracing::warn!(error = %e, "could not save the embedded models at shutdown");
    }
    tracing::info!("Loopgate stopped");
    Ok(())
}

/// On a store without keys, makes an admin key and leaves it in the data directory (readable by
/// its owner only), so a new user can start without reading the manual first.
async fn first_admin_key(store: &dyn Store, data: &Path) -> anyhow::Result<()> {
    let minted = keys::mint();
    // On PostgreSQL nothing else creates the data directory.
    std::fs::create_dir_all(data)
        .with_context(|| format!("cannot create data directory {}", data.display()))?;
    let path = data.join("admin.key");
    write_private(&path, &format!("{}\n", minted.secret))?;
    store
        .create_key(
            NewKey {
                workspace: WorkspaceId::default_workspace(),
                name: "admin".into(),
                access: AccessRole::Admin,
                reviewer_roles: Vec::new(),
                secret_hash: minted.hash,
                prefix: minted.prefix,
            },
            AuditActor::system("first-start"),
            SystemClock.now(),
        )
        .await?;
    tracing::info!(
        "first start: created an admin key for workspace default in {} (readable by you only)",
        path.display()
    );
    Ok(())
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    if path.exists() {
        bail!(
            "{} exists but the database has no keys; remove it or set LOOPGATE_BOOTSTRAP_ADMIN_KEY",
            path.display()
        );
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// Every connection holds a file descriptor, and service managers often start processes with a
/// soft limit of 1,024 open files: ten thousand waiting agents need more. The soft limit is
/// raised to the hard one, as far as the system allows.
fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open files"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the limit of open files"),
    }
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
