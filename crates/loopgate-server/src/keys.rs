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
    /// The secret's first characters, to tell keys apart in listings.
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

/// Makes a new random key.
pub fn mint() -> MintedKey {
    from_secret(format!(
        "{KEY_PREFIX}{}",
        hex::encode(rand::random::<[u8; 32]>())
    ))
}

/// Wraps a secret chosen elsewhere (e.g. `LOOPGATE_BOOTSTRAP_ADMIN_KEY`).
pub fn from_secret(secret: String) -> MintedKey {
    let hash = hash(&secret);
    let prefix = secret.chars().take(KEY_PREFIX.len() + 8).collect();
    MintedKey {
        secret,
        hash,
        prefix,
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
    fn chosen_secrets_must_be_long() {
        assert!(check_chosen_secret("short").is_err());
        assert!(check_chosen_secret("a-long-enough-bootstrap-secret").is_ok());
    }
}
