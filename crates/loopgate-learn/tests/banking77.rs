//! BANKING77 (PolyAI: 13,083 banking questions, 77 intents) as the behavioural check of the
//! embedded model: accuracy floor, and novelty flagging on ordinary traffic.
//!
//! The data is read from the shared data folder beside the repository, never copied in.

use std::path::PathBuf;
use std::sync::OnceLock;

use loopgate_learn::classifier::{Classifier, ClassifierConfig, FitOptions};
use loopgate_learn::novelty::{NoveltyDetector, NoveltyScore};

fn load(name: &str) -> Vec<(String, String)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/banking77")
        .join(name);
    let mut reader =
        csv::Reader::from_path(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let headers = reader.headers().expect("header row").clone();
    assert_eq!(headers.iter().collect::<Vec<_>>(), ["text", "category"]);
    reader
        .records()
        .map(|r| {
            let r = r.expect("well-formed CSV record");
            (r[0].to_owned(), r[1].to_owned())
        })
        .collect()
}

fn test_set() -> &'static [(String, String)] {
    static TEST: OnceLock<Vec<(String, String)>> = OnceLock::new();
    TEST.get_or_init(|| load("test.csv"))
}

/// Trained once, shared by the tests of this file.
fn model() -> &'static Classifier {
    static MODEL: OnceLock<Classifier> = OnceLock::new();
    MODEL.get_or_init(|| {
        let train = load("train.csv");
        assert_eq!(train.len(), 10_003);
        let mut model = Classifier::new(ClassifierConfig::default()).unwrap();
        model.fit(&train, &FitOptions::default()).unwrap();
        model
    })
}

#[test]
fn test_accuracy_is_at_least_91_5_percent() {
    let model = model();
    let test = test_set();
    assert_eq!(test.len(), 3_080);
    assert_eq!(model.classes().len(), 77);

    let correct = test
        .iter()
        .filter(|(text, label)| model.predict(text).is_some_and(|p| &p.label == label))
        .count();
    let accuracy = correct as f64 / test.len() as f64;
    eprintln!(
        "BANKING77 test accuracy {accuracy:.4} after {} passes; {} rows, {:.1} MB in memory, {:.1} MB serialized",
        FitOptions::default().passes,
        model.rows(),
        model.memory_bytes() as f64 / 1e6,
        model.to_bytes().len() as f64 / 1e6,
    );
    assert!(
        accuracy >= 0.915,
        "accuracy {accuracy:.4} below the 91.5% floor"
    );
}

#[test]
fn serialized_model_predicts_identically() {
    let model = model();
    let back = Classifier::from_bytes(&model.to_bytes()).unwrap();
    for (text, _) in test_set().iter().step_by(97) {
        assert_eq!(back.scores(text), model.scores(text));
    }
}

#[test]
fn novelty_flags_about_level_of_ordinary_traffic_and_catches_strangers() {
    let model = model();
    let test = test_set();
    // The test file is sorted by intent, so alternate items give two exchangeable halves:
    // one calibrates the detector, the other plays ordinary traffic.
    let score = NoveltyScore::Combined;
    let calibration: Vec<f64> = test
        .iter()
        .step_by(2)
        .map(|(t, _)| score.score(&model.scores(t)))
        .collect();
    let level = 0.1;
    let detector = NoveltyDetector::new(calibration, score, level).unwrap();
    let traffic: Vec<&String> = test.iter().skip(1).step_by(2).map(|(t, _)| t).collect();
    let flagged = traffic
        .iter()
        .filter(|t| detector.is_novel(&model.scores(t)))
        .count();
    let rate = flagged as f64 / traffic.len() as f64;
    // 1,540 items: the rate's standard deviation is about 0.8 points.
    assert!(
        (rate - level).abs() < 0.03,
        "flag rate {rate:.3} on ordinary traffic"
    );

    let strangers = [
        "Wie kann ich mein Passwort zurücksetzen?",
        "qwertyuiop asdfghjkl zxcvbnm",
        "The mitochondria is the powerhouse of the cell",
        "Recommend a good pizza topping for a vegetarian",
    ];
    let caught = strangers
        .iter()
        .filter(|t| detector.is_novel(&model.scores(t)))
        .count();
    assert!(
        caught >= 3,
        "only {caught} of {} out-of-domain texts flagged",
        strangers.len()
    );
}
