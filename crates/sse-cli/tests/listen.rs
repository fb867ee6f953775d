//! `sse listen` as a user runs it: the built binary against a scripted
//! server on loopback (std threads and raw TCP, so every byte is exact).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Every wait is bounded by this.
const WAIT: Duration = Duration::from_secs(20);

/// How the server answers a connection.
enum Reply {
    Close(String),
    /// Write, then keep the connection until the client leaves.
    Hold(String),
}

/// Serves connection `n` with `script(n)`; reports each request head.
fn server(script: fn(usize) -> Reply) -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for (n, conn) in listener.incoming().enumerate() {
            let Ok(mut s) = conn else { return };
            let tx = tx.clone();
            thread::spawn(move || {
                let _ = s.set_read_timeout(Some(WAIT));
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(k) => head.extend_from_slice(&buf[..k]),
                    }
                }
                let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
                match script(n) {
                    Reply::Close(r) => {
                        let _ = s.write_all(r.as_bytes());
                    }
                    Reply::Hold(r) => {
                        let _ = s.write_all(r.as_bytes());
                        while matches!(s.read(&mut buf), Ok(k) if k > 0) {}
                    }
                }
            });
        }
    });
    (url, rx)
}

fn sse(body: &str) -> String {
    format!("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n{body}")
}

/// Runs `sse` with a bounded wait; kills it and fails if it hangs.
fn run(args: &[&str]) -> Output {
    run_with(args, Stdio::piped(), Stdio::piped())
}

/// [`run`] with stdout and stderr going where the caller says.
fn run_with(args: &[&str], out: Stdio, err: Stdio) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sse"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("run sse");
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > WAIT {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "sse {args:?} did not finish; stdout: {} stderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        thread::sleep(Duration::from_millis(10));
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn json_lines_reconnect_with_last_event_id_then_204_exits_zero() {
    let (url, heads) = server(|n| match n {
        0 => Reply::Close(sse(
            "retry: 0\nid: 1\ndata: a\n\nevent: x\ndata: b\ndata:\n\n",
        )),
        _ => Reply::Close("HTTP/1.1 204 No Content\r\n\r\n".into()),
    });
    let out = run(&["listen", &url, "--json", "-H", "X-Token: abc"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        concat!(
            "{\"state\":\"connecting\"}\n",
            "{\"state\":\"open\",\"status\":200,\"headers\":{\"content-type\":\"text/event-stream\"}}\n",
            "{\"type\":\"message\",\"data\":\"a\",\"id\":\"1\"}\n",
            "{\"type\":\"x\",\"data\":\"b\\n\",\"id\":\"1\"}\n",
            "{\"state\":\"connecting\",\"reason\":\"the server ended the stream\"}\n",
            "{\"state\":\"closed\",\"reason\":\"the server answered 204 No Content: the stream is over\"}\n",
        )
    );
    let first = heads.recv_timeout(WAIT).unwrap().to_ascii_lowercase();
    let second = heads.recv_timeout(WAIT).unwrap().to_ascii_lowercase();
    assert!(first.contains("x-token: abc\r\n") && first.contains("accept: text/event-stream\r\n"));
    assert!(!first.contains("last-event-id"));
    assert!(second.contains("last-event-id: 1\r\n"), "{second}");
}

#[test]
fn max_events_exits_zero() {
    let (url, _heads) = server(|_| Reply::Hold(sse("data: 1\n\ndata: 2\n\ndata: 3\n\n")));
    let out = run(&["listen", &url, "--json", "--max-events", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("\"data\":\"2\""), "{text}");
    assert!(!text.contains("\"data\":\"3\""), "{text}");
    assert!(
        text.ends_with("{\"state\":\"closed\",\"reason\":\"max events reached\"}\n"),
        "{text}"
    );
}

#[test]
fn last_event_id_flag_is_sent() {
    let (url, heads) = server(|_| Reply::Hold(sse("data: x\n\n")));
    let out = run(&["listen", &url, "--last-event-id", "41", "--max-events", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let head = heads.recv_timeout(WAIT).unwrap().to_ascii_lowercase();
    assert!(head.contains("last-event-id: 41\r\n"), "{head}");
}

#[test]
fn human_output_without_colour_when_not_a_terminal() {
    let (url, _heads) =
        server(|_| Reply::Hold(sse("id: 9\nevent: greet\ndata: hello\ndata: world\n\n")));
    let out = run(&["listen", &url, "--max-events", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "event: greet  id: 9\nhello\nworld\n\n");
    assert!(!stdout(&out).contains('\x1b'));
    assert!(stderr(&out).contains("* open"), "{}", stderr(&out));
}

#[test]
fn failed_status_exits_non_zero_with_a_clear_message() {
    let (url, heads) =
        server(|_| Reply::Close("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".into()));
    let out = run(&["listen", &url]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("404"), "{}", stderr(&out));
    heads.recv_timeout(WAIT).unwrap();
    // Not retried: exactly one request.
    assert!(heads.try_recv().is_err());
}

#[test]
fn a_401_says_a_token_is_needed() {
    let (url, _heads) =
        server(|_| Reply::Close("HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n".into()));
    let out = run(&["listen", &url]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("401"), "{err}");
    assert!(err.contains("needs a token"), "{err}");
    assert!(err.contains("Authorization: Bearer"), "{err}");
}

/// `sse listen URL > log 2>&1`: the last event comes before the "closed"
/// that follows it (it came after once: stdout was still buffered).
#[test]
fn events_and_state_lines_keep_their_order_in_one_file() {
    let (url, _heads) = server(|_| Reply::Hold(sse("data: one\n\ndata: two\n\n")));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("listen.log");
    let file = std::fs::File::create(&path).unwrap();
    let out = run_with(
        &["listen", &url, "--max-events", "2"],
        Stdio::from(file.try_clone().unwrap()),
        Stdio::from(file),
    );
    assert!(out.status.success());
    let log = std::fs::read_to_string(&path).unwrap();
    let at = |needle: &str| {
        log.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in {log:?}"))
    };
    assert!(at("* open") < at("one\n"), "{log}");
    assert!(at("one\n") < at("two\n"), "{log}");
    assert!(at("two\n") < at("* closed"), "{log}");
}

#[test]
fn wrong_content_type_exits_non_zero() {
    let (url, _heads) =
        server(|_| Reply::Close("HTTP/1.1 200 OK\r\ncontent-type: text/html\r\n\r\n<html>".into()));
    let out = run(&["listen", &url, "--json"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("text/event-stream"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("\"state\":\"closed\""),
        "{}",
        stdout(&out)
    );
}

#[test]
fn network_failure_with_no_reconnect_exits_non_zero() {
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = run(&["listen", &format!("http://{addr}/"), "--no-reconnect"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cannot connect"), "{}", stderr(&out));
}

#[test]
fn timeout_gives_up_on_a_silent_stream() {
    let (url, _heads) = server(|_| Reply::Hold(sse("")));
    let out = run(&["listen", &url, "--no-reconnect", "--timeout", "0.3"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no bytes received"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn clean_end_with_no_reconnect_exits_zero() {
    let (url, _heads) = server(|_| Reply::Close(sse("data: only\n\n")));
    let out = run(&["listen", &url, "--no-reconnect", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("\"data\":\"only\""));
}

#[test]
fn bad_arguments_are_reported() {
    for args in [
        &["listen", "ftp://x/"][..],
        &["listen", "http://x/", "-H", "no colon"],
        &["listen", "http://x/", "--timeout", "-1"],
    ] {
        let out = run(args);
        assert!(!out.status.success(), "{args:?}");
        assert!(!stderr(&out).is_empty(), "{args:?}");
    }
}

#[test]
fn post_with_body() {
    let (url, heads) = server(|_| Reply::Hold(sse("data: ok\n\n")));
    let out = run(&[
        "listen",
        &url,
        "-X",
        "POST",
        "-d",
        "{\"q\":1}",
        "-H",
        "content-type: application/json",
        "--max-events",
        "1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let head = heads.recv_timeout(WAIT).unwrap();
    assert!(head.starts_with("POST / HTTP/1.1\r\n"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("content-length: 7\r\n"),
        "{head}"
    );
}

#[test]
fn comments_are_printed_on_request() {
    let (url, _heads) = server(|_| Reply::Hold(sse(": ping\n\ndata: m\n\n")));
    let out = run(&["listen", &url, "--json", "--comments", "--max-events", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("{\"comment\":\"ping\"}\n{\"type\":\"message\",\"data\":\"m\""),
        "{text}"
    );
    let out = run(&["listen", &url, "--json", "--max-events", "1"]);
    assert!(!stdout(&out).contains("comment"));
}
