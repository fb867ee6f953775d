//! One timer for every light stream's keep-alive and write timeout.

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use super::Ctx;
use crate::queue::Shared;

/// How often the sweep runs. Keep-alive comments on the light path go out
/// between `keep_alive` and `keep_alive + SWEEP_EVERY` after the last
/// write.
const SWEEP_EVERY: Duration = Duration::from_millis(250);
const _: () = assert!(SWEEP_EVERY.as_millis() > 0);

/// Keep-alive and write timeout for light-path streams: one timer for the
/// whole server instead of one per stream (a tokio timer is ~120 bytes, a
/// tenth of what a light stream costs in all). Each sweep queues a
/// keep-alive comment on every stream idle for its keep-alive time (the
/// stream's task writes it like any frame, so a client that left is
/// noticed then), and ends every stream whose writer has been stuck for its
/// write timeout (a client that stopped reading).
pub(crate) struct Sweeper {
    /// Streams with keep-alive or a write timeout; dead entries are dropped
    /// on each sweep.
    streams: Mutex<Vec<Weak<Shared>>>,
}

impl Sweeper {
    pub(crate) fn new() -> Self {
        Sweeper {
            streams: Mutex::new(Vec::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Weak<Shared>>> {
        // Only pushes and a retain happen under this lock.
        self.streams.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Watches a stream the light path is about to write.
    pub(crate) fn register(&self, shared: &Arc<Shared>) {
        if shared.keep_alive.is_some() || shared.has_write_timeout() {
            shared.touch(crate::queue::now_ms());
            self.lock().push(Arc::downgrade(shared));
        }
    }

    fn sweep_once(&self) {
        let now = crate::queue::now_ms();
        crate::queue::sweep_ran_at(now);
        self.lock().retain(|w| match w.upgrade() {
            Some(s) if !s.is_gone() => {
                if s.is_stalled(now) {
                    s.abort();
                    return false;
                }
                s.keep_alive_if_idle(now);
                true
            }
            _ => false,
        });
    }
}

/// Runs while the server or any of its connections is alive (they hold
/// the context), so streams keep their keep-alives even if the `Serve`
/// future is dropped, and the sweep stops once everything is gone.
pub(crate) async fn sweep(ctx: Weak<Ctx>) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(ctx) = ctx.upgrade() else { return };
        ctx.sweeper.sweep_once();
    }
}
