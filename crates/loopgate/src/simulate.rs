//! `loopgate simulate`: reads labelled CSV files, runs the closed-loop simulation, writes the
//! report (`report.json`, `report.md`, `chart.svg`).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use loopgate_sim::{Config, Drift, Ticket};

/// The ticket stream and the loop's settings, shared by `loopgate simulate` and
/// `loopgate scenario`.
#[derive(Debug, Args)]
pub struct LoopArgs {
    /// CSV files with a header and columns `text,label` (a second column named `category` is
    /// accepted too). Repeat to stream several files as one.
    #[arg(long = "data", required = true)]
    pub data: Vec<PathBuf>,
    /// Target escape rate among auto-approved items.
    #[arg(long, default_value_t = 0.01)]
    pub target_escape: f64,
    /// Confidence of the guarantee (1 - delta).
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
    /// Probability a simulated reviewer is right.
    #[arg(long, default_value_t = 0.98)]
    pub reviewer_accuracy: f64,
    /// Share of auto-approved items audited.
    #[arg(long, default_value_t = 0.05)]
    pub audit_rate: f64,
    /// Seed of the shuffle and the simulated people.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Items between refits of calibration and thresholds.
    #[arg(long, default_value_t = 500)]
    pub refit_every: usize,
}

impl LoopArgs {
    /// Every ticket of every `--data` file, in order.
    pub fn tickets(&self) -> anyhow::Result<Vec<Ticket>> {
        let mut tickets = Vec::new();
        for path in &self.data {
            tickets.extend(read_csv(path)?);
        }
        Ok(tickets)
    }

    /// The simulator's configuration with these settings (and defaults for the rest).
    pub fn config(&self) -> Config {
        Config {
            target_escape: self.target_escape,
            confidence: self.confidence,
            reviewer_accuracy: self.reviewer_accuracy,
            audit_rate: self.audit_rate,
            seed: self.seed,
            refit_every: self.refit_every,
            ..Config::default()
        }
    }
}

/// Which Loopgate variants `loopgate simulate` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SecondOpinion {
    /// With second opinions only (the `loopgate` row).
    On,
    /// With single reviews only (the `loopgate-single-review` row).
    Off,
    /// Both, side by side on the same stream.
    Both,
}

/// Options of `loopgate simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub settings: LoopArgs,
    /// First item (0-based) whose proposals drift.
    #[arg(long)]
    pub drift_at: Option<usize>,
    /// Extra share of items the AI gets wrong from --drift-at on (each right proposal is made
    /// wrong with probability E over the share the model got right over the last 1,000 items).
    #[arg(long, default_value_t = 0.2)]
    pub drift_error: f64,
    /// Second opinions: when a reviewer disagrees with the model, a second reviewer decides.
    /// Run Loopgate with them (on), without (off), or both side by side, to report delivered
    /// accuracy and reviews spent with and without.
    #[arg(long, value_enum, default_value_t = SecondOpinion::Both)]
    pub second_opinion: SecondOpinion,
    /// Ask for a second opinion only when the model's raw confidence is at least this.
    #[arg(long, default_value_t = 0.0)]
    pub second_opinion_min_confidence: f64,
    /// Runs this many seeds (from --seed on) and writes a summary of each Loopgate variant
    /// against the oracle (seeds.md, seeds.json) instead of one full report.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub seeds: u64,
    /// Directory for report.json, report.md and chart.svg.
    #[arg(long, default_value = "simulation-report")]
    pub report: PathBuf,
}

/// Runs the simulation and writes its report; prints the Markdown table.
pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let tickets = args.settings.tickets()?;
    let config = Config {
        drift: args.drift_at.map(|at| Drift {
            at,
            error: args.drift_error,
        }),
        second_opinion: args.second_opinion != SecondOpinion::Off,
        compare_single_review: args.second_opinion != SecondOpinion::On,
        second_opinion_min_confidence: args.second_opinion_min_confidence,
        ..args.settings.config()
    };
    // Refuse bad settings before anything is written.
    config.validate()?;
    std::fs::create_dir_all(&args.report)
        .with_context(|| format!("cannot create {}", args.report.display()))?;
    if args.seeds > 1 {
        let mut reports = Vec::new();
        for seed in args.settings.seed..args.settings.seed + args.seeds {
            let report = loopgate_sim::simulate(
                &tickets,
                &Config {
                    seed,
                    ..config.clone()
                },
            )?;
            eprintln!("seed {seed} done");
            reports.push(report);
        }
        let summary = loopgate_sim::render::seeds(&reports);
        write(
            &args.report.join("seeds.json"),
            &serde_json::to_string_pretty(&reports)?,
        )?;
        write(&args.report.join("seeds.md"), &summary)?;
        println!("{summary}");
        return Ok(());
    }
    let report = loopgate_sim::simulate(&tickets, &config)?;
    let markdown = loopgate_sim::render::markdown(&report);
    write(
        &args.report.join("report.json"),
        &serde_json::to_string_pretty(&report)?,
    )?;
    write(&args.report.join("report.md"), &markdown)?;
    write(
        &args.report.join("chart.svg"),
        &loopgate_sim::render::svg(&report),
    )?;
    println!("{markdown}");
    eprintln!("report written to {}", args.report.display());
    Ok(())
}

fn write(path: &Path, contents: &str) -> anyhow::Result<()> {
    std::fs::write(path, contents).with_context(|| format!("cannot write {}", path.display()))
}

pub(crate) fn read_csv(path: &Path) -> anyhow::Result<Vec<Ticket>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    let headers = reader.headers()?.clone();
    let column = |names: &[&str]| headers.iter().position(|h| names.contains(&h.trim()));
    let (Some(text), Some(label)) = (column(&["text"]), column(&["label", "category"])) else {
        bail!(
            "{}: the header must name a `text` and a `label` (or `category`) column, found {:?}",
            path.display(),
            headers.iter().collect::<Vec<_>>()
        );
    };
    let mut tickets = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{}: record {}", path.display(), i + 1))?;
        let (Some(t), Some(l)) = (record.get(text), record.get(label)) else {
            bail!("{}: record {} has too few columns", path.display(), i + 1);
        };
        tickets.push(Ticket {
            text: t.to_owned(),
            label: l.to_owned(),
        });
    }
    if tickets.is_empty() {
        bail!("{}: no records", path.display());
    }
    Ok(tickets)
}
