//! [`SqliteStore`]: history in an SQLite file (WAL), with group commit.
//!
//! # Shape
//!
//! One writer thread owns the only writing connection. Appends reach it
//! through a queue; it takes every append waiting (up to `max_batch`),
//! inserts them in one transaction and commits once, so concurrent
//! publishers share one fsync. After the commit it publishes the entries to
//! the live feed in position order and answers each append. Retention
//! deletes old rows in the same thread, in chunks, between batches.
//!
//! Replays run on a small pool of read-only connections in tokio's blocking
//! pool; WAL lets them read while the writer commits.
//!
//! Retention by bytes is exact: the writer keeps the history's byte total
//! in a one-row table (`history_bytes`, maintained by triggers on
//! `updates`, so every delete path keeps it right) and deletes the oldest
//! rows beyond [`Retention::max_bytes`] in the transaction that inserted
//! the batch. The count and age bounds are applied exactly by replay and
//! deleted lazily in chunks, as below.
//!
//! # Whose file
//!
//! The hub marks its databases with `PRAGMA application_id` =
//! `0x53534548` ("SSEH"). Before writing anything (no WAL switch, no
//! schema), `open` refuses a database that holds tables but not that mark
//! ([`StoreError::is_foreign`]): `--store sqlite://app.db` pointing at
//! another program's database fails instead of adopting it. An empty file
//! is taken and marked; so is a hub database from before the mark (only
//! the hub's tables, a `user_version` the hub set).
//!
//! Positions are `seq-0` where `seq` is the row's `INTEGER PRIMARY KEY
//! AUTOINCREMENT`: assigned by the writer, consecutive, and never reused,
//! even after every row was deleted (SQLite keeps the high-water mark in
//! `sqlite_sequence`), so positions keep increasing across restarts.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::{broadcast, oneshot, OwnedSemaphorePermit, Semaphore};

use super::{
    ensure_id, update_size, Clock, Cursor, Doubt, Entry, LiveFeed, Position, Replay, Retention,
    Store, StoreError, StoreFuture, SystemClock,
};
use crate::Update;

/// The file format version, kept in `PRAGMA user_version`. Version 2 added
/// the byte bound (`updates.bytes`, `history_bytes`) and the mark.
const SCHEMA_VERSION: i64 = 2;

/// `PRAGMA application_id` of the hub's databases: "SSEH".
const APPLICATION_ID: i64 = 0x5353_4548;

/// Every table the hub creates (SQLite's own `sqlite_*` aside): a database
/// holding only these is the hub's even without [`APPLICATION_ID`] (it was
/// made before the mark).
const HUB_TABLES: [&str; 2] = ["updates", "history_bytes"];

/// Rows deleted per retention statement, so that one prune never holds the
/// write lock for long; a bigger backlog is deleted over several batches.
const PRUNE_CHUNK: u64 = 10_000;

/// How long the idle writer waits for an append before it looks at age
/// retention again.
const IDLE_TICK: Duration = Duration::from_secs(1);

/// When a commit reaches stable storage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Synchronous {
    /// SQLite's `synchronous=FULL`: in WAL mode the WAL is synced (`fsync`)
    /// after each commit, before its appends are acknowledged. An
    /// acknowledged update survives a power loss.
    #[default]
    Full,
    /// The same guarantee as [`Full`](Self::Full), with `fdatasync` instead
    /// of `fsync`: SQLite runs with `synchronous=NORMAL` (consistent, syncs
    /// at checkpoints) and the writer flushes the WAL file's data after
    /// each commit (and its directory entry once per open). `fdatasync`
    /// skips flushing the file's timestamps, which can save a file-system
    /// journal commit per transaction (PostgreSQL syncs its WAL this way on
    /// Linux). Opt-in: bundled SQLite calls `fsync` because it does not
    /// trust every platform's `fdatasync`; measure on your disk first.
    FullDataSync,
    /// Commits reach the OS but are synced only at checkpoints: an
    /// acknowledged update survives a crash of the process, not of the
    /// machine (SQLite `synchronous=NORMAL` in WAL mode).
    Normal,
}

/// Settings of a [`SqliteStore`].
#[derive(Clone, Debug)]
#[must_use]
pub struct SqliteConfig {
    /// The database file; its directory is created if missing. Default
    /// `sse-data/hub.sqlite3` (relative to the working directory).
    pub path: PathBuf,
    /// When commits are synced. Default [`Synchronous::Full`].
    pub synchronous: Synchronous,
    /// What is kept.
    pub retention: Retention,
    /// The most appends committed in one transaction (at least 1; 1 turns
    /// group commit off). Default 1024.
    pub max_batch: usize,
    /// The most appends in flight (queued or being committed), at least 1.
    /// Default 4096. When it is reached, [`Store::append`] waits for room
    /// up to `queue_timeout`, then fails with [`StoreError::is_busy`]:
    /// waiting pushes back on publishers (each is an HTTP request the
    /// server already bounds), and the timeout turns a stuck disk into a
    /// 503 instead of an ever-growing pile of waiting requests.
    pub queue_capacity: usize,
    /// How long an append waits for room in a full queue. Default 5 s.
    pub queue_timeout: Duration,
    /// How many entries a live feed buffers before its consumer lags
    /// (at least 1). Default 4096.
    pub live_capacity: usize,
    /// Read connections, so the most concurrent replays (at least 1).
    /// Default 4.
    pub readers: usize,
    /// The time source for age retention.
    pub clock: Arc<dyn Clock>,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        SqliteConfig {
            path: PathBuf::from("sse-data").join("hub.sqlite3"),
            synchronous: Synchronous::Full,
            retention: Retention::default(),
            max_batch: 1024,
            queue_capacity: 4096,
            queue_timeout: Duration::from_secs(5),
            live_capacity: 4096,
            readers: 4,
            clock: Arc::new(SystemClock),
        }
    }
}

impl SqliteConfig {
    /// The defaults, with the database at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteConfig {
            path: path.into(),
            ..SqliteConfig::default()
        }
    }
}

/// A [`Store`] in an SQLite file: durable, bounded, shared by restarts.
///
/// Its futures run on Tokio and need the time driver (the append queue's
/// timeout) and the blocking pool (replays): any runtime built with
/// `enable_all`.
///
/// ```
/// use sse_hub::store::{Cursor, SqliteConfig, SqliteStore, Store};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("hub.sqlite3");
/// let update = sse_hub::Update {
///     id: "a".into(),
///     topics: vec!["t".into()],
///     data: "hello".into(),
///     private: false,
///     event_type: None,
///     retry: None,
/// };
///
/// let store = SqliteStore::open(SqliteConfig::new(&path))?;
/// let first = store.append(update.clone()).await?; // durable now
/// store.close().await?;
///
/// // After a restart, history and positions carry on.
/// let store = SqliteStore::open(SqliteConfig::new(&path))?;
/// let second = store.append(sse_hub::Update { id: "b".into(), ..update }).await?;
/// assert!(second.position > first.position);
/// let replay = store.replay(Cursor::Id("a".into()), 10).await?;
/// assert_eq!(replay.entries[0].update.id, "b");
/// store.close().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct SqliteStore {
    shared: Arc<Shared>,
    commands: mpsc::Sender<Command>,
    // A std Mutex: taken only by `close`, never across an await.
    writer: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug)]
struct Shared {
    /// Room in the append queue; closed when the writer stops.
    queue: Arc<Semaphore>,
    queue_timeout: Duration,
    /// Subscribing needs a sender; `None` once the writer stopped, so new
    /// feeds start closed. A std Mutex: held only to clone or take it.
    live: Mutex<Option<broadcast::Sender<Entry>>>,
    /// One permit per read connection; closed on close.
    reader_permits: Arc<Semaphore>,
    // std Mutexes: each is held by one blocking-pool thread for one replay
    // and never across an await.
    readers: Vec<Mutex<Connection>>,
    retention: Retention,
    clock: Arc<dyn Clock>,
    /// Appends committed since open.
    appends: AtomicU64,
    /// Transactions that committed appends since open.
    commits: AtomicU64,
}

/// Counters of a [`SqliteStore`] since it was opened, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqliteStats {
    /// Appends committed.
    pub appends: u64,
    /// Transactions (so syncs, unless [`Synchronous::Normal`]) that committed
    /// them; `appends / commits` is the mean group-commit batch.
    pub commits: u64,
}

enum Command {
    Append(Pending),
    Close(oneshot::Sender<Result<(), StoreError>>),
}

struct Pending {
    update: Arc<Update>,
    reply: oneshot::Sender<Result<Entry, StoreError>>,
    /// Holds the update's room in the queue until it is answered.
    _permit: OwnedSemaphorePermit,
}

impl SqliteStore {
    /// Opens (or creates) the database at `config.path` and starts its
    /// writer thread.
    ///
    /// This does blocking file I/O: call it at start-up or from
    /// `spawn_blocking`.
    ///
    /// # Errors
    ///
    /// [`StoreError::is_backend`] when the directory or file cannot be
    /// created or opened, or WAL mode cannot be enabled;
    /// [`StoreError::is_corrupt`] when the file was written by a newer
    /// version; [`StoreError::is_foreign`] when it is another
    /// application's database (it is left unchanged).
    pub fn open(config: SqliteConfig) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = config.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::backend("creating the store directory", e))?;
        }
        let mut conn = Connection::open(&config.path).map_err(sql("opening the database"))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(sql("configuring the database"))?;
        // Before the first write (the WAL switch writes the header).
        check_ours(&conn)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(sql("enabling WAL"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::backend(
                "enabling WAL",
                format!("journal mode stayed {mode:?}"),
            ));
        }
        let synchronous = match config.synchronous {
            Synchronous::Full => "FULL",
            // With FullDataSync the writer syncs the WAL after each commit.
            Synchronous::FullDataSync | Synchronous::Normal => "NORMAL",
        };
        conn.execute_batch(&format!(
            // journal_size_limit: truncate the WAL back to 64 MiB after a
            // checkpoint, so a burst does not leave a huge file behind.
            "PRAGMA synchronous = {synchronous};
             PRAGMA journal_size_limit = 67108864;"
        ))
        .map_err(sql("configuring the database"))?;
        migrate(&mut conn)?;
        // The byte bound may have been lowered since the file was written.
        trim_bytes(&conn, config.retention.max_bytes()).map_err(sql("applying retention"))?;
        let last_seq = read_last_seq(&conn).map_err(sql("reading the last position"))?;
        let wal_path = match conn.path() {
            Some(db) if !db.is_empty() => PathBuf::from(format!("{db}-wal")),
            _ => {
                return Err(StoreError::backend(
                    "locating the WAL file",
                    "the database has no file name",
                ))
            }
        };

        let mut readers = Vec::with_capacity(config.readers.max(1));
        for _ in 0..config.readers.max(1) {
            let reader = Connection::open(&config.path).map_err(sql("opening a reader"))?;
            reader
                .busy_timeout(Duration::from_secs(5))
                .map_err(sql("configuring a reader"))?;
            reader
                .execute_batch("PRAGMA query_only = ON;")
                .map_err(sql("configuring a reader"))?;
            readers.push(Mutex::new(reader));
        }

        let (live, _) = broadcast::channel(config.live_capacity.max(1));
        let shared = Arc::new(Shared {
            queue: Arc::new(Semaphore::new(
                config.queue_capacity.clamp(1, Semaphore::MAX_PERMITS),
            )),
            queue_timeout: config.queue_timeout,
            live: Mutex::new(Some(live.clone())),
            reader_permits: Arc::new(Semaphore::new(readers.len())),
            readers,
            retention: config.retention,
            clock: Arc::clone(&config.clock),
            appends: AtomicU64::new(0),
            commits: AtomicU64::new(0),
        });
        // An unbounded channel type, bounded in practice: every `Append` is
        // sent while holding a `queue` permit (and `Close` is sent at most
        // once per `close` call).
        let (commands, rx) = mpsc::channel();
        let max_entries = u64::try_from(config.retention.max_entries()).unwrap_or(u64::MAX);
        let writer = Writer {
            conn,
            rx,
            live,
            shared: Arc::clone(&shared),
            last_seq,
            max_batch: config.max_batch.max(1),
            max_entries,
            max_bytes: config.retention.max_bytes(),
            // Prune after about a sixteenth of the history was appended:
            // the table overshoots its bound by at most that much, and the
            // delete cost is spread over many appends.
            prune_every: (max_entries / 16).clamp(1, PRUNE_CHUNK),
            since_prune: 0,
            prune_pending: true,
            age_interval_ms: config.retention.max_age().map_or(u64::MAX, |age| {
                u64::try_from(age.as_millis() / 16)
                    .unwrap_or(u64::MAX)
                    .max(100)
            }),
            last_age_check_ms: 0,
            sync_wal: config.synchronous == Synchronous::FullDataSync,
            wal_path,
            wal: None,
            failed: None,
        };
        let handle = std::thread::Builder::new()
            .name("sse-store-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| StoreError::backend("starting the writer thread", e))?;
        tracing::debug!(path = %config.path.display(), last_seq, "sqlite store opened");
        Ok(SqliteStore {
            shared,
            commands,
            writer: Mutex::new(Some(handle)),
        })
    }
}

impl SqliteStore {
    /// Counters since open.
    pub fn stats(&self) -> SqliteStats {
        SqliteStats {
            appends: self.shared.appends.load(Ordering::Relaxed),
            commits: self.shared.commits.load(Ordering::Relaxed),
        }
    }
}

impl Store for SqliteStore {
    fn append(&self, mut update: Update) -> StoreFuture<'_, Entry> {
        Box::pin(async move {
            ensure_id(&mut update);
            let queue = Arc::clone(&self.shared.queue);
            let permit = match tokio::time::timeout(
                self.shared.queue_timeout,
                queue.acquire_owned(),
            )
            .await
            {
                Ok(Ok(permit)) => permit,
                Ok(Err(_)) => return Err(StoreError::closed()),
                Err(_) => return Err(StoreError::busy(self.shared.queue_timeout)),
            };
            let (reply, answer) = oneshot::channel();
            let pending = Pending {
                update: Arc::new(update),
                reply,
                _permit: permit,
            };
            self.commands
                .send(Command::Append(pending))
                .map_err(|_| StoreError::closed())?;
            // The writer answers every append it takes; a dropped reply
            // means it stopped before taking this one, so it is not stored.
            answer.await.map_err(|_| StoreError::closed())?
        })
    }

    fn replay(&self, cursor: Cursor, limit: usize) -> StoreFuture<'_, Replay> {
        Box::pin(async move {
            let permits = Arc::clone(&self.shared.reader_permits);
            let permit = permits
                .acquire_owned()
                .await
                .map_err(|_| StoreError::closed())?;
            let shared = Arc::clone(&self.shared);
            let now_ms = shared.clock.now_ms();
            tokio::task::spawn_blocking(move || {
                let result = shared.replay_blocking(cursor, limit.max(1), now_ms);
                drop(permit);
                result
            })
            .await
            .map_err(|e| StoreError::backend("running a replay", e))?
        })
    }

    fn live(&self) -> LiveFeed {
        let live = self
            .shared
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match &*live {
            Some(tx) => LiveFeed::new(tx.subscribe()),
            None => LiveFeed::closed(),
        }
    }

    fn close(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let (done, finished) = oneshot::channel();
            let result = if self.commands.send(Command::Close(done)).is_ok() {
                finished.await.unwrap_or(Ok(()))
            } else {
                Ok(()) // already closed
            };
            self.shared.reader_permits.close();
            let handle = self
                .writer
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(handle) = handle {
                // The writer has answered `Close` and is exiting; joining
                // makes sure the file is released before we return.
                tokio::task::spawn_blocking(move || handle.join())
                    .await
                    .map_err(|e| StoreError::backend("joining the writer thread", e))?
                    .map_err(|_| StoreError::backend("joining the writer thread", "it panicked"))?;
            }
            result
        })
    }
}

impl Shared {
    fn replay_blocking(
        &self,
        cursor: Cursor,
        limit: usize,
        now_ms: u64,
    ) -> Result<Replay, StoreError> {
        // `reader_permits` admits at most `readers.len()` replays, so one
        // connection is normally free; waiting on the first (`open` makes
        // at least one) covers a connection whose lock was poisoned.
        let mut conn = self
            .readers
            .iter()
            .find_map(|r| r.try_lock().ok())
            .unwrap_or_else(|| {
                self.readers[0]
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
            });
        // One read transaction: the bounds and the rows come from one
        // snapshot.
        let tx = conn.transaction().map_err(sql("starting a replay"))?;
        let last_seq = read_last_seq(&tx).map_err(sql("reading the last position"))?;
        let max_entries = u64::try_from(self.retention.max_entries()).unwrap_or(u64::MAX);
        let oldest = oldest_visible(
            &tx,
            last_seq,
            max_entries,
            self.retention.age_cutoff_ms(now_ms),
        )
        .map_err(sql("applying retention"))?;
        let newest = (last_seq > 0).then(|| Position::new(last_seq, 0));
        let incomplete = Replay {
            newest,
            ..Replay::default()
        };
        let mut at = None;
        let after = match cursor {
            Cursor::Earliest => None,
            Cursor::Newest => Some(last_seq),
            Cursor::Id(id) => {
                let found = retained_row(
                    &tx,
                    &id,
                    last_seq,
                    max_entries,
                    self.retention.age_cutoff_ms(now_ms),
                )
                .map_err(sql("finding the cursor"))?;
                match found {
                    Some(row) => {
                        let entry = row.into_entry()?;
                        let seq = entry.position.major();
                        at = Some(entry.update);
                        Some(seq)
                    }
                    None => return Ok(incomplete),
                }
            }
            Cursor::After(p) => {
                let seq = p.major();
                // Complete when nothing after `seq` was evicted.
                if seq.saturating_add(1) < oldest && seq < last_seq {
                    return Ok(incomplete);
                }
                Some(seq)
            }
        };
        let start = after.map_or(oldest, |a| a.saturating_add(1).max(oldest));
        let mut stmt = tx
            .prepare_cached(
                "SELECT seq, id, topics, data, private, event_type, retry
                 FROM updates WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
            )
            .map_err(sql("reading history"))?;
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
        let rows = stmt
            .query_map(params![to_sql_seq(start), fetch], Row::read)
            .map_err(sql("reading history"))?;
        let mut entries = Vec::new();
        for row in rows {
            entries.push(row.map_err(sql("reading history"))?.into_entry()?);
        }
        let more = entries.len() > limit;
        entries.truncate(limit);
        Ok(Replay {
            entries,
            complete: true,
            more,
            after: after.map(|seq| Position::new(seq, 0)),
            newest,
            at,
        })
    }
}

/// The writer thread's state. Dropping it (when `run` returns, or if the
/// thread panicked) closes the queue and ends the live feeds, so nobody
/// waits on a writer that is gone.
struct Writer {
    conn: Connection,
    rx: mpsc::Receiver<Command>,
    live: broadcast::Sender<Entry>,
    shared: Arc<Shared>,
    /// The last sequence committed.
    last_seq: u64,
    max_batch: usize,
    max_entries: u64,
    /// [`Retention::max_bytes`], enforced in each batch's transaction.
    max_bytes: u64,
    prune_every: u64,
    since_prune: u64,
    /// The last prune stopped at `PRUNE_CHUNK` (or none ran yet since open).
    prune_pending: bool,
    age_interval_ms: u64,
    last_age_check_ms: u64,
    /// [`Synchronous::FullDataSync`]: `fdatasync` the WAL after each commit.
    sync_wal: bool,
    wal_path: PathBuf,
    /// The WAL file, opened at the first sync (SQLite creates it lazily).
    wal: Option<std::fs::File>,
    /// Set when syncing the WAL failed: after a failed sync the kernel may
    /// have dropped the dirty pages and a later sync can succeed without
    /// them, so no later commit can be called durable. Appends fail until
    /// the store is reopened (SQLite's recovery then reads what is really
    /// on disk).
    failed: Option<String>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shared.queue.close();
        // With the shared sender gone, `self.live` is the last one: feeds
        // end once their consumers drained them.
        *self
            .shared
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }
}

impl Writer {
    fn run(mut self) {
        let mut batch: Vec<Pending> = Vec::with_capacity(self.max_batch);
        let mut close = None;
        loop {
            match self.rx.recv_timeout(IDLE_TICK) {
                Ok(Command::Append(p)) => batch.push(p),
                Ok(Command::Close(done)) => close = Some(done),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    // Failures are logged and retried on the next tick.
                    let _ = self.housekeep(false);
                    continue;
                }
                // Every `SqliteStore` handle is gone.
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            // Group commit: take whatever else is already waiting.
            while close.is_none() && batch.len() < self.max_batch {
                match self.rx.try_recv() {
                    Ok(Command::Append(p)) => batch.push(p),
                    Ok(Command::Close(done)) => close = Some(done),
                    Err(_) => break,
                }
            }
            self.commit(&mut batch);
            if close.is_some() {
                break;
            }
            let _ = self.housekeep(false); // logged; retried next batch
        }
        // Refuse new appends, then finish those that already got room.
        self.shared.queue.close();
        while let Ok(command) = self.rx.try_recv() {
            match command {
                Command::Append(p) => batch.push(p),
                Command::Close(done) => {
                    let _ = done.send(Ok(()));
                }
            }
            if batch.len() >= self.max_batch {
                self.commit(&mut batch);
            }
        }
        self.commit(&mut batch);
        let result = self.housekeep(true);
        if let Err(e) = self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);") {
            tracing::warn!(error = %e, "sqlite store: final checkpoint failed");
        }
        if let Some(done) = close {
            let _ = done.send(result);
        }
        tracing::debug!(last_seq = self.last_seq, "sqlite store writer stopped");
    }

    /// Commits `batch` in one transaction, then publishes and answers it.
    fn commit(&mut self, batch: &mut Vec<Pending>) {
        if batch.is_empty() {
            return;
        }
        if let Some(why) = &self.failed {
            for pending in batch.drain(..) {
                let _ = pending.reply.send(Err(StoreError::backend(
                    "appending after a failed sync (reopen the store)",
                    why.clone(),
                )));
            }
            return;
        }
        let clock_ms = self.shared.clock.now_ms();
        let now_ms = i64::try_from(clock_ms).unwrap_or(i64::MAX);
        let window = (
            self.max_entries,
            self.shared.retention.age_cutoff_ms(clock_ms),
        );
        let committed = insert_batch(&mut self.conn, now_ms, window, self.max_bytes, batch);
        if let (Ok((_, last_seq, _)), true) = (&committed, self.sync_wal) {
            if let Err(e) = self.sync_wal_file() {
                tracing::error!(error = %e, "sqlite store: syncing the WAL failed; refusing appends");
                let why = format!("syncing the WAL failed: {e}");
                self.failed = Some(why.clone());
                // Committed but not known durable: not acknowledged, and
                // not fed live. A reopened store may or may not have them,
                // so "not stored" would be wrong: the outcome is unknown.
                self.last_seq = *last_seq;
                for pending in batch.drain(..) {
                    let _ = pending.reply.send(Err(StoreError::outcome_unknown(
                        "syncing an append",
                        Doubt::Unsynced,
                        pending.update.id.clone(),
                        why.clone(),
                    )));
                }
                return;
            }
        }
        match committed {
            Ok((first, last_seq, outcomes)) => {
                if first != self.last_seq {
                    tracing::warn!(
                        expected = self.last_seq,
                        found = first,
                        "sqlite store: another writer uses this database file; \
                         its updates do not reach this hub's live feed"
                    );
                }
                self.last_seq = last_seq;
                self.since_prune = self.since_prune.saturating_add(last_seq - first);
                self.shared.commits.fetch_add(1, Ordering::Relaxed);
                self.shared
                    .appends
                    .fetch_add(last_seq - first, Ordering::Relaxed);
                for (outcome, pending) in outcomes.into_iter().zip(batch.drain(..)) {
                    let entry = match outcome {
                        Appended::New(seq) => {
                            let entry = Entry::new(Position::new(seq, 0), pending.update);
                            // Feed first, then answer: once a publisher has
                            // its answer, the entry is already on the live
                            // feed. No receiver is not an error.
                            let _ = self.live.send(entry.clone());
                            Ok(entry)
                        }
                        // Stored before: not fed again.
                        Appended::Duplicate(row) => row.into_entry().map(Entry::into_duplicate),
                    };
                    let _ = pending.reply.send(entry);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, appends = batch.len(), "sqlite store: commit failed");
                let message = e.to_string();
                for pending in batch.drain(..) {
                    let _ = pending.reply.send(Err(StoreError::backend(
                        "committing an append",
                        message.clone(),
                    )));
                }
            }
        }
    }

    /// Flushes the WAL file's data (not its timestamps) to stable storage.
    fn sync_wal_file(&mut self) -> std::io::Result<()> {
        let wal = match &self.wal {
            Some(wal) => wal,
            None => {
                // Write access because some platforms need it to flush; the
                // file is never written through this handle.
                let wal = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&self.wal_path)?;
                wal.sync_data()?;
                // SQLite created the WAL for this session; its directory
                // entry must be durable too, or a power loss could drop the
                // whole file.
                sync_parent_dir(&self.wal_path)?;
                self.wal.insert(wal)
            }
        };
        wal.sync_data()
    }

    /// Deletes what retention no longer keeps, when due (always with
    /// `force`, until nothing is left to delete).
    fn housekeep(&mut self, force: bool) -> Result<(), StoreError> {
        let now_ms = self.shared.clock.now_ms();
        let age_due = now_ms.saturating_sub(self.last_age_check_ms) >= self.age_interval_ms;
        if !(force || age_due || self.prune_pending || self.since_prune >= self.prune_every) {
            return Ok(());
        }
        if age_due {
            self.last_age_check_ms = now_ms;
        }
        self.since_prune = 0;
        let cutoff = self.shared.retention.age_cutoff_ms(now_ms);
        loop {
            let deleted = match self.prune_chunk(cutoff) {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "sqlite store: retention failed");
                    self.prune_pending = true;
                    return Err(StoreError::backend("applying retention", e));
                }
            };
            self.prune_pending = deleted >= PRUNE_CHUNK;
            if !(force && self.prune_pending) {
                return Ok(());
            }
        }
    }

    /// Deletes up to `PRUNE_CHUNK` rows outside retention; returns how many.
    fn prune_chunk(&mut self, cutoff_ms: u64) -> rusqlite::Result<u64> {
        let last_seq = read_last_seq(&self.conn)?;
        let oldest = oldest_visible(&self.conn, last_seq, self.max_entries, cutoff_ms)?;
        let first: Option<i64> = self
            .conn
            .query_row("SELECT min(seq) FROM updates", [], |r| r.get(0))?;
        let Some(first) = first.and_then(|f| u64::try_from(f).ok()) else {
            return Ok(0);
        };
        let bound = oldest.min(first.saturating_add(PRUNE_CHUNK));
        if bound <= first {
            return Ok(0);
        }
        let deleted = self.conn.execute(
            "DELETE FROM updates WHERE seq < ?1",
            params![i64::try_from(bound).unwrap_or(i64::MAX)],
        )?;
        tracing::debug!(deleted, "sqlite store: retention");
        Ok(u64::try_from(deleted).unwrap_or(u64::MAX))
    }
}

/// Makes a new directory entry for `path` durable.
#[cfg(unix)]
fn sync_parent_dir(path: &std::path::Path) -> std::io::Result<()> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => std::fs::File::open(dir)?.sync_all(),
        None => std::fs::File::open(".")?.sync_all(),
    }
}

/// Directory entries are durable with the file's own flush elsewhere.
#[cfg(not(unix))]
fn sync_parent_dir(_path: &std::path::Path) -> std::io::Result<()> {
    Ok(())
}

/// What a batch did with one append.
enum Appended {
    /// Stored at this sequence.
    New(u64),
    /// Its id was in history: the row stored before, nothing inserted.
    Duplicate(Row),
}

/// Inserts `batch` in one transaction, skipping appends whose id is in
/// history (retention `max_entries` and `cutoff_ms` applied exactly, as a
/// replay would): the first and last sequence, and what became of each
/// append. The check runs inside the write transaction, so it also sees
/// the rows this batch inserted before it. Then the oldest rows past
/// `max_bytes` are deleted, in the same transaction.
fn insert_batch(
    conn: &mut Connection,
    now_ms: i64,
    (max_entries, cutoff_ms): (u64, u64),
    max_bytes: u64,
    batch: &[Pending],
) -> rusqlite::Result<(u64, u64, Vec<Appended>)> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Read under the write lock rather than trusted from memory: if another
    // process writes the same file (a misconfiguration, logged by the
    // caller), positions stay unique and ordered.
    let before = read_last_seq(&tx)?;
    let mut seq = before;
    let mut outcomes = Vec::with_capacity(batch.len());
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO updates (seq, id, created_ms, topics, data, private, event_type, retry,
                                  bytes)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        for pending in batch {
            let u = &*pending.update;
            if let Some(row) = retained_row(&tx, &u.id, seq, max_entries, cutoff_ms)? {
                outcomes.push(Appended::Duplicate(row));
                continue;
            }
            seq += 1;
            // Serialising a list of strings cannot fail.
            let topics = serde_json::to_string(&u.topics).unwrap_or_else(|_| "[]".to_owned());
            stmt.execute(params![
                i64::try_from(seq).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(0, 0))?,
                u.id,
                now_ms,
                topics,
                u.data,
                u.private,
                u.event_type,
                // Stored bit for bit: SQLite integers are signed.
                u.retry.map(|r| r as i64),
                i64::try_from(update_size(u)).unwrap_or(i64::MAX),
            ])?;
            outcomes.push(Appended::New(seq));
        }
    }
    trim_bytes(&tx, max_bytes)?;
    tx.commit()?;
    Ok((before, seq, outcomes))
}

/// The oldest row with update id `id` that retention keeps while
/// `last_seq` is the newest sequence: what a cursor naming `id` resolves
/// to, and what an append of `id` finds in history. One index lookup when
/// the id is not there (the common case).
fn retained_row(
    conn: &Connection,
    id: &str,
    last_seq: u64,
    max_entries: u64,
    cutoff_ms: u64,
) -> rusqlite::Result<Option<Row>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, id, topics, data, private, event_type, retry
         FROM updates WHERE id = ?1 AND seq >= ?2 ORDER BY seq LIMIT 1",
    )?;
    let floor = last_seq.saturating_sub(max_entries).saturating_add(1);
    let Some(row) = stmt
        .query_row(params![id, to_sql_seq(floor)], Row::read)
        .optional()?
    else {
        return Ok(None);
    };
    let oldest = oldest_visible(conn, last_seq, max_entries, cutoff_ms)?;
    if u64::try_from(row.seq).is_ok_and(|s| s >= oldest) {
        return Ok(Some(row));
    }
    // That row is past the age limit; a later one (a file written before
    // appends were idempotent may hold an id twice) may still be retained.
    stmt.query_row(params![id, to_sql_seq(oldest)], Row::read)
        .optional()
}

/// The oldest sequence retention still keeps (`last_seq + 1` when none):
/// the newest `max_entries`, from the first one created at or after
/// `cutoff_ms` on.
fn oldest_visible(
    conn: &Connection,
    last_seq: u64,
    max_entries: u64,
    cutoff_ms: u64,
) -> rusqlite::Result<u64> {
    let floor = last_seq.saturating_sub(max_entries).saturating_add(1);
    // Walks rows in seq order from `floor`: costs one row per expired row
    // not deleted yet, which pruning keeps few.
    let seq: Option<i64> = conn
        .query_row(
            "SELECT seq FROM updates WHERE seq >= ?1 AND created_ms >= ?2 ORDER BY seq LIMIT 1",
            params![
                i64::try_from(floor).unwrap_or(i64::MAX),
                i64::try_from(cutoff_ms).unwrap_or(i64::MAX)
            ],
            |r| r.get(0),
        )
        .optional()?;
    Ok(seq
        .and_then(|s| u64::try_from(s).ok())
        .unwrap_or(last_seq.saturating_add(1)))
}

/// The highest sequence ever assigned, deleted rows included.
fn read_last_seq(conn: &Connection) -> rusqlite::Result<u64> {
    let seq: Option<i64> = conn
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'updates'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(seq.and_then(|s| u64::try_from(s).ok()).unwrap_or(0))
}

/// What makes a version 1 database (or a new one, whose `updates` was just
/// created with the column) version 2: the byte total and the triggers that
/// keep it (then [`migrate`] marks it with [`APPLICATION_ID`]).
const SCHEMA_V2: &str = "
    CREATE TABLE history_bytes (total INTEGER NOT NULL); -- one row
    INSERT INTO history_bytes (total) SELECT coalesce(sum(bytes), 0) FROM updates;
    CREATE TRIGGER updates_bytes_in AFTER INSERT ON updates
        BEGIN UPDATE history_bytes SET total = total + NEW.bytes; END;
    CREATE TRIGGER updates_bytes_out AFTER DELETE ON updates
        BEGIN UPDATE history_bytes SET total = total - OLD.bytes; END;
    PRAGMA user_version = 2;";

/// Refuses another application's database, reading only: it runs before
/// anything is written to the file. Ours: marked with [`APPLICATION_ID`],
/// empty (no tables: new), or unmarked with only [`HUB_TABLES`] and a
/// `user_version` the hub set (a hub database from before the mark, marked
/// by [`migrate`]).
fn check_ours(conn: &Connection) -> Result<(), StoreError> {
    let read = sql("reading the database header");
    let app_id: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(&read)?;
    if app_id == APPLICATION_ID {
        return Ok(());
    }
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(&read)?;
    let mut stmt = conn
        .prepare(
            "SELECT name FROM sqlite_schema
             WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
        )
        .map_err(&read)?;
    let tables = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(&read)?
        .collect::<rusqlite::Result<Vec<String>>>()
        .map_err(&read)?;
    if app_id == 0 && tables.is_empty() {
        return Ok(()); // a new file (migrate checks a user_version it has)
    }
    let hub_made = app_id == 0
        && (1..=SCHEMA_VERSION).contains(&version)
        && tables.iter().any(|t| t == "updates")
        && tables.iter().all(|t| HUB_TABLES.contains(&t.as_str()));
    if hub_made {
        return Ok(());
    }
    let mut names = tables
        .iter()
        .take(5)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if tables.len() > 5 {
        names.push_str(", …");
    }
    let whose = if app_id == 0 {
        "no application_id".to_owned()
    } else {
        format!("application_id {app_id:#x}")
    };
    Err(StoreError::foreign(format!(
        "the file is another application's SQLite database (tables: {names}; {whose}, \
         not the hub's {APPLICATION_ID:#x}); refusing to use it, and nothing was written \
         to it: give the hub a file of its own"
    )))
}

/// Creates the schema, or upgrades a version 1 file; refuses a newer one.
/// [`check_ours`] has already refused a file that is not the hub's.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sql("reading the schema version"))?;
    let steps = match version {
        0 => {
            "CREATE TABLE updates (
                 seq        INTEGER PRIMARY KEY AUTOINCREMENT,
                 id         TEXT    NOT NULL,
                 created_ms INTEGER NOT NULL,
                 topics     TEXT    NOT NULL, -- JSON array of strings
                 data       TEXT    NOT NULL,
                 private    INTEGER NOT NULL,
                 event_type TEXT,
                 retry      INTEGER,
                 bytes      INTEGER NOT NULL DEFAULT 0 -- update_size()
             );
             CREATE INDEX updates_by_id ON updates (id);"
        }
        // update_size() of the rows already there: the same bytes, counted
        // in SQL.
        1 => {
            "ALTER TABLE updates ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
             UPDATE updates SET bytes = length(CAST(id AS BLOB)) + length(CAST(data AS BLOB))
                 + coalesce(length(CAST(event_type AS BLOB)), 0)
                 + coalesce((SELECT sum(length(CAST(value AS BLOB)))
                             FROM json_each(updates.topics)), 0);"
        }
        SCHEMA_VERSION => return Ok(()),
        v => {
            return Err(StoreError::corrupt(format!(
                "database schema version {v}; this version reads {SCHEMA_VERSION}"
            )))
        }
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql("creating the schema"))?;
    tx.execute_batch(&format!(
        "{steps}\n{SCHEMA_V2}\nPRAGMA application_id = {APPLICATION_ID};"
    ))
    .map_err(sql("creating the schema"))?;
    tx.commit().map_err(sql("creating the schema"))
}

/// Deletes the oldest rows until the others add up to at most `max_bytes`
/// (or only the newest is left); returns how many it deleted. Reads as many
/// rows as it deletes, plus one.
fn trim_bytes(conn: &Connection, max_bytes: u64) -> rusqlite::Result<u64> {
    let total: i64 = conn.query_row("SELECT total FROM history_bytes", [], |r| r.get(0))?;
    let Some(excess) = u64::try_from(total)
        .ok()
        .and_then(|t| t.checked_sub(max_bytes))
        .filter(|e| *e > 0)
    else {
        return Ok(0);
    };
    let mut last = None;
    {
        let mut stmt = conn.prepare_cached(
            "SELECT seq, bytes FROM updates WHERE seq < (SELECT max(seq) FROM updates)
             ORDER BY seq",
        )?;
        let mut rows = stmt.query([])?;
        let mut freed = 0u64;
        while let Some(row) = rows.next()? {
            let (seq, bytes): (i64, i64) = (row.get(0)?, row.get(1)?);
            freed = freed.saturating_add(u64::try_from(bytes).unwrap_or(0));
            last = Some(seq);
            if freed >= excess {
                break;
            }
        }
    }
    let Some(last) = last else { return Ok(0) };
    let deleted = conn.execute("DELETE FROM updates WHERE seq <= ?1", params![last])?;
    Ok(u64::try_from(deleted).unwrap_or(u64::MAX))
}

/// One row of `updates`, as read.
struct Row {
    seq: i64,
    id: String,
    topics: String,
    data: String,
    private: bool,
    event_type: Option<String>,
    retry: Option<i64>,
}

impl Row {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
        Ok(Row {
            seq: r.get(0)?,
            id: r.get(1)?,
            topics: r.get(2)?,
            data: r.get(3)?,
            private: r.get(4)?,
            event_type: r.get(5)?,
            retry: r.get(6)?,
        })
    }

    fn into_entry(self) -> Result<Entry, StoreError> {
        let topics: Vec<String> = serde_json::from_str(&self.topics)
            .map_err(|_| StoreError::corrupt(format!("row {}: topics are not a list", self.seq)))?;
        Ok(Entry::new(
            Position::new(from_sql_seq(self.seq)?, 0),
            Arc::new(Update {
                id: self.id,
                topics,
                data: self.data,
                private: self.private,
                event_type: self.event_type,
                retry: self.retry.map(|r| r as u64),
            }),
        ))
    }
}

/// A sequence as SQLite stores it; beyond `i64::MAX` (never assigned) it
/// saturates, which still compares after every stored row.
fn to_sql_seq(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

fn from_sql_seq(seq: i64) -> Result<u64, StoreError> {
    u64::try_from(seq).map_err(|_| StoreError::corrupt(format!("negative position {seq}")))
}

/// Wraps a rusqlite error as a backend error with `context`.
fn sql(context: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| StoreError::backend(context, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(id: &str) -> Update {
        Update {
            id: id.to_owned(),
            topics: vec!["t".to_owned()],
            data: "d".to_owned(),
            private: false,
            event_type: None,
            retry: None,
        }
    }

    fn count_rows(path: &std::path::Path) -> i64 {
        let conn = Connection::open(path).expect("open");
        conn.query_row("SELECT count(*) FROM updates", [], |r| r.get(0))
            .expect("count")
    }

    /// Holds SQLite's write lock from another connection, so the writer
    /// blocks (within its busy timeout) until `release`.
    fn hold_write_lock(path: &std::path::Path) -> Connection {
        let conn = Connection::open(path).expect("open");
        conn.execute_batch("BEGIN IMMEDIATE;").expect("lock");
        conn
    }

    fn release(conn: Connection) {
        conn.execute_batch("ROLLBACK;").expect("unlock");
    }

    /// Yields until `cond` holds; a bounded number of turns, no sleeping.
    async fn until(mut cond: impl FnMut() -> bool) {
        for _ in 0..100_000 {
            if cond() {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("condition never held");
    }

    async fn appends_while_locked(max_batch: usize, n: usize) -> SqliteStats {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("hub.sqlite3");
        let store = Arc::new(
            SqliteStore::open(SqliteConfig {
                max_batch,
                ..SqliteConfig::new(&path)
            })
            .expect("open"),
        );
        let lock = hold_write_lock(&path);
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let store = Arc::clone(&store);
                tokio::spawn(async move { store.append(update(&format!("u{i}"))).await })
            })
            .collect();
        // On this current-thread runtime a task that got its permit has also
        // queued its append (no await between the two).
        let queue = Arc::clone(&store.shared.queue);
        until(|| queue.available_permits() == 4096 - n).await;
        release(lock);
        for task in tasks {
            task.await.expect("task").expect("append");
        }
        let stats = store.stats();
        store.close().await.expect("close");
        stats
    }

    #[tokio::test(flavor = "current_thread")]
    async fn group_commit_shares_one_transaction() {
        let stats = appends_while_locked(1024, 64).await;
        assert_eq!(stats.appends, 64);
        // At most the batch that was blocked on the lock, then one more.
        assert!(stats.commits <= 2, "{stats:?}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn max_batch_one_commits_each_append() {
        let stats = appends_while_locked(1, 16).await;
        assert_eq!(
            stats,
            SqliteStats {
                appends: 16,
                commits: 16
            }
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn full_queue_makes_append_busy() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("hub.sqlite3");
        let store = Arc::new(
            SqliteStore::open(SqliteConfig {
                queue_capacity: 1,
                queue_timeout: Duration::from_millis(50),
                ..SqliteConfig::new(&path)
            })
            .expect("open"),
        );
        let lock = hold_write_lock(&path);
        let first = {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.append(update("first")).await })
        };
        let queue = Arc::clone(&store.shared.queue);
        until(|| queue.available_permits() == 0).await;
        let second = store.append(update("second")).await;
        assert!(second.expect_err("queue is full").is_busy());
        release(lock);
        first.await.expect("task").expect("first append");
        let replay = store.replay(Cursor::Earliest, 10).await.expect("replay");
        assert_eq!(replay.entries.len(), 1, "the busy append was not stored");
        store.close().await.expect("close");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn retention_deletes_rows_in_batches() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("hub.sqlite3");
        let store = SqliteStore::open(SqliteConfig {
            retention: Retention::new(160),
            ..SqliteConfig::new(&path)
        })
        .expect("open");
        for i in 0..400 {
            store
                .append(update(&format!("u{i}")))
                .await
                .expect("append");
        }
        // prune_every = 160 / 16 = 10: the table overshoots by at most that.
        let rows = count_rows(&path);
        assert!((160..=170).contains(&rows), "{rows} rows");
        store.close().await.expect("close");
        assert_eq!(count_rows(&path), 160, "close prunes to the bound");
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("hub.sqlite3");
        Connection::open(&path)
            .expect("open")
            .execute_batch(&format!("PRAGMA user_version = {};", SCHEMA_VERSION + 1))
            .expect("version");
        let err = SqliteStore::open(SqliteConfig::new(&path)).expect_err("newer file");
        assert!(err.is_corrupt(), "{err}");
    }

    #[test]
    fn garbage_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("hub.sqlite3");
        std::fs::write(&path, vec![0x5a; 8192]).expect("write");
        let err = SqliteStore::open(SqliteConfig::new(&path)).expect_err("not a database");
        assert!(err.is_backend(), "{err}");
        assert!(std::error::Error::source(&err).is_some(), "keeps the cause");
    }

    #[test]
    fn unusable_directory_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"x").expect("write");
        let err = SqliteStore::open(SqliteConfig::new(file.join("hub.sqlite3")))
            .expect_err("parent is a file");
        assert!(err.is_backend(), "{err}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn synchronous_normal_stores_too() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("hub.sqlite3");
        let store = SqliteStore::open(SqliteConfig {
            synchronous: Synchronous::Normal,
            ..SqliteConfig::new(&path)
        })
        .expect("open");
        store.append(update("a")).await.expect("append");
        store.close().await.expect("close");
        assert_eq!(count_rows(&path), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn two_writers_on_one_file_keep_positions_unique() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("hub.sqlite3");
        let a = SqliteStore::open(SqliteConfig::new(&path)).expect("open a");
        let b = SqliteStore::open(SqliteConfig::new(&path)).expect("open b");
        let a1 = a.append(update("a1")).await.expect("append");
        let b1 = b.append(update("b1")).await.expect("append");
        let a2 = a.append(update("a2")).await.expect("append");
        assert!(a1.position < b1.position && b1.position < a2.position);
        let replay = b.replay(Cursor::Earliest, 10).await.expect("replay");
        let ids: Vec<&str> = replay
            .entries
            .iter()
            .map(|e| e.update.id.as_str())
            .collect();
        assert_eq!(ids, ["a1", "b1", "a2"]);
        a.close().await.expect("close");
        b.close().await.expect("close");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn dropping_the_store_stops_the_writer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("hub.sqlite3");
        let store = SqliteStore::open(SqliteConfig::new(&path)).expect("open");
        let mut live = store.live();
        store.append(update("a")).await.expect("append");
        drop(store);
        // The writer sees the channel close, stops and ends the feed.
        assert_eq!(live.recv().await.expect("entry").update.id, "a");
        let end = tokio::time::timeout(Duration::from_secs(20), live.recv())
            .await
            .expect("the writer stops");
        assert!(end.expect_err("closed").is_closed());
    }
}
