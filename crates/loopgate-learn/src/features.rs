//! Text → signed hashed feature vector, the input of the [`crate::classifier`].
//!
//! A text is lowercased and cut into words (runs of letters and digits; apostrophes are
//! dropped so "hasn't" and "hasnt" agree). From the words come word 1-grams and 2-grams and,
//! from the words joined by single spaces with a space at each end, character 3- to 5-grams
//! (the spaces mark word boundaries, so " card" differs from "card" inside "discard").
//!
//! Each n-gram is hashed into one of `2^bits` buckets with a sign taken from another bit of the
//! same hash (Weinberger et al. 2009), so collisions cancel out in expectation instead of
//! piling up. Repeated n-grams add up, then the vector is scaled to unit Euclidean length so
//! long and short texts speak with the same loudness.
//!
//! The hash is hand-written (FNV-1a with a murmur3 finaliser) rather than taken from a crate:
//! a serialized model is only meaningful while every n-gram lands in the same bucket, so the
//! function must never change with a dependency bump.

/// One non-zero entry of a hashed feature vector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Feature {
    /// Bucket index in `0..2^bits`.
    pub bucket: u32,
    /// Signed value; over a whole vector the values have unit Euclidean norm.
    pub value: f32,
}

/// Hashing settings shared by training and prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hasher {
    bits: u8,
}

/// Smallest allowed number of hash bits (2^18 = 262,144 buckets).
pub const MIN_BITS: u8 = 18;
/// Largest allowed number of hash bits (2^20 = 1,048,576 buckets).
pub const MAX_BITS: u8 = 20;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
// Different n-gram kinds start from different states so that the word "abc" and the
// character trigram "abc" do not share a bucket by construction.
const SEED_WORD: u64 = FNV_OFFSET ^ 0x57;
const SEED_BIGRAM: u64 = FNV_OFFSET ^ 0x42;
const SEED_CHAR: u64 = FNV_OFFSET ^ 0x43;

/// Character n-gram lengths, in characters.
const CHAR_MIN: usize = 3;
const CHAR_MAX: usize = 5;

impl Hasher {
    /// A hasher with `2^bits` buckets; `bits` is clamped into [`MIN_BITS`]`..=`[`MAX_BITS`].
    pub fn new(bits: u8) -> Self {
        Self {
            bits: bits.clamp(MIN_BITS, MAX_BITS),
        }
    }

    /// Number of hash bits.
    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// Number of buckets, `2^bits`.
    pub fn buckets(&self) -> usize {
        1usize << self.bits
    }

    /// The feature vector of `text`, sorted by bucket with one entry per bucket. Empty when the
    /// text has no letters or digits. Entries whose colliding n-grams cancelled out are dropped.
    pub fn features(&self, text: &str) -> Vec<Feature> {
        let mut raw: Vec<(u32, f32)> = Vec::with_capacity(text.len() * 4);
        let words = words(text);
        let mask = (1u64 << self.bits) - 1;

        let env = |k: &str, d: f32| {
            std::env::var(k)
                .ok()
                .map(|v| v.parse::<f32>().unwrap())
                .unwrap_or(d)
        };
        let ww = env("WW", 1.0);
        let cmin = env("CMIN", 3.0) as usize;
        let cmax = env("CMAX", 5.0) as usize;
        let perword = env("PERWORD", 0.0) > 0.0;
        let tri = env("TRI", 0.0) > 0.0;
        let cw = env("CW", 1.0);
        let mut push = |h: u64, wt: f32| {
            let h = fmix64(h);
            let sign = if h >> 63 == 0 { wt } else { -wt };
            raw.push(((h & mask) as u32, sign));
        };
        let skip = env("SKIP", 0.0) as usize;
        let sw = env("SW", 1.0);
        let bos = env("BOS", 0.0) > 0.0;
        if bos {
            if let Some(f) = words.first() {
                push(fnv(fnv(SEED_WORD ^ 99, b"<s>"), f.as_bytes()), ww);
            }
            if let Some(f) = words.last() {
                push(fnv(fnv(SEED_WORD ^ 98, b"</s>"), f.as_bytes()), ww);
            }
        }
        let trunc = env("TRUNC", 0.0) as usize;
        let tw = env("TW", 1.0);
        if trunc > 0 {
            let st: Vec<String> = words.iter().map(|w| w.chars().take(trunc).collect()).collect();
            for i in 0..st.len() {
                push(fnv(SEED_WORD ^ 55, st[i].as_bytes()), tw);
                if i + 1 < st.len() { push(fnv(fnv(fnv(SEED_WORD ^ 56, st[i].as_bytes()), b" "), st[i+1].as_bytes()), tw); }
                if env("TSKIP", 0.0) > 0.0 { for j in i + 2..st.len() { let (a, b) = if st[i] < st[j] { (&st[i], &st[j]) } else { (&st[j], &st[i]) }; push(fnv(fnv(fnv(SEED_WORD ^ 57, a.as_bytes()), b"|"), b.as_bytes()), tw); } }
            }
        }
        if skip > 0 {
            for i in 0..words.len() {
                for j in i + 2..(i + 1 + skip).min(words.len()) {
                    let (a, b) = if words[i] < words[j] {
                        (&words[i], &words[j])
                    } else {
                        (&words[j], &words[i])
                    };
                    push(
                        fnv(fnv(fnv(SEED_WORD ^ 77, a.as_bytes()), b"|"), b.as_bytes()),
                        sw,
                    );
                }
            }
        }
        for (i, w) in words.iter().enumerate() {
            push(fnv(SEED_WORD, w.as_bytes()), ww);
            if tri {
                if let (Some(n1), Some(n2)) = (words.get(i + 1), words.get(i + 2)) {
                    let h = fnv(SEED_BIGRAM ^ 7, w.as_bytes());
                    push(
                        fnv(fnv(fnv(fnv(h, b" "), n1.as_bytes()), b" "), n2.as_bytes()),
                        ww,
                    );
                }
            }
            if let Some(next) = words.get(i + 1) {
                let h = fnv(SEED_BIGRAM, w.as_bytes());
                push(fnv(fnv(h, b" "), next.as_bytes()), ww);
            }
        }

        // " w1 w2 ... " as chars; each start position extends one hash through lengths 3..=5.
        let mut joined: Vec<char> = Vec::with_capacity(text.len() + 2);
        joined.push(' ');
        for w in &words {
            joined.extend(w.chars());
            joined.push(' ');
        }
        let mut buf = [0u8; 4];
        for start in 0..joined.len() {
            let mut h = SEED_CHAR;
            for (len, c) in joined[start..].iter().take(cmax).enumerate() {
                if perword && len > 0 && *c == ' ' && len + 1 < cmin {
                    break;
                }
                h = fnv(h, c.encode_utf8(&mut buf).as_bytes());
                if len + 1 >= cmin {
                    push(h, cw);
                }
                if perword && len > 0 && *c == ' ' {
                    break;
                }
            }
        }

        merge_and_normalise(raw)
    }
}

/// Lowercased words of `text`: maximal runs of alphanumeric characters, apostrophes removed.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() {
            cur.extend(c.to_lowercase());
        } else if c == '\'' || c == '\u{2019}' {
            // Keep "don't" one word: the apostrophe is simply skipped.
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

pub static IDF: std::sync::OnceLock<Vec<f32>> = std::sync::OnceLock::new();
/// Sums duplicate buckets, drops zeros, and scales to unit norm.
fn merge_and_normalise(mut raw: Vec<(u32, f32)>) -> Vec<Feature> {
    raw.sort_unstable_by_key(|&(b, _)| b);
    let mut out: Vec<Feature> = Vec::with_capacity(raw.len());
    for (bucket, value) in raw {
        match out.last_mut() {
            Some(last) if last.bucket == bucket => last.value += value,
            _ => out.push(Feature { bucket, value }),
        }
    }
    out.retain(|f| f.value != 0.0);
    let sub = std::env::var("SUB").is_ok();
    if sub {
        for f in &mut out {
            f.value = f.value.signum() * (1.0 + f.value.abs().ln());
        }
    }
    if let Some(idf) = IDF.get() {
        for f in &mut out {
            f.value *= idf[f.bucket as usize];
        }
    }
    let norm = out.iter().map(|f| f.value * f.value).sum::<f32>().sqrt();
    if norm > 0.0 {
        for f in &mut out {
            f.value /= norm;
        }
    }
    out
}

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// MurmurHash3's 64-bit finaliser: spreads FNV's weak low bits over the whole word.
fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn words_are_lowercased_and_split_on_punctuation() {
        assert_eq!(
            words("Where's my CARD?! It hasn't arrived."),
            ["wheres", "my", "card", "it", "hasnt", "arrived"]
        );
        assert!(words("?!  ...").is_empty());
    }

    #[test]
    fn empty_text_has_no_features() {
        assert!(Hasher::new(18).features("").is_empty());
        assert!(Hasher::new(18).features(" -- ").is_empty());
    }

    #[test]
    fn hashing_is_stable_across_releases() {
        // Pinned: a serialized model depends on these exact buckets.
        let f = Hasher::new(18).features("card");
        assert_eq!(f.len(), 7, "1 word + 6 char n-grams of \" card \"");
        assert_eq!(fmix64(fnv(SEED_WORD, b"card")) & ((1 << 18) - 1), 0x19a0a);
    }

    #[test]
    fn bits_are_clamped() {
        assert_eq!(Hasher::new(3).bits(), MIN_BITS);
        assert_eq!(Hasher::new(40).bits(), MAX_BITS);
    }

    proptest! {
        #[test]
        fn vectors_have_unit_norm_and_sorted_unique_buckets(text in "\\PC{0,80}", bits in 18u8..=20) {
            let h = Hasher::new(bits);
            let f = h.features(&text);
            for pair in f.windows(2) {
                prop_assert!(pair[0].bucket < pair[1].bucket);
            }
            for x in &f {
                prop_assert!((x.bucket as usize) < h.buckets());
            }
            if !f.is_empty() {
                let norm: f32 = f.iter().map(|x| x.value * x.value).sum::<f32>().sqrt();
                prop_assert!((norm - 1.0).abs() < 1e-4);
            }
        }

        #[test]
        fn case_does_not_matter(text in "[a-zA-Z ]{0,40}") {
            let h = Hasher::new(18);
            prop_assert_eq!(h.features(&text), h.features(&text.to_lowercase()));
        }
    }
}
