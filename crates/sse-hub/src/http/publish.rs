//! `POST` on the hub URL: reads the body within its bounds, then
//! [`Hub::publish`].

use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;

use super::{closing, plain, rejection};
use crate::hub::{Caller, Hub};

/// How long a publish body may take to arrive. A client that announces a
/// body and sends it slowly (or never) would otherwise hold its connection
/// and its share of memory for ever.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) async fn handle(hub: &Hub, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let max_body = hub.config().publish.max_body;
    // The rest of the body is not read: the connection cannot carry
    // another request.
    let too_large = || {
        closing(plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body too large: at most {max_body} bytes\n"),
        ))
    };
    // An announced length over the cap is refused before reading a byte
    // (M22); the client may never send it all.
    let announced = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > max_body as u64) {
        return too_large();
    }
    // Stop reading past the cap: one byte more is enough to know.
    let read = axum::body::to_bytes(body, max_body.saturating_add(1));
    let body = match tokio::time::timeout(BODY_TIMEOUT, read).await {
        Ok(Ok(b)) if b.len() <= max_body => b,
        Ok(Ok(_)) => return too_large(),
        Ok(Err(e)) => {
            // `to_bytes` fails once the limit is passed; any other failure
            // is a body that does not parse (a bad chunk) or a client that
            // went away.
            let inner = e.into_inner();
            if inner.is::<http_body_util::LengthLimitError>() {
                return too_large();
            }
            return closing(plain(
                StatusCode::BAD_REQUEST,
                format!("the request body could not be read: {inner}\n"),
            ));
        }
        Err(_) => {
            return closing(plain(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "request body not received within {} s\n",
                    BODY_TIMEOUT.as_secs()
                ),
            ))
        }
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .map(HeaderValue::as_bytes);
    let caller = Caller::from_headers(&parts.headers, parts.uri.query());
    match hub.publish(content_type, &body, &caller).await {
        Ok(id) => {
            // The id is the whole body (M21); no trailing newline.
            let mut response = plain(StatusCode::OK, id);
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(r) => rejection(&r),
    }
}
