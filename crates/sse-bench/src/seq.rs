//! Which sequence numbers a subscriber has seen, in a few words of memory.

use std::collections::VecDeque;

/// How far past the lowest missing sequence number the tracker remembers
/// (in 64-bit words). A server reorders updates published concurrently by a
/// few places, not by thousands; an update that arrives more than
/// `64 * MAX_WINDOW_WORDS` places late is counted as a duplicate.
const MAX_WINDOW_WORDS: usize = 1024;

/// Counts distinct and duplicated sequence numbers of one subscriber's
/// topic.
///
/// Everything below `base` has been seen; a bit window covers what arrived
/// beyond it. When updates arrive in order the window stays at most one
/// word, so 20,000 trackers cost well under a megabyte.
///
/// ```
/// use sse_bench::seq::SeqTracker;
/// let mut t = SeqTracker::default();
/// for seq in [0, 1, 3, 2, 2, 5] {
///     t.record(seq);
/// }
/// assert_eq!(t.distinct(), 5);
/// assert_eq!(t.duplicates(), 1);
/// // Out of 6 published (0..=5), one (4) is missing.
/// assert_eq!(t.lost(6), 1);
/// ```
#[derive(Debug, Default, Clone)]
pub struct SeqTracker {
    base: u64,
    window: VecDeque<u64>,
    distinct: u64,
    duplicates: u64,
}

impl SeqTracker {
    /// Records one received sequence number; returns `false` when it is a
    /// duplicate.
    pub fn record(&mut self, seq: u64) -> bool {
        if seq < self.base {
            self.duplicates += 1;
            return false;
        }
        let offset = seq - self.base;
        let mut word = (offset / 64) as usize;
        if word >= MAX_WINDOW_WORDS {
            // Give up on the oldest gaps: slide the window so `seq` fits.
            let drop = word + 1 - MAX_WINDOW_WORDS;
            for _ in 0..drop.min(self.window.len()) {
                self.window.pop_front();
            }
            self.base += 64 * drop as u64;
            word = MAX_WINDOW_WORDS - 1;
        }
        if self.window.len() <= word {
            self.window.resize(word + 1, 0);
        }
        let bit = 1u64 << (offset % 64);
        if self.window[word] & bit != 0 {
            self.duplicates += 1;
            return false;
        }
        self.window[word] |= bit;
        self.distinct += 1;
        while self.window.front() == Some(&u64::MAX) {
            self.window.pop_front();
            self.base += 64;
        }
        true
    }

    /// Distinct sequence numbers seen.
    pub fn distinct(&self) -> u64 {
        self.distinct
    }

    /// Sequence numbers seen more than once (each extra copy counts).
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Updates missing out of `expected` published ones. Updates the server
    /// delivered although their publish request failed make this an
    /// underestimate, never an overestimate.
    pub fn lost(&self, expected: u64) -> u64 {
        expected.saturating_sub(self.distinct)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_keeps_the_window_small() {
        let mut t = SeqTracker::default();
        for s in 0..100_000 {
            assert!(t.record(s));
        }
        assert!(t.window.len() <= 1);
        assert_eq!(
            (t.distinct(), t.duplicates(), t.lost(100_000)),
            (100_000, 0, 0)
        );
        assert!(!t.record(5));
        assert!(!t.record(99_999));
    }

    #[test]
    fn gaps_and_reordering() {
        let mut t = SeqTracker::default();
        for s in (0..1000).rev().filter(|s| s % 10 != 0) {
            assert!(t.record(s));
        }
        assert_eq!(t.lost(1000), 100);
        assert_eq!(t.duplicates(), 0);
    }

    #[test]
    fn far_jumps_stay_bounded() {
        let mut t = SeqTracker::default();
        t.record(0);
        t.record(10_000_000);
        assert!(t.window.len() <= MAX_WINDOW_WORDS);
        assert_eq!(t.distinct(), 2);
        assert!(t.record(10_000_001));
    }
}
