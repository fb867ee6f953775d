//! The stream fixtures in `tests/data/*.sse` (LF, CRLF and CR variants of
//! the same stream, a BOM and broken UTF-8) decode to their `.jsonl`
//! expectation, however the input is cut.

mod common;

use std::path::Path;

use common::{fast_chunked, reference};
use serde_json::json;
use sse_wire::{Frame, Limits};

fn expected_lines(stream: &[u8]) -> Vec<String> {
    let out = fast_chunked(stream, &[], "", Limits::default()).unwrap();
    let mut lines: Vec<String> = out
        .frames
        .iter()
        .filter_map(|f| match f {
            Frame::Message(m) => {
                Some(json!({"type": &*m.event_type, "data": &*m.data, "id": &*m.last_event_id}))
            }
            Frame::Retry(d) => Some(json!({"retry": d.as_millis() as u64})),
            _ => None,
        })
        .map(|v| v.to_string())
        .collect();
    lines.push(json!({"end": {"last_event_id": out.last_event_id}}).to_string());
    lines
}

#[test]
fn every_fixture_decodes_to_its_expectation_at_every_cut() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "sse") {
            continue;
        }
        let stream = std::fs::read(&path).unwrap();
        let want: Vec<serde_json::Value> = std::fs::read_to_string(path.with_extension("jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let got: Vec<serde_json::Value> = expected_lines(&stream)
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(got, want, "{}", path.display());
        let whole = fast_chunked(&stream, &[], "", Limits::default()).unwrap();
        assert_eq!(whole, reference(&stream, ""), "{}", path.display());
        for cut in 0..=stream.len() {
            let cut_twice = [cut, (cut * 7 + 3) % (stream.len() + 1)];
            let out = fast_chunked(&stream, &cut_twice, "", Limits::default()).unwrap();
            assert_eq!(out, whole, "{} cut at {cut_twice:?}", path.display());
        }
        checked += 1;
    }
    assert!(checked >= 4, "fixtures found: {checked}");
}
