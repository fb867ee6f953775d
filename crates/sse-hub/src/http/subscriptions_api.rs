//! `GET {hub}/subscriptions[/…]`: [`Hub::active_subscriptions`] as JSON.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::response::Response;

use super::rejection;
use crate::hub::{Caller, Hub, HubState};
use crate::subscribe::discovery_link;

pub(super) async fn handle(State(state): State<Arc<HubState>>, request: Request) -> Response {
    let hub = Hub::from_state(state);
    let caller = Caller::from_headers(request.headers(), request.uri().query());
    let found = match hub
        .active_subscriptions(request.uri().path(), &caller)
        .await
    {
        Ok(found) => found,
        Err(r) => return rejection(&r),
    };
    let mut response = Response::new(Body::from(found.body().to_string()));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(found.content_type()),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    // H: the cursor travels in the discovery Link (M42-H, M43).
    let link = discovery_link(hub.hub_url(), Some(found.last_event_id()), None);
    if let Ok(v) = HeaderValue::from_str(&link) {
        h.insert(header::LINK, v);
    }
    response
}
