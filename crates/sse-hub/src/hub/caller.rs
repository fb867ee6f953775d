//! [`Caller`]: where a request's credentials are, as the HTTP layer found
//! them. The protocol core decides which of them count (M27: the header,
//! then the cookie; a query token only on 0.x requests).

use http::header::{AUTHORIZATION, COOKIE, ORIGIN, REFERER};
use http::{HeaderMap, HeaderValue};

use crate::auth::TokenSources;

/// The credential-bearing parts of one request: every `Authorization` and
/// `Cookie` header value, the raw query string, and the `Origin` and
/// `Referer` headers (checked when a publish is authenticated by cookie,
/// M29). Borrowed from the request; nothing is parsed until the hub looks.
///
/// ```
/// use http::{HeaderMap, HeaderValue};
/// use sse_hub::Caller;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("authorization", HeaderValue::from_static("Bearer abc"));
/// let caller = Caller::from_headers(&headers, Some("topic=x"));
/// assert_eq!(caller.authorization(), [b"Bearer abc".as_slice()]);
/// assert!(Caller::anonymous().authorization().is_empty());
/// ```
#[derive(Clone, Debug, Default)]
pub struct Caller<'a> {
    authorization: Vec<&'a [u8]>,
    cookies: Vec<&'a [u8]>,
    query: &'a [u8],
    origin: Option<&'a [u8]>,
    referer: Option<&'a [u8]>,
}

impl<'a> Caller<'a> {
    /// A caller with no credentials at all (an anonymous subscriber).
    pub fn anonymous() -> Self {
        Caller::default()
    }

    /// The credentials of a request with these headers and this query
    /// string (without the `?`).
    pub fn from_headers(headers: &'a HeaderMap, query: Option<&'a str>) -> Self {
        let all = |name| {
            headers
                .get_all(name)
                .iter()
                .map(HeaderValue::as_bytes)
                .collect()
        };
        Caller {
            authorization: all(AUTHORIZATION),
            cookies: all(COOKIE),
            query: query.unwrap_or("").as_bytes(),
            origin: headers.get(ORIGIN).map(HeaderValue::as_bytes),
            referer: headers.get(REFERER).map(HeaderValue::as_bytes),
        }
    }

    /// The same caller with one more `Authorization` header value, such
    /// as `b"Bearer eyJ…"`.
    pub fn with_authorization(mut self, value: &'a [u8]) -> Self {
        self.authorization.push(value);
        self
    }

    /// Every `Authorization` header value.
    pub fn authorization(&self) -> &[&'a [u8]] {
        &self.authorization
    }

    /// The `Origin` header, if any.
    pub(crate) fn origin(&self) -> Option<&'a [u8]> {
        self.origin
    }

    /// The `Referer` header, if any.
    pub(crate) fn referer(&self) -> Option<&'a [u8]> {
        self.referer
    }

    /// Where the token may be, for a request of this generation
    /// (`legacy_request`: a 0.x request, the only kind that may carry a
    /// query token).
    pub(crate) fn token_sources(&self, legacy_request: bool) -> TokenSources<'_> {
        TokenSources {
            authorization: &self.authorization,
            cookies: &self.cookies,
            query: self.query,
            legacy_request,
        }
    }
}
