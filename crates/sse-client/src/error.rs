//! The one error type: opaque, with predicates, so new causes can be added
//! without breaking anyone's `match`.

use std::fmt;
use std::time::Duration;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a connection failed or ended, or why a builder or JSON conversion
/// was refused.
///
/// Ask with the `is_*` predicates; [`status`](Error::status) gives the HTTP
/// status when there was one. The `Display` text is meant for people (it
/// never contains event data); the source chain has the lower-level cause.
#[derive(thiserror::Error)]
#[error("{kind}")]
pub struct Error {
    kind: Kind,
    #[source]
    source: Option<BoxError>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum Kind {
    #[error("invalid configuration: {0}")]
    Builder(String),
    #[error("cannot connect to {0}")]
    Connect(String),
    #[error("cannot connect to the proxy {0}")]
    ProxyConnect(String),
    #[error("TLS handshake with {0} failed")]
    Tls(String),
    #[error("no response within the connect timeout of {0:?}")]
    ConnectTimeout(Duration),
    #[error("no bytes received for the idle timeout of {0:?}")]
    IdleTimeout(Duration),
    #[error("HTTP error")]
    Http,
    /// The proxy's address, or what was wrong with its answer.
    #[error("proxy error: {0}")]
    Proxy(String),
    #[error("the proxy answered {0} to CONNECT")]
    ProxyStatus(http::StatusCode),
    #[error("the before-connect hook failed")]
    Hook,
    #[error("the server answered {0}, not 200")]
    Status(http::StatusCode),
    #[error("the server answered 204 No Content: the stream is over")]
    NoContent,
    /// The content type as received (quoted), or "missing".
    #[error("the content type is {0}, not text/event-stream")]
    ContentType(String),
    #[error("more than {0} redirects")]
    TooManyRedirects(usize),
    #[error("invalid redirect target: {0}")]
    Redirect(String),
    #[error("the server ended the stream")]
    Eof,
    #[error("the event stream broke a size limit")]
    Decode,
    #[error("the event data is not the expected JSON")]
    Json,
}

impl Error {
    pub(crate) fn new(kind: Kind) -> Self {
        Error { kind, source: None }
    }

    pub(crate) fn with(kind: Kind, source: impl Into<BoxError>) -> Self {
        Error {
            kind,
            source: Some(source.into()),
        }
    }

    pub(crate) fn kind(&self) -> &Kind {
        &self.kind
    }

    /// The builder was given something unusable (a URL that is not
    /// absolute `http`/`https`, an invalid header).
    pub fn is_builder(&self) -> bool {
        matches!(self.kind, Kind::Builder(_))
    }

    /// A network failure: cannot connect, TLS failure, the connection broke,
    /// an HTTP protocol error, or a timeout. These reconnect.
    pub fn is_network(&self) -> bool {
        matches!(
            self.kind,
            Kind::Connect(_)
                | Kind::ProxyConnect(_)
                | Kind::Tls(_)
                | Kind::Http
                | Kind::Proxy(_)
                | Kind::ConnectTimeout(_)
                | Kind::IdleTimeout(_)
        )
    }

    /// The proxy failed: it could not be reached (also
    /// [`is_connect`](Error::is_connect)), refused the `CONNECT` (the
    /// [`status`](Error::status) says how; 407 means its credentials are
    /// missing or wrong), or answered something that is not HTTP.
    pub fn is_proxy(&self) -> bool {
        matches!(
            self.kind,
            Kind::Proxy(_) | Kind::ProxyStatus(_) | Kind::ProxyConnect(_)
        )
    }

    /// The [`before_connect`](crate::Builder::before_connect) hook returned
    /// an error (kept as the source). The source reconnects with backoff.
    pub fn is_hook(&self) -> bool {
        matches!(self.kind, Kind::Hook)
    }

    /// The TCP connection (to the server, or to the proxy) could not be
    /// made (refused, unreachable, DNS).
    pub fn is_connect(&self) -> bool {
        matches!(self.kind, Kind::Connect(_) | Kind::ProxyConnect(_))
    }

    /// The TLS handshake failed (for example an untrusted certificate).
    pub fn is_tls(&self) -> bool {
        matches!(self.kind, Kind::Tls(_))
    }

    /// The connect timeout or the idle timeout expired.
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, Kind::ConnectTimeout(_) | Kind::IdleTimeout(_))
    }

    /// An open connection received no bytes for the idle timeout.
    pub fn is_idle_timeout(&self) -> bool {
        matches!(self.kind, Kind::IdleTimeout(_))
    }

    /// The server (or a proxy refusing a `CONNECT`) answered with a status
    /// other than 200 (204 included).
    pub fn is_status(&self) -> bool {
        matches!(
            self.kind,
            Kind::Status(_) | Kind::NoContent | Kind::ProxyStatus(_)
        )
    }

    /// The server answered 204 No Content, which closes the source for good.
    pub fn is_no_content(&self) -> bool {
        matches!(self.kind, Kind::NoContent)
    }

    /// The HTTP status, when the error is about one.
    pub fn status(&self) -> Option<u16> {
        match self.kind {
            Kind::Status(s) | Kind::ProxyStatus(s) => Some(s.as_u16()),
            Kind::NoContent => Some(204),
            _ => None,
        }
    }

    /// The response was 200 but not `text/event-stream`.
    pub fn is_content_type(&self) -> bool {
        matches!(self.kind, Kind::ContentType(_))
    }

    /// Too many redirects, or a redirect to something that is not an
    /// `http`/`https` URL.
    pub fn is_redirect(&self) -> bool {
        matches!(self.kind, Kind::TooManyRedirects(_) | Kind::Redirect(_))
    }

    /// The server ended the response body (a clean end of stream; the
    /// source reconnects, as browsers do).
    pub fn is_eof(&self) -> bool {
        matches!(self.kind, Kind::Eof)
    }

    /// The stream broke a line or event size limit (see
    /// [`Builder::limits`](crate::Builder::limits)).
    pub fn is_decode(&self) -> bool {
        matches!(self.kind, Kind::Decode)
    }

    /// [`Message::json`](crate::Message::json) could not deserialize the data.
    pub fn is_json(&self) -> bool {
        matches!(self.kind, Kind::Json)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind);
        if let Some(s) = &self.source {
            d.field("source", s);
        }
        d.finish()
    }
}
