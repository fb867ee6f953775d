//! `sse decode` as a user runs it: the built binary on the fixtures and on
//! stdin, compared byte for byte.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../sse-wire/tests/data")
        .join(name)
}

fn sse(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sse"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sse");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn decode_fixtures_byte_for_byte() {
    for name in ["fields", "fields-crlf", "fields-cr", "bom-utf8"] {
        let input = fixture(&format!("{name}.sse"));
        let out = sse(&["decode", input.to_str().unwrap()], b"");
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let want = std::fs::read(fixture(&format!("{name}.jsonl"))).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&want),
            "{name}"
        );
    }
}

#[test]
fn decode_reads_stdin_with_or_without_dash() {
    for args in [&["decode"][..], &["decode", "-"][..]] {
        let out = sse(args, b"id: 3\ndata: x\n\n");
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            "{\"type\":\"message\",\"data\":\"x\",\"id\":\"3\"}\n{\"end\":{\"last_event_id\":\"3\"}}\n"
        );
    }
}

#[test]
fn decode_comments_only_when_asked() {
    let input = b": one\n:two\n\n";
    let out = sse(&["decode", "--comments"], input);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "{\"comment\":\"one\"}\n{\"comment\":\"two\"}\n{\"end\":{\"last_event_id\":\"\"}}\n"
    );
    let out = sse(&["decode"], input);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "{\"end\":{\"last_event_id\":\"\"}}\n"
    );
}

#[test]
fn decode_last_event_id_carries_over() {
    let out = sse(&["decode", "--last-event-id", "41"], b"data: x\n\n");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "{\"type\":\"message\",\"data\":\"x\",\"id\":\"41\"}\n{\"end\":{\"last_event_id\":\"41\"}}\n"
    );
}

#[test]
fn decode_count_prints_only_totals() {
    let input = b"data: a\n\ndata: b\n\n: c\n\n";
    let out = sse(&["decode", "--count"], input);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "{\"events\":2,\"bytes\":23}\n"
    );
}

#[test]
fn decode_limit_breach_exits_non_zero_with_a_clear_message() {
    let mut input = b"data: ok\n\ndata: ".to_vec();
    input.extend(std::iter::repeat_n(b'x', 5000));
    let out = sse(&["decode", "--max-line", "1024"], &input);
    assert_eq!(out.status.code(), Some(1));
    // Events before the bad line are printed first.
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "{\"type\":\"message\",\"data\":\"ok\",\"id\":\"\"}\n"
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("longer than the limit of 1024 bytes"), "{err}");
}

#[test]
fn decode_into_a_closed_pipe_ends_quietly() {
    // `sse decode big.sse | head -1`: the reader leaves early.
    let mut child = Command::new(env!("CARGO_BIN_EXE_sse"))
        .arg("decode")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(&b"data: x\n\n".repeat(100_000));
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn decode_missing_file_is_a_clear_error() {
    let out = sse(&["decode", "/nonexistent/capture.sse"], b"");
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("cannot open /nonexistent/capture.sse"),
        "{err}"
    );
}

#[test]
fn decode_output_is_flushed_as_events_arrive() {
    // A live stream: the first event must be readable before stdin closes.
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_sse"))
        .arg("decode")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"data: first\n\n").unwrap();
    stdin.flush().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let first = BufReader::new(stdout).lines().next();
        let _ = tx.send(first);
    });
    // The process is still waiting for more input, so a line now proves the
    // flush; without one, the wait is bounded.
    let first = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("first event not flushed while input is still open")
        .unwrap()
        .unwrap();
    assert_eq!(
        first,
        "{\"type\":\"message\",\"data\":\"first\",\"id\":\"\"}"
    );
    drop(stdin);
    assert!(child.wait().unwrap().success());
}
