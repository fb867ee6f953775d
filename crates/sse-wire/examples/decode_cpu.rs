//! Decoder CPU cost side by side, robust on a busy machine, and a target
//! for instruction-count profiling.
//!
//! ```text
//! cargo run --release -p sse-wire --example decode_cpu            # table, all inputs
//! valgrind --tool=callgrind target/release/examples/decode_cpu sse-wire small
//! ```
//!
//! With no argument it alternates the decoders 25 times on each input and
//! keeps each one's fastest run, timed with the thread's CPU clock: time
//! spent descheduled does not count, and the minimum is the least disturbed
//! run. (`benches/decode.rs` is the criterion benchmark; this complements it
//! when other work shares the machine.) With `DECODER INPUT [TIMES]` it
//! decodes that input once (or TIMES times), for a profiler.

use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, Stream};
use sse_wire::{Decoder, Frame};

fn cpu_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid pointer to a timespec and a valid clock id.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn input(event: &[u8], events: usize) -> Vec<Bytes> {
    let all = Bytes::from(event.repeat(events));
    (0..all.len())
        .step_by(16 * 1024)
        .map(|at| all.slice(at..(at + 16 * 1024).min(all.len())))
        .collect()
}

fn data_event(size: usize) -> Vec<u8> {
    let mut e = b"data: ".to_vec();
    e.extend((0..size).map(|i| b'a' + (i % 26) as u8));
    e.extend_from_slice(b"\n\n");
    e
}

fn ours(chunks: &[Bytes]) -> usize {
    let mut dec = Decoder::new();
    let mut n = 0;
    for c in chunks {
        dec.push(c);
        while let Some(f) = dec.next_frame().expect("within limits") {
            if let Frame::Message(m) = f {
                std::hint::black_box(&m);
                n += 1;
            }
        }
    }
    n
}

fn drain<S: Stream<Item = Result<T, E>>, T, E: std::fmt::Debug>(s: S) -> usize {
    let mut s = std::pin::pin!(s);
    let mut cx = Context::from_waker(Waker::noop());
    let mut n = 0;
    while let Poll::Ready(Some(r)) = Pin::as_mut(&mut s).poll_next(&mut cx) {
        std::hint::black_box(r.expect("peer decodes the input"));
        n += 1;
    }
    n
}

fn sse_stream(chunks: &[Bytes]) -> usize {
    let s = stream::iter(chunks.iter().cloned().map(Ok::<_, std::io::Error>));
    drain(sse_stream::SseByteStream::new(s))
}

fn eventsource_stream(chunks: &[Bytes]) -> usize {
    use eventsource_stream::Eventsource;
    drain(stream::iter(chunks.iter().cloned().map(Ok::<_, std::io::Error>)).eventsource())
}

type Decode = fn(&[Bytes]) -> usize;
const DECODERS: [(&str, Decode); 3] = [
    ("sse-wire", ours),
    ("sse-stream", sse_stream),
    ("eventsource-stream", eventsource_stream),
];

fn inputs() -> Vec<(&'static str, Vec<Bytes>, usize)> {
    vec![
        ("small", input(b"data: hello\n\n", 200_000), 200_000),
        ("crlf", input(b"data: hello\r\n\r\n", 200_000), 200_000),
        ("1KiB", input(&data_event(1024), 4096), 4096),
        ("64KiB", input(&data_event(64 * 1024), 64), 64),
    ]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [decoder, name, rest @ ..] = &args[..] {
        // An optional repeat count makes a profile long enough to sample.
        let times: usize = rest
            .first()
            .map_or(1, |n| n.parse().expect("a repeat count"));
        let (_, f) = DECODERS
            .iter()
            .find(|(d, _)| d == decoder)
            .expect("decoder name");
        let (_, chunks, events) = inputs()
            .into_iter()
            .find(|(n, ..)| n == name)
            .expect("input name");
        for _ in 0..times {
            assert_eq!(f(&chunks), events);
        }
        return;
    }
    println!("| input | decoder | ns/event (min CPU) | sse-wire speed-up |");
    println!("|---|---|---:|---:|");
    for (name, chunks, events) in inputs() {
        let mut best = [u128::MAX; DECODERS.len()];
        for _ in 0..25 {
            for (i, (_, f)) in DECODERS.iter().enumerate() {
                let start = cpu_now();
                assert_eq!(f(&chunks), events);
                best[i] = best[i].min((cpu_now() - start).as_nanos());
            }
        }
        for (i, (decoder, _)) in DECODERS.iter().enumerate() {
            let ratio = if i == 0 {
                "—".to_owned()
            } else {
                format!("{:.2}x", best[i] as f64 / best[0] as f64)
            };
            println!(
                "| {name} | {decoder} | {:.1} | {ratio} |",
                best[i] as f64 / events as f64
            );
        }
    }
}
