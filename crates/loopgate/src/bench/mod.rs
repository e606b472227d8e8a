//! `loopgate bench`: an HTTP load generator that drives one or more running Loopgate servers and
//! reports throughput and latency percentiles per scenario.
//!
//! It needs only an admin key: it creates its own policies (`bench.reply`, `bench.wait`), agent
//! keys and reviewer keys through the API, so it can run against any server, including several
//! servers sharing one database (requests go round-robin over every `--url`). It keeps count of
//! the items it queued and has not yet decided; queue depths in the report are that count, so
//! they are exact on a fresh server.
//!
//! Scenarios, in the order `all` runs them: single submits from many agents, batch submits,
//! claim → decide round trips for several team sizes, claim latency with the queue filled to
//! given depths (with the server's resident memory at each depth, measured before ten thousand
//! connections have passed through its allocator), and ten thousand agents long-polling while
//! reviewers decide their items (routed to lane P0, so claimed first whatever else is queued).

mod client;
mod report;
mod scenarios;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64};

use anyhow::Context;
use clap::{Args, ValueEnum};
use reqwest::Url;
use serde_json::json;

use self::client::Target;
use self::report::Report;

/// Arguments of `loopgate bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A running server; repeat for several servers on one database (requests go round-robin).
    #[arg(long = "url", default_value = "http://127.0.0.1:8080")]
    urls: Vec<Url>,
    /// An admin key of the servers' workspace.
    #[arg(long, env = "LOOPGATE_ADMIN_KEY", hide_env_values = true)]
    admin_key: String,
    /// Scenarios to run, repeatable; `all` runs every one.
    #[arg(long = "scenario", value_enum, default_value = "all")]
    scenarios: Vec<Scenario>,
    /// Seconds each throughput measurement (single submits, batches, each team size) runs.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Concurrent agents sending single submits, each with its own key.
    #[arg(long, default_value_t = 32)]
    agents: usize,
    /// Items per batch submit.
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
    /// Concurrent senders of batch submits (also used to fill the queue).
    #[arg(long, default_value_t = 2)]
    batch_senders: usize,
    /// Team sizes for claim → decide round trips.
    #[arg(long, value_delimiter = ',', default_value = "1,10,50")]
    reviewers: Vec<usize>,
    /// Items queued before each team size starts, so that nobody runs out of work.
    #[arg(long, default_value_t = 30_000)]
    claim_prefill: u64,
    /// Agents long-polling at once (each needs a connection: raise `ulimit -n` on the server).
    #[arg(long, default_value_t = 10_000)]
    long_pollers: usize,
    /// Seconds to let the long-polls reach the server before their items are decided.
    #[arg(long, default_value_t = 3.0)]
    settle_seconds: f64,
    /// Reviewers deciding the long-polled items.
    #[arg(long, default_value_t = 10)]
    wake_reviewers: usize,
    /// Queue depths at which claim latency and server memory are measured, in increasing order.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
    queue_sizes: Vec<u64>,
    /// Claims (each then decided) measured at each queue depth.
    #[arg(long, default_value_t = 2000)]
    depth_claims: u64,
    /// Concurrent reviewers claiming at each queue depth. One by default, so the figure is the
    /// claim's own latency at that depth; with more, claims also wait for each other's commits
    /// (the claim → decide scenario measures that).
    #[arg(long, default_value_t = 1)]
    depth_reviewers: usize,
    /// Process id of a server, to report its resident memory (VmRSS); repeat for several.
    #[arg(long = "server-pid")]
    server_pids: Vec<u32>,
    /// A name for this run in the report.
    #[arg(long, default_value = "loopgate bench")]
    label: String,
    /// Also write the report as JSON here.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Every scenario below, in this order.
    All,
    /// Single submits (`POST /v1/items`) from `--agents` concurrent agents.
    Submit,
    /// Batch submits (`POST /v1/items:batch`) of `--batch-size` items.
    Batch,
    /// Claim → decide round trips with each team size of `--reviewers`.
    Claim,
    /// Claim latency and server memory with the queue filled to each of `--queue-sizes`.
    QueueDepth,
    /// `--long-pollers` agents waiting on their items at once, woken by decisions.
    LongPoll,
}

/// Shared by every scenario of one run.
#[derive(Debug)]
struct Run {
    target: Target,
    args: BenchArgs,
    /// Distinguishes this run's key names and idempotency keys from earlier runs'.
    run_id: String,
    /// One key per concurrent agent.
    agents: Vec<String>,
    /// Reviewer keys, as many as the largest team.
    reviewers: Vec<String>,
    /// The agent whose items are long-polled.
    waiter: String,
    /// Items this run queued and has not decided.
    queued: AtomicI64,
    /// Batches sent so far, numbering their idempotency keys.
    batches: AtomicU64,
}

/// Runs the benchmark and prints the report; writes JSON to `--out` when given.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    // Ten thousand long-polls need ten thousand sockets in this process too.
    let nofile = rlimit::increase_nofile_limit(u64::MAX)
        .context("cannot raise the open-file limit of the bench process")?;
    let mut scenarios: Vec<Scenario> = if args.scenarios.contains(&Scenario::All) {
        vec![
            Scenario::Submit,
            Scenario::Batch,
            Scenario::Claim,
            Scenario::QueueDepth,
            Scenario::LongPoll,
        ]
    } else {
        args.scenarios.clone()
    };
    scenarios.dedup();
    anyhow::ensure!(args.seconds > 0.0, "--seconds must be positive");
    anyhow::ensure!(
        (1..=1000).contains(&args.batch_size),
        "--batch-size must be 1 to 1000 (the server's limit)"
    );
    anyhow::ensure!(
        args.agents > 0 && args.batch_senders > 0,
        "--agents and --batch-senders must be positive"
    );
    if scenarios.contains(&Scenario::LongPoll) && (args.long_pollers as u64) + 100 > nofile {
        anyhow::bail!(
            "{} long-polls need more open files than this process may have ({nofile}); raise `ulimit -n`",
            args.long_pollers
        );
    }
    let mut queue_sizes = args.queue_sizes.clone();
    queue_sizes.sort_unstable();

    let target = Target::new(args.urls.clone())?;
    target
        .wait_ready(std::time::Duration::from_secs(30))
        .await?;
    let started_at = chrono::Utc::now();
    let run_id = format!("{}", started_at.timestamp_millis());
    let settings = json!({
        "scenarios": scenarios.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>(),
        "seconds": args.seconds, "agents": args.agents, "batch_size": args.batch_size,
        "batch_senders": args.batch_senders, "reviewers": args.reviewers,
        "claim_prefill": args.claim_prefill, "long_pollers": args.long_pollers,
        "settle_seconds": args.settle_seconds, "wake_reviewers": args.wake_reviewers,
        "queue_sizes": queue_sizes, "depth_claims": args.depth_claims,
        "depth_reviewers": args.depth_reviewers, "server_pids": args.server_pids,
    });
    let run = Arc::new(scenarios::setup(target, args, run_id).await?);

    let mut rows = Vec::new();
    for scenario in scenarios {
        let new_rows = match scenario {
            Scenario::All => Vec::new(),
            Scenario::Submit => vec![scenarios::single_submits(&run).await?],
            Scenario::Batch => vec![scenarios::batch_submits(&run).await?],
            Scenario::Claim => scenarios::claim_decide(&run).await?,
            Scenario::LongPoll => vec![scenarios::long_poll(&run).await?],
            Scenario::QueueDepth => scenarios::queue_depth(&run, &queue_sizes).await?,
        };
        for row in &new_rows {
            eprintln!(
                "{} [{}]: {} {} in {:.1}s = {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, {} errors {}",
                row.scenario,
                row.setting,
                row.count,
                row.unit,
                row.seconds,
                row.rate,
                row.p50_ms,
                row.p99_ms,
                row.p999_ms,
                row.errors,
                row.note
            );
        }
        rows.extend(new_rows);
    }

    let report = Report {
        label: run.args.label.clone(),
        started_at: started_at.to_rfc3339(),
        urls: run.target.urls().iter().map(Url::to_string).collect(),
        settings,
        rows,
    };
    println!("{}", report.markdown());
    if let Some(path) = &run.args.out {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
