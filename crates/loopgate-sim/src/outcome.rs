//! What happened to each item of a simulated stream, and the figures a policy is judged by.

use serde::Serialize;

/// One item's fate under one policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fate {
    /// Delivered without a person.
    pub automated: bool,
    /// The delivered label was the true one.
    pub correct: bool,
}

/// Reviews a policy spent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Reviews {
    /// First reviews of queued items.
    pub first: usize,
    /// Second (and third) opinions.
    pub second: usize,
    /// Reviews of audited auto-approved items (first and second opinions).
    pub audit: usize,
}

impl Reviews {
    /// All reviews.
    pub fn total(&self) -> usize {
        self.first + self.second + self.audit
    }
}

/// When the kill switch first tripped after drift began.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TripDelay {
    /// Items from the start of drift to the trip.
    pub items: usize,
    /// Audited items from the start of drift to the trip.
    pub audited: usize,
}

/// A point of the chart: rates over the window of items ending at `item`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    /// Items seen.
    pub item: usize,
    /// Share automated in the window.
    pub automation: f64,
    /// Share delivered wrong in the window.
    pub error: f64,
}

/// The figures of one policy over one stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyResult {
    /// Short name.
    pub name: String,
    /// What the policy does.
    pub description: String,
    /// Share of items delivered with their true label.
    pub delivered_accuracy: f64,
    /// Share of items delivered without a person.
    pub automation: f64,
    /// The same, over the last quarter of the stream.
    pub automation_last_quarter: f64,
    /// Items delivered without a person.
    pub auto_handled: usize,
    /// Of those, delivered wrong.
    pub escapes: usize,
    /// `escapes / auto_handled`; `None` when nothing was automated.
    pub escape_rate: Option<f64>,
    /// One-sided Clopper–Pearson upper bound on the escape rate (at the run's confidence in
    /// `loopgate simulate`).
    pub escape_upper: Option<f64>,
    /// Reviews spent.
    pub reviews: Reviews,
    /// Index (from 1) of the first automated item.
    pub items_until_automation: Option<usize>,
    /// Kill switch trips of the whole policy.
    pub kill_switch_trips: usize,
    /// Kill switch trips of single intents.
    pub intent_kill_switch_trips: usize,
    /// Delay from drift to the first trip.
    pub first_trip_after_drift: Option<TripDelay>,
    /// Share of items the policy's own model proposed the true label for (loop policies only:
    /// each loop's model learns from the labels its own reviewers gave).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposal_accuracy: Option<f64>,
    /// Wall-clock seconds per 1,000 items.
    pub seconds_per_1000: f64,
    /// Rolling automation and error over the stream.
    pub series: Vec<Point>,
}

/// Items per chart window.
pub const WINDOW: usize = 500;
/// Items between chart points.
pub const STEP: usize = 100;

/// Summarises fates into a result; the caller fills in what fates cannot tell.
pub fn summarise(
    name: &str,
    description: &str,
    fates: &[Fate],
    upper: impl Fn(usize, usize) -> f64,
) -> PolicyResult {
    let n = fates.len().max(1);
    let auto_handled = fates.iter().filter(|f| f.automated).count();
    let escapes = fates.iter().filter(|f| f.automated && !f.correct).count();
    let quarter = &fates[fates.len() - fates.len() / 4..];
    let series = (STEP..=fates.len())
        .step_by(STEP)
        .map(|end| {
            let window = &fates[end.saturating_sub(WINDOW)..end];
            let w = window.len() as f64;
            Point {
                item: end,
                automation: window.iter().filter(|f| f.automated).count() as f64 / w,
                error: window.iter().filter(|f| !f.correct).count() as f64 / w,
            }
        })
        .collect();
    PolicyResult {
        name: name.to_owned(),
        description: description.to_owned(),
        delivered_accuracy: fates.iter().filter(|f| f.correct).count() as f64 / n as f64,
        automation: auto_handled as f64 / n as f64,
        automation_last_quarter: quarter.iter().filter(|f| f.automated).count() as f64
            / quarter.len().max(1) as f64,
        auto_handled,
        escapes,
        escape_rate: (auto_handled > 0).then(|| escapes as f64 / auto_handled as f64),
        escape_upper: (auto_handled > 0).then(|| upper(escapes, auto_handled)),
        reviews: Reviews::default(),
        items_until_automation: fates.iter().position(|f| f.automated).map(|i| i + 1),
        kill_switch_trips: 0,
        intent_kill_switch_trips: 0,
        first_trip_after_drift: None,
        proposal_accuracy: None,
        seconds_per_1000: 0.0,
        series,
    }
}
