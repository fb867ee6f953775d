//! The head of the response that opened a connection.

use http::{HeaderMap, StatusCode, Uri, Version};

/// The status line and headers of the response that opened the stream, for
/// what servers say there: `Mercure-Last-Event-ID` (`earliest` means the
/// history is gone: refetch the state), rate limits, a request ID.
///
/// [`EventSource::response`](crate::EventSource::response) gives the one of
/// the latest [`Event::Open`](crate::Event::Open).
#[derive(Clone, Debug)]
pub struct Response {
    pub(crate) status: StatusCode,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    pub(crate) url: Uri,
}

impl Response {
    /// The status (200: no other opens a stream).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The HTTP version the connection speaks.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The response headers. Their total size is bounded by the connection
    /// (64 KiB of head over HTTP/1, a 64 KiB header list over HTTP/2).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The URL that answered: the builder's, or the last redirect's target.
    pub fn url(&self) -> &Uri {
        &self.url
    }
}
