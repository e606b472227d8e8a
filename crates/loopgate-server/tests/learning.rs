//! The learning loop through the HTTP API: shadow mode and the outcomes people's decisions
//! record, Learn-then-Test thresholds from a target escape rate (never before the required
//! sample), promotion to live, calibration, what-if replay, seeded audit sampling, the escape
//! estimate, the automatic and manual kill switch, training data export, and audit leases.
//!
//! Every expected number is computed here from the decisions the test itself made.

mod common;

use std::collections::HashMap;

use chrono::SecondsFormat;
use common::{TestApp, at, id, lease, reason_codes, submission};
use loopgate_learn::calibration::{PlattScaling, ece, reliability_table};
use loopgate_learn::monitor::{Cusum, Status as Alarm};
use loopgate_learn::risk::{self, Outcome, RiskTarget};
use loopgate_server::Settings;
use loopgate_server::learning::{ALARM_MULTIPLE, MONITOR_ARL0};
use serde_json::{Value, json};

const POLICY: &str = "reply.draft";
/// The target of the derived-threshold policies: at most 10% escapes, with 90% confidence.
const TARGET_ESCAPE: f64 = 0.1;
const CONFIDENCE: f64 = 0.9;
/// A lease id no claim ever hands out.
const FOREIGN_LEASE: &str = "00000000-0000-7000-8000-000000000000";

/// The fewest labelled outcomes above a threshold before Learn-then-Test tests it, for the
/// target above.
fn start_items() -> u64 {
    RiskTarget::new(TARGET_ESCAPE, 1.0 - CONFIDENCE)
        .expect("a valid target")
        .start_items()
}

/// A policy that derives its thresholds from the target, in `mode`.
fn target_policy(mode: &str) -> Value {
    json!({
        "mode": mode,
        "thresholds": {
            "approve_at": null, "reject_below": null,
            "target_escape": TARGET_ESCAPE, "confidence": CONFIDENCE
        }
    })
}

/// What a person does with a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Human {
    Approve,
    Edit,
    Reject,
}

/// One planned item: the AI's confidence and what people will decide.
#[derive(Debug, Clone, Copy)]
struct Case {
    confidence: f64,
    human: Human,
}

impl Case {
    /// The proposal was right: people approved it as it was.
    fn correct(&self) -> bool {
        self.human == Human::Approve
    }
}

/// A labelled history in three groups:
/// - `high` proposals at confidence 0.90 to 0.99, people approve all but every 21st (edited or
///   rejected in turn);
/// - `middle` proposals at 0.60, people approve every other one;
/// - `low` proposals at 0.10 to 0.28, people reject all but every 10th.
fn history(high: usize, middle: usize, low: usize) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut wrong = 0;
    for i in 0..high {
        let human = if i % 21 == 7 {
            wrong += 1;
            if wrong % 2 == 1 {
                Human::Edit
            } else {
                Human::Reject
            }
        } else {
            Human::Approve
        };
        cases.push(Case {
            confidence: 0.90 + (i % 10) as f64 / 100.0,
            human,
        });
    }
    for i in 0..middle {
        cases.push(Case {
            confidence: 0.60,
            human: if i % 2 == 0 {
                Human::Approve
            } else {
                Human::Reject
            },
        });
    }
    for i in 0..low {
        cases.push(Case {
            confidence: 0.10 + (i % 10) as f64 * 0.02,
            human: if i % 10 == 0 {
                Human::Approve
            } else {
                Human::Reject
            },
        });
    }
    cases
}

/// A submission for `policy` at `confidence`, told apart by `n`.
fn numbered(policy: &str, confidence: f64, n: usize) -> Value {
    submission(
        confidence,
        json!({
            "policy": policy,
            "input": {"text": format!("Ticket {n}: where is my invoice?")},
            "proposal": {"payload": {"text": format!("Reply {n}")}}
        }),
    )
}

/// Submits `submissions` in one `POST /v1/items:batch`; returns the items in order.
async fn batch(app: &TestApp, agent: &str, submissions: Vec<Value>) -> Vec<Value> {
    let n = submissions.len();
    let items = app
        .post("/v1/items:batch", agent, json!({"items": submissions}))
        .await
        .expect(201)["items"]
        .as_array()
        .expect("items")
        .clone();
    assert_eq!(items.len(), n);
    items
}

/// Submits every case through batches; returns the plan: item id → case.
async fn submit_cases(app: &TestApp, agent: &str, cases: &[Case]) -> HashMap<String, Case> {
    let submissions = cases
        .iter()
        .enumerate()
        .map(|(n, c)| numbered(POLICY, c.confidence, n))
        .collect();
    let items = batch(app, agent, submissions).await;
    items
        .iter()
        .zip(cases)
        .map(|(item, case)| (id(item).to_owned(), *case))
        .collect()
}

/// Claims and decides every waiting item as the plan says. Returns the cases in the order they
/// became final, which is the order their outcomes were recorded in.
async fn review_all(app: &TestApp, reviewer: &str, plan: &HashMap<String, Case>) -> Vec<Case> {
    let mut order = Vec::new();
    while let Some(claimed) = app.claim(reviewer, None).await {
        let item = &claimed["item"];
        let case = plan
            .get(id(item))
            .unwrap_or_else(|| panic!("an unplanned item was claimed: {item:#}"));
        let (decision, extra) = match case.human {
            Human::Approve => ("approve", json!({})),
            Human::Edit => (
                "edit",
                json!({"edited_payload": {"text": "A better reply"}, "codes": ["INCOMPLETE"]}),
            ),
            Human::Reject => ("reject", json!({"codes": ["INCORRECT"]})),
        };
        let decided = app
            .decide(reviewer, id(item), lease(item), decision, extra)
            .await
            .expect(200)
            .clone();
        assert_eq!(decided["final"], true, "{decided:#}");
        order.push(*case);
    }
    order
}

/// `POST /v1/policies/{POLICY}/refit` as `key`: the learning view.
async fn refit(app: &TestApp, key: &str) -> Value {
    let response = app
        .client
        .post(format!("{}/v1/policies/{POLICY}/refit", app.base))
        .bearer_auth(key)
        .send()
        .await
        .expect("refit answers");
    let status = response.status();
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(status.as_u16(), 200, "refit: {body:#}");
    body
}

/// `GET /v1/policies/{POLICY}/{what}` as the admin.
async fn policy_get(app: &TestApp, what: &str) -> Value {
    app.get(&format!("/v1/policies/{POLICY}/{what}"), &app.admin)
        .await
        .expect(200)
        .clone()
}

/// Audit log entries with this action.
async fn entries(app: &TestApp, action: &str) -> Vec<Value> {
    app.audit_log()
        .await
        .into_iter()
        .filter(|e| e["action"] == action)
        .collect()
}

#[track_caller]
fn close(actual: &Value, expected: f64, what: &str) {
    let a = actual
        .as_f64()
        .unwrap_or_else(|| panic!("{what} is a number: {actual}"));
    assert!(
        (a - expected).abs() <= 1e-9,
        "{what}: got {a}, expected {expected}"
    );
}

/// The escape monitor a policy gets, as the server builds it.
fn monitor(p0: f64) -> Cusum {
    Cusum::new(p0, (p0 * ALARM_MULTIPLE).min(0.5), MONITOR_ARL0).expect("a valid monitor")
}

// --- 1 and 2: shadow mode, Learn-then-Test, promotion ---------------------------------------

#[tokio::test]
async fn shadow_policy_learns_from_people_certifies_an_approve_threshold_and_goes_live() {
    let start = start_items();
    let target = RiskTarget::new(TARGET_ESCAPE, 1.0 - CONFIDENCE).expect("target");
    // Enough high-confidence proposals to be tested, at 5% wrong; then middling ones that people
    // split on, which must stop the fixed sequence.
    let cases = history(start as usize + 13, 40, 40);
    let high: Vec<&Case> = cases.iter().filter(|c| c.confidence >= 0.9).collect();
    let high_wrong = high.iter().filter(|c| !c.correct()).count() as u64;
    let high_n = high.len() as u64;
    let down_to_middle = cases.iter().filter(|c| c.confidence >= 0.6);
    let (mid_n, mid_wrong) =
        down_to_middle.fold((0, 0), |(n, w), c| (n + 1, w + u64::from(!c.correct())));
    assert!(risk::binomial_cdf(high_wrong, high_n, TARGET_ESCAPE) <= 1.0 - CONFIDENCE);
    assert!(risk::binomial_cdf(mid_wrong, mid_n, TARGET_ESCAPE) > 1.0 - CONFIDENCE);

    let app = TestApp::spawn().await;
    let policy = app.put_policy(target_policy("shadow")).await;
    assert_eq!(policy["mode"], "shadow", "{policy:#}");
    let agent = app.agent("bot").await;
    let rita = app.reviewer("rita", &["triage", "quality", "sme"]).await;
    let lead = app.lead("lena").await;

    // Nothing learned yet.
    let learning = policy_get(&app, "learning").await;
    assert_eq!(learning["mode"], "shadow");
    assert_eq!(learning["thresholds"]["approve_at"], Value::Null);
    assert_eq!(learning["agreement"], Value::Null);
    assert!(
        learning["thresholds"]["basis"]
            .as_str()
            .expect("basis")
            .contains("not yet certified"),
        "{learning:#}"
    );

    // Shadow mode: every item goes to people, whatever its confidence.
    let plan = submit_cases(&app, &agent, &cases).await;
    let queued = app
        .get("/v1/items?limit=500&status=queued", &app.admin)
        .await;
    let queued = queued.expect(200)["items"]
        .as_array()
        .expect("items")
        .clone();
    assert_eq!(queued.len(), cases.len());
    for item in &queued {
        assert!(
            reason_codes(item).contains(&"shadow_mode".to_owned()),
            "{item:#}"
        );
    }

    // An outcome per final human decision: an escalation is not final and records none.
    let first = app.claim_item(&rita).await;
    app.decide(&rita, id(&first), lease(&first), "escalate", json!({}))
        .await
        .expect(200);
    assert_eq!(policy_get(&app, "calibration").await["outcomes"], 0);
    let order = review_all(&app, &rita, &plan).await;
    assert_eq!(order.len(), cases.len());
    let calibration = policy_get(&app, "calibration").await;
    assert_eq!(calibration["outcomes"], cases.len());
    let right = cases.iter().filter(|c| c.correct()).count();
    close(
        &policy_get(&app, "learning").await["agreement"],
        right as f64 / cases.len() as f64,
        "agreement",
    );

    let chain_before = app.audit_len().await;
    // Two refits at once, as two servers sharing the database run them: the change of
    // thresholds is recorded once.
    let (refitted, twin) = tokio::join!(refit(&app, &lead), refit(&app, &lead));
    assert_eq!(refitted["thresholds"], twin["thresholds"]);

    // The thresholds a correct refit certifies, computed from the decisions made here.
    let outcomes: Vec<Outcome> = cases
        .iter()
        .map(|c| Outcome {
            score: c.confidence,
            correct: c.correct(),
        })
        .collect();
    let expected = risk::certify_approve(&outcomes, &risk::confidence_grid(), target)
        .expect("certifies")
        .expect("an approve threshold is certified");
    assert_eq!((expected.items, expected.errors), (high_n, high_wrong));
    assert!(expected.threshold > 0.6 && expected.threshold <= 0.9);

    let certified = &refitted["state"]["certified"];
    close(
        &certified["raw_approve_at"],
        expected.threshold,
        "raw_approve_at",
    );
    assert_eq!(certified["approve_items"], high_n);
    assert_eq!(certified["approve_errors"], high_wrong);
    assert_eq!(certified["start_items"], start);
    assert_eq!(
        certified["reject_below"],
        Value::Null,
        "too few low ones to test"
    );
    assert_eq!(refitted["state"]["outcomes"], cases.len());
    let a = refitted["state"]["calibrator"]["a"]
        .as_f64()
        .expect("a fitted calibrator");
    let b = refitted["state"]["calibrator"]["b"]
        .as_f64()
        .expect("intercept");
    assert!(a > 0.0, "an increasing calibrator");
    let platt = PlattScaling { a, b };
    close(
        &refitted["thresholds"]["approve_at"],
        platt.probability(expected.threshold),
        "approve_at",
    );
    assert_eq!(
        refitted["thresholds"]["approve_at"],
        certified["approve_at"]
    );
    assert!(
        refitted["thresholds"]["basis"]
            .as_str()
            .expect("basis")
            .contains(&format!("certified on {} labelled outcomes", cases.len())),
        "{refitted:#}"
    );
    // The same through GET.
    let learning = policy_get(&app, "learning").await;
    assert_eq!(learning["thresholds"], refitted["thresholds"]);
    assert_eq!(
        learning["state"]["calibrator"],
        refitted["state"]["calibrator"]
    );

    // The change of thresholds is one audit entry.
    assert_eq!(app.audit_len().await, chain_before + 1);
    let changed = entries(&app, "thresholds_changed").await;
    assert_eq!(changed.len(), 1, "{changed:#?}");
    assert_eq!(changed[0]["actor"], "refit");
    assert_eq!(changed[0]["detail"]["before"]["approve_at"], Value::Null);
    assert_eq!(
        changed[0]["detail"]["after"]["approve_at"],
        certified["approve_at"]
    );
    // A refit that changes nothing records nothing.
    refit(&app, &lead).await;
    assert_eq!(entries(&app, "thresholds_changed").await.len(), 1);
    // The policy's state keeps the change for the lead's view, with when and on what.
    let history = policy_get(&app, "learning").await["state"]["history"].clone();
    assert_eq!(history.as_array().map(Vec::len), Some(1), "{history:#}");
    assert_eq!(history[0]["approve_at"], certified["approve_at"]);
    assert_eq!(history[0]["outcomes"], cases.len());
    let at = history[0]["at"].as_str().expect("a time");
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(at).expect("RFC 3339"),
        app.now(),
        "the refit that changed them"
    );

    // Still in shadow: even a proposal in the approve band goes to people.
    let shadowed = app.submit(&agent, numbered(POLICY, 0.99, 10_000)).await;
    assert_eq!(shadowed["status"], "queued");
    assert_eq!(shadowed["verdict"]["band"], "approve");

    // Promotion: a lead's audited change of the policy to live.
    let reviewer_try = app
        .post(&format!("/v1/policies/{POLICY}/promote"), &rita, json!({}))
        .await;
    reviewer_try.expect_error(403, "forbidden");
    let promoted = app
        .post(&format!("/v1/policies/{POLICY}/promote"), &lead, json!({}))
        .await;
    assert_eq!(promoted.expect(200)["mode"], "live");
    let put = entries(&app, "policy_put").await;
    let last = put.last().expect("a policy_put entry");
    assert_eq!(last["actor"], "lena");
    assert_eq!(last["detail"]["before"]["mode"], "shadow");
    assert_eq!(last["detail"]["after"]["mode"], "live");
    app.post(&format!("/v1/policies/{POLICY}/promote"), &lead, json!({}))
        .await
        .expect_error(409, "conflict");

    // Live: a confident proposal is approved on its own, a middling one goes to people.
    let confident = app.submit(&agent, numbered(POLICY, 0.95, 10_001)).await;
    assert_eq!(confident["status"], "auto_approved", "{confident:#}");
    assert!(reason_codes(&confident).contains(&"above_approve_threshold".to_owned()));
    assert_eq!(confident["verdict"]["confidence"]["calibrator"], "platt");
    let middling = app.submit(&agent, numbered(POLICY, 0.6, 10_002)).await;
    assert_eq!(middling["status"], "queued", "{middling:#}");
    assert_eq!(middling["verdict"]["band"], "review");
    assert!(!reason_codes(&middling).contains(&"shadow_mode".to_owned()));

    assert_eq!(app.verify().await["valid"], true);
}

#[tokio::test]
async fn no_threshold_is_certified_below_the_required_sample() {
    let start = start_items();
    let app = TestApp::spawn().await;
    app.put_policy(target_policy("live")).await;
    let agent = app.agent("bot").await;
    let rita = app.reviewer("rita", &["triage"]).await;
    let lead = app.lead("lena").await;

    // One short of the sample, every proposal confident and right: only the count is missing.
    let cases: Vec<Case> = (0..start - 1)
        .map(|_| Case {
            confidence: 0.97,
            human: Human::Approve,
        })
        .collect();
    let plan = submit_cases(&app, &agent, &cases).await;
    for item in app.all_items().await {
        assert_eq!(item["status"], "queued", "live but uncertified: {item:#}");
        let band = &item["verdict"]["reasons"]
            .as_array()
            .expect("reasons")
            .iter()
            .find(|r| r["step"] == "band")
            .expect("a band reason")["message"];
        assert!(
            band.as_str()
                .expect("message")
                .contains("not yet certified"),
            "{band}"
        );
    }
    assert_eq!(review_all(&app, &rita, &plan).await.len(), cases.len());

    let chain = app.audit_len().await;
    let refitted = refit(&app, &lead).await;
    assert_eq!(refitted["state"]["outcomes"], cases.len());
    assert_eq!(refitted["state"]["certified"]["approve_at"], Value::Null);
    assert_eq!(refitted["state"]["certified"]["start_items"], start);
    assert_eq!(refitted["thresholds"]["approve_at"], Value::Null);
    let basis = refitted["thresholds"]["basis"].as_str().expect("basis");
    assert!(basis.contains("not yet certified"), "{basis}");
    assert!(
        basis.contains(&format!("tested once {start} lie above it")),
        "{basis}"
    );
    assert_eq!(
        app.audit_len().await,
        chain,
        "nothing changed, nothing recorded"
    );
    assert!(entries(&app, "thresholds_changed").await.is_empty());

    let item = app.submit(&agent, numbered(POLICY, 0.99, 9999)).await;
    assert_eq!(item["status"], "queued", "{item:#}");
    assert!(
        item["verdict"]["reasons"]
            .to_string()
            .contains("not yet certified"),
        "{item:#}"
    );

    // The one more outcome that completes the sample certifies the threshold.
    let claimed = app.claim_item(&rita).await;
    app.decide(&rita, id(&claimed), lease(&claimed), "approve", json!({}))
        .await
        .expect(200);
    let refitted = refit(&app, &lead).await;
    assert_eq!(refitted["state"]["certified"]["approve_items"], start);
    assert_eq!(refitted["state"]["certified"]["approve_errors"], 0);
    assert!(
        refitted["thresholds"]["approve_at"].is_number(),
        "{refitted:#}"
    );
    assert_eq!(entries(&app, "thresholds_changed").await.len(), 1);
    let item = app.submit(&agent, numbered(POLICY, 0.99, 10_000)).await;
    assert_eq!(item["status"], "auto_approved", "{item:#}");
}

// --- 3 and 4: calibration and what-if ----------------------------------------------------------

/// A shadow policy with fixed thresholds, its labelled history from [`history`]`(30, 10, 20)`,
/// refitted. Returns the app, the cases in outcome order, and the fitted calibrator.
async fn calibrated_history() -> (TestApp, Vec<Case>, PlattScaling, String) {
    let app = TestApp::spawn().await;
    app.put_policy(json!({"mode": "shadow"})).await;
    let agent = app.agent("bot").await;
    let rita = app.reviewer("rita", &["triage"]).await;
    let cases = history(30, 10, 20);
    let plan = submit_cases(&app, &agent, &cases).await;
    let order = review_all(&app, &rita, &plan).await;
    assert_eq!(order.len(), cases.len());
    let refitted = refit(&app, &app.admin).await;
    let state = &refitted["state"];
    let platt = PlattScaling {
        a: state["calibrator"]["a"]
            .as_f64()
            .expect("a fitted calibrator"),
        b: state["calibrator"]["b"].as_f64().expect("intercept"),
    };
    (app, order, platt, agent)
}

#[tokio::test]
async fn calibration_reports_reliability_and_items_show_raw_and_calibrated_confidence() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({"mode": "shadow"})).await;
    let agent = app.agent("bot").await;
    let rita = app.reviewer("rita", &["triage"]).await;
    let cases = history(30, 10, 20);
    let plan = submit_cases(&app, &agent, &cases).await;
    let order = review_all(&app, &rita, &plan).await;
    let raw: Vec<f64> = order.iter().map(|c| c.confidence).collect();
    let correct: Vec<bool> = order.iter().map(Case::correct).collect();

    // Before any refit: no calibrator; the table is of the raw confidence.
    let before = policy_get(&app, "calibration").await;
    assert_eq!(before["calibrator"], "none");
    assert_eq!(before["outcomes"], cases.len());
    close(
        &before["ece_raw"],
        ece(&raw, &correct, 10).expect("ece"),
        "ece_raw",
    );
    assert_eq!(before["ece_raw"], before["ece_calibrated"]);
    let uncalibrated = app.submit(&agent, numbered(POLICY, 0.93, 100)).await;
    let scores = &uncalibrated["verdict"]["confidence"];
    assert_eq!(scores["calibrator"], "none");
    assert_eq!(scores["raw"], scores["calibrated"]);

    let refitted = refit(&app, &app.admin).await;
    let a = refitted["state"]["calibrator"]["a"].as_f64().expect("a");
    let b = refitted["state"]["calibrator"]["b"].as_f64().expect("b");
    assert!(a > 0.0);
    let platt = PlattScaling { a, b };

    let report = policy_get(&app, "calibration").await;
    assert_eq!(report["calibrator"], "platt");
    close(&report["parameters"][0], a, "slope");
    close(&report["parameters"][1], b, "intercept");
    assert_eq!(report["outcomes"], cases.len());
    let bins = report["reliability"].as_array().expect("reliability");
    assert_eq!(bins.len(), 10);
    let counted: u64 = bins
        .iter()
        .map(|b| b["count"].as_u64().expect("count"))
        .sum();
    assert_eq!(counted, cases.len() as u64, "the bins hold every outcome");
    for key in ["ece_raw", "ece_calibrated"] {
        let e = report[key].as_f64().expect("an ECE");
        assert!((0.0..=1.0).contains(&e), "{key} = {e}");
    }
    // By hand: the same table and ECE from the decisions made, in the order they were made.
    let calibrated: Vec<f64> = raw.iter().map(|s| platt.probability(*s)).collect();
    let table = reliability_table(&calibrated, &correct, 10).expect("table");
    for (got, want) in bins.iter().zip(&table) {
        assert_eq!(got["count"], want.count);
        close(&got["accuracy"], want.accuracy, "bin accuracy");
        close(
            &got["mean_confidence"],
            want.mean_confidence,
            "bin confidence",
        );
    }
    close(
        &report["ece_calibrated"],
        ece(&calibrated, &correct, 10).expect("ece"),
        "ece_calibrated",
    );
    close(
        &report["ece_raw"],
        ece(&raw, &correct, 10).expect("ece"),
        "ece_raw",
    );

    // The item shows both confidences and the calibrator, in the submit answer and on GET.
    let item = app.submit(&agent, numbered(POLICY, 0.93, 101)).await;
    for shown in [item.clone(), app.item(&agent, id(&item)).await] {
        let scores = &shown["verdict"]["confidence"];
        assert_eq!(scores["calibrator"], "platt");
        close(&scores["raw"], 0.93, "raw confidence");
        close(
            &scores["calibrated"],
            platt.probability(0.93),
            "calibrated confidence",
        );
        assert!(reason_codes(&shown).contains(&"calibrated".to_owned()));
    }
    // The one submitted before the refit keeps what it was decided with.
    let kept = app.item(&agent, id(&uncalibrated)).await;
    assert_eq!(kept["verdict"]["confidence"]["calibrator"], "none");
}

#[tokio::test]
async fn what_if_replays_thresholds_over_the_labelled_history() {
    let (app, order, platt, agent) = calibrated_history().await;
    let path = format!("/v1/policies/{POLICY}/what-if");
    let cal = |s: f64| platt.probability(s);

    // By hand, from the decisions made: which cases each threshold automates.
    let replay = |approve_at: Option<f64>, reject_below: Option<f64>| {
        let approved: Vec<&Case> = order
            .iter()
            .filter(|c| approve_at.is_some_and(|u| cal(c.confidence) >= u))
            .collect();
        let rejected = order
            .iter()
            .filter(|c| reject_below.is_some_and(|l| cal(c.confidence) < l))
            .count() as u64;
        let escapes = approved.iter().filter(|c| !c.correct()).count() as u64;
        (approved.len() as u64, rejected, escapes)
    };
    let n = order.len() as f64;
    // Between the groups: every high one above, every low one below, the middle between.
    let upper = (cal(0.60) + cal(0.90)) / 2.0;
    let lower = (cal(0.28) + cal(0.60)) / 2.0;
    // Only the top half of the high ones.
    let strict = (cal(0.94) + cal(0.95)) / 2.0;
    for (approve_at, reject_below) in [
        (Some(upper), Some(lower)),
        (Some(upper), None),
        (Some(strict), None),
        (None, Some(lower)),
        (Some(1.0), Some(0.0)),
    ] {
        let (approved, rejected, escapes) = replay(approve_at, reject_below);
        let got = app
            .post(
                &path,
                &app.admin,
                json!({"approve_at": approve_at, "reject_below": reject_below}),
            )
            .await
            .expect(200)
            .clone();
        let what = format!("approve_at {approve_at:?}, reject_below {reject_below:?}: {got:#}");
        assert_eq!(got["items"], order.len(), "{what}");
        assert_eq!(got["escapes"], escapes, "{what}");
        close(&got["auto_approve_share"], approved as f64 / n, &what);
        close(&got["auto_reject_share"], rejected as f64 / n, &what);
        close(
            &got["automation_rate"],
            (approved + rejected) as f64 / n,
            &what,
        );
        let rate = if approved == 0 {
            0.0
        } else {
            escapes as f64 / approved as f64
        };
        close(&got["escape_rate"], rate, &what);
        let bound = risk::clopper_pearson_upper(escapes, approved, 0.05).expect("bound");
        close(&got["escape_rate_upper"], bound, &what);
    }
    // The hand computation is not vacuous: the high group has its escapes.
    assert_eq!(replay(Some(upper), Some(lower)), (30, 20, 2));

    // Bad input is refused and changes nothing.
    let before = (
        app.stored_state().await,
        policy_get(&app, "learning").await,
        policy_get(&app, "calibration").await,
    );
    for (body, needle) in [
        (json!({"approve_at": 1.5}), "approve_at"),
        (json!({"reject_below": -0.1}), "reject_below"),
        (
            json!({"approve_at": 0.5, "reject_bellow": 0.2}),
            "reject_bellow",
        ),
        (json!({"approve_at": "high"}), "approve_at"),
        (
            json!({"approve_at": 0.3, "reject_below": 0.6}),
            "reject_below",
        ),
    ] {
        let message = app
            .post(&path, &app.admin, body.clone())
            .await
            .expect_error(422, "invalid_request");
        assert!(message.contains(needle), "{body}: {message}");
    }
    let after = (
        app.stored_state().await,
        policy_get(&app, "learning").await,
        policy_get(&app, "calibration").await,
    );
    assert_eq!(before, after);
    // An agent cannot read policies' history.
    app.post(&path, &agent, json!({"approve_at": 0.9}))
        .await
        .expect_error(403, "forbidden");
}

// --- 5 and 6: audit sampling and the escape estimate -----------------------------------------

/// A live policy that approves everything at 0.95 and audits `rate` of it.
fn audited_policy(name: &str, rate: f64) -> Value {
    json!({"name": name, "audit_rate": rate})
}

/// Spawns an app with audit seed `seed`, submits `n` auto-approved items to a policy auditing
/// 20% of them, and answers the number of audits sampled.
async fn sampled_audits(seed: u64, n: usize) -> u64 {
    let app = TestApp::spawn_with(Settings {
        audit_seed: Some(seed),
        ..Settings::default()
    })
    .await;
    app.put_policy(audited_policy(POLICY, 0.2)).await;
    let agent = app.agent("bot").await;
    let submissions: Vec<Value> = (0..n).map(|i| numbered(POLICY, 0.95, i)).collect();
    let body = json!({"items": submissions});
    let items = app
        .send_with(
            reqwest::Method::POST,
            "/v1/items:batch",
            Some(&agent),
            common::Body::Json(body.clone()),
            &[("idempotency-key", "sampled")],
        )
        .await
        .expect(201)["items"]
        .clone();
    assert!(
        items
            .as_array()
            .expect("items")
            .iter()
            .all(|i| i["status"] == "auto_approved"),
        "every item is auto-approved"
    );
    let escape = policy_get(&app, "escape").await;
    assert_eq!(escape["auto_approved"], n);
    assert_eq!(escape["audits_done"], 0);
    assert_eq!(escape["estimate"], Value::Null);
    let sampled = escape["audits_sampled"].as_u64().expect("audits_sampled");

    // A retried batch creates no item and samples no audit.
    app.send_with(
        reqwest::Method::POST,
        "/v1/items:batch",
        Some(&agent),
        common::Body::Json(body),
        &[("idempotency-key", "sampled")],
    )
    .await
    .expect(201);
    let again = policy_get(&app, "escape").await;
    assert_eq!(again["auto_approved"], n);
    assert_eq!(again["audits_sampled"], sampled);
    sampled
}

#[tokio::test]
async fn auto_approved_items_are_sampled_for_audit_at_the_policy_rate() {
    let n = 500;
    let (rate, seed) = (0.2, 7);
    let sampled = sampled_audits(seed, n).await;
    let mean = rate * n as f64;
    let sd = (n as f64 * rate * (1.0 - rate)).sqrt();
    assert!(
        (sampled as f64 - mean).abs() <= 4.0 * sd,
        "{sampled} audits of {n} at rate {rate}: more than 4 sd ({sd:.1}) from {mean}"
    );
    assert_eq!(
        sampled_audits(seed, n).await,
        sampled,
        "the same seed samples the same audits"
    );
}

#[tokio::test]
async fn the_escape_estimate_matches_the_audits_by_hand() {
    let (rate, n) = (0.25, 120);
    let app = TestApp::spawn_with(Settings {
        audit_seed: Some(11),
        ..Settings::default()
    })
    .await;
    app.put_policy(audited_policy(POLICY, rate)).await;
    let agent = app.agent("bot").await;
    let quality = app.reviewer("quinn", &["quality"]).await;
    let triage = app.reviewer("tom", &["triage"]).await;
    let submissions = (0..n).map(|i| numbered(POLICY, 0.95, i)).collect();
    batch(&app, &agent, submissions).await;
    let sampled = policy_get(&app, "escape").await["audits_sampled"]
        .as_u64()
        .expect("audits_sampled");
    assert!(sampled >= 18, "enough audits to judge: {sampled}");

    // Audits are for quality reviewers and up.
    app.post("/v1/audits/claim", &triage, json!({}))
        .await
        .expect_error(403, "role_too_low");
    app.post("/v1/audits/claim", &agent, json!({}))
        .await
        .expect_error(403, "forbidden");

    // Judge every audit; the 3rd, 10th and 18th escaped.
    let escaped_at = [2, 9, 17];
    let mut cusum = monitor(0.02);
    let mut judged = 0;
    loop {
        let res = app.post("/v1/audits/claim", &quality, json!({})).await;
        if res.status.as_u16() == 204 {
            break;
        }
        let claimed = res.expect(200).clone();
        assert_eq!(claimed["item"]["status"], "auto_approved");
        assert_eq!(claimed["audit"]["status"], "in_review");
        close(
            &claimed["audit"]["probability"],
            rate,
            "inclusion probability",
        );
        let escaped = escaped_at.contains(&judged);
        let result = app
            .post(
                &format!(
                    "/v1/audits/{}/verdict",
                    claimed["audit"]["id"].as_str().expect("id")
                ),
                &quality,
                json!({"lease_id": claimed["audit"]["lease_id"], "escaped": escaped,
                       "codes": if escaped { json!(["INCORRECT"]) } else { json!([]) }}),
            )
            .await
            .expect(200)
            .clone();
        assert_eq!(result["audit"]["status"], "done");
        assert_eq!(result["audit"]["escaped"], escaped);
        let trips = cusum.observe(escaped) == Alarm::Tripped;
        assert!(!trips, "the plan stays below the alarm");
        assert_eq!(result["kill_switch_tripped"], false);
        judged += 1;
    }
    assert_eq!(judged as u64, sampled);

    let escape = policy_get(&app, "escape").await;
    assert_eq!(escape["auto_approved"], n);
    assert_eq!(escape["audits_sampled"], sampled);
    assert_eq!(escape["audits_done"], sampled);
    let estimate = &escape["estimate"];
    let escapes = escaped_at.len() as f64;
    assert_eq!(estimate["audited"], sampled);
    assert_eq!(estimate["escapes"], escaped_at.len());
    // Equal inclusion probabilities: Hájek is the plain share; Horvitz–Thompson weighs each
    // escape by 1/π over all auto-approved items.
    close(&estimate["hajek"], escapes / sampled as f64, "Hájek");
    close(
        &estimate["horvitz_thompson"],
        escapes / rate / n as f64,
        "Horvitz–Thompson",
    );
    let (lower, upper) = (
        estimate["lower"].as_f64().expect("lower"),
        estimate["upper"].as_f64().expect("upper"),
    );
    let hajek = escapes / sampled as f64;
    assert!(
        lower <= hajek && hajek <= upper && lower < upper,
        "{estimate:#}"
    );
    close(&estimate["confidence"], 0.95, "confidence");

    // Each audit is a labelled outcome and an audit entry.
    assert_eq!(policy_get(&app, "calibration").await["outcomes"], sampled);
    assert_eq!(entries(&app, "audited").await.len() as u64, sampled);
    assert_eq!(app.verify().await["valid"], true);
}

// --- 7: the kill switch ----------------------------------------------------------------------

/// Claims and judges every waiting audit; answers each verdict's `kill_switch_tripped`.
async fn judge_all(app: &TestApp, key: &str, escaped: bool) -> Vec<bool> {
    let mut tripped = Vec::new();
    loop {
        let res = app.post("/v1/audits/claim", key, json!({})).await;
        if res.status.as_u16() == 204 {
            return tripped;
        }
        let audit = res.expect(200)["audit"].clone();
        let result = app
            .post(
                &format!("/v1/audits/{}/verdict", audit["id"].as_str().expect("id")),
                key,
                json!({"lease_id": audit["lease_id"], "escaped": escaped}),
            )
            .await
            .expect(200)
            .clone();
        tripped.push(result["kill_switch_tripped"].as_bool().expect("a flag"));
    }
}

#[tokio::test]
async fn a_burst_of_escapes_trips_the_kill_switch_and_only_a_lead_resets_it() {
    let app = TestApp::spawn().await;
    const CLEAN: &str = "reply.clean";
    app.put_policy(audited_policy(CLEAN, 1.0)).await;
    app.put_policy(audited_policy(POLICY, 1.0)).await;
    let agent = app.agent("bot").await;
    let quinn = app.reviewer("quinn", &["quality"]).await;
    let lead = app.lead("lena").await;

    // A clean stream never trips it.
    batch(
        &app,
        &agent,
        (0..40).map(|i| numbered(CLEAN, 0.95, i)).collect(),
    )
    .await;
    let clean = judge_all(&app, &quinn, false).await;
    assert_eq!(clean, vec![false; 40]);
    let still = app.submit(&agent, numbered(CLEAN, 0.95, 40)).await;
    assert_eq!(still["status"], "auto_approved");
    assert!(entries(&app, "kill_switch_tripped").await.is_empty());
    judge_all(&app, &quinn, false).await;

    // A burst of escapes does, at the audit the monitor predicts.
    let mut cusum = monitor(0.02);
    let trip_at = (1..)
        .find(|_| cusum.observe(true) == Alarm::Tripped)
        .expect("escapes trip the monitor");
    let burst = trip_at + 3;
    batch(
        &app,
        &agent,
        (0..burst).map(|i| numbered(POLICY, 0.95, i)).collect(),
    )
    .await;
    let mut verdicts = Vec::new();
    for _ in 0..trip_at {
        let audit = app
            .post("/v1/audits/claim", &quinn, json!({}))
            .await
            .expect(200)["audit"]
            .clone();
        let result = app
            .post(
                &format!("/v1/audits/{}/verdict", audit["id"].as_str().expect("id")),
                &quinn,
                json!({"lease_id": audit["lease_id"], "escaped": true, "codes": ["INCORRECT"]}),
            )
            .await
            .expect(200)
            .clone();
        verdicts.push(result["kill_switch_tripped"].as_bool().expect("a flag"));
    }
    let mut expected = vec![false; trip_at - 1];
    expected.push(true);
    assert_eq!(verdicts, expected);

    let tripped = entries(&app, "kill_switch_tripped").await;
    assert_eq!(tripped.len(), 1, "{tripped:#?}");
    assert_eq!(tripped[0]["actor"], "escape-monitor");
    assert_eq!(tripped[0]["detail"]["policy"], POLICY);

    // Tripped: every item of the policy goes to people; the other policy is untouched.
    let held = app.submit(&agent, numbered(POLICY, 0.99, 1000)).await;
    assert_eq!(held["status"], "queued", "{held:#}");
    assert!(reason_codes(&held).contains(&"kill_switch".to_owned()));
    let other = app.submit(&agent, numbered(CLEAN, 0.99, 1001)).await;
    assert_eq!(other["status"], "auto_approved");

    // Only a lead resets it, with a reason, and the reset is audited.
    let path = format!("/v1/policies/{POLICY}/kill-switch");
    let reset = json!({"action": "reset", "reason": "model rolled back"});
    app.post(&path, &quinn, reset.clone())
        .await
        .expect_error(403, "forbidden");
    app.post(&path, &agent, reset.clone())
        .await
        .expect_error(403, "forbidden");
    app.post(&path, &lead, json!({"action": "reset", "reason": "  "}))
        .await
        .expect_error(422, "invalid_request");
    assert!(entries(&app, "kill_switch_reset").await.is_empty());
    let still_held = app.submit(&agent, numbered(POLICY, 0.99, 1002)).await;
    assert_eq!(still_held["status"], "queued");

    let view = app.post(&path, &lead, reset).await.expect(200).clone();
    assert_eq!(view["tripped"], false, "{view:#}");
    let resets = entries(&app, "kill_switch_reset").await;
    assert_eq!(resets.len(), 1);
    assert_eq!(resets[0]["actor"], "lena");
    assert_eq!(resets[0]["detail"]["reason"], "model rolled back");
    let released = app.submit(&agent, numbered(POLICY, 0.99, 1003)).await;
    assert_eq!(released["status"], "auto_approved", "{released:#}");
    assert_eq!(app.verify().await["valid"], true);
}

/// A label policy that approves at 0.9 and audits everything it approves.
fn intent_policy() -> Value {
    json!({
        "name": INTENTS, "kind": "label",
        "thresholds": {"approve_at": 0.9, "reject_below": 0.0},
        "audit_rate": 1.0,
        "validators": {"required_fields": ["label"]}
    })
}

const INTENTS: &str = "ticket.intent";

/// A label proposal of `intent` at `confidence`, told apart by `n`.
fn labelled(intent: &str, confidence: f64, n: usize) -> Value {
    json!({
        "policy": INTENTS,
        "input": {"text": format!("Ticket {n} about {intent}")},
        "customer": {"id": "acme", "tier": "standard"},
        "proposal": {"kind": "label", "payload": {"label": intent}, "confidence": confidence}
    })
}

#[tokio::test]
async fn one_intent_going_wrong_trips_that_intents_switch_alone() {
    let app = TestApp::spawn().await;
    app.put_policy(intent_policy()).await;
    let agent = app.agent("bot").await;
    let quinn = app.reviewer("quinn", &["quality"]).await;
    let lead = app.lead("lena").await;

    // Each refund escape is followed by twenty clean card audits: the policy's monitor falls
    // back between escapes, the refund intent's monitor only climbs.
    let mut cusum = monitor(0.02);
    let trip_at = (1..)
        .find(|_| cusum.observe(true) == Alarm::Tripped)
        .expect("escapes trip the monitor");
    let mut submissions = Vec::new();
    for k in 0..trip_at {
        submissions.extend((0..20).map(|i| labelled("card_arrival", 0.95, 100 * k + i)));
        submissions.push(labelled("refund", 0.95, 100 * k + 99));
    }
    batch(&app, &agent, submissions).await;
    let mut refund_results = Vec::new();
    loop {
        let res = app.post("/v1/audits/claim", &quinn, json!({})).await;
        if res.status.as_u16() == 204 {
            break;
        }
        let claimed = res.expect(200).clone();
        let intent = claimed["item"]["proposal"]["payload"]["label"].clone();
        let escaped = intent == "refund";
        let mut verdict = json!({"lease_id": claimed["audit"]["lease_id"], "escaped": escaped});
        if escaped {
            verdict["label"] = json!("request_refund");
        }
        let result = app
            .post(
                &format!(
                    "/v1/audits/{}/verdict",
                    claimed["audit"]["id"].as_str().expect("id")
                ),
                &quinn,
                verdict,
            )
            .await
            .expect(200)
            .clone();
        if escaped {
            refund_results.push(result["tripped"].clone());
        } else {
            assert_eq!(result["tripped"], json!([]), "a clean audit trips nothing");
        }
    }
    let mut expected = vec![json!([]); trip_at - 1];
    expected.push(json!(["intent:refund"]));
    assert_eq!(refund_results, expected);
    let tripped = entries(&app, "kill_switch_tripped").await;
    assert_eq!(tripped.len(), 1, "only the intent's switch: {tripped:#?}");
    assert_eq!(tripped[0]["detail"]["intent"], "refund");
    assert_eq!(tripped[0]["actor"], "escape-monitor");

    // Refund proposals now go to people, with the reason; other intents are untouched.
    let held = app.submit(&agent, labelled("refund", 0.99, 5000)).await;
    assert_eq!(held["status"], "queued", "{held:#}");
    assert!(reason_codes(&held).contains(&"kill_switch".to_owned()));
    assert!(
        held["verdict"]["reasons"]
            .to_string()
            .contains("intent refund")
    );
    let card = app
        .submit(&agent, labelled("card_arrival", 0.99, 5001))
        .await;
    assert_eq!(card["status"], "auto_approved", "{card:#}");

    // Only a lead resets it, naming the intent; the reset is audited.
    let path = format!("/v1/policies/{INTENTS}/kill-switch");
    let reset = json!({"action": "reset", "reason": "refund wording fixed", "intent": "refund"});
    app.post(&path, &quinn, reset.clone())
        .await
        .expect_error(403, "forbidden");
    let view = app.post(&path, &lead, reset).await.expect(200).clone();
    assert_eq!(view["tripped"], false, "{view:#}");
    assert_eq!(view["intent"], "refund");
    assert_eq!(view["policy_switches"], json!([]));
    let resets = entries(&app, "kill_switch_reset").await;
    assert_eq!(resets.len(), 1);
    assert_eq!(resets[0]["detail"]["intent"], "refund");
    let released = app.submit(&agent, labelled("refund", 0.99, 5002)).await;
    assert_eq!(released["status"], "auto_approved", "{released:#}");

    // A lead trips one intent by hand; the policy-wide switch stays armed.
    let view = app
        .post(
            &path,
            &lead,
            json!({"action": "trip", "reason": "new card vendor", "intent": "card_arrival"}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(view["tripped"], true);
    assert_eq!(
        view["policy_switches"].as_array().expect("switches").len(),
        1
    );
    assert_eq!(view["policy_switches"][0]["intent"], "card_arrival");
    let card = app
        .submit(&agent, labelled("card_arrival", 0.99, 5003))
        .await;
    assert_eq!(card["status"], "queued");
    let refund = app.submit(&agent, labelled("refund", 0.99, 5004)).await;
    assert_eq!(refund["status"], "auto_approved");

    // Intents exist only for label policies, and must be named.
    app.put_policy(audited_policy(POLICY, 0.5)).await;
    app.post(
        &format!("/v1/policies/{POLICY}/kill-switch"),
        &lead,
        json!({"action": "trip", "reason": "x", "intent": "refund"}),
    )
    .await
    .expect_error(422, "invalid_request");
    app.post(
        &path,
        &lead,
        json!({"action": "trip", "reason": "x", "intent": " "}),
    )
    .await
    .expect_error(422, "invalid_request");
    assert_eq!(entries(&app, "kill_switch_tripped").await.len(), 2);
    assert_eq!(app.verify().await["valid"], true);
}

#[tokio::test]
async fn only_labels_chosen_without_looking_at_the_item_feed_the_bound() {
    let (rate, n) = (0.25, 240);
    let app = TestApp::spawn_with(Settings {
        audit_seed: Some(5),
        ..Settings::default()
    })
    .await;
    // Live with fixed thresholds: these items reach people because of how they scored.
    app.put_policy(json!({
        "name": POLICY, "audit_rate": rate,
        "thresholds": {"approve_at": 0.9, "reject_below": 0.1}
    }))
    .await;
    let agent = app.agent("bot").await;
    let rita = app.reviewer("rita", &["triage"]).await;
    let items = batch(
        &app,
        &agent,
        (0..n).map(|i| numbered(POLICY, 0.5, i)).collect(),
    )
    .await;
    let sampled = items.iter().filter(|i| i["representative"] == true).count();
    let mean = rate * n as f64;
    let sd = (n as f64 * rate * (1.0 - rate)).sqrt();
    assert!(
        (sampled as f64 - mean).abs() <= 4.0 * sd,
        "{sampled} of {n} sampled at rate {rate}"
    );
    // Every reviewed item is an outcome; the calibration sees them all, the bound only the
    // sampled ones.
    while let Some(claimed) = app.claim(&rita, None).await {
        let claimed = &claimed["item"];
        app.decide(&rita, id(claimed), lease(claimed), "approve", json!({}))
            .await
            .expect(200);
    }
    let refitted = refit(&app, &app.admin).await;
    assert_eq!(refitted["state"]["outcomes"], sampled, "{refitted:#}");
    assert_eq!(refitted["state"]["scored"], "live");
    assert_eq!(policy_get(&app, "calibration").await["outcomes"], n);

    // In shadow mode people see everything, so every label counts.
    app.put_policy(json!({
        "name": "reply.shadow", "mode": "shadow", "audit_rate": rate,
        "thresholds": {"approve_at": 0.9, "reject_below": 0.1}
    }))
    .await;
    let shadowed = batch(
        &app,
        &agent,
        (0..20)
            .map(|i| {
                let mut s = numbered("reply.shadow", 0.95, i);
                s["policy"] = json!("reply.shadow");
                s
            })
            .collect(),
    )
    .await;
    assert!(shadowed.iter().all(|i| i["representative"] == true));
}

// --- 8: export ---------------------------------------------------------------------------------

/// `GET /v1/export{query}` as `key`: the JSON Lines, each parsed.
async fn export(app: &TestApp, query: &str, key: &str) -> Vec<Value> {
    let (status, headers, text) = app.get_text(&format!("/v1/export{query}"), key).await;
    assert_eq!(status.as_u16(), 200, "{text}");
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/x-ndjson")
    );
    assert!(text.is_empty() || text.ends_with('\n'), "{text}");
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("each line is JSON"))
        .collect()
}

#[tokio::test]
async fn export_streams_one_json_line_per_decided_item_to_leads_only() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    let rita = app.reviewer("rita", &["triage"]).await;
    let lead = app.lead("lena").await;

    let auto = app.submit(&agent, numbered(POLICY, 0.95, 0)).await;
    assert_eq!(auto["status"], "auto_approved");
    let queued: Vec<Value> = batch(
        &app,
        &agent,
        (1..=4).map(|i| numbered(POLICY, 0.5, i)).collect(),
    )
    .await;
    let edited_payload = json!({"text": "Your corrected invoice follows today."});

    // Approve one, then later edit one and reject one; the fourth stays queued.
    let first = app.claim_item(&rita).await;
    app.decide(&rita, id(&first), lease(&first), "approve", json!({}))
        .await
        .expect(200);
    app.advance(100);
    let second = app.claim_item(&rita).await;
    app.decide(
        &rita,
        id(&second),
        lease(&second),
        "edit",
        json!({"edited_payload": edited_payload, "codes": ["INCOMPLETE"],
               "rubric": {"correctness": 4, "completeness": 2}, "rationale": "Say when."}),
    )
    .await
    .expect(200);
    let third = app.claim_item(&rita).await;
    app.decide(
        &rita,
        id(&third),
        lease(&third),
        "reject",
        json!({"codes": ["INCORRECT"]}),
    )
    .await
    .expect(200);
    let proposal_of = |item: &Value| {
        queued
            .iter()
            .find(|q| q["id"] == item["id"])
            .expect("a submitted item")["proposal"]["payload"]
            .clone()
    };

    let lines = export(&app, "", &lead).await;
    assert_eq!(lines.len(), 3, "one line per decided item: {lines:#?}");
    let line = |item: &Value| {
        lines
            .iter()
            .find(|l| l["item_id"] == item["id"])
            .unwrap_or_else(|| panic!("no line for {}", item["id"]))
            .clone()
    };

    let approved = line(&first);
    assert_eq!(approved["status"], "approved");
    assert_eq!(approved["proposal"]["payload"], proposal_of(&first));
    assert_eq!(approved["final_payload"], proposal_of(&first));
    assert_eq!(approved["proposal_correct"], true);
    assert_eq!(approved["preference"], Value::Null);
    assert_eq!(approved["reviews"][0]["decision"], "approve");

    let edit = line(&second);
    assert_eq!(edit["status"], "edited");
    assert_eq!(edit["final_payload"], edited_payload);
    assert_eq!(edit["proposal_correct"], false);
    let review = &edit["reviews"][0];
    assert_eq!(review["decision"], "edit");
    assert_eq!(review["codes"], json!(["INCOMPLETE"]));
    assert_eq!(review["edited_payload"], edited_payload);
    assert!(!review["diff"].is_null(), "the edit's diff: {review:#}");
    assert_eq!(review["rubric"]["completeness"], 2);
    assert_eq!(
        edit["preference"],
        json!({"chosen": edited_payload, "rejected": proposal_of(&second)})
    );

    let rejected = line(&third);
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["final_payload"], Value::Null);
    assert_eq!(rejected["proposal_correct"], false);
    assert_eq!(rejected["reviews"][0]["codes"], json!(["INCORRECT"]));
    assert_eq!(rejected["preference"], Value::Null);

    // `since` keeps what was decided at or after it.
    let since = at(50).to_rfc3339_opts(SecondsFormat::Secs, true);
    let later = export(&app, &format!("?since={since}"), &lead).await;
    let ids: Vec<&Value> = later.iter().map(|l| &l["item_id"]).collect();
    assert_eq!(ids.len(), 2, "{later:#?}");
    assert!(ids.contains(&&second["id"]) && ids.contains(&&third["id"]));
    assert!(export(&app, "?policy=reply.other", &lead).await.is_empty());
    // The admin may export too.
    assert_eq!(export(&app, "", &app.admin).await.len(), 3);

    // Agents and reviewers may not; a bad `since` is the client's mistake.
    for key in [&agent, &rita] {
        app.get("/v1/export", key)
            .await
            .expect_error(403, "forbidden");
    }
    app.get("/v1/export?since=yesterday", &lead)
        .await
        .expect_error(400, "invalid_query");
}

// --- 9: audit leases ---------------------------------------------------------------------------

/// What a refused audit verdict must leave alone: the audit chain, the audits, the outcomes and
/// the learned state (with the escape monitor).
async fn snapshot(app: &TestApp) -> (i64, Value, Value, Value) {
    (
        app.audit_len().await,
        policy_get(app, "escape").await,
        policy_get(app, "calibration").await["outcomes"].clone(),
        policy_get(app, "learning").await,
    )
}

#[tokio::test]
async fn an_audit_verdict_needs_the_current_lease_and_a_refused_one_records_nothing() {
    let app = TestApp::spawn().await;
    app.put_policy(audited_policy(POLICY, 1.0)).await;
    let agent = app.agent("bot").await;
    let quinn = app.reviewer("quinn", &["quality"]).await;
    let sam = app.reviewer("sam", &["sme"]).await;
    app.submit(&agent, numbered(POLICY, 0.95, 0)).await;

    let first = app
        .post("/v1/audits/claim", &quinn, json!({}))
        .await
        .expect(200)["audit"]
        .clone();
    let verdict_path = format!("/v1/audits/{}/verdict", first["id"].as_str().expect("id"));
    let before = snapshot(&app).await;

    // A lease that was never handed out.
    app.post(
        &verdict_path,
        &quinn,
        json!({"lease_id": FOREIGN_LEASE, "escaped": true}),
    )
    .await
    .expect_error(409, "lease_not_held");
    // The right lease id, from someone else.
    app.post(
        &verdict_path,
        &sam,
        json!({"lease_id": first["lease_id"], "escaped": true}),
    )
    .await
    .expect_error(409, "lease_not_held");
    // The holder, after the lease lapsed; the audit is claimable again.
    app.advance(Settings::default().default_lease.num_seconds() + 1);
    app.post(
        &verdict_path,
        &quinn,
        json!({"lease_id": first["lease_id"], "escaped": true}),
    )
    .await
    .expect_error(409, "lease_not_held");
    assert_eq!(
        snapshot(&app).await,
        before,
        "refused verdicts record nothing"
    );

    let second = app
        .post("/v1/audits/claim", &sam, json!({}))
        .await
        .expect(200)["audit"]
        .clone();
    assert_eq!(second["id"], first["id"]);
    assert_ne!(second["lease_id"], first["lease_id"]);
    let before = snapshot(&app).await;
    // The first lease is stale now, even for its holder.
    app.post(
        &verdict_path,
        &quinn,
        json!({"lease_id": first["lease_id"], "escaped": true}),
    )
    .await
    .expect_error(409, "lease_not_held");
    // Unknown audits and malformed leases are refused too.
    app.post(
        "/v1/audits/no-such-audit/verdict",
        &sam,
        json!({"lease_id": second["lease_id"], "escaped": false}),
    )
    .await
    .expect_error(404, "audit_not_found");
    app.post(
        &verdict_path,
        &sam,
        json!({"lease_id": "not-a-lease", "escaped": false}),
    )
    .await
    .expect_error(422, "invalid_request");
    assert_eq!(snapshot(&app).await, before);

    let done = app
        .post(
            &verdict_path,
            &sam,
            json!({"lease_id": second["lease_id"], "escaped": false}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(done["audit"]["status"], "done");
    let escape = policy_get(&app, "escape").await;
    assert_eq!(escape["audits_done"], 1);
    assert_eq!(escape["estimate"]["escapes"], 0);
    // Judged once: the lease is gone.
    app.post(
        &verdict_path,
        &sam,
        json!({"lease_id": second["lease_id"], "escaped": true}),
    )
    .await
    .expect_error(409, "lease_not_held");
    assert_eq!(policy_get(&app, "escape").await["audits_done"], 1);
}
