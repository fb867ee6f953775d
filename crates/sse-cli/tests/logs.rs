//! The hub's logs never contain a token or a payload, whatever the log
//! level and format: tokens are credentials and payloads may be private,
//! while logs go to places with weaker access control (files, collectors,
//! terminals). Written to a file they carry no colour codes, and in JSON
//! every line is one object.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sse_hub::auth::{mint_hs256, TokenSpec};
use sse_testkit::ports::free_port;

const SECRET: &str = "a-test-secret-of-at-least-32-bytes!!";
const PAYLOAD: &str = "payload-7f3a9c-must-not-be-logged";
const WAIT: Duration = Duration::from_secs(20);

/// Sends one request on a fresh connection and reads what arrives within
/// a moment (an event stream does not end by itself).
fn exchange(port: u16, request: &str) -> String {
    let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    sock.write_all(request.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = sock.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn tokens_and_payloads_stay_out_of_the_logs_at_every_level_and_format() {
    let dir = tempfile::tempdir().unwrap();
    for (level, format) in [
        ("info", "text"),
        ("debug", "text"),
        ("trace", "text"),
        ("info", "json"),
        ("debug", "json"),
        ("trace", "json"),
    ] {
        let port = free_port();
        // A file, as under systemd or `2>hub.log`: not a terminal.
        let log_path = dir.path().join(format!("{level}-{format}.log"));
        let log_file = std::fs::File::create(&log_path).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_sse"))
            .args(["serve", "--store", "memory://", "--audience", "logs-test"])
            .args(["--addr", &format!("127.0.0.1:{port}"), "--legacy"])
            .env("SSE_PUBLISHER_JWT_KEY", SECRET)
            .env("SSE_SUBSCRIBER_JWT_KEY", SECRET)
            .env("SSE_LOG", level)
            .env("SSE_LOG_FORMAT", format)
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "sse serve never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        let sub = mint_hs256(
            SECRET.as_bytes(),
            &TokenSpec::subscriber("logs-test", ["*"]),
            now(),
        )
        .unwrap();
        let publisher = mint_hs256(
            SECRET.as_bytes(),
            &TokenSpec::publisher("logs-test", ["*"]),
            now(),
        )
        .unwrap();
        // A token that fails (wrong audience), which a careless rejection
        // log would print.
        let rejected = mint_hs256(
            SECRET.as_bytes(),
            &TokenSpec::publisher("another-hub", ["*"]),
            now(),
        )
        .unwrap();
        let hub = "/.well-known/mercure";
        // Subscribe with the token in a header, a cookie and the query.
        let mut subscribers: Vec<std::thread::JoinHandle<String>> = Vec::new();
        for auth in [
            format!("GET {hub}?topic=t HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nAuthorization: Bearer {sub}\r\n\r\n"),
            format!("GET {hub}?topic=t HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nCookie: mercureAuthorization={sub}\r\n\r\n"),
            format!("GET {hub}?topic=t&authorization={sub} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"),
        ] {
            subscribers.push(std::thread::spawn(move || {
                let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
                sock.set_read_timeout(Some(WAIT)).unwrap();
                sock.write_all(auth.as_bytes()).unwrap();
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                while !String::from_utf8_lossy(&got).contains(PAYLOAD) {
                    match sock.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                String::from_utf8_lossy(&got).into_owned()
            }));
        }
        // Let the subscriptions open before publishing.
        std::thread::sleep(Duration::from_millis(300));
        let body = format!("topic=t&data={PAYLOAD}&private=on");
        let publish = |token: &str| {
            exchange(
                port,
                &format!(
                    "POST {hub} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                ),
            )
        };
        let refused = publish(&rejected);
        assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
        let accepted = publish(&publisher);
        assert!(accepted.starts_with("HTTP/1.1 200"), "{accepted}");
        for s in subscribers {
            let got = s.join().unwrap();
            assert!(
                got.contains(PAYLOAD),
                "a subscriber missed the update: {got}"
            );
        }
        // Something was logged at all at the verbose levels (a check that
        // the capture works, so the absence below means something).
        let _ = child.kill();
        let _ = child.wait();
        let log = std::fs::read_to_string(&log_path).unwrap();
        if level != "info" {
            assert!(!log.is_empty(), "nothing logged at {level}");
        }
        assert!(
            !log.contains('\x1b'),
            "an escape code in a log file ({level}, {format}): {log:?}"
        );
        if format == "json" {
            check_json_lines(&log);
        }
        for (what, secret) in [
            ("subscriber token", sub.as_str()),
            ("publisher token", publisher.as_str()),
            ("rejected token", rejected.as_str()),
            ("payload", PAYLOAD),
        ] {
            // The signature is the part that must never leak; the whole
            // token includes it.
            let signature = secret.rsplit('.').next().unwrap();
            assert!(
                !log.contains(signature),
                "the {what} appears in the {format} log at level {level}"
            );
        }
    }
}

/// Every line is one JSON object with the five keys, in that order, and
/// the hub's own start-up line is among them.
fn check_json_lines(log: &str) {
    let mut lines = 0;
    for line in log.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line:?}"));
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["time", "level", "target", "message", "fields"],
            "{line}"
        );
        assert!(v["fields"].is_object(), "{line}");
        assert!(
            v["time"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{line}"
        );
        lines += 1;
    }
    assert!(lines > 0, "no JSON lines in {log:?}");
}

#[test]
fn serve_help_names_the_log_variables_and_formats() {
    let out = Command::new(env!("CARGO_BIN_EXE_sse"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for word in [
        "--log-format",
        "SSE_LOG_FORMAT",
        "SSE_LOG",
        "RUST_LOG",
        "json",
    ] {
        assert!(help.contains(word), "{word} missing from sse serve --help");
    }
}
