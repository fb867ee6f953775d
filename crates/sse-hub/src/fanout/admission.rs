//! Admission: the connection slots a subscriber holds for as long as its
//! record lives ([`Limits::max_connections`] for the hub,
//! [`Limits::max_connections_per_subject`] per token subject).
//!
//! [`Limits::max_connections`]: crate::hub::Limits::max_connections
//! [`Limits::max_connections_per_subject`]: crate::hub::Limits::max_connections_per_subject

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use crate::hub::metrics::Metrics;

/// One of the hub's connection slots ([`Limits::max_connections`]); given
/// back when dropped, that is when the subscriber's record goes.
///
/// [`Limits::max_connections`]: crate::hub::Limits::max_connections
pub(crate) struct ConnectionSlot(Arc<Metrics>);

impl ConnectionSlot {
    /// A slot, unless `max` are taken.
    pub(crate) fn take(metrics: &Arc<Metrics>, max: usize) -> Option<Self> {
        let max = u64::try_from(max).unwrap_or(u64::MAX);
        let before = metrics.subscribers.fetch_add(1, Ordering::AcqRel);
        if before >= max {
            metrics.subscribers.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(ConnectionSlot(Arc::clone(metrics)))
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.subscribers.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Open streams per token subject, for
/// [`Limits::max_connections_per_subject`](crate::hub::Limits::max_connections_per_subject).
#[derive(Default)]
pub(crate) struct SubjectCounts(Mutex<HashMap<SubjectKey, usize>>);

/// A token subject: its `iss` (when present) and `sub`.
type SubjectKey = (Option<Box<str>>, Box<str>);

/// One stream counted against its token's subject (`iss`, `sub`); given
/// back when dropped.
pub(crate) struct SubjectSlot {
    counts: Arc<SubjectCounts>,
    key: SubjectKey,
}

impl SubjectSlot {
    /// A slot for the subject, unless it already holds `max` streams.
    pub(crate) fn take(
        counts: &Arc<SubjectCounts>,
        issuer: Option<&str>,
        subject: &str,
        max: usize,
    ) -> Option<Self> {
        let key = (issuer.map(Box::from), Box::from(subject));
        let mut map = counts.0.lock().unwrap_or_else(|p| p.into_inner());
        let open = map.entry(key.clone()).or_insert(0);
        if *open >= max {
            return None;
        }
        *open += 1;
        Some(SubjectSlot {
            counts: Arc::clone(counts),
            key,
        })
    }
}

impl Drop for SubjectSlot {
    fn drop(&mut self) {
        let mut map = self.counts.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(open) = map.get_mut(&self.key) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                map.remove(&self.key);
            }
        }
    }
}
