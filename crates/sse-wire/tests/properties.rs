//! Property tests: chunking never changes the result, the fast decoder agrees
//! with the naive reference on arbitrary bytes, encode/decode round-trips,
//! and memory stays within the limits.
//!
//! `scripts/test.sh` reruns this file in release mode with many more cases
//! (PROPTEST_CASES) as the decoder's fuzz smoke run.

mod common;

use std::time::Duration;

use common::{fast_chunked, reference};
use proptest::prelude::*;
use sse_wire::{Decoder, Event, Frame, Limits};

/// Bytes built from the pieces the grammar cares about, so generated streams
/// hit field names, separators, line breaks, BOMs and broken UTF-8 often.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(b"data".to_vec()),
        Just(b"event".to_vec()),
        Just(b"id".to_vec()),
        Just(b"retry".to_vec()),
        Just(b":".to_vec()),
        Just(b": ".to_vec()),
        Just(b" ".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n\n".to_vec()),
        Just(b"\0".to_vec()),
        Just(b"\xEF\xBB\xBF".to_vec()),
        Just(b"\xEF\xBB".to_vec()),
        Just(b"\xff".to_vec()),
        Just(b"\xe2\x82".to_vec()),
        Just("é€😀".as_bytes().to_vec()),
        Just(b"+5".to_vec()),
        Just(b"123".to_vec()),
        Just(b"x".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..4),
    ];
    proptest::collection::vec(token, 0..40).prop_map(|v| v.concat())
}

fn cuts() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(0usize..400, 0..12)
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_chunking_decodes_like_the_whole_input(input in stream(), cuts in cuts()) {
        let whole = fast_chunked(&input, &[], "", Limits::default()).unwrap();
        let chunked = fast_chunked(&input, &cuts, "", Limits::default()).unwrap();
        prop_assert_eq!(whole, chunked);
    }

    #[test]
    fn one_byte_at_a_time_decodes_like_the_whole_input(input in stream()) {
        let every: Vec<usize> = (0..input.len()).collect();
        let whole = fast_chunked(&input, &[], "", Limits::default()).unwrap();
        let bytewise = fast_chunked(&input, &every, "", Limits::default()).unwrap();
        prop_assert_eq!(whole, bytewise);
    }

    #[test]
    fn fast_agrees_with_reference_on_grammar_shaped_bytes(input in stream(), cuts in cuts(), id in "[a-z0-9]{0,3}") {
        let fast = fast_chunked(&input, &cuts, &id, Limits::default()).unwrap();
        prop_assert_eq!(fast, reference(&input, &id));
    }

    #[test]
    fn fast_agrees_with_reference_on_arbitrary_bytes(input in proptest::collection::vec(any::<u8>(), 0..300), cuts in cuts()) {
        let fast = fast_chunked(&input, &cuts, "", Limits::default()).unwrap();
        prop_assert_eq!(fast, reference(&input, ""));
    }

    #[test]
    fn decode_of_encode_is_identity(
        event_type in proptest::option::of("[^\r\n]{0,8}"),
        id in proptest::option::of("[^\r\n\0]{0,8}"),
        retry in proptest::option::of(0u64..10_000_000),
        data in proptest::option::of(any::<String>()),
        comment in proptest::option::of(any::<String>()),
    ) {
        let mut ev = Event::new();
        if let Some(t) = &event_type { ev = ev.event(t.as_str()).unwrap(); }
        if let Some(i) = &id { ev = ev.id(i.as_str()).unwrap(); }
        if let Some(r) = retry { ev = ev.retry(Duration::from_millis(r)); }
        if let Some(d) = &data { ev = ev.data(d.as_str()); }
        if let Some(c) = &comment { ev = ev.comment(c.as_str()); }
        let bytes = ev.to_bytes();

        let mut dec = Decoder::new();
        dec.push(&bytes);
        let frames: Vec<Frame> = dec.frames().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(dec.buffered(), 0, "an encoded event is complete");

        let mut got_retry = None;
        let mut got_msg = None;
        let mut comments = Vec::new();
        for f in frames {
            match f {
                Frame::Retry(d) => got_retry = Some(d.as_millis() as u64),
                Frame::Message(m) => { prop_assert!(got_msg.is_none()); got_msg = Some(m) }
                Frame::Comment(c) => comments.push(c.to_string()),
                other => prop_assert!(false, "unexpected frame {:?}", other),
            }
        }
        prop_assert_eq!(got_retry, retry);
        prop_assert_eq!(dec.last_event_id().as_str(), id.as_deref().unwrap_or(""));
        if let Some(c) = &comment {
            // Each line of the comment comes back as one comment frame.
            let lines: Vec<String> = c.split("\r\n").flat_map(|l| l.split(['\r', '\n'])).map(str::to_owned).collect();
            prop_assert_eq!(comments, lines);
        }
        match (&data, got_msg) {
            (None, None) => {}
            (Some(d), Some(m)) => {
                // CRLF and CR in data come back as LF: the format has one
                // line break for data, and that is what browsers deliver.
                let expect = d.replace("\r\n", "\n").replace('\r', "\n");
                prop_assert_eq!(m.data.as_str(), expect.as_str());
                let ty = event_type.as_deref().filter(|t| !t.is_empty()).unwrap_or("message");
                prop_assert_eq!(m.event_type.as_str(), ty);
                prop_assert_eq!(m.last_event_id.as_str(), id.as_deref().unwrap_or(""));
            }
            (d, m) => prop_assert!(false, "data {:?} but message {:?}", d, m),
        }
    }

    #[test]
    fn buffer_stays_within_line_limit_plus_one_chunk(
        input in stream(),
        chunk in 1usize..64,
        max_line in 1usize..64,
        max_event in 1usize..128,
    ) {
        let limits = Limits::default().with_max_line(max_line).with_max_event(max_event);
        let mut dec = Decoder::with_limits(limits);
        let mut failed = false;
        for part in input.chunks(chunk) {
            dec.push(part);
            loop {
                match dec.next_frame() {
                    Ok(Some(Frame::Message(m))) => {
                        // The default type is not part of what was assembled,
                        // and the limit counts input bytes: U+FFFD replacing
                        // an invalid byte takes three.
                        let ty = if m.event_type == "message" { 0 } else { m.event_type.len() };
                        prop_assert!(m.data.len() + ty <= 3 * max_event);
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => { failed = true; break }
                }
            }
            prop_assert!(dec.buffered() <= max_line + chunk, "buffered {} > {} + {}", dec.buffered(), max_line, chunk);
            if failed { prop_assert_eq!(dec.buffered(), 0); }
        }
        // Within the limits, the result is the reference's.
        if !failed {
            let fast = fast_chunked(&input, &[], "", limits);
            if let Ok(fast) = fast {
                prop_assert_eq!(fast, reference(&input, ""));
            }
        }
    }
}

/// Streams of long data lines (and short lines between them), for the path
/// that gives an expected long line a buffer of its own (`Decoder::push`
/// with a line hint): with `max_line` 600, lines of 300 bytes and more
/// count as long.
fn long_lines() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        (250usize..700, any::<u8>()).prop_map(|(n, b)| {
            let mut l = b"data: ".to_vec();
            l.extend((0..n).map(|i| b'a' + ((i + usize::from(b)) % 26) as u8));
            l
        }),
        Just(b"id: 7".to_vec()),
        Just(b"event: x".to_vec()),
        Just(b": c".to_vec()),
        Just(Vec::new()),
    ];
    let brk = prop_oneof![Just(&b"\n"[..]), Just(&b"\r\n"[..]), Just(&b"\r"[..])];
    proptest::collection::vec((line, brk), 0..24).prop_map(|v| {
        v.into_iter()
            .flat_map(|(mut l, b)| {
                l.extend_from_slice(b);
                l
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn long_lines_in_any_chunks_decode_like_the_reference(
        input in long_lines(),
        chunk in 1usize..900,
    ) {
        let limits = Limits::default().with_max_line(600).with_max_event(4096);
        let mut dec = Decoder::with_limits(limits);
        let mut frames = Vec::new();
        let mut failed = false;
        for part in input.chunks(chunk) {
            dec.push(part);
            loop {
                match dec.next_frame() {
                    Ok(Some(f)) => frames.push(f),
                    Ok(None) => break,
                    Err(_) => { failed = true; break }
                }
            }
            prop_assert!(dec.buffered() <= 600 + chunk);
            if failed { break }
        }
        let whole = fast_chunked(&input, &[], "", limits);
        if let (false, Ok(whole)) = (failed, whole) {
            prop_assert_eq!(&frames, &whole.frames);
            prop_assert_eq!(whole, reference(&input, ""));
        }
    }
}
