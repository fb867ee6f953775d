//! The hook a source awaits before every connection attempt, so each
//! attempt can carry fresh credentials (a bearer token that expires while a
//! stream is long-lived).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::{HeaderMap, Uri};
use sse_wire::Text;

use crate::error::BoxError;

/// What a [`Builder::before_connect`](crate::Builder::before_connect) hook
/// is told about the attempt it precedes.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Attempt {
    pub(crate) number: u64,
    pub(crate) url: Uri,
    pub(crate) last_event_id: Text,
}

impl Attempt {
    /// 0 for the source's first connection, then 1, 2, ... for each
    /// reconnect (redirects are part of one attempt).
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The URL the attempt starts at (the builder's URL).
    pub fn url(&self) -> &Uri {
        &self.url
    }

    /// The `Last-Event-ID` the attempt sends (empty: none).
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }
}

type HookFuture = Pin<Box<dyn Future<Output = Result<HeaderMap, BoxError>> + Send>>;

/// A type-erased hook, shared by every attempt of a source.
#[derive(Clone)]
pub(crate) struct Hook(Arc<dyn Fn(&Attempt) -> HookFuture + Send + Sync>);

impl Hook {
    pub(crate) fn new<F, Fut, E>(hook: F) -> Self
    where
        F: Fn(&Attempt) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<HeaderMap, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        Hook(Arc::new(move |attempt| {
            let fut = hook(attempt);
            Box::pin(async move { fut.await.map_err(Into::into) })
        }))
    }

    pub(crate) fn call(&self, attempt: &Attempt) -> HookFuture {
        (self.0)(attempt)
    }
}

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hook(..)")
    }
}

/// Sets the headers a hook returned: each name it gives replaces every
/// value the request had under that name (several values of one name are
/// all kept).
pub(crate) fn apply(headers: &mut HeaderMap, from_hook: HeaderMap) {
    let mut current = None;
    for (name, value) in from_hook {
        if let Some(name) = name {
            headers.remove(&name);
            current = Some(name);
        }
        if let Some(name) = &current {
            headers.append(name.clone(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{HeaderValue, ACCEPT, AUTHORIZATION};

    #[test]
    fn hook_headers_replace_every_value_of_their_name() {
        let mut headers = HeaderMap::new();
        headers.append(AUTHORIZATION, HeaderValue::from_static("Bearer old"));
        headers.append(AUTHORIZATION, HeaderValue::from_static("Bearer older"));
        headers.append(ACCEPT, HeaderValue::from_static("text/event-stream"));
        let mut from_hook = HeaderMap::new();
        from_hook.append(AUTHORIZATION, HeaderValue::from_static("Bearer new"));
        from_hook.append("x-a", HeaderValue::from_static("1"));
        from_hook.append("x-a", HeaderValue::from_static("2"));
        apply(&mut headers, from_hook);
        let all = |n: &str| -> Vec<&str> {
            headers
                .get_all(n)
                .iter()
                .map(|v| v.to_str().unwrap())
                .collect()
        };
        assert_eq!(all("authorization"), ["Bearer new"]);
        assert_eq!(all("x-a"), ["1", "2"]);
        assert_eq!(all("accept"), ["text/event-stream"]);
    }
}
