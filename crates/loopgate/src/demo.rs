//! `loopgate demo`: a server with example policies, demo reviewer accounts, and a steady stream
//! of realistic B2B support tickets, so a newcomer sees queues fill, SLAs tick and verdicts flow
//! within a minute.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use loopgate_core::audit::AuditActor;
use loopgate_core::{AccessRole, Clock, Role, SystemClock, WorkspaceId};
use loopgate_server::web::session::hash_password;
use loopgate_server::{AppState, Settings, keys};
use loopgate_store::{NewAccount, NewKey, PostgresStore, SqliteStore, Store};

use crate::demo_content::{TicketStream, policies};

/// Options of `loopgate demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Data directory of the demo (kept apart from a real one).
    #[arg(long, default_value = "./loopgate-demo")]
    pub data: PathBuf,
    /// Run the demo on this PostgreSQL database instead (e.g. a scratch database; the demo adds
    /// accounts, keys and policies to it).
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
    /// Seconds between two demo tickets.
    #[arg(long, default_value_t = 3.0)]
    pub every: f64,
    /// Password of every demo account.
    #[arg(long, default_value = "loopgate-demo")]
    pub password: String,
}

/// The demo's people: name, access role, reviewer roles.
const PEOPLE: &[(&str, AccessRole, &[Role])] = &[
    ("tara", AccessRole::Reviewer, &[Role::Triage]),
    (
        "quinn",
        AccessRole::Reviewer,
        &[Role::Triage, Role::Quality],
    ),
    ("sam", AccessRole::Reviewer, &[Role::Sme]),
    ("lee", AccessRole::Lead, &[]),
    ("ada", AccessRole::Admin, &[]),
];

/// Runs the demo until interrupted.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.every > 0.05, "--every must be more than 0.05 seconds");
    anyhow::ensure!(
        args.password.chars().count() >= 10,
        "--password must be at least 10 characters"
    );
    let store: Arc<dyn Store> = match &args.database {
        Some(url) => Arc::new(
            PostgresStore::connect(url)
                .await
                .context("cannot open the demo database")?,
        ),
        None => Arc::new(SqliteStore::open(&args.data).with_context(|| {
            format!("cannot open the demo database in {}", args.data.display())
        })?),
    };
    let clock = Arc::new(SystemClock);
    let workspace = WorkspaceId::default_workspace();
    let hash = hash_password(&args.password).map_err(anyhow::Error::msg)?;
    for (name, access, roles) in PEOPLE {
        store
            .set_account(
                NewAccount {
                    workspace: workspace.clone(),
                    name: (*name).to_owned(),
                    access: *access,
                    reviewer_roles: roles.to_vec(),
                    password_hash: hash.clone(),
                },
                AuditActor::system("demo"),
                clock.now(),
            )
            .await?;
    }
    // Keys for this run only: the demo's agent, and an admin to load the policies.
    let admin = mint(store.as_ref(), "demo-admin", AccessRole::Admin, clock.now()).await?;
    let agent = mint(store.as_ref(), "demo-agent", AccessRole::Agent, clock.now()).await?;

    let state = AppState::new(store, clock.clone(), Settings::default());
    loopgate_server::spawn_workers(state.clone(), Duration::from_secs(1));
    loopgate_server::spawn_refits(state.clone(), Duration::from_secs(30));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(loopgate_server::serve(
        listener,
        state,
        crate::shutdown_signal(),
    ));

    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    for policy in policies() {
        let response = http
            .post(format!("{base}/v1/policies"))
            .bearer_auth(&admin)
            .json(&policy)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "loading a demo policy failed: {}",
            response.text().await?
        );
    }

    println!();
    println!("  Loopgate demo on {base}");
    println!(
        "  Sign in at {base}/login (workspace: default, password: {})",
        args.password
    );
    println!("    tara   triage reviewer        quinn  triage + quality reviewer");
    println!("    sam    subject-matter expert  lee    queue lead        ada  admin");
    println!(
        "  A ticket arrives every {} s. Ctrl-C stops the demo; data stays in {}.",
        args.every,
        args.data.display()
    );
    println!();

    let seed = clock.now().timestamp_millis() as u64;
    let generator = tokio::spawn(async move {
        let mut stream = TicketStream::new(seed);
        let mut tick = tokio::time::interval(Duration::from_secs_f64(args.every));
        loop {
            tick.tick().await;
            let ticket = stream.next(SystemClock.now().date_naive());
            let sent = http
                .post(format!("{base}/v1/items"))
                .bearer_auth(&agent)
                .json(&ticket)
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => tracing::warn!(status = %r.status(), "a demo ticket was refused"),
                Err(e) => {
                    tracing::warn!(error = %e, "the demo server stopped");
                    break;
                }
            }
        }
    });
    let result = server.await;
    generator.abort();
    result??;
    Ok(())
}

async fn mint(
    store: &dyn Store,
    name: &str,
    access: AccessRole,
    now: loopgate_core::Timestamp,
) -> anyhow::Result<String> {
    let minted = keys::mint();
    store
        .create_key(
            NewKey {
                workspace: WorkspaceId::default_workspace(),
                name: name.to_owned(),
                access,
                reviewer_roles: Vec::new(),
                secret_hash: minted.hash,
                prefix: minted.prefix.clone(),
            },
            AuditActor::system("demo"),
            now,
        )
        .await?;
    Ok(minted.secret)
}
