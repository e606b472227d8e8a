//! The embedded model as the learning loop uses it: K fold classifiers that learn from every
//! human label, propose for new items, and score labelled items out of fold for the bound.
//!
//! Why folds: a threshold certified on scores of items the model already trained on would be
//! certified on flattering scores. Each text has a fold (a hash of the text modulo K, so that
//! repeated texts share one); every fold's model learns every label except its own fold's. A
//! text is proposed for and later re-scored by its own fold's model only, which never saw its
//! label, so the live scores the threshold is applied to and the scores it was certified on
//! come from the same kind of model.
//!
//! Why some labels are kept out of the bound: once a policy automates, people label what scored
//! below the threshold plus audits, a sample skewed towards hard items. Only labels chosen
//! without looking at the item ([`Label::representative`]) feed [`Learner::out_of_fold`].
//!
//! Novelty: before a label is learned, its text's novelty score under its own fold model (which
//! never saw it) joins a window of recent scores; a new text is novel when its conformal p-value
//! against that window is at most the level, so about that share of ordinary traffic is
//! flagged.
//!
//! Each new label is followed by a few rehearsals of earlier labels drawn with a seeded
//! generator, so that every label is seen several times over the stream, as a nightly retrain
//! would, at a fixed cost per label. The same labels in the same order give the same models.

use std::collections::VecDeque;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::classifier::{Classifier, ClassifierConfig, Prediction, Scores};
use crate::novelty::{NoveltyScore, conformal_p_value};
use crate::risk::Outcome;

/// How a [`Learner`] is built.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LearnerConfig {
    /// Number of fold models, at least 2.
    pub folds: usize,
    /// Earlier labels rehearsed after each new one.
    pub replay: usize,
    /// Seed of the rehearsal draws.
    pub seed: u64,
    /// Each fold model's settings.
    pub classifier: ClassifierConfig,
    /// The novelty check.
    pub novelty: NoveltyConfig,
}

impl Default for LearnerConfig {
    fn default() -> Self {
        Self {
            folds: 5,
            replay: 8,
            seed: 0,
            classifier: ClassifierConfig::default(),
            novelty: NoveltyConfig::default(),
        }
    }
}

/// How the learner judges a text unlike what it has seen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NoveltyConfig {
    /// The score compared.
    pub score: NoveltyScore,
    /// Recent scores kept to compare with.
    pub window: usize,
    /// Below this many scores every text counts as novel: too little was seen to judge.
    pub min_scores: usize,
    /// Share of ordinary texts flagged, in (0, 1).
    pub level: f64,
}

impl Default for NoveltyConfig {
    fn default() -> Self {
        Self {
            score: NoveltyScore::Combined,
            window: 1_000,
            min_scores: 50,
            level: 0.02,
        }
    }
}

/// One human label the learner holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    /// The input text.
    pub text: String,
    /// The label people settled on.
    pub label: String,
    /// Whether the item was labelled for a reason independent of its content (shadow mode, a
    /// tripped kill switch, an audit, or the audit coin of a reviewed item), so that it may
    /// feed the bound.
    pub representative: bool,
}

/// K fold classifiers and the labels they learned; see the module docs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Learner {
    config: LearnerConfig,
    folds: Vec<Classifier>,
    labels: Vec<Label>,
    /// Novelty scores of recent texts, taken just before they were learned.
    novelty: VecDeque<f64>,
}

impl Learner {
    /// Untrained fold models. Fails when `folds < 2` or the classifier settings are invalid.
    pub fn new(config: LearnerConfig) -> Result<Self, Error> {
        if config.folds < 2 {
            return Err(Error::invalid(
                "folds",
                format!("{} must be at least 2", config.folds),
            ));
        }
        let folds = (0..config.folds)
            .map(|_| Classifier::new(config.classifier))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            config,
            folds,
            labels: Vec::new(),
            novelty: VecDeque::new(),
        })
    }

    /// The settings in force.
    pub fn config(&self) -> &LearnerConfig {
        &self.config
    }

    /// The fold of a text.
    pub fn fold(&self, text: &str) -> usize {
        fold_of(text, self.folds.len())
    }

    /// The proposal of the text's own fold model; `None` before anything was learned.
    pub fn predict(&self, text: &str) -> Option<Prediction> {
        self.folds[self.fold(text)].predict(text)
    }

    /// Everything the text's own fold model says about it, for novelty scoring.
    pub fn scores(&self, text: &str) -> Scores {
        self.folds[self.fold(text)].scores(text)
    }

    /// The conformal p-value of `text`'s novelty against recent texts: small means unusual.
    /// 0 while fewer than `min_scores` texts were seen.
    pub fn novelty_p_value(&self, text: &str) -> f64 {
        if self.novelty.len() < self.config.novelty.min_scores {
            return 0.0;
        }
        let window: Vec<f64> = self.novelty.iter().copied().collect();
        let score = self.config.novelty.score.score(&self.scores(text));
        conformal_p_value(&window, score).unwrap_or(0.0)
    }

    /// Whether `text` is novel: its p-value is at most the configured level.
    pub fn is_novel(&self, text: &str) -> bool {
        self.novelty_p_value(text) <= self.config.novelty.level
    }

    /// Labels learned so far.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether nothing was learned yet.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Learns one human label: every fold model but the text's own trains on it, then
    /// `replay` earlier labels are rehearsed.
    pub fn learn(&mut self, label: Label) {
        if !self.labels.is_empty() {
            let score = self.config.novelty.score.score(&self.scores(&label.text));
            if score.is_finite() {
                self.novelty.push_back(score);
            }
            if self.novelty.len() > self.config.novelty.window {
                self.novelty.pop_front();
            }
        }
        Self::train(&mut self.folds, &label);
        self.labels.push(label);
        if self.labels.len() < 2 {
            return;
        }
        let draw = splitmix(self.config.seed ^ splitmix(self.labels.len() as u64));
        let mut rng = SmallRng::seed_from_u64(draw);
        for _ in 0..self.config.replay {
            let earlier = &self.labels[rng.random_range(0..self.labels.len())];
            Self::train(&mut self.folds, earlier);
        }
    }

    /// The representative labels scored out of fold by the current models: what the bound
    /// certifies on. An outcome is correct when the model's label is the people's label.
    pub fn out_of_fold(&self) -> Vec<Outcome> {
        self.labels
            .iter()
            .filter(|l| l.representative)
            .filter_map(|l| {
                let p = self.predict(&l.text)?;
                Some(Outcome {
                    score: p.probability,
                    correct: p.label == l.label,
                })
            })
            .collect()
    }

    /// Compact binary form (postcard).
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serializing plain vectors and numbers into memory cannot fail.
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Reads [`Learner::to_bytes`] output. Fails on truncated, corrupt or foreign input.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let learner: Self =
            postcard::from_bytes(bytes).map_err(|e| Error::CorruptModel(e.to_string()))?;
        if learner.folds.len() != learner.config.folds || learner.folds.len() < 2 {
            return Err(Error::CorruptModel(format!(
                "{} fold models for {} folds",
                learner.folds.len(),
                learner.config.folds
            )));
        }
        Ok(learner)
    }

    fn train(folds: &mut [Classifier], label: &Label) {
        let own = fold_of(&label.text, folds.len());
        for (f, model) in folds.iter_mut().enumerate() {
            if f != own {
                model.learn(&label.text, &label.label);
            }
        }
    }
}

/// A text's fold: FNV-1a over its bytes, spread by SplitMix64, modulo `folds`. Pinned by a
/// test: saved learners must keep their folds across releases.
fn fold_of(text: &str, folds: usize) -> usize {
    let fnv = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    (splitmix(fnv) % folds as u64) as usize
}

/// SplitMix64's finaliser: spreads consecutive integers over the whole range.
pub fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(text: &str, label: &str) -> Label {
        Label {
            text: text.into(),
            label: label.into(),
            representative: true,
        }
    }

    fn toy() -> Vec<Label> {
        let card = [
            "my card has not arrived",
            "where is my new card",
            "card delivery",
        ];
        let refund = ["I want a refund", "refund my payment", "money back please"];
        (0..60)
            .map(|i| {
                let n = i / 2;
                if i % 2 == 0 {
                    label(&format!("{} {n}", card[n % 3]), "card_arrival")
                } else {
                    label(&format!("{} {n}", refund[n % 3]), "refund")
                }
            })
            .collect()
    }

    #[test]
    fn an_items_own_fold_never_trains_on_it() {
        let mut learner = Learner::new(LearnerConfig {
            folds: 3,
            replay: 0,
            ..LearnerConfig::default()
        })
        .unwrap();
        let text = "a text only its own fold lacks";
        learner.learn(label(text, "lonely"));
        assert!(learner.predict(text).is_none(), "its own fold never saw it");
        let other = (0..)
            .map(|n| format!("{text} {n}"))
            .find(|t| learner.fold(t) != learner.fold(text))
            .unwrap();
        assert_eq!(learner.predict(&other).unwrap().label, "lonely");
    }

    #[test]
    fn learns_and_scores_out_of_fold() {
        let mut learner = Learner::new(LearnerConfig::default()).unwrap();
        for l in toy() {
            learner.learn(l);
        }
        assert_eq!(learner.len(), 60);
        let outcomes = learner.out_of_fold();
        assert_eq!(outcomes.len(), 60);
        assert!(outcomes.iter().all(|o| o.correct), "{outcomes:?}");
        assert_eq!(
            learner.predict("has my card arrived").unwrap().label,
            "card_arrival"
        );
    }

    #[test]
    fn only_representative_labels_feed_the_bound() {
        let mut learner = Learner::new(LearnerConfig::default()).unwrap();
        for (i, mut l) in toy().into_iter().enumerate() {
            l.representative = i % 3 == 0;
            learner.learn(l);
        }
        assert_eq!(learner.out_of_fold().len(), 20);
    }

    #[test]
    fn the_same_labels_give_the_same_models_and_survive_a_round_trip() {
        let build = || {
            let mut learner = Learner::new(LearnerConfig::default()).unwrap();
            for l in toy() {
                learner.learn(l);
            }
            learner
        };
        let (a, b) = (build(), build());
        assert_eq!(a.to_bytes(), b.to_bytes());
        let restored = Learner::from_bytes(&a.to_bytes()).unwrap();
        assert_eq!(restored.out_of_fold(), a.out_of_fold());
        assert_eq!(restored.len(), 60);
        assert!(Learner::from_bytes(&a.to_bytes()[..100]).is_err());
    }

    #[test]
    fn folds_are_pinned_and_spread() {
        assert_eq!(fold_of("", 5), fold_of("", 5));
        assert_eq!(fold_of("card not arrived", 5), 1);
        let mut counts = [0usize; 5];
        for n in 0..5_000 {
            counts[fold_of(&format!("ticket {n}"), 5)] += 1;
        }
        assert!(
            counts.iter().all(|&c| (900..1_100).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn unfamiliar_texts_are_novel_once_enough_was_seen() {
        let mut learner = Learner::new(LearnerConfig::default()).unwrap();
        assert!(
            learner.is_novel("my card has not arrived"),
            "nothing seen yet"
        );
        for round in 0..3 {
            for l in toy() {
                learner.learn(Label {
                    text: format!("{} {round}", l.text),
                    ..l
                });
            }
        }
        assert!(!learner.is_novel("where is my new card"));
        assert!(learner.is_novel("zxqv wkrpt gnolm"));
        let p = learner.novelty_p_value("zxqv wkrpt gnolm");
        assert!(p > 0.0 && p <= 0.02, "{p}");
    }

    #[test]
    fn fewer_than_two_folds_are_refused() {
        let config = LearnerConfig {
            folds: 1,
            ..LearnerConfig::default()
        };
        assert!(Learner::new(config).is_err());
    }
}
