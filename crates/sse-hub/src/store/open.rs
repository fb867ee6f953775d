//! [`open`]: a store from a URL (a DSN), the way an operator names one:
//! `sqlite://PATH` (the default backend), `memory://`, and with the
//! `redis` feature `redis://`, `rediss://`, `redis+sentinel://` and
//! `rediss+sentinel://` (see [`RedisConfig::from_url`]).
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use sse_hub::store::{open, Cursor, Dsn, Retention};
//!
//! let store = open("memory://", Retention::new(100)).await.unwrap();
//! assert!(store.replay(Cursor::Earliest, 10).await.unwrap().entries.is_empty());
//! let dsn: Dsn = "sqlite://./data/hub.sqlite3".parse().unwrap();
//! assert_eq!(dsn.sqlite_path(), Some(std::path::Path::new("./data/hub.sqlite3")));
//! assert!("postgres://db".parse::<Dsn>().unwrap_err().is_unknown_scheme());
//! # });
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use super::{MemoryConfig, MemoryStore, Retention, SqliteConfig, SqliteStore, Store, StoreError};
#[cfg(feature = "redis")]
use super::{RedisConfig, RedisStore};

/// The schemes of the Redis backend, whether or not it is compiled in (so
/// that a build without it says why instead of "unknown scheme").
const REDIS_SCHEMES: [&str; 4] = [
    "redis://",
    "rediss://",
    "redis+sentinel://",
    "rediss+sentinel://",
];

/// A parsed store URL, checked before anything is opened (a typo fails at
/// start-up, not at the first publish).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Dsn {
    /// `sqlite://PATH`: the embedded SQLite backend, a file on this node.
    Sqlite(PathBuf),
    /// `memory://`: history in memory, lost on exit.
    Memory,
    /// A Redis stream shared by every node with the same Redis and key
    /// prefix.
    #[cfg(feature = "redis")]
    Redis(Box<RedisConfig>),
}

impl Dsn {
    /// Parses a store URL.
    ///
    /// # Errors
    /// An unknown scheme, `sqlite://` without a path, a Redis URL with a
    /// bad parameter, a Redis URL when the `redis` feature is off.
    pub fn parse(url: &str) -> Result<Dsn, OpenError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(OpenError::new(Inner::MissingPath));
            }
            return Ok(Dsn::Sqlite(PathBuf::from(path)));
        }
        if url == "memory://" || url == "memory:" {
            return Ok(Dsn::Memory);
        }
        if let Some(scheme) = REDIS_SCHEMES.iter().find(|s| url.starts_with(**s)) {
            return Self::redis(scheme, url);
        }
        // The URL is not echoed: a store URL may carry a password.
        let scheme = url.split_once("://").map_or("", |(s, _)| s);
        Err(OpenError::new(Inner::UnknownScheme {
            scheme: scheme.chars().take(32).collect(),
        }))
    }

    #[cfg(feature = "redis")]
    fn redis(scheme: &'static str, url: &str) -> Result<Dsn, OpenError> {
        RedisConfig::from_url(url)
            .map(|c| Dsn::Redis(Box::new(c)))
            .map_err(|source| OpenError::new(Inner::InvalidRedis { scheme, source }))
    }

    #[cfg(not(feature = "redis"))]
    fn redis(scheme: &'static str, _url: &str) -> Result<Dsn, OpenError> {
        Err(OpenError::new(Inner::NoRedis { scheme }))
    }

    /// The database file, for the SQLite backend (a program may keep its
    /// own files beside it).
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Dsn::Sqlite(path) => Some(path),
            _ => None,
        }
    }

    /// Whether history outlives the process (every backend but memory).
    pub fn is_durable(&self) -> bool {
        !matches!(self, Dsn::Memory)
    }

    /// Opens the store, keeping `retention`.
    ///
    /// # Errors
    /// The backend's: a SQLite file that cannot be created or read, a
    /// Redis that cannot be reached. The error says which store (with a
    /// Redis password hidden).
    pub async fn open(&self, retention: Retention) -> Result<Arc<dyn Store>, OpenError> {
        let failed = |source| {
            OpenError::new(Inner::Store {
                store: self.to_string(),
                source,
            })
        };
        Ok(match self {
            Dsn::Sqlite(path) => Arc::new(
                SqliteStore::open(SqliteConfig {
                    retention,
                    ..SqliteConfig::new(path)
                })
                .map_err(failed)?,
            ),
            Dsn::Memory => Arc::new(MemoryStore::new(MemoryConfig {
                retention,
                ..MemoryConfig::default()
            })),
            #[cfg(feature = "redis")]
            Dsn::Redis(config) => {
                let config = RedisConfig {
                    retention,
                    ..(**config).clone()
                };
                Arc::new(RedisStore::open(config).await.map_err(failed)?)
            }
        })
    }
}

impl FromStr for Dsn {
    type Err = OpenError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        Dsn::parse(url)
    }
}

impl fmt::Display for Dsn {
    /// What an operator reads in a banner or a log line: the backend, the
    /// place, and for Redis the key prefix and replica wait; passwords
    /// hidden.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dsn::Sqlite(path) => write!(f, "sqlite {}", path.display()),
            Dsn::Memory => f.write_str("memory (history is lost on exit)"),
            #[cfg(feature = "redis")]
            Dsn::Redis(c) => {
                write!(f, "redis {} (keys {}:*", c.redacted_url(), c.prefix)?;
                if c.replicas > 0 {
                    write!(
                        f,
                        ", publishes acknowledged once {} replica(s) have them",
                        c.replicas
                    )?;
                }
                f.write_str(")")
            }
        }
    }
}

/// Parses `url` and opens that store with `retention`: [`Dsn::parse`] then
/// [`Dsn::open`].
///
/// # Errors
/// Those of both.
pub async fn open(url: &str, retention: Retention) -> Result<Arc<dyn Store>, OpenError> {
    Dsn::parse(url)?.open(retention).await
}

/// A store URL that could not be parsed, or a store that could not be
/// opened.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct OpenError {
    inner: Inner,
}

#[derive(Debug, thiserror::Error)]
enum Inner {
    #[error("sqlite:// needs a file path, e.g. sqlite://./sse-data/hub.sqlite3")]
    MissingPath,
    #[error(
        "unknown store scheme {scheme:?}: use sqlite://PATH, memory://, or redis://HOST:PORT[/DB] \
         (or rediss://, redis+sentinel://)"
    )]
    UnknownScheme { scheme: String },
    #[cfg(feature = "redis")]
    #[error(
        "invalid {scheme}… store URL; use redis://HOST:PORT[/DB][?prefix=NAME] (rediss:// and \
         redis+sentinel:// take more parameters)"
    )]
    InvalidRedis {
        scheme: &'static str,
        #[source]
        source: StoreError,
    },
    #[cfg(not(feature = "redis"))]
    #[error("{scheme}… needs sse-hub's `redis` feature, which this build was made without")]
    NoRedis { scheme: &'static str },
    #[error("cannot open the store {store}")]
    Store {
        store: String,
        #[source]
        source: StoreError,
    },
}

impl OpenError {
    fn new(inner: Inner) -> Self {
        OpenError { inner }
    }

    /// The URL's scheme is none of the backends'.
    pub fn is_unknown_scheme(&self) -> bool {
        matches!(self.inner, Inner::UnknownScheme { .. })
    }

    /// The URL names a backend but is not valid for it (`sqlite://`
    /// without a path, a bad Redis parameter), or names a backend this
    /// build has not compiled in.
    pub fn is_invalid_url(&self) -> bool {
        match &self.inner {
            Inner::MissingPath => true,
            #[cfg(feature = "redis")]
            Inner::InvalidRedis { .. } => true,
            #[cfg(not(feature = "redis"))]
            Inner::NoRedis { .. } => true,
            Inner::UnknownScheme { .. } | Inner::Store { .. } => false,
        }
    }

    /// The URL named a backend this build has not compiled in (Redis
    /// without the `redis` feature).
    pub fn is_feature_missing(&self) -> bool {
        #[cfg(not(feature = "redis"))]
        if matches!(self.inner, Inner::NoRedis { .. }) {
            return true;
        }
        false
    }

    /// The URL was fine; the backend failed to open (see the source).
    pub fn is_store(&self) -> bool {
        matches!(self.inner, Inner::Store { .. })
    }

    /// The backend's error, when [`is_store`](Self::is_store) or a Redis
    /// URL was refused.
    pub fn store_error(&self) -> Option<&StoreError> {
        match &self.inner {
            Inner::Store { source, .. } => Some(source),
            #[cfg(feature = "redis")]
            Inner::InvalidRedis { source, .. } => Some(source),
            _ => None,
        }
    }
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<OpenError>();
};

#[cfg(test)]
mod tests {
    use super::super::Cursor;
    use super::*;

    #[test]
    fn urls_parse_to_backends() {
        assert!(matches!(Dsn::parse("memory://"), Ok(Dsn::Memory)));
        assert!(
            matches!(Dsn::parse("sqlite://./x.db"), Ok(Dsn::Sqlite(p)) if p == Path::new("./x.db"))
        );
        let err = Dsn::parse("sqlite://").unwrap_err();
        assert!(err.is_invalid_url() && !err.is_unknown_scheme());
        assert!(err.to_string().contains("needs a file path"), "{err}");
        let err = Dsn::parse("postgres://user:pw@db").unwrap_err();
        assert!(err.is_unknown_scheme(), "{err}");
        assert!(
            !err.to_string().contains("pw"),
            "a password is never echoed: {err}"
        );
        assert_eq!(
            Dsn::parse("sqlite://a/b").unwrap().to_string(),
            "sqlite a/b"
        );
    }

    #[cfg(feature = "redis")]
    #[test]
    fn redis_urls_parse_with_their_parameters() {
        assert!(matches!(
            Dsn::parse("redis://127.0.0.1:6380/2?prefix=hub").unwrap(),
            Dsn::Redis(c) if c.url == "redis://127.0.0.1:6380/2" && c.prefix == "hub"
        ));
        let err = Dsn::parse("redis://127.0.0.1?db=2").unwrap_err();
        assert!(err.is_invalid_url() && err.store_error().is_some());
        assert!(format!("{err}").contains("prefix=NAME"), "{err}");
        let sentinel = Dsn::parse("redis+sentinel://s1:26379,s2:26379/primary?prefix=hub").unwrap();
        assert!(matches!(&sentinel, Dsn::Redis(c) if c.replicas == 1 && c.prefix == "hub"));
        assert!(sentinel.to_string().contains("replica(s)"), "{sentinel}");
        assert!(matches!(
            Dsn::parse("rediss://r:6380/0?ca=/etc/ca.pem").unwrap(),
            Dsn::Redis(c) if c.tls.ca_file.is_some()
        ));
        let shown = Dsn::parse("redis://:secret@r:6379").unwrap().to_string();
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[cfg(not(feature = "redis"))]
    #[test]
    fn redis_urls_say_the_feature_is_missing() {
        let err = Dsn::parse("redis://127.0.0.1").unwrap_err();
        assert!(err.is_feature_missing() && err.is_invalid_url(), "{err}");
        assert!(err.to_string().contains("`redis` feature"), "{err}");
    }

    #[tokio::test]
    async fn sqlite_and_memory_open_with_the_retention_given() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("hub.sqlite3").display());
        for url in [url.as_str(), "memory://"] {
            let store = open(url, Retention::new(2)).await.unwrap();
            for n in 0..3 {
                let update = crate::Update {
                    id: format!("urn:id{n}"),
                    topics: vec!["urn:t".to_owned()],
                    data: String::new(),
                    private: false,
                    event_type: None,
                    retry: None,
                };
                store.append(update).await.unwrap();
            }
            let kept = store.replay(Cursor::Earliest, 10).await.unwrap();
            let ids: Vec<_> = kept.entries.iter().map(|e| e.update.id.as_str()).collect();
            assert_eq!(ids, ["urn:id1", "urn:id2"], "{url}: retention of 2");
            store.close().await.unwrap();
        }
        let blocked = dir.path().join("file");
        std::fs::write(&blocked, b"").unwrap();
        let url = format!("sqlite://{}/hub.sqlite3", blocked.display());
        let err = open(&url, Retention::new(2)).await.err().unwrap();
        assert!(err.is_store() && err.store_error().is_some(), "{err}");
        assert!(
            err.to_string().contains("cannot open the store sqlite"),
            "{err}"
        );
    }
}
