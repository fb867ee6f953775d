//! Instruction-count profiling harness (callgrind): `profile_decode WHICH`.
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_util::stream::{self, Stream};

fn drain<S: Stream<Item = Result<T, E>>, T, E: std::fmt::Debug>(s: S) -> usize {
    let mut s = std::pin::pin!(s);
    let mut cx = Context::from_waker(Waker::noop());
    let mut n = 0;
    while let Poll::Ready(Some(r)) = Pin::as_mut(&mut s).poll_next(&mut cx) {
        std::hint::black_box(r.unwrap());
        n += 1;
    }
    n
}

fn main() {
    let which = std::env::args().nth(1).unwrap_or_default();
    let size: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let mut ev = b"data: ".to_vec();
    ev.extend((0..size).map(|i| b'a' + (i % 26) as u8));
    ev.extend_from_slice(b"\n\n");
    let all = Bytes::from(ev.repeat(1_000_000 / size.max(5)));
    let chunks: Vec<Bytes> = (0..all.len())
        .step_by(16384)
        .map(|a| all.slice(a..(a + 16384).min(all.len())))
        .collect();
    let n = match which.as_str() {
        "sse-stream" => drain(sse_stream::SseByteStream::new(stream::iter(
            chunks.iter().cloned().map(Ok::<_, std::io::Error>),
        ))),
        "eventsource-stream" => {
            use eventsource_stream::Eventsource;
            drain(stream::iter(chunks.iter().cloned().map(Ok::<_, std::io::Error>)).eventsource())
        }
        _ => {
            let mut dec = sse_wire::Decoder::new();
            let mut n = 0;
            for c in &chunks {
                dec.push(c);
                while let Some(f) = dec.next_frame().unwrap() {
                    std::hint::black_box(&f);
                    n += 1;
                }
            }
            n
        }
    };
    println!("{n}");
}
