//! Text → signed hashed n-gram counts, the input of the [`crate::classifier`].
//!
//! A text is lowercased and cut into words (runs of letters and digits; apostrophes are
//! dropped so "hasn't" and "hasnt" agree). From the words come word 1-grams, word 2-grams
//! (including the sentence-boundary pairs `<s> first` and `last </s>`, which carry much of an
//! utterance's intent: "why …", "how do I …") and, from the words joined by single spaces with a
//! space at each end, character 3- to 5-grams (the spaces mark word boundaries, so " card"
//! differs from "card" inside "discard").
//!
//! Each n-gram is hashed into one of `2^bits` buckets with a sign taken from another bit of the
//! same hash (Weinberger et al. 2009), so collisions cancel out in expectation instead of
//! piling up. Weighting (IDF, unit length) is the classifier's business, since it depends on
//! what the model has seen.
//!
//! The hash is hand-written (FNV-1a with the murmur3 finaliser) rather than taken from a crate:
//! a serialized model is only meaningful while every n-gram lands in the same bucket, so the
//! function must never change with a dependency bump. A test pins its output.

/// One non-zero entry of a hashed feature vector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Feature {
    /// Bucket index in `0..2^bits`.
    pub bucket: u32,
    /// Signed count: the number of n-grams hashed here, each counted +1 or -1 by its sign hash.
    pub value: f32,
}

/// Smallest allowed number of hash bits (2^18 = 262,144 buckets).
pub const MIN_BITS: u8 = 18;
/// Largest allowed number of hash bits (2^20 = 1,048,576 buckets).
pub const MAX_BITS: u8 = 20;

/// Character n-gram lengths, in characters.
const CHAR_MIN: usize = 3;
const CHAR_MAX: usize = 5;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
// Each n-gram kind starts from its own state so that the word "abc" and the character
// trigram "abc" do not share a bucket by construction.
const SEED_WORD: u64 = FNV_OFFSET ^ 0x57;
const SEED_BIGRAM: u64 = FNV_OFFSET ^ 0x42;
const SEED_CHAR: u64 = FNV_OFFSET ^ 0x43;
const BOUNDARY_START: &str = "<s>";
const BOUNDARY_END: &str = "</s>";

/// Maps texts to hashed n-gram counts in `2^bits` buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hasher {
    bits: u8,
}

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

    /// The n-gram counts of `text`, sorted by bucket, one entry per bucket. Buckets whose
    /// colliding n-grams cancelled out are left out. Empty when the text has no letters or
    /// digits; never fails.
    pub fn features(&self, text: &str) -> Vec<Feature> {
        let words = words(text);
        if words.is_empty() {
            return Vec::new();
        }
        let mask = (1u64 << self.bits) - 1;
        let mut raw: Vec<(u32, f32)> = Vec::with_capacity(text.len() * 4 + 16);
        let mut push = |h: u64| {
            let h = fmix64(h);
            // Low bits pick the bucket, the top bit the sign: independent after the finaliser.
            let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
            raw.push(((h & mask) as u32, sign));
        };

        for w in &words {
            push(fnv(SEED_WORD, w.as_bytes()));
        }
        let padded = std::iter::once(BOUNDARY_START)
            .chain(words.iter().map(String::as_str))
            .chain(std::iter::once(BOUNDARY_END));
        let mut prev: Option<&str> = None;
        for w in padded {
            if let Some(p) = prev {
                push(fnv(fnv(fnv(SEED_BIGRAM, p.as_bytes()), b" "), w.as_bytes()));
            }
            prev = Some(w);
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
            for (len, c) in joined[start..].iter().take(CHAR_MAX).enumerate() {
                h = fnv(h, c.encode_utf8(&mut buf).as_bytes());
                if len + 1 >= CHAR_MIN {
                    push(h);
                }
            }
        }

        raw.sort_unstable_by_key(|&(b, _)| b);
        let mut out: Vec<Feature> = Vec::with_capacity(raw.len());
        for (bucket, value) in raw {
            match out.last_mut() {
                Some(last) if last.bucket == bucket => last.value += value,
                _ => out.push(Feature { bucket, value }),
            }
        }
        out.retain(|f| f.value != 0.0);
        out
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
    fn one_word_gives_its_ngrams() {
        // 1 word + 2 boundary bigrams + 9 char n-grams of " card " (4 + 3 + 2), minus any that
        // collide and cancel (none do for this word).
        let f = Hasher::new(18).features("Card");
        assert_eq!(f.len(), 12);
        assert!(f.iter().all(|x| x.value.abs() == 1.0));
    }

    #[test]
    fn hashing_is_pinned() {
        // A serialized model depends on these exact buckets: changing the hash breaks models.
        assert_eq!(fmix64(fnv(SEED_WORD, b"card")), 0x7f0f_5d2d_f9e1_c0bb);
    }

    #[test]
    fn bits_are_clamped() {
        assert_eq!(Hasher::new(3).bits(), MIN_BITS);
        assert_eq!(Hasher::new(40).bits(), MAX_BITS);
        assert_eq!(Hasher::new(19).buckets(), 1 << 19);
    }

    proptest! {
        #[test]
        fn buckets_are_sorted_unique_and_in_range(text in "\\PC{0,80}", bits in 18u8..=20) {
            let h = Hasher::new(bits);
            let f = h.features(&text);
            for pair in f.windows(2) {
                prop_assert!(pair[0].bucket < pair[1].bucket);
            }
            for x in &f {
                prop_assert!((x.bucket as usize) < h.buckets());
                prop_assert!(x.value != 0.0);
            }
        }

        #[test]
        fn case_and_punctuation_do_not_matter(text in "[a-zA-Z ]{0,40}") {
            let h = Hasher::new(18);
            prop_assert_eq!(h.features(&text), h.features(&format!("{}?!", text.to_lowercase())));
        }
    }
}
