//! Proxies against a real one: Debian's `tinyproxy`, started per test on a
//! free port with a generated configuration. `http://` goes through it in
//! absolute form, `https://` through `CONNECT` to a TLS server with a
//! private CA, credentials come from the proxy URL, and `NO_PROXY` bypasses
//! it. The environment is injected with `Proxy::from_lookup`, so no test
//! touches the process environment.

mod common;

use common::*;
use sse_client::{EventSource, Proxy, ReconnectPolicy};

fn via_tinyproxy(req: &Req) -> bool {
    req.header("via").is_some_and(|v| v.contains("tinyproxy"))
}

#[tokio::test]
async fn http_goes_through_the_proxy_in_absolute_form() {
    let Some(proxy) = tinyproxy(None) else { return };
    let mut server = serve(|_| Reply::Hold(sse("id: 1\ndata: proxied\n\n"))).await;
    let url = format!("{}/events?x=1", server.url);
    let mut es = EventSource::builder(&url)
        .proxy(Proxy::all(&format!("http://127.0.0.1:{}", proxy.port)).unwrap())
        .build()
        .unwrap();
    open(&mut es).await;
    assert_eq!(message(&mut es).await.data, "proxied");
    let req = server.request().await;
    // The proxy turned the absolute form back into a path for the server
    // and said it was there.
    assert_eq!(req.target, "/events?x=1");
    assert!(via_tinyproxy(&req), "{:?}", req.headers);
    assert_eq!(req.header("accept"), Some("text/event-stream"));
}

#[tokio::test]
async fn proxy_credentials_come_from_the_proxy_url() {
    let Some(proxy) = tinyproxy(Some(("alice", "s3cret"))) else {
        return;
    };
    let mut server = serve(|_| Reply::Hold(sse("data: authorized\n\n"))).await;
    // Without credentials the proxy answers 407, which fails the source.
    let mut es = EventSource::builder(&server.url)
        .proxy(Proxy::all(&format!("127.0.0.1:{}", proxy.port)).unwrap())
        .build()
        .unwrap();
    let (e, will_reconnect) = error(&mut es).await;
    assert_eq!(e.status(), Some(407), "{e}");
    assert!(!will_reconnect);
    // With them (percent-encoded in the URL) it forwards the request, and
    // the credentials do not reach the server.
    let mut es = EventSource::builder(&server.url)
        .proxy(Proxy::all(&format!("http://alice:s3cre%74@127.0.0.1:{}", proxy.port)).unwrap())
        .build()
        .unwrap();
    open(&mut es).await;
    assert_eq!(message(&mut es).await.data, "authorized");
    let req = server.request().await;
    assert!(via_tinyproxy(&req));
    assert_eq!(req.header("proxy-authorization"), None);
}

#[tokio::test]
async fn https_tunnels_through_connect_to_a_private_ca_server() {
    let Some(proxy) = tinyproxy(Some(("bob", "pw"))) else {
        return;
    };
    let ca = private_ca();
    let mut server = tls_server(ca.server_config(&[b"http/1.1"]), |_| {
        Reply::Hold(sse("data: tunnelled\n\n"))
    })
    .await;
    let proxy_url = format!("http://bob:pw@127.0.0.1:{}", proxy.port);
    // The environment as a lookup: HTTPS_PROXY names the proxy.
    let env = move |name: &str| (name == "HTTPS_PROXY").then(|| proxy_url.clone());
    let mut es = EventSource::builder(&format!("{}/secure", server.url))
        .proxy(Proxy::from_lookup(env).unwrap())
        .add_root_certificates_pem(ca.ca_pem.as_bytes())
        .build()
        .unwrap();
    open(&mut es).await;
    assert_eq!(message(&mut es).await.data, "tunnelled");
    let req = server.request().await;
    assert_eq!(req.target, "/secure");
    // Inside the tunnel the proxy sees nothing: no Via, no credentials.
    assert!(!via_tinyproxy(&req));
    assert_eq!(req.header("proxy-authorization"), None);
    // Wrong credentials: the CONNECT is refused, a proxy error with the
    // proxy's status (tinyproxy 1.11 answers a CONNECT with 401, where it
    // answers a plain request with 407).
    let bad = format!("http://bob:wrong@127.0.0.1:{}", proxy.port);
    let mut es = EventSource::builder(&format!("{}/secure", server.url))
        .proxy(Proxy::all(&bad).unwrap())
        .add_root_certificates_pem(ca.ca_pem.as_bytes())
        .build()
        .unwrap();
    let (e, _) = error(&mut es).await;
    assert!(
        e.is_proxy() && matches!(e.status(), Some(401 | 407)),
        "{e:?}"
    );
}

#[tokio::test]
async fn no_proxy_bypasses_the_proxy() {
    let Some(proxy) = tinyproxy(None) else { return };
    let mut server = serve(|_| Reply::Hold(sse("data: x\n\n"))).await;
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port);
    for (no_proxy, proxied) in [("", true), ("localhost,127.0.0.0/8", false), ("*", false)] {
        let proxy_url = proxy_url.clone();
        let env = move |name: &str| match name {
            "http_proxy" => Some(proxy_url.clone()),
            "NO_PROXY" => Some(no_proxy.to_owned()),
            _ => None,
        };
        let mut es = EventSource::builder(&server.url)
            .proxy(Proxy::from_lookup(env).unwrap())
            .build()
            .unwrap();
        open(&mut es).await;
        assert_eq!(
            via_tinyproxy(&server.request().await),
            proxied,
            "NO_PROXY={no_proxy:?}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_proxy_is_a_network_and_proxy_error() {
    // Nothing listens on this port once the listener is dropped.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut es = EventSource::builder("http://127.0.0.1:9/never")
        .proxy(Proxy::all(&format!("http://127.0.0.1:{port}")).unwrap())
        .reconnect(ReconnectPolicy::default().max_retries(Some(0)))
        .build()
        .unwrap();
    let (e, _) = error(&mut es).await;
    assert!(e.is_proxy() && e.is_connect() && e.is_network(), "{e:?}");
}

/// A hostile or broken proxy answering `CONNECT`: each answer ends the
/// attempt with a proxy error, never a hang or an unbounded buffer.
#[tokio::test]
async fn a_broken_connect_answer_is_a_proxy_error() {
    let endless_head = {
        let mut head = b"HTTP/1.1 200 Connection established\r\n".to_vec();
        while head.len() < 64 * 1024 {
            head.extend_from_slice(b"x-padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        head
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("endless head", endless_head),
        ("not HTTP", b"SSH-2.0-OpenSSH_9.2\r\n\r\n".to_vec()),
        (
            "data after the head",
            b"HTTP/1.1 200 OK\r\n\r\nnot from the server".to_vec(),
        ),
        ("closed", Vec::new()),
    ];
    for (case, answer) in cases {
        let mut fake = serve(move |_| Reply::Close(answer.clone())).await;
        let mut es = EventSource::builder("https://127.0.0.1:9/x")
            .proxy(Proxy::all(&fake.url).unwrap())
            .reconnect(ReconnectPolicy::never())
            .build()
            .unwrap();
        let (e, will_reconnect) = error(&mut es).await;
        assert!(
            e.is_proxy() && e.is_network() && !will_reconnect,
            "{case}: {e:?}"
        );
        let req = fake.request().await;
        assert_eq!(
            (req.method.as_str(), req.target.as_str()),
            ("CONNECT", "127.0.0.1:9"),
            "{case}"
        );
        end(&mut es).await;
    }
}
