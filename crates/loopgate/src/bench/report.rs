//! What a bench run reports: one row per measured step (throughput and latency percentiles from
//! an HDR histogram), printed as a Markdown table and written as JSON.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latencies are recorded in microseconds, from 1 µs to 10 minutes, with 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("the bounds are valid")
}

/// Records `elapsed` into `h`, in microseconds (values past the top are clamped to it).
pub fn record(h: &mut Histogram<u64>, elapsed: Duration) {
    let us = u64::try_from(elapsed.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, h.high());
    h.record(us).expect("clamped into range");
}

/// One measured step.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The scenario, e.g. `single submits`.
    pub scenario: String,
    /// What varied, e.g. `32 agents`.
    pub setting: String,
    /// What `count` and `rate` count, e.g. `items` or `round trips`.
    pub unit: String,
    /// Completed operations.
    pub count: u64,
    /// Wall-clock seconds the step took.
    pub seconds: f64,
    /// Operations per second over the step.
    pub rate: f64,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: f64,
    /// 99.9th percentile latency, milliseconds.
    pub p999_ms: f64,
    /// Largest latency, milliseconds.
    pub max_ms: f64,
    /// Requests that failed (transport error or an unexpected status).
    pub errors: u64,
    /// Server resident memory after the step, MiB (the sum over `--server-pid`), when known.
    pub rss_mib: Option<f64>,
    /// Server CPU time (user + system, all threads, summed over `--server-pid`) per operation
    /// of the step, microseconds, when known. Unlike throughput, it hardly moves when other
    /// programs compete for the machine's cores.
    pub server_cpu_us_per_op: Option<f64>,
    /// Anything else worth saying about the step.
    pub note: String,
}

impl Row {
    /// A row from a latency histogram (microseconds) and a count over `elapsed`.
    pub fn new(
        scenario: impl Into<String>,
        setting: impl Into<String>,
        unit: impl Into<String>,
        count: u64,
        elapsed: Duration,
        latencies: &Histogram<u64>,
    ) -> Self {
        let ms = |q: f64| {
            if latencies.is_empty() {
                0.0
            } else {
                latencies.value_at_quantile(q) as f64 / 1000.0
            }
        };
        let seconds = elapsed.as_secs_f64();
        Self {
            scenario: scenario.into(),
            setting: setting.into(),
            unit: unit.into(),
            count,
            seconds,
            rate: if seconds > 0.0 {
                count as f64 / seconds
            } else {
                0.0
            },
            p50_ms: ms(0.5),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: latencies.max() as f64 / 1000.0,
            errors: 0,
            rss_mib: None,
            server_cpu_us_per_op: None,
            note: String::new(),
        }
    }

    /// With `errors` failed requests.
    pub fn errors(mut self, errors: u64) -> Self {
        self.errors = errors;
        self
    }

    /// With the server's memory.
    pub fn rss(mut self, rss_mib: Option<f64>) -> Self {
        self.rss_mib = rss_mib;
        self
    }

    /// With the server CPU seconds the step used (from two readings), spread over its count.
    pub fn cpu(mut self, before: Option<f64>, after: Option<f64>) -> Self {
        if let (Some(b), Some(a)) = (before, after)
            && self.count > 0
        {
            self.server_cpu_us_per_op = Some((a - b).max(0.0) * 1e6 / self.count as f64);
        }
        self
    }

    /// With a note.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = note.into();
        self
    }
}

/// A whole run.
#[derive(Debug, Serialize)]
pub struct Report {
    /// A name for the run (`--label`).
    pub label: String,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// The servers driven.
    pub urls: Vec<String>,
    /// The settings the run used.
    pub settings: serde_json::Value,
    /// One row per measured step, in the order measured.
    pub rows: Vec<Row>,
}

impl Report {
    /// The rows as a Markdown table.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "### {} ({})\n\n| scenario | setting | count | rate /s | p50 ms | p99 ms | p99.9 ms | max ms | errors | RSS MiB | server CPU µs/op | note |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
            self.label,
            self.urls.join(", ")
        );
        for r in &self.rows {
            out.push_str(&format!(
                "| {} | {} | {} {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} |\n",
                r.scenario,
                r.setting,
                r.count,
                r.unit,
                r.rate,
                r.p50_ms,
                r.p99_ms,
                r.p999_ms,
                r.max_ms,
                r.errors,
                r.rss_mib.map_or("".to_owned(), |m| format!("{m:.0}")),
                r.server_cpu_us_per_op
                    .map_or("".to_owned(), |c| format!("{c:.0}")),
                r.note
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_percentiles_in_milliseconds() {
        let mut h = histogram();
        for ms in 1..=1000u64 {
            record(&mut h, Duration::from_millis(ms));
        }
        let row = Row::new("s", "x", "requests", 1000, Duration::from_secs(2), &h)
            .cpu(Some(1.0), Some(1.5));
        assert_eq!(row.rate, 500.0);
        assert_eq!(row.server_cpu_us_per_op, Some(500.0));
        assert!((row.p50_ms - 500.0).abs() < 1.0, "{}", row.p50_ms);
        assert!((row.p99_ms - 990.0).abs() < 2.0, "{}", row.p99_ms);
        let report = Report {
            label: "t".into(),
            started_at: String::new(),
            urls: vec!["http://127.0.0.1:1".into()],
            settings: serde_json::json!({}),
            rows: vec![row],
        };
        let md = report.markdown();
        assert!(md.contains("| s | x | 1000 requests | 500 |"), "{md}");
    }

    #[test]
    fn an_empty_histogram_gives_zeros() {
        let row = Row::new("s", "x", "requests", 0, Duration::ZERO, &histogram());
        assert_eq!((row.rate, row.p99_ms), (0.0, 0.0));
    }
}
