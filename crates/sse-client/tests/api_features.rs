//! What real APIs need beyond the browser model: the response head on open,
//! a hook that sets fresh credentials before every attempt, comments on
//! request, POST streaming APIs (and their reconnect default), and private
//! CAs. All over real loopback HTTP.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::*;
use sse_client::http::HeaderMap;
use sse_client::{Event, EventSource, ReconnectPolicy};

fn fast() -> ReconnectPolicy {
    ReconnectPolicy::default()
        .initial_retry(std::time::Duration::from_millis(10))
        .min_backoff(std::time::Duration::from_millis(10))
        .jitter(0.0)
}

#[tokio::test]
async fn the_response_head_is_there_at_each_open() {
    let mut server = serve(|r| {
        let (status_hint, history) = if r.conn == 0 { ("1", "earliest") } else { ("2", "7") };
        Reply::Close(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nx-request-id: req-{status_hint}\r\n\
                 mercure-last-event-id: {history}\r\nx-ratelimit-remaining: 9\r\nx-ratelimit-remaining: 8\r\n\r\ndata: m\n\n"
            )
            .into_bytes(),
        )
    })
    .await;
    let mut es = EventSource::builder(&server.url)
        .reconnect(fast())
        .build()
        .unwrap();
    assert!(es.response().is_none());
    open(&mut es).await;
    let head = es.response().unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["mercure-last-event-id"], "earliest");
    assert_eq!(head.headers()["x-request-id"], "req-1");
    assert_eq!(
        head.headers()
            .get_all("x-ratelimit-remaining")
            .iter()
            .count(),
        2
    );
    assert_eq!(head.url().to_string(), format!("{}/", server.url));
    message(&mut es).await;
    let (e, _) = error(&mut es).await;
    assert!(e.is_eof());
    // Kept after the connection ended, replaced at the next open.
    assert_eq!(es.response().unwrap().headers()["x-request-id"], "req-1");
    open(&mut es).await;
    assert_eq!(es.response().unwrap().headers()["x-request-id"], "req-2");
    assert_eq!(server.requests_now().len(), 2);
}

#[tokio::test]
async fn the_response_head_is_the_redirect_targets() {
    let server = serve(|r| {
        if r.target == "/old" {
            Reply::Close(
                b"HTTP/1.1 307 Moved\r\nlocation: /new\r\ncontent-length: 0\r\n\r\n".to_vec(),
            )
        } else {
            Reply::Hold(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nx-at: new\r\n\r\n".to_vec(),
            )
        }
    })
    .await;
    let mut es = EventSource::new(&format!("{}/old", server.url)).unwrap();
    open(&mut es).await;
    let head = es.response().unwrap();
    assert_eq!(head.headers()["x-at"], "new");
    assert_eq!(head.url().path(), "/new");
}

/// The server accepts token N only on connection N; the hook fetches a new
/// token (asynchronously) before every attempt.
#[tokio::test]
async fn a_hook_sets_a_fresh_token_before_every_attempt() {
    let mut server = serve(|r| {
        let expected = format!("Bearer token-{}", r.conn);
        if r.header("authorization") != Some(expected.as_str()) {
            return Reply::Close(
                b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n".to_vec(),
            );
        }
        // Each connection delivers one event and ends: the source reconnects.
        Reply::Close(sse(&format!("id: {}\ndata: conn {}\n\n", r.conn, r.conn)))
    })
    .await;
    let fetched = Arc::new(AtomicU64::new(0));
    let counter = fetched.clone();
    let mut es = EventSource::builder(&server.url)
        .header("authorization", "Bearer stale-from-the-builder")
        .reconnect(fast())
        .before_connect(move |attempt| {
            let n = attempt.number();
            let sent_id = attempt.last_event_id().to_owned();
            let counter = counter.clone();
            async move {
                // A real hook would ask a token service; yielding makes it
                // actually asynchronous.
                tokio::task::yield_now().await;
                counter.fetch_add(1, Ordering::SeqCst);
                assert_eq!(
                    sent_id,
                    if n == 0 {
                        String::new()
                    } else {
                        (n - 1).to_string()
                    }
                );
                let mut headers = HeaderMap::new();
                headers.insert(
                    "authorization",
                    format!("Bearer token-{n}").parse().unwrap(),
                );
                Ok::<_, std::io::Error>(headers)
            }
        })
        .build()
        .unwrap();
    for n in 0..3 {
        open(&mut es).await;
        assert_eq!(message(&mut es).await.data, format!("conn {n}"));
        let (e, will_reconnect) = error(&mut es).await;
        assert!(e.is_eof() && will_reconnect, "{e}");
    }
    assert_eq!(fetched.load(Ordering::SeqCst), 3);
    for n in 0..3 {
        let req = server.request().await;
        assert_eq!(req.conn, n);
        // One value only: the hook's replaced the builder's.
        let auth: Vec<_> = req
            .headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("authorization"))
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(auth, [format!("Bearer token-{n}")]);
    }
}

#[tokio::test]
async fn a_failing_hook_fails_the_attempt_and_retries() {
    let mut server = serve(|_| Reply::Hold(sse("data: finally\n\n"))).await;
    let mut es = EventSource::builder(&server.url)
        .reconnect(fast())
        .before_connect(|attempt| {
            let n = attempt.number();
            async move {
                if n == 0 {
                    Err("token service unavailable")
                } else {
                    Ok(HeaderMap::new())
                }
            }
        })
        .build()
        .unwrap();
    let (e, will_reconnect) = error(&mut es).await;
    assert!(e.is_hook() && will_reconnect, "{e:?}");
    assert_eq!(
        std::error::Error::source(&e).unwrap().to_string(),
        "token service unavailable"
    );
    open(&mut es).await;
    assert_eq!(message(&mut es).await.data, "finally");
    // The failed attempt never reached the server.
    assert_eq!(server.request().await.conn, 0);
}

#[tokio::test]
async fn comments_are_reported_only_when_asked() {
    let body = ": keep-alive\n\n:\n\ndata: m\n\n:  two spaces\n\n";
    for comments in [false, true] {
        let server = serve(move |_| Reply::Hold(sse(body))).await;
        let mut es = EventSource::builder(&server.url)
            .comments(comments)
            .build()
            .unwrap();
        open(&mut es).await;
        let mut seen = Vec::new();
        loop {
            match next(&mut es).await {
                Event::Comment(c) => seen.push(format!("comment {c:?}")),
                Event::Message(m) => {
                    seen.push(format!("message {:?}", &*m.data));
                    if !comments {
                        break;
                    }
                }
                other => panic!("{other:?}"),
            }
            if seen.len() == 4 {
                break;
            }
        }
        let want: &[&str] = if comments {
            &[
                r#"comment "keep-alive""#,
                r#"comment """#,
                r#"message "m""#,
                r#"comment " two spaces""#,
            ]
        } else {
            &[r#"message "m""#]
        };
        assert_eq!(seen, want);
        drop(server);
    }
}

/// An LLM-style streaming API: POST with a JSON body and a bearer token,
/// `data: [DONE]` ends the answer, then the server ends the response.
#[tokio::test]
async fn a_post_streaming_api_is_not_sent_twice_by_default() {
    let mut server = serve(|_| {
        Reply::Close(sse(
            "data: {\"delta\":\"Hel\"}\n\ndata: {\"delta\":\"lo\"}\n\ndata: [DONE]\n\n",
        ))
    })
    .await;
    let mut es = EventSource::builder(&format!("{}/v1/chat", server.url))
        .method(sse_client::http::Method::POST)
        .header("authorization", "Bearer sk-test")
        .header("content-type", "application/json")
        .body(r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#)
        .build()
        .unwrap();
    open(&mut es).await;
    let mut answer = String::new();
    loop {
        let m = message(&mut es).await;
        if &*m.data == "[DONE]" {
            break;
        }
        #[derive(serde::Deserialize)]
        struct Chunk {
            delta: String,
        }
        answer.push_str(&m.json::<Chunk>().unwrap().delta);
    }
    assert_eq!(answer, "Hello");
    // Not closed by the application: the end of the response closes the
    // source for good instead of re-sending the prompt.
    let (e, will_reconnect) = error(&mut es).await;
    assert!(e.is_eof() && !will_reconnect, "{e}");
    end(&mut es).await;
    let req = server.request().await;
    assert_eq!(req.method, "POST");
    assert_eq!(req.target, "/v1/chat");
    assert_eq!(req.header("authorization"), Some("Bearer sk-test"));
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert!(req.body.starts_with(br#"{"model""#));
    assert!(server.requests_now().is_empty(), "the POST was sent again");
}

#[tokio::test]
async fn a_post_reconnects_when_the_policy_allows_it() {
    let mut server = serve(|r| Reply::Close(sse(&format!("data: {}\n\n", r.conn)))).await;
    let mut es = EventSource::builder(&server.url)
        .method(sse_client::http::Method::POST)
        .body("{}")
        .reconnect(fast().reconnect_non_idempotent(true))
        .build()
        .unwrap();
    for n in 0..2 {
        open(&mut es).await;
        assert_eq!(message(&mut es).await.data, n.to_string());
        let (_, will_reconnect) = error(&mut es).await;
        assert!(will_reconnect);
    }
    for _ in 0..2 {
        let req = server.request().await;
        assert_eq!(
            (req.method.as_str(), req.body.as_slice()),
            ("POST", &b"{}"[..])
        );
    }
    // PUT is idempotent: it reconnects without the switch.
    let server = serve(|r| Reply::Close(sse(&format!("data: {}\n\n", r.conn)))).await;
    let mut es = EventSource::builder(&server.url)
        .method(sse_client::http::Method::PUT)
        .reconnect(fast())
        .build()
        .unwrap();
    open(&mut es).await;
    message(&mut es).await;
    assert!(error(&mut es).await.1);
}

#[tokio::test]
async fn a_private_ca_is_trusted_when_added() {
    let ca = private_ca();
    let server = tls_server(ca.server_config(&[b"http/1.1"]), |_| {
        Reply::Hold(sse("data: internal\n\n"))
    })
    .await;
    // Not trusted by default.
    let mut es = EventSource::builder(&server.url)
        .reconnect(ReconnectPolicy::never())
        .build()
        .unwrap();
    let (e, _) = error(&mut es).await;
    assert!(e.is_tls(), "{e:?}");
    // Trusted from PEM, with or without the built-in roots.
    for built_in in [true, false] {
        let mut es = EventSource::builder(&server.url)
            .add_root_certificates_pem(ca.ca_pem.as_bytes())
            .tls_built_in_roots(built_in)
            .build()
            .unwrap();
        open(&mut es).await;
        assert_eq!(message(&mut es).await.data, "internal");
    }
    // Accepted without any root when verification is off.
    let mut es = EventSource::builder(&server.url)
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    open(&mut es).await;
    assert_eq!(message(&mut es).await.data, "internal");
}

#[test]
fn bad_root_settings_fail_the_build() {
    let e = EventSource::builder("https://h/")
        .add_root_certificates_pem(b"not a pem")
        .build()
        .unwrap_err();
    assert!(
        e.is_builder() && e.to_string().contains("no CERTIFICATE"),
        "{e}"
    );
    let tls = sse_client::rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(sse_client::rustls::RootCertStore::empty())
        .with_no_client_auth();
    let e = EventSource::builder("https://h/")
        .tls_config(Arc::new(tls))
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap_err();
    assert!(e.is_builder(), "{e}");
}

#[tokio::test]
async fn a_hook_that_never_answers_is_bounded_by_the_connect_timeout() {
    let mut es = EventSource::builder("http://127.0.0.1:9/never-reached")
        .connect_timeout(Some(std::time::Duration::from_millis(50)))
        .reconnect(ReconnectPolicy::never())
        .before_connect(|_| std::future::pending::<Result<HeaderMap, std::io::Error>>())
        .build()
        .unwrap();
    let (e, _) = error(&mut es).await;
    assert!(e.is_timeout() && !e.is_hook(), "{e:?}");
}
