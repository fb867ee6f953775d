//! One test per rule of the WHATWG HTML standard's "Interpreting an event
//! stream" and "Dispatching the event", named after the rule. Where a
//! web-platform-tests file in `eventsource/` checks the same rule, it is
//! named in the comment.

mod common;

use std::time::Duration;

use common::{fast, fast_chunked, messages, reference};
use sse_wire::{Decoder, Frame, Limits};

fn msg(ty: &str, data: &str, id: &str) -> (String, String, String) {
    (ty.to_owned(), data.to_owned(), id.to_owned())
}

/// Decodes with the fast decoder, checks it against the reference decoder,
/// and returns the messages.
fn decode(input: &[u8]) -> Vec<(String, String, String)> {
    let out = fast(input);
    assert_eq!(
        out,
        reference(input, ""),
        "fast and reference decoders disagree"
    );
    messages(&out)
}

// --- Decoding -------------------------------------------------------------

#[test]
fn utf8_invalid_sequences_are_replaced_not_an_error() {
    // format-utf-8.htm: the stream is always decoded as UTF-8.
    assert_eq!(
        decode(b"data: a\xffb\xc3\n\n"),
        vec![msg("message", "a\u{FFFD}b\u{FFFD}", "")]
    );
}

#[test]
fn utf8_multibyte_characters_split_across_chunks_survive() {
    let input = "data: é€😀\n\n".as_bytes();
    for cut in 0..input.len() {
        let out = fast_chunked(input, &[cut], "", Limits::default()).unwrap();
        assert_eq!(
            messages(&out),
            vec![msg("message", "é€😀", "")],
            "cut at {cut}"
        );
    }
}

#[test]
fn utf8_invalid_in_event_type_and_id_is_replaced() {
    let out = fast(b"event: \xffx\nid: \xfe\ndata: d\n\n");
    assert_eq!(messages(&out), vec![msg("\u{FFFD}x", "d", "\u{FFFD}")]);
}

#[test]
fn bom_one_leading_is_stripped() {
    // format-bom.htm
    assert_eq!(
        decode(b"\xEF\xBB\xBFdata: 1\n\n"),
        vec![msg("message", "1", "")]
    );
}

#[test]
fn bom_second_is_not_stripped() {
    // format-bom-2.htm: a second BOM makes the first line's field name
    // "\u{FEFF}data", which is unknown, so the event has no data.
    assert_eq!(
        decode(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: 1\n\ndata: 2\n\n"),
        vec![msg("message", "2", "")]
    );
}

#[test]
fn bom_split_across_chunks_is_still_stripped() {
    let input = b"\xEF\xBB\xBFdata: 1\n\n";
    for cut in 1..3 {
        let out = fast_chunked(input, &[cut], "", Limits::default()).unwrap();
        assert_eq!(messages(&out), vec![msg("message", "1", "")]);
    }
}

#[test]
fn bom_prefix_that_is_not_a_bom_is_data() {
    assert_eq!(
        decode(b"\xEF\xBBdata: 1\n\ndata: 2\n\n"),
        vec![msg("message", "2", "")]
    );
}

#[test]
fn bom_is_expected_again_after_finish_for_a_new_connection() {
    let mut d = Decoder::new();
    d.push(b"data: 1\n\n");
    assert!(matches!(d.next_frame().unwrap(), Some(Frame::Message(_))));
    d.finish();
    d.push(b"\xEF\xBB\xBFdata: 2\n\n");
    let Some(Frame::Message(m)) = d.next_frame().unwrap() else {
        panic!()
    };
    assert_eq!(m.data, "2");
}

// --- Lines ----------------------------------------------------------------

#[test]
fn line_ends_at_lf() {
    assert_eq!(decode(b"data: a\n\n"), vec![msg("message", "a", "")]);
}

#[test]
fn line_ends_at_cr() {
    // format-newlines.htm
    assert_eq!(decode(b"data: a\r\r"), vec![msg("message", "a", "")]);
}

#[test]
fn line_ends_at_crlf_which_is_one_break() {
    assert_eq!(
        decode(b"data: a\r\ndata: b\r\n\r\n"),
        vec![msg("message", "a\nb", "")]
    );
}

#[test]
fn line_cr_at_chunk_end_then_lf_is_one_break() {
    let input = b"data: a\r\n\r\ndata: b\r\n\r\n";
    for cut in 0..=input.len() {
        let out = fast_chunked(input, &[cut], "", Limits::default()).unwrap();
        assert_eq!(
            messages(&out),
            vec![msg("message", "a", ""), msg("message", "b", "")],
            "cut at {cut}"
        );
    }
}

#[test]
fn line_lf_cr_is_two_breaks() {
    // "\n\r" is LF then CR: two line ends, so a blank line dispatches.
    assert_eq!(decode(b"data: a\n\r"), vec![msg("message", "a", "")]);
}

#[test]
fn line_mixed_breaks_in_one_stream() {
    assert_eq!(
        decode(b"data: 1\rdata: 2\ndata: 3\r\n\ndata: 4\r\r"),
        vec![msg("message", "1\n2\n3", ""), msg("message", "4", "")]
    );
}

// --- Fields ---------------------------------------------------------------

#[test]
fn comment_line_starting_with_colon() {
    // format-comments.htm
    let out = fast(b":hello\n: world\n:\ndata: x\n\n");
    assert_eq!(out, reference(b":hello\n: world\n:\ndata: x\n\n", ""));
    assert_eq!(
        out.frames,
        vec![
            Frame::Comment("hello".into()),
            Frame::Comment("world".into()),
            Frame::Comment("".into()),
            Frame::Message(sse_wire::MessageEvent::new("message", "x", "")),
        ]
    );
}

#[test]
fn comment_between_data_lines_does_not_break_the_event() {
    assert_eq!(
        decode(b"data: a\n: note\ndata: b\n\n"),
        vec![msg("message", "a\nb", "")]
    );
}

#[test]
fn field_value_one_leading_space_stripped() {
    // format-field-data.htm
    assert_eq!(
        decode(b"data:  two spaces\n\n"),
        vec![msg("message", " two spaces", "")]
    );
}

#[test]
fn field_value_no_space_after_colon() {
    assert_eq!(decode(b"data:x\n\n"), vec![msg("message", "x", "")]);
}

#[test]
fn field_value_tab_is_not_stripped() {
    assert_eq!(decode(b"data:\tx\n\n"), vec![msg("message", "\tx", "")]);
}

#[test]
fn field_value_after_first_colon_keeps_later_colons() {
    assert_eq!(
        decode(b"data: a:b: c\n\n"),
        vec![msg("message", "a:b: c", "")]
    );
}

#[test]
fn field_with_no_colon_is_name_with_empty_value() {
    // format-field-data.htm: "data" alone appends an empty line.
    assert_eq!(decode(b"data\n\n"), vec![msg("message", "", "")]);
    assert_eq!(decode(b"data\ndata\n\n"), vec![msg("message", "\n", "")]);
}

#[test]
fn field_names_are_case_sensitive() {
    assert_eq!(decode(b"Data: x\nDATA: y\n\n"), vec![]);
}

#[test]
fn field_name_with_trailing_space_is_unknown() {
    assert_eq!(decode(b"data : x\n\n"), vec![]);
}

#[test]
fn field_unknown_is_ignored() {
    // format-field-unknown.htm
    assert_eq!(
        decode(b"foo: bar\ndata: x\nbaz\n\n"),
        vec![msg("message", "x", "")]
    );
}

#[test]
fn field_data_lines_join_with_lf() {
    assert_eq!(
        decode(b"data: a\ndata: b\ndata: c\n\n"),
        vec![msg("message", "a\nb\nc", "")]
    );
}

#[test]
fn field_data_trailing_lf_removed_once() {
    // The data buffer "a\n\n" loses only its last LF.
    assert_eq!(
        decode(b"data: a\ndata:\n\n"),
        vec![msg("message", "a\n", "")]
    );
}

#[test]
fn field_event_sets_type() {
    // format-field-event.htm
    assert_eq!(
        decode(b"event: ping\ndata: x\n\n"),
        vec![msg("ping", "x", "")]
    );
}

#[test]
fn field_event_empty_means_message() {
    // format-field-event-empty.htm
    assert_eq!(
        decode(b"event:\ndata: x\n\n"),
        vec![msg("message", "x", "")]
    );
}

#[test]
fn field_event_last_one_wins() {
    assert_eq!(
        decode(b"event: a\nevent: b\ndata: x\n\n"),
        vec![msg("b", "x", "")]
    );
}

#[test]
fn field_event_type_resets_after_each_dispatch() {
    assert_eq!(
        decode(b"event: a\ndata: 1\n\ndata: 2\n\n"),
        vec![msg("a", "1", ""), msg("message", "2", "")]
    );
}

#[test]
fn field_event_type_resets_even_when_nothing_is_dispatched() {
    assert_eq!(
        decode(b"event: a\n\ndata: 2\n\n"),
        vec![msg("message", "2", "")]
    );
}

#[test]
fn field_id_sets_last_event_id() {
    // format-field-id.htm
    assert_eq!(
        decode(b"id: 1\ndata: x\n\n"),
        vec![msg("message", "x", "1")]
    );
}

#[test]
fn field_id_persists_across_events() {
    assert_eq!(
        decode(b"id: 1\ndata: a\n\ndata: b\n\n"),
        vec![msg("message", "a", "1"), msg("message", "b", "1")]
    );
}

#[test]
fn field_id_empty_resets_last_event_id() {
    // format-field-id-2.htm
    assert_eq!(
        decode(b"id: 1\ndata: a\n\nid\ndata: b\n\n"),
        vec![msg("message", "a", "1"), msg("message", "b", "")]
    );
}

#[test]
fn field_id_containing_nul_is_ignored() {
    // format-field-id-null.htm
    assert_eq!(
        decode(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n"),
        vec![msg("message", "a", "1"), msg("message", "b", "1")]
    );
}

#[test]
fn field_id_without_data_still_sets_last_event_id() {
    let out = fast(b"id: 7\n\n");
    assert_eq!(messages(&out), vec![]);
    assert_eq!(out.last_event_id, "7");
}

#[test]
fn field_id_takes_effect_at_dispatch_not_when_read() {
    // The last event ID string changes in the dispatch steps; an id in an
    // event the stream never finishes is lost, as in browsers.
    let out = fast(b"id: 1\ndata: a\n\nid: 2\ndata: b\n");
    assert_eq!(out.last_event_id, "1");
}

#[test]
fn field_retry_digits_set_reconnection_time() {
    // format-field-retry.htm
    let out = fast(b"retry: 5000\n");
    assert_eq!(out.frames, vec![Frame::Retry(Duration::from_millis(5000))]);
}

#[test]
fn field_retry_non_digits_ignored() {
    // format-field-retry-bogus.htm; `+5`, `-5`, spaces, decimals, hex.
    for bad in ["+5", "-5", " 5", "5 ", "5.0", "0x10", "1e3", "five", "٣"] {
        let input = format!("retry: {bad}\n");
        let out = fast(input.as_bytes());
        assert_eq!(out.frames, vec![], "retry: {bad}");
        assert_eq!(out, reference(input.as_bytes(), ""));
    }
}

#[test]
fn field_retry_empty_ignored() {
    // format-field-retry-empty.htm
    assert_eq!(fast(b"retry\nretry:\nretry: \n").frames, vec![]);
}

#[test]
fn field_retry_zero_is_valid() {
    assert_eq!(
        fast(b"retry: 0\n").frames,
        vec![Frame::Retry(Duration::ZERO)]
    );
}

#[test]
fn field_retry_applies_immediately_without_dispatch() {
    let out = fast(b"retry: 10\ndata: a\n");
    assert_eq!(out.frames, vec![Frame::Retry(Duration::from_millis(10))]);
}

#[test]
fn field_retry_overlong_saturates() {
    let out = fast(b"retry: 123456789012345678901234567890\n");
    assert_eq!(
        out.frames,
        vec![Frame::Retry(Duration::from_millis(u64::MAX))]
    );
}

// --- Dispatch -------------------------------------------------------------

#[test]
fn dispatch_empty_data_buffer_dispatches_nothing() {
    assert_eq!(decode(b"event: a\nid: 3\n\n\n\n"), vec![]);
}

#[test]
fn dispatch_empty_data_line_dispatches_empty_string() {
    assert_eq!(decode(b"data:\n\n"), vec![msg("message", "", "")]);
}

#[test]
fn dispatch_unterminated_final_event_is_discarded() {
    // format-data-before-final-empty-line.htm
    assert_eq!(
        decode(b"data: 1\n\ndata: 2\n"),
        vec![msg("message", "1", "")]
    );
    assert_eq!(decode(b"data: 1\n\ndata: 2"), vec![msg("message", "1", "")]);
}

#[test]
fn dispatch_reports_last_event_id_carried_over_from_reconnect() {
    let out = fast_chunked(
        b"data: a\n\nid: 9\ndata: b\n\n",
        &[],
        "5",
        Limits::default(),
    )
    .unwrap();
    assert_eq!(
        messages(&out),
        vec![msg("message", "a", "5"), msg("message", "b", "9")]
    );
    assert_eq!(out.last_event_id, "9");
}

#[test]
fn dispatch_initial_last_event_id_kept_when_stream_sets_none() {
    let out = fast_chunked(b"data: a\n\n", &[], "5", Limits::default()).unwrap();
    assert_eq!(out.last_event_id, "5");
}

#[test]
fn dispatch_finish_keeps_last_event_id_and_drops_partial_event() {
    let mut d = Decoder::new();
    d.push(b"id: 1\ndata: a\n\nid: 2\ndata: partial");
    while d.next_frame().unwrap().is_some() {}
    d.finish();
    assert_eq!(d.last_event_id(), "1");
    d.push(b"data: b\n\n");
    let Some(Frame::Message(m)) = d.next_frame().unwrap() else {
        panic!()
    };
    assert_eq!((m.data.as_str(), m.last_event_id.as_str()), ("b", "1"));
}

// --- Limits ---------------------------------------------------------------

#[test]
fn limit_endless_line_is_an_error_at_the_limit() {
    let mut d = Decoder::with_limits(Limits::default().with_max_line(1024));
    let chunk = [b'a'; 100];
    let mut pushed = 0;
    let err = loop {
        d.push(&chunk);
        pushed += chunk.len();
        match d.next_frame() {
            Ok(None) => assert!(d.buffered() <= 1024 + chunk.len()),
            Ok(Some(f)) => panic!("unexpected {f:?}"),
            Err(e) => break e,
        }
        assert!(pushed < 10_000, "no error after {pushed} bytes");
    };
    assert!(err.is_line_too_long());
    assert_eq!(err.limit(), 1024);
    assert_eq!(d.buffered(), 0, "buffer released on error");
    assert_eq!(
        err.to_string(),
        "event stream line longer than the limit of 1024 bytes"
    );
}

#[test]
fn limit_line_exactly_at_the_limit_is_fine() {
    let limits = Limits::default().with_max_line(10);
    let out = fast_chunked(b"data: 1234\n\n", &[], "", limits).unwrap(); // 10 bytes
    assert_eq!(messages(&out), vec![msg("message", "1234", "")]);
    assert!(fast_chunked(b"data: 12345\n\n", &[], "", limits)
        .unwrap_err()
        .is_line_too_long());
}

#[test]
fn limit_endless_event_is_an_error() {
    let limits = Limits::default().with_max_line(100).with_max_event(250);
    let mut input = Vec::new();
    for _ in 0..100 {
        input.extend_from_slice(b"data: 0123456789\n");
    }
    let err = fast_chunked(&input, &[], "", limits).unwrap_err();
    assert!(err.is_event_too_large());
    assert_eq!(err.limit(), 250);
}

#[test]
fn limit_event_counts_the_joining_line_feeds() {
    // Two 4-byte lines joined: 9 bytes of data.
    let limits = Limits::default().with_max_event(9);
    assert!(fast_chunked(b"data: abcd\ndata: efgh\n\n", &[], "", limits).is_ok());
    let limits = Limits::default().with_max_event(8);
    assert!(fast_chunked(b"data: abcd\ndata: efgh\n\n", &[], "", limits)
        .unwrap_err()
        .is_event_too_large());
}

#[test]
fn limit_default_event_type_does_not_count() {
    // Regression from the property run: 4 bytes of data fit a 4-byte event
    // limit; the implied type `message` is not part of the stream.
    let limits = Limits::default().with_max_line(9).with_max_event(4);
    let out = fast_chunked(
        b"data:data\n\n",
        &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        "",
        limits,
    )
    .unwrap();
    assert_eq!(messages(&out), vec![msg("message", "data", "")]);
}

#[test]
fn limit_counts_input_bytes_not_replaced_output() {
    // Regression from the property run: 6 input bytes of data fit a 6-byte
    // limit even though replacing the broken BOM tail makes them 7.
    let limits = Limits::default().with_max_line(12).with_max_event(6);
    let out = fast_chunked(b"data: :\xEF\xBB\xBF\xEF\xBB\n\n", &[], "", limits).unwrap();
    assert_eq!(
        messages(&out),
        vec![msg("message", ":\u{FEFF}\u{FFFD}", "")]
    );
}

#[test]
fn limit_endless_comments_stay_within_the_line_limit() {
    // Comments are reported line by line and never accumulate.
    let mut d = Decoder::with_limits(Limits::default().with_max_line(64).with_max_event(64));
    for _ in 0..10_000 {
        d.push(b": keep-alive comment that repeats forever\n");
        while let Some(f) = d.next_frame().unwrap() {
            assert!(matches!(f, Frame::Comment(_)));
        }
        assert_eq!(d.buffered(), 0);
    }
}

#[test]
fn limit_error_is_sticky_and_frames_iterator_stops() {
    let mut d = Decoder::with_limits(Limits::default().with_max_line(4));
    d.push(b"data: 12345678");
    let all: Vec<_> = d.frames().collect();
    assert_eq!(all.len(), 1);
    assert!(all[0].as_ref().unwrap_err().is_line_too_long());
    d.push(b"\n\n");
    assert!(d.next_frame().is_err());
}

// --- The caller-owned buffer API ------------------------------------------

#[test]
fn decode_buf_splits_complete_lines_off_the_callers_buffer() {
    let mut d = Decoder::new();
    let mut buf = bytes::BytesMut::from(&b"data: a\n\ndata: b"[..]);
    let Some(Frame::Message(m)) = d.decode_buf(&mut buf).unwrap() else {
        panic!()
    };
    assert_eq!(m.data, "a");
    assert_eq!(d.decode_buf(&mut buf).unwrap(), None);
    assert_eq!(&buf[..], b"data: b");
    buf.extend_from_slice(b"\n\n");
    let Some(Frame::Message(m)) = d.decode_buf(&mut buf).unwrap() else {
        panic!()
    };
    assert_eq!(m.data, "b");
    assert_eq!(d.decode_buf(&mut buf).unwrap(), None);
    assert!(
        buf.is_empty(),
        "decoded bytes are gone once more input is needed"
    );
}
