//! Test support: a naive reference decoder written straight from the
//! standard's text, and helpers to run the fast decoder over chunked input.
#![allow(dead_code)]

use std::time::Duration;

use sse_wire::{DecodeError, Decoder, Frame, Limits, MessageEvent};

/// What a stream decodes to: frames, then the last event ID at its end.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Outcome {
    pub frames: Vec<Frame>,
    pub last_event_id: String,
}

/// The WHATWG "event stream interpretation", step by step, with no care for
/// speed: decode the whole stream as UTF-8 (BOM stripped, errors replaced),
/// split it into lines at CRLF, LF or CR, and process each line.
pub fn reference(input: &[u8], initial_id: &str) -> Outcome {
    let bytes = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let text = String::from_utf8_lossy(bytes).into_owned();
    let chars: Vec<char> = text.chars().collect();

    // Split into complete lines; a final line without a break is dropped,
    // as the end of the stream discards pending data.
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\r' => {
                lines.push(std::mem::take(&mut cur));
                if chars.get(i + 1) == Some(&'\n') {
                    i += 1;
                }
            }
            '\n' => lines.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
        i += 1;
    }

    let mut frames = Vec::new();
    let mut data = String::new();
    let mut event_type = String::new();
    let mut id_buffer = initial_id.to_owned();
    let mut last_event_id = initial_id.to_owned();
    for line in lines {
        if line.is_empty() {
            // Dispatch.
            last_event_id = id_buffer.clone();
            if data.is_empty() {
                event_type.clear();
                continue;
            }
            if data.ends_with('\n') {
                data.pop();
            }
            let ty = if event_type.is_empty() {
                "message".to_owned()
            } else {
                event_type.clone()
            };
            frames.push(Frame::Message(MessageEvent::new(
                ty,
                std::mem::take(&mut data),
                last_event_id.clone(),
            )));
            event_type.clear();
            continue;
        }
        let (field, value) = match line.find(':') {
            Some(0) => {
                let v = &line[1..];
                let v = v.strip_prefix(' ').unwrap_or(v);
                frames.push(Frame::Comment(v.to_owned().into()));
                continue;
            }
            Some(c) => {
                let v = &line[c + 1..];
                (&line[..c], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (line.as_str(), ""),
        };
        match field {
            "event" => event_type = value.to_owned(),
            "data" => {
                data.push_str(value);
                data.push('\n');
            }
            // An id containing NULL is ignored.
            "id" if !value.contains('\0') => id_buffer = value.to_owned(),
            // A retry is used only when it is all ASCII digits.
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                let ms = value.bytes().fold(0u64, |a, d| {
                    a.saturating_mul(10).saturating_add(u64::from(d - b'0'))
                });
                frames.push(Frame::Retry(Duration::from_millis(ms)));
            }
            _ => {}
        }
    }
    Outcome {
        frames,
        last_event_id,
    }
}

/// Runs the fast decoder over `input` cut at `cuts` (byte offsets, any
/// order, out-of-range ones ignored).
pub fn fast_chunked(
    input: &[u8],
    cuts: &[usize],
    initial_id: &str,
    limits: Limits,
) -> Result<Outcome, DecodeError> {
    let mut cuts: Vec<usize> = cuts.iter().copied().filter(|&c| c <= input.len()).collect();
    cuts.push(input.len());
    cuts.sort_unstable();
    let mut dec = Decoder::with_limits(limits).with_last_event_id(initial_id);
    let mut frames = Vec::new();
    let mut at = 0;
    for c in cuts {
        dec.push(&input[at..c]);
        at = c;
        while let Some(f) = dec.next_frame()? {
            frames.push(f);
        }
    }
    dec.finish();
    Ok(Outcome {
        frames,
        last_event_id: dec.last_event_id().to_string(),
    })
}

/// The fast decoder over the whole input in one chunk, default limits.
pub fn fast(input: &[u8]) -> Outcome {
    fast_chunked(input, &[], "", Limits::default()).expect("within default limits")
}

/// Just the messages as (type, data, id) triples.
pub fn messages(o: &Outcome) -> Vec<(String, String, String)> {
    o.frames
        .iter()
        .filter_map(|f| match f {
            Frame::Message(m) => Some((
                m.event_type.to_string(),
                m.data.to_string(),
                m.last_event_id.to_string(),
            )),
            _ => None,
        })
        .collect()
}

/// Whether a test that needs an outside program must fail rather than skip.
pub fn strict() -> bool {
    std::env::var_os("SSE_TEST_STRICT").is_some_and(|v| v == "1")
}
