//! Factories of the workspace's own backends. Redis lives with the
//! `redis` feature in `sse-hub`'s test, which calls the suite the way a
//! backend in another crate would.

use std::sync::Arc;

use sse_hub::store::{MemoryConfig, MemoryStore, SqliteConfig, SqliteStore, Store, Synchronous};

use super::{Factory, Options};

/// The memory backend (not durable).
pub fn memory() -> Factory {
    Factory {
        open: Box::new(|o: Options| {
            let store = MemoryStore::new(MemoryConfig {
                retention: o.retention,
                clock: Arc::new(o.clock),
                live_capacity: o.live_capacity,
            });
            Box::pin(async move { Ok(Arc::new(store) as Arc<dyn Store>) })
        }),
        durable: false,
        _dir: None,
    }
}

/// SQLite with `synchronous = FULL`, in a temporary directory.
pub fn sqlite() -> Factory {
    sqlite_with(Synchronous::Full)
}

/// SQLite with the writer's own `fdatasync` instead of SQLite's `fsync`.
pub fn sqlite_datasync() -> Factory {
    sqlite_with(Synchronous::FullDataSync)
}

/// SQLite with `synchronous`, in a temporary directory that does not
/// exist yet (opening creates it).
pub fn sqlite_with(synchronous: Synchronous) -> Factory {
    let dir = tempfile::tempdir().expect("temp dir");
    // A subdirectory that does not exist yet: opening creates it.
    let path = dir.path().join("data").join("hub.sqlite3");
    Factory {
        open: Box::new(move |o: Options| {
            let config = SqliteConfig {
                retention: o.retention,
                clock: Arc::new(o.clock),
                live_capacity: o.live_capacity,
                synchronous,
                ..SqliteConfig::new(&path)
            };
            Box::pin(async move {
                let store = tokio::task::spawn_blocking(move || SqliteStore::open(config))
                    .await
                    .expect("open task")?;
                Ok(Arc::new(store) as Arc<dyn Store>)
            })
        }),
        durable: true,
        _dir: Some(dir),
    }
}
