//! `loopgate simulate` end to end: the binary reads a labelled CSV, runs every policy on one
//! stream and writes a report with the figures the learning-loop issue lists; a seed gives the
//! same report every time; second opinions can be run, skipped or compared, over several seeds
//! too; and bad input is refused before anything is written.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{loopgate, run, stderr};
use serde_json::Value;
use tempfile::TempDir;

const POLICIES: [&str; 6] = [
    "ai-only",
    "fixed-0.7",
    "fixed-0.9",
    "loopgate",
    "loopgate-single-review",
    "oracle",
];

/// Writes `rows` synthetic tickets of five intents, each with its own words (and one shared
/// opening, so the model is not sure of everything at once), to `dir/tickets.csv`.
fn tickets(dir: &Path, rows: usize) -> PathBuf {
    let intents = [
        ("card_arrival", "card", "arrived", "post"),
        ("refund", "refund", "money", "back"),
        ("password_reset", "password", "login", "reset"),
        ("exchange_rate", "exchange", "rate", "currency"),
        ("cancel_order", "cancel", "order", "stop"),
    ];
    let mut csv = String::from("text,label\n");
    for i in 0..rows {
        let (label, a, b, c) = intents[(i * 7 + i / 5) % intents.len()];
        let words = [a, b, c];
        csv.push_str(&format!(
            "hi there about my {} and the {} please {} {},{label}\n",
            words[i % 3],
            words[(i / 3) % 3],
            ["today", "now", "asap", "thanks"][i % 4],
            i % 11,
        ));
    }
    let path = dir.join("tickets.csv");
    std::fs::write(&path, csv).expect("write the CSV");
    path
}

/// `loopgate simulate --data <data> --report <report> <args…>`, run in `cwd`.
fn simulate(cwd: &Path, data: &Path, report: &Path, args: &[&str]) -> Output {
    run(loopgate(cwd)
        .arg("simulate")
        .arg("--data")
        .arg(data)
        .arg("--report")
        .arg(report)
        .args(["--refit-every", "100"])
        .args(args))
}

fn json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).expect("valid JSON")
}

fn policy<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["policies"]
        .as_array()
        .expect("a list of policies")
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no policy {name} in the report"))
}

fn names(report: &Value) -> Vec<&str> {
    report["policies"]
        .as_array()
        .expect("a list of policies")
        .iter()
        .map(|p| p["name"].as_str().expect("a name"))
        .collect()
}

/// The report without wall-clock timings, which vary run to run.
fn without_timings(mut value: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(map) => {
                map.remove("seconds_per_1000");
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut value);
    value
}

#[test]
fn the_report_gives_every_policy_the_figures_the_issue_lists() {
    let tmp = TempDir::new().expect("tempdir");
    let data = tickets(tmp.path(), 600);
    let dir = tmp.path().join("report");
    let out = simulate(
        tmp.path(),
        &data,
        &dir,
        &[
            "--target-escape",
            "0.05",
            "--confidence",
            "0.9",
            "--seed",
            "3",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    for file in ["report.json", "report.md", "chart.svg"] {
        assert!(dir.join(file).is_file(), "{file} written");
    }
    let report = json(&dir.join("report.json"));
    assert_eq!(report["items"], 600);
    assert_eq!(report["labels"], 5);
    assert_eq!(names(&report), POLICIES);
    for name in POLICIES {
        let p = policy(&report, name);
        for field in [
            "delivered_accuracy",
            "automation",
            "automation_last_quarter",
            "seconds_per_1000",
        ] {
            let x = p[field]
                .as_f64()
                .unwrap_or_else(|| panic!("{name}.{field}"));
            assert!(
                x >= 0.0 && (field == "seconds_per_1000" || x <= 1.0),
                "{name}.{field} = {x}"
            );
        }
        // Present, and null when the policy never automated.
        for field in [
            "escape_rate",
            "escape_upper",
            "items_until_automation",
            "first_trip_after_drift",
        ] {
            assert!(p.get(field).is_some(), "{name}.{field}");
        }
        for field in ["first", "second", "audit"] {
            assert!(p["reviews"][field].is_u64(), "{name}.reviews.{field}");
        }
        assert!(p["kill_switch_trips"].is_u64(), "{name}.kill_switch_trips");
        if let (Some(rate), Some(upper)) = (p["escape_rate"].as_f64(), p["escape_upper"].as_f64()) {
            assert!(
                upper >= rate,
                "{name}: upper bound {upper} below the rate {rate}"
            );
        }
    }

    // The AI alone automates everything, from the first item on, and nobody reviews anything.
    let ai = policy(&report, "ai-only");
    assert_eq!(ai["automation"], 1.0);
    assert_eq!(ai["automation_last_quarter"], 1.0);
    assert_eq!(ai["items_until_automation"], 1);
    assert_eq!(ai["reviews"]["first"], 0);
    // Its escape bound is taken at the run's confidence (90% here), and the table says so.
    let (escapes, handled) = (
        ai["escapes"].as_u64().unwrap(),
        ai["auto_handled"].as_u64().unwrap(),
    );
    assert_eq!(handled, 600);
    let upper = loopgate_learn::risk::clopper_pearson_upper(escapes, handled, 0.1).unwrap();
    assert!((ai["escape_upper"].as_f64().unwrap() - upper).abs() < 1e-12);
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("escape upper 90%"), "{md}");
    assert!(!md.contains("escape upper 95%"), "{md}");
    // People label what the loop does not automate: the loop never delivers worse than the AI.
    let loopgate = policy(&report, "loopgate");
    assert!(loopgate["reviews"]["first"].as_u64().unwrap() > 0);
    assert!(
        loopgate["delivered_accuracy"].as_f64().unwrap()
            >= ai["delivered_accuracy"].as_f64().unwrap()
    );
    let svg = std::fs::read_to_string(dir.join("chart.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("loopgate"));
}

#[test]
fn a_seed_gives_the_same_report_every_time() {
    let tmp = TempDir::new().expect("tempdir");
    let data = tickets(tmp.path(), 300);
    let report = |name: &str, seed: &str| {
        let dir = tmp.path().join(name);
        let out = simulate(tmp.path(), &data, &dir, &["--seed", seed]);
        assert!(out.status.success(), "{}", stderr(&out));
        without_timings(json(&dir.join("report.json")))
    };
    let first = report("a", "7");
    assert_eq!(first, report("b", "7"));
    assert_ne!(first, report("c", "8"), "another seed, another stream");
}

#[test]
fn second_opinions_can_be_run_skipped_or_compared_over_seeds() {
    let tmp = TempDir::new().expect("tempdir");
    let data = tickets(tmp.path(), 300);
    let policies_with = |name: &str, choice: &str| {
        let dir = tmp.path().join(name);
        let out = simulate(tmp.path(), &data, &dir, &["--second-opinion", choice]);
        assert!(out.status.success(), "{}", stderr(&out));
        json(&dir.join("report.json"))
    };
    let on = policies_with("on", "on");
    assert!(names(&on).contains(&"loopgate"));
    assert!(!names(&on).contains(&"loopgate-single-review"));
    let off = policies_with("off", "off");
    assert!(!names(&off).contains(&"loopgate"));
    assert_eq!(
        policy(&off, "loopgate-single-review")["reviews"]["second"],
        0
    );

    // Over several seeds both variants run by default, each with its accuracy and reviews.
    let dir = tmp.path().join("seeds");
    let out = simulate(
        tmp.path(),
        &data,
        &dir,
        &["--seeds", "2", "--reviewer-accuracy", "0.9"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let reports = json(&dir.join("seeds.json"));
    let reports = reports.as_array().expect("one report per seed");
    assert_eq!(reports.len(), 2);
    for r in reports {
        let with = policy(r, "loopgate");
        let without = policy(r, "loopgate-single-review");
        // Noisy reviewers disagree with the model; a second reviewer then decides.
        assert!(with["reviews"]["second"].as_u64().unwrap() > 0);
        assert_eq!(without["reviews"]["second"], 0);
        assert!(
            with["delivered_accuracy"].as_f64().unwrap()
                > without["delivered_accuracy"].as_f64().unwrap()
        );
    }
    let md = std::fs::read_to_string(dir.join("seeds.md")).unwrap();
    for section in ["## loopgate\n", "## loopgate-single-review\n"] {
        assert!(md.contains(section), "{md}");
    }
    assert_eq!(md.matches("Delivered accuracy: median").count(), 2, "{md}");
    assert_eq!(md.matches("Reviews: median").count(), 2, "{md}");
}

#[test]
fn bad_input_is_refused_before_anything_is_written() {
    let tmp = TempDir::new().expect("tempdir");
    let data = tickets(tmp.path(), 50);
    let no_label = tmp.path().join("no_label.csv");
    std::fs::write(&no_label, "text,intent\nmy card,card_arrival\n").unwrap();
    let cases: [(&Path, &[&str], &str); 4] = [
        (&no_label, &[], "`label`"),
        (&data, &["--target-escape", "0"], "target escape"),
        (&data, &["--target-escape", "1.5"], "target escape"),
        (&data, &["--confidence", "0.3"], "confidence"),
    ];
    for (i, (csv, args, message)) in cases.into_iter().enumerate() {
        let dir = tmp.path().join(format!("report-{i}"));
        let out = simulate(tmp.path(), csv, &dir, args);
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?} accepted");
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(!dir.exists(), "{args:?}: {} was created", dir.display());
    }
}
