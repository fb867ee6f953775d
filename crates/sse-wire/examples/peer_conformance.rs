//! Runs the standard's tricky cases through `sse-wire`, `sse-stream` 0.3 and
//! `eventsource-stream` 0.2 and prints which decoders get each one right.
//!
//! ```text
//! cargo run --release -p sse-wire --example peer_conformance
//! ```
//!
//! "Right" means the dispatched events' (type, data) pairs and the retry
//! values equal what the WHATWG algorithm gives (`sse-wire`'s reference
//! decoder in `tests/common`). Each input is fed as two chunks cut at every
//! position, so chunk-boundary bugs show too.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_util::stream::{self, Stream};
use sse_wire::{Decoder, Frame};

type Out = Vec<String>;

fn ours(chunks: &[Bytes]) -> Result<Out, String> {
    let mut dec = Decoder::new();
    let mut out = Vec::new();
    for c in chunks {
        dec.push(c);
        while let Some(f) = dec.next_frame().map_err(|e| e.to_string())? {
            match f {
                Frame::Message(m) => out.push(format!("{}:{:?}", m.event_type, m.data.as_str())),
                Frame::Retry(r) => out.push(format!("retry:{}", r.as_millis())),
                _ => {}
            }
        }
    }
    Ok(out)
}

fn drain<S, T, E>(s: S, mut f: impl FnMut(T, &mut Out)) -> Result<Out, String>
where
    S: Stream<Item = Result<T, E>>,
    E: std::fmt::Display,
{
    let mut s = std::pin::pin!(s);
    let mut cx = Context::from_waker(Waker::noop());
    let mut out = Vec::new();
    loop {
        match Pin::as_mut(&mut s).poll_next(&mut cx) {
            Poll::Ready(Some(Ok(ev))) => f(ev, &mut out),
            Poll::Ready(Some(Err(e))) => return Err(format!("error: {e}")),
            Poll::Ready(None) => return Ok(out),
            Poll::Pending => return Err("pending on in-memory input".into()),
        }
    }
}

fn sse_stream(chunks: &[Bytes]) -> Result<Out, String> {
    let s = stream::iter(chunks.iter().cloned().map(Ok::<_, std::io::Error>));
    drain(
        sse_stream::SseByteStream::new(s),
        |ev: sse_stream::Sse, out| {
            if let Some(r) = ev.retry {
                out.push(format!("retry:{r}"));
            }
            if let Some(d) = ev.data {
                let ty = ev
                    .event
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| "message".into());
                out.push(format!("{ty}:{d:?}"));
            }
        },
    )
}

fn eventsource_stream(chunks: &[Bytes]) -> Result<Out, String> {
    use eventsource_stream::Eventsource;
    let s = stream::iter(chunks.iter().cloned().map(Ok::<_, std::io::Error>)).eventsource();
    drain(s, |ev: eventsource_stream::Event, out| {
        if let Some(r) = ev.retry {
            out.push(format!("retry:{}", r.as_millis()));
        }
        let ty = if ev.event.is_empty() {
            "message".to_owned()
        } else {
            ev.event
        };
        out.push(format!("{ty}:{:?}", ev.data));
    })
}

const CASES: &[(&str, &[u8], &[&str])] = &[
    (
        "invalid UTF-8 is replaced",
        b"data: a\xffb\n\n",
        &["message:\"a\u{FFFD}b\""],
    ),
    (
        "leading BOM is dropped",
        b"\xEF\xBB\xBFdata: x\n\n",
        &["message:\"x\""],
    ),
    (
        "CR alone ends lines",
        b"data: a\rdata: b\r\r",
        &["message:\"a\\nb\""],
    ),
    (
        "CRLF ends lines once",
        b"data: a\r\ndata: b\r\n\r\n",
        &["message:\"a\\nb\""],
    ),
    (
        "retry: +5 is ignored",
        b"retry: +5\ndata: x\n\n",
        &["message:\"x\""],
    ),
    (
        "retry with a space is ignored",
        b"retry: 5 \ndata: x\n\n",
        &["message:\"x\""],
    ),
    (
        "retry: 3000 is used",
        b"retry: 3000\ndata: x\n\n",
        &["retry:3000", "message:\"x\""],
    ),
    (
        "`data` alone is an empty line",
        b"data\n\n",
        &["message:\"\""],
    ),
    (
        "one leading space stripped",
        b"data:  x\n\n",
        &["message:\" x\""],
    ),
    (
        "event type resets",
        b"event: a\ndata: 1\n\ndata: 2\n\n",
        &["a:\"1\"", "message:\"2\""],
    ),
    ("no data, no event", b"event: a\nid: 1\n\n", &[]),
    (
        "unterminated event dropped",
        b"data: 1\n\ndata: 2\n",
        &["message:\"1\""],
    ),
    ("comment ignored", b": hi\ndata: x\n\n", &["message:\"x\""]),
    (
        "unknown field ignored",
        b"foo: bar\ndata: x\n\n",
        &["message:\"x\""],
    ),
    (
        "trailing LF removed once",
        b"data: a\ndata:\n\n",
        &["message:\"a\\n\""],
    ),
];

fn main() {
    type Decode = fn(&[Bytes]) -> Result<Out, String>;
    let decoders: [(&str, Decode); 3] = [
        ("sse-wire", ours),
        ("sse-stream", sse_stream),
        ("eventsource-stream", eventsource_stream),
    ];
    // Quiet the default panic message: panics are counted, not printed.
    std::panic::set_hook(Box::new(|_| {}));
    println!("| case | sse-wire | sse-stream | eventsource-stream |");
    println!("|---|---|---|---|");
    let mut passed = [0usize; 3];
    for (name, input, want) in CASES {
        let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        let mut row = format!("| {name} |");
        for (i, (_, f)) in decoders.iter().enumerate() {
            let mut verdict = "ok";
            for cut in 0..=input.len() {
                let chunks = [
                    Bytes::copy_from_slice(&input[..cut]),
                    Bytes::copy_from_slice(&input[cut..]),
                ];
                match catch_unwind(AssertUnwindSafe(|| f(&chunks))) {
                    Ok(Ok(got)) if got == want => {}
                    Ok(Ok(_)) => verdict = "wrong",
                    Ok(Err(_)) => verdict = "error",
                    Err(_) => verdict = "panic",
                }
                if verdict != "ok" {
                    break;
                }
            }
            passed[i] += usize::from(verdict == "ok");
            row.push_str(&format!(" {verdict} |"));
        }
        println!("{row}");
    }
    println!(
        "| **passed** | **{}/{n}** | **{}/{n}** | **{}/{n}** |",
        passed[0],
        passed[1],
        passed[2],
        n = CASES.len()
    );
}
