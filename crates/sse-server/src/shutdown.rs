//! Graceful shutdown of open event streams.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::queue::Shared;

/// The `retry:` sent to open streams at shutdown when none was set.
pub(crate) const DEFAULT_RETRY: Duration = Duration::from_secs(1);

/// A shutdown switch shared by every event stream that was created with it.
///
/// When [`trigger`](Shutdown::trigger)ed, each open stream queues a final
/// `retry:` field (so clients come back after that delay, to this or another
/// instance), writes what was queued, and ends its response cleanly. New
/// frames are refused from then on.
///
/// Streams find it in the request's extensions: [`serve`](crate::serve)
/// with graceful shutdown puts one there; with `axum::serve` add it
/// yourself, e.g. `router.layer(axum::Extension(shutdown.clone()))`, and
/// trigger it from the same signal you give
/// `axum::serve(..).with_graceful_shutdown(..)`. Streams otherwise keep
/// hyper's graceful shutdown waiting forever.
///
/// Cheap to clone: every clone is the same switch.
#[derive(Clone)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

struct Inner {
    token: CancellationToken,
    retry: Duration,
    /// Streams to end at shutdown. Registered here rather than each stream
    /// waiting on the token, so that an idle stream holds no future for it
    /// (a waiter is ~100 bytes; this is one pointer).
    streams: Mutex<Streams>,
}

#[derive(Default)]
struct Streams {
    list: Vec<Weak<Shared>>,
    /// Length after the last prune; dead entries are dropped when the list
    /// doubles, so it stays within twice the open streams.
    pruned_len: usize,
}

impl std::fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shutdown")
            .field("triggered", &self.is_triggered())
            .field("retry", &self.inner.retry)
            .finish()
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl Shutdown {
    /// A switch that sends `retry: 1000` at shutdown.
    pub fn new() -> Self {
        Shutdown::with_retry(DEFAULT_RETRY)
    }

    /// A switch that sends `retry: <retry in ms>` at shutdown.
    pub fn with_retry(retry: Duration) -> Self {
        Shutdown {
            inner: Arc::new(Inner {
                token: CancellationToken::new(),
                retry,
                streams: Mutex::new(Streams::default()),
            }),
        }
    }

    /// The reconnection delay sent at shutdown.
    pub fn retry(&self) -> Duration {
        self.inner.retry
    }

    /// Ends every stream created with this switch (see the type's docs).
    pub fn trigger(&self) {
        self.inner.token.cancel();
        let streams = std::mem::take(&mut self.lock().list);
        for s in streams.iter().filter_map(Weak::upgrade) {
            s.shut_down(self.inner.retry);
        }
    }

    /// Whether [`trigger`](Shutdown::trigger) was called.
    pub fn is_triggered(&self) -> bool {
        self.inner.token.is_cancelled()
    }

    /// Resolves once [`trigger`](Shutdown::trigger) was called.
    pub fn triggered(&self) -> impl std::future::Future<Output = ()> + Send + '_ {
        self.inner.token.cancelled()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Streams> {
        // The list is only pushed to and taken; a panic elsewhere cannot
        // leave it inconsistent.
        self.inner.streams.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a new stream; ends it at once if shutdown already began.
    pub(crate) fn register(&self, stream: &Arc<Shared>) {
        {
            let mut st = self.lock();
            if !self.is_triggered() {
                if st.list.len() >= 2 * st.pruned_len + 16 {
                    st.list.retain(|w| w.strong_count() > 0);
                    st.pruned_len = st.list.len();
                }
                st.list.push(Arc::downgrade(stream));
                return;
            }
        }
        stream.shut_down(self.inner.retry);
    }
}
