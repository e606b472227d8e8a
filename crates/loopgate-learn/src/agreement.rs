//! Reviewer agreement for calibration sessions (the same items shown to several reviewers):
//! chance-corrected agreement `(observed − expected) / (1 − expected)`, so 1 is perfect, 0 is
//! what raters guessing with their own label frequencies would reach, and below 0 is worse.
//!
//! - [`cohen_kappa`]: two raters, every item rated by both (Cohen 1960).
//! - [`fleiss_kappa`]: the same number of raters for every item, not necessarily the same
//!   people (Fleiss 1971).
//! - [`krippendorff_alpha_nominal`]: any number of raters, missing ratings allowed
//!   (Krippendorff 2011, nominal metric).

use std::collections::HashMap;
use std::hash::Hash;

use crate::Error;

/// Cohen's kappa of two raters' labels for the same items (`a[i]` and `b[i]` rate item `i`).
/// Fails when the slices are empty or differ in length, or when kappa is undefined because
/// both raters used one and the same label for everything (expected agreement 1).
pub fn cohen_kappa<L: Eq + Hash>(a: &[L], b: &[L]) -> Result<f64, Error> {
    if a.is_empty() {
        return Err(Error::EmptyInput("ratings"));
    }
    if a.len() != b.len() {
        return Err(Error::LengthMismatch {
            expected: a.len(),
            found: b.len(),
        });
    }
    let n = a.len() as f64;
    let mut freq: HashMap<&L, (f64, f64)> = HashMap::new();
    let mut agree = 0.0;
    for (x, y) in a.iter().zip(b) {
        freq.entry(x).or_default().0 += 1.0;
        freq.entry(y).or_default().1 += 1.0;
        if x == y {
            agree += 1.0;
        }
    }
    let observed = agree / n;
    let expected: f64 = freq.values().map(|(fa, fb)| (fa / n) * (fb / n)).sum();
    chance_corrected(observed, expected)
}

fn chance_corrected(observed: f64, expected: f64) -> Result<f64, Error> {
    if expected >= 1.0 - 1e-15 {
        return Err(Error::Undefined(
            "expected agreement is 1: every rating is the same label",
        ));
    }
    Ok((observed - expected) / (1.0 - expected))
}

/// Fleiss' kappa from a count table: `counts[i][j]` is how many raters put item `i` in
/// category `j`. Every row must have the same length and the same total `n >= 2` (raters per
/// item). Fails on an empty table, ragged rows, unequal or too few raters per item, or when
/// all ratings fall in one category.
pub fn fleiss_kappa(counts: &[Vec<usize>]) -> Result<f64, Error> {
    let first = counts.first().ok_or(Error::EmptyInput("items"))?;
    let k = first.len();
    let raters: usize = first.iter().sum();
    if raters < 2 {
        return Err(Error::invalid("counts", "need at least 2 raters per item"));
    }
    for row in counts {
        if row.len() != k {
            return Err(Error::LengthMismatch {
                expected: k,
                found: row.len(),
            });
        }
        if row.iter().sum::<usize>() != raters {
            return Err(Error::invalid(
                "counts",
                "every item needs the same number of raters",
            ));
        }
    }
    let (items, n) = (counts.len() as f64, raters as f64);
    let mean_agreement: f64 = counts
        .iter()
        .map(|row| {
            let sq: f64 = row.iter().map(|&c| (c * c) as f64).sum();
            (sq - n) / (n * (n - 1.0))
        })
        .sum::<f64>()
        / items;
    let expected: f64 = (0..k)
        .map(|j| {
            let p = counts.iter().map(|row| row[j] as f64).sum::<f64>() / (items * n);
            p * p
        })
        .sum();
    chance_corrected(mean_agreement, expected)
}

/// Krippendorff's alpha for nominal labels: `units[u][r]` is rater `r`'s label for unit `u`,
/// or `None` when missing. Rows may differ in length (missing raters at the end). Units with
/// fewer than two ratings cannot be paired and are skipped. Fails when fewer than two ratings
/// are pairable in total, or when every pairable rating is the same label (alpha undefined).
pub fn krippendorff_alpha_nominal<L: Eq + Hash>(units: &[Vec<Option<L>>]) -> Result<f64, Error> {
    // Coincidences: within a unit with m ratings, each ordered pair of ratings by different
    // raters adds 1/(m − 1). Only totals are needed for the nominal metric.
    let mut totals: HashMap<&L, f64> = HashMap::new();
    let mut disagreeing = 0.0; // Σ_{c≠k} o_ck
    for unit in units {
        let mut here: HashMap<&L, f64> = HashMap::new();
        for label in unit.iter().flatten() {
            *here.entry(label).or_default() += 1.0;
        }
        let m: f64 = here.values().sum();
        if m < 2.0 {
            continue;
        }
        let same: f64 = here.values().map(|c| c * c).sum();
        disagreeing += (m * m - same) / (m - 1.0);
        for (label, c) in here {
            *totals.entry(label).or_default() += c;
        }
    }
    let n: f64 = totals.values().sum();
    if n < 2.0 {
        return Err(Error::EmptyInput("pairable ratings"));
    }
    let expected_pairs = n * n - totals.values().map(|c| c * c).sum::<f64>();
    if expected_pairs <= 0.0 {
        return Err(Error::Undefined("every pairable rating is the same label"));
    }
    Ok(1.0 - (n - 1.0) * disagreeing / expected_pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn two_by_two(yy: usize, yn: usize, ny: usize, nn: usize) -> (Vec<bool>, Vec<bool>) {
        let mut a = Vec::new();
        let mut b = Vec::new();
        for (count, x, y) in [
            (yy, true, true),
            (yn, true, false),
            (ny, false, true),
            (nn, false, false),
        ] {
            a.extend(std::iter::repeat_n(x, count));
            b.extend(std::iter::repeat_n(y, count));
        }
        (a, b)
    }

    #[test]
    fn cohen_wikipedia_examples() {
        // 50 grant proposals: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> 0.4.
        let (a, b) = two_by_two(20, 5, 10, 15);
        assert!((cohen_kappa(&a, &b).unwrap() - 0.4).abs() < 1e-12);
        // Same 60% agreement, different kappas.
        let (a, b) = two_by_two(45, 15, 25, 15);
        assert!((cohen_kappa(&a, &b).unwrap() - 0.1304).abs() < 1e-4);
        let (a, b) = two_by_two(25, 35, 5, 35);
        assert!((cohen_kappa(&a, &b).unwrap() - 0.2593).abs() < 1e-4);
    }

    #[test]
    fn cohen_edge_cases() {
        assert_eq!(
            cohen_kappa(&["a", "b", "c"], &["a", "b", "c"]).unwrap(),
            1.0
        );
        assert!(cohen_kappa(&["a", "a"], &["a", "a"]).is_err());
        assert!(cohen_kappa::<&str>(&[], &[]).is_err());
        assert!(cohen_kappa(&["a"], &["a", "b"]).is_err());
    }

    #[test]
    fn fleiss_wikipedia_example() {
        // 10 items, 14 raters, 5 categories: kappa = 0.210.
        let counts = vec![
            vec![0, 0, 0, 0, 14],
            vec![0, 2, 6, 4, 2],
            vec![0, 0, 3, 5, 6],
            vec![0, 3, 9, 2, 0],
            vec![2, 2, 8, 1, 1],
            vec![7, 7, 0, 0, 0],
            vec![3, 2, 6, 3, 0],
            vec![2, 5, 3, 2, 2],
            vec![6, 5, 2, 1, 0],
            vec![0, 2, 2, 3, 7],
        ];
        assert!((fleiss_kappa(&counts).unwrap() - 0.210).abs() < 5e-4);
    }

    #[test]
    fn fleiss_rejects_bad_tables() {
        assert!(fleiss_kappa(&[]).is_err());
        assert!(fleiss_kappa(&[vec![1, 0]]).is_err());
        assert!(fleiss_kappa(&[vec![2, 0], vec![1, 0, 1]]).is_err());
        assert!(fleiss_kappa(&[vec![2, 0], vec![3, 0]]).is_err());
        assert!(fleiss_kappa(&[vec![2, 0], vec![2, 0]]).is_err());
    }

    #[test]
    fn krippendorff_textbook_example() {
        // Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 coders, 12 units,
        // nominal, with missing values -> alpha = 0.743.
        let by_coder: [[Option<u8>; 12]; 4] = [
            [
                Some(1),
                Some(2),
                Some(3),
                Some(3),
                Some(2),
                Some(1),
                Some(4),
                Some(1),
                Some(2),
                None,
                None,
                None,
            ],
            [
                Some(1),
                Some(2),
                Some(3),
                Some(3),
                Some(2),
                Some(2),
                Some(4),
                Some(1),
                Some(2),
                Some(5),
                None,
                Some(3),
            ],
            [
                None,
                Some(3),
                Some(3),
                Some(3),
                Some(2),
                Some(3),
                Some(4),
                Some(2),
                Some(2),
                Some(5),
                Some(1),
                None,
            ],
            [
                Some(1),
                Some(2),
                Some(3),
                Some(3),
                Some(2),
                Some(4),
                Some(4),
                Some(1),
                Some(2),
                Some(5),
                Some(1),
                None,
            ],
        ];
        let units: Vec<Vec<Option<u8>>> = (0..12)
            .map(|u| by_coder.iter().map(|c| c[u]).collect())
            .collect();
        assert!((krippendorff_alpha_nominal(&units).unwrap() - 0.743).abs() < 5e-4);
    }

    #[test]
    fn krippendorff_edge_cases() {
        let perfect = vec![vec![Some("a"), Some("a")], vec![Some("b"), Some("b"), None]];
        assert_eq!(krippendorff_alpha_nominal(&perfect).unwrap(), 1.0);
        assert!(krippendorff_alpha_nominal::<&str>(&[vec![Some("a")], vec![None]]).is_err());
        assert!(krippendorff_alpha_nominal(&[vec![Some(1), Some(1)]]).is_err());
    }

    proptest! {
        #[test]
        fn kappas_are_at_most_one(pairs in proptest::collection::vec((0u8..4, 0u8..4), 2..200)) {
            let (a, b): (Vec<u8>, Vec<u8>) = pairs.into_iter().unzip();
            if let Ok(k) = cohen_kappa(&a, &b) {
                prop_assert!((-1.0 - 1e-12..=1.0 + 1e-12).contains(&k));
                // Symmetric in the raters.
                prop_assert!((k - cohen_kappa(&b, &a).unwrap()).abs() < 1e-12);
            }
            let units: Vec<Vec<Option<u8>>> = a.iter().zip(&b).map(|(&x, &y)| vec![Some(x), Some(y)]).collect();
            if let Ok(alpha) = krippendorff_alpha_nominal(&units) {
                prop_assert!(alpha <= 1.0 + 1e-12);
            }
        }

        #[test]
        fn full_agreement_gives_one(labels in proptest::collection::vec(0u8..3, 2..50), raters in 2usize..6) {
            let distinct = labels.iter().collect::<std::collections::HashSet<_>>().len();
            let units: Vec<Vec<Option<u8>>> = labels.iter().map(|&l| vec![Some(l); raters]).collect();
            let counts: Vec<Vec<usize>> = labels.iter().map(|&l| (0..3).map(|c| if c == l { raters } else { 0 }).collect()).collect();
            if distinct > 1 {
                prop_assert!((krippendorff_alpha_nominal(&units).unwrap() - 1.0).abs() < 1e-12);
                prop_assert!((fleiss_kappa(&counts).unwrap() - 1.0).abs() < 1e-12);
                prop_assert!((cohen_kappa(&labels, &labels).unwrap() - 1.0).abs() < 1e-12);
            }
        }
    }
}
