//! The producer's HTTP/1.1 connections to its one target: a pool of
//! keep-alive connections on hyper's client connection API, with nothing
//! between a delivery and its socket but the request itself.
//!
//! A general client (reqwest) parses the URL, looks up a pool by host,
//! follows redirects and wraps each request in several service layers on
//! every attempt; a producer delivers to one fixed URL, so the target is
//! parsed once and an attempt is: take an idle connection (or open one),
//! send, read the answer, put the connection back.
//!
//! Semantics a chaos run relies on:
//! - dropping an attempt (its timeout) closes its connection, as hyper does
//!   for any HTTP/1 request future dropped before completion, so the SUT sees
//!   the producer hang up;
//! - a request that could not be written because a kept-alive connection had
//!   closed meanwhile (the SUT restarted) is sent again on a fresh connection,
//!   as browsers and hyper's pooled client do; once written, a failure is the
//!   attempt's outcome;
//! - redirects are not followed: webhook producers treat a 3xx as a failed
//!   delivery (see [`super::classify`]).

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HOST, HeaderValue};
use http::uri::{PathAndQuery, Scheme as UriScheme};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::sync::Mutex;
use std::time::Duration;

/// Why an attempt got no HTTP answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    /// The target URL cannot be delivered to.
    #[error("invalid target URL: {0}")]
    InvalidUrl(String),
    /// The request could not be built (e.g. a header value with control characters).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// No connection could be opened.
    #[error("connect: {0}")]
    Connect(#[source] std::io::Error),
    /// The connection failed while the request was sent or answered.
    #[error(transparent)]
    Http(#[from] hyper::Error),
}

impl SendError {
    /// The short form written into an attempt's outcome: `connect` for a
    /// refused connection, otherwise the innermost cause (e.g. `connection
    /// reset by peer`).
    pub(crate) fn short(&self) -> String {
        match self {
            SendError::Connect(_) => "connect".to_string(),
            SendError::Http(e) => {
                let mut message = e.to_string();
                let mut source = std::error::Error::source(e);
                while let Some(s) = source {
                    message = s.to_string();
                    source = s.source();
                }
                message
            }
            other => other.to_string(),
        }
    }
}

/// What an attempt needs of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Answer {
    /// HTTP status.
    pub(crate) status: u16,
    /// A valid `Retry-After` in seconds, if the answer had one.
    pub(crate) retry_after: Option<Duration>,
}

/// Where requests go, parsed once.
#[derive(Debug)]
struct Endpoint {
    /// `host:port`, to connect to.
    authority: String,
    /// The `Host` header.
    host: HeaderValue,
    /// The request target (origin form).
    path: PathAndQuery,
}

/// Keep-alive HTTP/1.1 connections to one URL.
#[derive(Debug)]
pub(crate) struct Connections {
    endpoint: Result<Endpoint, String>,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
}

impl Connections {
    /// Connections to `url` (`http://host[:port]/path`); an unusable URL is
    /// reported by every [`Connections::send`], as a request would be.
    pub(crate) fn new(url: &str) -> Connections {
        Connections {
            endpoint: Endpoint::parse(url),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// A request to the target carrying `body`: `POST` to its path with its
    /// `Host` and `Content-Length`, and room for `more_headers` headers, so
    /// that neither the caller nor hyper grows the header map.
    pub(crate) fn request(
        &self,
        body: Bytes,
        more_headers: usize,
    ) -> Result<Request<Full<Bytes>>, SendError> {
        let endpoint = self.endpoint()?;
        let length = HeaderValue::from(body.len());
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = Uri::from(endpoint.path.clone());
        let headers = request.headers_mut();
        headers.reserve(2 + more_headers);
        headers.insert(HOST, endpoint.host.clone());
        headers.insert(CONTENT_LENGTH, length);
        Ok(request)
    }

    /// Sends `request` and reads the whole answer.
    pub(crate) async fn send(&self, request: Request<Full<Bytes>>) -> Result<Answer, SendError> {
        let endpoint = self.endpoint()?;
        let mut request = request;
        loop {
            let (mut sender, reused) = match self.take_idle() {
                Some(sender) => (sender, true),
                None => (Self::connect(endpoint).await?, false),
            };
            if let Err(e) = sender.ready().await {
                if reused {
                    continue;
                }
                return Err(e.into());
            }
            match sender.try_send_request(request).await {
                Ok(response) => {
                    let answer = Answer {
                        status: response.status().as_u16(),
                        retry_after: retry_after(response.headers()),
                    };
                    // Read the body so the connection can be kept alive.
                    response.into_body().collect().await?;
                    self.idle.lock().unwrap().push(sender);
                    return Ok(answer);
                }
                Err(mut e) => match e.take_message() {
                    // Never written: the kept-alive connection had closed.
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(e.into_error().into()),
                },
            }
        }
    }

    fn endpoint(&self) -> Result<&Endpoint, SendError> {
        self.endpoint
            .as_ref()
            .map_err(|e| SendError::InvalidUrl(e.clone()))
    }

    /// An idle connection that is not known to be closed.
    fn take_idle(&self) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.idle.lock().unwrap();
        while let Some(sender) = idle.pop() {
            if !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    async fn connect(endpoint: &Endpoint) -> Result<SendRequest<Full<Bytes>>, SendError> {
        let stream = tokio::net::TcpStream::connect(endpoint.authority.as_str())
            .await
            .map_err(SendError::Connect)?;
        stream.set_nodelay(true).map_err(SendError::Connect)?;
        // Webhook bodies are small: copied after the head, a request is one
        // plain write (as the mock CRM writes its answers) instead of a
        // two-buffer writev.
        let (sender, connection) = http1::Builder::new()
            .writev(false)
            .handshake(TokioIo::new(stream))
            .await?;
        tokio::spawn(async move {
            // Its errors reach the request that was in flight.
            let _ = connection.await;
        });
        Ok(sender)
    }
}

impl Endpoint {
    fn parse(url: &str) -> Result<Endpoint, String> {
        let uri: Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        if uri.scheme() != Some(&UriScheme::HTTP) {
            return Err(format!(
                "{url}: only http:// is supported (the SUT listens on loopback)"
            ));
        }
        let Some(authority) = uri.authority() else {
            return Err(format!("{url}: no host"));
        };
        let host = HeaderValue::from_str(authority.as_str()).map_err(|e| format!("{url}: {e}"))?;
        let authority = format!(
            "{}:{}",
            authority.host(),
            authority.port_u16().unwrap_or(80)
        );
        let path = uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        Ok(Endpoint {
            authority,
            host,
            path,
        })
    }
}

/// A `Retry-After` given in seconds (fractions allowed), if valid.
fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_parsed_once_into_what_a_request_needs() {
        let e = Endpoint::parse("http://127.0.0.1:4000/webhooks/helpdesk?x=1").unwrap();
        assert_eq!(e.authority, "127.0.0.1:4000");
        assert_eq!(e.host, "127.0.0.1:4000");
        assert_eq!(e.path.as_str(), "/webhooks/helpdesk?x=1");
        let e = Endpoint::parse("http://[::1]").unwrap();
        assert_eq!(e.authority, "[::1]:80");
        assert_eq!(e.path.as_str(), "/");
        assert!(
            Endpoint::parse("https://127.0.0.1/")
                .unwrap_err()
                .contains("only http://")
        );
        assert!(Endpoint::parse("not a url").is_err());
    }

    #[test]
    fn retry_after_takes_seconds_and_ignores_nonsense() {
        let mut h = http::HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", HeaderValue::from_static("1.5"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
        h.insert("retry-after", HeaderValue::from_static("-1"));
        assert_eq!(retry_after(&h), None);
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error() {
        // Bind then drop: the port is (almost certainly) closed now.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = Connections::new(&format!("http://127.0.0.1:{port}/hook"));
        let request = c.request(Bytes::new(), 0).unwrap();
        let e = c.send(request).await.unwrap_err();
        assert_eq!(e.short(), "connect");
    }
}
