//! `GET` (or H's `QUERY`) on the hub URL: reads a `QUERY` form body within
//! its bound, then [`Hub::subscribe`] and the stream.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use sse_server::EventStreamRequest;

use super::{plain, rejection};
use crate::hub::{Caller, Hub};
use crate::subscribe::SubscribeInput;

/// Longest form body accepted for a `QUERY` subscribe (H); matchers are
/// capped anyway, this only bounds what is read.
const MAX_QUERY_BODY: usize = 64 * 1024;

pub(super) async fn handle(hub: &Hub, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = if parts.method.as_str() == "QUERY" {
        let form = parts.headers.get(header::CONTENT_TYPE).is_some_and(|v| {
            v.as_bytes().split(|&b| b == b';').next().is_some_and(|e| {
                e.trim_ascii()
                    .eq_ignore_ascii_case(b"application/x-www-form-urlencoded")
            })
        });
        if !form {
            return plain(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "QUERY subscribe bodies must be application/x-www-form-urlencoded\n",
            );
        }
        match axum::body::to_bytes(body, MAX_QUERY_BODY).await {
            Ok(b) => Some(b),
            Err(_) => {
                return plain(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("subscribe body too large: at most {MAX_QUERY_BODY} bytes\n"),
                )
            }
        }
    } else {
        None
    };
    let input = SubscribeInput {
        query: parts.uri.query().unwrap_or("").as_bytes(),
        body: body.as_deref(),
        last_event_id: parts
            .headers
            .get("last-event-id")
            .map(HeaderValue::as_bytes),
    };
    let caller = Caller::from_headers(&parts.headers, parts.uri.query());
    let started = match hub.subscribe(&input, &caller).await {
        Ok(subscription) => subscription.into_response(EventStreamRequest::from_parts(&parts)),
        Err(r) => Err(r),
    };
    match started {
        Ok(response) => response.map(Body::new),
        Err(r) => rejection(&r),
    }
}
