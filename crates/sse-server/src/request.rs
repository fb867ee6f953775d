//! [`EventStreamRequest`]: what a handler learns from the request, and the
//! builder that turns it into the response plus its [`EventTarget`].

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode, Version};

use crate::body::EventStream;
use crate::error::{Error, Kind};
use crate::queue::{QueueLimit, Shared};
use crate::{EventTarget, Shutdown};

/// The default idle time after which a keep-alive comment is written.
///
/// Under the 30–60 s idle timeouts common in proxies and load balancers,
/// and frequent enough that a client which left is noticed within it.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The default write timeout ([`EventStreamBuilder::write_timeout`]): a
/// client that takes nothing for this long is disconnected.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Marks a response whose body is one of our event streams, so that the
/// light connection path can take the stream over from the body.
#[derive(Clone)]
#[cfg_attr(not(feature = "axum"), allow(dead_code))]
pub(crate) struct StreamMarker(pub(crate) Arc<Shared>);

/// What an event-stream handler needs from the request: whether the client
/// accepts `text/event-stream`, its `Last-Event-ID`, the HTTP version (for
/// the `Connection` header) and the [`Shutdown`] switch if the server set
/// one. Cheap to build; keeps nothing else of the request.
///
/// With the `axum` feature it is an extractor; elsewhere build it with
/// [`from_parts`](EventStreamRequest::from_parts) or
/// [`from_request`](EventStreamRequest::from_request).
#[derive(Clone, Debug)]
pub struct EventStreamRequest {
    version: Version,
    accepts: bool,
    last_event_id: Option<String>,
    shutdown: Option<Shutdown>,
}

impl EventStreamRequest {
    /// Reads what is needed from request parts.
    pub fn from_parts(parts: &http::request::Parts) -> Self {
        Self::from_head(parts.version, &parts.headers, &parts.extensions)
    }

    /// Reads what is needed from a request.
    pub fn from_request<B>(req: &http::Request<B>) -> Self {
        Self::from_head(req.version(), req.headers(), req.extensions())
    }

    fn from_head(version: Version, headers: &HeaderMap, ext: &http::Extensions) -> Self {
        let last_event_id = headers
            .get("last-event-id")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .filter(|s| !s.is_empty());
        EventStreamRequest {
            version,
            accepts: accepts_event_stream(headers),
            last_event_id,
            shutdown: ext.get::<Shutdown>().cloned(),
        }
    }

    /// Whether the client accepts `text/event-stream` (the check oak's docs
    /// use before `sendEvents()`).
    ///
    /// Follows RFC 9110 content negotiation: the most specific media range
    /// that matches (`text/event-stream`, then `text/*`, then `*/*`)
    /// decides, and `q=0` means "not acceptable". A request without
    /// `Accept` accepts anything. Browsers' `EventSource` always sends
    /// `Accept: text/event-stream`.
    pub fn accepts_event_stream(&self) -> bool {
        self.accepts
    }

    /// The `Last-Event-ID` header: the id of the last event the client saw
    /// before reconnecting. `None` when absent or empty. Bytes that are not
    /// UTF-8 are replaced with U+FFFD.
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// The request's HTTP version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Answers with an event stream using the defaults (keep-alive every
    /// [`DEFAULT_KEEP_ALIVE`], write timeout [`DEFAULT_WRITE_TIMEOUT`],
    /// [`QueueLimit::default`], no extra headers),
    /// oak's `sendEvents()`.
    pub fn send_events(self) -> (EventTarget, Response<EventStream>) {
        let (target, response) = self.into_builder().build_inner(HeaderMap::new());
        (target, response)
    }

    /// Answers with an event stream configured by the returned builder,
    /// oak's `sendEvents({ headers, keepAlive })`.
    pub fn into_builder(self) -> EventStreamBuilder {
        EventStreamBuilder {
            request: self,
            headers: Ok(HeaderMap::new()),
            keep_alive: Some(DEFAULT_KEEP_ALIVE),
            write_timeout: Some(DEFAULT_WRITE_TIMEOUT),
            retry: None,
            limit: QueueLimit::default(),
        }
    }
}

/// Configures the event-stream response; finish with
/// [`build`](EventStreamBuilder::build).
#[must_use = "the builder does nothing until `build` is called"]
#[derive(Debug)]
pub struct EventStreamBuilder {
    request: EventStreamRequest,
    headers: Result<HeaderMap, String>,
    keep_alive: Option<Duration>,
    write_timeout: Option<Duration>,
    retry: Option<Duration>,
    limit: QueueLimit,
}

impl From<EventStreamRequest> for EventStreamBuilder {
    fn from(request: EventStreamRequest) -> Self {
        request.into_builder()
    }
}

impl EventStreamBuilder {
    /// The request's `Last-Event-ID` (see
    /// [`EventStreamRequest::last_event_id`]).
    pub fn last_event_id(&self) -> Option<&str> {
        self.request.last_event_id()
    }

    /// Adds a response header, or replaces a default one (the defaults are
    /// `Content-Type`, `Cache-Control`, `X-Accel-Buffering` and, on
    /// HTTP/1.1, `Connection`). An invalid name or value makes
    /// [`build`](EventStreamBuilder::build) fail.
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        K::Error: std::fmt::Display,
        V: TryInto<HeaderValue>,
        V::Error: std::fmt::Display,
    {
        if let Ok(map) = self.headers.as_mut() {
            match (name.try_into(), value.try_into()) {
                (Ok(n), Ok(v)) => {
                    map.append(n, v);
                }
                (Err(e), _) => self.headers = Err(format!("name: {e}")),
                (_, Err(e)) => self.headers = Err(format!("value: {e}")),
            }
        }
        self
    }

    /// Sets the idle time after which a `:` comment is written; `None`
    /// turns keep-alive off (then a client that left is noticed only when
    /// an event is written). Any frame written resets the idle time. On
    /// [`serve`](crate::serve)'s light path one timer serves all streams,
    /// so the comment goes out up to 250 ms after the idle time.
    pub fn keep_alive(mut self, idle: Option<Duration>) -> Self {
        self.keep_alive = idle;
        self
    }

    /// Sets how long the stream may wait on a client that takes nothing
    /// (it stopped reading, or its network is gone without a reset) before
    /// the stream is ended and its memory freed; `None` waits for ever
    /// (then only the queue bound ends such a stream, and only once events
    /// fill it). Default [`DEFAULT_WRITE_TIMEOUT`].
    ///
    /// On [`serve`](crate::serve)'s light path the clock starts when the
    /// socket refuses a write and the sweep checks it every 250 ms. Behind
    /// hyper (`axum::serve`, HTTP/2, TLS) the clock starts when a frame is
    /// queued and the body does not take it, and the check happens on the
    /// next push (an event or, on the light path, a keep-alive).
    pub fn write_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Starts the stream with a `retry:` field: the client's reconnection
    /// delay.
    pub fn retry(mut self, delay: Duration) -> Self {
        self.retry = Some(delay);
        self
    }

    /// Sets the bound of the stream's queue.
    pub fn queue_limit(mut self, limit: QueueLimit) -> Self {
        self.limit = limit;
        self
    }

    /// Builds the response and the target that feeds it.
    ///
    /// # Errors
    /// When a header given to [`header`](EventStreamBuilder::header) was
    /// invalid.
    pub fn build(mut self) -> Result<(EventTarget, Response<EventStream>), Error> {
        let headers = std::mem::replace(&mut self.headers, Ok(HeaderMap::new()))
            .map_err(|e| Error::new(Kind::Header(e)))?;
        Ok(self.build_inner(headers))
    }

    fn build_inner(self, extra: HeaderMap) -> (EventTarget, Response<EventStream>) {
        let first = self.retry.map(|r| {
            let mut buf = BytesMut::new();
            sse_wire::encode_retry(r, &mut buf);
            buf.freeze()
        });
        let shared = Arc::new(Shared::new(
            self.limit,
            self.keep_alive,
            self.write_timeout,
            first,
        ));
        if let Some(s) = &self.request.shutdown {
            s.register(&shared);
        }
        let mut response = Response::new(EventStream::new(shared.clone()));
        *response.status_mut() = StatusCode::OK;
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(sse_wire::CONTENT_TYPE),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        // Tells nginx not to buffer the response (it would hold events).
        h.insert("x-accel-buffering", HeaderValue::from_static("no"));
        // `Connection` is a hop-by-hop header that HTTP/2 forbids; on 1.1 it
        // is the default but some proxies and old clients want it spelled out.
        if self.request.version == Version::HTTP_11 {
            h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        }
        // Caller's headers replace defaults of the same name; several values
        // under one name are all kept.
        let mut last: Option<HeaderName> = None;
        for (name, value) in extra {
            match name {
                Some(n) => {
                    h.insert(n.clone(), value);
                    last = Some(n);
                }
                None => {
                    if let Some(n) = &last {
                        h.append(n.clone(), value);
                    }
                }
            }
        }
        response
            .extensions_mut()
            .insert(StreamMarker(shared.clone()));
        (EventTarget::new(shared), response)
    }
}

/// A `204 No Content` answer: an `EventSource` that receives it stops
/// reconnecting for good. The same body type as a stream, so one handler
/// can return either.
pub fn no_content() -> Response<EventStream> {
    let shared = Arc::new(Shared::new(QueueLimit::default(), None, None, None));
    shared.finished();
    let mut response = Response::new(EventStream::new(shared));
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// RFC 9110 §12.5.1 for the one type we care about.
pub(crate) fn accepts_event_stream(headers: &HeaderMap) -> bool {
    let mut any = false;
    // (specificity, q > 0) of the most specific matching range so far.
    let mut best: Option<(u8, bool)> = None;
    for value in headers.get_all(header::ACCEPT) {
        any = true;
        let Ok(value) = std::str::from_utf8(value.as_bytes()) else {
            continue;
        };
        for range in value.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim();
            let specificity = if media.eq_ignore_ascii_case("text/event-stream") {
                3
            } else if media.eq_ignore_ascii_case("text/*") {
                2
            } else if media == "*/*" {
                1
            } else {
                continue;
            };
            let mut positive = true;
            for p in parts {
                if let Some((k, v)) = p.split_once('=') {
                    if k.trim().eq_ignore_ascii_case("q") {
                        positive = !is_zero_q(v.trim());
                    }
                }
            }
            match best {
                Some((s, _)) if s > specificity => {}
                // Same specificity twice: a positive one wins.
                Some((s, true)) if s == specificity => {}
                _ => best = Some((specificity, positive)),
            }
        }
    }
    match best {
        Some((_, positive)) => positive,
        None => !any,
    }
}

fn is_zero_q(q: &str) -> bool {
    // qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
    let mut chars = q.chars();
    chars.next() == Some('0') && chars.all(|c| c == '0' || c == '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(values: &[&str]) -> bool {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        }
        accepts_event_stream(&h)
    }

    #[test]
    fn accept_negotiation() {
        assert!(accepts(&[]));
        assert!(accepts(&["text/event-stream"]));
        assert!(accepts(&["TEXT/Event-Stream; charset=utf-8"]));
        assert!(accepts(&["application/json, */*;q=0.1"]));
        assert!(accepts(&["text/*"]));
        assert!(!accepts(&["application/json"]));
        assert!(!accepts(&["text/event-stream;q=0"]));
        assert!(!accepts(&["*/*", "text/event-stream;q=0.000"]));
        assert!(accepts(&["text/event-stream;q=0.5, */*;q=0"]));
        assert!(!accepts(&["text/html, text/*;q=0"]));
    }

    #[test]
    fn last_event_id_empty_is_none() {
        let req = http::Request::builder()
            .header("last-event-id", "")
            .body(())
            .unwrap();
        assert_eq!(EventStreamRequest::from_request(&req).last_event_id(), None);
        let req = http::Request::builder()
            .header("last-event-id", "42")
            .body(())
            .unwrap();
        assert_eq!(
            EventStreamRequest::from_request(&req).last_event_id(),
            Some("42")
        );
    }

    #[test]
    fn bad_header_is_a_typed_error() {
        let req = http::Request::builder().body(()).unwrap();
        let err = EventStreamRequest::from_request(&req)
            .into_builder()
            .header("x-ok", "a\nb")
            .build()
            .unwrap_err();
        assert!(err.is_invalid_header());
    }
}
