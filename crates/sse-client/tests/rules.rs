//! One test per WHATWG rule (and per extra), against scripted servers on
//! loopback. Nothing here asserts a timing: time-dependent rules are
//! exercised by waiting (bounded) for what must happen, and their arithmetic
//! is unit-tested on the state machine in `src/reconnect.rs`.

mod common;

use std::time::Duration;

use common::*;
use sse_client::{EventSource, Limits, ReadyState, ReconnectPolicy};

/// Reconnect at once, so tests that reconnect do not wait.
fn fast() -> ReconnectPolicy {
    ReconnectPolicy::default()
        .initial_retry(Duration::ZERO)
        .min_backoff(Duration::from_millis(1))
        .jitter(0.0)
}

fn source(url: &str) -> EventSource {
    EventSource::builder(url).reconnect(fast()).build().unwrap()
}

#[tokio::test]
async fn sends_accept_and_cache_control_and_no_empty_last_event_id() {
    let mut server = serve(|_| Reply::Hold(sse("data: x\n\n"))).await;
    let mut es = EventSource::builder(&format!("{}/events?topic=a", server.url))
        .header("X-Custom", "yes")
        .header("Authorization", "Bearer t")
        .build()
        .unwrap();
    open(&mut es).await;
    let req = server.request().await;
    assert_eq!(req.method, "GET");
    assert_eq!(req.target, "/events?topic=a");
    assert_eq!(req.header("accept"), Some("text/event-stream"));
    assert_eq!(req.header("cache-control"), Some("no-cache"));
    assert_eq!(req.header("last-event-id"), None);
    assert_eq!(req.header("x-custom"), Some("yes"));
    assert_eq!(req.header("authorization"), Some("Bearer t"));
    assert_eq!(req.header("host"), Some(&server.addr.to_string()[..]));
    assert_eq!(message(&mut es).await.data, "x");
}

#[tokio::test]
async fn reconnects_with_the_last_event_id_and_drops_it_when_emptied() {
    let mut server = serve(|r| match r.conn {
        0 => Reply::Close(sse("id: 7\ndata: a\n\n")),
        1 => Reply::Close(sse("data: b\n\nid\ndata: c\n\n")),
        _ => Reply::Hold(sse("data: d\n\n")),
    })
    .await;
    let mut es = source(&server.url);
    open(&mut es).await;
    let a = message(&mut es).await;
    assert_eq!((&*a.data, &*a.id), ("a", "7"));
    let (e, again) = error(&mut es).await;
    assert!(e.is_eof() && again, "{e:?}");
    assert_eq!(es.ready_state(), ReadyState::Connecting);
    open(&mut es).await;
    // The id is carried into the new connection.
    let b = message(&mut es).await;
    assert_eq!((&*b.data, &*b.id), ("b", "7"));
    let c = message(&mut es).await;
    assert_eq!((&*c.data, &*c.id), ("c", ""));
    assert!(error(&mut es).await.1);
    open(&mut es).await;
    let reqs = [
        server.request().await,
        server.request().await,
        server.request().await,
    ];
    assert_eq!(reqs[0].header("last-event-id"), None);
    assert_eq!(reqs[1].header("last-event-id"), Some("7"));
    // Emptied by `id` with no value: not sent at all (not sent empty).
    assert_eq!(reqs[2].header("last-event-id"), None);
}

#[tokio::test]
async fn id_only_event_sets_last_event_id_for_the_reconnect() {
    let mut server = serve(|r| match r.conn {
        0 => Reply::Close(sse("id: only\n\n")),
        _ => Reply::Hold(sse("data: x\n\n")),
    })
    .await;
    let mut es = source(&server.url);
    open(&mut es).await;
    assert!(error(&mut es).await.1);
    assert_eq!(es.last_event_id(), "only");
    open(&mut es).await;
    server.request().await;
    assert_eq!(server.request().await.header("last-event-id"), Some("only"));
}

#[tokio::test]
async fn initial_last_event_id_is_sent_and_reported() {
    let mut server = serve(|_| Reply::Hold(sse("data: x\n\n"))).await;
    let mut es = EventSource::builder(&server.url)
        .last_event_id("42")
        .build()
        .unwrap();
    assert_eq!(es.last_event_id(), "42");
    open(&mut es).await;
    assert_eq!(server.request().await.header("last-event-id"), Some("42"));
    assert_eq!(message(&mut es).await.id, "42");
}

#[tokio::test]
async fn retry_is_honoured_and_kept_across_connections() {
    // The client's own reconnection time is an hour: only the server's
    // `retry: 10` can make the reconnects below happen within the test's
    // bounded waits, and only if it persists into the third connection.
    let mut server = serve(|r| match r.conn {
        0 => Reply::Close(sse("retry: 10\ndata: a\n\n")),
        1 => Reply::Close(sse("data: b\n\n")),
        _ => Reply::Hold(sse("data: c\n\n")),
    })
    .await;
    let policy = ReconnectPolicy::default()
        .initial_retry(Duration::from_secs(3600))
        .jitter(0.0);
    let mut es = EventSource::builder(&server.url)
        .reconnect(policy)
        .build()
        .unwrap();
    for data in ["a", "b", "c"] {
        open(&mut es).await;
        assert_eq!(message(&mut es).await.data, data);
        if data != "c" {
            assert!(error(&mut es).await.0.is_eof());
        }
    }
    assert_eq!(es.retry(), Duration::from_millis(10));
    assert_eq!(server.requests_now().len(), 3);
}

#[tokio::test]
async fn no_content_closes_for_good() {
    let mut server = serve(|_| Reply::Close(b"HTTP/1.1 204 No Content\r\n\r\n".to_vec())).await;
    let mut es = source(&server.url);
    let (e, again) = error(&mut es).await;
    assert!(
        e.is_no_content() && e.is_status() && e.status() == Some(204),
        "{e:?}"
    );
    assert!(!again);
    assert_eq!(es.ready_state(), ReadyState::Closed);
    end(&mut es).await;
    end(&mut es).await;
    server.request().await;
    assert!(
        server.requests_now().is_empty(),
        "a 204 must not be retried"
    );
}

#[tokio::test]
async fn every_other_status_fails_without_reconnecting() {
    for status in [
        201u16, 202, 206, 300, 304, 400, 401, 403, 404, 410, 429, 500, 502, 503, 504,
    ] {
        let mut server = serve(move |_| {
            Reply::Close(head(
                &format!("{status} X"),
                "text/event-stream",
                "data: no\n\n",
            ))
        })
        .await;
        let mut es = source(&server.url);
        let (e, again) = error(&mut es).await;
        assert!(e.is_status(), "{status}: {e:?}");
        assert_eq!(e.status(), Some(status));
        assert!(!again, "{status} must not reconnect");
        end(&mut es).await;
        server.request().await;
        assert!(server.requests_now().is_empty(), "{status} was retried");
    }
}

#[tokio::test]
async fn chosen_statuses_retry_with_backoff() {
    let mut server = serve(|r| match r.conn {
        0 => Reply::Close(head("502 Bad Gateway", "text/html", "")),
        1 => Reply::Close(head("503 Service Unavailable", "text/html", "")),
        _ => Reply::Hold(sse("data: up\n\n")),
    })
    .await;
    let mut es = EventSource::builder(&server.url)
        .reconnect(fast().retry_statuses([502, 503]))
        .build()
        .unwrap();
    for s in [502, 503] {
        let (e, again) = error(&mut es).await;
        assert_eq!(e.status(), Some(s));
        assert!(again);
    }
    open(&mut es).await;
    assert_eq!(message(&mut es).await.data, "up");
    assert_eq!(server.requests_now().len(), 3);
}

#[tokio::test]
async fn each_redirect_kind_is_followed() {
    for (status, post_becomes_get) in [
        (301, true),
        (302, true),
        (303, true),
        (307, false),
        (308, false),
    ] {
        for method in ["GET", "POST"] {
            let mut server = serve(move |r| {
                if r.target == "/start" {
                    Reply::Close(
                        format!("HTTP/1.1 {status} Moved\r\nlocation: /final?from={status}\r\ncontent-length: 0\r\n\r\n").into_bytes(),
                    )
                } else {
                    Reply::Hold(sse("data: arrived\n\n"))
                }
            })
            .await;
            let mut es = EventSource::builder(&format!("{}/start", server.url))
                .method(method.parse().unwrap())
                .header("content-type", "application/json")
                .body(if method == "POST" {
                    &b"{\"q\":1}"[..]
                } else {
                    b""
                })
                .build()
                .unwrap();
            open(&mut es).await;
            assert_eq!(message(&mut es).await.data, "arrived");
            let first = server.request().await;
            let second = server.request().await;
            assert_eq!(first.target, "/start");
            assert_eq!(second.target, format!("/final?from={status}"));
            assert_eq!(second.header("accept"), Some("text/event-stream"));
            if method == "POST" && post_becomes_get {
                assert_eq!(second.method, "GET", "{status} POST");
                assert!(second.body.is_empty());
                assert_eq!(second.header("content-type"), None);
            } else {
                assert_eq!(second.method, method, "{status} {method}");
                assert_eq!(second.body, first.body, "{status} {method}");
            }
        }
    }
}

#[tokio::test]
async fn redirects_are_limited_and_then_fail_for_good() {
    let mut server = serve(|_| {
        Reply::Close(
            b"HTTP/1.1 302 Found\r\nlocation: /again\r\ncontent-length: 0\r\n\r\n".to_vec(),
        )
    })
    .await;
    let mut es = EventSource::builder(&server.url)
        .max_redirects(3)
        .reconnect(fast())
        .build()
        .unwrap();
    let (e, again) = error(&mut es).await;
    assert!(e.is_redirect(), "{e:?}");
    assert!(!again);
    end(&mut es).await;
    for _ in 0..4 {
        server.request().await;
    }
    assert!(server.requests_now().is_empty());
}

#[tokio::test]
async fn redirect_to_another_scheme_fails() {
    let server = serve(|_| {
        Reply::Close(
            b"HTTP/1.1 301 Moved\r\nlocation: ftp://x/y\r\ncontent-length: 0\r\n\r\n".to_vec(),
        )
    })
    .await;
    let mut es = source(&server.url);
    let (e, again) = error(&mut es).await;
    assert!(e.is_redirect() && !again, "{e:?}");
}

#[tokio::test]
async fn content_type_variants() {
    for ct in [
        "text/event-stream",
        "text/event-stream; charset=utf-8",
        "Text/Event-Stream",
        "TEXT/EVENT-STREAM;charset=UTF-8",
    ] {
        let server = serve(move |_| Reply::Hold(head("200 OK", ct, "data: ok\n\n"))).await;
        let mut es = source(&server.url);
        open(&mut es).await;
        assert_eq!(message(&mut es).await.data, "ok", "{ct}");
    }
    for ct in ["text/plain", "application/json", "text/event-streams", ""] {
        let mut server = serve(move |_| Reply::Close(head("200 OK", ct, "data: no\n\n"))).await;
        let mut es = source(&server.url);
        let (e, again) = error(&mut es).await;
        assert!(e.is_content_type(), "{ct:?}: {e:?}");
        assert!(!again, "{ct:?}");
        end(&mut es).await;
        server.request().await;
        assert!(server.requests_now().is_empty(), "{ct:?} was retried");
    }
}

#[tokio::test]
async fn close_stops_at_once() {
    let mut server = serve(|_| Reply::Hold(sse("data: one\n\n"))).await;
    let mut es = source(&server.url);
    open(&mut es).await;
    assert_eq!(es.ready_state(), ReadyState::Open);
    message(&mut es).await;
    es.close();
    assert_eq!(es.ready_state(), ReadyState::Closed);
    // The server sees the connection go away without the stream being
    // polled again, and no event follows.
    server.client_closed(0).await;
    end(&mut es).await;
    assert!(server.requests_now().is_empty());
}

#[tokio::test]
async fn close_handle_stops_a_waiting_stream() {
    let mut server = serve(|_| Reply::Hold(sse(""))).await;
    let mut es = source(&server.url);
    let handle = es.close_handle();
    open(&mut es).await;
    let task = tokio::spawn(async move {
        // Parked in poll_next on a silent stream until the handle closes it.
        let next = tokio::time::timeout(WAIT, futures_util::StreamExt::next(&mut es)).await;
        (next.map(|e| e.is_none()), es.ready_state())
    });
    server.request().await;
    handle.close();
    assert!(handle.is_closed());
    let (ended, state) = task.await.unwrap();
    assert_eq!(ended, Ok(true));
    assert_eq!(state, ReadyState::Closed);
    server.client_closed(0).await;
}

#[tokio::test]
async fn network_errors_reconnect() {
    let mut server = serve(|r| match r.conn {
        // Headers promise a body that never comes: the cut is an error.
        0 => Reply::Close(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: 100\r\n\r\ndata: partial".to_vec()),
        _ => Reply::Hold(sse("data: whole\n\n")),
    })
    .await;
    let mut es = source(&server.url);
    open(&mut es).await;
    let (e, again) = error(&mut es).await;
    assert!(e.is_network() && again, "{e:?}");
    open(&mut es).await;
    // The partial event of the broken connection was never dispatched.
    assert_eq!(message(&mut es).await.data, "whole");
    assert_eq!(server.requests_now().len(), 2);
}

#[tokio::test]
async fn refused_connection_reconnects_with_backoff_until_max_retries() {
    // A port that was just free: nothing listens there.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut es = EventSource::builder(&format!("http://{addr}/"))
        .reconnect(fast().max_retries(Some(3)))
        .build()
        .unwrap();
    for _ in 0..3 {
        let (e, again) = error(&mut es).await;
        assert!(e.is_connect() && e.is_network(), "{e:?}");
        assert!(again);
    }
    let (_, again) = error(&mut es).await;
    assert!(!again);
    end(&mut es).await;
}

#[tokio::test]
async fn idle_timeout_treats_a_silent_connection_as_dead() {
    let mut server = serve(|r| match r.conn {
        0 => Reply::Hold(sse("data: then silence\n\n")),
        _ => Reply::Hold(sse("data: back\n\n")),
    })
    .await;
    let mut es = EventSource::builder(&server.url)
        .idle_timeout(Some(Duration::from_millis(200)))
        .reconnect(fast())
        .build()
        .unwrap();
    open(&mut es).await;
    message(&mut es).await;
    let (e, again) = error(&mut es).await;
    assert!(e.is_idle_timeout() && e.is_timeout(), "{e:?}");
    assert!(again);
    server.client_closed(0).await;
    open(&mut es).await;
    assert_eq!(message(&mut es).await.data, "back");
}

#[tokio::test]
async fn keep_alive_comments_keep_an_idle_connection_alive() {
    // Comments every 20 ms for ~0.4 s under a 2 s idle timeout, then data:
    // if comments did not count as traffic the error would come first.
    let mut chunks = vec![sse("")];
    chunks.extend((0..20).map(|_| b": keep-alive\n".to_vec()));
    chunks.push(b"data: still here\n\n".to_vec());
    let server = serve(move |_| Reply::Drip(chunks.clone(), Duration::from_millis(20))).await;
    let mut es = EventSource::builder(&server.url)
        .idle_timeout(Some(Duration::from_secs(2)))
        .build()
        .unwrap();
    open(&mut es).await;
    assert_eq!(message(&mut es).await.data, "still here");
}

#[tokio::test]
async fn connect_timeout_bounds_a_server_that_never_answers() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts (the kernel does) but never answers.
    let mut es = EventSource::builder(&format!("http://{addr}/"))
        .connect_timeout(Some(Duration::from_millis(200)))
        .reconnect(ReconnectPolicy::never())
        .build()
        .unwrap();
    let (e, again) = error(&mut es).await;
    assert!(e.is_timeout() && !e.is_idle_timeout(), "{e:?}");
    assert!(!again);
    drop(listener);
}

#[tokio::test]
async fn size_limits_stop_a_hostile_stream() {
    let long_line = format!("data: {}\n\n", "x".repeat(10_000));
    let big_event = format!("{}\n", "data: yyyyyyyyyy\n".repeat(1000));
    for (body, line) in [(long_line, true), (big_event, false)] {
        let mut server = serve(move |r| match r.conn {
            0 => Reply::Hold(sse(&body)),
            _ => Reply::Hold(sse("data: small\n\n")),
        })
        .await;
        let mut es = EventSource::builder(&server.url)
            .limits(Limits::default().with_max_line(1024).with_max_event(4096))
            .reconnect(fast())
            .build()
            .unwrap();
        open(&mut es).await;
        let (e, again) = error(&mut es).await;
        assert!(e.is_decode(), "{e:?}");
        assert!(again, "line={line}");
        let root = std::error::Error::source(&e).unwrap().to_string();
        assert!(root.contains(if line { "line" } else { "event" }), "{root}");
        server.client_closed(0).await;
        open(&mut es).await;
        assert_eq!(message(&mut es).await.data, "small");
    }
}

#[tokio::test]
async fn custom_method_headers_and_body() {
    let mut server = serve(|_| Reply::Hold(sse("data: ok\n\n"))).await;
    let mut es = EventSource::builder(&server.url)
        .method(sse_client::http::Method::POST)
        .header("content-type", "application/json")
        .header("accept", "text/event-stream, application/json")
        .body(r#"{"prompt":"hi"}"#)
        .build()
        .unwrap();
    open(&mut es).await;
    let req = server.request().await;
    assert_eq!(req.method, "POST");
    assert_eq!(req.body, br#"{"prompt":"hi"}"#);
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(
        req.header("accept"),
        Some("text/event-stream, application/json")
    );
    assert_eq!(req.header("cache-control"), Some("no-cache"));
}

#[tokio::test]
async fn cookies_are_kept_only_with_credentials() {
    for credentials in [true, false] {
        let mut server = serve(|r| match r.conn {
            0 => Reply::Close(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nset-cookie: mercureAuthorization=tok; Path=/; HttpOnly\r\n\r\ndata: a\n\n"
                    .to_vec(),
            ),
            _ => Reply::Hold(sse("data: b\n\n")),
        })
        .await;
        let mut es = EventSource::builder(&server.url)
            .with_credentials(credentials)
            .reconnect(fast())
            .build()
            .unwrap();
        open(&mut es).await;
        message(&mut es).await;
        error(&mut es).await;
        open(&mut es).await;
        assert_eq!(server.request().await.header("cookie"), None);
        let expected = credentials.then_some("mercureAuthorization=tok");
        assert_eq!(server.request().await.header("cookie"), expected);
    }
}

#[tokio::test]
async fn json_data_deserializes() {
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Update {
        price: u32,
    }
    let _server = serve(|_| Reply::Hold(sse("data: {\"price\": 3}\n\ndata: nope\n\n"))).await;
    let mut es = source(&_server.url);
    open(&mut es).await;
    assert_eq!(
        message(&mut es).await.json::<Update>().unwrap(),
        Update { price: 3 }
    );
    assert!(message(&mut es)
        .await
        .json::<Update>()
        .unwrap_err()
        .is_json());
}

#[tokio::test]
async fn invalid_urls_and_headers_are_builder_errors() {
    for url in ["", "not a url", "ftp://x/", "/relative", "http://"] {
        let e = EventSource::new(url).unwrap_err();
        assert!(e.is_builder(), "{url:?}");
    }
    let e = EventSource::builder("http://x/")
        .header("bad header", "v")
        .build()
        .unwrap_err();
    assert!(e.is_builder());
    let e = EventSource::builder("http://x/")
        .header("x", "line\nbreak")
        .build()
        .unwrap_err();
    assert!(e.is_builder());
}

#[tokio::test]
async fn events_cross_chunk_boundaries_and_crlf() {
    let chunks = vec![
        sse(""),
        b"id: 1\r\nda".to_vec(),
        b"ta: x\r".to_vec(),
        b"\n\r\nevent: y\rdata: z\r\r".to_vec(),
    ];
    let server = serve(move |_| Reply::Drip(chunks.clone(), Duration::from_millis(5))).await;
    let mut es = source(&server.url);
    open(&mut es).await;
    let a = message(&mut es).await;
    assert_eq!((&*a.event_type, &*a.data, &*a.id), ("message", "x", "1"));
    let b = message(&mut es).await;
    assert_eq!((&*b.event_type, &*b.data, &*b.id), ("y", "z", "1"));
}

#[tokio::test]
async fn cross_origin_redirect_drops_authorization_same_origin_keeps_it() {
    let mut target = serve(|_| Reply::Hold(sse("data: there\n\n"))).await;
    let target_url = target.url.clone();
    let mut origin = serve(move |r| {
        if r.target == "/same" {
            Reply::Close(b"HTTP/1.1 307 Temporary Redirect\r\nlocation: /other\r\ncontent-length: 0\r\n\r\n".to_vec())
        } else if r.target == "/cross" {
            Reply::Close(format!("HTTP/1.1 307 Temporary Redirect\r\nlocation: {target_url}/x\r\ncontent-length: 0\r\n\r\n").into_bytes())
        } else {
            Reply::Hold(sse("data: here\n\n"))
        }
    })
    .await;
    let mut same = EventSource::builder(&format!("{}/same", origin.url))
        .header("authorization", "Bearer secret")
        .build()
        .unwrap();
    open(&mut same).await;
    assert_eq!(message(&mut same).await.data, "here");
    origin.request().await;
    assert_eq!(
        origin.request().await.header("authorization"),
        Some("Bearer secret")
    );

    let mut cross = EventSource::builder(&format!("{}/cross", origin.url))
        .header("authorization", "Bearer secret")
        .build()
        .unwrap();
    open(&mut cross).await;
    assert_eq!(message(&mut cross).await.data, "there");
    let arrived = target.request().await;
    assert_eq!(arrived.target, "/x");
    assert_eq!(arrived.header("authorization"), None);
    assert_eq!(arrived.header("accept"), Some("text/event-stream"));
}

#[tokio::test]
async fn cookie_set_on_a_redirect_is_sent_to_the_target() {
    let mut server = serve(|r| {
        if r.target == "/login" {
            Reply::Close(
                b"HTTP/1.1 302 Found\r\nset-cookie: session=s1; Path=/\r\nlocation: /events\r\ncontent-length: 0\r\n\r\n".to_vec(),
            )
        } else {
            Reply::Hold(sse("data: in\n\n"))
        }
    })
    .await;
    let mut es = EventSource::builder(&format!("{}/login", server.url))
        .with_credentials(true)
        .build()
        .unwrap();
    open(&mut es).await;
    assert_eq!(server.request().await.header("cookie"), None);
    assert_eq!(server.request().await.header("cookie"), Some("session=s1"));
}

#[tokio::test]
async fn ready_state_follows_the_connection() {
    let server = serve(|r| match r.conn {
        0 => Reply::Close(sse("data: a\n\n")),
        _ => Reply::Close(b"HTTP/1.1 204 No Content\r\n\r\n".to_vec()),
    })
    .await;
    let mut es = source(&server.url);
    assert_eq!(es.ready_state(), ReadyState::Connecting);
    open(&mut es).await;
    assert_eq!(es.ready_state(), ReadyState::Open);
    message(&mut es).await;
    assert!(error(&mut es).await.1);
    assert_eq!(es.ready_state(), ReadyState::Connecting);
    assert!(!error(&mut es).await.1);
    assert_eq!(es.ready_state(), ReadyState::Closed);
    end(&mut es).await;
}
