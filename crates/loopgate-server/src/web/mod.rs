//! The reviewer workspace: server-rendered pages for triage, quality, SME reviewers and queue
//! leads, with a little JavaScript for keys, live SLA countdowns and live queues.
//!
//! Every page and form checks the person's role on the server; every form carries the
//! session's CSRF token; every query is scoped to the person's workspace.

mod pages;
pub mod session;
mod views;

use askama::Template;
use axum::Router;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::Form;
use loopgate_store::StoreError;
use serde::de::DeserializeOwned;

use crate::state::AppState;

/// The workspace's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/assets/app.css", get(css))
        .route("/assets/app.js", get(js))
        .route("/login", get(pages::login_page).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/queue", get(pages::queue))
        .route("/queue/rows", get(pages::queue_rows))
        .route("/events", get(pages::events))
        .route("/review/next", post(pages::review_next))
        .route("/items/{id}", get(pages::item))
        .route("/items/{id}/decision", post(pages::decide))
        .route("/items/{id}/diff", post(pages::diff))
        .route("/items/{id}/audit", get(pages::audit))
        .route("/audits", get(pages::audits))
        .route("/audits/next", post(pages::audit_next))
        .route("/audits/{id}/verdict", post(pages::audit_verdict))
        .route("/lead", get(pages::lead))
        .route("/lead/kill-switch", post(pages::kill_switch))
        .route("/admin/users", get(pages::users).post(pages::save_user))
}

async fn css() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("../../assets/app.css"),
    )
}

async fn js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../assets/app.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// A failed page request, shown to a person as a page.
#[derive(Debug)]
pub enum WebError {
    /// The person's role or form does not allow this.
    Forbidden(String),
    /// No such thing in the person's workspace.
    NotFound(String),
    /// A form was filled in wrongly.
    BadRequest(String),
    /// A form's body stopped arriving, or took too long to arrive in all.
    Timeout,
    /// A form's body could not be read (its type, size or fields), with the status that says
    /// why.
    Unreadable(StatusCode, String),
    /// The database failed.
    Store(StoreError),
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => {
                WebError::NotFound(format!("No such {what} in your workspace."))
            }
            other => WebError::Store(other),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, title, message) = match &self {
            WebError::Forbidden(m) => (StatusCode::FORBIDDEN, "Not allowed", m.clone()),
            WebError::NotFound(m) => (StatusCode::NOT_FOUND, "Not found", m.clone()),
            WebError::BadRequest(m) => {
                (StatusCode::BAD_REQUEST, "Please check the form", m.clone())
            }
            WebError::Unreadable(status, m) => (*status, "Please check the form", m.clone()),
            WebError::Timeout => (
                StatusCode::REQUEST_TIMEOUT,
                "The form did not arrive",
                "The form stopped arriving, or took too long to arrive in all, so nothing was \
                 done; send it again."
                    .to_owned(),
            ),
            WebError::Store(StoreError::Unavailable(_)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Database unavailable",
                "The database cannot be reached right now; try again shortly.".to_owned(),
            ),
            WebError::Store(StoreError::Full(_)) => (
                StatusCode::INSUFFICIENT_STORAGE,
                "Disk full",
                "The server's disk is full, so nothing was saved; try again once space is freed."
                    .to_owned(),
            ),
            WebError::Store(e) => {
                tracing::error!(error = %e, "workspace page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The server failed; it is logged.".to_owned(),
                )
            }
        };
        let page = ErrorPage {
            title,
            message: &message,
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, message).into_response(),
        }
    }
}

/// A form body, read as `axum_extra`'s `Form` reads it. A form that cannot be read is answered
/// with the workspace's error page: `408` when its body stopped arriving (the body timeout of
/// [`crate::serve`]), otherwise with the rejection's own status (`400`, `413`, `415`, `422`)
/// and what was wrong.
#[derive(Debug)]
pub(crate) struct WebForm<T>(pub T);

impl<T, S> FromRequest<S> for WebForm<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = WebError;

    async fn from_request(req: Request, state: &S) -> Result<Self, WebError> {
        match Form::<T>::from_request(req, state).await {
            Ok(Form(form)) => Ok(Self(form)),
            Err(rejection) if crate::extract::stalled(&rejection) => Err(WebError::Timeout),
            Err(rejection) => Err(WebError::Unreadable(
                rejection.status(),
                format!(
                    "The form could not be read: {}.",
                    rejection.body_text().trim_end_matches('.')
                ),
            )),
        }
    }
}

/// Renders a template into a page.
fn render(template: &impl Template) -> Result<Html<String>, WebError> {
    template
        .render()
        .map(Html)
        .map_err(|e| WebError::Store(StoreError::Internal(format!("template failed: {e}"))))
}
