//! The policies Loopgate is compared with, evaluated on the same proposals and confidences as
//! the closed loop, so that they differ from it only by their decision rule: the AI alone, fixed
//! confidence thresholds, and the oracle — the best fixed threshold chosen in hindsight on the
//! true labels.

use crate::engine::Step;
use crate::outcome::Fate;

/// Every item delivered as the AI proposed it.
pub fn ai_only(steps: &[Step]) -> Vec<Fate> {
    steps
        .iter()
        .map(|s| Fate {
            automated: true,
            correct: s.proposal_correct,
        })
        .collect()
}

/// Items with raw confidence `>= threshold` delivered as proposed; the rest labelled by one
/// reviewer.
pub fn fixed(steps: &[Step], threshold: f64) -> Vec<Fate> {
    steps
        .iter()
        .map(|s| {
            if s.confidence >= threshold {
                Fate {
                    automated: true,
                    correct: s.proposal_correct,
                }
            } else {
                Fate {
                    automated: false,
                    correct: s.first_review_correct,
                }
            }
        })
        .collect()
}

/// The loosest fixed threshold whose escape rate over `steps`, judged on the true labels, is at
/// most `alpha`; `None` when even the single most confident item is wrong.
pub fn oracle_threshold(steps: &[Step], alpha: f64) -> Option<f64> {
    let mut by_confidence: Vec<&Step> = steps.iter().collect();
    by_confidence.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    let mut best = None;
    let mut errors = 0usize;
    let mut i = 0;
    while i < by_confidence.len() {
        // Items with equal confidence are on the same side of any threshold.
        let c = by_confidence[i].confidence;
        while i < by_confidence.len() && by_confidence[i].confidence == c {
            errors += usize::from(!by_confidence[i].proposal_correct);
            i += 1;
        }
        if errors as f64 <= alpha * i as f64 {
            best = Some(c);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(confidence: f64, proposal_correct: bool) -> Step {
        Step {
            proposal: String::new(),
            confidence,
            proposal_correct,
            first_review_correct: true,
        }
    }

    #[test]
    fn the_oracle_takes_the_loosest_threshold_within_alpha() {
        // 0.9..0.1: one error at 0.5 among the top five.
        let steps: Vec<Step> = (1..=9)
            .rev()
            .map(|k| step(f64::from(k) / 10.0, k != 5))
            .collect();
        assert_eq!(oracle_threshold(&steps, 0.0), Some(0.6));
        assert_eq!(oracle_threshold(&steps, 0.1), Some(0.6));
        assert_eq!(oracle_threshold(&steps, 0.12), Some(0.1));
        assert_eq!(oracle_threshold(&[step(0.9, false)], 0.0), None);
    }

    #[test]
    fn fixed_thresholds_send_the_rest_to_a_reviewer() {
        let steps = vec![step(0.95, false), step(0.5, false)];
        let fates = fixed(&steps, 0.9);
        assert!(fates[0].automated && !fates[0].correct);
        assert!(!fates[1].automated && fates[1].correct);
        assert!(ai_only(&steps).iter().all(|f| f.automated));
    }
}
