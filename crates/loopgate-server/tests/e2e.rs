//! The reviewer workspace end to end, in a real headless Chromium driven over WebDriver.
//!
//! Each test starts a real Loopgate (SQLite in a temporary directory, the wall clock),
//! chromedriver and a fresh Chromium, and does what a person does: signs in, reads the page,
//! presses keys. Assertions are about what people rely on — where the browser lands, what the
//! page says, and what the store recorded. Chromium and chromedriver must be installed
//! (`apt-get install chromium chromium-driver`); without them these tests fail, never skip.

#[path = "e2e/harness.rs"]
mod harness;

use fantoccini::key::Key;
use harness::{App, PASSWORD, default_ws, draft, scenario, screenshot_dir};
use loopgate_core::{AccessRole, Decision, Role, Status};
use serde_json::{Value, json};

const NOTHING_WAITING: &str = "Nothing is waiting for you right now";

/// The reply policy every scenario starts from: U = 0.9, L = 0.2, `overrides` merged in.
fn reply_policy(overrides: Value) -> Value {
    let mut p = json!({
        "name": "reply.draft",
        "kind": "reply",
        "thresholds": {"approve_at": 0.9, "reject_below": 0.2},
    });
    harness::merge(&mut p, &overrides);
    p
}

/// An irreversible refund policy: every item to a person, and two people must agree.
fn refund_policy() -> Value {
    json!({
        "name": "action.refund",
        "kind": "action",
        "risk": "irreversible",
        "thresholds": {"approve_at": 0.9, "reject_below": 0.2},
        "routing": {"default_lane": "P1"},
    })
}

fn refund(customer: &str, amount: u32) -> Value {
    json!({
        "policy": "action.refund",
        "input": {"text": "We were double charged for November, please refund.", "channel": "chat"},
        "customer": {"id": customer, "name": customer, "tier": "enterprise"},
        "proposal": {"kind": "action", "confidence": 0.97, "model": "gpt-support",
                     "payload": {"amount": amount, "currency": "EUR", "invoice": "INV-2211"},
                     "rationale": "Two identical charges on the same day."},
    })
}

async fn status(app: &App, id: loopgate_core::ItemId) -> Status {
    app.item(&default_ws(), id).await.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_and_out() {
    scenario(|app, b| async move {
        app.account(&default_ws(), "ana", AccessRole::Reviewer, &[Role::Triage])
            .await;

        // No session: the queue sends people to sign in, and back afterwards.
        b.goto("/queue").await;
        b.wait_for_path("/login?next=/queue").await;

        b.sign_in_with("ana", "not the password at all").await;
        assert_eq!(
            b.path().await,
            "/login",
            "a wrong password stays on sign-in"
        );
        assert_eq!(b.text("p.error").await, "Wrong name or password.");
        assert!(!b.exists(".top .who").await, "not signed in");

        b.sign_in_with("ana", PASSWORD).await;
        b.wait_for_path("/queue").await;
        assert!(
            b.text(".top .who")
                .await
                .contains("ana · reviewer (triage)"),
            "the header names who is signed in"
        );

        b.sign_out().await;
        b.goto("/queue").await;
        b.wait_for_path("/login?next=/queue").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_triage_reviewer_works_the_queue_by_keyboard_alone() {
    scenario(|app, b| async move {
        let ws = default_ws();
        app.policy(
            &ws,
            reply_policy(json!({"routing": {"rules": [
                {"name": "enterprise first", "when": {"tier_in": ["enterprise"]}, "then": {"lane": "P1"}}
            ]}})),
        )
        .await;
        let agent = app.agent(&ws, "support-bot").await;
        let older = app.submit(&agent, draft(0.5, "initech", json!({}))).await;
        let newer = app.submit(&agent, draft(0.6, "hooli", json!({}))).await;
        let urgent = app
            .submit(
                &agent,
                draft(0.5, "globex", json!({"customer": {"tier": "enterprise"}})),
            )
            .await;
        app.account(&ws, "tom", AccessRole::Reviewer, &[Role::Triage])
            .await;

        b.sign_in("tom").await;
        b.wait_for_path("/queue").await;
        b.wait_for("#queue-rows tr.selected").await;
        assert_eq!(b.text("#waiting").await, "3 waiting for you");

        // From here on, keys only.
        b.press_and_load('n').await;
        b.wait_for(&format!(".item[data-item='{urgent}'] form#decide"))
            .await;
        assert_eq!(b.text(".bar .stage").await, "triage stage");
        // `n` while holding an item comes back to it: nothing is left leased behind.
        b.press_and_load('n').await;
        b.wait_for(&format!(".item[data-item='{urgent}'] form#decide"))
            .await;
        for id in [older, newer] {
            assert_eq!(status(&app, id).await, Status::Queued);
        }

        b.press_and_load('a').await;
        let after_approve = app.item(&ws, urgent).await;
        assert_eq!(after_approve.status, Status::Approved);
        assert!(after_approve.is_final);
        // Straight on to the next most urgent item, already claimed.
        b.wait_for(&format!(".item[data-item='{older}'] form#decide"))
            .await;

        // 1 ticks the first decision code, then r rejects with it.
        b.press('1').await;
        let ticked = b
            .script(
                "return document.querySelector('input[name=codes][data-key=\"1\"]').checked;",
                vec![],
            )
            .await;
        assert_eq!(ticked, true);
        b.press_and_load('r').await;
        let rejected = app.item(&ws, older).await;
        assert_eq!(rejected.status, Status::Rejected);
        assert!(rejected.is_final);
        let reviews = app.store().reviews(&ws, older).await.expect("reviews");
        assert_eq!(reviews[0].decision, Decision::Reject);
        assert_eq!(reviews[0].codes, ["INCORRECT"]);
        b.wait_for(&format!(".item[data-item='{newer}'] form#decide"))
            .await;

        b.press_and_load('x').await;
        let escalated = app.item(&ws, newer).await;
        assert_eq!(escalated.status, Status::Queued);
        assert_eq!(escalated.required_role, Some(Role::Quality));
        assert!(escalated.lease.is_none());
        // Nothing left that a triage reviewer may take.
        b.wait_for_path("/queue?notice=empty").await;
        assert!(b.text("p.flash").await.contains(NOTHING_WAITING));

        let reviews = app.store().reviews(&ws, urgent).await.expect("reviews");
        assert_eq!(reviews.len(), 1);
        assert_eq!(reviews[0].reviewer.name, "tom");
        assert_eq!(reviews[0].decision, Decision::Approve);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quality_reviewer_edits_a_draft_and_sees_the_diff_first() {
    scenario(|app, b| async move {
        let ws = default_ws();
        app.policy(
            &ws,
            reply_policy(json!({"routing": {"default_role": "quality"}})),
        )
        .await;
        let agent = app.agent(&ws, "support-bot").await;
        let original = "Hello Ana,\nwe corrected your invoice to 10 seats.\nBest regards";
        let id = app
            .submit(
                &agent,
                draft(
                    0.6,
                    "acme",
                    json!({"proposal": {"payload": {"text": original}}}),
                ),
            )
            .await;
        app.account(&ws, "quinn", AccessRole::Reviewer, &[Role::Quality])
            .await;

        b.sign_in("quinn").await;
        b.press_and_load('n').await;
        b.wait_for(&format!(".item[data-item='{id}'] form#decide"))
            .await;
        assert_eq!(b.text(".bar .stage").await, "quality stage");

        b.press('e').await;
        let focused = b
            .script("return document.activeElement.id;", vec![])
            .await;
        assert_eq!(focused, "edited", "e puts the cursor in the editor");
        // Enter on an unchanged draft saves nothing and says why.
        b.press(Key::Enter).await;
        b.wait_for_xpath("//div[@id='diff-preview'][starts-with(., 'No changes to save')]")
            .await;
        assert_eq!(status(&app, id).await, Status::InReview);
        b.chord(Key::Control, Key::End).await;
        for _ in "Best regards".chars() {
            b.press(Key::Backspace).await;
        }
        b.type_text("Kind regards, Quinn").await;

        // The preview shows what will be recorded, before anything is submitted.
        let removed = b
            .wait_for_xpath(
                "//div[@id='diff-preview']//span[@class='del' and contains(., 'Best regards')]",
            )
            .await;
        let added = b
            .wait_for_xpath(
                "//div[@id='diff-preview']//span[@class='add' and contains(., 'Kind regards, Quinn')]",
            )
            .await;
        assert_eq!(removed.text().await.expect("text"), "-Best regards");
        assert_eq!(added.text().await.expect("text"), "+Kind regards, Quinn");
        let preview = b.text("#diff-preview pre.diff").await;
        assert_eq!(status(&app, id).await, Status::InReview, "nothing saved yet");

        // Enter in the editor saves the edit.
        b.press_and_load(Key::Enter).await;
        b.wait_for_path("/queue?notice=empty").await;

        let edited_text = "Hello Ana,\nwe corrected your invoice to 10 seats.\nKind regards, Quinn";
        let item = app.item(&ws, id).await;
        assert_eq!(item.status, Status::Edited);
        let outcome = item.outcome.expect("an outcome");
        assert_eq!(outcome.payload, Some(json!({"text": edited_text})));
        let reviews = app.store().reviews(&ws, id).await.expect("reviews");
        let review = reviews.last().expect("a review");
        assert_eq!(review.decision, Decision::Edit);
        assert_eq!(review.reviewer.name, "quinn");
        assert_eq!(review.edited_payload, Some(json!({"text": edited_text})));
        // The recorded diff is the one the preview showed: only the last line changed.
        let diff = &review.diff.as_ref().expect("a diff").unified;
        assert_eq!(preview.trim(), diff.trim(), "preview and record agree");
        let changed: Vec<&str> = diff
            .lines()
            .filter(|l| {
                (l.starts_with('-') || l.starts_with('+'))
                    && !l.starts_with("---")
                    && !l.starts_with("+++")
            })
            .collect();
        assert_eq!(changed, ["-Best regards", "+Kind regards, Quinn"], "{diff}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_irreversible_action_needs_a_second_person() {
    scenario(|app, b| async move {
        let ws = default_ws();
        app.policy(&ws, refund_policy()).await;
        let agent = app.agent(&ws, "billing-bot").await;
        let id = app.submit(&agent, refund("umbrella", 40)).await;
        app.account(&ws, "ana", AccessRole::Reviewer, &[Role::Triage])
            .await;
        app.account(&ws, "bo", AccessRole::Reviewer, &[Role::Triage])
            .await;

        // Ana proposes the refund.
        b.sign_in("ana").await;
        b.press_and_load('n').await;
        b.wait_for(&format!(".item[data-item='{id}'] form#decide"))
            .await;
        b.press_and_load('a').await;
        let item = app.item(&ws, id).await;
        assert_eq!(item.status, Status::AwaitingConfirmation);
        assert_eq!(item.pending.as_ref().expect("pending").proposer.name, "ana");
        // Her own proposal is never offered back to her.
        b.wait_for_path("/queue?notice=empty").await;
        assert!(b.text("p.flash").await.contains(NOTHING_WAITING));
        b.press_and_load('n').await;
        b.wait_for_path("/queue?notice=empty").await;
        let item = app.item(&ws, id).await;
        assert_eq!(item.status, Status::AwaitingConfirmation);
        assert!(item.lease.is_none(), "Ana did not get her own proposal");
        b.sign_out().await;

        // Bo confirms it.
        b.sign_in("bo").await;
        b.press_and_load('n').await;
        b.wait_for(&format!(".item[data-item='{id}'] form#decide"))
            .await;
        assert_eq!(b.text(".bar .stage").await, "confirm stage");
        assert_eq!(b.text(".pending h2").await, "ana proposed: approved");
        b.press_and_load('a').await;
        b.wait_for_path("/queue?notice=empty").await;

        let item = app.item(&ws, id).await;
        assert_eq!(item.status, Status::Approved);
        assert!(item.is_final);
        let by: Vec<String> = item
            .outcome
            .expect("an outcome")
            .decided_by
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(by, ["ana", "bo"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_trips_the_kill_switch_and_confident_items_go_to_people() {
    scenario(|app, b| async move {
        let ws = default_ws();
        app.policy(&ws, reply_policy(json!({}))).await;
        let agent = app.agent(&ws, "support-bot").await;
        let before = app.submit(&agent, draft(0.97, "acme", json!({}))).await;
        assert_eq!(status(&app, before).await, Status::AutoApproved);
        app.account(&ws, "lena", AccessRole::Lead, &[]).await;
        app.account(&ws, "rita", AccessRole::Reviewer, &[Role::Triage])
            .await;

        b.sign_in("lena").await;
        b.goto("/lead").await;
        let reason = "Escapes spiking after the model update";
        let input = b
            .wait_for("tr input[name=reason][aria-label='Reason for reply.draft']")
            .await;
        input.send_keys(reason).await.expect("the reason is typed");
        b.press_and_load(Key::Enter).await;
        b.wait_for_path("/lead?notice=tripped").await;
        assert!(b.text("p.flash").await.starts_with("Kill switch tripped"));
        let row = b.text("table.policies tr.tripped").await;
        assert!(row.starts_with("reply.draft"), "{row}");
        assert!(row.contains("tripped by lena"), "{row}");
        assert!(row.contains(reason), "{row}");
        assert!(
            b.exists("tr.tripped button.primary").await,
            "Reset is offered"
        );

        let switch = app
            .store()
            .kill_switch(&ws, &"reply.draft".parse().expect("a name"))
            .await
            .expect("the store answers")
            .expect("the switch is tripped");
        assert_eq!(switch.reason, reason);

        // The same confident draft now goes to a person, saying why.
        let after = app.submit(&agent, draft(0.97, "acme", json!({}))).await;
        let item = app.item(&ws, after).await;
        assert_eq!(item.status, Status::Queued);
        assert!(
            item.verdict
                .reasons
                .iter()
                .any(|r| r.code.to_string() == "kill_switch"),
            "{:?}",
            item.verdict.reasons
        );

        // The same row now resets it, again with a reason.
        let input = b
            .wait_for("tr.tripped input[name=reason][aria-label='Reason for reply.draft']")
            .await;
        input
            .send_keys("Fixed in model 2026-11b")
            .await
            .expect("typed");
        b.press_and_load(Key::Enter).await;
        b.wait_for_path("/lead?notice=reset").await;
        assert!(!b.exists("tr.tripped").await);
        assert!(
            app.store()
                .kill_switch(&ws, &switch.policy)
                .await
                .expect("store")
                .is_none()
        );
        let reset = app.submit(&agent, draft(0.97, "acme", json!({}))).await;
        assert_eq!(status(&app, reset).await, Status::AutoApproved);

        // A reviewer may not see the lead's page.
        b.sign_out().await;
        b.sign_in("rita").await;
        assert!(!b.exists(".top nav a[href='/lead']").await);
        b.goto("/lead").await;
        assert_eq!(b.text("main h1").await, "Not allowed");
        assert_eq!(b.fetch_status("GET", "/lead", None).await, 403);
        // Not even with her own session's valid token.
        b.goto("/queue").await;
        let token = b.script("return document.body.dataset.csrf;", vec![]).await;
        let token = token.as_str().expect("the page's token");
        assert_eq!(token.len(), 64);
        let form = format!("csrf={token}&policy=reply.draft&action=trip&reason=mine");
        assert_eq!(
            b.fetch_status("POST", "/lead/kill-switch", Some(&form))
                .await,
            403
        );
        assert!(
            app.store()
                .kill_switch(&ws, &switch.policy)
                .await
                .expect("store")
                .is_none()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_forms_and_other_workspaces_are_refused() {
    scenario(|app, b| async move {
        let ws = default_ws();
        app.policy(&ws, reply_policy(json!({}))).await;
        let agent = app.agent(&ws, "support-bot").await;
        let mine = app.submit(&agent, draft(0.5, "acme", json!({}))).await;
        let other = harness::ws("globex-support");
        app.policy(&other, reply_policy(json!({}))).await;
        let their_agent = app.agent(&other, "their-bot").await;
        let theirs = app
            .submit(&their_agent, draft(0.5, "globex", json!({})))
            .await;
        app.account(&ws, "tom", AccessRole::Reviewer, &[Role::Triage])
            .await;

        b.sign_in("tom").await;
        b.wait_for_path("/queue").await;

        // A POST without this session's token changes nothing.
        for form in ["csrf=forged", "csrf=", ""] {
            assert_eq!(
                b.fetch_status("POST", "/review/next", Some(form)).await,
                403,
                "POST /review/next with {form:?}"
            );
        }
        // The page's own form, its token tampered with.
        b.script(
            "document.querySelector('#next-form input[name=csrf]').value = 'forged';",
            vec![],
        )
        .await;
        b.mark_page().await;
        b.wait_for("#next-form button")
            .await
            .click()
            .await
            .expect("the button is clicked");
        b.wait_for_new_page().await;
        assert_eq!(b.text("main h1").await, "Not allowed");
        let item = app.item(&ws, mine).await;
        assert_eq!(item.status, Status::Queued);
        assert!(item.lease.is_none(), "nothing was claimed");
        // The sign-out form tampered with the same way leaves the session alone.
        b.goto("/queue").await;
        b.script(
            "document.querySelector('form[action=\"/logout\"] input[name=csrf]').value = 'x';",
            vec![],
        )
        .await;
        b.mark_page().await;
        b.wait_for(".who form[action='/logout'] button")
            .await
            .click()
            .await
            .expect("sign out is clicked");
        b.wait_for_new_page().await;
        assert_eq!(b.text("main h1").await, "Not allowed");
        b.goto("/queue").await;
        b.wait_for_path("/queue").await;

        // Another workspace's item does not exist for Tom.
        b.goto(&format!("/items/{theirs}")).await;
        assert_eq!(b.text("main h1").await, "Not found");
        assert_eq!(
            b.fetch_status("GET", &format!("/items/{theirs}"), None)
                .await,
            404
        );
        assert_eq!(
            b.fetch_status("GET", &format!("/items/{theirs}/audit"), None)
                .await,
            404
        );

        // `?` opens the shortcuts, Esc closes them.
        b.goto("/queue").await;
        b.wait_for("#queue-rows tr.selected").await;
        b.press('?').await;
        let help = b.wait_for("#help:not([hidden])").await;
        assert!(help.is_displayed().await.expect("displayed"));
        assert!(b.text("#help").await.contains("Keyboard shortcuts"));
        b.press(Key::Escape).await;
        b.wait_for("#help[hidden]").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots_of_the_main_pages() {
    scenario(|app, b| async move {
        let ws = default_ws();
        // P0 first review is due one second after submission, so P0 items breach at once.
        app.policy(
            &ws,
            reply_policy(json!({
                "sla": {"P0": {"first_review": 1, "resolve": 2}},
                "routing": {"rules": [
                    {"name": "legal to SME", "when": {"signal": "legal"},
                     "then": {"lane": "P0", "role": "sme"}},
                    {"name": "enterprise to quality", "when": {"tier_in": ["enterprise"]},
                     "then": {"lane": "P1", "role": "quality"}}
                ]}
            })),
        )
        .await;
        app.policy(&ws, refund_policy()).await;
        let agent = app.agent(&ws, "support-bot").await;
        app.submit(
            &agent,
            draft(0.55, "Initech", json!({"input": {"text": "Can I change the billing email?"}})),
        )
        .await;
        app.submit(
            &agent,
            draft(0.41, "Hooli", json!({"input": {"text": "How do I export my tickets?"}})),
        )
        .await;
        app.submit(
            &agent,
            draft(
                0.62,
                "Globex",
                json!({
                    "signals": ["legal"],
                    "input": {"text": "Our lawyers say the DPA was breached. Respond formally."},
                    "customer": {"tier": "strategic"},
                }),
            ),
        )
        .await;
        let quality = app
            .submit(
                &agent,
                draft(
                    0.74,
                    "Acme GmbH",
                    json!({
                        "customer": {"tier": "enterprise", "health_score": 0.62,
                                     "deal_value": 48000, "renewal_date": "2027-03-01"},
                        "proposal": {"payload": {"text": "Hello Ana,\nwe corrected your invoice to 10 seats.\nBest regards"},
                                     "rationale": "Seat count mismatch; billing shows 10 active seats."},
                    }),
                ),
            )
            .await;
        let refund_id = app.submit(&agent, refund("Umbrella Corp", 40)).await;
        let tom = app
            .account(&ws, "tom", AccessRole::Reviewer, &[Role::Triage])
            .await;
        app.account(&ws, "uma", AccessRole::Reviewer, &[Role::Triage])
            .await;
        app.account(&ws, "quinn", AccessRole::Reviewer, &[Role::Quality])
            .await;
        app.account(&ws, "lena", AccessRole::Lead, &[]).await;
        propose_approval(&app, &tom, refund_id).await;
        app.store()
            .trip_kill_switch(
                &ws,
                &"action.refund".parse().expect("a name"),
                None,
                "Refund escapes above target",
                loopgate_core::AuditActor::system("escape monitor"),
                app.now(),
            )
            .await
            .expect("tripped");

        let mut written = Vec::new();
        b.sign_in("lena").await;
        b.wait_for_path("/queue").await;
        b.wait_for("#queue-rows tr.breached").await;
        assert_eq!(b.text("#waiting").await, "5 waiting for you");
        written.push(b.screenshot("queue").await);

        b.goto("/lead").await;
        b.wait_for("ul.due li.breached").await;
        b.wait_for("tr.tripped").await;
        written.push(b.screenshot("lead").await);
        b.sign_out().await;

        b.sign_in("quinn").await;
        b.press_and_load('n').await;
        b.wait_for(&format!(".item[data-item='{quality}'] form#decide"))
            .await;
        b.press('e').await;
        b.chord(Key::Control, Key::End).await;
        for _ in "Best regards".chars() {
            b.press(Key::Backspace).await;
        }
        b.type_text("Kind regards, Quinn").await;
        b.wait_for_xpath(
            "//div[@id='diff-preview']//span[@class='add' and contains(., 'Kind regards, Quinn')]",
        )
        .await;
        b.script("document.getElementById('edit-box').scrollIntoView({block: 'center'});", vec![])
            .await;
        written.push(b.screenshot("item-quality-diff").await);
        b.sign_out().await;

        b.sign_in("uma").await;
        b.press_and_load('n').await;
        b.wait_for(&format!(".item[data-item='{refund_id}'] form#decide"))
            .await;
        assert_eq!(b.text(".bar .stage").await, "confirm stage");
        written.push(b.screenshot("item-confirm").await);

        for path in &written {
            let bytes = std::fs::read(path).expect("the screenshot is readable");
            assert!(bytes.starts_with(b"\x89PNG"), "{} is a PNG", path.display());
        }
        assert!(screenshot_dir().join("queue.png").is_file());
    })
    .await;
}

/// Tom claims the refund (the only triage item in lane P1) and approves it, through the store.
async fn propose_approval(app: &App, tom: &loopgate_core::Principal, id: loopgate_core::ItemId) {
    use loopgate_core::lifecycle::Reviewer;
    use loopgate_core::{DecisionRequest, LeaseId};
    let ws = default_ws();
    let reviewer = Reviewer {
        actor: tom.actor(),
        roles: tom.effective_roles(),
    };
    let lease_id = LeaseId::new();
    let claimed = app
        .store()
        .claim_next(
            &ws,
            loopgate_store::ClaimRequest {
                reviewer: reviewer.clone(),
                roles: vec![Role::Triage],
                lanes: vec![loopgate_core::Lane::P1],
                lease_id,
                default_lease: chrono::Duration::minutes(5),
                now: app.now(),
            },
        )
        .await
        .expect("the store answers")
        .expect("the refund is claimed");
    assert_eq!(claimed.id, id);
    let now = app.now();
    let request = DecisionRequest {
        lease_id,
        decision: Decision::Approve,
        codes: Vec::new(),
        rubric: None,
        edited_payload: None,
        rationale: Some("Duplicate charge confirmed in billing.".into()),
    };
    app.store()
        .mutate_item(
            &ws,
            id,
            Box::new(move |item| {
                loopgate_server::learning::decide(
                    item,
                    &reviewer,
                    &request,
                    &Default::default(),
                    now,
                )
            }),
        )
        .await
        .expect("the approval is proposed");
}
