//! [`RedisStore`]: history in a Redis stream shared by many hub nodes
//! (feature `redis`).
//!
//! # Shape
//!
//! Four keys under a prefix (default `sse`, so `sse:stream`, `sse:ids`,
//! `sse:dups`, `sse:bytes`):
//!
//! - `<prefix>:stream`, a Redis stream with one entry per update (fields
//!   `id`, `ms`, `topics`, `data`, `private`, and `type` / `retry` when
//!   set). The entry id `<ms>-<seq>` that `XADD *` assigns is the
//!   [`Position`]: Redis assigns it, so it is unique and ordered across
//!   every node writing the stream. `ms` is the store's [`Clock`] at the
//!   append, for age retention (the stream id's time is Redis's clock,
//!   which a test cannot move).
//! - `<prefix>:ids`, a hash from update id to the stream id of its oldest
//!   retained occurrence (and of its newest, when the id is duplicated),
//!   so `Last-Event-ID` resolves with one `HGET`, and an append finds an
//!   id already in history with one `HGET` (it then adds nothing: appends
//!   are idempotent within history, see the store module docs).
//! - `<prefix>:dups`, a hash that chains the occurrences of a duplicated
//!   update id, so that evicting the oldest moves the id on to the next
//!   occurrence without scanning the stream. Empty unless the stream was
//!   written before appends were idempotent (or an id came back while its
//!   expired occurrence was not deleted yet), but for one field, `epoch`:
//!   a random value that names the history (see "History reset").
//! - `<prefix>:bytes`, a counter: the sum of [`update_size`] over the
//!   stream's entries, for the byte bound. The scripts that add and evict
//!   entries keep it (a stream from before the counter is counted once, by
//!   `open`); it is reset when the stream is found empty, so a count that
//!   drifted (entries deleted by hand) does not outlive the entries.
//!
//! Every write and every replay is one Lua script (`EVALSHA`, reloaded
//! after a Redis restart), so it is atomic: an acknowledged update is in
//! the stream and findable by its id at once, and a replay's bounds and
//! entries come from one state. Both hashes only name retained entries, so
//! they are bounded by the stream, which retention bounds.
//!
//! # Retention
//!
//! Each append evicts from the head while the stream holds more than
//! [`Retention::max_entries`], or more than [`Retention::max_bytes`] in
//! more than one entry, or the head is older than the age limit (at most
//! 1,000 entries per call; the tail task also runs this once a second while
//! idle when an age limit is set, and `open` runs it to completion). Replay
//! applies retention exactly regardless, as the [`Store`] contract
//! requires (for the byte bound it reads `<prefix>:bytes` and walks the
//! entries an append's budget left over the bound). Redis's memory for the
//! stream is these bytes plus its per-entry overhead (field names, the
//! listpack, the two hashes: roughly 100 to 200 bytes an entry). Nodes
//! sharing a stream should share their retention settings: each trims to
//! its own.
//!
//! # Completeness
//!
//! Eviction always takes the oldest entry, so the evicted entries are
//! exactly those up to the *newest evicted* one: the stream entry just
//! before the oldest retained, or Redis's `max-deleted-entry-id` (Redis 7)
//! when the oldest retained is the stream's first entry, or the newest id
//! ever assigned when nothing is retained. A cursor at or after that id is
//! complete; one before it is not.
//!
//! # Live feed
//!
//! One task per store tails the stream with `XREAD BLOCK` on its own
//! connection, from the stream's last id at [`RedisStore::open`], and
//! feeds a bounded broadcast channel; a node's own appends arrive that way
//! too, so every node delivers in the stream's order. When Redis is
//! unreachable the task retries with capped exponential backoff
//! ([`RedisConfig::max_backoff`]) and resumes from the last id it saw: the
//! feed has no gap and no duplicate. Meanwhile
//! [`Store::is_available`] is `false` and appends fail with
//! [`StoreError::is_backend`] (a hub answers 503 "not stored"). An append
//! that was sent and got no answer in time (the connection broke, or Redis
//! is paused or overloaded) fails with [`StoreError::is_outcome_unknown`]
//! instead: Redis may run it, even later, and a retry with the same id is
//! what settles it.
//!
//! # History reset
//!
//! `FLUSHALL`, a `DEL` of the stream or a restart without persistence
//! deletes the history; the next append starts a new stream. Its ids come
//! from Redis's clock, so they are normally above everything the nodes
//! read, and tailing after the last id read yields the new history in its
//! order after the old: every node keeps one order and its streams. When
//! the new ids are *below* the last id read (the old ids came from a clock
//! ahead of this Redis's: a failover to a machine whose clock is behind, a
//! clock set back), tailing after it would skip the new history. The tail
//! task sees that, after every idle `XREAD` and every reconnection: the
//! history's epoch (the `epoch` field, recorded by the first node that
//! finds none, so deleted with the history and kept by a failover or a
//! restart from disk) changed, and the stream's `last-generated-id` is
//! below its last id. It then sends the feeds a reset
//! ([`StoreError::is_reset`]) and reads the new history from its start;
//! the fan-out then compares positions afresh, its live subscribers take
//! the new history, and those still replaying are disconnected to resume
//! (`Last-Event-ID`). Updates the deletion took before a node read them
//! are gone (the operator deleted them); no node delivers anything out of
//! the stream's order. The same epoch with a lower `last-generated-id` is
//! the same history short of its newest entries (a failover to a replica
//! that lagged): tailing goes on after the last id, as after any outage.
//!
//! # Durability
//!
//! An append is acknowledged when Redis has executed it, in memory. It
//! survives a Redis restart only with persistence (`appendonly yes`;
//! `appendfsync always` to survive a crash of the machine too); see
//! `docs/deploy.md`. It survives a failover (the primary lost, a replica
//! promoted) when [`RedisConfig::replicas`] is set: the append is then
//! acknowledged only once `WAIT` reports that many replicas have it, and
//! fails with [`StoreError::is_outcome_unknown`] when they do not confirm
//! within [`RedisConfig::replica_timeout`] (the update is on the primary
//! and may or may not survive it).
//!
//! # Where Redis is
//!
//! `redis://` and `rediss://` (TLS, see [`RedisTls`]) name one server;
//! `redis+sentinel://` and `rediss+sentinel://` name the sentinels of a
//! primary, found again after every failover (`sentinel.rs`). Every
//! connection is made by [`Endpoint::connect`], so the tail task and the
//! command connection follow a failover the same way: reconnect, find the
//! primary, resume from the last stream id seen.
//!
//! # Permissions
//!
//! `open` checks with `redis.acl_check_cmd` that the Redis user may run
//! every command the store needs on its keys (`access.lua`) and fails
//! naming the ones it may not; `CONFIG` is never used, so services that
//! forbid it work. The list is in `docs/deploy.md`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, RedisError, Script, Value};

mod sentinel;
mod tls;

use self::sentinel::{is_sentinel_url, Sentinel};
pub use self::tls::RedisTls;
use tokio::sync::{broadcast, watch, RwLock};
use tokio::task::JoinHandle;

#[cfg(doc)]
use super::update_size;
use super::{
    ensure_id, Clock, Cursor, Doubt, Entry, LiveFeed, Position, Replay, Retention, Store,
    StoreError, StoreFuture, SystemClock,
};
use crate::Update;

/// The most entries one append (or one housekeeping call) evicts, so that
/// one script never blocks Redis for long; a bigger backlog (after
/// retention was lowered) is evicted over several calls.
const TRIM_BUDGET: usize = 1_000;

/// The first retry delay after Redis became unreachable; doubled on each
/// failure up to [`RedisConfig::max_backoff`].
const MIN_BACKOFF: Duration = Duration::from_millis(50);

/// The most entries one replay returns, whatever the caller's limit: a
/// bound on the reply Redis builds and this process buffers.
const MAX_PAGE: usize = 100_000;

/// How often an idle tail task applies age retention.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(1);

const COMMON: &str = include_str!("common.lua");

/// Settings of a [`RedisStore`].
///
/// Its `Debug` output hides the URL's credentials.
#[derive(Clone)]
#[must_use]
pub struct RedisConfig {
    /// `redis://[user:password@]host[:port][/db]`, `rediss://…` for TLS,
    /// or `redis+sentinel://[user:password@]host[:port],host[:port]/master[/db]`
    /// (`rediss+sentinel://` for TLS) to find the primary through Sentinel.
    /// No query: [`from_url`](Self::from_url) takes it apart.
    pub url: String,
    /// Files for TLS (`rediss://`): a private CA, a client certificate.
    /// Default none: the system roots, no client certificate.
    pub tls: RedisTls,
    /// How many replicas must confirm an append (`WAIT`) before it is
    /// acknowledged, so that a failover cannot lose it. Default 1 for a
    /// sentinel URL, 0 (acknowledged once the primary has it) otherwise.
    pub replicas: usize,
    /// How long an append waits for [`replicas`](Self::replicas) to
    /// confirm (at least 1 ms); after that it fails with
    /// [`StoreError::is_outcome_unknown`]. Default 1 s.
    pub replica_timeout: Duration,
    /// Prefix of the store's keys (`<prefix>:stream`, `<prefix>:ids`,
    /// `<prefix>:dups`, `<prefix>:bytes`). Default `sse`. Hubs that share a stream use the
    /// same prefix; separate hubs on one Redis use different ones.
    pub prefix: String,
    /// What is kept.
    pub retention: Retention,
    /// The time source for age retention.
    pub clock: Arc<dyn Clock>,
    /// How many entries a live feed buffers before its consumer lags (at
    /// least 1). Default 4096.
    pub live_capacity: usize,
    /// The most entries one `XREAD` returns (at least 1). Default 512.
    pub read_batch: usize,
    /// How long one `XREAD BLOCK` waits for new entries before it is
    /// reissued (at least 1 ms: 0 would mean forever to Redis). Default 5 s.
    pub block: Duration,
    /// How long a command (append, replay) waits for Redis's answer before
    /// it fails; also how long a connection attempt may take. Default 5 s.
    /// A publish to an unresponsive Redis gets its 503 after this long.
    pub command_timeout: Duration,
    /// The longest delay between reconnection attempts of the tail task.
    /// Default 2 s.
    pub max_backoff: Duration,
}

impl RedisConfig {
    /// The defaults, with Redis at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        let url = url.into();
        RedisConfig {
            replicas: usize::from(is_sentinel_url(&url)),
            replica_timeout: Duration::from_secs(1),
            tls: RedisTls::default(),
            url,
            prefix: "sse".to_owned(),
            retention: Retention::default(),
            clock: Arc::new(SystemClock),
            live_capacity: 4096,
            read_batch: 512,
            block: Duration::from_secs(5),
            command_timeout: Duration::from_secs(5),
            max_backoff: Duration::from_secs(2),
        }
    }

    /// Parses a store URL: the URL as Redis clients write it
    /// (`redis://host[:port][/db]`, `rediss://…`,
    /// `redis+sentinel://host[:port],host[:port]/master[/db]`) plus these
    /// optional query parameters:
    ///
    /// - `prefix=NAME`: [`prefix`](Self::prefix);
    /// - `ca=FILE`, `cert=FILE`, `key=FILE`: [`tls`](Self::tls) (TLS URLs
    ///   only);
    /// - `replicas=N`, `replica_timeout_ms=MS`: [`replicas`](Self::replicas)
    ///   and [`replica_timeout`](Self::replica_timeout).
    ///
    /// # Errors
    ///
    /// [`StoreError::is_backend`] when the URL is not a Redis URL this
    /// build can use, or has another parameter or a bad value. The TLS
    /// files are read by [`RedisStore::open`], not here.
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut config = RedisConfig::new(base);
        let unsupported = |pair: &str| {
            StoreError::backend(
                "parsing the Redis URL",
                format!(
                    "unsupported parameter {pair:?}: understood are prefix=NAME (letters, \
                     digits, and -_.:{{}}), ca=FILE, cert=FILE, key=FILE, replicas=N and \
                     replica_timeout_ms=MS"
                ),
            )
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let Some((name, value)) = pair.split_once('=') else {
                return Err(unsupported(pair));
            };
            match name {
                "prefix" if valid_prefix(value) => config.prefix = value.to_owned(),
                "replicas" => {
                    config.replicas = value.parse().map_err(|_| unsupported(pair))?;
                }
                "replica_timeout_ms" => {
                    let ms: u64 = value
                        .parse()
                        .ok()
                        .filter(|ms| *ms > 0)
                        .ok_or_else(|| unsupported(pair))?;
                    config.replica_timeout = Duration::from_millis(ms);
                }
                _ if !value.is_empty() && config.tls.take_parameter(name, value) => {}
                _ => return Err(unsupported(pair)),
            }
        }
        // Checked now, so a typo fails at start-up.
        Endpoint::new(base, None, config.tls.is_set())?;
        Ok(config)
    }
}

impl RedisConfig {
    /// The URL with any `user:password@` replaced by `***@`: for banners
    /// and logs, which must not carry the password.
    pub fn redacted_url(&self) -> String {
        match (self.url.find("://"), self.url.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                format!("{}***{}", &self.url[..scheme + 3], &self.url[at..])
            }
            _ => self.url.clone(),
        }
    }
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.redacted_url())
            .field("tls", &self.tls)
            .field("replicas", &self.replicas)
            .field("replica_timeout", &self.replica_timeout)
            .field("prefix", &self.prefix)
            .field("retention", &self.retention)
            .field("clock", &self.clock)
            .field("live_capacity", &self.live_capacity)
            .field("read_batch", &self.read_batch)
            .field("block", &self.block)
            .field("command_timeout", &self.command_timeout)
            .field("max_backoff", &self.max_backoff)
            .finish()
    }
}

fn valid_prefix(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 128
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:{}".contains(&b))
}

/// A [`Store`] in a Redis stream: many hub nodes share one history and
/// every node sees every update, in one order. See the module docs.
///
/// ```no_run
/// use sse_hub::store::{RedisConfig, RedisStore, Store};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sse_hub::store::StoreError> {
/// let store = RedisStore::open(RedisConfig::from_url("redis://127.0.0.1:6379/0?prefix=hub")?).await?;
/// let mut live = store.live();
/// let update = sse_hub::Update {
///     id: String::new(),
///     topics: vec!["https://example.com/books/1".into()],
///     data: "{}".into(),
///     private: false,
///     event_type: None,
///     retry: None,
/// };
/// let entry = store.append(update).await?; // in Redis now
/// assert_eq!(live.recv().await?, entry); // every node's feed gets it
/// store.close().await?;
/// # Ok(())
/// # }
/// ```
pub struct RedisStore {
    shared: Arc<Shared>,
    /// Tells the tail task to stop; dropping the store drops it, which
    /// stops the task too.
    stop: watch::Sender<bool>,
    // A std Mutex: taken only by `close` to take the handle, never across
    // an await.
    tail: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("stream", &self.shared.keys[0])
            .field("available", &self.is_available())
            .finish_non_exhaustive()
    }
}

struct Shared {
    endpoint: Endpoint,
    /// The command connection (appends, replays), made lazily and dropped
    /// after a connection error so the next command reconnects. An async
    /// Mutex: held across the connection attempt, so concurrent publishers
    /// during an outage make one attempt, not one each.
    conn: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    /// Stream, ids hash, dups hash, byte total.
    keys: [String; 4],
    append: Script,
    replay: Script,
    /// Replicas an append waits for (0: none), and for how long.
    replicas: usize,
    replica_timeout: Duration,
    trim: Script,
    /// Reads (and records when missing) the history's epoch, with the
    /// stream's newest id (`epoch.lua`).
    epoch: Script,
    retention: Retention,
    clock: Arc<dyn Clock>,
    command_config: AsyncConnectionConfig,
    tail_config: AsyncConnectionConfig,
    read_batch: usize,
    block: Duration,
    command_timeout: Duration,
    max_backoff: Duration,
    /// `true` once closed. Appends and replays hold it for reading while
    /// they run, so `close` (which takes it for writing) waits for them.
    gate: RwLock<bool>,
    /// Subscribing needs a sender; `None` once closed. A std Mutex: held
    /// only to clone or take it.
    live: Mutex<Option<broadcast::Sender<Entry>>>,
    /// The newest position this store appended: what `close` must still
    /// deliver to live feeds.
    last_appended: Mutex<Option<Position>>,
    /// The tail task's last `XREAD` worked.
    tail_ok: AtomicBool,
    /// The last command worked (or failed for a reason other than the
    /// connection).
    commands_ok: AtomicBool,
    /// Gaps in the live feed: counted when, after an outage, entries this
    /// node never tailed turn out to be evicted. Live feeds report a lag
    /// then, so the fan-out replays and, finding history incomplete,
    /// disconnects its subscribers to resume (they learn that history
    /// was not complete) instead of letting them miss updates silently.
    gaps: Arc<AtomicU64>,
}

impl RedisStore {
    /// Connects to Redis, applies retention to what the stream holds, and
    /// starts tailing the stream from its newest entry.
    ///
    /// # Errors
    ///
    /// [`StoreError::is_backend`] when the URL is unusable, Redis cannot
    /// be reached within [`RedisConfig::command_timeout`], or it is older
    /// than 7.0 (completeness needs `XINFO STREAM`'s
    /// `max-deleted-entry-id`).
    pub async fn open(config: RedisConfig) -> Result<RedisStore, StoreError> {
        let endpoint = Endpoint::new(&config.url, config.tls.load()?, config.tls.is_set())?;
        let replica_timeout = config.replica_timeout.max(Duration::from_millis(1));
        // An append's WAIT answers after up to `replica_timeout`: give it
        // that long on top of the command timeout.
        let response_timeout = if config.replicas > 0 {
            config.command_timeout + replica_timeout
        } else {
            config.command_timeout
        };
        let command_config = AsyncConnectionConfig::new()
            .set_connection_timeout(config.command_timeout)
            .set_response_timeout(response_timeout);
        // A blocked XREAD answers after `block`: give it that long and the
        // command timeout on top before calling the connection dead.
        let tail_config = AsyncConnectionConfig::new()
            .set_connection_timeout(config.command_timeout)
            .set_response_timeout(
                config.block.max(Duration::from_millis(1)) + config.command_timeout,
            );
        let prefix = &config.prefix;
        let shared = Arc::new(Shared {
            keys: [
                format!("{prefix}:stream"),
                format!("{prefix}:ids"),
                format!("{prefix}:dups"),
                format!("{prefix}:bytes"),
            ],
            append: Script::new(&format!("{COMMON}\n{}", include_str!("append.lua"))),
            replay: Script::new(&format!("{COMMON}\n{}", include_str!("replay.lua"))),
            trim: Script::new(&format!("{COMMON}\n{}", include_str!("trim.lua"))),
            epoch: Script::new(include_str!("epoch.lua")),
            conn: tokio::sync::Mutex::new(None),
            endpoint,
            replicas: config.replicas,
            replica_timeout,
            retention: config.retention,
            clock: config.clock,
            command_config,
            tail_config,
            read_batch: config.read_batch.max(1),
            block: config.block.max(Duration::from_millis(1)),
            command_timeout: config.command_timeout,
            max_backoff: config.max_backoff.max(MIN_BACKOFF),
            gate: RwLock::new(false),
            live: Mutex::new(None),
            last_appended: Mutex::new(None),
            tail_ok: AtomicBool::new(true),
            gaps: Arc::new(AtomicU64::new(0)),
            commands_ok: AtomicBool::new(true),
        });
        let mut conn = shared.connection().await?;
        check_version(&mut conn).await?;
        check_access(&mut conn, &shared.keys, shared.replicas > 0).await?;
        // Retention may have been lowered since the stream was written.
        while shared.housekeep(&mut conn).await? >= TRIM_BUDGET {}
        let start = last_generated_id(&mut conn, &shared.keys[0]).await?;
        let (epoch, _) = shared.epoch(&mut conn).await?;
        let (tx, _) = broadcast::channel(config.live_capacity.max(1));
        *lock(&shared.live) = Some(tx.clone());
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(tail(Arc::clone(&shared), tx, start, epoch, stop_rx));
        tracing::debug!(stream = %shared.keys[0], start = %start, "redis store opened");
        Ok(RedisStore {
            shared,
            stop,
            tail: Mutex::new(Some(task)),
        })
    }
}

impl Store for RedisStore {
    fn append(&self, mut update: Update) -> StoreFuture<'_, Entry> {
        Box::pin(async move {
            let gate = self.shared.gate.read().await;
            if *gate {
                return Err(StoreError::closed());
            }
            ensure_id(&mut update);
            let now_ms = self.shared.clock.now_ms();
            let cutoff = self.shared.retention.age_cutoff_ms(now_ms);
            // Serialising a list of strings cannot fail.
            let topics = serde_json::to_string(&update.topics).unwrap_or_else(|_| "[]".to_owned());
            let mut invocation = self.shared.append.prepare_invoke();
            for key in &self.shared.keys {
                invocation.key(key);
            }
            invocation
                .arg(self.shared.retention.max_entries())
                .arg(cutoff)
                .arg(TRIM_BUDGET)
                .arg(self.shared.retention.max_bytes())
                .arg("id")
                .arg(&update.id)
                .arg("ms")
                .arg(now_ms)
                .arg("topics")
                .arg(&topics)
                .arg("data")
                .arg(&update.data)
                .arg("private")
                .arg(if update.private { "1" } else { "0" });
            if let Some(t) = &update.event_type {
                invocation.arg("type").arg(t);
            }
            if let Some(r) = update.retry {
                invocation.arg("retry").arg(r);
            }
            // Not connected: nothing was sent, so nothing was stored.
            let mut conn = self.shared.connection().await?;
            if !self.is_available() {
                // Redis was unreachable a moment ago and the cached
                // connection may be dead: find out before the append is
                // sent, when a failure still means "not stored" (after
                // sending, it would be "outcome unknown").
                conn = self.shared.checked_connection(conn).await?;
            }
            let result = invocation.invoke_async(&mut conn).await;
            let answer: Value = match result {
                Err(e) if is_unanswered(&e) => {
                    // The script was sent (or may have been) and no answer
                    // came: Redis may run it, even later (a server that
                    // was paused). "Not stored" would make a retry store
                    // it twice; a retry with the same id is safe instead.
                    self.shared.connection_failed().await;
                    return Err(StoreError::outcome_unknown(
                        "appending to Redis",
                        Doubt::Unanswered,
                        update.id,
                        e,
                    ));
                }
                // An error reply: Redis refused the script, it did not run.
                result => self.shared.command(result, "appending to Redis").await?,
            };
            let entry = match answer {
                Value::Array(_) => parse_entry(&answer)?.into_duplicate(),
                sid => {
                    let sid = text(&sid).ok_or_else(|| {
                        StoreError::corrupt("the append script answered no stream id")
                    })?;
                    let position = sid.parse::<Position>().map_err(|_| {
                        StoreError::corrupt(format!("Redis assigned stream id {sid:?}"))
                    })?;
                    Entry::new(position, Arc::new(update))
                }
            };
            if !entry.is_duplicate() {
                let mut last = lock(&self.shared.last_appended);
                if last.is_none_or(|p| p < entry.position) {
                    *last = Some(entry.position);
                }
            }
            if self.shared.replicas > 0 {
                // A duplicate too: the first append may have been the one
                // whose replicas did not confirm. WAIT covers this
                // connection's writes, which include it when that append
                // went over the same connection.
                self.shared
                    .await_replicas(&mut conn, &entry.update.id)
                    .await?;
            }
            drop(gate);
            Ok(entry)
        })
    }

    fn replay(&self, cursor: Cursor, limit: usize) -> StoreFuture<'_, Replay> {
        Box::pin(async move {
            let gate = self.shared.gate.read().await;
            if *gate {
                return Err(StoreError::closed());
            }
            // One reply holds at most MAX_PAGE entries; `more` says when
            // the caller asked for more than that.
            let limit = limit.clamp(1, MAX_PAGE);
            let (kind, value) = match cursor {
                Cursor::Earliest => ("earliest", String::new()),
                Cursor::Newest => ("newest", String::new()),
                Cursor::Id(id) => ("id", id),
                Cursor::After(p) => ("after", p.to_string()),
            };
            let cutoff = self
                .shared
                .retention
                .age_cutoff_ms(self.shared.clock.now_ms());
            let mut invocation = self.shared.replay.prepare_invoke();
            for key in &self.shared.keys {
                invocation.key(key);
            }
            invocation
                .arg(kind)
                .arg(value)
                .arg(limit)
                .arg(self.shared.retention.max_entries())
                .arg(cutoff)
                .arg(self.shared.retention.max_bytes());
            let mut conn = self.shared.connection().await?;
            let mut result = invocation.invoke_async(&mut conn).await;
            if matches!(&result, Err(e) if is_connection_error(e)) {
                // A read can be repeated: the cached connection may have
                // died while Redis came back (a restart, a failover), and
                // one fresh attempt spares the client an error.
                *self.shared.conn.lock().await = None;
                let mut conn = self.shared.connection().await?;
                result = invocation.invoke_async(&mut conn).await;
            }
            let answer: Value = self.shared.command(result, "replaying from Redis").await?;
            drop(gate);
            parse_replay(answer)
        })
    }

    fn live(&self) -> LiveFeed {
        match &*lock(&self.shared.live) {
            Some(tx) => LiveFeed::with_gaps(tx.subscribe(), Arc::clone(&self.shared.gaps)),
            None => LiveFeed::closed(),
        }
    }

    fn close(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            // Waits for appends and replays in flight; later ones see it.
            *self.shared.gate.write().await = true;
            lock(&self.shared.live).take();
            self.stop.send_replace(true);
            let task = lock(&self.tail).take();
            if let Some(task) = task {
                // The task delivers what this store appended, then ends the
                // feeds by dropping its sender.
                task.await
                    .map_err(|e| StoreError::backend("stopping the tail task", e))?;
            }
            Ok(())
        })
    }

    fn is_available(&self) -> bool {
        self.shared.tail_ok.load(Ordering::Acquire)
            && self.shared.commands_ok.load(Ordering::Acquire)
    }
}

impl Shared {
    /// The command connection, connecting first when there is none.
    ///
    /// Bounded by the command timeout as a whole, including the wait for
    /// another caller's connection attempt: during an outage with a Redis
    /// that does not answer, publishers get their 503 after that long
    /// instead of queueing behind each other's attempts.
    async fn connection(&self) -> Result<MultiplexedConnection, StoreError> {
        match tokio::time::timeout(self.command_timeout, self.connect_once()).await {
            Ok(result) => result,
            Err(elapsed) => {
                self.commands_ok.store(false, Ordering::Release);
                Err(StoreError::backend("connecting to Redis", elapsed))
            }
        }
    }

    /// `conn` if it answers a `PING`, else a new connection (or the error
    /// of making one): the connection an append goes out on after Redis
    /// was unreachable. Nothing of the append has been sent when this
    /// fails.
    async fn checked_connection(
        &self,
        mut conn: MultiplexedConnection,
    ) -> Result<MultiplexedConnection, StoreError> {
        let ping = redis::cmd("PING").query_async::<Value>(&mut conn).await;
        match ping {
            Ok(_) => Ok(conn),
            Err(e) if is_connection_error(&e) => {
                self.conn.lock().await.take();
                self.connection().await
            }
            Err(e) => Err(StoreError::backend("checking the Redis connection", e)),
        }
    }

    async fn connect_once(&self) -> Result<MultiplexedConnection, StoreError> {
        let mut slot = self.conn.lock().await;
        if let Some(conn) = &*slot {
            return Ok(conn.clone());
        }
        match self.endpoint.connect(&self.command_config).await {
            Ok(conn) => {
                *slot = Some(conn.clone());
                Ok(conn)
            }
            Err(e) => {
                self.commands_ok.store(false, Ordering::Release);
                Err(StoreError::backend("connecting to Redis", e))
            }
        }
    }

    /// Records a command's outcome: a connection failure drops the
    /// connection (the next command reconnects) and marks Redis
    /// unreachable.
    async fn command<T>(
        &self,
        result: Result<T, RedisError>,
        context: &'static str,
    ) -> Result<T, StoreError> {
        match result {
            Ok(v) => {
                self.commands_ok.store(true, Ordering::Release);
                Ok(v)
            }
            Err(e) => {
                if is_connection_error(&e) {
                    self.connection_failed().await;
                }
                Err(StoreError::backend(context, e))
            }
        }
    }

    /// After a connection failure: marks Redis unreachable and drops the
    /// command connection, so the next command reconnects.
    async fn connection_failed(&self) {
        self.commands_ok.store(false, Ordering::Release);
        self.conn.lock().await.take();
    }

    /// After an append: waits until [`Shared::replicas`] replicas have
    /// every write of this connection so far (`WAIT`; other publishers'
    /// appends pipelined on the same connection are covered by one wait,
    /// so concurrent publishes share it).
    ///
    /// # Errors
    ///
    /// [`StoreError::is_outcome_unknown`] when fewer confirm in time or
    /// the connection breaks meanwhile: the update is on the primary, so
    /// "not stored" would be wrong, but a failover may lose it.
    async fn await_replicas(
        &self,
        conn: &mut MultiplexedConnection,
        id: &str,
    ) -> Result<(), StoreError> {
        let timeout_ms = u64::try_from(self.replica_timeout.as_millis()).unwrap_or(u64::MAX);
        let answer = redis::cmd("WAIT")
            .arg(self.replicas)
            .arg(timeout_ms)
            .query_async::<usize>(conn)
            .await;
        match answer {
            Ok(n) if n >= self.replicas => Ok(()),
            Ok(n) => Err(StoreError::outcome_unknown(
                "waiting for Redis replicas",
                Doubt::Unreplicated,
                id,
                format!(
                    "{n} of {} replicas confirmed it within {:?}",
                    self.replicas, self.replica_timeout
                ),
            )),
            Err(e) => {
                if is_connection_error(&e) {
                    self.commands_ok.store(false, Ordering::Release);
                    self.conn.lock().await.take();
                }
                Err(StoreError::outcome_unknown(
                    "waiting for Redis replicas",
                    Doubt::Unreplicated,
                    id,
                    e,
                ))
            }
        }
    }

    /// The history's epoch (recorded now with a fresh value when the
    /// history has none) and the stream's newest id ever assigned (`None`
    /// without a stream), read together (`epoch.lua`).
    async fn epoch(
        &self,
        conn: &mut MultiplexedConnection,
    ) -> Result<(String, Option<Position>), StoreError> {
        let mut invocation = self.epoch.prepare_invoke();
        for key in &self.keys {
            invocation.key(key);
        }
        invocation.arg(super::generate_id());
        let answer: Vec<Value> = invocation
            .invoke_async(conn)
            .await
            .map_err(|e| StoreError::backend("reading the history's epoch", e))?;
        let epoch = answer
            .first()
            .and_then(text)
            .ok_or_else(|| StoreError::corrupt("the epoch script answered no epoch"))?;
        let newest = match answer.get(1) {
            None | Some(Value::Nil) | Some(Value::Int(0)) | Some(Value::Boolean(false)) => None,
            Some(v) => position(v)?,
        };
        Ok((epoch, newest))
    }

    /// Applies retention once (at most [`TRIM_BUDGET`] evictions); returns
    /// how many entries were evicted.
    async fn housekeep(&self, conn: &mut MultiplexedConnection) -> Result<usize, StoreError> {
        let cutoff = self.retention.age_cutoff_ms(self.clock.now_ms());
        let mut invocation = self.trim.prepare_invoke();
        for key in &self.keys {
            invocation.key(key);
        }
        invocation
            .arg(self.retention.max_entries())
            .arg(cutoff)
            .arg(TRIM_BUDGET)
            .arg(self.retention.max_bytes());
        invocation
            .invoke_async(conn)
            .await
            .map_err(|e| StoreError::backend("trimming the Redis stream", e))
    }
}

/// Errors after which the connection is not worth keeping: it is broken,
/// or it reaches a server that can no longer take writes (a primary that
/// was demoted by a failover: a new connection to the same address may
/// reach the new primary) or is still loading its data.
fn is_connection_error(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_timeout()
        || e.is_connection_refusal()
        || matches!(
            e.kind(),
            redis::ErrorKind::ReadOnly | redis::ErrorKind::BusyLoadingError
        )
}

/// Errors that leave a sent command's outcome unknown: no answer came (the
/// connection broke or timed out), as opposed to an error reply, which
/// means the command did not run.
fn is_unanswered(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_timeout()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing panics while holding these locks with their data half
    // updated, so a poisoned lock's data is still consistent.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where the store connects: one server, or the primary the sentinels name.
enum Endpoint {
    Direct(Client),
    Sentinel(Sentinel),
}

impl Endpoint {
    /// `tls_files` are the loaded [`RedisTls`] files; `tls_set` says
    /// whether any was given (checked against the scheme even when they
    /// are not loaded yet).
    fn new(
        url: &str,
        tls_files: Option<redis::TlsCertificates>,
        tls_set: bool,
    ) -> Result<Endpoint, StoreError> {
        if is_sentinel_url(url) {
            if tls_set && !url.starts_with("rediss+") {
                return Err(StoreError::backend(
                    "parsing the Redis URL",
                    "ca=, cert= and key= need TLS: use rediss+sentinel://",
                ));
            }
            return Sentinel::parse(url, tls_files).map(Endpoint::Sentinel);
        }
        let client = if tls_set && !url.starts_with("rediss://") {
            return Err(StoreError::backend(
                "parsing the Redis URL",
                "ca=, cert= and key= need TLS: use rediss://",
            ));
        } else if let Some(files) = tls_files {
            Client::build_with_tls(url, files)
        } else {
            Client::open(url)
        };
        client
            .map(Endpoint::Direct)
            .map_err(|e| StoreError::backend("parsing the Redis URL", e))
    }

    /// A new connection: to the server, or to the primary the sentinels
    /// name now (verified to be a primary).
    async fn connect(
        &self,
        config: &AsyncConnectionConfig,
    ) -> Result<MultiplexedConnection, RedisError> {
        match self {
            Endpoint::Direct(client) => {
                client
                    .get_multiplexed_async_connection_with_config(config)
                    .await
            }
            Endpoint::Sentinel(sentinel) => sentinel.connect(config).await,
        }
    }
}

/// Checks that the Redis user may run every command the store needs on
/// its keys (Redis ACLs, `redis.acl_check_cmd`, 7.0+), so that a missing
/// permission fails at start-up, named, rather than at the first publish.
///
/// # Errors
///
/// [`StoreError::is_backend`] naming the commands the user may not run
/// (or, when it may not even run the check, naming `EVALSHA` / `SCRIPT`).
async fn check_access(
    conn: &mut MultiplexedConnection,
    keys: &[String; 4],
    waits: bool,
) -> Result<(), StoreError> {
    const NEEDED: &str = "see \"Commands the hub needs\" in docs/deploy.md";
    let script = Script::new(include_str!("access.lua"));
    let mut invocation = script.prepare_invoke();
    for key in keys {
        invocation.key(key);
    }
    invocation.arg(if waits { "1" } else { "0" });
    match invocation.invoke_async::<Vec<String>>(conn).await {
        Ok(denied) if denied.is_empty() => Ok(()),
        Ok(denied) => Err(StoreError::backend(
            "checking the Redis user's permissions",
            format!(
                "the Redis user may not run {} (ACL); {NEEDED}",
                denied.join(", ")
            ),
        )),
        Err(e) if e.code() == Some("NOPERM") => Err(StoreError::backend(
            "checking the Redis user's permissions",
            format!(
                "the Redis user may not run the store's scripts: {e} (they need EVALSHA, \
                 SCRIPT LOAD and the keys {}, {}, {}, {}); {NEEDED}",
                keys[0], keys[1], keys[2], keys[3]
            ),
        )),
        Err(e) => Err(StoreError::backend(
            "checking the Redis user's permissions",
            e,
        )),
    }
}

/// Refuses a Redis older than 7.0.
async fn check_version(conn: &mut MultiplexedConnection) -> Result<(), StoreError> {
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(conn)
        .await
        .map_err(|e| StoreError::backend("connecting to Redis", e))?;
    let version = info
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .unwrap_or("")
        .trim();
    let major = version
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    match major {
        Some(m) if m >= 7 => Ok(()),
        _ => Err(StoreError::backend(
            "checking the Redis version",
            format!("Redis {version:?} is too old: 7.0 or newer is needed"),
        )),
    }
}

/// The newest id the stream ever assigned (`0-0` for a stream that does
/// not exist yet).
async fn last_generated_id(
    conn: &mut MultiplexedConnection,
    stream: &str,
) -> Result<Position, StoreError> {
    Ok(stream_info(conn, stream, "last-generated-id")
        .await?
        .unwrap_or(Position::ZERO))
}

/// A stream id that `XINFO STREAM` reports (`last-generated-id`,
/// `max-deleted-entry-id`); `None` when the stream does not exist.
async fn stream_info(
    conn: &mut MultiplexedConnection,
    stream: &str,
    field: &str,
) -> Result<Option<Position>, StoreError> {
    let exists: bool = redis::cmd("EXISTS")
        .arg(stream)
        .query_async(conn)
        .await
        .map_err(|e| StoreError::backend("reading the Redis stream", e))?;
    if !exists {
        return Ok(None);
    }
    let info: Value = redis::cmd("XINFO")
        .arg("STREAM")
        .arg(stream)
        .query_async(conn)
        .await
        .map_err(|e| StoreError::backend("reading the Redis stream", e))?;
    let pairs: Vec<(String, Value)> = match info {
        Value::Array(items) => items
            .chunks_exact(2)
            .filter_map(|c| text(&c[0]).map(|k| (k, c[1].clone())))
            .collect(),
        Value::Map(items) => items
            .into_iter()
            .filter_map(|(k, v)| text(&k).map(|k| (k, v)))
            .collect(),
        _ => Vec::new(),
    };
    pairs
        .iter()
        .find(|(k, _)| k == field)
        .and_then(|(_, v)| text(v))
        .and_then(|s| s.parse::<Position>().ok())
        .map(Some)
        .ok_or_else(|| StoreError::corrupt(format!("XINFO STREAM gave no {field}")))
}

/// A bulk or simple string as UTF-8.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        _ => None,
    }
}

/// An optional stream id (`Nil` for none).
fn position(v: &Value) -> Result<Option<Position>, StoreError> {
    match v {
        Value::Nil => Ok(None),
        other => text(other)
            .and_then(|s| s.parse::<Position>().ok())
            .map(Some)
            .ok_or_else(|| StoreError::corrupt("a stream id that is not <ms>-<seq>")),
    }
}

fn parse_replay(answer: Value) -> Result<Replay, StoreError> {
    let Value::Array(items) = answer else {
        return Err(StoreError::corrupt("the replay script answered a non-list"));
    };
    if items.len() < 5 {
        return Err(StoreError::corrupt("the replay script answered too little"));
    }
    let complete = int(&items[0]) == Some(1);
    let after = position(&items[1])?;
    let newest = position(&items[2])?;
    let more = int(&items[3]) == Some(1);
    let at = match &items[4] {
        Value::Nil => None,
        entry => Some(parse_entry(entry)?.update),
    };
    let entries = items[5..]
        .iter()
        .map(parse_entry)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Replay {
        entries,
        complete,
        more,
        after,
        newest,
        at,
    })
}

/// One stream entry as `XRANGE` / `XREAD` give it: `[id, [field, value,
/// ...]]`.
fn parse_entry(v: &Value) -> Result<Entry, StoreError> {
    let Value::Array(parts) = v else {
        return Err(StoreError::corrupt("a stream entry that is not a list"));
    };
    let (Some(sid), Some(Value::Array(fields))) = (parts.first(), parts.get(1)) else {
        return Err(StoreError::corrupt("a stream entry without id and fields"));
    };
    let position =
        position(sid)?.ok_or_else(|| StoreError::corrupt("a stream entry without an id"))?;
    let bad = |what: &str| StoreError::corrupt(format!("stream entry {position}: {what}"));
    let mut id = None;
    let mut topics = None;
    let mut data = None;
    let mut private = false;
    let mut event_type = None;
    let mut retry = None;
    for pair in fields.chunks_exact(2) {
        let (Some(name), Some(value)) = (text(&pair[0]), text(&pair[1])) else {
            return Err(bad("a field that is not UTF-8 text"));
        };
        match name.as_str() {
            "id" => id = Some(value),
            "topics" => {
                topics = Some(
                    serde_json::from_str::<Vec<String>>(&value)
                        .map_err(|_| bad("topics are not a JSON list of strings"))?,
                )
            }
            "data" => data = Some(value),
            "private" => private = value == "1",
            "type" => event_type = Some(value),
            "retry" => retry = Some(value.parse::<u64>().map_err(|_| bad("retry"))?),
            // `ms` is read by the scripts; unknown fields are for newer
            // versions and are ignored.
            _ => {}
        }
    }
    let (Some(id), Some(topics), Some(data)) = (id, topics, data) else {
        return Err(bad("missing id, topics or data"));
    };
    Ok(Entry::new(
        position,
        Arc::new(Update {
            id,
            topics,
            data,
            private,
            event_type,
            retry,
        }),
    ))
}

/// The entries of an `XREAD` answer on one stream (`Nil` on timeout).
fn xread_entries(answer: Value) -> Result<Vec<Value>, StoreError> {
    let streams = match answer {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams,
        Value::Map(streams) => streams
            .into_iter()
            .map(|(k, v)| Value::Array(vec![k, v]))
            .collect(),
        _ => return Err(StoreError::corrupt("XREAD answered a non-list")),
    };
    let mut out = Vec::new();
    for stream in streams {
        if let Value::Array(mut pair) = stream {
            if pair.len() == 2 {
                if let Value::Array(entries) = pair.swap_remove(1) {
                    out.extend(entries);
                }
            }
        }
    }
    Ok(out)
}

/// Capped exponential backoff between reconnection attempts.
struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    fn new(max: Duration) -> Self {
        Backoff {
            next: MIN_BACKOFF,
            max,
        }
    }

    fn reset(&mut self) {
        self.next = MIN_BACKOFF;
    }

    fn delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }
}

/// The tail task: reads the stream after `last` and feeds `tx` until told
/// to stop, reconnecting after failures; then delivers what this store
/// appended and ends the feeds (by dropping `tx`).
async fn tail(
    shared: Arc<Shared>,
    tx: broadcast::Sender<Entry>,
    mut last: Position,
    mut epoch: String,
    mut stop: watch::Receiver<bool>,
) {
    let mut conn: Option<MultiplexedConnection> = None;
    let mut backoff = Backoff::new(shared.max_backoff);
    let mut last_housekeeping = Instant::now();
    loop {
        if *stop.borrow() {
            break;
        }
        let mut c = match conn.take() {
            Some(c) => c,
            None => {
                let connect = shared.endpoint.connect(&shared.tail_config);
                let result = tokio::select! {
                    r = connect => r,
                    _ = stop.changed() => break,
                };
                match result {
                    Ok(mut c) => {
                        // Connected: Redis is reachable (a Redis still
                        // loading its data fails the XREAD below at once,
                        // which marks it unreachable again).
                        if !shared.tail_ok.swap(true, Ordering::AcqRel) {
                            tracing::info!(after = %last, "Redis is reachable again; tailing resumes");
                            // The command connection most likely died in
                            // the same outage: let the next command open
                            // a fresh one instead of failing on the old.
                            *shared.conn.lock().await = None;
                            restart_if_reset(&shared, &mut c, &mut last, &mut epoch, &tx).await;
                            if evicted_after(&mut c, &shared.keys[0], last).await {
                                shared.gaps.fetch_add(1, Ordering::AcqRel);
                            }
                        }
                        shared.commands_ok.store(true, Ordering::Release);
                        c
                    }
                    Err(e) => {
                        if shared.tail_ok.swap(false, Ordering::AcqRel) {
                            tracing::error!(error = %e, "Redis is unreachable; retrying");
                        }
                        if wait(&mut stop, backoff.delay()).await {
                            break;
                        }
                        continue;
                    }
                }
            }
        };
        let block_ms = u64::try_from(shared.block.as_millis()).unwrap_or(u64::MAX);
        let mut xread = redis::cmd("XREAD");
        xread
            .arg("COUNT")
            .arg(shared.read_batch)
            .arg("BLOCK")
            .arg(block_ms)
            .arg("STREAMS")
            .arg(&shared.keys[0])
            .arg(last.to_string());
        let read = xread.query_async::<Value>(&mut c);
        let result = tokio::select! {
            r = read => r,
            _ = stop.changed() => break,
        };
        match result {
            Ok(answer) => {
                if !shared.tail_ok.swap(true, Ordering::AcqRel) {
                    tracing::info!(after = %last, "Redis is reachable again; tailing resumes");
                }
                // Redis answers: the command connection reconnects at the
                // next command, so health must not wait for a publish.
                shared.commands_ok.store(true, Ordering::Release);
                backoff.reset();
                match xread_entries(answer) {
                    Ok(entries) if entries.is_empty() => {
                        // Idle for a whole `block`: the moment to look for
                        // a reset that this read cannot see (a new
                        // history whose ids are all below `last`).
                        restart_if_reset(&shared, &mut c, &mut last, &mut epoch, &tx).await;
                    }
                    Ok(entries) => {
                        for raw in &entries {
                            forward(raw, &mut last, &tx);
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "unreadable XREAD answer"),
                }
                if shared.retention.max_age().is_some()
                    && last_housekeeping.elapsed() >= HOUSEKEEPING_INTERVAL
                {
                    last_housekeeping = Instant::now();
                    if let Err(e) = shared.housekeep(&mut c).await {
                        tracing::warn!(error = %e, "age retention failed; retried later");
                    }
                }
                conn = Some(c);
            }
            Err(e) => {
                if shared.tail_ok.swap(false, Ordering::AcqRel) {
                    tracing::error!(error = %e, after = %last, "lost Redis while tailing; reconnecting");
                }
                // `conn` stays None: the next round reconnects.
                if wait(&mut stop, backoff.delay()).await {
                    break;
                }
            }
        }
    }
    drain(&shared, &mut last, &tx).await;
}

/// Detects a history reset that `XREAD` after `last` cannot see, and starts
/// the feed again on the new history.
///
/// The history's epoch is a random value recorded with it (`epoch.lua`):
/// deleted with it (`FLUSHALL`, a restart without persistence), kept by a
/// failover and a restart from disk. A new epoch means another history.
/// Its ids normally continue above `last` (one clock that moved on):
/// reading after `last` yields all of it, in its order, after what was fed
/// from the old one, and nothing needs doing. When the stream's newest id
/// ever assigned is below `last` (the old ids came from a clock ahead of
/// this Redis's: a failover to a machine whose clock is behind, a clock
/// set back), reading after `last` would skip every entry of it until the
/// clock passes `last`. So: the feeds get
/// [`RESET_MARKER`](super::RESET_MARKER) (consumers start their position
/// comparisons again, see [`StoreError::is_reset`]) and the task reads the
/// new history from its first entry. Nothing of it was fed before (every
/// id fed is above all of it), so nothing is fed twice.
///
/// The same epoch with a newest id below `last` is the same history that
/// lost its newest entries (a failover to a replica that lagged, a restart
/// from an older copy): what it kept was fed already, so reading goes on
/// after `last`, as before.
///
/// A failed check is logged and retried at the next idle read.
async fn restart_if_reset(
    shared: &Shared,
    conn: &mut MultiplexedConnection,
    last: &mut Position,
    epoch: &mut String,
    tx: &broadcast::Sender<Entry>,
) {
    let (now, newest) = match shared.epoch(conn).await {
        Ok(answer) => answer,
        Err(e) => {
            tracing::warn!(error = %e, "could not check the Redis history for a reset");
            return;
        }
    };
    if now == *epoch {
        return;
    }
    let Some(newest) = newest else {
        // A new history without a stream yet: checked again (against the
        // old epoch) once it has one.
        return;
    };
    *epoch = now;
    if newest >= *last {
        tracing::warn!(
            after = %last,
            "the Redis history was deleted and started again; its ids continue above the \
             ones delivered, so live streams go on"
        );
        return;
    }
    tracing::error!(
        fed_up_to = %last,
        stream_newest = %newest,
        "the Redis history was deleted and started again with ids below the ones already \
         delivered: live streams continue with the new history from its start"
    );
    *last = Position::ZERO;
    *lock(&shared.last_appended) = None;
    // No receiver is not an error: nobody is listening yet.
    let _ = tx.send(Entry::new(
        super::RESET_MARKER,
        Arc::new(Update {
            id: String::new(),
            topics: Vec::new(),
            data: String::new(),
            private: false,
            event_type: None,
            retry: None,
        }),
    ));
}

/// After an outage: whether entries after `last` were evicted meanwhile
/// (other nodes kept publishing past the history size while this one was
/// cut off). The feed cannot deliver those; the caller marks a gap, and
/// this says so loudly, since this node's subscribers have to resume.
async fn evicted_after(conn: &mut MultiplexedConnection, stream: &str, last: Position) -> bool {
    match stream_info(conn, stream, "max-deleted-entry-id").await {
        Ok(Some(deleted)) if deleted > last => {
            tracing::error!(
                after = %last,
                evicted_up_to = %deleted,
                "updates were evicted from history while this node was cut off from Redis; \
                 its subscribers resume without them (raise --history-size)"
            );
            true
        }
        _ => false,
    }
}

/// Sends one raw stream entry to the feed and advances `last`. An entry
/// this version cannot read is skipped (logged); replays report it as
/// corrupt.
fn forward(raw: &Value, last: &mut Position, tx: &broadcast::Sender<Entry>) {
    match parse_entry(raw) {
        Ok(entry) => {
            if entry.position > *last {
                *last = entry.position;
                // No receiver is not an error: nobody is listening yet.
                let _ = tx.send(entry);
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "skipping an unreadable stream entry");
            if let Value::Array(parts) = raw {
                if let Some(Ok(Some(p))) = parts.first().map(position) {
                    *last = (*last).max(p);
                }
            }
        }
    }
}

/// Sleeps `delay` unless told to stop first; `true` when told to stop.
async fn wait(stop: &mut watch::Receiver<bool>, delay: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

/// At close: delivers the entries after `last` up to the newest one this
/// store appended, so that every acknowledged append reaches the feeds.
/// Best effort when Redis is gone (logged).
async fn drain(shared: &Shared, last: &mut Position, tx: &broadcast::Sender<Entry>) {
    let Some(until) = *lock(&shared.last_appended) else {
        return;
    };
    let mut conn = match shared.connection().await {
        Ok(c) => c,
        Err(e) => {
            if *last < until {
                tracing::warn!(error = %e, "closing: could not deliver the last appends to live feeds");
            }
            return;
        }
    };
    while *last < until {
        let page = redis::cmd("XRANGE")
            .arg(&shared.keys[0])
            .arg(format!("({last}"))
            .arg(until.to_string())
            .arg("COUNT")
            .arg(shared.read_batch)
            .query_async::<Vec<Value>>(&mut conn)
            .await;
        match page {
            Ok(entries) if !entries.is_empty() => {
                for raw in &entries {
                    forward(raw, last, tx);
                }
            }
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "closing: could not deliver the last appends to live feeds");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parameters() {
        let c = RedisConfig::from_url("redis://127.0.0.1:6379/2?prefix=hub-1").expect("url");
        assert_eq!(c.url, "redis://127.0.0.1:6379/2");
        assert_eq!(c.prefix, "hub-1");
        assert_eq!(
            RedisConfig::from_url("redis://h").expect("url").prefix,
            "sse"
        );
        let c = RedisConfig::from_url(
            "rediss://h:6380?ca=/ca.pem&cert=/c.pem&key=/k.pem&replicas=2&replica_timeout_ms=250",
        )
        .expect("tls url");
        assert_eq!(c.url, "rediss://h:6380");
        assert_eq!(
            c.tls.ca_file.as_deref(),
            Some(std::path::Path::new("/ca.pem"))
        );
        assert_eq!(
            (c.replicas, c.replica_timeout),
            (2, Duration::from_millis(250))
        );
        // Sentinel: the replica wait is on by default, and can be turned off.
        let s = RedisConfig::from_url("redis+sentinel://s1:26379,s2/primary").expect("sentinel");
        assert_eq!(s.replicas, 1);
        let s = RedisConfig::from_url("redis+sentinel://s1/primary?replicas=0").expect("sentinel");
        assert_eq!(s.replicas, 0);
        assert_eq!(RedisConfig::from_url("redis://h").expect("url").replicas, 0);
        for bad in [
            "redis://h?ca=/ca.pem",
            "redis+sentinel://s/m?ca=/ca.pem",
            "redis+sentinel://s",
            "redis://h?replicas=x",
            "redis://h?replica_timeout_ms=0",
            "redis://h?prefix=",
            "redis://h?prefix=a b",
            "redis://h?db=3",
            "http://h",
        ] {
            let err = RedisConfig::from_url(bad).expect_err(bad);
            assert!(err.is_backend(), "{bad}: {err}");
        }
    }

    #[test]
    fn credentials_never_show() {
        let c = RedisConfig::new("redis://user:s3cret@redis.internal:6379/1");
        assert_eq!(c.redacted_url(), "redis://***@redis.internal:6379/1");
        assert!(!format!("{c:?}").contains("s3cret"));
        let plain = RedisConfig::new("redis://127.0.0.1:6379");
        assert_eq!(plain.redacted_url(), "redis://127.0.0.1:6379");
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let mut b = Backoff::new(Duration::from_millis(300));
        let delays: Vec<u128> = (0..5).map(|_| b.delay().as_millis()).collect();
        assert_eq!(delays, [50, 100, 200, 300, 300]);
        b.reset();
        assert_eq!(b.delay(), MIN_BACKOFF);
    }

    #[test]
    fn entries_parse_and_refuse_garbage() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let raw = Value::Array(vec![
            bulk("1700000000000-3"),
            Value::Array(vec![
                bulk("id"),
                bulk("a"),
                bulk("ms"),
                bulk("1"),
                bulk("topics"),
                bulk("[\"t\"]"),
                bulk("data"),
                bulk("d"),
                bulk("private"),
                bulk("1"),
                bulk("retry"),
                bulk("7"),
            ]),
        ]);
        let e = parse_entry(&raw).expect("entry");
        assert_eq!(e.position, Position::new(1_700_000_000_000, 3));
        assert_eq!(e.update.id, "a");
        assert_eq!(e.update.topics, ["t"]);
        assert!(e.update.private);
        assert_eq!(e.update.retry, Some(7));
        assert_eq!(e.update.event_type, None);
        for garbage in [
            Value::Nil,
            Value::Array(vec![bulk("x-1"), Value::Array(vec![])]),
            Value::Array(vec![bulk("1-1"), Value::Array(vec![bulk("id"), bulk("a")])]),
            Value::Array(vec![
                bulk("1-1"),
                Value::Array(vec![
                    bulk("id"),
                    bulk("a"),
                    bulk("topics"),
                    bulk("{}"),
                    bulk("data"),
                    bulk(""),
                ]),
            ]),
            Value::Array(vec![
                bulk("1-1"),
                Value::Array(vec![bulk("id"), Value::BulkString(vec![0xff])]),
            ]),
        ] {
            assert!(parse_entry(&garbage).expect_err("garbage").is_corrupt());
        }
    }
}
