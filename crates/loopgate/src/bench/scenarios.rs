//! The scenarios of `loopgate bench`. Each runs a closed loop — a fixed number of clients, each
//! sending its next request when the last one is answered — records every latency in an HDR
//! histogram per client, merges them, and returns report rows.
//!
//! Queue order matters for what a claim returns (lane, then deadline), so the scenarios keep
//! their items apart: long-polled items are routed to lane P0 and are claimed before anything
//! else, every other queued item is in P1 or P2.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::client::{BatchBrief, ItemBrief, Target, to_bytes};
use super::report::{Row, histogram, record};
use super::{BenchArgs, Run};

/// The policy of every item but the long-polled ones.
const REPLY_POLICY: &str = "bench.reply";
/// The policy of long-polled items: everything to people in lane P0.
const WAIT_POLICY: &str = "bench.wait";
/// Longest long-poll the server allows, in seconds.
const WAIT_SECONDS: u64 = 60;

/// Creates the policies and keys a run uses.
pub(super) async fn setup(target: Target, args: BenchArgs, run_id: String) -> anyhow::Result<Run> {
    let admin = args.admin_key.clone();
    target
        .put_policy(
            &admin,
            &json!({
                "name": REPLY_POLICY, "kind": "reply",
                "thresholds": {"approve_at": 0.9, "reject_below": 0.2},
                "routing": {"default_lane": "P2", "default_role": "triage", "rules": [
                    {"name": "urgent tickets first", "when": {"signal": "urgent"}, "then": {"lane": "P1"}}
                ]},
                "description": "created by loopgate bench"
            }),
        )
        .await?;
    target
        .put_policy(
            &admin,
            &json!({
                "name": WAIT_POLICY, "kind": "reply",
                "thresholds": {"approve_at": 0.9, "reject_below": 0.2},
                "routing": {"default_lane": "P0", "default_role": "triage"},
                "description": "created by loopgate bench: long-polled items"
            }),
        )
        .await?;
    let mut agents = Vec::with_capacity(args.agents);
    for i in 0..args.agents {
        agents.push(
            target
                .create_key(&admin, &format!("bench-{run_id}-agent-{i}"), "agent", &[])
                .await?,
        );
    }
    let team = args
        .reviewers
        .iter()
        .copied()
        .chain([args.wake_reviewers, args.depth_reviewers])
        .max()
        .unwrap_or(1)
        .max(1);
    let mut reviewers = Vec::with_capacity(team);
    for i in 0..team {
        reviewers.push(
            target
                .create_key(
                    &admin,
                    &format!("bench-{run_id}-reviewer-{i}"),
                    "reviewer",
                    &["triage"],
                )
                .await?,
        );
    }
    let waiter = target
        .create_key(&admin, &format!("bench-{run_id}-waiter"), "agent", &[])
        .await?;
    Ok(Run {
        target,
        args,
        run_id,
        agents,
        reviewers,
        waiter,
        queued: Default::default(),
        batches: Default::default(),
    })
}

/// A submission of `policy`, the `n`th of its shape: a realistic B2B support reply draft.
fn submission(policy: &str, n: u64, confidence: f64, urgent: bool) -> Value {
    json!({
        "policy": policy,
        "input": {
            "text": format!("Ticket {n}: our invoice for October charges 12 seats, but we only have 10 active users. Can you correct it and tell us when the credit note arrives?"),
            "channel": "email",
            "subject": "Invoice seat count"
        },
        "customer": {
            "id": format!("customer-{}", n % 997), "tier": if n.is_multiple_of(5) { "enterprise" } else { "standard" },
            "health_score": 0.62, "deal_value": 48000
        },
        "proposal": {
            "kind": "reply", "confidence": confidence, "model": "bench-model", "model_version": "2026-11",
            "payload": {"text": "Sorry about that! We have corrected your October invoice to 10 seats; the credit note follows today."},
            "rationale": "Seat count mismatch; billing shows 10 active seats."
        },
        "signals": if urgent { vec!["urgent"] } else { Vec::new() }
    })
}

/// The confidence of the `n`th single or batch submit: 60% auto-approved, 10% auto-rejected,
/// 30% queued for people, as in a policy that automates the bulk of its traffic.
fn mixed_confidence(n: u64) -> f64 {
    match n % 10 {
        0..=5 => 0.95,
        6 => 0.1,
        _ => 0.5,
    }
}

/// A batch body of `size` items of `policy`; every item is queued when `queued_only`.
fn batch_body(policy: &str, size: usize, seed: u64, queued_only: bool) -> Bytes {
    let items: Vec<Value> = (0..size as u64)
        .map(|i| {
            let n = seed * 1_000_000 + i;
            let confidence = if queued_only {
                0.5
            } else {
                mixed_confidence(n)
            };
            submission(policy, n, confidence, n % 10 == 3)
        })
        .collect();
    to_bytes(&json!({ "items": items }))
}

/// The server's resident memory, MiB: the sum of `VmRSS` over the given processes.
fn server_rss(pids: &[u32]) -> Option<f64> {
    if pids.is_empty() {
        return None;
    }
    let mut kib = 0u64;
    for pid in pids {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        kib += line
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse::<u64>().ok())?;
    }
    Some(kib as f64 / 1024.0)
}

/// CPU seconds (user + system, every thread) the given processes have used so far.
fn server_cpu(pids: &[u32]) -> Option<f64> {
    if pids.is_empty() {
        return None;
    }
    let mut ticks = 0u64;
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name, which is in parentheses and may hold spaces: utime
        // and stime are the 14th and 15th fields of the line, the 12th and 13th after it.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        ticks += fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    }
    // Linux reports these in USER_HZ, which is 100 on every platform Loopgate runs on.
    Some(ticks as f64 / 100.0)
}

/// What one client of a closed loop measured.
struct Tally {
    latencies: Histogram<u64>,
    done: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn new() -> Self {
        Self {
            latencies: histogram(),
            done: 0,
            errors: 0,
            first_error: None,
        }
    }

    fn error(&mut self, e: anyhow::Error) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("{e:#}"));
        }
    }

    fn merge(&mut self, other: Tally) {
        self.latencies
            .add(&other.latencies)
            .expect("histograms share bounds");
        self.done += other.done;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn note(&self) -> String {
        self.first_error
            .as_ref()
            .map_or(String::new(), |e| format!("first error: {e}"))
    }
}

async fn join_all(mut set: JoinSet<Tally>) -> anyhow::Result<Tally> {
    let mut total = Tally::new();
    while let Some(t) = set.join_next().await {
        total.merge(t.context("a bench client panicked")?);
    }
    Ok(total)
}

/// Single submits from `--agents` concurrent agents for `--seconds`, each with an
/// `Idempotency-Key`, as a careful agent sends them.
pub(super) async fn single_submits(run: &Arc<Run>) -> anyhow::Result<Row> {
    // Ten shapes cover the confidence mix; bodies are made once so the generator stays cheap.
    let bodies: Arc<Vec<Bytes>> = Arc::new(
        (0..10)
            .map(|n| to_bytes(&submission(REPLY_POLICY, n, mixed_confidence(n), n == 3)))
            .collect(),
    );
    let cpu = server_cpu(&run.args.server_pids);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(run.args.seconds);
    let mut set = JoinSet::new();
    for (agent, key) in run.agents.iter().enumerate() {
        let (run, key, bodies) = (run.clone(), key.clone(), bodies.clone());
        set.spawn(async move {
            let mut tally = Tally::new();
            let mut n = 0u64;
            while Instant::now() < deadline {
                let idempotency = format!("{}-a{agent}-{n}", run.run_id);
                let body = bodies[(n % 10) as usize].clone();
                n += 1;
                let sent = Instant::now();
                match run
                    .target
                    .send(
                        Method::POST,
                        "/v1/items",
                        &key,
                        Some(body),
                        Some(&idempotency),
                    )
                    .await
                {
                    Ok(r) if r.status == StatusCode::CREATED => {
                        record(&mut tally.latencies, sent.elapsed());
                        tally.done += 1;
                        match r.json::<ItemBrief>() {
                            Ok(item) if item.status == "queued" => {
                                run.queued.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(_) => {}
                            Err(e) => tally.error(e),
                        }
                    }
                    Ok(r) => tally.error(r.error("submit")),
                    Err(e) => tally.error(e),
                }
            }
            tally
        });
    }
    let tally = join_all(set).await?;
    Ok(Row::new(
        "single submits",
        format!("{} agents", run.agents.len()),
        "items",
        tally.done,
        start.elapsed(),
        &tally.latencies,
    )
    .errors(tally.errors)
    .rss(server_rss(&run.args.server_pids))
    .cpu(cpu, server_cpu(&run.args.server_pids))
    .note(tally.note()))
}

/// Sends batches of `policy` items with `senders` concurrent senders until `until` says stop,
/// returning the tally (latency per batch request, `done` counting items) and, when
/// `keep_ids`, the ids of the items created.
async fn send_batches(
    run: &Arc<Run>,
    key: &str,
    policy: &str,
    queued_only: bool,
    until: Until,
    keep_ids: bool,
) -> anyhow::Result<(Tally, Vec<String>)> {
    let size = run.args.batch_size;
    let senders = run.args.batch_senders;
    let sent_items = Arc::new(AtomicU64::new(0));
    let ids = Arc::new(Mutex::new(Vec::new()));
    let mut set = JoinSet::new();
    for sender in 0..senders {
        let (run, key, sent_items, ids) =
            (run.clone(), key.to_owned(), sent_items.clone(), ids.clone());
        let policy = policy.to_owned();
        let body = batch_body(&policy, size, sender as u64, queued_only);
        set.spawn(async move {
            let mut tally = Tally::new();
            loop {
                let items = match until {
                    Until::Time(deadline) if Instant::now() >= deadline => break,
                    Until::Time(_) => size,
                    Until::Items(total) => {
                        let before = sent_items.fetch_add(size as u64, Ordering::Relaxed);
                        if before >= total {
                            break;
                        }
                        size.min((total - before) as usize)
                    }
                };
                let body = if items == size {
                    body.clone()
                } else {
                    batch_body(&policy, items, sender as u64, queued_only)
                };
                // Unique per batch over the whole run: a repeated key would replay a batch.
                let idempotency = format!(
                    "{}-batch-{}",
                    run.run_id,
                    run.batches.fetch_add(1, Ordering::Relaxed)
                );
                let sent = Instant::now();
                match run
                    .target
                    .send(
                        Method::POST,
                        "/v1/items:batch",
                        &key,
                        Some(body),
                        Some(&idempotency),
                    )
                    .await
                {
                    Ok(r) if r.status == StatusCode::CREATED => {
                        record(&mut tally.latencies, sent.elapsed());
                        match r.json::<BatchBrief>() {
                            Ok(batch) => {
                                tally.done += batch.items.len() as u64;
                                let queued =
                                    batch.items.iter().filter(|i| i.status == "queued").count();
                                run.queued.fetch_add(queued as i64, Ordering::Relaxed);
                                if keep_ids {
                                    ids.lock()
                                        .expect("ids mutex poisoned")
                                        .extend(batch.items.into_iter().map(|i| i.id));
                                }
                            }
                            Err(e) => tally.error(e),
                        }
                    }
                    Ok(r) => tally.error(r.error("batch submit")),
                    Err(e) => tally.error(e),
                }
            }
            tally
        });
    }
    let tally = join_all(set).await?;
    let ids = std::mem::take(&mut *ids.lock().expect("ids mutex poisoned"));
    Ok((tally, ids))
}

/// When a batch sender stops.
#[derive(Debug, Clone, Copy)]
enum Until {
    /// At this instant.
    Time(Instant),
    /// Once this many items were sent by all senders together.
    Items(u64),
}

/// Batch submits for `--seconds`: items per second, latency per batch request.
pub(super) async fn batch_submits(run: &Arc<Run>) -> anyhow::Result<Row> {
    let cpu = server_cpu(&run.args.server_pids);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(run.args.seconds);
    let key = run.agents[0].clone();
    let (tally, _) =
        send_batches(run, &key, REPLY_POLICY, false, Until::Time(deadline), false).await?;
    let elapsed = start.elapsed();
    Ok(Row::new(
        "batch submits",
        format!(
            "{} items/batch, {} senders",
            run.args.batch_size, run.args.batch_senders
        ),
        "items",
        tally.done,
        elapsed,
        &tally.latencies,
    )
    .errors(tally.errors)
    .rss(server_rss(&run.args.server_pids))
    .cpu(cpu, server_cpu(&run.args.server_pids))
    .note(join_notes("latency is per batch request", &tally.note())))
}

fn join_notes(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (_, true) => a.to_owned(),
        (true, false) => b.to_owned(),
        (false, false) => format!("{a}; {b}"),
    }
}

/// Tops the queue up to `depth` items with queued-only batches; returns the fill's row when
/// anything was sent.
async fn fill_queue(run: &Arc<Run>, depth: u64, label: &str) -> anyhow::Result<Option<Row>> {
    let have = run.queued.load(Ordering::Relaxed).max(0) as u64;
    if have >= depth {
        return Ok(None);
    }
    let cpu = server_cpu(&run.args.server_pids);
    let start = Instant::now();
    let key = run.agents[0].clone();
    let (tally, _) = send_batches(
        run,
        &key,
        REPLY_POLICY,
        true,
        Until::Items(depth - have),
        false,
    )
    .await?;
    Ok(Some(
        Row::new(
            "queue fill (batches)",
            label,
            "items",
            tally.done,
            start.elapsed(),
            &tally.latencies,
        )
        .errors(tally.errors)
        .rss(server_rss(&run.args.server_pids))
        .cpu(cpu, server_cpu(&run.args.server_pids))
        .note(join_notes(
            &format!(
                "{} items/batch, {} senders, all queued; latency is per batch request",
                run.args.batch_size, run.args.batch_senders
            ),
            &tally.note(),
        )),
    ))
}

/// What one reviewer measured: claim, decide and the round trip.
struct ReviewerTally {
    claim: Tally,
    decide: Tally,
    round_trip: Tally,
    empty: u64,
}

/// `team` reviewers claim and approve until `deadline` or until `claims` claims were made.
async fn review_loop(
    run: &Arc<Run>,
    team: usize,
    deadline: Option<Instant>,
    claims: Option<u64>,
    decided_at: Option<Arc<Mutex<HashMap<String, Instant>>>>,
) -> anyhow::Result<ReviewerTally> {
    let taken = Arc::new(AtomicU64::new(0));
    let mut set = JoinSet::new();
    for key in run.reviewers.iter().take(team) {
        let (run, key, taken, decided_at) =
            (run.clone(), key.clone(), taken.clone(), decided_at.clone());
        set.spawn(async move {
            let mut t = ReviewerTally {
                claim: Tally::new(),
                decide: Tally::new(),
                round_trip: Tally::new(),
                empty: 0,
            };
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                if let Some(max) = claims
                    && taken.fetch_add(1, Ordering::Relaxed) >= max
                {
                    break;
                }
                let sent = Instant::now();
                let claimed = match run.target.claim(&key).await {
                    Ok(Some(c)) => c,
                    Ok(None) => {
                        t.empty += 1;
                        break;
                    }
                    Err(e) => {
                        t.claim.error(e);
                        continue;
                    }
                };
                let claimed_at = Instant::now();
                record(&mut t.claim.latencies, claimed_at - sent);
                t.claim.done += 1;
                if let Some(map) = &decided_at {
                    map.lock()
                        .expect("decisions mutex poisoned")
                        .insert(claimed.item.id.clone(), claimed_at);
                }
                match run.target.approve(&key, &claimed).await {
                    Ok(()) => {
                        let done = Instant::now();
                        record(&mut t.decide.latencies, done - claimed_at);
                        record(&mut t.round_trip.latencies, done - sent);
                        t.decide.done += 1;
                        t.round_trip.done += 1;
                        run.queued.fetch_sub(1, Ordering::Relaxed);
                    }
                    Err(e) => t.decide.error(e),
                }
            }
            t
        });
    }
    let mut total = ReviewerTally {
        claim: Tally::new(),
        decide: Tally::new(),
        round_trip: Tally::new(),
        empty: 0,
    };
    while let Some(t) = set.join_next().await {
        let t = t.context("a reviewer panicked")?;
        total.claim.merge(t.claim);
        total.decide.merge(t.decide);
        total.round_trip.merge(t.round_trip);
        total.empty += t.empty;
    }
    Ok(total)
}

/// Claim → decide round trips for each team size of `--reviewers`, `--seconds` each.
pub(super) async fn claim_decide(run: &Arc<Run>) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for &team in &run.args.reviewers {
        let team = team.clamp(1, run.reviewers.len());
        if let Some(fill) = fill_queue(run, run.args.claim_prefill, "claim prefill").await? {
            rows.push(fill);
        }
        let cpu = server_cpu(&run.args.server_pids);
        let start = Instant::now();
        let deadline = start + Duration::from_secs_f64(run.args.seconds);
        let t = review_loop(run, team, Some(deadline), None, None).await?;
        let elapsed = start.elapsed();
        let mut note = format!(
            "claim p50/p99 {:.2}/{:.2} ms, decide p50/p99 {:.2}/{:.2} ms",
            ms(&t.claim.latencies, 0.5),
            ms(&t.claim.latencies, 0.99),
            ms(&t.decide.latencies, 0.5),
            ms(&t.decide.latencies, 0.99)
        );
        if t.empty > 0 {
            note.push_str("; the queue ran dry: raise --claim-prefill");
        }
        let note = join_notes(&note, &join_notes(&t.claim.note(), &t.decide.note()));
        rows.push(
            Row::new(
                "claim → decide",
                format!("{team} reviewers"),
                "round trips",
                t.round_trip.done,
                elapsed,
                &t.round_trip.latencies,
            )
            .errors(t.claim.errors + t.decide.errors)
            .rss(server_rss(&run.args.server_pids))
            .cpu(cpu, server_cpu(&run.args.server_pids))
            .note(note),
        );
    }
    Ok(rows)
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(q) as f64 / 1000.0
    }
}

/// `--long-pollers` agents wait on their items at once (`GET /v1/items/{id}?wait=60`); reviewers
/// then decide every item. Reports how many long-polls returned with the final verdict, and the
/// wake latency: from the reviewer's claim of the item (the decision follows at once) to the
/// agent receiving the verdict.
pub(super) async fn long_poll(run: &Arc<Run>) -> anyhow::Result<Row> {
    let agents = run.args.long_pollers;
    let (fill, ids) = send_batches(
        run,
        &run.waiter,
        WAIT_POLICY,
        true,
        Until::Items(agents as u64),
        true,
    )
    .await?;
    anyhow::ensure!(
        ids.len() == agents,
        "only {} of {agents} long-polled items were created: {}",
        ids.len(),
        fill.note()
    );

    let mut polls = JoinSet::new();
    for id in ids {
        let run = run.clone();
        polls.spawn(async move {
            let path = format!("/v1/items/{id}?wait={WAIT_SECONDS}");
            let reply = run
                .target
                .send(Method::GET, &path, &run.waiter, None, None)
                .await;
            let heard = Instant::now();
            let outcome = match reply {
                Ok(r) if r.status == StatusCode::OK => r.json::<ItemBrief>().map(|i| i.is_final),
                Ok(r) => Err(r.error("long-poll")),
                Err(e) => Err(e),
            };
            (id, heard, outcome)
        });
    }
    // The polls cannot say when the server has taken them in, so they get a moment to arrive;
    // a poll that arrives after its item was decided returns at once and still counts as woken.
    tokio::time::sleep(Duration::from_secs_f64(run.args.settle_seconds)).await;

    let decided_at = Arc::new(Mutex::new(HashMap::with_capacity(agents)));
    let start = Instant::now();
    let team = run.args.wake_reviewers.clamp(1, run.reviewers.len());
    let reviews = review_loop(
        run,
        team,
        None,
        Some(agents as u64),
        Some(decided_at.clone()),
    )
    .await?;
    let deciding = start.elapsed();

    let mut wake = Tally::new();
    let mut not_final = 0u64;
    while let Some(joined) = polls.join_next().await {
        let (id, heard, outcome) = joined.context("a long-poll panicked")?;
        match outcome {
            Ok(true) => {
                let decided = decided_at
                    .lock()
                    .expect("decisions mutex poisoned")
                    .get(&id)
                    .copied();
                match decided {
                    Some(at) => record(&mut wake.latencies, heard.saturating_duration_since(at)),
                    None => wake.error(anyhow::anyhow!(
                        "item {id} became final without this run deciding it"
                    )),
                }
                wake.done += 1;
            }
            Ok(false) => not_final += 1,
            Err(e) => wake.error(e),
        }
    }
    let verdict = if wake.done == agents as u64 {
        format!("all {agents} long-polls woke with the final verdict")
    } else {
        format!(
            "{} of {agents} woke; {not_final} returned without a final verdict",
            wake.done
        )
    };
    let note = format!(
        "{verdict}; {team} reviewers decided them at {:.0}/s; latency from claim to the agent hearing",
        reviews.round_trip.done as f64 / deciding.as_secs_f64().max(1e-9)
    );
    Ok(Row::new(
        "long-poll wake",
        format!("{agents} agents"),
        "agents woken",
        wake.done,
        deciding,
        &wake.latencies,
    )
    .errors(wake.errors + reviews.claim.errors + reviews.decide.errors)
    .rss(server_rss(&run.args.server_pids))
    .note(join_notes(&note, &wake.note())))
}

/// For each depth: fills the queue to it with batches, records the server's memory, then
/// measures `--depth-claims` claims (each decided) by `--depth-reviewers` reviewers.
pub(super) async fn queue_depth(run: &Arc<Run>, depths: &[u64]) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for &depth in depths {
        if let Some(fill) = fill_queue(run, depth, &format!("to {depth} queued")).await? {
            rows.push(fill);
        }
        let queued = run.queued.load(Ordering::Relaxed);
        let rss = server_rss(&run.args.server_pids);
        let team = run.args.depth_reviewers.clamp(1, run.reviewers.len());
        let cpu = server_cpu(&run.args.server_pids);
        let start = Instant::now();
        let t = review_loop(run, team, None, Some(run.args.depth_claims), None).await?;
        rows.push(
            Row::new(
                "claim at depth",
                format!("{queued} queued"),
                "claims",
                t.claim.done,
                start.elapsed(),
                &t.claim.latencies,
            )
            .errors(t.claim.errors + t.decide.errors)
            .rss(rss)
            .cpu(cpu, server_cpu(&run.args.server_pids))
            .note(join_notes(
                &format!(
                    "{team} reviewers, each claim then decided (decide p99 {:.2} ms); RSS before the claims",
                    ms(&t.decide.latencies, 0.99)
                ),
                &join_notes(&t.claim.note(), &t.decide.note()),
            )),
        );
    }
    Ok(rows)
}
