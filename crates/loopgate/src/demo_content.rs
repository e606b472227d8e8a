//! Demo content for `loopgate demo`: three example policies and a seeded stream of realistic
//! B2B support tickets, each a ready `POST /v1/items` body, so that a newcomer sees queues fill,
//! SLAs tick and verdicts flow within a minute.
//!
//! Everything here is invented for Loopgate: the companies (domains under `.example`), the
//! people, the product the tickets talk about and the knowledge-base articles the drafts cite.
//! The stream mixes about 50% `ticket.classify`, 35% `reply.draft` and 15% `action.refund`
//! items, with confidences spread so that the example thresholds produce automatic approvals,
//! automatic rejections and queued items, and with drafts and refunds that are sometimes wrong
//! enough for a validator to fire. The same seed always yields the same stream.

use chrono::{Datelike, Days, NaiveDate};
use serde_json::{Value, json};

/// Name of the example classification policy.
const CLASSIFY: &str = "ticket.classify";
/// Name of the example reply-drafting policy.
const REPLY: &str = "reply.draft";
/// Name of the example refund policy.
const REFUND: &str = "action.refund";

/// The example policies, in the `PolicySpec` format accepted by `POST /v1/policies`:
/// `ticket.classify` (labels), `reply.draft` (drafted replies) and `action.refund` (refunds,
/// irreversible). Their SLAs are minutes, not hours, so that countdowns visibly tick in a demo:
/// first review within 5 / 15 / 30 minutes in P0 / P1 / P2, resolution within 30 / 60 / 120
/// minutes, both halved for strategic accounts and renewals within 30 days.
pub fn policies() -> Vec<Value> {
    vec![
        json!({
            "name": CLASSIFY,
            "kind": "label",
            "risk": "reversible",
            "description": "Intent label for every incoming ticket; the label picks the queue and the macro.",
            "thresholds": {"approve_at": 0.9, "reject_below": 0.3},
            "audit_rate": 0.1,
            "mode": "live",
            "two_person": false,
            "sla": sla((300, 1800), (900, 3600), (1800, 7200)),
            "validators": {"required_fields": ["label"]},
            "review_signals": ["legal", "safety", "churn_risk"],
            "routing": {
                "default_lane": "P2",
                "default_role": "triage",
                "rules": [
                    {"name": "legal to SME", "when": {"signal": "legal"},
                     "then": {"lane": "P0", "role": "sme"}},
                    {"name": "security incident to SME", "when": {"signal": "safety"},
                     "then": {"lane": "P0", "role": "sme"}},
                    {"name": "strategic accounts first", "when": {"tier_in": ["strategic"]},
                     "then": {"lane": "P1"}},
                    {"name": "marked urgent by the customer",
                     "when": {"equals": {"path": "/input/priority", "value": "urgent"}},
                     "then": {"lane": "P1"}},
                    {"name": "unsure label to quality", "when": {"confidence_below": 0.5},
                     "then": {"role": "quality"}}
                ]
            },
            "lease_seconds": 300
        }),
        json!({
            "name": REPLY,
            "kind": "reply",
            "risk": "reversible",
            "description": "Drafted replies to customers. A person sees every draft for strategic, large or renewing accounts.",
            "thresholds": {"approve_at": 0.9, "reject_below": 0.3},
            "audit_rate": 0.2,
            "mode": "live",
            "two_person": false,
            "sla": sla((300, 1800), (900, 3600), (1800, 7200)),
            "validators": {
                "required_fields": ["text"],
                "min_citations": 1,
                "blocked_terms": ["guarantee", "guaranteed", "refund guaranteed", "legal advice"]
            },
            "review_signals": ["legal", "safety", "churn_risk"],
            "customer_rules": {
                "review_tiers": ["strategic"],
                "max_deal_value": 200_000,
                "renewal_within_days": 30
            },
            "routing": {
                "default_lane": "P2",
                "default_role": "quality",
                "rules": [
                    {"name": "churn risk first", "when": {"signal": "churn_risk"},
                     "then": {"lane": "P0", "role": "quality"}},
                    {"name": "legal to SME", "when": {"signal": "legal"},
                     "then": {"lane": "P0", "role": "sme"}},
                    {"name": "renewal within 30 days", "when": {"renewal_within_days": 30},
                     "then": {"lane": "P1"}},
                    {"name": "unhappy account", "when": {"health_below": 0.4},
                     "then": {"lane": "P1"}},
                    {"name": "callers expect a quick answer", "when": {"channel_in": ["phone"]},
                     "then": {"lane": "P1"}}
                ]
            },
            "lease_seconds": 600
        }),
        json!({
            "name": REFUND,
            "kind": "action",
            "risk": "irreversible",
            "description": "Refunds and credits. Money cannot be taken back: two people approve every one.",
            "thresholds": {"approve_at": 0.95, "reject_below": 0.4},
            "audit_rate": 0.05,
            "mode": "live",
            "two_person": true,
            "sla": sla((300, 1800), (900, 3600), (1800, 7200)),
            "validators": {
                "required_fields": ["amount", "currency", "invoice"],
                "max_amount": {"field": "/amount", "limit": 500}
            },
            "review_signals": ["legal", "safety", "churn_risk"],
            "routing": {
                "default_lane": "P1",
                "default_role": "triage",
                "rules": [
                    {"name": "refund above 200 to SME",
                     "when": {"payload_above": {"field": "/amount", "value": 200}},
                     "then": {"role": "sme"}},
                    {"name": "legal to SME", "when": {"signal": "legal"},
                     "then": {"lane": "P0", "role": "sme"}},
                    {"name": "churn risk first", "when": {"signal": "churn_risk"},
                     "then": {"lane": "P0"}},
                    {"name": "strategic account refund",
                     "when": {"all": [
                         {"tier_in": ["strategic"]},
                         {"payload_above": {"field": "/amount", "value": 100}}
                     ]},
                     "then": {"lane": "P0"}}
                ]
            },
            "lease_seconds": 600
        }),
    ]
}

/// SLA targets in seconds per lane, `(first_review, resolve)`, halved for strategic accounts and
/// renewals within 30 days.
fn sla(p0: (u32, u32), p1: (u32, u32), p2: (u32, u32)) -> Value {
    json!({
        "P0": {"first_review": p0.0, "resolve": p0.1},
        "P1": {"first_review": p1.0, "resolve": p1.1},
        "P2": {"first_review": p2.0, "resolve": p2.1},
        "tightening": {"factor": 0.5, "renewal_within_days": 30, "tiers": ["strategic"]}
    })
}

/// An endless, seeded stream of demo submissions.
///
/// Each call to [`TicketStream::next`] returns one body for `POST /v1/items` in the
/// `Submission` format. Customers come from a fixed set of fictional companies with stable ids,
/// so the same accounts reappear and reviewers see their history; `input.ticket_id` is unique
/// within a stream and can serve as the `Idempotency-Key`.
#[derive(Debug, Clone)]
pub struct TicketStream {
    rng: SplitMix64,
    first_ticket: u64,
    issued: u64,
}

impl TicketStream {
    /// A stream that yields the same submissions, in the same order, for the same `seed` and
    /// the same sequence of dates. The first ticket number (40000 to 89999) is drawn from the
    /// seed, so streams with different seeds rarely share ticket ids.
    pub fn new(seed: u64) -> Self {
        let mut rng = SplitMix64(seed);
        let first_ticket = rng.between(40_000, 89_999);
        Self {
            rng,
            first_ticket,
            issued: 0,
        }
    }

    /// The next submission. `today` anchors every date in it: renewal dates (some within 30
    /// days, so renewal rules fire), invoice years and the dates the ticket mentions. Never
    /// panics; dates that would leave chrono's range stay at `today`.
    pub fn next(&mut self, today: NaiveDate) -> Value {
        let number = self.first_ticket + self.issued;
        self.issued += 1;
        let rng = &mut self.rng;

        let roll = rng.unit();
        let work = if roll < 0.50 {
            Work::Classify
        } else if roll < 0.85 {
            Work::Reply
        } else {
            Work::Refund
        };
        let scenario = if work == Work::Refund {
            let refundable: Vec<&Scenario> =
                SCENARIOS.iter().filter(|s| s.refund.is_some()).collect();
            *rng.pick(&refundable)
        } else {
            rng.pick(SCENARIOS)
        };
        let index = pick_company(rng, scenario.tiers);
        let company = &COMPANIES[index];
        let contact = Contact::of(index, scenario.persona);
        let ticket = Ticket::draw(rng, today, number, index, &contact, scenario);

        let (subject, text, channel) = ticket.customer_message(rng, scenario);
        let priority = if scenario.urgent {
            "urgent"
        } else if rng.chance(0.2) {
            "high"
        } else {
            "normal"
        };

        let mut signals: Vec<&str> = scenario
            .signals
            .iter()
            .filter(|(_, p)| rng.chance(*p))
            .map(|(s, _)| *s)
            .collect();
        if company.health < 0.45 && !signals.contains(&"churn_risk") && rng.chance(0.35) {
            signals.push("churn_risk");
        }

        let proposal = match work {
            Work::Classify => classify_proposal(rng, scenario, &ticket.slots),
            Work::Reply => reply_proposal(rng, scenario, &ticket.slots, company),
            Work::Refund => refund_proposal(rng, scenario, &ticket, company),
        };

        let mut body = json!({
            "policy": work.policy(),
            "input": {
                "text": text,
                "channel": channel,
                "subject": subject,
                "ticket_id": format!("TCK-{number}"),
                "priority": priority,
                "product_area": product_area(scenario.intent),
                "language": "en",
                "requester": {
                    "name": contact.full_name(),
                    "email": contact.email(company),
                    "title": contact.title
                }
            },
            "customer": customer_context(index, today),
            "proposal": proposal,
        });
        if !signals.is_empty() {
            body["signals"] = json!(signals);
        }
        body
    }
}

/// Which policy an item goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Work {
    Classify,
    Reply,
    Refund,
}

impl Work {
    fn policy(self) -> &'static str {
        match self {
            Work::Classify => CLASSIFY,
            Work::Reply => REPLY,
            Work::Refund => REFUND,
        }
    }
}

/// SplitMix64 (Steele, Lea and Flood, 2014). The `loopgate` binary does not depend on `rand`,
/// and demo content needs nothing but uniform draws; this generator also keeps a seed's stream
/// identical across dependency upgrades, which `rand`'s `StdRng` does not promise.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `lo..=hi` (the modulo bias is far below anything a demo could show).
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.between(0, items.len() as u64 - 1) as usize]
    }

    fn pick_str(&mut self, items: &[&'static str]) -> &'static str {
        items[self.between(0, items.len() as u64 - 1) as usize]
    }
}

/// A stable generator for facts that belong to one company or person, independent of the seed.
fn stable_rng(salt: u64, index: usize) -> SplitMix64 {
    let mut rng = SplitMix64(salt ^ (index as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
    rng.next_u64();
    rng
}

/// A confident proposal's raw confidence: in `[0.5, 0.99]`, skewed high (about 45% at or above
/// 0.9).
fn confident(rng: &mut SplitMix64) -> f64 {
    round3(0.5 + 0.49 * rng.unit().cbrt())
}

/// A doubtful proposal's raw confidence: mostly Beta(2, 3) scaled into `[0.03, 0.75]` (about
/// half below 0.3), and one time in ten overconfident in `[0.86, 0.97]`, the escapes audits
/// exist to catch.
fn doubtful(rng: &mut SplitMix64) -> f64 {
    if rng.chance(0.1) {
        return round3(0.86 + 0.11 * rng.unit());
    }
    // The 2nd smallest of 4 uniforms is Beta(2, 3).
    let mut u = [rng.unit(), rng.unit(), rng.unit(), rng.unit()];
    u.sort_by(f64::total_cmp);
    round3(0.03 + 0.72 * u[1])
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `today` moved by `days`, or `today` itself if that would leave chrono's range.
fn shift(today: NaiveDate, days: i64) -> NaiveDate {
    let moved = if days >= 0 {
        today.checked_add_days(Days::new(days.unsigned_abs()))
    } else {
        today.checked_sub_days(Days::new(days.unsigned_abs()))
    };
    moved.unwrap_or(today)
}

/// `1234567` as `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An amount in cents as the customer would write it, e.g. `€1,240.50`.
fn money(cents: u64, currency: &str) -> String {
    let symbol = match currency {
        "USD" => "$",
        "GBP" => "£",
        _ => "€",
    };
    format!("{symbol}{}.{:02}", grouped(cents / 100), cents % 100)
}

/// Named values for `{slot}` placeholders in the templates.
#[derive(Debug, Default, Clone)]
struct Slots(Vec<(&'static str, String)>);

impl Slots {
    fn set(&mut self, key: &'static str, value: impl Into<String>) {
        self.0.push((key, value.into()));
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Replaces every `{name}` with its value; unknown names stay as written (the tests make
    /// sure no template uses one).
    fn fill(&self, template: &str) -> String {
        let mut out = String::with_capacity(template.len() + 64);
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match after
                .find('}')
                .and_then(|close| Some((close, self.get(&after[..close])?)))
            {
                Some((close, value)) => {
                    out.push_str(value);
                    rest = &after[close + 1..];
                }
                None => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// One ticket's drawn details: the slot values and the money it is about.
#[derive(Debug)]
struct Ticket {
    slots: Slots,
    /// The amount the ticket is about, in cents of `currency`.
    cents: u64,
    currency: &'static str,
    invoice: String,
}

impl Ticket {
    fn draw(
        rng: &mut SplitMix64,
        today: NaiveDate,
        number: u64,
        index: usize,
        contact: &Contact,
        scenario: &Scenario,
    ) -> Self {
        let company = &COMPANIES[index];
        let tier = company.tier;
        let country = company.country();
        let mut facts = stable_rng(0x7A11_D00D, index);
        let mut s = Slots::default();

        s.set("company", company.name);
        s.set("first", contact.first);
        s.set("contact", contact.full_name());
        s.set("role", contact.title);
        s.set("domain", company.domain);
        s.set("csm", company.csm);
        s.set("plan", tier.plan());
        s.set("lower_plan", tier.lower_plan());
        s.set("higher_plan", tier.higher_plan());
        s.set("upgrade_feature", tier.upgrade_feature());
        s.set("seats", grouped(u64::from(company.seats)));
        s.set("region", country.region);
        s.set("other_region", country.other_region);
        s.set("tax_label", country.tax_label);
        s.set(
            "vat",
            format!(
                "{}{}",
                country.tax_prefix,
                facts.between(100_000_000, 999_999_999)
            ),
        );
        s.set("limit", grouped(tier.rate_limit()));
        s.set("wrong_limit", grouped(tier.wrong_rate_limit()));
        s.set("rpm", grouped(tier.rate_limit() * rng.between(15, 40) / 10));
        s.set("export_time", tier.export_time());

        let renewal = shift(today, company.renews_in_days);
        s.set("renewal", renewal.format("%-d %B %Y").to_string());
        let months_left = (company.renews_in_days / 30).max(1);
        s.set("months", months_left.to_string());
        let last_month = today
            .with_day(1)
            .map_or(today, |first| shift(first, -1))
            .format("%B");
        s.set("month", last_month.to_string());
        s.set(
            "date",
            shift(today, -(rng.between(1, 20) as i64))
                .format("%-d %B")
                .to_string(),
        );
        s.set(
            "weekday",
            shift(today, -(rng.between(1, 5) as i64))
                .format("%A")
                .to_string(),
        );
        s.set(
            "due",
            shift(today, rng.between(7, 20) as i64)
                .format("%-d %B")
                .to_string(),
        );
        s.set(
            "time",
            format!(
                "{:02}:{:02} {}",
                rng.between(7, 17),
                rng.between(0, 11) * 5,
                country.timezone
            ),
        );

        let seats = u64::from(company.seats);
        s.set(
            "users_affected",
            grouped(seats * rng.between(30, 100) / 100).to_string(),
        );
        s.set("synced", grouped(seats * rng.between(25, 80) / 100));
        s.set("active", grouped(seats * rng.between(35, 70) / 100));
        s.set(
            "new_users",
            rng.between(3, (seats / 5).clamp(4, 60)).to_string(),
        );
        s.set("dupes", grouped(rng.between(3, 90) * 100));
        s.set("hours", rng.between(2, 12).to_string());
        s.set("pct", rng.between(12, 35).to_string());
        s.set("questions", rng.between(80, 260).to_string());
        s.set(
            "ticket_ref",
            format!("TCK-{}", number.saturating_sub(rng.between(300, 6000))),
        );
        s.set("po", format!("PO-{}", facts.between(4_500_000, 4_599_999)));
        s.set("idp", rng.pick_str(IDPS));
        s.set("sso_error", rng.pick_str(SSO_ERRORS));
        s.set("scim_error", rng.pick_str(SCIM_ERRORS));
        s.set("group", rng.pick_str(GROUPS));
        s.set("integration", rng.pick_str(INTEGRATIONS));
        s.set("int_error", rng.pick_str(INTEGRATION_ERRORS));
        s.set("http_error", rng.pick_str(HTTP_ERRORS));
        s.set("channel_name", rng.pick_str(SLACK_CHANNELS));
        s.set("duration", rng.pick_str(DURATIONS));
        s.set("report", rng.pick_str(REPORTS));
        s.set("rows", rng.pick_str(ROW_COUNTS));
        s.set("warehouse", rng.pick_str(WAREHOUSES));
        s.set("feature", rng.pick_str(FEATURES));
        s.set("competitor", rng.pick_str(COMPETITORS));

        let invoice = format!("INV-{}-{:05}", today.year(), rng.between(1, 99_999));
        s.set("invoice", invoice.clone());

        // The amount: usually 20-400, sometimes above the refund limit, more often for larger
        // accounts. When the ticket is about seats billed in excess, it is what those seats
        // cost, so that the story adds up.
        let big = rng.chance(tier.big_amount_chance());
        let mut cents = if big {
            rng.between(510, 2400) * 100
        } else {
            rng.between(20, 400) * 100 + *rng.pick(&[0, 0, 0, 50, 90, 99])
        };
        let mut seats_billed = seats + 1;
        if scenario.text.contains("{seats_billed}") {
            let unit = tier.seat_price();
            let extra = ((cents / 100 + unit / 2) / unit).clamp(1, (seats / 3).max(2));
            cents = extra * unit * 100;
            seats_billed = seats + extra;
        }
        s.set("seats_billed", grouped(seats_billed));
        s.set("money", money(cents, country.currency));

        Ticket {
            slots: s,
            cents,
            currency: country.currency,
            invoice,
        }
    }

    /// Subject, text and channel as the customer sent them.
    fn customer_message(
        &self,
        rng: &mut SplitMix64,
        scenario: &Scenario,
    ) -> (String, String, &'static str) {
        let s = &self.slots;
        let subject = s.fill(scenario.subject);
        let mut body = s.fill(scenario.text);
        if rng.chance(0.3) {
            body.push(' ');
            body.push_str(&s.fill(rng.pick_str(FOLLOW_UPS)));
        }
        let weights: &[(&str, u64)] = if scenario.urgent {
            &[("email", 30), ("portal", 15), ("chat", 30), ("phone", 25)]
        } else {
            &[("email", 40), ("portal", 25), ("chat", 22), ("phone", 13)]
        };
        let channel = weighted(rng, weights);
        let text = match channel {
            "chat" => {
                if rng.chance(0.5) {
                    format!("hi, {}", casual(&body))
                } else {
                    body
                }
            }
            "phone" => s.fill(&format!(
                "Voicemail from {{contact}} ({{role}}, {{company}}), transcribed: \"{body}\""
            )),
            _ => {
                let greeting = rng.pick(GREETINGS);
                let sign_off = s.fill(rng.pick_str(SIGN_OFFS));
                if greeting.is_empty() {
                    format!("{body}\n\n{sign_off}")
                } else {
                    format!("{greeting}\n\n{body}\n\n{sign_off}")
                }
            }
        };
        (subject, text, channel)
    }
}

/// Lower-cases the first letter unless the first word is an acronym or "I".
fn casual(text: &str) -> String {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(a), Some(b)) if a.is_uppercase() && b.is_lowercase() => {
            let mut out = a.to_lowercase().collect::<String>();
            out.push_str(&text[a.len_utf8()..]);
            out
        }
        _ => text.to_owned(),
    }
}

fn weighted(rng: &mut SplitMix64, options: &[(&'static str, u64)]) -> &'static str {
    let total: u64 = options.iter().map(|(_, w)| w).sum();
    let mut roll = rng.between(0, total - 1);
    for (name, weight) in options {
        if roll < *weight {
            return name;
        }
        roll -= weight;
    }
    options[options.len() - 1].0
}

/// A company that the scenario fits, weighted so larger accounts raise more tickets.
fn pick_company(rng: &mut SplitMix64, tiers: &[Tier]) -> usize {
    let fits = |c: &Company| tiers.is_empty() || tiers.contains(&c.tier);
    let total: u64 = COMPANIES
        .iter()
        .filter(|c| fits(c))
        .map(|c| c.tier.weight())
        .sum();
    let mut roll = rng.between(0, total - 1);
    for (i, company) in COMPANIES.iter().enumerate().filter(|(_, c)| fits(c)) {
        let w = company.tier.weight();
        if roll < w {
            return i;
        }
        roll -= w;
    }
    unreachable!("the roll is below the total weight of the fitting companies")
}

fn classify_proposal(rng: &mut SplitMix64, scenario: &Scenario, s: &Slots) -> Value {
    let alternatives = confusable(scenario.intent);
    let correct = rng.chance(0.82);
    let (label, runner_up, confidence) = if correct {
        (scenario.intent, *rng.pick(alternatives), confident(rng))
    } else {
        (*rng.pick(alternatives), scenario.intent, doubtful(rng))
    };
    let citations = if rng.chance(0.4) {
        vec![citation(scenario.kb[0], s)]
    } else {
        Vec::new()
    };
    json!({
        "kind": "label",
        "payload": {"label": label},
        "confidence": confidence,
        "model": "intent-router",
        "model_version": if rng.chance(0.8) { "14.2" } else { "15.0-rc1" },
        "rationale": format!(
            "Subject \"{}\": {}. Best match {label}; runner-up {runner_up}.",
            s.fill(scenario.subject),
            scenario.cue
        ),
        "citations": citations,
    })
}

fn reply_proposal(
    rng: &mut SplitMix64,
    scenario: &Scenario,
    s: &Slots,
    company: &Company,
) -> Value {
    let roll = rng.unit();
    let (template, confidence, cited, flaw) = if roll < 0.68 {
        (scenario.reply.to_owned(), confident(rng), true, None)
    } else if roll < 0.82 {
        // Slightly wrong: one fact swapped for a plausible but wrong one.
        let (right, wrong) = scenario.slip;
        (
            scenario.reply.replacen(right, wrong, 1),
            doubtful(rng),
            true,
            None,
        )
    } else if roll < 0.92 {
        let area = product_area(scenario.intent);
        let fitting: Vec<&str> = RISKY_SENTENCES
            .iter()
            .filter(|(_, areas)| areas.is_empty() || areas.contains(&area))
            .map(|(sentence, _)| *sentence)
            .collect();
        let risky = rng.pick_str(&fitting);
        (
            format!("{} {risky}", scenario.reply),
            confident(rng),
            true,
            Some(risky),
        )
    } else {
        (scenario.reply.to_owned(), confident(rng), false, None)
    };
    let greeting = s.fill(rng.pick_str(REPLY_GREETINGS));
    let closing = rng.pick(REPLY_CLOSINGS);
    let text = format!("{greeting}\n\n{}\n\n{closing}", s.fill(&template));

    let citations: Vec<Value> = if cited {
        scenario.kb.iter().map(|key| citation(key, s)).collect()
    } else {
        Vec::new()
    };
    let source = kb(scenario.kb[0]).title;
    let mut rationale = format!(
        "Answer based on \"{source}\". Requester is {} at {} ({} tier, {} plan).",
        s.fill("{role}"),
        company.name,
        company.tier.as_str(),
        company.tier.plan()
    );
    if flaw.is_some() {
        rationale.push_str(" Added a reassurance sentence to soften the tone.");
    }
    if !cited {
        rationale.push_str(" Knowledge base search timed out; answered from memory.");
    }
    json!({
        "kind": "reply",
        "payload": {"text": text},
        "confidence": confidence,
        "model": "support-drafter",
        "model_version": "7.3",
        "rationale": rationale,
        "citations": citations,
    })
}

fn refund_proposal(
    rng: &mut SplitMix64,
    scenario: &Scenario,
    ticket: &Ticket,
    company: &Company,
) -> Value {
    let s = &ticket.slots;
    let reason = s.fill(
        scenario
            .refund
            .unwrap_or("refund requested by the customer"),
    );
    let roll = rng.unit();
    let (cents, invoice, confidence, note) = if roll < 0.8 {
        (
            ticket.cents,
            Value::from(ticket.invoice.clone()),
            confident(rng),
            "Amount matches the disputed amount in the ticket.",
        )
    } else if roll < 0.92 {
        (
            ticket.cents * rng.between(2, 4) + rng.between(0, 99),
            Value::from(ticket.invoice.clone()),
            doubtful(rng),
            "Refunding the full invoice total rather than only the disputed amount.",
        )
    } else {
        (
            ticket.cents,
            Value::Null,
            confident(rng),
            "Could not match the payment to an invoice in the billing system.",
        )
    };
    let amount = cents as f64 / 100.0;
    json!({
        "kind": "action",
        "payload": {
            "amount": amount,
            "currency": ticket.currency,
            "invoice": invoice,
            "reason": reason,
            "method": "original_payment_method"
        },
        "confidence": confidence,
        "model": "billing-actions",
        "model_version": "3.1.0",
        "rationale": format!(
            "{} asks for {}: {reason}. {note}",
            company.name,
            money(cents, ticket.currency)
        ),
        "citations": [
            citation("billing-refunds", s),
            {
                "source": format!("billing://invoices/{}", ticket.invoice),
                "title": format!("Invoice {}", ticket.invoice),
                "quote": format!("Billed to {}, {} plan, {} seats.", company.name, company.tier.plan(), grouped(u64::from(company.seats)))
            }
        ],
    })
}

fn citation(key: &str, s: &Slots) -> Value {
    let article = kb(key);
    json!({
        "source": article.source,
        "title": article.title,
        "quote": s.fill(article.quote),
    })
}

fn kb(key: &str) -> &'static Article {
    KNOWLEDGE_BASE
        .iter()
        .find(|a| a.key == key)
        .unwrap_or(&KNOWLEDGE_BASE[0])
}

/// The customer object: stable facts, with the renewal date relative to `today` so a demo
/// always has renewals coming up.
fn customer_context(index: usize, today: NaiveDate) -> Value {
    let company = &COMPANIES[index];
    let country = company.country();
    json!({
        "id": company.id,
        "name": company.name,
        "tier": company.tier.as_str(),
        "health_score": company.health,
        "deal_value": company.deal_value,
        "renewal_date": shift(today, company.renews_in_days).format("%Y-%m-%d").to_string(),
        "plan": company.tier.plan(),
        "seats": company.seats,
        "csm": company.csm,
        "industry": company.industry,
        "region": country.region,
        "currency": country.currency,
        "history": history(index),
    })
}

/// A few short lines of account history, the same every time for the same company.
fn history(index: usize) -> Vec<String> {
    let company = &COMPANIES[index];
    let mut rng = stable_rng(0x4157_0127, index);
    let csat = (2.6 + 2.4 * company.health * (0.85 + 0.15 * rng.unit())).min(4.9);
    let trend = if company.health >= 0.7 {
        "growing"
    } else if company.health >= 0.45 {
        "flat"
    } else {
        "declining"
    };
    vec![
        company.note.to_owned(),
        format!(
            "CSAT {csat:.1}/5 over the last {} tickets",
            rng.between(6, 40)
        ),
        format!(
            "Last business review {} weeks ago; usage {trend}",
            rng.between(2, 14)
        ),
        match rng.between(0, 3) {
            0 => "No other open tickets".to_owned(),
            1 => "1 other open ticket".to_owned(),
            n => format!("{n} other open tickets"),
        },
    ]
}

fn product_area(intent: &str) -> &'static str {
    match intent {
        "billing_dispute"
        | "invoice_copy"
        | "plan_change"
        | "contract_renewal"
        | "cancellation_request" => "billing",
        "sso_login_failure" | "account_access" | "user_provisioning" => "identity",
        "security_incident" | "security_questionnaire" | "data_deletion_request" => {
            "security_privacy"
        }
        "api_rate_limit" | "integration_error" => "api_integrations",
        "data_export_request" => "data",
        "outage_report" | "performance_issue" => "platform",
        _ => "product",
    }
}

/// Labels a classifier plausibly mixes up with `intent`.
fn confusable(intent: &str) -> &'static [&'static str] {
    match intent {
        "billing_dispute" => &["invoice_copy", "plan_change"],
        "invoice_copy" => &["billing_dispute"],
        "sso_login_failure" => &["account_access", "user_provisioning"],
        "account_access" => &["sso_login_failure", "security_incident"],
        "security_incident" => &["account_access", "security_questionnaire"],
        "user_provisioning" => &["sso_login_failure", "plan_change"],
        "api_rate_limit" => &["integration_error", "performance_issue"],
        "integration_error" => &["api_rate_limit", "feature_request"],
        "data_export_request" => &["data_deletion_request", "performance_issue"],
        "data_deletion_request" => &["data_export_request", "cancellation_request"],
        "outage_report" => &["performance_issue", "api_rate_limit"],
        "performance_issue" => &["outage_report"],
        "feature_request" => &["integration_error", "plan_change"],
        "contract_renewal" => &["cancellation_request", "plan_change"],
        "security_questionnaire" => &["data_deletion_request", "security_incident"],
        "cancellation_request" => &["contract_renewal", "plan_change"],
        _ => &["contract_renewal", "billing_dispute"],
    }
}

/// Commercial tier of a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tier {
    Strategic,
    Enterprise,
    Growth,
    Starter,
}

impl Tier {
    fn as_str(self) -> &'static str {
        match self {
            Tier::Strategic => "strategic",
            Tier::Enterprise => "enterprise",
            Tier::Growth => "growth",
            Tier::Starter => "starter",
        }
    }
    fn plan(self) -> &'static str {
        match self {
            Tier::Strategic => "Enterprise Plus",
            Tier::Enterprise => "Enterprise",
            Tier::Growth => "Business",
            Tier::Starter => "Team",
        }
    }
    fn lower_plan(self) -> &'static str {
        match self {
            Tier::Strategic => "Enterprise",
            Tier::Enterprise => "Business",
            Tier::Growth | Tier::Starter => "Team",
        }
    }
    fn higher_plan(self) -> &'static str {
        match self {
            Tier::Starter => "Business",
            Tier::Growth => "Enterprise",
            Tier::Enterprise | Tier::Strategic => "Enterprise Plus",
        }
    }
    fn upgrade_feature(self) -> &'static str {
        match self {
            Tier::Starter => "SAML single sign-on and SCIM provisioning",
            Tier::Growth => "custom roles and audit log export",
            Tier::Enterprise | Tier::Strategic => "a dedicated data region and 24/7 phone support",
        }
    }
    /// Monthly list price per seat, in currency units.
    fn seat_price(self) -> u64 {
        match self {
            Tier::Strategic => 69,
            Tier::Enterprise => 49,
            Tier::Growth => 29,
            Tier::Starter => 12,
        }
    }
    /// API requests per minute per workspace.
    fn rate_limit(self) -> u64 {
        match self {
            Tier::Strategic => 3000,
            Tier::Enterprise => 1200,
            Tier::Growth => 300,
            Tier::Starter => 60,
        }
    }
    /// Another plan's limit, for drafts that quote the wrong one.
    fn wrong_rate_limit(self) -> u64 {
        match self {
            Tier::Strategic => 1200,
            Tier::Enterprise => 3000,
            Tier::Growth => 1200,
            Tier::Starter => 300,
        }
    }
    fn export_time(self) -> &'static str {
        match self {
            Tier::Strategic => "four to six hours",
            Tier::Enterprise => "two to four hours",
            Tier::Growth => "one to two hours",
            Tier::Starter => "under an hour",
        }
    }
    /// Relative ticket volume.
    fn weight(self) -> u64 {
        match self {
            Tier::Strategic => 6,
            Tier::Enterprise => 5,
            Tier::Growth => 4,
            Tier::Starter => 3,
        }
    }
    /// Chance that a disputed amount is above the refund limit of 500.
    fn big_amount_chance(self) -> f64 {
        match self {
            Tier::Strategic => 0.25,
            Tier::Enterprise => 0.2,
            Tier::Growth => 0.1,
            Tier::Starter => 0.03,
        }
    }
}

const ANY: &[Tier] = &[];
const GROWTH_UP: &[Tier] = &[Tier::Growth, Tier::Enterprise, Tier::Strategic];
const MID_MARKET: &[Tier] = &[Tier::Growth, Tier::Enterprise];
const SMALL: &[Tier] = &[Tier::Starter, Tier::Growth];
const BELOW_STRATEGIC: &[Tier] = &[Tier::Starter, Tier::Growth, Tier::Enterprise];

/// Facts that follow from a customer's country.
#[derive(Debug)]
struct Country {
    currency: &'static str,
    region: &'static str,
    other_region: &'static str,
    timezone: &'static str,
    tax_label: &'static str,
    tax_prefix: &'static str,
}

/// A fictional customer company.
#[derive(Debug)]
struct Company {
    id: &'static str,
    name: &'static str,
    tier: Tier,
    /// ISO 3166 alpha-2.
    country: &'static str,
    industry: &'static str,
    domain: &'static str,
    health: f64,
    deal_value: u32,
    seats: u32,
    /// Renewal date relative to the demo's today.
    renews_in_days: i64,
    csm: &'static str,
    note: &'static str,
}

impl Company {
    fn country(&self) -> Country {
        match self.country {
            "US" => Country {
                currency: "USD",
                region: "US East (Virginia)",
                other_region: "EU (Frankfurt)",
                timezone: "ET",
                tax_label: "tax ID",
                tax_prefix: "EIN ",
            },
            "GB" => Country {
                currency: "GBP",
                region: "UK (London)",
                other_region: "US East (Virginia)",
                timezone: "UK time",
                tax_label: "VAT number",
                tax_prefix: "GB",
            },
            code => Country {
                currency: "EUR",
                region: "EU (Frankfurt)",
                other_region: "US East (Virginia)",
                timezone: "CET",
                tax_label: "VAT number",
                tax_prefix: code,
            },
        }
    }
}

/// What kind of person at the customer writes a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Persona {
    Finance,
    ItAdmin,
    Engineer,
    Operations,
    Executive,
    Legal,
    Security,
}

impl Persona {
    fn titles(self) -> &'static [&'static str] {
        match self {
            Persona::Finance => &[
                "Finance Manager",
                "Accounts Payable Lead",
                "Financial Controller",
            ],
            Persona::ItAdmin => &[
                "IT Administrator",
                "Identity and Access Lead",
                "Systems Administrator",
            ],
            Persona::Engineer => &["Engineering Lead", "Integration Developer", "Data Engineer"],
            Persona::Operations => &[
                "Support Operations Manager",
                "Head of Operations",
                "RevOps Lead",
            ],
            Persona::Executive => &["COO", "VP Customer Experience", "Managing Director"],
            Persona::Legal => &["General Counsel", "Legal Counsel", "Contracts Manager"],
            Persona::Security => &["CISO", "Security Analyst", "GRC Manager"],
        }
    }
}

/// The person who wrote a ticket: the same person for the same company and persona.
#[derive(Debug)]
struct Contact {
    first: &'static str,
    last: &'static str,
    title: &'static str,
}

impl Contact {
    fn of(index: usize, persona: Persona) -> Self {
        let mut rng = stable_rng(0xC0_47AC_7000 + persona as u64, index);
        Self {
            first: rng.pick_str(FIRST_NAMES),
            last: rng.pick_str(LAST_NAMES),
            title: *rng.pick(persona.titles()),
        }
    }
    fn full_name(&self) -> String {
        format!("{} {}", self.first, self.last)
    }
    fn email(&self, company: &Company) -> String {
        format!(
            "{}.{}@{}",
            self.first.to_lowercase(),
            self.last.to_lowercase(),
            company.domain
        )
    }
}

/// A knowledge-base article that drafts cite.
#[derive(Debug)]
struct Article {
    key: &'static str,
    source: &'static str,
    title: &'static str,
    quote: &'static str,
}

/// A kind of ticket: what the customer writes, what it is, and what a good answer says.
#[derive(Debug)]
struct Scenario {
    /// The true intent label.
    intent: &'static str,
    persona: Persona,
    /// Tiers whose customers raise this; empty for any.
    tiers: &'static [Tier],
    urgent: bool,
    subject: &'static str,
    text: &'static str,
    /// What a classifier noticed, for its rationale.
    cue: &'static str,
    /// A good draft reply, without greeting and closing.
    reply: &'static str,
    /// A fact in `reply` and a plausible wrong version of it.
    slip: (&'static str, &'static str),
    /// Knowledge-base keys the reply relies on; the first is the main one.
    kb: &'static [&'static str],
    /// Signals the agent raises, each with its probability.
    signals: &'static [(&'static str, f64)],
    /// For tickets that can end in a refund: the reason recorded on the action.
    refund: Option<&'static str>,
}

static SCENARIOS: &[Scenario] = &[
    // Billing disputes.
    Scenario {
        intent: "billing_dispute",
        persona: Persona::Finance,
        tiers: ANY,
        urgent: false,
        subject: "Charged twice for {month}",
        text: "We were charged twice for our {month} subscription: once through invoice {invoice} and again as a card payment of {money} on {date}. Our finance team needs the duplicate reversed before month-end close. Can you confirm which of the two payments you will refund?",
        cue: "two payments for one invoice, asks for a reversal",
        reply: "I can see two payments of {money} against invoice {invoice}; the card payment on {date} is a duplicate and we have started the reversal. Card reversals usually show on your statement within 5-10 business days, and a credit note for your records will arrive by email today.",
        slip: ("within 5-10 business days", "within 24 hours"),
        kb: &["billing-duplicate", "billing-refunds"],
        signals: &[],
        refund: Some("duplicate card payment for {invoice}"),
    },
    Scenario {
        intent: "billing_dispute",
        persona: Persona::Finance,
        tiers: ANY,
        urgent: false,
        subject: "Invoice {invoice} bills {seats_billed} seats, we have {seats}",
        text: "Invoice {invoice} charges us for {seats_billed} seats, but our admin console shows {seats} active users and we removed the others before the {month} cut-off. The difference comes to {money}. Please correct the invoice or issue a credit.",
        cue: "seat count on the invoice does not match active users",
        reply: "Thanks for the detail. Seats removed before the invoice cut-off should not have been billed, so we are issuing a credit of {money} against invoice {invoice}. The credit note will be under Settings → Billing → Invoices within two business days, and your next invoice will show {seats} seats.",
        slip: (
            "Seats removed before the invoice cut-off should not have been billed",
            "Seats removed during a billing period stay billable until renewal",
        ),
        kb: &["billing-seats"],
        signals: &[],
        refund: Some("{seats_billed} seats billed, {seats} in use"),
    },
    Scenario {
        intent: "billing_dispute",
        persona: Persona::Finance,
        tiers: ANY,
        urgent: false,
        subject: "Unexpected API overage on {invoice}",
        text: "Our latest invoice {invoice} includes an API overage fee of {money}. Nobody told us we were close to the limit and we never received a usage alert. We'd like this waived; it's not something we budgeted for.",
        cue: "disputes an overage fee on an invoice",
        reply: "I understand the surprise. Usage alerts go to billing contacts at 80% and 100% of your included API volume, and yours went to an address that no longer exists at {company}. As a one-time courtesy we are waiving the {money} overage on {invoice}, and I've added you as a billing contact so future alerts reach you.",
        slip: ("at 80% and 100%", "at 50% and 75%"),
        kb: &["billing-overage"],
        signals: &[],
        refund: Some("one-time waiver of the API overage on {invoice}"),
    },
    Scenario {
        intent: "billing_dispute",
        persona: Persona::Finance,
        tiers: MID_MARKET,
        urgent: false,
        subject: "Still billed for {plan} after downgrade",
        text: "We downgraded from {plan} to {lower_plan} on {date}, but invoice {invoice} still charges the old price. That's {money} more than it should be. Please fix it and confirm what our monthly amount will be from now on.",
        cue: "invoice ignores a plan downgrade",
        reply: "Thanks for catching this. Your downgrade to {lower_plan} was recorded on {date}, but the invoice was generated from the previous plan. We are refunding the {money} difference on {invoice}, and your next invoice will show the {lower_plan} price.",
        slip: (
            "refunding the {money} difference",
            "refunding the full invoice",
        ),
        kb: &["billing-plan-change", "billing-refunds"],
        signals: &[],
        refund: Some("downgrade to {lower_plan} not applied on {invoice}"),
    },
    Scenario {
        intent: "billing_dispute",
        persona: Persona::Finance,
        tiers: ANY,
        urgent: false,
        subject: "Unrecognised card charge",
        text: "There is a charge of {money} on our corporate card from you on {date} that nobody here recognises. Our account is {company}. Can you tell me what it is for before we raise it with the bank?",
        cue: "asks about an unrecognised charge before disputing it with the bank",
        reply: "That charge is the {month} payment for your {plan} subscription, invoice {invoice}, which you can download under Settings → Billing → Invoices. If you would rather pay by bank transfer than by card, reply here and I'll switch it from the next cycle.",
        slip: (
            "Settings → Billing → Invoices",
            "Settings → Profile → Payments",
        ),
        kb: &["billing-invoices"],
        signals: &[],
        refund: None,
    },
    // Invoice copies.
    Scenario {
        intent: "invoice_copy",
        persona: Persona::Finance,
        tiers: ANY,
        urgent: false,
        subject: "Corrected copy of {invoice}",
        text: "Could you resend invoice {invoice}? Our accounts payable system rejected the PDF because the {tax_label} was missing, so we need a corrected copy showing {tax_label} {vat}.",
        cue: "needs a corrected invoice copy with a tax number",
        reply: "I've reissued invoice {invoice} with {tax_label} {vat} and sent it to the billing contacts on file. To have it printed on every future invoice, add it once under Settings → Billing → Company details.",
        slip: (
            "Settings → Billing → Company details",
            "Settings → Users → Profile",
        ),
        kb: &["billing-invoices"],
        signals: &[],
        refund: None,
    },
    Scenario {
        intent: "invoice_copy",
        persona: Persona::Finance,
        tiers: ANY,
        urgent: false,
        subject: "All invoices for last quarter",
        text: "Our auditors need every invoice from last quarter for {company}, ideally as PDFs in one email, together with the payment receipts. Can you send them over?",
        cue: "asks for copies of past invoices and receipts",
        reply: "I've attached last quarter's invoices and payment receipts as PDFs. You can also download any invoice or receipt yourself under Settings → Billing → Invoices; workspace admins and billing contacts have access.",
        slip: (
            "workspace admins and billing contacts have access",
            "only the account owner has access",
        ),
        kb: &["billing-invoices"],
        signals: &[],
        refund: None,
    },
    Scenario {
        intent: "invoice_copy",
        persona: Persona::Finance,
        tiers: ANY,
        urgent: false,
        subject: "PO number missing on invoices",
        text: "From next month every invoice must show our purchase order number {po}, otherwise our finance team can't pay it. Can you add it and reissue {invoice} with the PO on it?",
        cue: "asks for a purchase order number on invoices",
        reply: "I've added {po} to your billing profile, so it will be printed on every invoice from the next cycle, and I've reissued {invoice} with the PO number. The updated PDF is under Settings → Billing → Invoices.",
        slip: ("from the next cycle", "from next year"),
        kb: &["billing-invoices"],
        signals: &[],
        refund: None,
    },
    // Single sign-on.
    Scenario {
        intent: "sso_login_failure",
        persona: Persona::ItAdmin,
        tiers: GROWTH_UP,
        urgent: true,
        subject: "SSO broken after certificate rotation",
        text: "Since we rotated our {idp} signing certificate this morning, nobody can log in through SSO. Users see '{sso_error}' right after the redirect, and about {users_affected} people are locked out. Please help urgently.",
        cue: "SSO login fails after an IdP certificate rotation",
        reply: "This error appears when the certificate in your SSO settings no longer matches the one {idp} now signs with. Please upload the new certificate, or paste the new metadata URL, under Admin → Security → SSO and try again. Admins with break-glass access can still sign in with password and 2FA in the meantime.",
        slip: ("Admin → Security → SSO", "Admin → Users → Roles"),
        kb: &["sso-saml", "sso-enforce"],
        signals: &[],
        refund: None,
    },
    Scenario {
        intent: "sso_login_failure",
        persona: Persona::ItAdmin,
        tiers: GROWTH_UP,
        urgent: false,
        subject: "Login loop with {idp}",
        text: "Some of our users on {idp} end up in a redirect loop between your login page and the identity provider. It happens in Chrome and Edge but not in Firefox, and we haven't changed anything on our side.",
        cue: "SSO redirect loop in some browsers",
        reply: "A loop like this usually means the browser drops our session cookie after the SAML response. Please check whether a recent browser policy blocks third-party cookies for our domain, and ask an affected user to try a private window. If it continues, a HAR file from one failed login will let us inspect the SAML assertion.",
        slip: ("blocks third-party cookies", "blocks JavaScript"),
        kb: &["sso-troubleshoot"],
        signals: &[],
        refund: None,
    },
    Scenario {
        intent: "sso_login_failure",
        persona: Persona::ItAdmin,
        tiers: GROWTH_UP,
        urgent: false,
        subject: "New hires can't sign in",
        text: "New hires we added to the {group} group in {idp} today get '{sso_error}' when they try to log in, while existing users are fine. We need them working before their onboarding on {due}.",
        cue: "new users in an IdP group cannot log in via SSO",
        reply: "Being in the {group} group is only enough if that group is assigned to our application in {idp}. Please assign the group to the app, and the new hires will be able to sign in straight away; existing users are unaffected.",
        slip: ("assigned to our application", "synced to our directory"),
        kb: &["sso-troubleshoot"],
        signals: &[],
        refund: None,
    },
    Scenario {
        intent: "sso_login_failure",
        persona: Persona::ItAdmin,
        tiers: GROWTH_UP,
        urgent: true,
        subject: "Locked out after enforcing SSO",
        text: "We switched on 'Enforce SSO' and now our only workspace admin can't log in, because her account uses a different email domain from our {idp} tenant. How do we get back in?",
        cue: "admin locked out after enforcing SSO",
        reply: "For security we restore access only after verifying the request: please ask another person named on your contract to confirm by replying from their company email. We will then switch off SSO enforcement temporarily so your admin can sign in and correct the email domain. You can re-enable enforcement under Admin → Security → SSO afterwards.",
        slip: ("only after verifying the request", "as soon as you ask"),
        kb: &["sso-enforce"],
        signals: &[("safety", 0.3)],
        refund: None,
    },
    // Account access.
    Scenario {
        intent: "account_access",
        persona: Persona::Operations,
        tiers: ANY,
        urgent: false,
        subject: "Lost my 2FA device",
        text: "I lost my phone and can't get past two-factor authentication. I'm the billing owner for {company} and need to pay an invoice today. Can you reset my 2FA?",
        cue: "locked out by two-factor authentication",
        reply: "For your account's protection, support can't reset 2FA from a ticket alone. Any workspace admin at {company} can reset it under Admin → Users; if there is no other admin, reply with a request signed from your company domain and we'll start identity verification.",
        slip: (
            "support can't reset 2FA from a ticket alone",
            "I've reset your 2FA",
        ),
        kb: &["account-2fa"],
        signals: &[],
        refund: None,
    },
    Scenario {
        intent: "account_access",
        persona: Persona::ItAdmin,
        tiers: ANY,
        urgent: false,
        subject: "Password reset emails not arriving",
        text: "Several of our users say the password reset email never arrives. We checked spam folders. Our email domain is {domain}.",
        cue: "password reset emails are not received",
        reply: "Our logs show the reset emails to {domain} were accepted by your mail server, so they are most likely held in quarantine. Please ask your IT team to allowlist our sending domain, listed in the email deliverability article, and release the quarantined messages. After that, users can request a fresh reset link.",
        slip: (
            "most likely held in quarantine",
            "being blocked by our system",
        ),
        kb: &["account-email"],
        signals: &[],
        refund: None,
    },
    // Security incidents.
    Scenario {
        intent: "security_incident",
        persona: Persona::Security,
        tiers: ANY,
        urgent: true,
        subject: "Former employee still has access",
        text: "An employee who left on {date} still shows as active in our workspace and appears to have logged in yesterday. We need to know what they accessed and revoke everything now.",
        cue: "departed employee still active, possible unauthorised access",
        reply: "I've treated this as urgent. Deactivating the user under Admin → Users ends all of their sessions and revokes their API tokens immediately. Our security team is pulling the access log for this account since {date}, and you'll have it within one business day; login events are already visible under Admin → Audit log.",
        slip: (
            "ends all of their sessions",
            "keeps their sessions but blocks new logins",
        ),
        kb: &["security-incident"],
        signals: &[("safety", 0.9), ("legal", 0.2)],
        refund: None,
    },
    Scenario {
        intent: "security_incident",
        persona: Persona::Engineer,
        tiers: ANY,
        urgent: true,
        subject: "API key pushed to a public repository",
        text: "One of our developers accidentally pushed an API key to a public GitHub repository {duration} ago. We've already deleted the commit. Do we need to do anything else, and can you tell us whether the key was used?",
        cue: "API key exposed publicly",
        reply: "Thank you for reporting this quickly. Please revoke the key now under Admin → API keys and create a new one: deleting the commit is not enough, because the key may already have been copied. We are checking every request made with that key since it was pushed and will send you the list of source IP addresses today.",
        slip: (
            "deleting the commit is not enough",
            "deleting the commit is enough",
        ),
        kb: &["security-incident"],
        signals: &[("safety", 0.9)],
        refund: None,
    },
    // User provisioning.
    Scenario {
        intent: "user_provisioning",
        persona: Persona::ItAdmin,
        tiers: GROWTH_UP,
        urgent: false,
        subject: "SCIM provisioning incomplete",
        text: "We set up SCIM provisioning from {idp} last week, but only {synced} of our {seats} users have been created. The provisioning log in {idp} shows '{scim_error}' for the rest.",
        cue: "SCIM provisioning fails for part of the users",
        reply: "This error usually means those users have no email attribute or share an email address with an existing account. Please check that userName maps to the work email in your {idp} attribute mapping, then retry provisioning for the failed users. If some still fail, send us two example user IDs and we'll check our side.",
        slip: (
            "userName maps to the work email",
            "userName maps to the employee number",
        ),
        kb: &["scim"],
        signals: &[],
        refund: None,
    },
    Scenario {
        intent: "user_provisioning",
        persona: Persona::Operations,
        tiers: ANY,
        urgent: false,
        subject: "Need {new_users} more seats",
        text: "We're onboarding a new team next week and need {new_users} additional seats. Can you add them to our subscription, and how is the cost prorated?",
        cue: "wants to add seats for new users",
        reply: "Workspace admins can add seats themselves under Admin → Billing → Seats. New seats are prorated to the end of your current billing period and appear on your next invoice. If you prefer, confirm here and I'll add the {new_users} seats for you today.",
        slip: (
            "prorated to the end of your current billing period",
            "charged for a full year",
        ),
        kb: &["seats"],
        signals: &[],
        refund: None,
    },
    Scenario {
        intent: "user_provisioning",
        persona: Persona::ItAdmin,
        tiers: ANY,
        urgent: false,
        subject: "Bulk deactivate users",
        text: "We need to deactivate about {new_users} users who moved to another business unit, without deleting their content. Is there a bulk option? Doing it one by one in the admin console would take all day.",
        cue: "bulk deactivation of users",
        reply: "Yes: under Admin → Users you can upload a CSV of email addresses and choose 'Deactivate'. Deactivated users can't sign in and no longer take up a seat, but their content stays and can be reassigned later.",
        slip: ("their content stays", "their content is deleted"),
        kb: &["users-bulk"],
        signals: &[],
        refund: None,
    },
    // API rate limits.
    Scenario {
        intent: "api_rate_limit",
        persona: Persona::Engineer,
        tiers: ANY,
        urgent: false,
        subject: "429 Too Many Requests on nightly sync",
        text: "Our nightly sync started failing with '429 Too Many Requests' on {date}. We send roughly {rpm} requests per minute in bursts. What is our actual limit on the {plan} plan, and can it be raised?",
        cue: "HTTP 429 responses during a sync",
        reply: "The {plan} plan allows {limit} requests per minute per workspace, and bursts above that get a 429 with a Retry-After header. Honouring Retry-After with exponential backoff usually fixes nightly syncs. If you need a higher sustained limit, your account manager, {csm}, can add a rate-limit extension to your plan.",
        slip: (
            "{limit} requests per minute",
            "{wrong_limit} requests per minute",
        ),
        kb: &["api-limits"],
        signals: &[],
        refund: None,
    },
    Scenario {
        intent: "api_rate_limit",
        persona: Persona::Engineer,
        tiers: ANY,
        urgent: false,
        subject: "Rate limit headers missing on /v2/records",
        text: "The docs say every response includes X-RateLimit-Remaining, but we don't get it from the /v2/records bulk endpoint. Without it our client can't throttle, and we keep hitting the limit.",
        cue: "rate-limit headers missing, client keeps hitting the limit",
        reply: "Thanks for spotting this: the bulk /v2/records endpoint currently returns only Retry-After when you reach the limit, while the X-RateLimit headers are on the other v2 endpoints. I've reported the gap in the documentation. Throttling on Retry-After will keep your client within the limit in the meantime.",
        slip: ("returns only Retry-After", "returns no headers at all"),
        kb: &["api-limits"],
        signals: &[],
        refund: None,
    },
    Scenario {
        intent: "api_rate_limit",
        persona: Persona::Engineer,
        tiers: GROWTH_UP,
        urgent: false,
        subject: "Webhook deliveries delayed at peak",
        text: "During our peak hours, webhook deliveries run {duration} behind. Is there a rate limit on outgoing webhooks that could explain it?",
        cue: "outgoing webhooks throttled at peak volume",
        reply: "Outgoing webhooks are delivered at up to 50 events per second per workspace; events above that are queued, never dropped. At your peak you exceed that rate, which explains the delay. Enabling the digest option in the webhook settings batches events and clears the backlog faster.",
        slip: ("up to 50 events per second", "up to 500 events per second"),
        kb: &["webhooks"],
        signals: &[],
        refund: None,
    },
    // Integrations.
    Scenario {
        intent: "integration_error",
        persona: Persona::Operations,
        tiers: ANY,
        urgent: false,
        subject: "{integration} sync stopped",
        text: "Our {integration} integration stopped syncing on {date}. The integrations page shows '{int_error}', and the last successful sync was at {time}. As far as we know nothing changed on our side.",
        cue: "integration sync failing with an auth error",
        reply: "This error means the {integration} connection's access token has expired or been revoked, which often happens when the person who connected it changes their password or leaves. Please reconnect under Integrations → {integration} with an account that has admin rights there. The sync then catches up on changes since {date} automatically.",
        slip: (
            "catches up on changes since {date} automatically",
            "only picks up changes made from now on",
        ),
        kb: &["integrations"],
        signals: &[],
        refund: None,
    },
    Scenario {
        intent: "integration_error",
        persona: Persona::Operations,
        tiers: ANY,
        urgent: true,
        subject: "{integration} integration creating duplicates",
        text: "Since yesterday the {integration} integration creates a duplicate of every record it updates; we now have about {dupes} duplicates. Can you stop it and help us clean up?",
        cue: "integration creates duplicate records",
        reply: "I'm sorry for the extra work. The duplicates come from a change in record matching: the integration now matches on external ID, and records created before {date} don't have one. I've paused the sync for your workspace; once you run 'Backfill external IDs' on the integration page, we'll merge the duplicates for you in one go.",
        slip: ("I've paused the sync", "I've deleted the duplicates"),
        kb: &["integrations"],
        signals: &[],
        refund: None,
    },
    Scenario {
        intent: "integration_error",
        persona: Persona::Engineer,
        tiers: GROWTH_UP,
        urgent: false,
        subject: "Webhook signatures don't verify",
        text: "Our endpoint rejects your webhooks because the signature doesn't verify. We take the signing secret from the settings page and compute HMAC-SHA256 over the body. Did something change?",
        cue: "webhook signature verification fails",
        reply: "The signature is computed over the webhook id, the timestamp and the raw body joined by periods, not over the body alone. Please verify against the raw request bytes before any JSON parsing, using the id and timestamp headers. The webhooks article has a verification example.",
        slip: ("joined by periods", "encoded as one JSON object"),
        kb: &["webhooks"],
        signals: &[],
        refund: None,
    },
    Scenario {
        intent: "integration_error",
        persona: Persona::Operations,
        tiers: ANY,
        urgent: false,
        subject: "Slack notifications stopped",
        text: "Approval notifications to our Slack channel #{channel_name} stopped on {date}. Other Slack apps still post there without problems.",
        cue: "Slack notifications no longer posted",
        reply: "When a Slack channel is renamed or made private, our app loses permission to post there. Please invite the app to #{channel_name} again with /invite, or choose the channel again under Integrations → Slack. Notifications missed in the meantime are not re-sent, but they are all in the in-app inbox.",
        slip: ("are not re-sent", "will be re-sent automatically"),
        kb: &["slack"],
        signals: &[],
        refund: None,
    },
    // Data exports.
    Scenario {
        intent: "data_export_request",
        persona: Persona::Operations,
        tiers: ANY,
        urgent: false,
        subject: "Full data export for compliance review",
        text: "We need a full export of all our workspace data, including attachments and the audit log, for an internal compliance review. What's the fastest way to get it, and in what format?",
        cue: "asks for a full export of workspace data",
        reply: "Workspace admins can start a full export under Admin → Data → Export. It contains records, comments, attachments and the audit log as JSON and CSV files in one zip archive. A workspace of your size usually takes {export_time}, and you'll get an email with a download link valid for 7 days.",
        slip: ("valid for 7 days", "valid for 30 days"),
        kb: &["export"],
        signals: &[],
        refund: None,
    },
    Scenario {
        intent: "data_export_request",
        persona: Persona::Operations,
        tiers: ANY,
        urgent: false,
        subject: "CSV export of '{report}' times out",
        text: "Every time we export the '{report}' report to CSV, the page times out after a few minutes. The report has about {rows} rows.",
        cue: "report export to CSV times out",
        reply: "Downloads in the browser are limited to 100,000 rows, and larger exports run in the background. Please use 'Export → Email me the file' on the report; the CSV arrives by email when it's ready, usually within 30 minutes.",
        slip: ("limited to 100,000 rows", "limited to 1 million rows"),
        kb: &["export"],
        signals: &[],
        refund: None,
    },
    Scenario {
        intent: "data_export_request",
        persona: Persona::Engineer,
        tiers: GROWTH_UP,
        urgent: false,
        subject: "Bulk export of historical data to {warehouse}",
        text: "We're moving our reporting into {warehouse} and need two years of historical records. Is there a bulk export endpoint, or do we have to page through the normal API?",
        cue: "bulk historical export for a data warehouse",
        reply: "For history at that scale, the bulk export API is the better fit: it writes newline-delimited JSON files you can load into {warehouse} directly, and it doesn't count against your rate limit. Once the backfill is done, the {warehouse} connector can schedule daily incremental loads.",
        slip: (
            "doesn't count against your rate limit",
            "counts double against your rate limit",
        ),
        kb: &["bulk-export", "api-limits"],
        signals: &[],
        refund: None,
    },
    // Data deletion.
    Scenario {
        intent: "data_deletion_request",
        persona: Persona::Legal,
        tiers: ANY,
        urgent: false,
        subject: "GDPR erasure request for an end user",
        text: "We've received an erasure request under Article 17 GDPR from one of our end users. We need all of their personal data removed from your systems, including backups, within the statutory deadline. Please confirm the process.",
        cue: "GDPR erasure request",
        reply: "An admin can erase a person's data under Admin → Data → Privacy requests. Erasure from live systems is immediate, and backups roll off within 35 days, as set out in the data subject requests section of our DPA. You'll receive a confirmation email that you can keep as a record for the requester.",
        slip: (
            "backups roll off within 35 days",
            "backups are erased immediately",
        ),
        kb: &["privacy"],
        signals: &[("legal", 0.85)],
        refund: None,
    },
    Scenario {
        intent: "data_deletion_request",
        persona: Persona::Legal,
        tiers: ANY,
        urgent: false,
        subject: "Deletion certificate after contract end",
        text: "Our contract ended on {date}. Under section 12 of our agreement we require deletion of all {company} data and a written certificate of deletion. Please confirm when this will be done.",
        cue: "requests data deletion and a certificate after termination",
        reply: "We will delete all {company} data within 30 days of the contract end, as set out in our DPA, and send a certificate of deletion signed by our security team once it is done. If you need an export before deletion, please let us know this week.",
        slip: (
            "within 30 days of the contract end",
            "within 12 months of the contract end",
        ),
        kb: &["privacy"],
        signals: &[("legal", 0.9)],
        refund: None,
    },
    // Outages and performance.
    Scenario {
        intent: "outage_report",
        persona: Persona::Operations,
        tiers: ANY,
        urgent: true,
        subject: "Dashboard not loading",
        text: "Nobody on our team can load the dashboard: we get '{http_error}' since about {time}. Is there an outage? We're hosted in {region}.",
        cue: "service unavailable for the whole team",
        reply: "Yes, we had an incident affecting dashboards in {region} from around {time}. The fix has been deployed and pages should load again; updates are on our status page. We're sorry for the disruption, and a full incident report will be published within 5 business days.",
        slip: ("within 5 business days", "within the hour"),
        kb: &["status"],
        signals: &[("churn_risk", 0.15)],
        refund: None,
    },
    Scenario {
        intent: "outage_report",
        persona: Persona::Finance,
        tiers: GROWTH_UP,
        urgent: false,
        subject: "Service credit for the outage on {date}",
        text: "The outage on {date} took our workspace offline for {duration}, which breaches the 99.9% uptime commitment in our contract. Please apply the service credit to invoice {invoice}; by our calculation it is {money}.",
        cue: "claims an SLA service credit after an outage",
        reply: "I've confirmed that the incident on {date} affected your workspace for {duration}. Service credits are calculated on the monthly fee for the affected month, and we have applied a credit of {money} to invoice {invoice}. I'm sorry for the disruption this caused your team.",
        slip: (
            "on the monthly fee for the affected month",
            "on your annual contract value",
        ),
        kb: &["sla", "billing-refunds"],
        signals: &[("churn_risk", 0.3), ("legal", 0.1)],
        refund: Some("SLA service credit for the outage on {date}"),
    },
    Scenario {
        intent: "outage_report",
        persona: Persona::Engineer,
        tiers: ANY,
        urgent: true,
        subject: "URGENT: API returning 503",
        text: "All our API calls have been failing with 503 Service Unavailable since {time}. This is blocking our order processing and every minute counts. Please escalate.",
        cue: "API failing for all calls",
        reply: "We're aware of elevated 503 errors on the API in {region}, and our engineers are working on it now. Requests are safe to retry with backoff and no data has been lost. I'll update you here as soon as it's resolved; live updates are on our status page.",
        slip: ("no data has been lost", "some requests were lost"),
        kb: &["status"],
        signals: &[("churn_risk", 0.2)],
        refund: None,
    },
    Scenario {
        intent: "performance_issue",
        persona: Persona::Operations,
        tiers: ANY,
        urgent: false,
        subject: "'{report}' report very slow",
        text: "Since the last release the '{report}' report takes over a minute to load; it used to take a few seconds. It's the same for all our users in {region}.",
        cue: "a report became slow after a release",
        reply: "The last release changed how large reports are computed, and reports with many custom fields can be slow until their cache is rebuilt overnight. If it's still slow tomorrow, please send us the report link and we'll profile it.",
        slip: ("rebuilt overnight", "rebuilt once a week"),
        kb: &["performance"],
        signals: &[],
        refund: None,
    },
    Scenario {
        intent: "performance_issue",
        persona: Persona::Operations,
        tiers: ANY,
        urgent: false,
        subject: "Search missing recent records",
        text: "Records created in the last {hours} hours don't show up in search, although we can open them from a link. This started on {weekday}.",
        cue: "search results missing recent records",
        reply: "Search indexing for your workspace fell behind; new records are normally searchable within a minute. We've restarted the indexer for your workspace, and the backlog should clear within the next hour.",
        slip: ("searchable within a minute", "searchable within a day"),
        kb: &["performance"],
        signals: &[],
        refund: None,
    },
    // Feature requests.
    Scenario {
        intent: "feature_request",
        persona: Persona::Operations,
        tiers: ANY,
        urgent: false,
        subject: "Feature request: {feature}",
        text: "Our team would really benefit from {feature}. Today we work around it with spreadsheets, which is slow and error-prone. Is this on the roadmap?",
        cue: "asks for a new capability",
        reply: "Thanks for the suggestion; I've added {company}'s vote and your use case to the request for {feature}. I can't share delivery dates in support tickets, but the product team reviews requests by customer impact every quarter, and your account manager, {csm}, will let you know when it moves.",
        slip: (
            "I can't share delivery dates in support tickets",
            "It will ship next month",
        ),
        kb: &["roadmap"],
        signals: &[],
        refund: None,
    },
    Scenario {
        intent: "feature_request",
        persona: Persona::Security,
        tiers: SMALL,
        urgent: false,
        subject: "Custom roles?",
        text: "We need a role that can approve records but not change workspace settings. The built-in roles are too coarse for our audit requirements. Are custom roles planned?",
        cue: "asks for custom roles",
        reply: "Custom roles are available on the Enterprise and Enterprise Plus plans, where you decide exactly which permissions a role has, including approving without changing settings. On {plan} you can get close by combining the Reviewer role with a restricted workspace. Your account manager, {csm}, can walk you through both options.",
        slip: (
            "available on the Enterprise and Enterprise Plus plans",
            "available on every plan",
        ),
        kb: &["roles"],
        signals: &[],
        refund: None,
    },
    Scenario {
        intent: "feature_request",
        persona: Persona::Engineer,
        tiers: ANY,
        urgent: false,
        subject: "API for adding comments",
        text: "Is there an API to add comments to records? We want our {integration} automation to post updates directly instead of someone copying them over by hand.",
        cue: "asks whether an API capability exists",
        reply: "Yes: POST /v2/records/:id/comments adds a comment as the API key's user, with Markdown formatting. Comments posted this way carry a small 'via API' badge. The API reference includes an example you can adapt for your {integration} automation.",
        slip: ("as the API key's user", "anonymously"),
        kb: &["api-comments"],
        signals: &[],
        refund: None,
    },
    // Renewals.
    Scenario {
        intent: "contract_renewal",
        persona: Persona::Finance,
        tiers: GROWTH_UP,
        urgent: false,
        subject: "Renewal quote for {renewal}",
        text: "Our contract renews on {renewal}. Before we can sign we need an updated quote for {seats} seats on {plan}, and we'd like to discuss multi-year pricing.",
        cue: "asks for a renewal quote",
        reply: "Thanks for reaching out ahead of the renewal. I've asked {csm}, who manages your account, to prepare an updated quote for {seats} seats on {plan}, including multi-year options, and you'll have it within two business days.",
        slip: ("within two business days", "by the end of today"),
        kb: &["renewal"],
        signals: &[],
        refund: None,
    },
    Scenario {
        intent: "contract_renewal",
        persona: Persona::Executive,
        tiers: GROWTH_UP,
        urgent: false,
        subject: "Renewal price increase",
        text: "The renewal quote we received is {pct}% higher than last year for the same number of seats. We can't approve that. Unless it is revisited we will have to evaluate alternatives, including {competitor}.",
        cue: "objects to a renewal price increase, mentions a competitor",
        reply: "I understand, and I've passed your feedback to {csm}, who owns your renewal. The increase reflects our new list prices, but there are options such as a multi-year term or a different seat count. {csm} will contact you today to set up a call well before your renewal on {renewal}.",
        slip: (
            "there are options such as",
            "we cannot offer options such as",
        ),
        kb: &["renewal"],
        signals: &[("churn_risk", 0.9)],
        refund: None,
    },
    Scenario {
        intent: "contract_renewal",
        persona: Persona::Legal,
        tiers: ANY,
        urgent: false,
        subject: "Auto-renewal and notice period",
        text: "Does our contract renew automatically? Our legal team wants to know the notice period before {renewal} in case we decide to change the scope.",
        cue: "asks about auto-renewal terms",
        reply: "Yes, your subscription renews automatically on {renewal} unless either side gives written notice at least 30 days before that date. Your order form is under Admin → Billing → Contracts, and your account manager, {csm}, can go through the terms with your legal team.",
        slip: ("at least 30 days before", "at least 7 days before"),
        kb: &["renewal"],
        signals: &[("legal", 0.4)],
        refund: None,
    },
    // Security reviews.
    Scenario {
        intent: "security_questionnaire",
        persona: Persona::Security,
        tiers: GROWTH_UP,
        urgent: false,
        subject: "Vendor security questionnaire",
        text: "Our security team requires every vendor to complete our questionnaire ({questions} questions) before renewal. Can you return it by {due}? The spreadsheet is attached.",
        cue: "vendor security questionnaire to complete",
        reply: "Happy to help. Most answers are covered by our SOC 2 Type II report and security whitepaper, which you can download from the Trust Center after accepting the NDA there. Our security team will complete the remaining questions and return the spreadsheet by {due}.",
        slip: ("SOC 2 Type II report", "ISO 9001 certificate"),
        kb: &["trust"],
        signals: &[],
        refund: None,
    },
    Scenario {
        intent: "security_questionnaire",
        persona: Persona::Security,
        tiers: ANY,
        urgent: false,
        subject: "Where is our data hosted?",
        text: "Before we roll out to our subsidiaries we need to confirm where our data is stored and processed, and which sub-processors you use.",
        cue: "data residency and sub-processor questions",
        reply: "Your workspace data is stored in {region}, and it is processed there too. The current list of sub-processors, with their locations, is in our Trust Center, where you can also subscribe to notifications of changes.",
        slip: ("stored in {region}", "stored in {other_region}"),
        kb: &["hosting", "trust"],
        signals: &[],
        refund: None,
    },
    Scenario {
        intent: "security_questionnaire",
        persona: Persona::Security,
        tiers: GROWTH_UP,
        urgent: false,
        subject: "Penetration test report",
        text: "Can you share your latest penetration test report and confirm whether data is encrypted at rest? We need both for our annual vendor review.",
        cue: "asks for pen test results and encryption details",
        reply: "All customer data is encrypted at rest with AES-256 and in transit with TLS 1.2 or higher. The executive summary of our latest third-party penetration test is in the Trust Center under NDA, and our security team can go through the full report with you on a call.",
        slip: ("AES-256", "AES-128"),
        kb: &["trust"],
        signals: &[],
        refund: None,
    },
    // Cancellations.
    Scenario {
        intent: "cancellation_request",
        persona: Persona::Executive,
        tiers: ANY,
        urgent: false,
        subject: "Not renewing after {renewal}",
        text: "We've decided not to continue after our current term ends on {renewal}. Please confirm the cancellation and tell us how to export our data before access ends.",
        cue: "gives notice of non-renewal",
        reply: "I'm sorry to see you go. I've recorded your notice not to renew after {renewal}, and your workspace stays fully available until then. You can export all data under Admin → Data → Export at any time before that date.",
        slip: (
            "stays fully available until then",
            "will be closed at the end of this week",
        ),
        kb: &["cancel", "export"],
        signals: &[("churn_risk", 0.95)],
        refund: None,
    },
    Scenario {
        intent: "cancellation_request",
        persona: Persona::Executive,
        tiers: ANY,
        urgent: false,
        subject: "Moving to {competitor}",
        text: "After the outages this quarter, our management has decided to move to {competitor}. We want to cancel the remaining {months} months of our contract and get a refund for the unused period.",
        cue: "wants to cancel early and move to a competitor",
        reply: "I'm sorry the outages have hit your team this hard. Your contract runs until {renewal}, and the standard terms don't provide for early termination, but I've asked your account manager, {csm}, to contact you today to discuss options, including service credits for the incidents.",
        slip: (
            "the standard terms don't provide for early termination",
            "you can terminate early at no cost",
        ),
        kb: &["cancel"],
        signals: &[("churn_risk", 0.95), ("legal", 0.2)],
        refund: None,
    },
    // Plan changes.
    Scenario {
        intent: "plan_change",
        persona: Persona::Finance,
        tiers: GROWTH_UP,
        urgent: false,
        subject: "Reduce seats instead of cancelling?",
        text: "We're considering cancelling because only {active} of our {seats} seats are in use. Can we reduce the number of seats mid-term instead?",
        cue: "wants fewer seats, hints at cancelling",
        reply: "Thanks for asking before deciding. On an annual contract, seats can be reduced at your renewal on {renewal} rather than mid-term, but {csm} can look at moving unused seats to another team or adjusting your plan. I've asked them to reach out this week.",
        slip: (
            "seats can be reduced at your renewal on {renewal} rather than mid-term",
            "seats can be reduced at any time",
        ),
        kb: &["billing-seats"],
        signals: &[("churn_risk", 0.6)],
        refund: None,
    },
    Scenario {
        intent: "plan_change",
        persona: Persona::Operations,
        tiers: BELOW_STRATEGIC,
        urgent: false,
        subject: "Upgrade to {higher_plan}",
        text: "We'd like to upgrade from {plan} to {higher_plan} to get {upgrade_feature}. How does billing work if we switch in the middle of the cycle?",
        cue: "asks to upgrade the plan",
        reply: "You can upgrade at any time under Admin → Billing → Plan. The change takes effect immediately, and you pay the prorated difference for the rest of the current period; {upgrade_feature} becomes available as soon as the upgrade completes.",
        slip: (
            "takes effect immediately",
            "takes effect at your next renewal",
        ),
        kb: &["billing-plan-change"],
        signals: &[],
        refund: None,
    },
    Scenario {
        intent: "plan_change",
        persona: Persona::Finance,
        tiers: SMALL,
        urgent: false,
        subject: "Switch to annual billing",
        text: "We're on monthly billing and want to switch to annual to get the discount. Can we do that now, and what happens to the current month?",
        cue: "switch from monthly to annual billing",
        reply: "Yes: switching to annual billing starts a new 12-month term today, and the unused part of your current month is credited against the first annual invoice. The annual price already includes the discount shown on the Plan page; confirm here and I'll make the change.",
        slip: (
            "is credited against the first annual invoice",
            "is forfeited",
        ),
        kb: &["annual"],
        signals: &[],
        refund: None,
    },
];

static KNOWLEDGE_BASE: &[Article] = &[
    Article {
        key: "billing-refunds",
        source: "kb://billing/refunds-and-credits",
        title: "Refunds and credits",
        quote: "Refunds go back to the original payment method. Refunds above 500 in any currency need approval from Finance.",
    },
    Article {
        key: "billing-duplicate",
        source: "kb://billing/duplicate-payments",
        title: "Duplicate payments and reversals",
        quote: "Duplicate card payments are reversed to the original card; banks usually show the reversal within 5-10 business days.",
    },
    Article {
        key: "billing-seats",
        source: "kb://billing/seat-changes",
        title: "How seat changes are billed",
        quote: "Seats removed before the invoice cut-off are not billed for the next period. On annual contracts, the seat count can be lowered at renewal.",
    },
    Article {
        key: "billing-overage",
        source: "kb://billing/api-overage",
        title: "API overage charges",
        quote: "Usage alerts are sent to all billing contacts at 80% and 100% of the included API volume.",
    },
    Article {
        key: "billing-plan-change",
        source: "kb://billing/plan-changes",
        title: "Upgrades, downgrades and proration",
        quote: "Upgrades take effect immediately and are prorated; downgrades apply from the date they are confirmed.",
    },
    Article {
        key: "billing-invoices",
        source: "kb://billing/invoices",
        title: "Finding and correcting invoices",
        quote: "Invoices and receipts are under Settings → Billing → Invoices. Tax IDs and PO numbers in the billing profile appear on every future invoice.",
    },
    Article {
        key: "seats",
        source: "kb://billing/adding-seats",
        title: "Adding seats",
        quote: "Seats added mid-term are prorated to the end of the current billing period.",
    },
    Article {
        key: "annual",
        source: "kb://billing/annual-billing",
        title: "Switching to annual billing",
        quote: "Switching to annual billing starts a new 12-month term; the unused part of the current month is credited.",
    },
    Article {
        key: "sso-saml",
        source: "kb://identity/saml-setup",
        title: "Setting up SAML single sign-on",
        quote: "After rotating your identity provider's signing certificate, upload the new certificate or metadata under Admin → Security → SSO.",
    },
    Article {
        key: "sso-enforce",
        source: "kb://identity/sso-enforcement",
        title: "Enforcing SSO and break-glass access",
        quote: "Workspace admins can keep password and 2FA login as break-glass access while SSO is enforced.",
    },
    Article {
        key: "sso-troubleshoot",
        source: "kb://identity/sso-troubleshooting",
        title: "Troubleshooting SSO errors",
        quote: "Users must be assigned to the application in the identity provider, directly or through a group, before they can sign in.",
    },
    Article {
        key: "account-2fa",
        source: "kb://identity/two-factor-resets",
        title: "Two-factor authentication resets",
        quote: "A workspace admin can reset 2FA under Admin → Users; support resets it only after identity verification.",
    },
    Article {
        key: "account-email",
        source: "kb://identity/email-deliverability",
        title: "Email deliverability",
        quote: "If password reset or notification emails don't arrive, allowlist our sending domain and check your mail quarantine.",
    },
    Article {
        key: "scim",
        source: "kb://identity/scim-provisioning",
        title: "SCIM provisioning",
        quote: "userName must map to the user's work email; users with a missing or duplicate email fail to provision.",
    },
    Article {
        key: "users-bulk",
        source: "kb://identity/bulk-user-actions",
        title: "Bulk user actions",
        quote: "Upload a CSV of email addresses under Admin → Users to deactivate users in bulk; their content is kept.",
    },
    Article {
        key: "security-incident",
        source: "kb://security/exposed-credentials",
        title: "If credentials or keys are exposed",
        quote: "Revoke exposed API keys at once. Deactivating a user ends their sessions and revokes their API tokens.",
    },
    Article {
        key: "trust",
        source: "kb://security/trust-center",
        title: "Trust Center",
        quote: "The SOC 2 Type II report, the penetration test summary and the sub-processor list are available under NDA. Data is encrypted at rest with AES-256.",
    },
    Article {
        key: "hosting",
        source: "kb://security/data-residency",
        title: "Data residency",
        quote: "Workspace data is stored and processed in the region chosen at sign-up ({region} for {company}).",
    },
    Article {
        key: "privacy",
        source: "kb://legal/dpa-data-subject-requests",
        title: "DPA: data subject requests and deletion",
        quote: "Erasure from live systems is immediate and backups roll off within 35 days. Customer data is deleted within 30 days of contract end, with a certificate on request.",
    },
    Article {
        key: "sla",
        source: "kb://legal/sla-credits",
        title: "Service level agreement and credits",
        quote: "Service credits are a share of the monthly fee for the affected month, by measured downtime against 99.9% uptime.",
    },
    Article {
        key: "renewal",
        source: "kb://account/renewals",
        title: "Renewals and notice periods",
        quote: "Subscriptions renew automatically unless written notice is given at least 30 days before the renewal date.",
    },
    Article {
        key: "cancel",
        source: "kb://account/cancellation",
        title: "Cancelling or not renewing",
        quote: "Workspaces stay available until the end of the paid term; export your data before access ends.",
    },
    Article {
        key: "api-limits",
        source: "kb://api/rate-limits",
        title: "API rate limits",
        quote: "Requests per minute per workspace: Team 60, Business 300, Enterprise 1,200, Enterprise Plus 3,000. Over the limit the API answers 429 with Retry-After.",
    },
    Article {
        key: "bulk-export",
        source: "kb://api/bulk-export",
        title: "Bulk export API",
        quote: "The bulk export API writes newline-delimited JSON and does not count against the rate limit.",
    },
    Article {
        key: "api-comments",
        source: "kb://api/comments",
        title: "Comments API",
        quote: "POST /v2/records/:id/comments adds a Markdown comment as the key's user, shown with a 'via API' badge.",
    },
    Article {
        key: "webhooks",
        source: "kb://api/webhooks",
        title: "Webhooks: delivery and signatures",
        quote: "Signatures are HMAC-SHA256 over the webhook id, timestamp and raw body joined by periods. Deliveries are capped at 50 events per second per workspace and queued above that.",
    },
    Article {
        key: "integrations",
        source: "kb://integrations/troubleshooting",
        title: "Troubleshooting integrations",
        quote: "A sync stops when the connecting user's token expires or is revoked; reconnect with an admin account and the sync catches up.",
    },
    Article {
        key: "slack",
        source: "kb://integrations/slack",
        title: "Slack notifications",
        quote: "Renaming a channel or making it private removes the app's permission to post; invite the app again.",
    },
    Article {
        key: "export",
        source: "kb://data/exports",
        title: "Exporting your data",
        quote: "Full exports include records, comments, attachments and the audit log; download links are valid for 7 days. Browser downloads are limited to 100,000 rows.",
    },
    Article {
        key: "performance",
        source: "kb://product/report-performance",
        title: "Report and search performance",
        quote: "Report caches are rebuilt overnight after a release; new records are searchable within a minute.",
    },
    Article {
        key: "roadmap",
        source: "kb://product/feature-requests",
        title: "How we handle feature requests",
        quote: "Requests are reviewed quarterly by customer impact; support does not share delivery dates.",
    },
    Article {
        key: "roles",
        source: "kb://admin/roles-and-permissions",
        title: "Roles and permissions",
        quote: "Custom roles are available on the Enterprise and Enterprise Plus plans.",
    },
    Article {
        key: "status",
        source: "kb://status/incident-communication",
        title: "Incident communication",
        quote: "Incident updates are posted on the status page; a full incident report follows within 5 business days.",
    },
];

static COMPANIES: &[Company] = &[
    // Strategic.
    Company {
        id: "cus_halvorsen_maritime",
        name: "Halvorsen Maritime AS",
        tier: Tier::Strategic,
        country: "NO",
        industry: "shipping and logistics",
        domain: "halvorsen-maritime.example",
        health: 0.58,
        deal_value: 840_000,
        seats: 3200,
        renews_in_days: 21,
        csm: "Priya Raman",
        note: "New COO since Q1 is reviewing every vendor contract",
    },
    Company {
        id: "cus_meridian_health",
        name: "Meridian Health Partners",
        tier: Tier::Strategic,
        country: "US",
        industry: "healthcare",
        domain: "meridianhealth.example",
        health: 0.81,
        deal_value: 1_150_000,
        seats: 4800,
        renews_in_days: 140,
        csm: "Daniel Okafor",
        note: "BAA signed; rolling out to two more hospitals this year",
    },
    Company {
        id: "cus_kestrel_aero",
        name: "Kestrel Aerospace Components",
        tier: Tier::Strategic,
        country: "GB",
        industry: "manufacturing",
        domain: "kestrel-aero.example",
        health: 0.34,
        deal_value: 620_000,
        seats: 2100,
        renews_in_days: 9,
        csm: "Hannah Becker",
        note: "Escalated two SSO outages this quarter; CSM flags the renewal at risk",
    },
    Company {
        id: "cus_orbis_bank",
        name: "Orbis Retail Bank",
        tier: Tier::Strategic,
        country: "DE",
        industry: "banking",
        domain: "orbisbank.example",
        health: 0.72,
        deal_value: 980_000,
        seats: 3900,
        renews_in_days: 210,
        csm: "Hannah Becker",
        note: "Regulated: every vendor change goes through their risk committee",
    },
    Company {
        id: "cus_tidewater_energy",
        name: "Tidewater Energy Group",
        tier: Tier::Strategic,
        country: "US",
        industry: "energy",
        domain: "tidewater-energy.example",
        health: 0.66,
        deal_value: 510_000,
        seats: 1800,
        renews_in_days: 64,
        csm: "Daniel Okafor",
        note: "Piloting the warehouse connector with their data team",
    },
    // Enterprise.
    Company {
        id: "cus_brightline_freight",
        name: "Brightline Freight",
        tier: Tier::Enterprise,
        country: "US",
        industry: "logistics",
        domain: "brightlinefreight.example",
        health: 0.77,
        deal_value: 180_000,
        seats: 950,
        renews_in_days: 38,
        csm: "Tomás Ortega",
        note: "Heavy API user: nightly sync of about two million records",
    },
    Company {
        id: "cus_vantara_insurance",
        name: "Vantara Insurance SE",
        tier: Tier::Enterprise,
        country: "AT",
        industry: "insurance",
        domain: "vantara-insurance.example",
        health: 0.52,
        deal_value: 215_000,
        seats: 1100,
        renews_in_days: 300,
        csm: "Lena Nilsson",
        note: "Migrating from an on-premise tool; three of five business units live",
    },
    Company {
        id: "cus_quill_ledger",
        name: "Quill & Ledger Accounting LLP",
        tier: Tier::Enterprise,
        country: "GB",
        industry: "accounting",
        domain: "quill-ledger.example",
        health: 0.88,
        deal_value: 96_000,
        seats: 420,
        renews_in_days: 45,
        csm: "Kwame Mensah",
        note: "Reference customer for accounting firms",
    },
    Company {
        id: "cus_northgate_university",
        name: "Northgate University",
        tier: Tier::Enterprise,
        country: "GB",
        industry: "higher education",
        domain: "northgate-uni.example",
        health: 0.69,
        deal_value: 72_000,
        seats: 1500,
        renews_in_days: 15,
        csm: "Kwame Mensah",
        note: "Academic-year rollover drives large user changes every September",
    },
    Company {
        id: "cus_solenne_cosmetics",
        name: "Solenne Cosmetics",
        tier: Tier::Enterprise,
        country: "FR",
        industry: "consumer goods",
        domain: "solenne.example",
        health: 0.41,
        deal_value: 134_000,
        seats: 640,
        renews_in_days: 180,
        csm: "Lena Nilsson",
        note: "Internal champion left in March; weekly active users down 20%",
    },
    Company {
        id: "cus_atlas_rail",
        name: "Atlas Rail Services GmbH",
        tier: Tier::Enterprise,
        country: "DE",
        industry: "transport",
        domain: "atlasrail.example",
        health: 0.74,
        deal_value: 158_000,
        seats: 780,
        renews_in_days: 95,
        csm: "Hannah Becker",
        note: "Works council must approve any feature that tracks employees",
    },
    Company {
        id: "cus_pinecrest_property",
        name: "Pinecrest Property Management",
        tier: Tier::Enterprise,
        country: "US",
        industry: "real estate",
        domain: "pinecrest-pm.example",
        health: 0.29,
        deal_value: 88_000,
        seats: 390,
        renews_in_days: 5,
        csm: "Tomás Ortega",
        note: "Disputed two invoices last quarter; evaluating alternatives",
    },
    Company {
        id: "cus_copperleaf_foods",
        name: "Copperleaf Foods Inc.",
        tier: Tier::Enterprise,
        country: "US",
        industry: "food production",
        domain: "copperleaf-foods.example",
        health: 0.83,
        deal_value: 121_000,
        seats: 560,
        renews_in_days: 250,
        csm: "Daniel Okafor",
        note: "Expanded to two more plants in January",
    },
    // Growth.
    Company {
        id: "cus_fernhill_dental",
        name: "Fernhill Dental Group",
        tier: Tier::Growth,
        country: "US",
        industry: "healthcare",
        domain: "fernhill-dental.example",
        health: 0.9,
        deal_value: 34_000,
        seats: 140,
        renews_in_days: 120,
        csm: "Tomás Ortega",
        note: "Raises everything through the portal and answers fast",
    },
    Company {
        id: "cus_lumen_labs",
        name: "Lumen Labs GmbH",
        tier: Tier::Growth,
        country: "DE",
        industry: "software",
        domain: "lumenlabs.example",
        health: 0.63,
        deal_value: 28_000,
        seats: 95,
        renews_in_days: 18,
        csm: "Lena Nilsson",
        note: "Asked about a start-up discount at the last renewal",
    },
    Company {
        id: "cus_wayfarer_travel",
        name: "Wayfarer Travel Tech",
        tier: Tier::Growth,
        country: "ES",
        industry: "travel",
        domain: "wayfarer-travel.example",
        health: 0.47,
        deal_value: 41_000,
        seats: 170,
        renews_in_days: 75,
        csm: "Lena Nilsson",
        note: "Seasonal peaks in summer; asks for temporary seats",
    },
    Company {
        id: "cus_ostara_biotech",
        name: "Ostara Biotech B.V.",
        tier: Tier::Growth,
        country: "NL",
        industry: "life sciences",
        domain: "ostara-bio.example",
        health: 0.71,
        deal_value: 52_000,
        seats: 120,
        renews_in_days: 330,
        csm: "Hannah Becker",
        note: "Requested validation documentation for their quality audit",
    },
    Company {
        id: "cus_redwood_finch",
        name: "Redwood & Finch Legal",
        tier: Tier::Growth,
        country: "US",
        industry: "legal services",
        domain: "redwoodfinch.example",
        health: 0.55,
        deal_value: 23_000,
        seats: 60,
        renews_in_days: 24,
        csm: "Tomás Ortega",
        note: "Law firm; strict about data retention clauses",
    },
    Company {
        id: "cus_cobalt_hr",
        name: "Cobalt HR Cloud",
        tier: Tier::Growth,
        country: "GB",
        industry: "HR software",
        domain: "cobalthr.example",
        health: 0.86,
        deal_value: 19_000,
        seats: 80,
        renews_in_days: 160,
        csm: "Kwame Mensah",
        note: "Partner agreement; builds client workflows on our platform",
    },
    Company {
        id: "cus_juniper_schools",
        name: "Juniper Schools Trust",
        tier: Tier::Growth,
        country: "GB",
        industry: "education",
        domain: "juniper-schools.example",
        health: 0.61,
        deal_value: 15_000,
        seats: 190,
        renews_in_days: 60,
        csm: "Kwame Mensah",
        note: "Non-profit pricing; budget approved each July",
    },
    Company {
        id: "cus_harbor_analytics",
        name: "Harbor Analytics Co.",
        tier: Tier::Growth,
        country: "US",
        industry: "market research",
        domain: "harbor-analytics.example",
        health: 0.38,
        deal_value: 46_000,
        seats: 110,
        renews_in_days: 12,
        csm: "Daniel Okafor",
        note: "Complained about two outages this quarter; health dropping",
    },
    Company {
        id: "cus_mistral_media",
        name: "Mistral Media Group",
        tier: Tier::Growth,
        country: "FR",
        industry: "media",
        domain: "mistral-media.example",
        health: 0.79,
        deal_value: 31_000,
        seats: 130,
        renews_in_days: 200,
        csm: "Lena Nilsson",
        note: "Drives content workflows through the API",
    },
    // Starter.
    Company {
        id: "cus_bluebird_bakery",
        name: "Bluebird Bakery Co-op",
        tier: Tier::Starter,
        country: "US",
        industry: "food retail",
        domain: "bluebird-bakery.example",
        health: 0.92,
        deal_value: 2_400,
        seats: 6,
        renews_in_days: 40,
        csm: "Digital Success team",
        note: "Owner handles billing herself; prefers short answers",
    },
    Company {
        id: "cus_tinworks_studio",
        name: "Tinworks Studio",
        tier: Tier::Starter,
        country: "GB",
        industry: "design agency",
        domain: "tinworks.example",
        health: 0.66,
        deal_value: 3_600,
        seats: 9,
        renews_in_days: 7,
        csm: "Digital Success team",
        note: "Pays by card on a monthly plan",
    },
    Company {
        id: "cus_kite_consulting",
        name: "Kite Consulting",
        tier: Tier::Starter,
        country: "DE",
        industry: "consulting",
        domain: "kite-consulting.example",
        health: 0.8,
        deal_value: 1_800,
        seats: 4,
        renews_in_days: 150,
        csm: "Digital Success team",
        note: "Solo consultant plus contractors; seat count changes often",
    },
    Company {
        id: "cus_sprout_trust",
        name: "Sprout Community Trust",
        tier: Tier::Starter,
        country: "GB",
        industry: "charity",
        domain: "sprout-trust.example",
        health: 0.74,
        deal_value: 1_200,
        seats: 12,
        renews_in_days: 90,
        csm: "Digital Success team",
        note: "Charity discount; volunteers come and go",
    },
    Company {
        id: "cus_granite_ops",
        name: "Granite Ops LLC",
        tier: Tier::Starter,
        country: "US",
        industry: "facilities services",
        domain: "granite-ops.example",
        health: 0.44,
        deal_value: 6_000,
        seats: 18,
        renews_in_days: 33,
        csm: "Digital Success team",
        note: "Asked twice about cheaper plans",
    },
    Company {
        id: "cus_pixelforge_games",
        name: "Pixelforge Games AB",
        tier: Tier::Starter,
        country: "SE",
        industry: "games",
        domain: "pixelforge.example",
        health: 0.57,
        deal_value: 4_800,
        seats: 15,
        renews_in_days: 270,
        csm: "Digital Success team",
        note: "Relies heavily on the Jira integration",
    },
    Company {
        id: "cus_alder_clinic",
        name: "Alder Street Clinic",
        tier: Tier::Starter,
        country: "US",
        industry: "healthcare",
        domain: "alderclinic.example",
        health: 0.85,
        deal_value: 3_000,
        seats: 8,
        renews_in_days: 110,
        csm: "Digital Success team",
        note: "Small clinic; expects privacy-aware answers",
    },
];

static FIRST_NAMES: &[&str] = &[
    "Aisha",
    "Bjorn",
    "Camille",
    "Diego",
    "Elif",
    "Farah",
    "Gustav",
    "Hiroshi",
    "Ingrid",
    "Jonas",
    "Kemi",
    "Luca",
    "Mei",
    "Nikolai",
    "Olivia",
    "Pavel",
    "Quentin",
    "Rosa",
    "Sanjay",
    "Tamar",
    "Ugo",
    "Valentina",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zofia",
    "Malik",
    "Greta",
    "Owen",
    "Leila",
];

static LAST_NAMES: &[&str] = &[
    "Andersen",
    "Bianchi",
    "Chowdhury",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ivanova",
    "Jansen",
    "Kowalski",
    "Lindqvist",
    "Moreau",
    "Nakamura",
    "Okonkwo",
    "Petrov",
    "Quinn",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Urquhart",
    "Varga",
    "Walsh",
    "Yilmaz",
    "Zimmermann",
    "Novak",
    "Ortiz",
    "Brennan",
];

static IDPS: &[&str] = &[
    "Okta",
    "Microsoft Entra ID",
    "Google Workspace",
    "OneLogin",
    "JumpCloud",
];
static SSO_ERRORS: &[&str] = &[
    "Invalid SAML response: signature validation failed",
    "SAML assertion expired",
    "Audience URI mismatch",
    "NameID format not supported",
];
static SCIM_ERRORS: &[&str] = &[
    "409 Conflict: user already exists",
    "400 Bad Request: missing required attribute 'emails'",
    "userName must be unique",
];
static GROUPS: &[&str] = &[
    "All-Staff",
    "Sales-EMEA",
    "Support-Tier1",
    "New-Hires",
    "Finance-Ops",
];
static INTEGRATIONS: &[&str] = &[
    "Salesforce",
    "HubSpot",
    "Jira",
    "Zendesk",
    "Microsoft Teams",
    "NetSuite",
];
static INTEGRATION_ERRORS: &[&str] = &[
    "401 Unauthorized: token expired",
    "invalid_grant",
    "INVALID_SESSION_ID",
    "403 Forbidden: insufficient scope",
];
static HTTP_ERRORS: &[&str] = &[
    "502 Bad Gateway",
    "504 Gateway Timeout",
    "503 Service Unavailable",
];
static SLACK_CHANNELS: &[&str] = &[
    "approvals",
    "support-escalations",
    "ops-alerts",
    "billing-notify",
];
static DURATIONS: &[&str] = &[
    "about 40 minutes",
    "almost two hours",
    "roughly 25 minutes",
    "over three hours",
    "about an hour",
];
static REPORTS: &[&str] = &[
    "Pipeline by owner",
    "Weekly SLA compliance",
    "Open items by region",
    "Monthly revenue by account",
    "Agent workload",
];
static ROW_COUNTS: &[&str] = &["240,000", "610,000", "1.3 million", "3.8 million"];
static WAREHOUSES: &[&str] = &["Snowflake", "BigQuery", "Databricks", "Redshift"];
static FEATURES: &[&str] = &[
    "conditional approval steps",
    "custom fields on dashboards",
    "scheduled PDF reports",
    "a read-only auditor role",
    "bulk editing of records",
    "field-level change history",
    "Microsoft Teams notifications",
];
static COMPETITORS: &[&str] = &["Corvana", "Tallyforge", "Quorra Desk", "Helmwise"];

static FOLLOW_UPS: &[&str] = &[
    "This is the second time this month we've had to raise this.",
    "I've copied our account manager, {csm}.",
    "We reported something similar in {ticket_ref}.",
    "Our leadership is asking for an update by the end of the day.",
    "Happy to jump on a call if that's quicker.",
    "For reference, we're on the {plan} plan with {seats} seats.",
];
static GREETINGS: &[&str] = &[
    "Hi,",
    "Hello,",
    "Hi support team,",
    "Good morning,",
    "Hi there,",
    "",
];
static SIGN_OFFS: &[&str] = &[
    "Thanks,\n{first}",
    "Best regards,\n{contact}\n{role}, {company}",
    "Kind regards,\n{contact}",
    "Thank you,\n{first} ({company})",
    "Cheers,\n{first}",
];
static REPLY_GREETINGS: &[&str] = &["Hi {first},", "Hello {first},", "Dear {first},"];
static REPLY_CLOSINGS: &[&str] = &[
    "Best regards,\nCustomer Support",
    "Kind regards,\nThe Support Team",
    "Thanks,\nCustomer Support",
];
/// Sentences a drafting model adds to sound reassuring, each with a blocked term, and the
/// product areas where it would plausibly add them (empty for any).
static RISKY_SENTENCES: &[(&str, &[&str])] = &[
    ("We guarantee this won't happen again.", &[]),
    (
        "This is guaranteed to be fixed in the next release.",
        &[
            "platform",
            "api_integrations",
            "identity",
            "data",
            "product",
        ],
    ),
    (
        "I can't give legal advice, but as we read your contract you are covered here.",
        &["billing", "security_privacy"],
    ),
    (
        "Refund guaranteed: you'll see it on your statement within 24 hours.",
        &["billing"],
    ),
];

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use loopgate_core::verdict::{VerdictContext, decide};
    use loopgate_core::{Lane, Policy, PolicySpec, Role, Status, Submission, Uncalibrated};

    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, 15).unwrap()
    }

    fn validated() -> BTreeMap<String, Policy> {
        policies()
            .into_iter()
            .map(|p| {
                let spec: PolicySpec = serde_json::from_value(p).expect("policy parses");
                let policy = spec.validate().expect("policy validates");
                (policy.name.to_string(), policy)
            })
            .collect()
    }

    fn stream(seed: u64, n: usize) -> Vec<Value> {
        let mut s = TicketStream::new(seed);
        (0..n).map(|_| s.next(today())).collect()
    }

    fn strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::String(s) => out.push(s),
            Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
            Value::Object(m) => m.values().for_each(|x| strings(x, out)),
            _ => {}
        }
    }

    #[test]
    fn policies_parse_and_validate() {
        let policies = validated();
        assert_eq!(
            policies.keys().map(String::as_str).collect::<Vec<_>>(),
            [REFUND, REPLY, CLASSIFY]
        );
        assert!(policies[REFUND].needs_two_people());
        assert!(!policies[CLASSIFY].needs_two_people());
    }

    #[test]
    fn submissions_parse_pass_checks_and_match_their_policy_kind() {
        let policies = validated();
        for body in stream(1, 600) {
            let sub: Submission =
                serde_json::from_value(body.clone()).unwrap_or_else(|e| panic!("{e}: {body:#}"));
            assert!(sub.check().is_empty(), "{:?}: {body:#}", sub.check());
            let policy = &policies[sub.policy.as_str()];
            assert_eq!(sub.proposal.kind, policy.kind, "{body:#}");
            let mut texts = Vec::new();
            strings(&body, &mut texts);
            for t in texts {
                assert!(
                    !t.contains('{') && !t.contains('}'),
                    "unfilled slot in {t:?}"
                );
            }
        }
    }

    #[test]
    fn stream_is_deterministic_per_seed() {
        assert_eq!(stream(7, 200), stream(7, 200));
        assert_ne!(stream(7, 50), stream(8, 50));
    }

    #[test]
    fn stream_is_varied() {
        let items = stream(3, 500);
        let texts: BTreeSet<&str> = items
            .iter()
            .filter_map(|i| i["input"]["text"].as_str())
            .collect();
        let customers: BTreeSet<&str> = items
            .iter()
            .filter_map(|i| i["customer"]["id"].as_str())
            .collect();
        let subjects: BTreeSet<&str> = items
            .iter()
            .filter_map(|i| i["input"]["subject"].as_str())
            .collect();
        let channels: BTreeSet<&str> = items
            .iter()
            .filter_map(|i| i["input"]["channel"].as_str())
            .collect();
        let tickets: BTreeSet<&str> = items
            .iter()
            .filter_map(|i| i["input"]["ticket_id"].as_str())
            .collect();
        assert!(texts.len() >= 480, "{} distinct texts", texts.len());
        assert!(customers.len() >= 25, "{} customers", customers.len());
        assert!(subjects.len() >= 100, "{} subjects", subjects.len());
        assert_eq!(channels.len(), 4);
        assert_eq!(tickets.len(), 500, "ticket ids are unique");
    }

    #[test]
    fn the_mix_feeds_all_three_policies() {
        let items = stream(11, 2000);
        let mut per_policy: BTreeMap<&str, usize> = BTreeMap::new();
        for i in &items {
            *per_policy.entry(i["policy"].as_str().unwrap()).or_default() += 1;
        }
        let share = |p: &str| per_policy.get(p).copied().unwrap_or(0) as f64 / 2000.0;
        assert!((0.45..0.55).contains(&share(CLASSIFY)), "{per_policy:?}");
        assert!((0.30..0.40).contains(&share(REPLY)), "{per_policy:?}");
        assert!((0.11..0.19).contains(&share(REFUND)), "{per_policy:?}");
        let refunds_over_limit = items
            .iter()
            .filter(|i| i["policy"] == REFUND)
            .filter(|i| i["proposal"]["payload"]["amount"].as_f64().unwrap() > 500.0)
            .count();
        assert!(refunds_over_limit > 10, "{refunds_over_limit}");
        assert!(items.iter().any(|i| i.get("signals").is_some()));
    }

    #[test]
    fn some_renewals_fall_within_30_days() {
        let soon = stream(5, 300)
            .iter()
            .filter_map(|i| i["customer"]["renewal_date"].as_str())
            .map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap())
            .filter(|d| (0..=30).contains(&(*d - today()).num_days()))
            .count();
        assert!(soon >= 30, "{soon} of 300 renew within 30 days");
    }

    /// Runs the real verdict pipeline on the stream: the demo must show every outcome, lane and
    /// role, and validators that fire.
    #[test]
    fn verdicts_show_every_outcome_lane_and_role() {
        let policies = validated();
        let now = today().and_hms_opt(12, 0, 0).unwrap().and_utc();
        let ctx = VerdictContext {
            now,
            calibrator: &Uncalibrated,
            kill_switch: None,
            novelty: None,
            thresholds: None,
        };
        let mut statuses: BTreeMap<(String, Status), usize> = BTreeMap::new();
        let mut lanes = BTreeSet::new();
        let mut roles = BTreeSet::new();
        let mut failed_validators = BTreeSet::new();
        for body in stream(2, 2000) {
            let sub: Submission = serde_json::from_value(body).unwrap();
            let route = decide(&policies[sub.policy.as_str()], &sub, &ctx);
            *statuses
                .entry((sub.policy.to_string(), route.status))
                .or_default() += 1;
            lanes.extend(route.lane);
            roles.extend(route.required_role);
            for v in route.verdict.validators.iter().filter(|v| !v.passed) {
                failed_validators.insert(v.validator.clone());
            }
        }
        for policy in [CLASSIFY, REPLY] {
            for status in [Status::AutoApproved, Status::AutoRejected, Status::Queued] {
                let n = statuses
                    .get(&(policy.to_owned(), status))
                    .copied()
                    .unwrap_or(0);
                assert!(n >= 10, "{policy} {status}: {n}; all: {statuses:?}");
            }
        }
        assert!(statuses.contains_key(&(REFUND.to_owned(), Status::Queued)));
        assert_eq!(lanes, BTreeSet::from([Lane::P0, Lane::P1, Lane::P2]));
        assert_eq!(
            roles,
            BTreeSet::from([Role::Triage, Role::Quality, Role::Sme])
        );
        for v in [
            "required_fields",
            "min_citations",
            "blocked_terms",
            "max_amount",
        ] {
            assert!(failed_validators.contains(v), "{v} never fails");
        }
    }

    #[test]
    fn content_tables_are_consistent() {
        assert!(SCENARIOS.len() >= 40, "{} scenarios", SCENARIOS.len());
        let intents: BTreeSet<&str> = SCENARIOS.iter().map(|s| s.intent).collect();
        assert!(intents.len() >= 12);
        for s in SCENARIOS {
            assert!(
                s.reply.contains(s.slip.0),
                "slip not in reply: {}",
                s.subject
            );
            assert_ne!(s.slip.0, s.slip.1);
            for key in s.kb {
                assert!(
                    KNOWLEDGE_BASE.iter().any(|a| a.key == *key),
                    "unknown article {key}"
                );
            }
            for label in confusable(s.intent) {
                assert!(intents.contains(label) && *label != s.intent, "{label}");
            }
            if s.refund.is_some() {
                assert!(s.text.contains("{money}") && s.text.contains("{invoice}"));
            }
            let fits = COMPANIES
                .iter()
                .any(|c| s.tiers.is_empty() || s.tiers.contains(&c.tier));
            assert!(fits, "no company for {}", s.subject);
        }
        assert!(COMPANIES.len() >= 25);
        let ids: BTreeSet<&str> = COMPANIES.iter().map(|c| c.id).collect();
        assert_eq!(ids.len(), COMPANIES.len(), "company ids are unique");
        let tiers: BTreeSet<&str> = COMPANIES.iter().map(|c| c.tier.as_str()).collect();
        assert_eq!(tiers.len(), 4);
        let mut keys = BTreeSet::new();
        assert!(KNOWLEDGE_BASE.iter().all(|a| keys.insert(a.key)));
    }

    #[test]
    fn customers_keep_their_facts_across_tickets() {
        let mut seen: BTreeMap<String, Value> = BTreeMap::new();
        for i in stream(9, 400) {
            let c = i["customer"].clone();
            let id = c["id"].as_str().unwrap().to_owned();
            if let Some(earlier) = seen.insert(id, c.clone()) {
                assert_eq!(earlier, c);
            }
        }
    }

    #[test]
    fn helpers_format_as_customers_write() {
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(grouped(999), "999");
        assert_eq!(money(124_050, "EUR"), "€1,240.50");
        assert_eq!(money(2_000, "USD"), "$20.00");
        assert_eq!(casual("We were"), "we were");
        assert_eq!(casual("SSO broke"), "SSO broke");
        assert_eq!(shift(NaiveDate::MAX, 5), NaiveDate::MAX);
        let mut s = Slots::default();
        s.set("a", "x");
        assert_eq!(s.fill("{a} {b} {"), "x {b} {");
    }
}
