//! Interoperability with servers nobody here wrote: nginx with the nchan
//! module, and a Node.js `http` server (the javascript.info digits server).
//! Each test skips with a message when its program is missing, and fails
//! instead when `SSE_TEST_STRICT=1` (as `scripts/test.sh` sets).

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::*;
use sse_client::{EventSource, ReconnectPolicy};
use sse_testkit::ports::free_port;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

const NCHAN_MODULE: &str = "/usr/lib/nginx/modules/ngx_nchan_module.so";

/// A running nginx; stopped (gracefully, then for sure) on drop.
struct Nginx {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // A graceful stop lets the master take its workers down; killing the
        // master outright would orphan them. Wait (bounded) for it to exit.
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-QUIT", &pid.to_string()])
                .status();
            for _ in 0..100 {
                if matches!(self.child.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Waits (bounded) until something accepts connections on `port`.
async fn wait_listening(port: u16) -> bool {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn start_nginx() -> Option<Nginx> {
    if !have("nginx", "-v") {
        return None;
    }
    if !Path::new(NCHAN_MODULE).exists() {
        sse_testkit::skip::skip(&format!("{NCHAN_MODULE} not found"));
        return None;
    }
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("sse-client-nchan-{}-{port}", std::process::id()));
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    // Workers run as nobody when started as root.
    let _ = std::process::Command::new("chmod")
        .args(["1777", &dir.join("tmp").to_string_lossy()])
        .status();
    let conf = format!(
        r#"load_module {NCHAN_MODULE};
worker_processes 1;
daemon off;
pid nginx.pid;
error_log error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path tmp/body; proxy_temp_path tmp/proxy;
  fastcgi_temp_path tmp/fastcgi; uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;
  server {{
    listen 127.0.0.1:{port};
    location = /sub {{ nchan_subscriber eventsource; nchan_channel_id $arg_id; }}
    location = /sub-short {{ nchan_subscriber eventsource; nchan_channel_id $arg_id;
                             nchan_subscriber_timeout 2s; }}
    location = /pub {{ nchan_publisher; nchan_channel_id $arg_id;
                      nchan_message_buffer_length 10; nchan_message_timeout 1m; }}
  }}
}}
"#
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new("nginx")
        .arg("-p")
        .arg(&dir)
        .args(["-c", "nginx.conf", "-e"])
        .arg(dir.join("error.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("nginx starts");
    let nginx = Nginx { child, dir, port };
    assert!(wait_listening(port).await, "nginx did not listen on {port}");
    Some(nginx)
}

/// Publishes with a plain HTTP POST; returns the status code.
async fn publish(port: u16, channel: &str, data: &str, event: Option<&str>) -> u16 {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let extra = event
        .map(|e| format!("X-EventSource-Event: {e}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "POST /pub?id={channel} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{data}",
        data.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut resp))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&resp);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn nchan_publish_receive_and_resume_with_last_event_id() {
    let Some(nginx) = start_nginx().await else {
        return;
    };
    let url = format!("http://127.0.0.1:{}/sub?id=c1", nginx.port);
    let mut es = EventSource::new(&url).unwrap();
    open(&mut es).await;
    assert_eq!(publish(nginx.port, "c1", "hello", None).await, 201);
    let hello = message(&mut es).await;
    assert_eq!((&*hello.event_type, &*hello.data), ("message", "hello"));
    assert!(
        hello.id.contains(':'),
        "nchan ids look like <time>:<n>, got {:?}",
        hello.id
    );
    assert_eq!(
        publish(nginx.port, "c1", "hi there", Some("greet")).await,
        201
    );
    let greet = message(&mut es).await;
    assert_eq!((&*greet.event_type, &*greet.data), ("greet", "hi there"));
    let resume_from = es.last_event_id().to_owned();
    assert_eq!(resume_from, &*greet.id);
    es.close();

    // Nobody listens now (nchan answers 202); a new source resuming from the
    // last id gets exactly what it missed.
    let _ = publish(nginx.port, "c1", "missed 1", None).await;
    let _ = publish(nginx.port, "c1", "missed 2", None).await;
    let mut es = EventSource::builder(&url)
        .last_event_id(resume_from)
        .build()
        .unwrap();
    open(&mut es).await;
    assert_eq!(message(&mut es).await.data, "missed 1");
    assert_eq!(message(&mut es).await.data, "missed 2");
}

#[tokio::test]
async fn nchan_reconnect_sends_last_event_id_by_itself() {
    let Some(nginx) = start_nginx().await else {
        return;
    };
    // This location ends each subscriber after 2 s; the source reconnects
    // on its own and must resume after the last id it saw.
    let url = format!("http://127.0.0.1:{}/sub-short?id=c2", nginx.port);
    let mut es = EventSource::builder(&url)
        .reconnect(
            ReconnectPolicy::default()
                .initial_retry(Duration::ZERO)
                .jitter(0.0),
        )
        .build()
        .unwrap();
    open(&mut es).await;
    assert_eq!(publish(nginx.port, "c2", "before", None).await, 201);
    assert_eq!(message(&mut es).await.data, "before");
    let (e, again) = error(&mut es).await;
    assert!(again, "{e:?}");
    // The source is not polled now, so it has not reconnected yet: this
    // message is published while nobody listens.
    let _ = publish(nginx.port, "c2", "during the gap", None).await;
    open(&mut es).await;
    assert_eq!(message(&mut es).await.data, "during the gap");
}

/// A running `node tests/interop/digits.js`, killed on drop.
async fn start_digits() -> Option<(Child, u16)> {
    if !have("node", "--version") {
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/digits.js");
    let mut child = Command::new("node")
        .arg(script)
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let port = line
        .strip_prefix("listening ")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    Some((child, port))
}

#[tokio::test]
async fn node_digits_server_bye_close_and_reconnect() {
    let Some((_node, port)) = start_digits().await else {
        return;
    };
    let mut es = EventSource::builder(&format!("http://127.0.0.1:{port}/digits"))
        .reconnect(
            ReconnectPolicy::default()
                .initial_retry(Duration::from_millis(10))
                .jitter(0.0),
        )
        .build()
        .unwrap();
    let mut got = Vec::new();
    for round in 0..2 {
        open(&mut es).await;
        for _ in 0..3 {
            let m = message(&mut es).await;
            assert_eq!(m.data, m.id);
            got.push(m.data.to_string());
        }
        let bye = message(&mut es).await;
        assert_eq!((&*bye.event_type, &*bye.data), ("bye", "bye-bye"));
        let (e, again) = error(&mut es).await;
        assert!(e.is_eof() && again, "round {round}: {e:?}");
    }
    // The second connection resumed after Last-Event-ID 3.
    assert_eq!(got, ["1", "2", "3", "4", "5", "6"]);
}

#[tokio::test]
async fn node_server_404_fails_for_good() {
    let Some((_node, port)) = start_digits().await else {
        return;
    };
    let mut es = EventSource::new(&format!("http://127.0.0.1:{port}/nothing")).unwrap();
    let (e, again) = error(&mut es).await;
    assert_eq!(e.status(), Some(404));
    assert!(!again);
    end(&mut es).await;
}
