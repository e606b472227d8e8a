//! Request extractors that turn every malformed input into an [`ApiError`] with a stable code:
//! JSON bodies (with the path of the bad field), query strings, path ids, and the API key.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use loopgate_core::{ItemId, Permission, Principal};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorCode};
use crate::keys;
use crate::state::AppState;

/// A request body that should be JSON, read (within the size limit) but not yet parsed, so
/// that a handler checks permissions before it looks at the body: a caller without the right
/// gets 403 whatever it sent.
#[derive(Debug)]
pub struct JsonBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        check_content_type(req.headers())?;
        Ok(JsonBody(body_bytes(req, state).await?))
    }
}

impl JsonBody {
    /// Parses the body, which must be a JSON object; an empty body is malformed.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        if self.0.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::new(
                ErrorCode::MalformedJson,
                "the body is empty; send a JSON object",
            ));
        }
        self.parse_object()
    }

    /// Parses the body, which must be a JSON object; an empty body gives `T::default()`.
    /// Whitespace alone is not empty: it is not JSON either, and is refused as malformed.
    pub fn parse_or_default<T: DeserializeOwned + Default>(&self) -> Result<T, ApiError> {
        if self.0.is_empty() {
            Ok(T::default())
        } else {
            self.parse_object()
        }
    }

    /// The body as `T` when it is a JSON object that parses as one, within the depth limit;
    /// `None` otherwise, for the caller to take [`JsonBody::parse`], which names the problem.
    /// The fast path of large bodies: one pass, without tracking field paths for messages.
    pub fn try_parse<T: DeserializeOwned>(&self) -> Option<T> {
        if self.0.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return None;
        }
        let value = serde_json::from_slice(&self.0).ok()?;
        check_depth(&self.0).ok()?;
        Some(value)
    }

    /// Every request body is an object; serde would otherwise take `[]` for a struct whose
    /// fields all have defaults.
    fn parse_object<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        if self.0.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            // Malformed JSON is still reported as such.
            parse_json::<serde::de::IgnoredAny>(&self.0)?;
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                "the body must be a JSON object",
            ));
        }
        parse_json(&self.0)
    }
}

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                "the body is larger than this endpoint accepts; send less data (or split a batch)",
            )
        } else if stalled(&rejection) {
            ApiError::new(
                ErrorCode::RequestTimeout,
                "the body stopped arriving, or took too long to arrive in all; nothing was done, send the request again",
            )
        } else {
            ApiError::new(
                ErrorCode::MalformedJson,
                format!("the body could not be read: {rejection}"),
            )
        }
    })
}

/// Whether reading the body failed because the client stopped sending it (the body timeout of
/// [`crate::serve`]).
pub(crate) fn stalled(rejection: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(rejection), |e| e.source())
        .any(|e| e.is::<tower_http::timeout::TimeoutError>())
}

/// Bodies must be JSON; a missing content type is taken as JSON, any other type is refused.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Ok(());
    };
    let mime = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json")) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!("Content-Type {mime:?} is not JSON; send Content-Type: application/json"),
        ))
    }
}

/// Deepest nesting of arrays and objects a body may have. Loopgate's own documents nest four or
/// five levels; the limit leaves room for an agent's payload and metadata while keeping a
/// hostile body from costing deep recursion anywhere downstream.
pub const MAX_JSON_DEPTH: usize = 32;

/// Parses JSON, naming the offending field: a body that is not JSON at all is 400, well-formed
/// JSON with a wrong field is 422, JSON nested deeper than [`MAX_JSON_DEPTH`] is 400.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Syntax first, so that a truncated body is reported as such and not as a missing field.
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(|e| json_error(".", &e))?;
    check_depth(bytes)?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        json_error(&path, &inner)
    })?;
    de.end().map_err(|e| json_error(".", &e))?;
    Ok(value)
}

/// Deserialises an already parsed JSON value, naming the offending field.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        json_error(&path, &inner)
    })
}

fn json_error(path: &str, e: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => ApiError::new(
            ErrorCode::MalformedJson,
            format!("the body is not valid JSON: {e}"),
        ),
        Category::Data => {
            let message = strip_position(&e.to_string());
            let message = if path == "." {
                message
            } else {
                format!("{path}: {message}")
            };
            ApiError::new(ErrorCode::InvalidRequest, message)
        }
    }
}

/// Refuses well-formed JSON nested deeper than [`MAX_JSON_DEPTH`]. Brackets inside strings do
/// not count; the body has already parsed, so strings and escapes are well-formed.
fn check_depth(bytes: &[u8]) -> Result<(), ApiError> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return Err(ApiError::new(
                        ErrorCode::JsonTooDeep,
                        format!(
                            "the body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep; flatten it"
                        ),
                    ));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// serde_json appends "at line 1 column 42"; the field path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// A query string, refused with `invalid_query` when malformed.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e| ApiError::new(ErrorCode::InvalidQuery, e.body_text()))
    }
}

/// A path parameter, refused with `invalid_path` (in the JSON error shape) when it cannot be
/// decoded, e.g. bytes that are not UTF-8.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e| ApiError::new(ErrorCode::InvalidPath, e.body_text()))
    }
}

/// Parses an item id from a path segment.
pub fn item_id(raw: &str) -> Result<ItemId, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidPath,
            format!("{raw:?} is not an item id; ids are UUIDs"),
        )
    })
}

/// The principal behind the request's API key.
#[derive(Debug, Clone)]
pub struct Auth(pub Principal);

impl Auth {
    /// The principal, if it holds `permission`; 403 naming `what` otherwise.
    pub fn require(&self, permission: Permission, what: &str) -> Result<&Principal, ApiError> {
        if self.0.can(permission) {
            Ok(&self.0)
        } else {
            Err(ApiError::forbidden(what))
        }
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unauthenticated,
                "missing API key: send Authorization: Bearer <key>",
            )
        })?;
        let secret = header
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Unauthenticated,
                    "the Authorization header must be `Bearer <key>`",
                )
            })?;
        match state.store().principal_by_key(keys::hash(secret)).await? {
            Some(principal) => {
                state
                    .check_rate(&principal.id)
                    .map_err(ApiError::rate_limited)?;
                Ok(Auth(principal))
            }
            None => Err(ApiError::new(
                ErrorCode::Unauthenticated,
                "unknown or revoked API key",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        inner: Inner,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        n: u8,
    }

    #[test]
    fn syntax_errors_are_400_and_field_errors_name_the_field() {
        let e = parse_json::<Outer>(b"{\"inner\": ").unwrap_err();
        assert_eq!(e.code, ErrorCode::MalformedJson);
        let e = parse_json::<Outer>(br#"{"inner": {"n": 300}}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert!(e.message.starts_with("inner.n: "), "{}", e.message);
        assert!(!e.message.contains("line"), "{}", e.message);
        let e = parse_json::<Outer>(br#"{"inner": {"n": 3}} trailing"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::MalformedJson);
        let e = parse_json::<Outer>(br#"{"other": "#).unwrap_err();
        assert_eq!(e.code, ErrorCode::MalformedJson, "{}", e.message);
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    struct Optional {
        #[serde(default)]
        n: u8,
    }

    #[test]
    fn only_a_truly_empty_optional_body_means_the_defaults() {
        let body = |b: &'static [u8]| JsonBody(Bytes::from_static(b));
        assert_eq!(
            body(b"").parse_or_default::<Optional>().unwrap(),
            Optional::default()
        );
        assert_eq!(
            body(b"{\"n\": 2}")
                .parse_or_default::<Optional>()
                .unwrap()
                .n,
            2
        );
        for junk in [&b"\r"[..], b" \n"] {
            let e = body(junk).parse_or_default::<Optional>().unwrap_err();
            assert_eq!(e.code, ErrorCode::MalformedJson, "{junk:?}: {}", e.message);
        }
        let e = body(b"[]").parse_or_default::<Optional>().unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest, "{}", e.message);
    }

    #[test]
    fn nesting_beyond_the_limit_is_refused_and_brackets_in_strings_do_not_count() {
        let nested =
            |levels: usize| format!("{}1{}", "[".repeat(levels), "]".repeat(levels)).into_bytes();
        assert!(parse_json::<serde_json::Value>(&nested(MAX_JSON_DEPTH)).is_ok());
        let e = parse_json::<serde_json::Value>(&nested(MAX_JSON_DEPTH + 1)).unwrap_err();
        assert_eq!(e.code, ErrorCode::JsonTooDeep);
        assert!(e.message.contains("32"), "{}", e.message);
        let brackets = format!(
            r#"{{"text": "{} \" {}"}}"#,
            "[{".repeat(100),
            "[".repeat(100)
        );
        assert!(parse_json::<serde_json::Value>(brackets.as_bytes()).is_ok());
    }
}
