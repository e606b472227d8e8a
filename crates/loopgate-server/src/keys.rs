//! API key secrets: how they are made, shown once, and stored only as hashes.
//!
//! Keys carry 256 random bits, so a fast SHA-256 is enough to store them safely: a slow password
//! hash (argon2) protects guessable secrets, and would cost every request milliseconds for none.

use sha2::{Digest, Sha256};

/// Every key starts with this, so that a leaked key is recognisable in logs and scanners.
pub const KEY_PREFIX: &str = "lg_";

/// A newly made key: the secret, shown once, and what is stored of it.
#[derive(Clone)]
pub struct MintedKey {
    /// The secret, to hand to the user. Never logged, never stored.
    pub secret: String,
    /// SHA-256 of the secret, the only form stored.
    pub hash: [u8; 32],
    /// What listings and the audit log show to tell keys apart: the first characters of a
    /// minted secret, a fingerprint of a chosen one.
    pub prefix: String,
}

impl std::fmt::Debug for MintedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedKey")
            .field("secret", &"[redacted]")
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// Makes a new random key. Its listed prefix is `lg_` and the first 8 of its 64 random hex
/// digits: 32 of its 256 bits, enough to tell keys apart, too few to matter.
pub fn mint() -> MintedKey {
    let secret = format!("{KEY_PREFIX}{}", hex::encode(rand::random::<[u8; 32]>()));
    MintedKey {
        hash: hash(&secret),
        prefix: secret[..KEY_PREFIX.len() + 8].to_owned(),
        secret,
    }
}

/// Wraps a secret chosen by an operator (`LOOPGATE_BOOTSTRAP_ADMIN_KEY`). Nothing of it is
/// listed: its first characters need not be random, and eleven of them would be nearly half of
/// a 24-character secret. Listings show `sha256:` and the first 8 hex digits of its stored hash
/// instead, which tell it apart without telling anything of it.
pub fn chosen(secret: String) -> MintedKey {
    let hash = hash(&secret);
    MintedKey {
        prefix: format!("sha256:{}", &hex::encode(hash)[..8]),
        secret,
        hash,
    }
}

/// The stored form of a secret.
pub fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Checks that a secret chosen by an operator is long enough to be a key.
pub fn check_chosen_secret(secret: &str) -> Result<(), String> {
    if secret.len() < 24 || secret.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Err("a key must be at least 24 characters without spaces".to_owned())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_keys_are_unique_prefixed_and_hash_consistently() {
        let a = mint();
        let b = mint();
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with(KEY_PREFIX) && a.secret.len() == 67);
        assert_eq!(hash(&a.secret), a.hash);
        assert!(a.secret.starts_with(&a.prefix));
        assert!(!format!("{a:?}").contains(&a.secret));
    }

    #[test]
    fn a_chosen_secret_is_listed_by_a_fingerprint_that_shows_none_of_it() {
        let secret = "lg_operator_chosen_bootstrap_key_0042";
        let key = chosen(secret.to_owned());
        assert_eq!(key.hash, hash(secret));
        assert_eq!(
            key.prefix,
            format!("sha256:{}", &hex::encode(key.hash)[..8])
        );
        for piece in secret.as_bytes().windows(4) {
            let piece = std::str::from_utf8(piece).expect("ascii");
            assert!(
                !key.prefix.contains(piece),
                "{piece} of the secret is listed"
            );
        }
        assert!(!format!("{key:?}").contains(secret));
    }

    #[test]
    fn chosen_secrets_must_be_long() {
        assert!(check_chosen_secret("short").is_err());
        assert!(check_chosen_secret("a-long-enough-bootstrap-secret").is_ok());
    }
}
