//! The workspace's pages and forms.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;

use askama::Template;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use chrono::Duration;
use loopgate_core::audit::AuditActor;
use loopgate_core::clock::to_millis;
use loopgate_core::lifecycle::Reviewer;
use loopgate_core::review::BUILTIN_CODES;
use loopgate_core::{
    AccessRole, Decision, DecisionRequest, Item, ItemId, Lane, LeaseId, PayloadDiff, Permission,
    PolicyName, Role, Rubric, Status, WorkspaceId,
};
use loopgate_store::{ClaimRequest, ItemFilter, NewAccount, NewSession, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_stream::wrappers::{BroadcastStream, WatchStream};
use tokio_stream::{Stream, StreamExt};

use super::session::{
    self, LOGIN_CSRF_COOKIE, SESSION_COOKIE, Viewer, check_password, hash_password, random_token,
    same_token, secret_hash, session_cookie, verify_password,
};
use super::views::{self, EditTarget, Nav, ReviewView, Row};
use super::{WebError, WebForm, render};
use crate::state::AppState;

type PageResult = Result<Response, WebError>;

/// Short messages a redirect may ask a page to show; only these, so no text is reflected.
fn notice(code: Option<&str>) -> Option<String> {
    Some(
        match code? {
            "empty" => {
                "Nothing is waiting for you right now. New items appear here as they arrive."
            }
            "lease_expired" => "Your lease on that item expired and it went back to the queue.",
            "lease_not_held" => {
                "That item is no longer yours to decide (your lease ended or someone else has it)."
            }
            "decided" => "Decision saved.",
            "tripped" => "Kill switch tripped: every item of that policy now goes to people.",
            "reset" => "Kill switch reset.",
            "not_tripped" => "That kill switch was not tripped; nothing changed.",
            "saved" => "Saved.",
            _ => return None,
        }
        .to_owned(),
    )
}

#[derive(Debug, Deserialize, Default)]
pub struct NoticeQuery {
    notice: Option<String>,
}

pub async fn home() -> Redirect {
    Redirect::to("/queue")
}

// --- signing in ------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    next: String,
    name: String,
    workspace: String,
    error: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub struct LoginQuery {
    next: Option<String>,
}

/// Only local paths: a sign-in must never redirect to another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/queue".to_owned(),
    }
}

fn login_response(jar: CookieJar, page: LoginPage, secure: bool) -> PageResult {
    let cookie = Cookie::build((LOGIN_CSRF_COOKIE, page.csrf.clone()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .path("/login")
        .build();
    Ok((jar.add(cookie), render(&page)?).into_response())
}

pub async fn login_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<LoginQuery>,
) -> PageResult {
    let page = LoginPage {
        csrf: random_token(),
        next: safe_next(q.next.as_deref()),
        name: String::new(),
        workspace: WorkspaceId::default_workspace().to_string(),
        error: None,
    };
    login_response(jar, page, state.settings().secure_cookies)
}

/// Its password never shows in `Debug`.
#[derive(Deserialize)]
pub struct LoginForm {
    csrf: String,
    name: String,
    password: String,
    workspace: String,
    next: Option<String>,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("csrf", &self.csrf)
            .field("name", &self.name)
            .field("workspace", &self.workspace)
            .field("next", &self.next)
            .field("password", &"[redacted]")
            .finish()
    }
}

pub async fn login(
    State(state): State<AppState>,
    jar: CookieJar,
    WebForm(form): WebForm<LoginForm>,
) -> PageResult {
    let secure = state.settings().secure_cookies;
    let expected = jar
        .get(LOGIN_CSRF_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    let retry = |error: &str| LoginPage {
        csrf: random_token(),
        next: safe_next(form.next.as_deref()),
        name: form.name.clone(),
        workspace: form.workspace.clone(),
        error: Some(error.to_owned()),
    };
    if expected.is_empty() || !same_token(&expected, &form.csrf) {
        return login_response(
            jar,
            retry("The sign-in form expired; please try again."),
            secure,
        );
    }
    let Ok(workspace) = form.workspace.trim().parse::<WorkspaceId>() else {
        return login_response(jar, retry("No such workspace."), secure);
    };
    let account = state.store().account(&workspace, form.name.trim()).await?;
    let principal = match account {
        Some((principal, hash)) if verify_password(&form.password, &hash) => principal,
        // One message for an unknown name and a wrong password: names are not revealed.
        _ => return login_response(jar, retry("Wrong name or password."), secure),
    };
    if principal.access == AccessRole::Agent {
        return login_response(
            jar,
            retry("Programs sign in with API keys, not here."),
            secure,
        );
    }
    let secret = random_token();
    let now = state.clock().now();
    state
        .store()
        .create_session(NewSession {
            secret_hash: secret_hash(&secret),
            principal: principal.id,
            csrf_token: random_token(),
            created_at: now,
            expires_at: now + session::session_length(),
        })
        .await?;
    let jar = jar
        .remove(Cookie::build(LOGIN_CSRF_COOKIE).path("/login"))
        .add(session_cookie(secret, secure));
    Ok((jar, Redirect::to(&safe_next(form.next.as_deref()))).into_response())
}

/// A form that carries nothing but the CSRF token. In every form the token defaults to empty,
/// so that a forged form without one is refused like one with a wrong token (403), not as a
/// malformed form.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(state): State<AppState>,
    viewer: Viewer,
    jar: CookieJar,
    WebForm(form): WebForm<CsrfForm>,
) -> PageResult {
    viewer.check_csrf(&form.csrf)?;
    state
        .store()
        .end_session(viewer.session, state.clock().now())
        .await?;
    Ok((
        jar.remove(Cookie::build(SESSION_COOKIE).path("/")),
        Redirect::to("/login"),
    )
        .into_response())
}

// --- the queue -------------------------------------------------------------------------

#[derive(Debug, Deserialize, Default)]
pub struct QueueQuery {
    policy: Option<String>,
    lane: Option<String>,
    tier: Option<String>,
    notice: Option<String>,
}

/// Everything waiting or in review that the person may see, most urgent first, and how many
/// of those they could claim.
async fn queue_items(
    state: &AppState,
    viewer: &Viewer,
    q: &QueueQuery,
) -> Result<(Vec<Item>, usize), WebError> {
    let p = &viewer.principal;
    let filter = ItemFilter {
        statuses: vec![
            Status::Queued,
            Status::AwaitingConfirmation,
            Status::InReview,
        ],
        policy: q
            .policy
            .as_deref()
            .filter(|s| !s.is_empty())
            .and_then(|s| s.parse::<PolicyName>().ok()),
        lane: q
            .lane
            .as_deref()
            .filter(|s| !s.is_empty())
            .and_then(|s| s.parse::<Lane>().ok()),
        limit: 500,
        ..ItemFilter::default()
    };
    let mut items: Vec<Item> = state
        .store()
        .list_items(&p.workspace, &filter)
        .await?
        .into_iter()
        .filter(|i| {
            q.tier
                .as_deref()
                .filter(|t| !t.is_empty())
                .is_none_or(|t| i.customer.tier.as_deref() == Some(t))
        })
        .filter(|i| {
            views::may_handle(p, i) || i.lease.as_ref().is_some_and(|l| l.holder.id == p.id)
        })
        .collect();
    items.sort_by_key(|i| {
        (
            i.lane.map_or(9, |l| l.rank()),
            views::current_due(i).map_or(i64::MAX, to_millis),
        )
    });
    let waiting = items
        .iter()
        .filter(|i| matches!(i.status, Status::Queued | Status::AwaitingConfirmation))
        .count();
    Ok((items, waiting))
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage {
    nav: Nav,
    rows: Vec<Row>,
    waiting: usize,
    policies: Vec<(String, bool)>,
    lanes: Vec<(String, bool)>,
    tiers: Vec<(String, bool)>,
}

#[derive(Template)]
#[template(path = "queue_rows.html")]
struct QueueRows {
    rows: Vec<Row>,
}

pub async fn queue(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<QueueQuery>,
) -> PageResult {
    viewer.require(Permission::Review, "review items")?;
    let (items, waiting) = queue_items(&state, &viewer, &q).await?;
    let now = state.clock().now();
    let policies = state
        .store()
        .list_policies(&viewer.principal.workspace)
        .await?;
    let chosen = |value: &str, wanted: &Option<String>| wanted.as_deref() == Some(value);
    let mut tiers: BTreeSet<String> = items
        .iter()
        .filter_map(|i| i.customer.tier.clone())
        .collect();
    tiers.extend(q.tier.clone().filter(|t| !t.is_empty()));
    let page = QueuePage {
        nav: Nav::new(&viewer, "queue", notice(q.notice.as_deref())),
        rows: items.iter().map(|i| views::row(i, now)).collect(),
        waiting,
        policies: policies
            .iter()
            .map(|p| {
                (
                    p.policy.name.to_string(),
                    chosen(p.policy.name.as_str(), &q.policy),
                )
            })
            .collect(),
        lanes: Lane::ALL
            .iter()
            .map(|l| (l.to_string(), chosen(l.as_str(), &q.lane)))
            .collect(),
        tiers: tiers
            .into_iter()
            .map(|t| {
                let c = chosen(&t, &q.tier);
                (t, c)
            })
            .collect(),
    };
    Ok(render(&page)?.into_response())
}

/// The queue's rows as HTML, for the live refresh.
pub async fn queue_rows(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<QueueQuery>,
) -> PageResult {
    viewer.require(Permission::Review, "review items")?;
    let (items, waiting) = queue_items(&state, &viewer, &q).await?;
    let now = state.clock().now();
    let rows = QueueRows {
        rows: items.iter().map(|i| views::row(i, now)).collect(),
    }
    .render()
    .map_err(|e| WebError::Store(StoreError::Internal(e.to_string())))?;
    Ok(Json(json!({"rows": rows, "waiting": waiting})).into_response())
}

/// Item changes in the person's workspace, as server-sent events.
pub async fn events(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, WebError> {
    viewer.require(Permission::Review, "review items")?;
    let workspace = viewer.principal.workspace.clone();
    let changes =
        BroadcastStream::new(state.store().subscribe()).filter_map(move |change| match change {
            Ok(c) if c.workspace == workspace => Some(Some(
                Event::default().event("changed").data(c.id.to_string()),
            )),
            Ok(_) => None,
            // Missed changes: tell the page to refresh anyway.
            Err(_) => Some(Some(Event::default().event("changed").data(""))),
        });
    // The stream ends when the server shuts down (the page reconnects to the next one), so that
    // an open page does not hold the shutdown up: the shutdown comes into the stream as `None`,
    // and the stream takes events until it.
    let shutdown =
        WatchStream::new(state.draining()).filter_map(|draining| draining.then_some(None));
    let stream = changes
        .merge(shutdown)
        .take_while(Option::is_some)
        .filter_map(|event| event.map(Ok));
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

// --- reviewing -------------------------------------------------------------------------

/// The item to review next: one the person already holds a live lease on, or else the most
/// urgent one they may take, claimed. Returning to a held item first means "review next" never
/// leaves an item leased to someone who moved on (a lease cannot be handed back early, so it
/// would sit blocked until it lapsed).
async fn claim_next(state: &AppState, viewer: &Viewer) -> Result<Option<Item>, WebError> {
    let p = &viewer.principal;
    let now = state.clock().now();
    let in_review = ItemFilter {
        statuses: vec![Status::InReview],
        limit: 500,
        ..ItemFilter::default()
    };
    let held = state
        .store()
        .list_items(&p.workspace, &in_review)
        .await?
        .into_iter()
        .find(|i| {
            i.lease
                .as_ref()
                .is_some_and(|l| l.holder.id == p.id && l.expires_at > now)
        });
    if held.is_some() {
        return Ok(held);
    }
    Ok(state
        .store()
        .claim_next(
            &p.workspace,
            ClaimRequest {
                reviewer: Reviewer {
                    actor: p.actor(),
                    roles: p.effective_roles(),
                },
                roles: Vec::new(),
                lanes: Vec::new(),
                lease_id: LeaseId::new(),
                default_lease: state.settings().default_lease,
                now,
            },
        )
        .await?)
}

fn go_to(next: Option<Item>) -> Response {
    match next {
        Some(item) => Redirect::to(&format!("/items/{}", item.id)).into_response(),
        None => Redirect::to("/queue?notice=empty").into_response(),
    }
}

pub async fn review_next(
    State(state): State<AppState>,
    viewer: Viewer,
    WebForm(form): WebForm<CsrfForm>,
) -> PageResult {
    viewer.check_csrf(&form.csrf)?;
    viewer.require(Permission::Review, "review items")?;
    Ok(go_to(claim_next(&state, &viewer).await?))
}

fn item_id(raw: &str) -> Result<ItemId, WebError> {
    raw.parse()
        .map_err(|_| WebError::NotFound(format!("{raw:?} is not an item id.")))
}

#[derive(Debug)]
struct ItemFacts {
    id: String,
    short_id: String,
    policy: String,
    lane: String,
    stage: String,
    stage_label: String,
    status: String,
    is_final: bool,
    due_ms: i64,
    due_text: String,
    channel: String,
    text: String,
    input_extra: Vec<(String, String)>,
    kind: String,
    model: String,
    proposal_main: String,
    proposal_fields: Vec<(String, String)>,
    raw: String,
    calibrated: String,
    calibrator: String,
    rationale: Option<String>,
    citations: Vec<(String, String, String)>,
    reasons: Vec<(String, String)>,
    validators: Vec<(String, bool, String)>,
    customer_name: String,
    customer_id: String,
    tier: String,
    health: String,
    deal_value: String,
    renewal: String,
    customer_extra: Vec<(String, String)>,
    signals: Vec<String>,
}

impl ItemFacts {
    fn new(item: &Item, now: loopgate_core::Timestamp) -> Self {
        let row = views::row(item, now);
        let payload = &item.proposal.payload;
        let (main, fields) = match item.proposal.kind {
            loopgate_core::Kind::Label => (
                payload
                    .get("label")
                    .map_or_else(|| views::show(payload), views::show),
                other_fields(payload, &["label"]),
            ),
            loopgate_core::Kind::Reply => match views::edit_target(payload) {
                EditTarget::Field(key) => (
                    views::show(&payload[&key]),
                    other_fields(payload, &[key.as_str()]),
                ),
                EditTarget::Json => (
                    serde_json::to_string_pretty(payload).unwrap_or_default(),
                    Vec::new(),
                ),
            },
            loopgate_core::Kind::Action => {
                let amount = payload.get("amount").map(views::show);
                let currency = payload.get("currency").map(views::show).unwrap_or_default();
                (
                    amount.map_or_else(|| "action".to_owned(), |a| format!("{a} {currency}")),
                    other_fields(payload, &["amount", "currency"]),
                )
            }
        };
        let c = &item.customer;
        Self {
            id: item.id.to_string(),
            short_id: item
                .id
                .to_string()
                .chars()
                .rev()
                .take(8)
                .collect::<String>()
                .chars()
                .rev()
                .collect(),
            policy: item.policy.to_string(),
            lane: row.lane,
            stage: item.stage.map_or(String::new(), |s| s.to_string()),
            stage_label: item
                .stage
                .map_or_else(|| "final".to_owned(), |s| format!("{s} stage")),
            status: item.status.to_string(),
            is_final: item.is_final,
            due_ms: if item.is_final { 0 } else { row.due_ms },
            due_text: row.due_text,
            channel: item.input.channel.clone().unwrap_or_default(),
            text: item.input.text.clone(),
            input_extra: item
                .input
                .extra
                .iter()
                .map(|(k, v)| (k.clone(), views::show(v)))
                .collect(),
            kind: item.proposal.kind.to_string(),
            model: [
                item.proposal.model.clone(),
                item.proposal.model_version.clone(),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" "),
            proposal_main: main,
            proposal_fields: fields,
            raw: format!("{:.3}", item.verdict.confidence.raw.get()),
            calibrated: format!("{:.3}", item.verdict.confidence.calibrated.get()),
            calibrator: item.verdict.confidence.calibrator.clone(),
            rationale: item.proposal.rationale.clone(),
            citations: item
                .proposal
                .citations
                .iter()
                .map(|c| {
                    (
                        c.source.clone(),
                        c.title.clone().unwrap_or_default(),
                        c.quote.clone().unwrap_or_default(),
                    )
                })
                .collect(),
            reasons: item
                .verdict
                .reasons
                .iter()
                .map(|r| (r.code.to_string(), r.message.clone()))
                .collect(),
            validators: item
                .verdict
                .validators
                .iter()
                .map(|v| (v.validator.clone(), v.passed, v.message.clone()))
                .collect(),
            customer_name: c.name.clone().unwrap_or_else(|| c.id.clone()),
            customer_id: c.id.clone(),
            tier: c.tier.clone().unwrap_or_else(|| "–".into()),
            health: c
                .health_score
                .map_or("–".into(), |h| format!("{:.0}%", h.get() * 100.0)),
            deal_value: c
                .deal_value
                .map_or("–".into(), |d| format!("{:.0}", d.get())),
            renewal: c.renewal_date.map_or("–".into(), |d| {
                let days = (d - now.date_naive()).num_days();
                format!("{d} ({days} days)")
            }),
            customer_extra: c
                .extra
                .iter()
                .map(|(k, v)| (k.clone(), views::show(v)))
                .collect(),
            signals: item.signals.clone(),
        }
    }
}

fn other_fields(payload: &Value, skip: &[&str]) -> Vec<(String, String)> {
    payload
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| !skip.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), views::show(v)))
                .collect()
        })
        .unwrap_or_default()
}

struct PendingView {
    proposer: String,
    outcome: String,
    diff: String,
    is_you: bool,
}

#[derive(Template)]
#[template(path = "item.html")]
struct ItemPage {
    nav: Nav,
    item: ItemFacts,
    mine: bool,
    holder: Option<String>,
    lease_id: String,
    lease_due_ms: i64,
    pending: Option<PendingView>,
    reviews: Vec<ReviewView>,
    history: Vec<(String, String, String, String)>,
    codes: Vec<(usize, String, String)>,
    rubric_fields: Vec<(&'static str, &'static str)>,
    edit_value: String,
    edit_json: bool,
    prev: Option<String>,
    next: Option<String>,
}

pub async fn item(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> PageResult {
    viewer.require(Permission::ReadAllItems, "read items")?;
    let id = item_id(&id)?;
    let p = &viewer.principal;
    let item = state
        .store()
        .get_item(&p.workspace, id)
        .await?
        .ok_or_else(|| WebError::NotFound("No such item in your workspace.".into()))?;
    let now = state.clock().now();
    let mine = item.status == Status::InReview
        && item
            .lease
            .as_ref()
            .is_some_and(|l| l.holder.id == p.id && l.expires_at > now);
    let reviews = state.store().reviews(&p.workspace, id).await?;
    let history = state
        .store()
        .customer_history(&p.workspace, &item.customer.id, id, 10)
        .await?;
    let custom = state.store().decision_codes(&p.workspace).await?;
    let codes: Vec<(usize, String, String)> = BUILTIN_CODES
        .iter()
        .map(|(c, d)| ((*c).to_owned(), (*d).to_owned()))
        .chain(custom.into_iter().map(|c| (c.code, c.description)))
        .take(9)
        .enumerate()
        .map(|(i, (c, d))| (i + 1, c, d))
        .collect();
    let (queue, _) = queue_items(&state, &viewer, &QueueQuery::default())
        .await
        .unwrap_or_default();
    let at = queue.iter().position(|i| i.id == id);
    let neighbour = |offset: isize| {
        at.and_then(|a| a.checked_add_signed(offset))
            .and_then(|n| queue.get(n))
            .map(|i| i.id.to_string())
    };
    let target = views::edit_target(&item.proposal.payload);
    let under_review = item
        .pending
        .as_ref()
        .map_or(&item.proposal.payload, |pd| &pd.payload);
    let page = ItemPage {
        nav: Nav::new(&viewer, "queue", notice(q.notice.as_deref())),
        mine,
        holder: item
            .lease
            .as_ref()
            .filter(|_| !mine)
            .map(|l| l.holder.name.clone()),
        lease_id: item
            .lease
            .as_ref()
            .map(|l| l.id.to_string())
            .unwrap_or_default(),
        lease_due_ms: item.lease.as_ref().map_or(0, |l| to_millis(l.expires_at)),
        pending: item.pending.as_ref().map(|pd| PendingView {
            proposer: pd.proposer.name.clone(),
            outcome: pd.outcome.to_string(),
            diff: pd
                .diff
                .as_ref()
                .map(|d| d.unified.clone())
                .unwrap_or_default(),
            is_you: pd.proposer.id == p.id,
        }),
        reviews: reviews.iter().map(views::review).collect(),
        history: history
            .into_iter()
            .map(|h| {
                (
                    h.id.to_string(),
                    h.policy.to_string(),
                    h.status.to_string(),
                    h.created_at.format("%Y-%m-%d %H:%M").to_string(),
                )
            })
            .collect(),
        codes,
        rubric_fields: vec![
            ("correctness", "Correctness"),
            ("completeness", "Completeness"),
            ("policy_compliance", "Policy compliance"),
            ("tone", "Tone"),
        ],
        edit_value: views::edit_value(under_review, &target),
        edit_json: target == EditTarget::Json,
        prev: neighbour(-1),
        next: neighbour(1),
        item: ItemFacts::new(&item, now),
    };
    Ok(render(&page)?.into_response())
}

#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    csrf: String,
    lease_id: String,
    decision: String,
    #[serde(default)]
    codes: Vec<String>,
    edited: Option<String>,
    rubric_correctness: Option<String>,
    rubric_completeness: Option<String>,
    rubric_policy_compliance: Option<String>,
    rubric_tone: Option<String>,
    rationale: Option<String>,
}

fn score(field: &Option<String>) -> Result<Option<u8>, WebError> {
    match field.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse::<u8>()
            .map(Some)
            .map_err(|_| WebError::BadRequest(format!("rubric scores are 1 to 5, not {s:?}"))),
    }
}

pub async fn decide(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    WebForm(form): WebForm<DecisionForm>,
) -> PageResult {
    viewer.check_csrf(&form.csrf)?;
    viewer.require(Permission::Review, "review items")?;
    let id = item_id(&id)?;
    let p = viewer.principal.clone();
    let decision: Decision = form.decision.parse().map_err(|_| {
        WebError::BadRequest("choose approve, edit, reject, escalate or send back".into())
    })?;
    let lease_id: LeaseId = form
        .lease_id
        .parse()
        .map_err(|_| WebError::BadRequest("the form lost its lease; reload the item".into()))?;
    let item = state
        .store()
        .get_item(&p.workspace, id)
        .await?
        .ok_or_else(|| WebError::NotFound("No such item in your workspace.".into()))?;
    let edited_payload = if decision == Decision::Edit {
        let under_review = item
            .pending
            .as_ref()
            .map_or(&item.proposal.payload, |pd| &pd.payload);
        let target = views::edit_target(&item.proposal.payload);
        // Browsers send a textarea's line breaks as CRLF (HTML form encoding), while its value,
        // the preview and the proposal use LF: without this every edited line would change.
        let text = form
            .edited
            .as_deref()
            .unwrap_or_default()
            .replace("\r\n", "\n");
        Some(views::edited_payload(under_review, &target, &text).map_err(WebError::BadRequest)?)
    } else {
        None
    };
    let rubric = Rubric {
        correctness: score(&form.rubric_correctness)?,
        completeness: score(&form.rubric_completeness)?,
        policy_compliance: score(&form.rubric_policy_compliance)?,
        tone: score(&form.rubric_tone)?,
    };
    let request = DecisionRequest {
        lease_id,
        decision,
        codes: form.codes.clone(),
        rubric: (rubric != Rubric::default()).then_some(rubric),
        edited_payload,
        rationale: form
            .rationale
            .clone()
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty()),
    };
    let known: BTreeSet<String> = state
        .store()
        .decision_codes(&p.workspace)
        .await?
        .into_iter()
        .map(|c| c.code)
        .collect();
    let reviewer = Reviewer {
        actor: p.actor(),
        roles: p.effective_roles(),
    };
    let now = state.clock().now();
    let result = state
        .store()
        .mutate_item(
            &p.workspace,
            id,
            Box::new(move |item| crate::learning::decide(item, &reviewer, &request, &known, now)),
        )
        .await;
    match result {
        // Straight on to the next item, claimed in the same request: no waiting.
        Ok(_) => Ok(go_to(claim_next(&state, &viewer).await?)),
        Err(StoreError::Rejected(e)) => {
            use loopgate_core::TransitionError::*;
            let code = match e {
                LeaseExpired { .. } => "lease_expired",
                LeaseNotHeld { .. } | LeaseNotExpired | NotClaimable { .. } => "lease_not_held",
                other => return Err(WebError::BadRequest(other.to_string())),
            };
            Ok(Redirect::to(&format!("/queue?notice={code}")).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct DiffBody {
    edited: String,
}

/// The diff an edit would record, for the preview before submitting.
pub async fn diff(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<DiffBody>,
) -> PageResult {
    let token = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    viewer.check_csrf(token)?;
    viewer.require(Permission::Review, "review items")?;
    let id = item_id(&id)?;
    let item = state
        .store()
        .get_item(&viewer.principal.workspace, id)
        .await?
        .ok_or_else(|| WebError::NotFound("No such item in your workspace.".into()))?;
    let under_review = item
        .pending
        .as_ref()
        .map_or(&item.proposal.payload, |pd| &pd.payload);
    let target = views::edit_target(&item.proposal.payload);
    Ok(
        match views::edited_payload(under_review, &target, &body.edited) {
            Ok(edited) => {
                let d = PayloadDiff::between(under_review, &edited);
                Json(json!({"changed": !d.is_empty(), "unified": d.unified})).into_response()
            }
            Err(e) => Json(json!({"error": e})).into_response(),
        },
    )
}

// --- audit -----------------------------------------------------------------------------

struct EntryView {
    seq: i64,
    at: String,
    actor: String,
    role: String,
    action: String,
    from: String,
    to: String,
    details: Vec<String>,
    diff: String,
    hash: String,
    hash_short: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: Nav,
    id: String,
    short_id: String,
    policy: String,
    entries: Vec<EntryView>,
}

fn details(detail: &Value) -> (Vec<String>, String) {
    let mut lines = Vec::new();
    let get = |k: &str| detail.get(k).filter(|v| !v.is_null());
    if let Some(d) = get("decision") {
        lines.push(format!("decision: {}", views::show(d)));
    }
    if let Some(Value::Array(codes)) = get("codes")
        && !codes.is_empty()
    {
        lines.push(format!(
            "codes: {}",
            codes.iter().map(views::show).collect::<Vec<_>>().join(", ")
        ));
    }
    if let Some(Value::Object(r)) = get("rubric") {
        lines.push(format!(
            "rubric: {}",
            r.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(r) = get("rationale") {
        lines.push(format!("rationale: {}", views::show(r)));
    }
    if let Some(Value::Array(reasons)) = get("reasons") {
        for r in reasons {
            lines.push(format!(
                "{}: {}",
                views::show(&r["code"]),
                views::show(&r["message"])
            ));
        }
    }
    for key in [
        "lease_id",
        "holder",
        "expires_at",
        "expired_at",
        "reason",
        "policy",
    ] {
        if let Some(v) = get(key) {
            lines.push(format!("{}: {}", key.replace('_', " "), views::show(v)));
        }
    }
    let diff = detail
        .get("diff")
        .and_then(|d| d.get("unified"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    (lines, diff)
}

pub async fn audit(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> PageResult {
    viewer.require(Permission::ReadAllItems, "read the audit trail")?;
    let id = item_id(&id)?;
    let p = &viewer.principal;
    let item = state
        .store()
        .get_item(&p.workspace, id)
        .await?
        .ok_or_else(|| WebError::NotFound("No such item in your workspace.".into()))?;
    let entries = state.store().item_audit(&p.workspace, id).await?;
    let page = AuditPage {
        nav: Nav::new(&viewer, "queue", None),
        id: id.to_string(),
        short_id: ItemFacts::new(&item, state.clock().now()).short_id,
        policy: item.policy.to_string(),
        entries: entries
            .into_iter()
            .map(|e| {
                let (details, diff) = details(&e.detail);
                EntryView {
                    seq: e.seq,
                    at: e.at.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
                    actor: e.actor.name,
                    role: e.actor.role,
                    action: e.action.replace('_', " "),
                    from: e.from.unwrap_or_default(),
                    to: e.to.unwrap_or_default(),
                    details,
                    diff,
                    hash_short: e.hash.chars().take(12).collect(),
                    hash: e.hash,
                }
            })
            .collect(),
    };
    Ok(render(&page)?.into_response())
}

// --- the lead's view -------------------------------------------------------------------

struct PolicyRow {
    in_force: String,
    learned: String,
    /// The latest threshold changes, newest first.
    history: Vec<String>,
    name: String,
    version: u32,
    kind: String,
    mode: String,
    approve_at: String,
    reject_below: String,
    two_person: bool,
    tripped: bool,
    tripped_by: String,
    reason: String,
    /// Tripped per-intent switches: (intent, tripped by, reason).
    intents: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "lead.html")]
struct LeadPage {
    nav: Nav,
    roles: Vec<String>,
    backlog: Vec<(String, Vec<u64>, u64)>,
    throughput: Vec<(String, u64, String)>,
    breached: Vec<(String, String, String, i64)>,
    due_soon: Vec<(String, String, String, i64)>,
    policies: Vec<PolicyRow>,
}

fn due_row(item: &Item) -> (String, String, String, i64) {
    (
        item.id.to_string(),
        format!(
            "{} · {}",
            item.policy,
            item.customer
                .name
                .clone()
                .unwrap_or_else(|| item.customer.id.clone())
        ),
        item.lane.map_or("–".into(), |l| l.to_string()),
        views::current_due(item).map_or(0, to_millis),
    )
}

pub async fn lead(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<NoticeQuery>,
) -> PageResult {
    viewer.require(Permission::ManagePolicies, "see the lead view")?;
    let ws = &viewer.principal.workspace;
    let now = state.clock().now();
    let stats = state
        .store()
        .queue_stats(ws, now, Duration::minutes(15), now - Duration::hours(24))
        .await?;
    let mut grid: BTreeMap<Lane, BTreeMap<Role, u64>> = BTreeMap::new();
    for cell in &stats.backlog {
        *grid
            .entry(cell.lane)
            .or_default()
            .entry(cell.role)
            .or_default() += cell.count;
    }
    let switches = state.store().kill_switches(ws).await?;
    let policies = state.store().list_policies(ws).await?;
    let mut learned_states = BTreeMap::new();
    for sp in &policies {
        let name = &sp.policy.name;
        let learned =
            crate::learning::PolicyState::from_json(state.store().policy_state(ws, name).await?);
        let rows = crate::learning::all_outcomes(state.store(), ws, name).await?;
        let agreement = (!rows.is_empty())
            .then(|| rows.iter().filter(|r| r.correct).count() as f64 / rows.len() as f64);
        let audits: Vec<loopgate_learn::escape::Audit> = state
            .store()
            .audits(ws, name)
            .await?
            .into_iter()
            .filter_map(|a| {
                a.escaped.map(|escaped| loopgate_learn::escape::Audit {
                    inclusion_probability: a.probability,
                    escaped,
                })
            })
            .collect();
        let population = state.store().auto_approved(ws, name).await?;
        let escape = (!audits.is_empty())
            .then(|| {
                loopgate_learn::escape::estimate(
                    &audits,
                    population.max(audits.len() as u64) as usize,
                    0.95,
                )
                .ok()
            })
            .flatten();
        learned_states.insert(name.clone(), (learned, agreement, escape));
    }
    let page = LeadPage {
        nav: Nav::new(&viewer, "lead", notice(q.notice.as_deref())),
        roles: Role::ALL.iter().map(|r| r.to_string()).collect(),
        backlog: Lane::ALL
            .iter()
            .map(|lane| {
                let counts: Vec<u64> = Role::ALL
                    .iter()
                    .map(|r| grid.get(lane).and_then(|m| m.get(r)).copied().unwrap_or(0))
                    .collect();
                let total = counts.iter().sum();
                (lane.to_string(), counts, total)
            })
            .collect(),
        throughput: stats
            .throughput
            .iter()
            .map(|t| {
                (
                    t.reviewer.clone(),
                    t.decisions,
                    format!("{:.1} s", t.median_time_on_task_ms as f64 / 1000.0),
                )
            })
            .collect(),
        breached: stats.breached.iter().map(due_row).collect(),
        due_soon: stats.due_soon.iter().map(due_row).collect(),
        policies: policies
            .iter()
            .map(|sp| {
                let switch = switches
                    .iter()
                    .find(|k| k.policy == sp.policy.name && k.intent.is_none());
                let intents = switches
                    .iter()
                    .filter(|k| k.policy == sp.policy.name)
                    .filter_map(|k| {
                        let intent = k.intent.clone()?;
                        Some((intent, k.tripped_by.clone(), k.reason.clone()))
                    })
                    .collect();
                let learned = &learned_states[&sp.policy.name];
                let force = learned.0.thresholds(&sp.policy);
                let show = |p: Option<loopgate_core::Probability>| {
                    p.map_or("–".to_owned(), |p| format!("{:.3}", p.get()))
                };
                PolicyRow {
                    in_force: format!(
                        "U {} · L {} ({})",
                        show(force.approve_at),
                        show(force.reject_below),
                        force.basis
                    ),
                    learned: format!(
                        "{} outcomes · agreement {} · calibrator {}{}",
                        learned.0.outcomes,
                        learned
                            .1
                            .map_or("–".to_owned(), |a| format!("{:.0}%", a * 100.0)),
                        if learned.0.calibrator.is_some() {
                            "platt"
                        } else {
                            "none"
                        },
                        learned.2.as_ref().map_or(String::new(), |e| format!(
                            " · escape {:.2}% [{:.2}%, {:.2}%]",
                            e.hajek * 100.0,
                            e.lower * 100.0,
                            e.upper * 100.0
                        )),
                    ),
                    history: learned
                        .0
                        .history
                        .iter()
                        .rev()
                        .take(3)
                        .map(|c| {
                            format!(
                                "{} U {} · L {} on {} outcomes",
                                c.at.format("%Y-%m-%d %H:%M"),
                                show(c.approve_at),
                                show(c.reject_below),
                                c.outcomes
                            )
                        })
                        .collect(),
                    name: sp.policy.name.to_string(),
                    version: sp.version,
                    kind: sp.policy.kind.to_string(),
                    mode: sp.policy.mode.to_string(),
                    approve_at: sp.policy.thresholds.approve_at.map_or_else(
                        || {
                            sp.policy
                                .thresholds
                                .target()
                                .map_or("–".into(), |(a, _)| format!("target {a}"))
                        },
                        |u| format!("{:.3}", u.get()),
                    ),
                    reject_below: sp
                        .policy
                        .thresholds
                        .reject_below
                        .map_or("–".into(), |l| format!("{:.3}", l.get())),
                    two_person: sp.policy.needs_two_people(),
                    tripped: switch.is_some(),
                    tripped_by: switch.map(|k| k.tripped_by.clone()).unwrap_or_default(),
                    reason: switch.map(|k| k.reason.clone()).unwrap_or_default(),
                    intents,
                }
            })
            .collect(),
    };
    Ok(render(&page)?.into_response())
}

#[derive(Debug, Deserialize)]
pub struct KillSwitchForm {
    #[serde(default)]
    csrf: String,
    policy: String,
    action: String,
    reason: String,
    /// The proposed label of an intent's switch; absent or empty for the whole policy.
    #[serde(default)]
    intent: Option<String>,
}

pub async fn kill_switch(
    State(state): State<AppState>,
    viewer: Viewer,
    WebForm(form): WebForm<KillSwitchForm>,
) -> PageResult {
    viewer.check_csrf(&form.csrf)?;
    viewer.require(Permission::ManagePolicies, "trip or reset kill switches")?;
    let reason = form.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 || reason.contains('\0') {
        return Err(WebError::BadRequest(
            "give a reason of 1 to 500 characters".into(),
        ));
    }
    let policy: PolicyName = form
        .policy
        .parse()
        .map_err(|_| WebError::NotFound("No such policy.".into()))?;
    let ws = &viewer.principal.workspace;
    if state.store().get_policy(ws, &policy).await?.is_none() {
        return Err(WebError::NotFound(
            "No such policy in your workspace.".into(),
        ));
    }
    let actor = AuditActor::person(&viewer.principal.actor(), viewer.principal.access.as_str());
    let now = state.clock().now();
    let intent = form
        .intent
        .as_deref()
        .map(str::trim)
        .filter(|i| !i.is_empty());
    let notice = match form.action.as_str() {
        "trip" => {
            state
                .store()
                .trip_kill_switch(ws, &policy, intent, reason, actor, now)
                .await?;
            "tripped"
        }
        // Resetting a switch that is not tripped (another lead was quicker, or a second click)
        // changes nothing and says so, as the API answers it without an error.
        "reset" => match state
            .store()
            .reset_kill_switch(ws, &policy, intent, reason, actor, now)
            .await
        {
            Ok(()) => "reset",
            Err(StoreError::NotFound(_)) => "not_tripped",
            Err(e) => return Err(e.into()),
        },
        _ => return Err(WebError::BadRequest("choose trip or reset".into())),
    };
    Ok(Redirect::to(&format!("/lead?notice={notice}")).into_response())
}

// --- people ----------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    nav: Nav,
    people: Vec<(String, String, String)>,
}

pub async fn users(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<NoticeQuery>,
) -> PageResult {
    viewer.require(Permission::ManageKeys, "manage people")?;
    let people = state
        .store()
        .principals(&viewer.principal.workspace)
        .await?;
    let page = UsersPage {
        nav: Nav::new(&viewer, "users", notice(q.notice.as_deref())),
        people: people
            .into_iter()
            .map(|p| {
                let roles = p
                    .reviewer_roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                (p.name, p.access.to_string(), roles)
            })
            .collect(),
    };
    Ok(render(&page)?.into_response())
}

/// Its password never shows in `Debug`.
#[derive(Deserialize)]
pub struct UserForm {
    #[serde(default)]
    csrf: String,
    name: String,
    role: String,
    #[serde(default)]
    reviewer_roles: Vec<String>,
    password: String,
}

impl std::fmt::Debug for UserForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserForm")
            .field("csrf", &self.csrf)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("reviewer_roles", &self.reviewer_roles)
            .field("password", &"[redacted]")
            .finish()
    }
}

pub async fn save_user(
    State(state): State<AppState>,
    viewer: Viewer,
    WebForm(form): WebForm<UserForm>,
) -> PageResult {
    viewer.check_csrf(&form.csrf)?;
    viewer.require(Permission::ManageKeys, "manage people")?;
    let access: AccessRole = form.role.parse().map_err(WebError::BadRequest)?;
    if access == AccessRole::Agent {
        return Err(WebError::BadRequest(
            "programs get API keys, not accounts".into(),
        ));
    }
    let mut roles = form
        .reviewer_roles
        .iter()
        .map(|r| r.parse::<Role>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(WebError::BadRequest)?;
    if access != AccessRole::Reviewer {
        roles.clear();
    }
    roles.sort();
    roles.dedup();
    crate::routes::keys::check_new_key(&form.name, access, &roles).map_err(WebError::BadRequest)?;
    check_password(&form.password).map_err(WebError::BadRequest)?;
    let hash = hash_password(&form.password).map_err(WebError::BadRequest)?;
    state
        .store()
        .set_account(
            NewAccount {
                workspace: viewer.principal.workspace.clone(),
                name: form.name.trim().to_owned(),
                access,
                reviewer_roles: roles,
                password_hash: hash,
            },
            AuditActor::person(&viewer.principal.actor(), viewer.principal.access.as_str()),
            state.clock().now(),
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(m) => WebError::BadRequest(m),
            other => other.into(),
        })?;
    Ok(Redirect::to("/admin/users?notice=saved").into_response())
}

// --- audits ----------------------------------------------------------------------------

struct AuditFacts {
    id: String,
    item_id: String,
    short_id: String,
    policy: String,
    lease_id: String,
    probability: String,
    confidence: String,
    text: String,
    delivered: String,
    customer: String,
    reasons: String,
    is_label: bool,
}

#[derive(Template)]
#[template(path = "audits.html")]
struct AuditsPage {
    nav: Nav,
    audit: Option<AuditFacts>,
    waiting: usize,
}

fn require_auditor(viewer: &Viewer) -> Result<(), WebError> {
    viewer.require(Permission::Review, "audit items")?;
    if viewer
        .principal
        .effective_roles()
        .iter()
        .any(|r| *r >= Role::Quality)
    {
        Ok(())
    } else {
        Err(WebError::Forbidden(
            "audits are for quality reviewers and SMEs".into(),
        ))
    }
}

async fn waiting_audits(state: &AppState, viewer: &Viewer) -> Result<usize, WebError> {
    let ws = &viewer.principal.workspace;
    let mut waiting = 0;
    for sp in state.store().list_policies(ws).await? {
        waiting += state
            .store()
            .audits(ws, &sp.policy.name)
            .await?
            .iter()
            .filter(|a| a.status != "done")
            .count();
    }
    Ok(waiting)
}

pub async fn audits(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<NoticeQuery>,
) -> PageResult {
    require_auditor(&viewer)?;
    let page = AuditsPage {
        nav: Nav::new(&viewer, "audits", notice(q.notice.as_deref())),
        audit: None,
        waiting: waiting_audits(&state, &viewer).await?,
    };
    Ok(render(&page)?.into_response())
}

/// Claims the next audit and shows it.
pub async fn audit_next(
    State(state): State<AppState>,
    viewer: Viewer,
    WebForm(form): WebForm<CsrfForm>,
) -> PageResult {
    viewer.check_csrf(&form.csrf)?;
    require_auditor(&viewer)?;
    show_next_audit(&state, &viewer).await
}

async fn show_next_audit(state: &AppState, viewer: &Viewer) -> PageResult {
    let now = state.clock().now();
    let claimed = state
        .store()
        .claim_audit(
            &viewer.principal.workspace,
            AuditActor::person(&viewer.principal.actor(), "quality"),
            LeaseId::new(),
            now + state.settings().default_lease,
            now,
        )
        .await?;
    let Some((audit, item)) = claimed else {
        return Ok(Redirect::to("/audits?notice=empty").into_response());
    };
    let facts = ItemFacts::new(&item, now);
    let delivered = item
        .outcome
        .as_ref()
        .and_then(|o| o.payload.as_ref())
        .map_or_else(
            || facts.proposal_main.clone(),
            |p| match views::edit_target(p) {
                EditTarget::Field(key) => views::show(&p[&key]),
                EditTarget::Json => p.get("label").map_or_else(
                    || serde_json::to_string_pretty(p).unwrap_or_default(),
                    views::show,
                ),
            },
        );
    let page = AuditsPage {
        nav: Nav::new(viewer, "audits", None),
        audit: Some(AuditFacts {
            id: audit.id.clone(),
            item_id: item.id.to_string(),
            short_id: facts.short_id.clone(),
            policy: facts.policy.clone(),
            lease_id: audit.lease_id.map(|l| l.to_string()).unwrap_or_default(),
            probability: format!("{:.2}", audit.probability),
            confidence: facts.calibrated.clone(),
            text: facts.text.clone(),
            delivered,
            customer: facts.customer_name.clone(),
            reasons: facts
                .reasons
                .iter()
                .map(|r| r.1.clone())
                .collect::<Vec<_>>()
                .join(" · "),
            is_label: item.proposal.kind == loopgate_core::Kind::Label,
        }),
        waiting: 0,
    };
    Ok(render(&page)?.into_response())
}

#[derive(Debug, Deserialize)]
pub struct AuditForm {
    #[serde(default)]
    csrf: String,
    lease_id: String,
    escaped: String,
    label: Option<String>,
    rationale: Option<String>,
}

pub async fn audit_verdict(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    WebForm(form): WebForm<AuditForm>,
) -> PageResult {
    viewer.check_csrf(&form.csrf)?;
    require_auditor(&viewer)?;
    let lease_id: LeaseId = form
        .lease_id
        .parse()
        .map_err(|_| WebError::BadRequest("the form lost its lease; audit the next item".into()))?;
    let escaped = match form.escaped.as_str() {
        "true" => true,
        "false" => false,
        _ => {
            return Err(WebError::BadRequest(
                "say whether the item was right or escaped".into(),
            ));
        }
    };
    let ws = &viewer.principal.workspace;
    let now = state.clock().now();
    let label = form
        .label
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty());
    let rationale = form
        .rationale
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    let recorded = state
        .store()
        .record_audit(
            ws,
            &id,
            lease_id,
            AuditActor::person(&viewer.principal.actor(), "quality"),
            escaped,
            json!({"label": label, "rationale": rationale}),
            now,
        )
        .await;
    let (_, item) = match recorded {
        Ok(r) => r,
        Err(StoreError::Conflict(_)) => {
            return Ok(Redirect::to("/audits?notice=lease_not_held").into_response());
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(policy) = state.store().get_policy(ws, &item.policy).await? {
        crate::learning::monitor_audit(
            state.store(),
            ws,
            &policy.policy,
            crate::learning::intent_of(&item).as_deref(),
            escaped,
            now,
        )
        .await?;
    }
    show_next_audit(&state, &viewer).await
}

#[cfg(test)]
mod tests {
    use super::{LoginForm, UserForm};

    #[test]
    fn forms_never_show_their_password_in_debug_output() {
        let login = LoginForm {
            csrf: "t".into(),
            name: "ana".into(),
            password: "correct-horse-battery".into(),
            workspace: "default".into(),
            next: None,
        };
        let user = UserForm {
            csrf: "t".into(),
            name: "ben".into(),
            role: "reviewer".into(),
            reviewer_roles: vec!["triage".into()],
            password: "tr0ub4dor-and-3".into(),
        };
        let shown = format!("{login:?} {user:?}");
        assert!(shown.contains("ana") && shown.contains("ben"), "{shown}");
        assert!(
            !shown.contains("correct-horse") && !shown.contains("tr0ub4dor"),
            "{shown}"
        );
    }
}
