//! The report for people: a Markdown table and an SVG chart of automation and delivered error
//! over the stream.
//!
//! The chart is written by hand: it is two panels of polylines, and a plotting library would
//! need a font stack to lay out its labels.

use std::fmt::Write;

use crate::{PolicyResult, Report};

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

fn opt_pct(x: Option<f64>) -> String {
    x.map_or("–".to_owned(), pct)
}

/// A confidence as a percentage without trailing zeros: 0.95 → "95%", 0.975 → "97.5%".
fn confidence_pct(confidence: f64) -> String {
    format!("{}%", (confidence * 10_000.0).round() / 100.0)
}

/// How drift was set, for the reports' headers.
fn drift_note(d: crate::Drift) -> String {
    format!(
        "from item {}, the AI wrong on an extra {} of items",
        d.at,
        pct(d.error)
    )
}

/// The report as Markdown.
pub fn markdown(report: &Report) -> String {
    let c = &report.config;
    let mut md = String::new();
    let _ = writeln!(md, "# Loopgate simulation\n");
    let _ = writeln!(
        md,
        "{} tickets, {} labels, seed {}. Target escape rate α = {}, confidence {}, reviewer accuracy {}, \
         audit rate {}, refit every {} items, {} folds.{}\n",
        report.items,
        report.labels,
        c.seed,
        c.target_escape,
        c.confidence,
        c.reviewer_accuracy,
        c.audit_rate,
        c.refit_every,
        c.folds,
        c.drift
            .map(|d| format!(" Drift {}.", drift_note(d)))
            .unwrap_or_default()
    );
    md.push_str(&table(&report.policies, c.confidence));
    let _ = writeln!(md);
    for p in &report.policies {
        let _ = writeln!(md, "- **{}**: {}.", p.name, p.description);
    }
    let _ = writeln!(
        md,
        "\nThe baselines are evaluated on the first Loopgate run's proposals and confidences, so they \
         differ from it only by their decision rule. Oracle threshold (raw confidence): {}.",
        report
            .oracle_threshold
            .map_or("none".to_owned(), |t| format!("{t:.4}"))
    );
    md
}

/// The Markdown table of policies' figures, one row each, for escape upper bounds computed at
/// `confidence`.
pub fn table(policies: &[PolicyResult], confidence: f64) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| policy | delivered accuracy | automation | automation, last quarter | escape rate | escape upper {} | reviews | first automated item | kill switch trips (policy / intents) | first trip after drift | s / 1,000 items |",
        confidence_pct(confidence)
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|");
    for p in policies {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {} | {:.3} |",
            p.name,
            pct(p.delivered_accuracy),
            pct(p.automation),
            pct(p.automation_last_quarter),
            opt_pct(p.escape_rate),
            opt_pct(p.escape_upper),
            if p.reviews.second + p.reviews.audit > 0 {
                format!(
                    "{} ({} first, {} second, {} audit)",
                    p.reviews.total(),
                    p.reviews.first,
                    p.reviews.second,
                    p.reviews.audit
                )
            } else {
                p.reviews.total().to_string()
            },
            p.items_until_automation
                .map_or("never".to_owned(), |i| i.to_string()),
            p.kill_switch_trips,
            p.intent_kill_switch_trips,
            p.first_trip_after_drift.map_or("–".to_owned(), |d| format!(
                "{} items, {} audited",
                d.items, d.audited
            )),
            p.seconds_per_1000,
        );
    }
    md
}

const W: f64 = 900.0;
const PANEL: f64 = 220.0;
const LEFT: f64 = 60.0;
const TOP: f64 = 40.0;
const GAP: f64 = 60.0;
const COLOURS: [&str; 6] = [
    "#888888", "#e6a23c", "#c0392b", "#1f6feb", "#8e44ad", "#2e7d32",
];

/// The chart as SVG: rolling automation rate (top) and delivered error (bottom) per policy.
pub fn svg(report: &Report) -> String {
    let plot_w = W - LEFT - 180.0;
    let height = TOP + 2.0 * PANEL + GAP + 50.0;
    let n = report.items.max(1) as f64;
    let max_error = report
        .policies
        .iter()
        .flat_map(|p| p.series.iter().map(|s| s.error))
        .fold(0.02_f64, f64::max)
        .min(1.0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" viewBox="0 0 {W} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="20" font-size="14">Automation rate and delivered error over the stream (rolling {} items)</text>"#,
        crate::outcome::WINDOW
    );
    for (panel, (title, max)) in [("automation rate", 1.0), ("delivered error", max_error)]
        .iter()
        .enumerate()
    {
        let y0 = TOP + panel as f64 * (PANEL + GAP);
        let _ = writeln!(
            s,
            r##"<rect x="{LEFT}" y="{y0}" width="{plot_w}" height="{PANEL}" fill="none" stroke="#444"/>"##
        );
        let _ = writeln!(s, r#"<text x="{LEFT}" y="{}">{title}</text>"#, y0 - 6.0);
        for tick in 0..=4 {
            let v = max * f64::from(tick) / 4.0;
            let y = y0 + PANEL - PANEL * f64::from(tick) / 4.0;
            let _ = writeln!(
                s,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{:.1}%</text>"##,
                LEFT + plot_w,
                LEFT - 6.0,
                y + 4.0,
                v * 100.0
            );
        }
        for (i, p) in report.policies.iter().enumerate() {
            let points: Vec<String> = p
                .series
                .iter()
                .map(|pt| {
                    let v = if panel == 0 { pt.automation } else { pt.error };
                    let x = LEFT + plot_w * pt.item as f64 / n;
                    let y = y0 + PANEL - PANEL * (v / max).min(1.0);
                    format!("{x:.1},{y:.1}")
                })
                .collect();
            let _ = writeln!(
                s,
                r#"<polyline fill="none" stroke="{}" stroke-width="1.5" points="{}"/>"#,
                COLOURS[i % COLOURS.len()],
                points.join(" ")
            );
        }
    }
    let axis_y = TOP + 2.0 * PANEL + GAP + 20.0;
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{axis_y:.1}" text-anchor="middle">items (0 to {})</text>"#,
        LEFT + plot_w / 2.0,
        report.items
    );
    for (i, p) in report.policies.iter().enumerate() {
        let y = TOP + 20.0 * i as f64;
        let x = LEFT + plot_w + 20.0;
        let _ = writeln!(
            s,
            r#"<line x1="{x}" y1="{y}" x2="{}" y2="{y}" stroke="{}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
            x + 20.0,
            COLOURS[i % COLOURS.len()],
            x + 26.0,
            y + 4.0,
            p.name
        );
    }
    s.push_str("</svg>\n");
    s
}

/// A summary of the same simulation over several seeds: each Loopgate variant that ran (with
/// and without second opinions) against the oracle, seed by seed, and how often the guarantee
/// held.
pub fn seeds(reports: &[Report]) -> String {
    let mut md = String::new();
    let Some(first) = reports.first() else {
        return md;
    };
    let c = &first.config;
    let _ = writeln!(
        md,
        "# Loopgate over {} seeds\n\nα = {}, confidence {}, reviewer accuracy {}, audit rate {}{}.",
        reports.len(),
        c.target_escape,
        c.confidence,
        c.reviewer_accuracy,
        c.audit_rate,
        c.drift
            .map(|d| format!(", drift {}", drift_note(d)))
            .unwrap_or_default()
    );
    for variant in ["loopgate", "loopgate-single-review"] {
        if first.policy(variant).is_some() {
            let _ = writeln!(md, "\n## {variant}\n");
            variant_over_seeds(&mut md, reports, variant);
        }
    }
    md
}

/// One Loopgate variant's table over seeds and its summary line.
fn variant_over_seeds(md: &mut String, reports: &[Report], variant: &str) {
    let _ = writeln!(
        md,
        "| seed | escape rate | ≤ α | automation, last quarter | oracle, last quarter | ratio | delivered accuracy | reviews (first / second / audit) | kill switch trips | first trip after drift |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|");
    let mut held = 0;
    let mut ratios = Vec::new();
    let mut accuracies = Vec::new();
    let mut reviews = Vec::new();
    let mut second = Vec::new();
    let mut trips = 0;
    let mut delays = Vec::new();
    for r in reports {
        let (Some(l), Some(o)) = (r.policy(variant), r.policy("oracle")) else {
            continue;
        };
        let alpha = r.config.target_escape;
        let ok = l.escape_rate.is_none_or(|e| e <= alpha);
        held += usize::from(ok);
        let ratio = (o.automation_last_quarter > 0.0)
            .then(|| l.automation_last_quarter / o.automation_last_quarter);
        ratios.extend(ratio);
        accuracies.push(l.delivered_accuracy);
        reviews.push(l.reviews.total());
        second.push(l.reviews.second);
        trips += l.kill_switch_trips;
        delays.extend(l.first_trip_after_drift.map(|d| d.audited));
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} / {} / {} | {} | {} |",
            r.config.seed,
            opt_pct(l.escape_rate),
            if ok { "yes" } else { "**no**" },
            pct(l.automation_last_quarter),
            pct(o.automation_last_quarter),
            ratio.map_or("–".to_owned(), |x| format!("{:.1}%", x * 100.0)),
            pct(l.delivered_accuracy),
            l.reviews.first,
            l.reviews.second,
            l.reviews.audit,
            l.kill_switch_trips,
            l.first_trip_after_drift.map_or("–".to_owned(), |d| format!(
                "{} items, {} audited",
                d.items, d.audited
            )),
        );
    }
    let median_f = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    let median_n = |v: &mut Vec<usize>| {
        v.sort_unstable();
        v.get(v.len() / 2).copied()
    };
    let _ = writeln!(
        md,
        "\nEscape rate ≤ α in {held} of {} seeds. Automation over the last quarter as a share of the oracle's: \
         median {}, lowest {}. Delivered accuracy: median {}. Reviews: median {} (second opinions: median {}). \
         Kill switch trips: {trips} in all.{}",
        accuracies.len(),
        median_f(&mut ratios.clone()).map_or("–".to_owned(), |x| format!("{:.1}%", x * 100.0)),
        ratios
            .iter()
            .copied()
            .reduce(f64::min)
            .map_or("–".to_owned(), |x| format!("{:.1}%", x * 100.0)),
        median_f(&mut accuracies).map_or("–".to_owned(), pct),
        median_n(&mut reviews).map_or("–".to_owned(), |n| n.to_string()),
        median_n(&mut second).map_or("–".to_owned(), |n| n.to_string()),
        match (median_n(&mut delays.clone()), delays.iter().max()) {
            (Some(median), Some(worst)) => format!(
                " Audited items from drift to the first trip: median {median}, at most {worst}."
            ),
            _ => String::new(),
        }
    );
}
