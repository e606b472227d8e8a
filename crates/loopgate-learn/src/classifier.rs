//! The embedded triage model: multinomial logistic regression over signed hashed word and
//! character n-grams (see [`crate::features`]), learned online, one labelled text at a time,
//! with FTRL-Proximal (McMahan et al. 2013, "Ad Click Prediction: a View from the Trenches").
//!
//! Labels are strings; a label gets the next class index the first time it is seen, so the
//! class set grows as reviewers introduce new intents. A new class starts with zero weights.
//!
//! Memory: weights exist only for buckets that some training text has touched. A dense table of
//! `2^bits` `u32`s maps a bucket to its row; a row holds one `f32` FTRL state `z` per class, and
//! one `f32` squared-gradient sum `n` is shared by the row (a per-feature rather than a
//! per-coordinate learning rate, which halves memory at no measurable cost in accuracy). On
//! BANKING77 (10,003 texts, 77 classes, 2^18 buckets) that is about 57,000 rows and 19 MB.

use std::collections::HashMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::features::{Feature, Hasher};

/// Hyper-parameters of the classifier. [`ClassifierConfig::default`] is tuned on BANKING77.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassifierConfig {
    /// Hash space is `2^hash_bits` buckets; clamped into 18..=20.
    pub hash_bits: u8,
    /// FTRL `alpha`: the per-coordinate learning rate scale. Must be > 0.
    pub alpha: f32,
    /// FTRL `beta`: smooths the learning rate early on. Must be >= 0.
    pub beta: f32,
    /// L1 regularisation strength (sparsifies weights). Must be >= 0.
    pub l1: f32,
    /// L2 regularisation strength. Must be >= 0.
    pub l2: f32,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        Self {
            hash_bits: 18,
            alpha: 0.5,
            beta: 1.0,
            l1: 0.0,
            l2: 0.0,
        }
    }
}

impl ClassifierConfig {
    fn validate(&self) -> Result<(), Error> {
        let ok = |name: &'static str, v: f32, positive: bool| {
            if !v.is_finite() || v < 0.0 || (positive && v == 0.0) {
                Err(Error::InvalidParameter {
                    name,
                    reason: format!(
                        "{v} must be finite and {}",
                        if positive { "> 0" } else { ">= 0" }
                    ),
                })
            } else {
                Ok(())
            }
        };
        ok("alpha", self.alpha, true)?;
        ok("beta", self.beta, false)?;
        ok("l1", self.l1, false)?;
        ok("l2", self.l2, false)
    }
}

/// The most likely label of a text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The predicted label.
    pub label: String,
    /// Model probability of that label, in (0, 1]. Uncalibrated: see [`crate::calibration`].
    pub probability: f64,
}

/// What the model makes of a text, for novelty scoring ([`crate::novelty`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    /// Raw class scores (logits), indexed like [`Classifier::classes`].
    pub logits: Vec<f64>,
    /// Softmax of the logits; sums to 1 (empty when no class is known).
    pub probabilities: Vec<f64>,
    /// Number of hashed n-gram buckets in the text.
    pub features: usize,
    /// How many of them no training text ever touched.
    pub unseen_features: usize,
}

/// Online multinomial logistic regression over hashed n-grams. See the module docs.
#[derive(Debug, Clone)]
pub struct Classifier {
    config: ClassifierConfig,
    hasher: Hasher,
    labels: Vec<String>,
    label_index: HashMap<String, usize>,
    /// Row capacity in classes; >= labels.len(). Grows in steps to amortise re-layout.
    stride: usize,
    /// bucket -> row + 1 (0 = never seen).
    row_of: Vec<u32>,
    /// row -> bucket; the inverse of `row_of`, and what gets serialized.
    buckets: Vec<u32>,
    /// FTRL `z`, `rows * stride`.
    z: Vec<f32>,
    /// FTRL `n` (sum of squared gradients), one per row.
    n: Vec<f32>,
    /// Bias terms: `z` and `n` per class (length `stride`).
    bias_z: Vec<f32>,
    bias_n: Vec<f32>,
    updates: u64,
    ema: Vec<f32>,
    nc: Vec<f32>,
    last: Vec<u64>,
    bias_ema: Vec<f32>,
}

const STRIDE_STEP: usize = 8;

impl Classifier {
    /// An empty model with no classes. Fails on a non-finite or negative hyper-parameter.
    pub fn new(config: ClassifierConfig) -> Result<Self, Error> {
        config.validate()?;
        let hasher = Hasher::new(config.hash_bits);
        Ok(Self {
            config: ClassifierConfig {
                hash_bits: hasher.bits(),
                ..config
            },
            hasher,
            labels: Vec::new(),
            label_index: HashMap::new(),
            stride: 0,
            row_of: vec![0; hasher.buckets()],
            buckets: Vec::new(),
            z: Vec::new(),
            n: Vec::new(),
            bias_z: Vec::new(),
            bias_n: Vec::new(),
            updates: 0,
            ema: Vec::new(),
            nc: Vec::new(),
            last: Vec::new(),
            bias_ema: Vec::new(),
        })
    }

    /// The configuration in force (with `hash_bits` after clamping).
    pub fn config(&self) -> &ClassifierConfig {
        &self.config
    }

    /// Known labels in class-index order (the order they were first learned).
    pub fn classes(&self) -> &[String] {
        &self.labels
    }

    /// Number of `learn` calls so far.
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// Number of hash buckets that have a weight row.
    pub fn rows(&self) -> usize {
        self.buckets.len()
    }

    /// Approximate heap size of the model in bytes (weights, bucket table, labels).
    pub fn memory_bytes(&self) -> usize {
        let f32s =
            self.z.capacity() + self.n.capacity() + self.bias_z.capacity() + self.bias_n.capacity();
        let u32s = self.row_of.capacity() + self.buckets.capacity();
        let labels: usize = self.labels.iter().map(|l| 2 * l.capacity() + 48).sum();
        4 * (f32s + u32s) + labels
    }

    /// One online FTRL-Proximal step on a labelled text. A new `label` becomes a new class.
    /// A text with no letters or digits still trains the class biases.
    pub fn learn(&mut self, text: &str, label: &str) {
        let class = self.class_or_insert(label);
        let features = self.hasher.features(text);
        let rows: Vec<(usize, f32)> = features
            .iter()
            .map(|f| (self.row_or_insert(f.bucket), f.value))
            .collect();
        self.step(&rows, class);
    }

    /// Several shuffled passes over `examples` (`(text, label)` pairs), in an order fixed by
    /// `seed`. Equivalent to calling [`Classifier::learn`] on each example `passes` times.
    pub fn fit<T: AsRef<str>, L: AsRef<str>>(
        &mut self,
        examples: &[(T, L)],
        passes: usize,
        seed: u64,
    ) {
        // Hash once: the features of a text do not change between passes.
        let prepared: Vec<(Vec<(usize, f32)>, usize)> = examples
            .iter()
            .map(|(text, label)| {
                let class = self.class_or_insert(label.as_ref());
                let features = self.hasher.features(text.as_ref());
                let rows = features
                    .iter()
                    .map(|f| (self.row_or_insert(f.bucket), f.value))
                    .collect();
                (rows, class)
            })
            .collect();
        let mut order: Vec<usize> = (0..prepared.len()).collect();
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
        for _ in 0..passes {
            order.shuffle(&mut rng);
            for &i in &order {
                let (rows, class) = &prepared[i];
                self.step(rows, *class);
            }
        }
    }

    /// The most likely label and its probability; `None` before the first `learn`.
    pub fn predict(&self, text: &str) -> Option<Prediction> {
        let scores = self.scores(text);
        let (best, &p) = scores
            .probabilities
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))?;
        Some(Prediction {
            label: self.labels[best].clone(),
            probability: p,
        })
    }

    /// The `k` most likely labels with their probabilities, most likely first. Shorter than `k`
    /// when fewer classes are known; empty before the first `learn` or for `k = 0`.
    pub fn top_k(&self, text: &str, k: usize) -> Vec<(String, f64)> {
        let scores = self.scores(text);
        let mut ranked: Vec<(usize, f64)> = scores.probabilities.into_iter().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked
            .into_iter()
            .take(k)
            .map(|(c, p)| (self.labels[c].clone(), p))
            .collect()
    }

    /// Logits, probabilities and feature coverage of `text`.
    pub fn scores(&self, text: &str) -> Scores {
        let features = self.hasher.features(text);
        let mut rows = Vec::with_capacity(features.len());
        let mut unseen = 0;
        for Feature { bucket, value } in &features {
            match self.row_of[*bucket as usize] {
                0 => unseen += 1,
                r => rows.push((r as usize - 1, *value)),
            }
        }
        let k = self.labels.len();
        let mut logits = vec![0f32; k];
        if hl() > 0.0 {
            self.forward_ema(&rows, &mut logits);
        } else {
            self.forward(&rows, &mut logits, None);
        }
        let logits: Vec<f64> = logits.into_iter().map(f64::from).collect();
        let probabilities = softmax(&logits);
        Scores {
            logits,
            probabilities,
            features: features.len(),
            unseen_features: unseen,
        }
    }

    fn class_or_insert(&mut self, label: &str) -> usize {
        if let Some(&c) = self.label_index.get(label) {
            return c;
        }
        let c = self.labels.len();
        if c == self.stride {
            self.grow_stride(self.stride + STRIDE_STEP);
        }
        self.labels.push(label.to_owned());
        self.label_index.insert(label.to_owned(), c);
        c
    }

    fn grow_stride(&mut self, new_stride: usize) {
        let rows = self.buckets.len();
        let mut z = vec![0f32; rows * new_stride];
        for r in 0..rows {
            z[r * new_stride..r * new_stride + self.stride]
                .copy_from_slice(&self.z[r * self.stride..(r + 1) * self.stride]);
        }
        self.z = z;
        let mut e = vec![0f32; rows * new_stride];
        for r in 0..rows {
            e[r * new_stride..r * new_stride + self.stride]
                .copy_from_slice(&self.ema[r * self.stride..(r + 1) * self.stride]);
        }
        self.ema = e;
        let mut e = vec![0f32; rows * new_stride];
        for r in 0..rows {
            e[r * new_stride..r * new_stride + self.stride]
                .copy_from_slice(&self.nc[r * self.stride..(r + 1) * self.stride]);
        }
        self.nc = e;
        self.bias_ema.resize(new_stride, 0.0);
        self.bias_z.resize(new_stride, 0.0);
        self.bias_n.resize(new_stride, 0.0);
        self.stride = new_stride;
    }

    fn row_or_insert(&mut self, bucket: u32) -> usize {
        let slot = &mut self.row_of[bucket as usize];
        if *slot == 0 {
            self.buckets.push(bucket);
            self.z.resize(self.z.len() + self.stride, 0.0);
            self.n.push(0.0);
            self.ema.resize(self.ema.len() + self.stride, 0.0);
            self.nc.resize(self.nc.len() + self.stride, 0.0);
            self.last.push(self.updates);
            *slot = self.buckets.len() as u32;
        }
        *slot as usize - 1
    }

    /// Adds `sum_i x_i w_i` to `logits`; optionally records the weights used, row-major.
    fn forward(&self, rows: &[(usize, f32)], logits: &mut [f32], mut used: Option<&mut Vec<f32>>) {
        let k = logits.len();
        let ClassifierConfig {
            alpha,
            beta,
            l1,
            l2,
            ..
        } = self.config;
        for c in 0..k {
            logits[c] = ftrl_weight(
                self.bias_z[c],
                l1_free(),
                inv_rate(alpha, beta, l2, self.bias_n[c]),
            );
        }
        for &(r, x) in rows {
            let inv = inv_rate(alpha, beta, l2, self.n[r]);
            let zrow = &self.z[r * self.stride..r * self.stride + k];
            if pc() {
                let ncrow = &self.nc[r * self.stride..r * self.stride + k];
                for (c, &z) in zrow.iter().enumerate() {
                    let w = ftrl_weight(z, l1, inv_rate(alpha, beta, l2, ncrow[c]));
                    if let Some(buf) = used.as_deref_mut() {
                        buf.push(w);
                    }
                    logits[c] += x * w;
                }
                continue;
            }
            match used.as_deref_mut() {
                Some(buf) => {
                    for (c, &z) in zrow.iter().enumerate() {
                        let w = ftrl_weight(z, l1, inv);
                        buf.push(w);
                        logits[c] += x * w;
                    }
                }
                None => {
                    for (logit, &z) in logits.iter_mut().zip(zrow) {
                        *logit += x * ftrl_weight(z, l1, inv);
                    }
                }
            }
        }
    }

    fn forward_ema(&self, rows: &[(usize, f32)], logits: &mut [f32]) {
        let k = logits.len();
        let d = decay();
        let t = self.updates;
        let corr = 1.0 / (1.0 - d.powf(t as f32));
        let ClassifierConfig {
            alpha,
            beta,
            l1,
            l2,
            ..
        } = self.config;
        for c in 0..k {
            // bias ema updated every step, so no lag
            logits[c] = self.bias_ema[c] * corr;
        }
        for &(r, x) in rows {
            let inv = inv_rate(alpha, beta, l2, self.n[r]);
            let lag = d.powf((t - self.last[r]) as f32);
            let zrow = &self.z[r * self.stride..r * self.stride + k];
            let erow = &self.ema[r * self.stride..r * self.stride + k];
            let ncrow = &self.nc[r * self.stride..r * self.stride + k];
            for (((logit, &z), &e), &nn) in logits.iter_mut().zip(zrow).zip(erow).zip(ncrow) {
                let w = if pc() {
                    ftrl_weight(z, l1, inv_rate(alpha, beta, l2, nn))
                } else {
                    ftrl_weight(z, l1, inv)
                };
                *logit += x * (e * lag + w * (1.0 - lag)) * corr;
            }
        }
    }

    fn step(&mut self, rows: &[(usize, f32)], class: usize) {
        let k = self.labels.len();
        let mut logits = vec![0f32; k];
        let mut used = Vec::with_capacity(rows.len() * k);
        self.forward(rows, &mut logits, Some(&mut used));
        let p = softmax_f32(&logits);
        // Gradient of the log-loss in the logits: p - onehot(class).
        let mut g = p;
        g[class] -= 1.0;
        let g2: f32 = g.iter().map(|v| v * v).sum();
        let ClassifierConfig { alpha, .. } = self.config;

        for (c, &gc) in g.iter().enumerate() {
            let n_old = self.bias_n[c];
            let n_new = n_old + gc * gc;
            let sigma = (n_new.sqrt() - n_old.sqrt()) / alpha;
            let w = ftrl_weight(
                self.bias_z[c],
                0.0,
                inv_rate(alpha, self.config.beta, self.config.l2, n_old),
            );
            self.bias_z[c] += gc - sigma * w;
            self.bias_n[c] = n_new;
        }
        let d = decay();
        let t = self.updates;
        for (j, &(r, x)) in rows.iter().enumerate() {
            let n_old = self.n[r];
            let n_new = n_old + x * x * g2;
            let sigma = (n_new.sqrt() - n_old.sqrt()) / alpha;
            let wrow = &used[j * k..(j + 1) * k];
            let lag = d.powf((t - self.last[r]) as f32);
            let erow = &mut self.ema[r * self.stride..r * self.stride + k];
            for (e, &w) in erow.iter_mut().zip(wrow) {
                *e = *e * lag + w * (1.0 - lag);
            }
            self.last[r] = t;
            let zrow = &mut self.z[r * self.stride..r * self.stride + k];
            if pc() {
                let ncrow = &mut self.nc[r * self.stride..r * self.stride + k];
                for (((z, &w), &gc), nn) in zrow.iter_mut().zip(wrow).zip(&g).zip(ncrow.iter_mut())
                {
                    let gg = x * gc;
                    let s = ((*nn + gg * gg).sqrt() - nn.sqrt()) / alpha;
                    *z += gg - s * w;
                    *nn += gg * gg;
                }
            } else {
                for ((z, &w), &gc) in zrow.iter_mut().zip(wrow).zip(&g) {
                    *z += x * gc - sigma * w;
                }
            }
            self.n[r] = n_new;
        }
        self.updates += 1;
        // bias ema after update with new weights, time now t+1: advance ema one step
        for c in 0..k {
            let w = ftrl_weight(
                self.bias_z[c],
                0.0,
                inv_rate(alpha, self.config.beta, self.config.l2, self.bias_n[c]),
            );
            self.bias_ema[c] = self.bias_ema[c] * d + w * (1.0 - d);
        }
    }
}

fn pc() -> bool {
    std::env::var("PC").is_ok()
}
fn hl() -> f32 {
    std::env::var("HL")
        .ok()
        .map(|v| v.parse().unwrap())
        .unwrap_or(0.0)
}
fn decay() -> f32 {
    if hl() > 0.0 {
        0.5f32.powf(1.0 / hl())
    } else {
        0.5
    }
}
const fn l1_free() -> f32 {
    0.0
}

/// `1 / ((beta + sqrt(n)) / alpha + l2)`: the inverse of FTRL's per-feature step denominator.
#[inline]
fn inv_rate(alpha: f32, beta: f32, l2: f32, n: f32) -> f32 {
    1.0 / ((beta + n.sqrt()) / alpha + l2)
}

/// FTRL-Proximal closed-form weight: zero while `|z| <= l1`, else shrunk towards zero by `l1`.
#[inline]
fn ftrl_weight(z: f32, l1: f32, inv: f32) -> f32 {
    // Branch-free soft threshold so the inner loop vectorises.
    -(z - z.clamp(-l1, l1)) * inv
}

fn softmax(logits: &[f64]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = logits.iter().map(|&l| (l - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

fn softmax_f32(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut exps: Vec<f32> = logits.iter().map(|&l| (l - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    for e in &mut exps {
        *e /= sum;
    }
    exps
}
