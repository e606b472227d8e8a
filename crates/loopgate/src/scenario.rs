//! `loopgate scenario`: drives a running Loopgate over its HTTP API with a labelled ticket
//! stream and simulated reviewers, and reports the same figures as `loopgate simulate`, next to
//! what the simulator computes for the same stream.
//!
//! It is the end-to-end proof that the server runs the simulated loop: an agent submits each
//! ticket asking Loopgate's own model to propose (`"model": "loopgate"`); a reviewer claims
//! what is queued and approves the proposal or corrects the label; a quality reviewer judges
//! the audits the server samples; a lead refits the policy every `--refit-every` tickets and
//! resets any kill switch after as many tickets as the simulator holds one. Reviewers are right
//! with `--reviewer-accuracy`, with the simulator's own dice, so both meet the same mistakes.
//! The server has no second opinion, so the comparable simulated policy is
//! `loopgate-single-review`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use loopgate_sim::outcome::{Fate, PolicyResult, Reviews, summarise};
use loopgate_sim::stream::{Dice, review, shuffled};
use loopgate_sim::{Config, Ticket, render};

use crate::simulate::LoopArgs;
use reqwest::{Client, Method, StatusCode};
use serde::Serialize;
use serde_json::{Value, json};

/// Options of `loopgate scenario`.
#[derive(Debug, Args)]
pub struct ScenarioArgs {
    /// The running server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// An admin key of the server's workspace (also `LOOPGATE_ADMIN_KEY`).
    #[arg(long, env = "LOOPGATE_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: String,
    #[command(flatten)]
    pub settings: LoopArgs,
    /// Only the first N tickets of the shuffled stream.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Name of the policy to create (default: `banking.scenario-<seed>-<unix seconds>`).
    #[arg(long)]
    pub policy: Option<String>,
    /// Skip the in-process simulation of the same stream.
    #[arg(long)]
    pub no_compare: bool,
    /// Directory for scenario.json and scenario.md.
    #[arg(long, default_value = "scenario-report")]
    pub report: PathBuf,
}

/// What the scenario measured, with the simulator's figures for the same stream.
#[derive(Debug, Serialize)]
pub struct ScenarioReport {
    /// The policy the scenario created.
    pub policy: String,
    /// Tickets streamed.
    pub items: usize,
    /// Loopgate over the API, then (unless skipped) the simulator's policies.
    pub policies: Vec<PolicyResult>,
    /// Share of tickets whose proposal (from the server's own model) was right.
    pub proposal_accuracy: f64,
    /// Thresholds in force after each refit, as (ticket, calibrated approve_at).
    pub thresholds: Vec<(usize, Option<f64>)>,
    /// Seconds the API run took.
    pub seconds: f64,
}

/// Runs the scenario, writes its report, prints the table.
pub async fn run(args: ScenarioArgs) -> anyhow::Result<()> {
    let tickets = args.settings.tickets()?;
    let config = args.settings.config();
    let mut stream = shuffled(&tickets, config.seed);
    if let Some(limit) = args.limit {
        stream.truncate(limit);
    }
    if stream.is_empty() {
        bail!("no tickets to stream");
    }
    std::fs::create_dir_all(&args.report)
        .with_context(|| format!("cannot create {}", args.report.display()))?;
    let policy = args.policy.clone().unwrap_or_else(|| {
        format!(
            "banking.scenario-{}-{}",
            args.settings.seed,
            chrono::Utc::now().timestamp()
        )
    });

    let api = Api::new(&args.url, &args.admin_key);
    let mut report = drive(&api, &policy, &stream, &tickets, &config).await?;
    if !args.no_compare {
        let simulated = tokio::task::spawn_blocking({
            let config = Config {
                compare_single_review: true,
                ..config.clone()
            };
            move || loopgate_sim::simulate_stream(&stream, &tickets, &config)
        })
        .await??;
        report
            .policies
            .extend(simulated.policies.into_iter().filter(|p| {
                matches!(
                    p.name.as_str(),
                    "ai-only" | "loopgate-single-review" | "oracle"
                )
            }));
    }

    let md = markdown(&report, &config);
    std::fs::write(args.report.join("scenario.md"), &md)?;
    std::fs::write(
        args.report.join("scenario.json"),
        serde_json::to_vec_pretty(&report)?,
    )?;
    println!("{md}");
    println!("report written to {}", args.report.display());
    Ok(())
}

fn markdown(report: &ScenarioReport, config: &Config) -> String {
    format!(
        "# Loopgate scenario over the API\n\n{} tickets through policy `{}` in {:.0} s. Target \
         escape rate α = {}, confidence {}, reviewer accuracy {}, audit rate {}, refit every {} \
         tickets, seed {}. The server's own model proposed the right label for {:.2}% of \
         tickets.\n\n{}\n`loopgate-api` is the server driven over HTTP; the other rows are \
         `loopgate simulate` on the same stream (`loopgate-single-review` is the same loop \
         without second opinions, which the API does not have).\n",
        report.items,
        report.policy,
        report.seconds,
        config.target_escape,
        config.confidence,
        config.reviewer_accuracy,
        config.audit_rate,
        config.refit_every,
        config.seed,
        100.0 * report.proposal_accuracy,
        render::table(&report.policies, config.confidence),
    )
}

/// Streams every ticket through the server; answers the API row of the report.
async fn drive(
    api: &Api,
    policy: &str,
    stream: &[Ticket],
    all: &[Ticket],
    config: &Config,
) -> anyhow::Result<ScenarioReport> {
    let started = Instant::now();
    let labels: Vec<String> = all
        .iter()
        .map(|t| t.label.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let dice = Dice::new(config.seed);
    let agent = api.key("agent", "scenario-agent", &[]).await?;
    let reviewer = api
        .key("reviewer", "scenario-reviewer", &["triage", "quality"])
        .await?;
    let lead = api.key("lead", "scenario-lead", &[]).await?;
    api.call(
        Method::POST,
        "/v1/policies",
        &api.admin,
        Some(json!({
            "name": policy, "kind": "label", "mode": "live",
            "thresholds": {"target_escape": config.target_escape, "confidence": config.confidence},
            "audit_rate": config.audit_rate,
            "validators": {"required_fields": ["label"]},
        })),
        &[StatusCode::CREATED, StatusCode::OK],
    )
    .await?;

    let mut fates = Vec::with_capacity(stream.len());
    let mut reviews = Reviews::default();
    let mut right_proposals = 0;
    let mut trips = 0;
    let mut intent_trips = 0;
    // Switches to reset, as (ticket at which to reset, intent or none for the policy).
    let mut to_reset: Vec<(usize, Option<String>)> = Vec::new();
    let mut thresholds = Vec::new();
    for (i, ticket) in stream.iter().enumerate() {
        for (_, intent) in to_reset.iter().filter(|(at, _)| *at <= i) {
            let mut body = json!({"action": "reset", "reason": "scenario: held as long as the simulator holds a switch"});
            if let Some(intent) = intent {
                body["intent"] = json!(intent);
            }
            api.call(
                Method::POST,
                &format!("/v1/policies/{policy}/kill-switch"),
                &lead,
                Some(body),
                &[StatusCode::OK],
            )
            .await?;
        }
        to_reset.retain(|(at, _)| *at > i);

        let item = api
            .call(
                Method::POST,
                "/v1/items",
                &agent,
                Some(json!({
                    "policy": policy,
                    "input": {"text": ticket.text},
                    "customer": {"id": "banking77"},
                    "proposal": {"kind": "label", "model": "loopgate"},
                })),
                &[StatusCode::CREATED],
            )
            .await?;
        let proposed = item["proposal"]["payload"]["label"]
            .as_str()
            .map(str::to_owned);
        right_proposals += usize::from(proposed.as_deref() == Some(ticket.label.as_str()));
        let person = review(
            &dice,
            i,
            0,
            &ticket.label,
            &labels,
            config.reviewer_accuracy,
        );
        let fate = match item["status"].as_str() {
            Some("auto_approved") => {
                if item["representative"] == true {
                    // The server sampled it for audit: judge the oldest waiting audit, this one.
                    reviews.audit += 1;
                    let claimed = api
                        .call(
                            Method::POST,
                            "/v1/audits/claim",
                            &reviewer,
                            Some(json!({})),
                            &[StatusCode::OK],
                        )
                        .await?;
                    let escaped = proposed.as_deref() != Some(person.as_str());
                    let mut verdict =
                        json!({"lease_id": claimed["audit"]["lease_id"], "escaped": escaped});
                    if escaped {
                        verdict["label"] = json!(person);
                    }
                    let result = api
                        .call(
                            Method::POST,
                            &format!(
                                "/v1/audits/{}/verdict",
                                claimed["audit"]["id"].as_str().unwrap_or_default()
                            ),
                            &reviewer,
                            Some(verdict),
                            &[StatusCode::OK],
                        )
                        .await?;
                    for scope in result["tripped"].as_array().into_iter().flatten() {
                        let scope = scope.as_str().unwrap_or_default();
                        let intent = scope.strip_prefix("intent:").map(str::to_owned);
                        if intent.is_some() {
                            intent_trips += 1;
                        } else {
                            trips += 1;
                        }
                        to_reset.push((i + 1 + config.kill_switch.reset_after, intent));
                    }
                }
                Fate {
                    automated: true,
                    correct: proposed.as_deref() == Some(ticket.label.as_str()),
                }
            }
            Some("queued") => {
                reviews.first += 1;
                let claimed = api
                    .call(
                        Method::POST,
                        "/v1/reviews/claim",
                        &reviewer,
                        None,
                        &[StatusCode::OK],
                    )
                    .await?;
                let claimed = &claimed["item"];
                if claimed["id"] != item["id"] {
                    bail!(
                        "the claim offered item {} instead of {}: is another client using this server?",
                        claimed["id"],
                        item["id"]
                    );
                }
                let decision = if proposed.as_deref() == Some(person.as_str()) {
                    json!({"lease_id": claimed["lease"]["id"], "decision": "approve"})
                } else {
                    json!({"lease_id": claimed["lease"]["id"], "decision": "edit",
                           "edited_payload": {"label": person}, "codes": ["INCORRECT"]})
                };
                api.call(
                    Method::POST,
                    &format!(
                        "/v1/items/{}/decision",
                        item["id"].as_str().unwrap_or_default()
                    ),
                    &reviewer,
                    Some(decision),
                    &[StatusCode::OK],
                )
                .await?;
                Fate {
                    automated: false,
                    correct: person == ticket.label,
                }
            }
            other => bail!(
                "item {} ended {other:?}, which a label policy never does",
                item["id"]
            ),
        };
        fates.push(fate);

        if (i + 1) % config.refit_every == 0 {
            let view = api
                .call(
                    Method::POST,
                    &format!("/v1/policies/{policy}/refit"),
                    &lead,
                    None,
                    &[StatusCode::OK],
                )
                .await?;
            thresholds.push((i + 1, view["thresholds"]["approve_at"].as_f64()));
        }
    }

    let seconds = started.elapsed().as_secs_f64();
    let mut row = summarise(
        "loopgate-api",
        "the server driven over HTTP: its own model proposes, people review what it queues and audit what it samples",
        &fates,
        |k, n| upper_bound(k, n, config.confidence),
    );
    row.reviews = reviews;
    row.kill_switch_trips = trips;
    row.intent_kill_switch_trips = intent_trips;
    row.seconds_per_1000 = seconds / stream.len() as f64 * 1000.0;
    row.proposal_accuracy = Some(right_proposals as f64 / stream.len() as f64);
    Ok(ScenarioReport {
        policy: policy.to_owned(),
        items: stream.len(),
        policies: vec![row],
        proposal_accuracy: right_proposals as f64 / stream.len() as f64,
        thresholds,
        seconds,
    })
}

/// The one-sided Clopper–Pearson upper bound the simulator reports, at the run's confidence.
fn upper_bound(k: usize, n: usize, confidence: f64) -> f64 {
    loopgate_learn::risk::clopper_pearson_upper(k as u64, n as u64, 1.0 - confidence).unwrap_or(1.0)
}

/// The server, with the admin key.
struct Api {
    client: Client,
    base: String,
    admin: String,
}

impl Api {
    fn new(base: &str, admin: &str) -> Self {
        Self {
            client: Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            admin: admin.to_owned(),
        }
    }

    /// Creates a key; answers its secret.
    async fn key(&self, role: &str, name: &str, reviewer_roles: &[&str]) -> anyhow::Result<String> {
        let created = self
            .call(
                Method::POST,
                "/v1/keys",
                &self.admin,
                Some(json!({"name": name, "role": role, "reviewer_roles": reviewer_roles})),
                &[StatusCode::CREATED],
            )
            .await?;
        created["key"]
            .as_str()
            .map(str::to_owned)
            .context("the key answer has no key")
    }

    /// One request; fails unless the status is one of `expect`. Answers the JSON body.
    async fn call(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
        expect: &[StatusCode],
    ) -> anyhow::Result<Value> {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {path}: is Loopgate running at {}?", self.base))?;
        let status = response.status();
        let text = response.text().await?;
        if !expect.contains(&status) {
            bail!("{method} {path} answered {status}: {text}");
        }
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).with_context(|| format!("{method} {path}: not JSON: {text}"))
    }
}
