//! [`Registry`]: the subscriber index the fan-out reads and the connection
//! handlers write, and the fan-out's [`MatchCache`] of pattern results.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use super::subscriber::Subscriber;
use crate::store::Entry;
use crate::topic::{HubUrl, MatchType, Topic, TopicMatcher};

type Bucket = HashMap<u64, Arc<Subscriber>>;

/// The subscriber index, shared by the fan-out task (reader) and the
/// connection handlers (writers).
#[derive(Default)]
pub(crate) struct Registry {
    // A std lock: nothing awaits under it. The fan-out holds the read side
    // for one update's dispatch (pushes never wait), so registration waits
    // at most that long.
    index: RwLock<Index>,
}

#[derive(Default)]
struct Index {
    subscribers: Bucket,
    /// `*` matchers (M6).
    any: Bucket,
    /// Exact matchers, by topic string (M7).
    exact: HashMap<Arc<str>, Bucket>,
    /// URL patterns and URI templates, one entry per distinct matcher.
    // `TopicMatcher`'s hash and equality read only its type and text (see
    // its docs); the compiled program's scratch pool never affects them.
    #[allow(clippy::mutable_key_type)]
    patterns: HashMap<TopicMatcher, Bucket>,
    /// Bumped whenever a distinct pattern is added or removed, so the
    /// fan-out's per-topic match cache knows when it is stale.
    patterns_generation: u64,
}

/// Most topics whose pattern matches the fan-out remembers; when full the
/// cache is emptied (cheap, and a hot topic is back after one update).
const MATCH_CACHE_TOPICS: usize = 4096;

/// Per-topic results of URL-pattern / URI-template evaluation, owned by the
/// fan-out task (no lock). Valid while the set of distinct patterns is the
/// same (`generation`); a subscriber joining an existing pattern does not
/// invalidate it.
#[derive(Default)]
pub(crate) struct MatchCache {
    generation: u64,
    topics: HashMap<Box<str>, Vec<TopicMatcher>>,
}

impl MatchCache {
    /// The distinct patterns of `index` that select `topic`.
    fn lookup<'c>(&'c mut self, index: &Index, topic: &Topic<'_>) -> &'c [TopicMatcher] {
        if self.generation != index.patterns_generation {
            self.topics.clear();
            self.generation = index.patterns_generation;
        }
        if !self.topics.contains_key(topic.as_str()) {
            if self.topics.len() >= MATCH_CACHE_TOPICS {
                self.topics.clear();
            }
            let matched: Vec<TopicMatcher> = index
                .patterns
                .keys()
                .filter(|m| m.matches(topic))
                .cloned()
                .collect();
            self.topics.insert(Box::from(topic.as_str()), matched);
        }
        self.topics.get(topic.as_str()).map_or(&[], Vec::as_slice)
    }
}

/// Where a matcher is indexed.
enum Slot<'a> {
    Any,
    Exact(&'a str),
    Pattern,
}

fn slot(matcher: &TopicMatcher) -> Slot<'_> {
    if matcher.is_any() {
        Slot::Any
    } else if matcher.match_type() == MatchType::Exact {
        Slot::Exact(matcher.pattern())
    } else {
        Slot::Pattern
    }
}

impl Registry {
    fn read(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn insert(&self, sub: Arc<Subscriber>) {
        let mut index = self.write();
        for matcher in &sub.matchers {
            let bucket = match slot(matcher) {
                Slot::Any => &mut index.any,
                Slot::Exact(topic) => index.exact.entry(Arc::from(topic)).or_default(),
                Slot::Pattern => {
                    if !index.patterns.contains_key(matcher) {
                        index.patterns_generation += 1;
                    }
                    index.patterns.entry(matcher.clone()).or_default()
                }
            };
            bucket.insert(sub.key, Arc::clone(&sub));
        }
        index.subscribers.insert(sub.key, sub);
    }

    /// Lets `sub` go (idempotent).
    pub(crate) fn remove(&self, sub: &Subscriber) {
        Self::unlink(&mut self.write(), sub);
    }

    /// Lets go of every subscriber for which `ended` holds and returns them.
    /// A read-locked scan first, so a sweep that finds nothing never blocks
    /// the fan-out.
    pub(crate) fn remove_where(&self, ended: impl Fn(&Subscriber) -> bool) -> Vec<Arc<Subscriber>> {
        let found: Vec<Arc<Subscriber>> = self
            .read()
            .subscribers
            .values()
            .filter(|s| ended(s))
            .cloned()
            .collect();
        if !found.is_empty() {
            let mut index = self.write();
            for sub in &found {
                Self::unlink(&mut index, sub);
            }
        }
        found
    }

    /// Lets go of every subscriber (shutdown).
    pub(crate) fn drain_all(&self) -> Vec<Arc<Subscriber>> {
        self.remove_where(|_| true)
    }

    fn unlink(index: &mut Index, sub: &Subscriber) {
        sub.removed.store(true, Ordering::Release);
        for matcher in &sub.matchers {
            match slot(matcher) {
                Slot::Any => {
                    index.any.remove(&sub.key);
                }
                Slot::Exact(topic) => {
                    if let Some(bucket) = index.exact.get_mut(topic) {
                        bucket.remove(&sub.key);
                        if bucket.is_empty() {
                            index.exact.remove(topic);
                        }
                    }
                }
                Slot::Pattern => {
                    if let Some(bucket) = index.patterns.get_mut(matcher) {
                        bucket.remove(&sub.key);
                        if bucket.is_empty() {
                            index.patterns.remove(matcher);
                            index.patterns_generation += 1;
                        }
                    }
                }
            }
        }
        index.subscribers.remove(&sub.key);
    }

    /// A snapshot of every registered subscriber (for the subscriptions API).
    pub(crate) fn snapshot(&self) -> Vec<Arc<Subscriber>> {
        let index = self.read();
        let mut all: Vec<_> = index.subscribers.values().cloned().collect();
        all.sort_by_key(|s| s.key);
        all
    }

    /// After a reset of the store's history (see
    /// [`Subscriber::after_history_reset`]); returns how many subscribers
    /// were disconnected.
    pub(super) fn after_history_reset(&self) -> usize {
        self.read()
            .subscribers
            .values()
            .filter(|sub| sub.after_history_reset())
            .count()
    }

    pub(super) fn disconnect_all(&self) {
        for sub in self.read().subscribers.values() {
            sub.disconnect();
        }
    }

    /// Collects into `out` every subscriber `entry` is for (each once).
    /// `dispatch` is this dispatch's number (strictly increasing).
    ///
    /// Delivery happens after the index lock is released (see
    /// [`Fanout::dispatch`]). That loses nothing: a subscriber registered
    /// after this scan replays history from the store, which already holds
    /// `entry` (the store appends before its live feed hands it over).
    pub(super) fn collect(
        &self,
        entry: &Entry,
        dispatch: u64,
        hub: &HubUrl,
        cache: &mut MatchCache,
        out: &mut Vec<Arc<Subscriber>>,
    ) {
        let update = &entry.update;
        // Each topic is resolved against the hub at most once, however many
        // URL patterns test it.
        let topics: Vec<Topic<'_>> = update.topics.iter().map(|t| Topic::new(t, hub)).collect();
        let now = Instant::now();
        let index = self.read();
        let mut offer = |sub: &Arc<Subscriber>| {
            // At most once per subscriber per update.
            if sub.stamp.swap(dispatch, Ordering::Relaxed) == dispatch {
                return;
            }
            // M32: nothing more once the token expired, even before the
            // reaper closes the stream.
            if sub.is_expired(now) {
                return;
            }
            if sub.may_read(update.private, &topics) {
                out.push(Arc::clone(sub));
            }
        };
        index.any.values().for_each(&mut offer);
        for topic in &update.topics {
            if let Some(bucket) = index.exact.get(topic.as_str()) {
                bucket.values().for_each(&mut offer);
            }
        }
        if index.patterns.is_empty() {
            return;
        }
        for topic in &topics {
            for matcher in cache.lookup(&index, topic) {
                if let Some(bucket) = index.patterns.get(matcher) {
                    bucket.values().for_each(&mut offer);
                }
            }
        }
    }
}
