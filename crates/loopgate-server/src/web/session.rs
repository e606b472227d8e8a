//! Signing in: argon2 password hashes, browser sessions in HttpOnly SameSite cookies, and the
//! CSRF token every form must carry.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use chrono::Duration;
use loopgate_core::{Permission, Principal};
use sha2::{Digest, Sha256};

use super::WebError;
use crate::state::AppState;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "lg_session";
/// Name of the cookie that carries the sign-in form's CSRF token before there is a session.
pub const LOGIN_CSRF_COOKIE: &str = "lg_login_csrf";
/// How long a session lasts.
pub fn session_length() -> Duration {
    Duration::hours(12)
}

/// Hashes a password with argon2id and a random salt, as a PHC string.
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::PasswordHasher;
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Whether `password` matches a PHC hash made by [`hash_password`].
pub fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::PasswordVerifier;
    use argon2::password_hash::phc::PasswordHash;
    PasswordHash::new(hash)
        .map(|parsed| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Checks a new password: long enough to resist guessing.
pub fn check_password(password: &str) -> Result<(), String> {
    if password.chars().count() < 10 {
        Err("a password must be at least 10 characters".into())
    } else if password.len() > 1024 {
        Err("a password must be at most 1024 bytes".into())
    } else {
        Ok(())
    }
}

/// A random token, hex: session secrets and CSRF tokens.
pub fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// The stored form of a session secret.
pub fn secret_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Compares two tokens without leaking where they differ through timing.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The session cookie for `secret`.
pub fn session_cookie(secret: String, secure: bool) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, secret))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .path("/")
        .build()
}

/// A signed-in person.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// Who.
    pub principal: Principal,
    /// The token every form of this session must carry.
    pub csrf: String,
    /// The hash of the session secret, to end the session.
    pub session: [u8; 32],
}

impl Viewer {
    /// Refuses a form whose token is not this session's.
    pub fn check_csrf(&self, token: &str) -> Result<(), WebError> {
        if same_token(&self.csrf, token) {
            Ok(())
        } else {
            Err(WebError::Forbidden(
                "this form has expired or did not come from Loopgate; reload the page and try again".into(),
            ))
        }
    }

    /// Refuses a person whose role lacks `permission`.
    pub fn require(&self, permission: Permission, what: &str) -> Result<(), WebError> {
        if self.principal.can(permission) {
            Ok(())
        } else {
            Err(WebError::Forbidden(format!("your role may not {what}")))
        }
    }
}

/// Where an unauthenticated request is sent.
#[derive(Debug)]
pub struct SignInFirst(String);

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        Redirect::to(&format!("/login?next={}", urlencode(&self.0))).into_response()
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let jar = CookieJar::from_headers(&parts.headers);
        let path = parts.uri.path().to_owned();
        let Some(secret) = jar.get(SESSION_COOKIE).map(|c| c.value().to_owned()) else {
            return Err(SignInFirst(path).into_response());
        };
        let hash = secret_hash(&secret);
        match state.store().session(hash, state.clock().now()).await {
            Ok(Some(session)) => Ok(Viewer {
                principal: session.principal,
                csrf: session.csrf_token,
                session: hash,
            }),
            Ok(None) => Err(SignInFirst(path).into_response()),
            Err(e) => Err(WebError::from(e).into_response()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(!verify_password("anything", "not a hash"));
        assert_ne!(
            hash,
            hash_password("correct horse battery").unwrap(),
            "salted"
        );
    }

    #[test]
    fn tokens_compare_exactly() {
        let t = random_token();
        assert_eq!(t.len(), 64);
        assert!(same_token(&t, &t.clone()));
        assert!(!same_token(&t, &random_token()));
        assert!(!same_token("abc", "abcd"));
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(check_password("short").is_err());
        assert!(check_password("long enough pass").is_ok());
    }
}
