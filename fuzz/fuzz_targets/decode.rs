//! Fuzz target: the decoder on arbitrary bytes cut into arbitrary chunks.
//!
//! Checks, for every input: no panic; the frames do not depend on the
//! chunking; they equal the naive reference decoder's; small limits either
//! give the same frames or a limit error, never unbounded buffering.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sse_wire::Limits;

#[path = "../../crates/sse-wire/tests/common/mod.rs"]
mod common;

fuzz_target!(|input: &[u8]| {
    // The first two bytes choose the cuts; the rest is the stream.
    let (seed, stream) = match input {
        [a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]), rest),
        _ => return,
    };
    let step = usize::from(seed % 61) + 1;
    let cuts: Vec<usize> = (step..stream.len()).step_by(step).collect();

    let whole = common::fast_chunked(stream, &[], "", Limits::default()).expect("default limits");
    let chunked = common::fast_chunked(stream, &cuts, "", Limits::default()).expect("default limits");
    assert_eq!(whole, chunked, "chunking changed the result");
    assert_eq!(whole, common::reference(stream, ""), "disagrees with the reference");

    let small = Limits::default().with_max_line(usize::from(seed >> 8) + 1).with_max_event(64);
    if let Ok(out) = common::fast_chunked(stream, &cuts, "", small) {
        assert_eq!(out, whole, "limits changed a result that fit in them");
    }
});
