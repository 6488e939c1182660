//! The producer's HTTP/1.1 connections to its one target: a small client of
//! its own on plain [`TcpStream`]s, driven inline by the attempt that uses
//! them (no task per connection, no channel between an attempt and its
//! socket), as a producer that POSTs to one fixed URL needs nothing more.
//!
//! The target is parsed once, and the head common to every request (request
//! line, `host`, the producer's fixed headers) is built once. An attempt
//! takes an idle kept-alive connection (or connects, with `TCP_NODELAY`),
//! writes its whole request in one write, reads the answer head with
//! `httparse` and consumes the body (`Content-Length`, chunked with
//! trailers, none for 1xx/204/304, else to the close). Only the status and
//! `Retry-After` of an answer are kept. A hostile SUT cannot make it
//! allocate without limit: heads (and trailers) over [`MAX_HEAD`] bytes or
//! with more than [`MAX_HEADERS`] headers are errors, and bodies are read
//! through a fixed buffer and thrown away.
//!
//! Semantics a chaos run relies on:
//! - dropping an attempt (its timeout) closes its connection, so the SUT sees
//!   the producer hang up;
//! - a connection is kept alive only when the answer allows it (HTTP/1.1
//!   without `Connection: close`, HTTP/1.0 with `Connection: keep-alive`)
//!   and its body had a known end; an idle connection the SUT is seen to have
//!   closed is not used;
//! - **a request on a reused connection (one that already carried an
//!   answer) that fails with a reset, an end of stream or a broken pipe
//!   before any byte of the answer arrived is sent again, once, at once, on
//!   a fresh connection.** A kept-alive connection can be closed by the SUT
//!   at any moment, and a producer cannot tell "closed just before my request
//!   arrived" from "closed after reading it": browsers, hyper's pooled client
//!   and Go's `net/http` (for requests that carry an idempotency key) resend
//!   in exactly this case. A webhook delivery carries its event id, which
//!   receivers must deduplicate by, so resending it is safe by the contract
//!   hookproof tests. A resend after a request was (at least partly)
//!   written is recorded on the attempt
//!   ([`crate::history::DeliveryLog::resent`]), so the evidence shows that the
//!   request went out twice; one that could not be written at all is not.
//!   Never resent: a request on a fresh connection, one whose answer had
//!   begun, one that timed out;
//! - redirects are not followed: webhook producers treat a 3xx as a failed
//!   delivery (see [`super::classify`]).

use http::Uri;
use http::uri::Scheme as UriScheme;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most bytes an answer head (status line and headers), or the trailer
/// section of a chunked body, may take.
pub(crate) const MAX_HEAD: usize = 64 * 1024;
/// The most headers an answer head may have (as hyper's default).
pub(crate) const MAX_HEADERS: usize = 100;
/// The longest line a chunk size (with its extensions) may take.
const MAX_CHUNK_LINE: usize = 4096;
/// How much a read asks the kernel for at least.
const READ_SIZE: usize = 8 * 1024;

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
    Connect(#[source] io::Error),
    /// The connection failed while the request was written or the answer read.
    #[error("{0}")]
    Io(#[source] io::Error),
    /// The SUT closed the connection before the answer was complete.
    #[error("connection closed before message completed")]
    Closed,
    /// The answer head (or the trailers) took more than [`MAX_HEAD`] bytes
    /// or more than [`MAX_HEADERS`] headers.
    #[error("answer head too large")]
    HeadTooLarge,
    /// The answer is not HTTP/1.x as a client can read it.
    #[error("invalid answer: {0}")]
    Malformed(&'static str),
}

impl SendError {
    /// The short form written into an attempt's outcome: `connect` for a
    /// refused connection, the operating system's message for a failed read
    /// or write (e.g. `Connection reset by peer (os error 104)`), otherwise
    /// the error itself.
    pub(crate) fn short(&self) -> String {
        match self {
            SendError::Connect(_) => "connect".to_string(),
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
    /// `POST <path> HTTP/1.1`, `host` and the fixed headers, each line
    /// ended by CRLF.
    prefix: Vec<u8>,
}

/// A request being built: the common head, then [`Request::header`]s, then
/// [`Request::finish`] adds `content-length` and the body.
#[derive(Debug)]
pub(crate) struct Request {
    bytes: Vec<u8>,
}

impl Request {
    /// Appends a header. `name` must be a token, and is written in lowercase
    /// (as hyper wrote names, so the wire stays as it was); `value` must be
    /// visible ASCII, spaces, tabs or bytes above 127, as in
    /// `http::HeaderValue`.
    pub(crate) fn header(&mut self, name: &str, value: &[u8]) -> Result<(), SendError> {
        if name.is_empty() || !name.bytes().all(|b| TOKEN[usize::from(b)]) {
            return Err(SendError::InvalidRequest(format!(
                "invalid header name {name:?}"
            )));
        }
        if let Some(b) = value.iter().find(|&&b| !FIELD_VALUE[usize::from(b)]) {
            return Err(SendError::InvalidRequest(format!(
                "{name}: invalid byte {b:#04x} in the header value"
            )));
        }
        let start = self.bytes.len();
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes[start..].make_ascii_lowercase();
        self.bytes.extend_from_slice(b": ");
        self.bytes.extend_from_slice(value);
        self.bytes.extend_from_slice(b"\r\n");
        Ok(())
    }

    /// The request, complete with `content-length` and `body`.
    pub(crate) fn finish(mut self, body: &[u8]) -> Request {
        self.bytes.extend_from_slice(b"content-length: ");
        push_decimal(&mut self.bytes, body.len());
        self.bytes.extend_from_slice(b"\r\n\r\n");
        self.bytes.extend_from_slice(body);
        self
    }

    /// The bytes on the wire.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// The bytes of a token (RFC 9110), such as a header name.
const TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        b += 1;
    }
    table
};

/// The bytes a header value may hold (as `http::HeaderValue` allows):
/// anything but control characters other than tab.
const FIELD_VALUE: [bool; 256] = {
    let mut table = [true; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b == 0x09;
        b += 1;
    }
    table[0x7f] = false;
    table
};

/// Appends `n` in decimal, without allocating.
fn push_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Keep-alive HTTP/1.1 connections to one URL.
#[derive(Debug)]
pub(crate) struct Connections {
    endpoint: Arc<Result<Endpoint, String>>,
    idle: Mutex<Vec<Connection>>,
}

impl Connections {
    /// Connections to `url` (`http://host[:port]/path`), every request
    /// carrying the `fixed` headers (lowercase names); an unusable URL or
    /// fixed header is reported by every [`Connections::request`], as a
    /// request would be.
    pub(crate) fn new(url: &str, fixed: &[(&str, &str)]) -> Connections {
        Connections {
            endpoint: Arc::new(Endpoint::parse(url, fixed)),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Connections to the same target, parsed already, with no idle
    /// connection: for another runtime (a connection belongs to the runtime
    /// that opened it).
    pub(crate) fn without_idle(&self) -> Connections {
        Connections {
            endpoint: self.endpoint.clone(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// A request to the target with room for `more` bytes of headers and
    /// body: the common head, ready for [`Request::header`].
    pub(crate) fn request(&self, more: usize) -> Result<Request, SendError> {
        let endpoint = self.endpoint()?;
        let mut bytes = Vec::with_capacity(endpoint.prefix.len() + 32 + more);
        bytes.extend_from_slice(&endpoint.prefix);
        Ok(Request { bytes })
    }

    /// Sends `request` and reads the whole answer. Sets `resent` when the
    /// request was written on a reused connection that failed before
    /// answering and then written again on a fresh one (see the module
    /// documentation); it is set before the second write, so an attempt
    /// that times out during it still knows.
    pub(crate) async fn send(
        &self,
        request: &Request,
        resent: &mut bool,
    ) -> Result<Answer, SendError> {
        let endpoint = self.endpoint()?;
        let request = request.as_bytes();
        let (mut connection, reused) = match self.take_idle() {
            Some(connection) => (connection, true),
            None => (Connection::open(&endpoint.authority).await?, false),
        };
        let failure = match connection.exchange(request).await {
            Ok(answer) => {
                self.release(connection, answer.keep_alive);
                return Ok(answer.answer);
            }
            Err(failure) => failure,
        };
        drop(connection);
        if !(reused && failure.replayable()) {
            return Err(failure.error);
        }
        let mut connection = Connection::open(&endpoint.authority).await?;
        // Set before the second write, so that a timeout during it still
        // knows; not set when the first write handed nothing to the kernel.
        *resent = failure.written;
        let answer = connection.exchange(request).await.map_err(|f| f.error)?;
        self.release(connection, answer.keep_alive);
        Ok(answer.answer)
    }

    fn endpoint(&self) -> Result<&Endpoint, SendError> {
        self.endpoint
            .as_ref()
            .as_ref()
            .map_err(|e| SendError::InvalidUrl(e.clone()))
    }

    /// An idle connection the SUT is not known to have closed.
    fn take_idle(&self) -> Option<Connection> {
        let mut idle = self.idle.lock().unwrap();
        while let Some(connection) = idle.pop() {
            if connection.looks_open() {
                return Some(connection);
            }
        }
        None
    }

    fn release(&self, connection: Connection, keep_alive: bool) {
        if keep_alive {
            self.idle.lock().unwrap().push(connection);
        }
    }
}

impl Endpoint {
    fn parse(url: &str, fixed: &[(&str, &str)]) -> Result<Endpoint, String> {
        let uri: Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        if uri.scheme() != Some(&UriScheme::HTTP) {
            return Err(format!(
                "{url}: only http:// is supported (the SUT listens on loopback)"
            ));
        }
        let Some(authority) = uri.authority() else {
            return Err(format!("{url}: no host"));
        };
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut head = Request {
            bytes: format!("POST {path} HTTP/1.1\r\n").into_bytes(),
        };
        let header = |head: &mut Request, name: &str, value: &str| {
            head.header(name, value.as_bytes())
                .map_err(|e| format!("{url}: {e}"))
        };
        header(&mut head, "host", authority.as_str())?;
        for (name, value) in fixed {
            header(&mut head, name, value)?;
        }
        Ok(Endpoint {
            authority: format!(
                "{}:{}",
                authority.host(),
                authority.port_u16().unwrap_or(80)
            ),
            prefix: head.bytes,
        })
    }
}

/// One connection to the target and the bytes read from it but not yet used.
#[derive(Debug)]
struct Connection {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// An answer read whole, and whether its connection may carry another request.
#[derive(Debug)]
struct Exchanged {
    answer: Answer,
    keep_alive: bool,
}

/// An exchange that failed, and how far it got.
#[derive(Debug)]
struct Failure {
    error: SendError,
    /// Some of the request was handed to the kernel.
    written: bool,
    /// Some of the answer arrived.
    answered: bool,
}

impl Failure {
    /// Whether the request may be sent again on a fresh connection (when it
    /// failed on a reused one): the connection broke before any byte of the
    /// answer arrived.
    fn replayable(&self) -> bool {
        !self.answered
            && match &self.error {
                SendError::Closed => true,
                SendError::Io(e) => matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset
                        | io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::BrokenPipe
                        | io::ErrorKind::UnexpectedEof
                ),
                _ => false,
            }
    }
}

/// How an answer's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// No body (1xx, 204, 304).
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the SUT closes the connection.
    ToClose,
}

/// What the head of a final answer says.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    answer: Answer,
    framing: Framing,
    /// The connection may be reused, as far as the head goes.
    keep_alive: bool,
}

/// What parsing the start of a buffer found.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    /// More bytes are needed.
    Partial,
    /// An informational (1xx) head of this many bytes, to skip.
    Informational(usize),
    /// A final head of this many bytes.
    Final(usize, Head),
}

/// Parses the answer head at the start of `buf`.
fn parse_head(buf: &[u8]) -> Result<Parsed, SendError> {
    // Left uninitialised: httparse writes those it parses (initialising
    // 100 headers for every answer cost more than parsing them).
    let mut headers = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        buf,
        &mut headers,
    );
    let length = match parsed {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => {
            return Err(SendError::HeadTooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
        Err(httparse::Error::TooManyHeaders) => return Err(SendError::HeadTooLarge),
        Err(httparse::Error::Status) => return Err(SendError::Malformed("status line")),
        Err(httparse::Error::Version) => return Err(SendError::Malformed("HTTP version")),
        Err(_) => return Err(SendError::Malformed("head")),
    };
    if length > MAX_HEAD {
        return Err(SendError::HeadTooLarge);
    }
    let status = response.code.expect("a complete head has a status");
    match status {
        101 => return Err(SendError::Malformed("101 Switching Protocols")),
        100..=199 => return Ok(Parsed::Informational(length)),
        _ => {}
    }
    let http11 = response.version == Some(1);
    let (mut close, mut keep_alive_token) = (false, false);
    let (mut chunked, mut encoded) = (false, false);
    let mut content_length: Option<u64> = None;
    let mut retry_after = None;
    for header in response.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("connection") {
            for token in tokens(header.value) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // The last coding decides: chunked, or read to the close.
            encoded = true;
            if let Some(last) = tokens(header.value).last() {
                chunked = last.eq_ignore_ascii_case(b"chunked");
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            for token in tokens(header.value) {
                let n = std::str::from_utf8(token)
                    .ok()
                    .filter(|t| t.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|t| t.parse::<u64>().ok())
                    .ok_or(SendError::Malformed("content-length"))?;
                if content_length.is_some_and(|m| m != n) {
                    return Err(SendError::Malformed("content-length"));
                }
                content_length = Some(n);
            }
        } else if name.eq_ignore_ascii_case("retry-after") {
            retry_after = parse_retry_after(header.value);
        }
    }
    let framing = match status {
        204 | 304 => Framing::Empty,
        _ if encoded && chunked => Framing::Chunked,
        _ if encoded => Framing::ToClose,
        _ => content_length.map_or(Framing::ToClose, Framing::Length),
    };
    let keep_alive = framing != Framing::ToClose && !close && (http11 || keep_alive_token);
    Ok(Parsed::Final(
        length,
        Head {
            answer: Answer {
                status,
                retry_after,
            },
            framing,
            keep_alive,
        },
    ))
}

/// The comma-separated, trimmed, non-empty elements of a header value.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(|t| t.trim_ascii())
        .filter(|t| !t.is_empty())
}

/// A `Retry-After` given in seconds (fractions allowed), if valid. A value
/// too large for a [`Duration`] (e.g. `1e300`) is [`Duration::MAX`], not a
/// panic: the delivery policy caps it (`max_retry_after`).
fn parse_retry_after(value: &[u8]) -> Option<Duration> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX))
}

/// What a chunk-size line says.
#[derive(Debug, PartialEq, Eq)]
enum ChunkLine {
    /// More bytes are needed.
    Partial,
    /// A line of this many bytes (line end included) announcing a chunk of
    /// this size (0: the last chunk, then trailers).
    Size(usize, u64),
}

/// Parses a chunk-size line (`1a;ext=v\r\n`) at the start of `buf`.
fn parse_chunk_line(buf: &[u8]) -> Result<ChunkLine, SendError> {
    let Some(end) = buf.iter().position(|&b| b == b'\n') else {
        return if buf.len() > MAX_CHUNK_LINE {
            Err(SendError::Malformed("chunk size line too long"))
        } else {
            Ok(ChunkLine::Partial)
        };
    };
    if end > MAX_CHUNK_LINE {
        return Err(SendError::Malformed("chunk size line too long"));
    }
    let line = buf[..end].strip_suffix(b"\r").unwrap_or(&buf[..end]);
    let digits = line.split(|&b| b == b';').next().unwrap_or_default();
    let digits = digits.trim_ascii();
    if digits.is_empty() || digits.len() > 16 {
        return Err(SendError::Malformed("chunk size"));
    }
    let size = std::str::from_utf8(digits)
        .ok()
        .and_then(|d| u64::from_str_radix(d, 16).ok())
        .ok_or(SendError::Malformed("chunk size"))?;
    Ok(ChunkLine::Size(end + 1, size))
}

/// The length of the trailer section (up to and including its empty line)
/// at the start of `buf`, if complete.
fn trailers_end(buf: &[u8]) -> Result<Option<usize>, SendError> {
    let mut at = 0;
    while let Some(end) = buf[at..].iter().position(|&b| b == b'\n') {
        let line = &buf[at..at + end];
        at += end + 1;
        if line.is_empty() || line == b"\r" {
            return Ok(Some(at));
        }
        if at > MAX_HEAD {
            break;
        }
    }
    if buf.len() > MAX_HEAD {
        return Err(SendError::HeadTooLarge);
    }
    Ok(None)
}

impl Connection {
    async fn open(authority: &str) -> Result<Connection, SendError> {
        let stream = TcpStream::connect(authority)
            .await
            .map_err(SendError::Connect)?;
        stream.set_nodelay(true).map_err(SendError::Connect)?;
        Ok(Connection {
            stream,
            buf: Vec::with_capacity(READ_SIZE),
        })
    }

    /// Whether the SUT has not been seen closing this idle connection (or
    /// sending on it). Costs no system call unless the runtime saw the
    /// socket become readable.
    fn looks_open(&self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.stream.try_read(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Writes `request`, reads the answer.
    async fn exchange(&mut self, request: &[u8]) -> Result<Exchanged, Failure> {
        let mut written = false;
        let mut rest = request;
        while !rest.is_empty() {
            match self.stream.write(rest).await {
                Ok(0) => {
                    return Err(Failure {
                        error: SendError::Io(io::ErrorKind::WriteZero.into()),
                        written,
                        answered: false,
                    });
                }
                Ok(n) => {
                    written = true;
                    rest = &rest[n..];
                }
                Err(e) => {
                    return Err(Failure {
                        error: SendError::Io(e),
                        written,
                        answered: false,
                    });
                }
            }
        }
        self.buf.clear();
        let mut answered = false;
        self.read_answer(&mut answered)
            .await
            .map_err(|error| Failure {
                error,
                written: true,
                answered,
            })
    }

    /// Reads more bytes into the buffer; end of stream is [`SendError::Closed`].
    async fn fill(&mut self, answered: &mut bool) -> Result<(), SendError> {
        self.buf.reserve(READ_SIZE);
        match self.stream.read_buf(&mut self.buf).await {
            Ok(0) => Err(SendError::Closed),
            Ok(_) => {
                *answered = true;
                Ok(())
            }
            Err(e) => Err(SendError::Io(e)),
        }
    }

    async fn read_answer(&mut self, answered: &mut bool) -> Result<Exchanged, SendError> {
        let head = loop {
            match parse_head(&self.buf)? {
                Parsed::Partial => self.fill(answered).await?,
                Parsed::Informational(length) => {
                    self.buf.drain(..length);
                }
                Parsed::Final(length, head) => {
                    self.buf.drain(..length);
                    break head;
                }
            }
        };
        match head.framing {
            Framing::Empty => {}
            Framing::Length(n) => self.skip(n, answered).await?,
            Framing::Chunked => self.skip_chunked(answered).await?,
            Framing::ToClose => loop {
                self.buf.clear();
                match self.fill(answered).await {
                    Ok(()) => {}
                    Err(SendError::Closed) => break,
                    Err(e) => return Err(e),
                }
            },
        }
        // Bytes past the answer were never asked for: do not reuse.
        let keep_alive = head.keep_alive && self.buf.is_empty();
        Ok(Exchanged {
            answer: head.answer,
            keep_alive,
        })
    }

    /// Consumes `n` bytes of body.
    async fn skip(&mut self, mut n: u64, answered: &mut bool) -> Result<(), SendError> {
        loop {
            let here = usize::try_from(n).unwrap_or(usize::MAX).min(self.buf.len());
            if here == self.buf.len() {
                self.buf.clear();
            } else {
                self.buf.drain(..here);
            }
            n -= here as u64;
            if n == 0 {
                return Ok(());
            }
            self.fill(answered).await?;
        }
    }

    /// Consumes a chunked body and its trailers.
    async fn skip_chunked(&mut self, answered: &mut bool) -> Result<(), SendError> {
        loop {
            let size = match parse_chunk_line(&self.buf)? {
                ChunkLine::Partial => {
                    self.fill(answered).await?;
                    continue;
                }
                ChunkLine::Size(length, size) => {
                    self.buf.drain(..length);
                    size
                }
            };
            if size == 0 {
                loop {
                    if let Some(length) = trailers_end(&self.buf)? {
                        self.buf.drain(..length);
                        return Ok(());
                    }
                    self.fill(answered).await?;
                }
            }
            self.skip(size, answered).await?;
            // The chunk's own line end.
            loop {
                let length = match self.buf.as_slice() {
                    [b'\r', b'\n', ..] => 2,
                    [b'\n', ..] => 1,
                    [] | [b'\r'] => 0,
                    _ => return Err(SendError::Malformed("chunk not followed by a line end")),
                };
                if length > 0 {
                    self.buf.drain(..length);
                    break;
                }
                self.fill(answered).await?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    fn head(text: &str) -> Head {
        match parse_head(text.as_bytes()).unwrap() {
            Parsed::Final(length, head) => {
                assert_eq!(length, text.len());
                head
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn endpoints_are_parsed_once_into_the_common_head() {
        let e = Endpoint::parse(
            "http://127.0.0.1:4000/webhooks/helpdesk?x=1",
            &[("content-type", "application/json")],
        )
        .unwrap();
        assert_eq!(e.authority, "127.0.0.1:4000");
        assert_eq!(
            e.prefix,
            b"POST /webhooks/helpdesk?x=1 HTTP/1.1\r\nhost: 127.0.0.1:4000\r\ncontent-type: application/json\r\n"
        );
        let e = Endpoint::parse("http://[::1]", &[]).unwrap();
        assert_eq!(e.authority, "[::1]:80");
        assert!(e.prefix.starts_with(b"POST / HTTP/1.1\r\nhost: [::1]\r\n"));
        assert!(
            Endpoint::parse("https://127.0.0.1/", &[])
                .unwrap_err()
                .contains("only http://")
        );
        assert!(Endpoint::parse("not a url", &[]).is_err());
    }

    #[test]
    fn requests_are_one_buffer_and_refuse_bad_headers() {
        let c = Connections::new("http://127.0.0.1:1/h", &[]);
        let mut r = c.request(0).unwrap();
        r.header("traceparent", b"00-ab-01").unwrap();
        assert!(matches!(
            r.header("x-bad", b"a\r\nb"),
            Err(SendError::InvalidRequest(_))
        ));
        assert!(matches!(
            r.header("bad name", b"v"),
            Err(SendError::InvalidRequest(_))
        ));
        let r = r.finish(b"{}");
        assert_eq!(
            r.as_bytes(),
            b"POST /h HTTP/1.1\r\nhost: 127.0.0.1:1\r\ntraceparent: 00-ab-01\r\ncontent-length: 2\r\n\r\n{}"
        );
        let bad = Connections::new("ftp://x/", &[]);
        assert!(matches!(bad.request(0), Err(SendError::InvalidUrl(_))));
    }

    #[test]
    fn heads_say_how_the_body_ends_and_whether_to_keep_the_connection() {
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n");
        assert_eq!(h.answer.status, 200);
        assert_eq!((h.framing, h.keep_alive), (Framing::Length(12), true));
        let h = head("HTTP/1.1 200 OK\r\ncontent-length: 0\r\nConnection: close\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::Length(0), false));
        // HTTP/1.0: closed unless kept alive.
        let h = head("HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\n");
        assert!(!h.keep_alive);
        let h = head("HTTP/1.0 200 OK\r\ncontent-length: 2\r\nconnection: Keep-Alive\r\n\r\n");
        assert!(h.keep_alive);
        // Chunked wins over a length; another coding last means to the close.
        let h = head(
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: gzip, chunked\r\n\r\n",
        );
        assert_eq!((h.framing, h.keep_alive), (Framing::Chunked, true));
        let h = head("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, gzip\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::ToClose, false));
        // Neither: read to the close, never reused.
        let h = head("HTTP/1.1 500 Oops\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::ToClose, false));
        // No body, whatever the headers say.
        for status in [204, 304] {
            let h = head(&format!("HTTP/1.1 {status} X\r\ncontent-length: 9\r\n\r\n"));
            assert_eq!((h.framing, h.keep_alive), (Framing::Empty, true));
        }
        let h = head("HTTP/1.1 429 Slow\r\nRetry-After: 1.5\r\ncontent-length: 0\r\n\r\n");
        assert_eq!(h.answer.retry_after, Some(Duration::from_millis(1500)));
    }

    #[test]
    fn informational_heads_are_skipped_and_partial_heads_wait() {
        let text = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n";
        assert_eq!(parse_head(text).unwrap(), Parsed::Informational(25));
        assert_eq!(parse_head(&text[25..]).unwrap(), Parsed::Partial);
        assert_eq!(parse_head(b"").unwrap(), Parsed::Partial);
        assert!(matches!(
            parse_head(b"HTTP/1.1 101 Switching Protocols\r\n\r\n"),
            Err(SendError::Malformed(_))
        ));
    }

    #[test]
    fn malformed_and_oversized_heads_are_typed_errors() {
        assert!(matches!(
            parse_head(b"HTTP/1.1 abc OK\r\n\r\n"),
            Err(SendError::Malformed("status line"))
        ));
        assert!(matches!(
            parse_head(b"SMTP ready\r\n\r\n"),
            Err(SendError::Malformed(_))
        ));
        assert!(matches!(
            parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 1, 2\r\n\r\n"),
            Err(SendError::Malformed("content-length"))
        ));
        assert!(matches!(
            parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n"),
            Err(SendError::Malformed("content-length"))
        ));
        // A head that never ends.
        let mut endless = b"HTTP/1.1 200 OK\r\n".to_vec();
        while endless.len() < MAX_HEAD {
            endless.extend_from_slice(b"x-filler: 0123456789012345678901234567890123456789\r\n");
        }
        assert!(matches!(parse_head(&endless), Err(SendError::HeadTooLarge)));
        let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("x-{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert!(matches!(parse_head(&many), Err(SendError::HeadTooLarge)));
        assert_eq!(SendError::HeadTooLarge.short(), "answer head too large");
        assert_eq!(
            SendError::Malformed("status line").short(),
            "invalid answer: status line"
        );
    }

    #[test]
    fn chunk_lines_take_extensions_and_bound_their_length() {
        assert_eq!(
            parse_chunk_line(b"1a;name=value\r\nxx").unwrap(),
            ChunkLine::Size(15, 26)
        );
        assert_eq!(parse_chunk_line(b"0\r\n").unwrap(), ChunkLine::Size(3, 0));
        assert_eq!(parse_chunk_line(b"1a").unwrap(), ChunkLine::Partial);
        assert!(parse_chunk_line(b"zz\r\n").is_err());
        assert!(parse_chunk_line(b"11111111111111111\r\n").is_err());
        assert!(parse_chunk_line(&[b'1'; MAX_CHUNK_LINE + 1]).is_err());
        assert_eq!(trailers_end(b"\r\nrest").unwrap(), Some(2));
        assert_eq!(trailers_end(b"x-t: 1\r\n\r\n").unwrap(), Some(10));
        assert_eq!(trailers_end(b"x-t: 1\r\n").unwrap(), None);
        assert!(trailers_end(&vec![b'x'; MAX_HEAD + 1]).is_err());
    }

    #[test]
    fn retry_after_takes_seconds_and_ignores_nonsense() {
        assert_eq!(parse_retry_after(b"2"), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after(b" 1.5 "),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_retry_after(b"-1"), None);
        assert_eq!(parse_retry_after(b"NaN"), None);
        // A hostile SUT cannot make the producer panic with a huge value.
        assert_eq!(parse_retry_after(b"1e300"), Some(Duration::MAX));
        assert_eq!(parse_retry_after(b"Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    /// A receiver that answers each connection's requests with `answers[i]`
    /// for the i-th connection it accepts (`None`: read the request, then
    /// reset the connection), one request per answer, then waits for the
    /// next connection. Returns the URL and how many requests it read.
    async fn scripted(answers: Vec<Vec<Option<&'static [u8]>>>) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let seen = requests.clone();
        tokio::spawn(async move {
            for script in answers {
                let (mut stream, _) = listener.accept().await.unwrap();
                for answer in script {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 4096];
                    // The test requests have an empty body: the head is all.
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    seen.fetch_add(1, Ordering::SeqCst);
                    match answer {
                        Some(bytes) => stream.write_all(bytes).await.unwrap(),
                        None => {
                            stream.set_zero_linger().unwrap();
                            break;
                        }
                    }
                }
            }
        });
        (url, requests)
    }

    use std::sync::atomic::{AtomicUsize, Ordering};

    async fn send(c: &Connections) -> (Result<Answer, SendError>, bool) {
        let request = c.request(0).unwrap().finish(b"");
        let mut resent = false;
        let result = c.send(&request, &mut resent).await;
        (result, resent)
    }

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

    #[tokio::test]
    async fn bodies_of_every_framing_are_read_and_the_connection_kept_when_allowed() {
        let (url, requests) = scripted(vec![
            vec![
                Some(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nx-trailer: 1\r\n\r\n"),
                Some(b"HTTP/1.1 204 No Content\r\n\r\n"),
                Some(b"HTTP/1.1 429 Slow\r\nretry-after: 3\r\ncontent-length: 5\r\n\r\nslow!"),
                Some(b"HTTP/1.0 201 Created\r\n\r\nread to the close"),
            ],
            vec![Some(b"HTTP/1.1 302 Found\r\nlocation: /x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")],
            vec![Some(OK)],
        ])
        .await;
        let c = Connections::new(&url, &[]);
        let statuses = [200, 204, 429, 201, 302, 200];
        for status in statuses {
            let (answer, resent) = send(&c).await;
            let answer = answer.unwrap();
            assert_eq!(answer.status, status);
            assert!(!resent);
            if status == 429 {
                assert_eq!(answer.retry_after, Some(Duration::from_secs(3)));
            }
        }
        assert_eq!(requests.load(Ordering::SeqCst), statuses.len());
    }

    #[tokio::test]
    async fn a_reused_connection_reset_before_answering_is_resent_once_on_a_fresh_one() {
        let (url, requests) = scripted(vec![vec![Some(OK), None], vec![Some(OK)]]).await;
        let c = Connections::new(&url, &[]);
        assert!(matches!(
            send(&c).await,
            (Ok(Answer { status: 200, .. }), false)
        ));
        let (answer, resent) = send(&c).await;
        assert_eq!(answer.unwrap().status, 200);
        assert!(resent);
        assert_eq!(requests.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_fresh_connection_reset_is_a_failure_and_not_resent() {
        let (url, requests) = scripted(vec![vec![None], vec![Some(OK)]]).await;
        let c = Connections::new(&url, &[]);
        let (answer, resent) = send(&c).await;
        assert!(
            matches!(answer, Err(SendError::Io(_) | SendError::Closed)),
            "{answer:?}"
        );
        assert!(!resent);
        assert_eq!(requests.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_reset_after_part_of_the_answer_is_a_failure_and_not_resent() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let seen = requests.clone();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            // First request: a whole answer; second: half an answer, then a reset.
            for answer in [OK, b"HTTP/1.1 200 OK\r\ncontent-le".as_slice()] {
                let _ = stream.read(&mut buf).await.unwrap();
                seen.fetch_add(1, Ordering::SeqCst);
                stream.write_all(answer).await.unwrap();
            }
            stream.set_zero_linger().unwrap();
            drop(stream);
            // A resend would be answered here.
            while let Ok((mut stream, _)) = listener.accept().await {
                let _ = stream.read(&mut buf).await;
                seen.fetch_add(1, Ordering::SeqCst);
                let _ = stream.write_all(OK).await;
            }
        });
        let c = Connections::new(&url, &[]);
        assert_eq!(send(&c).await.0.unwrap().status, 200);
        let (answer, resent) = send(&c).await;
        assert!(
            matches!(answer, Err(SendError::Io(_) | SendError::Closed)),
            "{answer:?}"
        );
        assert!(!resent);
        assert_eq!(requests.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_answer_cut_short_is_closed_and_a_bad_chunk_malformed() {
        // One connection per answer, each closed (not reset) after it.
        let cut: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort";
        let bad: &[u8] = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabcX";
        let (url, requests) = scripted(vec![vec![Some(cut)], vec![Some(bad)]]).await;
        let c = Connections::new(&url, &[]);
        let (answer, resent) = send(&c).await;
        assert!(matches!(answer, Err(SendError::Closed)), "{answer:?}");
        assert!(!resent);
        let (answer, resent) = send(&c).await;
        assert!(matches!(answer, Err(SendError::Malformed(_))), "{answer:?}");
        assert!(!resent);
        assert_eq!(requests.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn decimals_are_written_without_allocating() {
        for n in [0, 7, 10, 1234567890, usize::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error() {
        // Bind then drop: the port is (almost certainly) closed now.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = Connections::new(&format!("http://127.0.0.1:{port}/hook"), &[]);
        let (e, resent) = send(&c).await;
        assert_eq!(e.unwrap_err().short(), "connect");
        assert!(!resent);
    }
}
