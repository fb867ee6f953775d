//! The bench payload: which topic, which update, when it was sent.
//!
//! The payload is plain ASCII so it survives every publish encoding (form,
//! JSON string, raw body) unchanged, and it is found by a marker anywhere in
//! the event's data so that a server that wraps the data (in JSON, say)
//! still delivers a measurable event.

use std::fmt::Write as _;

/// The marker that starts a payload: `sseb:{topic}:{seq}:{sent_us}:`.
pub const MARKER: &str = "sseb:";

/// What a payload carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The topic index (subscriber `i` listens to topic `i % topics`).
    pub topic: u64,
    /// The update's sequence number within its topic, from 0.
    pub seq: u64,
    /// When the publisher sent it, in microseconds since the UNIX epoch
    /// (the one clock every worker process shares).
    pub sent_us: u64,
}

/// Writes the payload for `stamp` into `out` (cleared first), padded with
/// `x` to at least `size` bytes.
///
/// ```
/// use sse_bench::payload::{encode, parse, Stamp};
/// let stamp = Stamp { topic: 3, seq: 41, sent_us: 1_700_000_000_000_000 };
/// let mut data = String::new();
/// encode(stamp, 40, &mut data);
/// assert_eq!(data, "sseb:3:41:1700000000000000:xxxxxxxxxxxxx");
/// assert_eq!(parse(&data), Some(stamp));
/// // Wrapped by a server, it is still found.
/// assert_eq!(parse(&format!("{{\"data\":\"{data}\"}}")), Some(stamp));
/// ```
pub fn encode(stamp: Stamp, size: usize, out: &mut String) {
    out.clear();
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "{MARKER}{}:{}:{}:",
        stamp.topic, stamp.seq, stamp.sent_us
    );
    while out.len() < size {
        out.push('x');
    }
}

/// Finds and reads a payload in an event's data; `None` when there is none
/// (a keep-alive, a welcome event, somebody else's update).
pub fn parse(data: &str) -> Option<Stamp> {
    let start = memchr::memmem::find(data.as_bytes(), MARKER.as_bytes())?;
    let mut fields = data[start + MARKER.len()..].splitn(4, ':');
    let mut next = || fields.next()?.parse::<u64>().ok();
    let stamp = Stamp {
        topic: next()?,
        seq: next()?,
        sent_us: next()?,
    };
    Some(stamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_size_does_not_truncate() {
        let stamp = Stamp {
            topic: 0,
            seq: 0,
            sent_us: 5,
        };
        let mut s = String::new();
        encode(stamp, 0, &mut s);
        assert_eq!(s, "sseb:0:0:5:");
        assert_eq!(parse(&s), Some(stamp));
    }

    #[test]
    fn garbage_is_none() {
        for s in [
            "",
            "sseb:",
            "sseb:1:2",
            "sseb:a:2:3:",
            "hello",
            "sseb:1:2:-3:",
        ] {
            assert_eq!(parse(s), None, "{s}");
        }
    }
}
