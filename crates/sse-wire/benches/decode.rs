//! Decoding throughput, side by side in one run: `sse-wire`'s `Decoder`,
//! `sse-stream` 0.3, `eventsource-stream` 0.2, and a floor (one `memchr`
//! pass counting blank lines, which is not a decoder at all).
//!
//! Every contender gets the same input cut into the same chunks (16 KiB,
//! like a socket read, or one byte at a time) and must produce the same
//! number of events; that is checked once before timing.
//!
//! Run: `cargo bench -p sse-wire --bench decode`; `bench/wire.sh` turns the
//! results into the table in BENCHMARKS.md.

use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures_util::stream::{self, Stream};
use sse_wire::{Decoder, Frame};

struct Input {
    name: &'static str,
    chunks: Vec<Bytes>,
    events: usize,
    bytes: usize,
}

fn input(name: &'static str, event: &[u8], events: usize, chunk: usize) -> Input {
    let all = Bytes::from(event.repeat(events));
    let chunks = (0..all.len())
        .step_by(chunk)
        .map(|at| all.slice(at..(at + chunk).min(all.len())))
        .collect();
    Input {
        name,
        chunks,
        events,
        bytes: all.len(),
    }
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
        while let Some(f) = dec.next_frame().unwrap() {
            if let Frame::Message(m) = f {
                black_box(&m);
                n += 1;
            }
        }
    }
    n
}

/// Drains a stream whose every poll is ready (the chunks are in memory).
fn drain<S: Stream<Item = Result<T, E>>, T, E: std::fmt::Debug>(s: S) -> usize {
    let mut s = std::pin::pin!(s);
    let mut cx = Context::from_waker(Waker::noop());
    let mut n = 0;
    loop {
        match Pin::as_mut(&mut s).poll_next(&mut cx) {
            Poll::Ready(Some(Ok(ev))) => {
                black_box(&ev);
                n += 1;
            }
            Poll::Ready(Some(Err(e))) => panic!("peer failed: {e:?}"),
            Poll::Ready(None) => return n,
            Poll::Pending => unreachable!("in-memory stream"),
        }
    }
}

fn sse_stream(chunks: &[Bytes]) -> usize {
    let s = stream::iter(chunks.iter().cloned().map(Ok::<_, std::io::Error>));
    drain(sse_stream::SseByteStream::new(s))
}

fn eventsource_stream(chunks: &[Bytes]) -> usize {
    use eventsource_stream::Eventsource;
    let s = stream::iter(chunks.iter().cloned().map(Ok::<_, std::io::Error>));
    drain(s.eventsource())
}

/// Counts blank lines (`sep`) with one `memmem` pass per chunk, plus the
/// ones split across a chunk boundary. Not a decoder: a lower bound on the
/// work of finding event ends.
fn count_separators(chunks: &[Bytes], sep: &[u8]) -> usize {
    let finder = memchr::memmem::Finder::new(sep);
    let mut n = 0;
    let mut prev: &[u8] = &[];
    for c in chunks {
        n += finder.find_iter(c).count();
        // A separator that straddles the boundary: its first k bytes end the
        // previous chunk and the rest start this one.
        n += (1..sep.len())
            .filter(|&k| prev.ends_with(&sep[..k]) && c.starts_with(&sep[k..]))
            .count();
        prev = c;
    }
    n
}

fn floor(chunks: &[Bytes]) -> usize {
    count_separators(chunks, b"\n\n")
}

fn floor_crlf(chunks: &[Bytes]) -> usize {
    count_separators(chunks, b"\r\n\r\n")
}

fn bench(c: &mut Criterion) {
    let inputs = [
        input("small", b"data: hello\n\n", 1_000_000, 16 * 1024),
        input("crlf", b"data: hello\r\n\r\n", 1_000_000, 16 * 1024),
        input("1KiB", &data_event(1024), 16 * 1024, 16 * 1024),
        input("64KiB", &data_event(64 * 1024), 256, 16 * 1024),
        input("bytewise", b"data: hello\n\n", 100_000, 1),
    ];
    type Contender = (&'static str, fn(&[Bytes]) -> usize);
    for inp in &inputs {
        let floor_fn: fn(&[Bytes]) -> usize = if inp.name == "crlf" {
            floor_crlf
        } else {
            floor
        };
        let contenders: [Contender; 4] = [
            ("sse-wire", ours),
            ("sse-stream", sse_stream),
            ("eventsource-stream", eventsource_stream),
            ("floor", floor_fn),
        ];
        let mut group = c.benchmark_group(format!("decode/{}", inp.name));
        group.sample_size(10);
        group.warm_up_time(std::time::Duration::from_millis(500));
        group.measurement_time(std::time::Duration::from_secs(3));
        group.throughput(Throughput::Elements(inp.events as u64));
        for (name, f) in contenders {
            if inp.name == "bytewise" && name == "floor" {
                continue; // a per-chunk floor is meaningless at one byte a chunk
            }
            assert_eq!(f(&inp.chunks), inp.events, "{name} on {}", inp.name);
            group.bench_with_input(BenchmarkId::from_parameter(name), &inp.chunks, |b, ch| {
                b.iter(|| f(ch))
            });
        }
        group.finish();
        eprintln!(
            "input {}: {} events, {} bytes",
            inp.name, inp.events, inp.bytes
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
