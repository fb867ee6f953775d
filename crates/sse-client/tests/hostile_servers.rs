//! Hostile servers against the client (issue 8, RELIABILITY.md): endless
//! lines, events and comments, slow drips, a server that never answers,
//! invalid UTF-8 and a response of hundreds of megabytes generated on the
//! fly. Each must end with a clear error or a reconnect (never a hang: every
//! wait is bounded), and the client's memory must not follow the stream.
//!
//! Memory is read from `/proc/self/status`: the tests take a global lock so
//! only one runs at a time, reset the peak (`/proc/self/clear_refs`), and
//! compare the peak after the test with the resident size before it. Each
//! prints a `FIGURE` line that RELIABILITY.md records.
//!
//! `SSE_HOSTILE_BYTES` sets the size of the big response (default 128 MiB;
//! `scripts/hostile_servers.sh` runs the multi-gigabyte one in release).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use sse_client::{Event, EventSource, Limits, ReconnectPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Every wait is bounded by this, to turn a hang into a failure.
const WAIT: Duration = Duration::from_secs(60);
const MAX_LINE: usize = 64 * 1024;
const MAX_EVENT: usize = 256 * 1024;
/// What the client may add to its resident size while it is fed hundreds
/// of megabytes: its limits (320 KiB), hyper's read buffers, the runtime and
/// allocator slack. Without the limits the growth would be the whole stream.
const RSS_BOUND: u64 = 32 << 20;

/// One test at a time, so the process's memory figures are this test's.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"));
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap()
}

/// Resets the peak resident size and returns the current one, in bytes.
fn memory_baseline() -> u64 {
    // "5" resets VmHWM to the current VmRSS (Linux >= 4.0).
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    status_kib("VmRSS:") * 1024
}

/// The peak resident size since the baseline, minus the baseline.
fn memory_growth(baseline: u64, test: &str, streamed: u64) -> u64 {
    let growth = (status_kib("VmHWM:") * 1024).saturating_sub(baseline);
    eprintln!(
        "FIGURE {test}: server wrote {streamed} bytes, client peak RSS growth {} KiB",
        growth / 1024
    );
    assert!(
        growth < RSS_BOUND,
        "{test}: peak RSS grew by {growth} bytes while {streamed} bytes were streamed"
    );
    growth
}

/// What the server does on one connection, after reading the request head.
#[derive(Clone)]
enum Act {
    /// Write `head`, then `unit` again and again until `total` bytes of
    /// body have gone out (for ever with `None`), then `tail`, then close.
    Generate {
        head: Vec<u8>,
        unit: Vec<u8>,
        total: Option<u64>,
        tail: Vec<u8>,
    },
    /// Write `head`, then `bytes` one at a time, `gap` apart, then hold.
    Drip {
        head: Vec<u8>,
        bytes: Vec<u8>,
        gap: Duration,
    },
    /// Never answer; hold until the client goes.
    Silent,
    /// Write these bytes and hold the connection open.
    Hold(Vec<u8>),
}

struct Gen {
    url: String,
    /// (connection number, bytes written) when a connection ends.
    done: mpsc::UnboundedReceiver<(usize, u64)>,
    written: Arc<AtomicU64>,
}

impl Gen {
    /// Waits until connection `conn` ends and returns the bytes written on it.
    async fn ended(&mut self, conn: usize) -> u64 {
        loop {
            match tokio::time::timeout(WAIT, self.done.recv()).await {
                Ok(Some((c, n))) if c == conn => return n,
                Ok(Some(_)) => {}
                Ok(None) => panic!("server gone"),
                Err(_) => panic!("connection {conn} did not end within {WAIT:?}"),
            }
        }
    }
}

async fn generator(act: impl Fn(usize) -> Act + Send + Sync + 'static) -> Gen {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    let (tx, done) = mpsc::unbounded_channel();
    let written = Arc::new(AtomicU64::new(0));
    let act = Arc::new(act);
    let total_written = written.clone();
    tokio::spawn(async move {
        for conn in 0.. {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (tx, act, total_written) = (tx.clone(), act.clone(), total_written.clone());
            tokio::spawn(async move {
                let n = connection(tcp, act(conn), &total_written).await;
                let _ = tx.send((conn, n));
            });
        }
    });
    Gen { url, done, written }
}

async fn connection(mut s: TcpStream, act: Act, total_written: &AtomicU64) -> u64 {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return 0,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let mut written = 0u64;
    let mut hold = true;
    match act {
        Act::Generate {
            head,
            unit,
            total,
            tail,
        } => {
            if s.write_all(&head).await.is_err() {
                return 0;
            }
            // Batch the unit so each write is ~256 KiB.
            let batch = unit.repeat((256 * 1024 / unit.len()).max(1));
            let mut body = 0u64;
            loop {
                let left = total.map_or(u64::MAX, |t| t - body);
                if left == 0 {
                    break;
                }
                let n = usize::try_from(left.min(batch.len() as u64)).unwrap();
                if s.write_all(&batch[..n]).await.is_err() {
                    hold = false;
                    break;
                }
                body += n as u64;
                total_written.fetch_add(n as u64, Ordering::Relaxed);
            }
            written = body;
            if hold {
                let _ = s.write_all(&tail).await;
                let _ = s.shutdown().await;
                hold = false;
            }
        }
        Act::Drip { head, bytes, gap } => {
            if s.write_all(&head).await.is_err() {
                return 0;
            }
            for b in bytes {
                if s.write_all(&[b]).await.is_err() {
                    return written;
                }
                written += 1;
                tokio::time::sleep(gap).await;
            }
        }
        Act::Silent => {}
        Act::Hold(bytes) => {
            if s.write_all(&bytes).await.is_err() {
                return 0;
            }
            written = bytes.len() as u64;
        }
    }
    if hold {
        // Until the client goes away (bounded, so nothing outlives the test).
        let _ = tokio::time::timeout(WAIT, async {
            while let Ok(n) = s.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    }
    written
}

const HEAD: &str = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n";

fn sse(body: &str) -> Vec<u8> {
    format!("{HEAD}{body}").into_bytes()
}

/// Reconnects at once; tests wait on events, never on time.
fn fast() -> ReconnectPolicy {
    ReconnectPolicy::default()
        .initial_retry(Duration::ZERO)
        .min_backoff(Duration::from_millis(1))
        .jitter(0.0)
}

fn limited(url: &str) -> EventSource {
    EventSource::builder(url)
        .limits(
            Limits::default()
                .with_max_line(MAX_LINE)
                .with_max_event(MAX_EVENT),
        )
        .reconnect(fast())
        .build()
        .unwrap()
}

async fn next(es: &mut EventSource) -> Event {
    match tokio::time::timeout(WAIT, es.next()).await {
        Ok(Some(ev)) => ev,
        Ok(None) => panic!("stream ended"),
        Err(_) => panic!("no event within {WAIT:?}: the client hangs"),
    }
}

async fn expect_open(es: &mut EventSource) {
    match next(es).await {
        Event::Open => {}
        other => panic!("expected open, got {other:?}"),
    }
}

async fn expect_error(es: &mut EventSource) -> (sse_client::Error, bool) {
    match next(es).await {
        Event::Error {
            error,
            will_reconnect,
        } => (error, will_reconnect),
        other => panic!("expected an error, got {other:?}"),
    }
}

async fn expect_data(es: &mut EventSource) -> String {
    match next(es).await {
        Event::Message(m) => m.data.to_string(),
        other => panic!("expected a message, got {other:?}"),
    }
}

/// The decoder's error under a client error.
fn decode_error(e: &sse_client::Error) -> &sse_wire::DecodeError {
    assert!(e.is_decode(), "{e:?}");
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<sse_wire::DecodeError>())
        .unwrap_or_else(|| panic!("a DecodeError under {e:?}"))
}

/// Connection 0 streams `unit` for ever after `head_body`; connection 1
/// answers a small event. Returns the first error and the bytes the server
/// managed to write on connection 0 before the client dropped it.
async fn endless(name: &str, head_body: &str, unit: &str) -> (sse_client::Error, u64) {
    let (head_body, unit) = (head_body.to_owned(), unit.as_bytes().to_vec());
    let mut server = generator(move |conn| match conn {
        0 => Act::Generate {
            head: sse(&head_body),
            unit: unit.clone(),
            total: None,
            tail: Vec::new(),
        },
        _ => Act::Hold(sse("data: small\n\n")),
    })
    .await;
    let baseline = memory_baseline();
    let mut es = limited(&server.url);
    expect_open(&mut es).await;
    let (e, again) = expect_error(&mut es).await;
    assert!(again, "a limit error reconnects: {e:?}");
    let streamed = server.ended(0).await;
    expect_open(&mut es).await;
    assert_eq!(expect_data(&mut es).await, "small");
    memory_growth(baseline, name, streamed);
    (e, streamed)
}

#[tokio::test]
async fn endless_line_ends_with_a_line_limit_error_and_a_reconnect() {
    let _serial = SERIAL.lock().await;
    let (e, _) = endless("endless line", "data: ", &"x".repeat(1000)).await;
    let d = decode_error(&e);
    assert!(d.is_line_too_long(), "{d}");
    assert_eq!(d.limit(), MAX_LINE);
}

#[tokio::test]
async fn endless_comment_line_ends_with_a_line_limit_error_and_a_reconnect() {
    let _serial = SERIAL.lock().await;
    let (e, _) = endless("endless comment line", ":", &"c".repeat(1000)).await;
    let d = decode_error(&e);
    assert!(d.is_line_too_long(), "{d}");
    assert_eq!(d.limit(), MAX_LINE);
}

#[tokio::test]
async fn endless_event_ends_with_an_event_limit_error_and_a_reconnect() {
    let _serial = SERIAL.lock().await;
    // Short data lines that never end the event: each line is within
    // max_line, the event is not.
    let (e, _) = endless("endless event", "", &format!("data: {}\n", "y".repeat(100))).await;
    let d = decode_error(&e);
    assert!(d.is_event_too_large(), "{d}");
    assert_eq!(d.limit(), MAX_EVENT);
}

#[tokio::test]
async fn endless_comments_are_discarded_not_buffered() {
    let _serial = SERIAL.lock().await;
    // 32 MiB of comment lines (100 times max_event), then one event: the
    // comments count toward no limit and must not accumulate.
    let total = 32u64 << 20;
    let mut server = generator(move |_| Act::Generate {
        head: sse(""),
        // 1 KiB lines exactly, so the total cuts no line in two.
        unit: format!(":{}\n", "k".repeat(1022)).into_bytes(),
        total: Some(total),
        tail: b"data: after the comments\n\n".to_vec(),
    })
    .await;
    let baseline = memory_baseline();
    let mut es = limited(&server.url);
    expect_open(&mut es).await;
    assert_eq!(expect_data(&mut es).await, "after the comments");
    let (e, again) = expect_error(&mut es).await;
    assert!(e.is_eof() && again, "{e:?}");
    es.close();
    let streamed = server.ended(0).await;
    assert_eq!(streamed, total);
    memory_growth(baseline, "endless comments", streamed);
}

#[tokio::test]
async fn slow_drip_body_is_ended_by_the_idle_timeout() {
    let _serial = SERIAL.lock().await;
    // One byte a second after the head: a 300 ms idle timeout fires between
    // two bytes, and the source reconnects.
    let mut server = generator(|conn| match conn {
        0 => Act::Drip {
            head: sse(""),
            bytes: b"data: one byte a second\n\n".to_vec(),
            gap: Duration::from_secs(1),
        },
        _ => Act::Hold(sse("data: back\n\n")),
    })
    .await;
    let mut es = EventSource::builder(&server.url)
        .idle_timeout(Some(Duration::from_millis(300)))
        .reconnect(fast())
        .build()
        .unwrap();
    expect_open(&mut es).await;
    let (e, again) = expect_error(&mut es).await;
    assert!(e.is_idle_timeout(), "{e:?}");
    assert!(again);
    let dripped = server.ended(0).await;
    assert!(dripped < 26, "the drip was cut before its end: {dripped}");
    expect_open(&mut es).await;
    assert_eq!(expect_data(&mut es).await, "back");
    eprintln!("FIGURE slow drip body: idle timeout after {dripped} byte(s) dripped");
}

#[tokio::test]
async fn slow_drip_head_is_ended_by_the_connect_timeout() {
    let _serial = SERIAL.lock().await;
    // The response head itself one byte every 100 ms (~5 s in all): the
    // connect timeout covers the connect up to the end of the head.
    let server = generator(|_| Act::Drip {
        head: Vec::new(),
        bytes: sse(""),
        gap: Duration::from_millis(100),
    })
    .await;
    let mut es = EventSource::builder(&server.url)
        .connect_timeout(Some(Duration::from_millis(500)))
        .idle_timeout(Some(Duration::from_millis(300)))
        .reconnect(ReconnectPolicy::never())
        .build()
        .unwrap();
    let (e, again) = expect_error(&mut es).await;
    assert!(e.is_timeout() && !e.is_idle_timeout(), "{e:?}");
    assert!(!again, "no retries allowed by the policy");
    assert_eq!(server.written.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_server_that_never_sends_headers_is_ended_by_the_connect_timeout() {
    let _serial = SERIAL.lock().await;
    // Reads the request, then says nothing; the source retries once more
    // (the timeout is a network error) and gives up after its retries.
    let mut server = generator(|_| Act::Silent).await;
    let mut es = EventSource::builder(&server.url)
        .connect_timeout(Some(Duration::from_millis(300)))
        .reconnect(fast().max_retries(Some(1)))
        .build()
        .unwrap();
    let (e, again) = expect_error(&mut es).await;
    assert!(e.is_timeout() && !e.is_idle_timeout(), "{e:?}");
    assert!(again);
    server.ended(0).await;
    let (e, again) = expect_error(&mut es).await;
    assert!(e.is_timeout() && !e.is_idle_timeout(), "{e:?}");
    assert!(!again, "retries exhausted");
    match tokio::time::timeout(WAIT, es.next()).await {
        Ok(None) => {}
        other => panic!("expected the end of the source, got {other:?}"),
    }
}

#[tokio::test]
async fn invalid_utf8_becomes_replacement_characters_and_the_stream_goes_on() {
    let _serial = SERIAL.lock().await;
    let mut body = sse("");
    body.extend_from_slice(b"event: t\xff\nid: i\xc3\ndata: a\xfe\xffb\n: c\x80\n\n");
    body.extend_from_slice(b"data: \xf0\x9f\x98\n\ndata: fine\n\n");
    let server = generator(move |_| Act::Hold(body.clone())).await;
    let mut es = limited(&server.url);
    expect_open(&mut es).await;
    match next(&mut es).await {
        Event::Message(m) => {
            assert_eq!(m.event_type, "t\u{FFFD}");
            assert_eq!(m.id, "i\u{FFFD}");
            assert_eq!(m.data, "a\u{FFFD}\u{FFFD}b");
        }
        other => panic!("expected a message, got {other:?}"),
    }
    assert_eq!(expect_data(&mut es).await, "\u{FFFD}");
    assert_eq!(expect_data(&mut es).await, "fine");
}

fn big_bytes() -> u64 {
    std::env::var("SSE_HOSTILE_BYTES")
        .ok()
        .map_or(128 << 20, |v| {
            v.parse().expect("SSE_HOSTILE_BYTES is a byte count")
        })
}

#[tokio::test]
async fn a_huge_response_streams_through_in_bounded_memory() {
    let _serial = SERIAL.lock().await;
    // Events of exactly 16 KiB on the wire, generated on the fly (no file),
    // then the server closes: every one is delivered, none is buffered.
    let unit = format!("data: {}\n\n", "z".repeat(16 * 1024 - 8)).into_bytes();
    assert_eq!(unit.len(), 16 * 1024);
    let events = big_bytes() / unit.len() as u64;
    let total = events * unit.len() as u64;
    let mut server = generator(move |_| Act::Generate {
        head: sse(""),
        unit: unit.clone(),
        total: Some(total),
        tail: Vec::new(),
    })
    .await;
    let baseline = memory_baseline();
    let mut es = limited(&server.url);
    expect_open(&mut es).await;
    let mut received = 0u64;
    let e = loop {
        match next(&mut es).await {
            Event::Message(m) => {
                assert_eq!(m.data.len(), 16 * 1024 - 8);
                received += 1;
            }
            Event::Error { error, .. } => break error,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(e.is_eof(), "the server's close ends the stream: {e:?}");
    es.close();
    assert_eq!(received, events);
    assert_eq!(server.ended(0).await, total);
    let growth = memory_growth(baseline, "huge response", total);
    eprintln!(
        "FIGURE huge response: {received} events, {} MiB, peak RSS growth {} KiB",
        total >> 20,
        growth / 1024
    );
}
