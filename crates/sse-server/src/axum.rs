//! axum integration: the extractor and `IntoResponse`.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};

use crate::{EventStream, EventStreamRequest};

impl<S: Send + Sync> FromRequestParts<S> for EventStreamRequest {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(EventStreamRequest::from_parts(parts))
    }
}

impl IntoResponse for EventStream {
    /// A bare stream with status 200 and no headers; prefer the response
    /// from [`EventStreamRequest::send_events`], which carries the headers.
    fn into_response(self) -> Response {
        Response::new(axum::body::Body::new(self))
    }
}
