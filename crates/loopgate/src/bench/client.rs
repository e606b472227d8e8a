//! The load generator's HTTP side: one pooled client, requests spread round-robin over every
//! server given with `--url`, and the few API calls the scenarios make (create keys and
//! policies, submit, claim, decide, long-poll).
//!
//! Bodies are built once as bytes where a scenario sends the same shape many times, and
//! responses are read only as far as the scenario needs (an id, a status, a lease), so that on a
//! two-core machine shared with the server the generator spends as little CPU as it can.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Client, Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::{Value, json};

/// The servers under test.
#[derive(Debug)]
pub struct Target {
    http: Client,
    urls: Vec<Url>,
    next: AtomicUsize,
}

/// A response: status and body.
#[derive(Debug)]
pub struct Reply {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body, unparsed.
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON of type `T`.
    pub fn json<T: for<'de> Deserialize<'de>>(&self) -> anyhow::Result<T> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "unexpected response body ({}): {}",
                self.status,
                String::from_utf8_lossy(&self.body[..self.body.len().min(300)])
            )
        })
    }

    /// An error naming the status and the server's error message.
    pub fn error(&self, what: &str) -> anyhow::Error {
        anyhow!(
            "{what}: HTTP {} {}",
            self.status,
            String::from_utf8_lossy(&self.body[..self.body.len().min(300)])
        )
    }
}

/// The fields of an item the scenarios look at.
#[derive(Debug, Deserialize)]
pub struct ItemBrief {
    /// The item's id.
    pub id: String,
    /// Its status, e.g. `queued`.
    pub status: String,
    /// Whether its verdict is final.
    #[serde(rename = "final")]
    pub is_final: bool,
}

/// A batch submit's answer.
#[derive(Debug, Deserialize)]
pub struct BatchBrief {
    /// The items, in request order.
    pub items: Vec<ItemBrief>,
}

/// A claim's answer: the item and its lease.
#[derive(Debug, Deserialize)]
pub struct Claimed {
    /// The claimed item.
    pub item: ClaimedItem,
}

/// The claimed item's id and lease.
#[derive(Debug, Deserialize)]
pub struct ClaimedItem {
    /// The item's id.
    pub id: String,
    /// The lease to decide under.
    pub lease: LeaseBrief,
}

/// A lease's id.
#[derive(Debug, Deserialize)]
pub struct LeaseBrief {
    /// Sent back with the decision.
    pub id: String,
}

impl Target {
    /// A client for `urls` (at least one). Connections are kept and reused; there is no cap on
    /// connections per server, so ten thousand long-polls get ten thousand connections.
    pub fn new(urls: Vec<Url>) -> anyhow::Result<Self> {
        if urls.is_empty() {
            bail!("give at least one --url");
        }
        let http = Client::builder()
            .tcp_nodelay(true)
            // Under the server's default client timeout (30 s), so that the client drops an idle
            // connection before the server closes it under a request.
            .pool_idle_timeout(Duration::from_secs(20))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            http,
            urls,
            next: AtomicUsize::new(0),
        })
    }

    /// The server URLs.
    pub fn urls(&self) -> &[Url] {
        &self.urls
    }

    /// The next server in round-robin order.
    fn base(&self) -> &Url {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.urls.len();
        &self.urls[i]
    }

    /// Sends one request to the next server. `body` is sent as JSON when given.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Bytes>,
        idempotency_key: Option<&str>,
    ) -> anyhow::Result<Reply> {
        let url = self
            .base()
            .join(path)
            .with_context(|| format!("bad path {path}"))?;
        let mut request = self.http.request(method, url).bearer_auth(key);
        if let Some(k) = idempotency_key {
            request = request.header("Idempotency-Key", k);
        }
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        let response = request.send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        Ok(Reply { status, body })
    }

    /// Waits until every server answers `/readyz`, for up to `timeout`.
    pub async fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        for url in &self.urls {
            let ready = url.join("/readyz")?;
            loop {
                match self.http.get(ready.clone()).send().await {
                    Ok(r) if r.status().is_success() => break,
                    _ if tokio::time::Instant::now() >= deadline => {
                        bail!("{url} did not become ready within {timeout:?}")
                    }
                    _ => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
        Ok(())
    }

    /// Creates a key and returns its secret.
    pub async fn create_key(
        &self,
        admin: &str,
        name: &str,
        role: &str,
        reviewer_roles: &[&str],
    ) -> anyhow::Result<String> {
        #[derive(Deserialize)]
        struct Created {
            key: String,
        }
        let body = json!({"name": name, "role": role, "reviewer_roles": reviewer_roles});
        let reply = self
            .send(Method::POST, "/v1/keys", admin, Some(to_bytes(&body)), None)
            .await?;
        if reply.status != StatusCode::CREATED {
            return Err(reply.error(&format!("creating key {name}")));
        }
        Ok(reply.json::<Created>()?.key)
    }

    /// Creates or replaces a policy.
    pub async fn put_policy(&self, admin: &str, spec: &Value) -> anyhow::Result<()> {
        let reply = self
            .send(
                Method::POST,
                "/v1/policies",
                admin,
                Some(to_bytes(spec)),
                None,
            )
            .await?;
        if !reply.status.is_success() {
            return Err(reply.error("creating a policy"));
        }
        Ok(())
    }

    /// Claims the next item; `None` when nothing is waiting (204).
    pub async fn claim(&self, reviewer: &str) -> anyhow::Result<Option<Claimed>> {
        let reply = self
            .send(Method::POST, "/v1/reviews/claim", reviewer, None, None)
            .await?;
        match reply.status {
            StatusCode::OK => Ok(Some(reply.json()?)),
            StatusCode::NO_CONTENT => Ok(None),
            _ => Err(reply.error("claim")),
        }
    }

    /// Approves a claimed item under its lease.
    pub async fn approve(&self, reviewer: &str, claimed: &Claimed) -> anyhow::Result<()> {
        let body = json!({"lease_id": claimed.item.lease.id, "decision": "approve"});
        let reply = self
            .send(
                Method::POST,
                &format!("/v1/items/{}/decision", claimed.item.id),
                reviewer,
                Some(to_bytes(&body)),
                None,
            )
            .await?;
        if reply.status != StatusCode::OK {
            return Err(reply.error("decision"));
        }
        Ok(())
    }
}

/// JSON as request bytes.
pub fn to_bytes(value: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(value).expect("JSON values always serialise"))
}
