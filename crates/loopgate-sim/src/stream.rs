//! The ticket stream: labelled texts in a seeded order, and the deterministic randomness every
//! simulated policy shares, so that policies differ only by their decisions.

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};

/// One labelled ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// The customer's message.
    pub text: String,
    /// The true intent.
    pub label: String,
}

/// The tickets shuffled with `seed`.
pub fn shuffled(tickets: &[Ticket], seed: u64) -> Vec<Ticket> {
    let mut out = tickets.to_vec();
    out.shuffle(&mut SmallRng::seed_from_u64(seed));
    out
}

/// What a draw is for; each purpose has its own independent stream of numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The n-th reviewer looking at an item (0 = first, 1 = second opinion, 2 = third).
    Reviewer(u8),
    /// Whether an auto-approved item is audited.
    Audit,
    /// Whether drift corrupts the AI's proposal.
    Drift,
}

/// Deterministic draws keyed by (seed, item, purpose): the same item gets the same reviewer
/// mistakes and the same audit coin in every policy simulated with the same seed.
#[derive(Debug, Clone, Copy)]
pub struct Dice {
    seed: u64,
}

impl Dice {
    /// Dice for `seed`.
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }

    /// A generator for one (item, purpose).
    pub fn rng(&self, item: usize, purpose: Purpose) -> SmallRng {
        let tag = match purpose {
            Purpose::Reviewer(n) => u64::from(n),
            Purpose::Audit => 100,
            Purpose::Drift => 200,
        };
        SmallRng::seed_from_u64(splitmix(self.seed ^ splitmix(item as u64 ^ splitmix(tag))))
    }

    /// A uniform number in `[0, 1)` for one (item, purpose).
    pub fn uniform(&self, item: usize, purpose: Purpose) -> f64 {
        self.rng(item, purpose).random::<f64>()
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A simulated reviewer who gives the true label with probability `accuracy`, and otherwise one
/// of the other labels uniformly at random.
pub fn review(
    dice: &Dice,
    item: usize,
    slot: u8,
    truth: &str,
    labels: &[String],
    accuracy: f64,
) -> String {
    let mut rng = dice.rng(item, Purpose::Reviewer(slot));
    if rng.random::<f64>() < accuracy || labels.len() < 2 {
        return truth.to_owned();
    }
    loop {
        let pick = &labels[rng.random_range(0..labels.len())];
        if pick != truth {
            return pick.clone();
        }
    }
}

/// A label other than `not`, uniformly at random: what a drifted model proposes.
pub fn wrong_label(dice: &Dice, item: usize, not: &str, labels: &[String]) -> String {
    let mut rng = dice.rng(item, Purpose::Drift);
    let _coin: f64 = rng.random();
    loop {
        let pick = &labels[rng.random_range(0..labels.len())];
        if pick != not || labels.len() < 2 {
            return pick.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<String> {
        (0..10).map(|i| format!("l{i}")).collect()
    }

    #[test]
    fn draws_are_reproducible_and_independent_per_purpose() {
        let d = Dice::new(7);
        assert_eq!(d.uniform(3, Purpose::Audit), d.uniform(3, Purpose::Audit));
        assert_ne!(d.uniform(3, Purpose::Audit), d.uniform(3, Purpose::Drift));
        assert_ne!(d.uniform(3, Purpose::Audit), d.uniform(4, Purpose::Audit));
        assert_ne!(
            Dice::new(8).uniform(3, Purpose::Audit),
            d.uniform(3, Purpose::Audit)
        );
    }

    #[test]
    fn reviewers_are_right_at_their_accuracy() {
        let d = Dice::new(1);
        let l = labels();
        let n = 20_000;
        let right = (0..n)
            .filter(|i| review(&d, *i, 0, "l3", &l, 0.9) == "l3")
            .count();
        let rate = right as f64 / n as f64;
        assert!((rate - 0.9).abs() < 0.01, "{rate}");
        assert!((0..1000).all(|i| review(&d, i, 0, "l3", &l, 1.0) == "l3"));
    }

    #[test]
    fn drift_never_proposes_the_true_label() {
        let d = Dice::new(2);
        let l = labels();
        assert!((0..1000).all(|i| wrong_label(&d, i, "l5", &l) != "l5"));
    }

    #[test]
    fn shuffling_is_a_seeded_permutation() {
        let t: Vec<Ticket> = (0..50)
            .map(|i| Ticket {
                text: i.to_string(),
                label: "x".into(),
            })
            .collect();
        let a = shuffled(&t, 3);
        assert_eq!(a, shuffled(&t, 3));
        assert_ne!(a, t);
        let mut sorted: Vec<_> = a.iter().map(|x| x.text.parse::<u32>().unwrap()).collect();
        sorted.sort();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
    }
}
