//! Finding the primary through Redis Sentinel:
//! `redis+sentinel://[user:password@]host1[:port],host2[:port]/master[/db]`
//! (`rediss+sentinel://` for TLS to the sentinels and the nodes).
//!
//! Every new connection (the store's command connection, its tail
//! connection, after any failure) asks the sentinels where the primary of
//! `master` is (`SENTINEL GET-MASTER-ADDR-BY-NAME`), connects there, and
//! checks with `ROLE` that the node is a primary: during a failover a
//! sentinel may still name the old primary, which is down or has just
//! been demoted, and a write there would fail or be lost. A failed attempt
//! is retried by the caller (the tail task's backoff, the next publish).
//!
//! The sentinel that answered last is asked first next time; the others
//! are tried in order when it does not answer. Sentinels are reached
//! without a password (the credentials in the URL are the data nodes').
//!
//! Not the `redis` crate's `sentinel` feature: that one lists every master
//! (`SENTINEL MASTERS`, which managed sentinels may forbid) and checks the
//! role with blocking calls.

use std::sync::atomic::{AtomicUsize, Ordering};

use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, Client, ConnectionAddr, ConnectionInfo, RedisConnectionInfo, RedisError,
    TlsCertificates, Value,
};

use crate::store::StoreError;

/// The port of a sentinel named without one.
const DEFAULT_SENTINEL_PORT: u16 = 26379;

/// The sentinels of one master, and how to reach the data nodes.
pub(super) struct Sentinel {
    /// `(host, port)` of each sentinel, in the URL's order.
    sentinels: Vec<(String, u16)>,
    /// The master name the sentinels monitor.
    master: String,
    /// Database, user and password for the data nodes.
    node: RedisConnectionInfo,
    /// `Some` for `rediss+sentinel://`: TLS to sentinels and nodes, with
    /// these files (or the system roots when they are `None`).
    tls: Option<Option<TlsCertificates>>,
    /// The sentinel to ask first: the one that answered last.
    preferred: AtomicUsize,
}

/// Whether `url` names sentinels rather than one Redis.
pub(super) fn is_sentinel_url(url: &str) -> bool {
    url.starts_with("redis+sentinel://") || url.starts_with("rediss+sentinel://")
}

impl Sentinel {
    /// Parses a sentinel URL without its query.
    ///
    /// # Errors
    ///
    /// [`StoreError::is_backend`] when it names no sentinel, no master,
    /// or an unusable port or database.
    pub(super) fn parse(
        url: &str,
        tls_files: Option<TlsCertificates>,
    ) -> Result<Sentinel, StoreError> {
        let bad = |why: String| {
            StoreError::backend(
                "parsing the Redis URL",
                format!(
                    "{why}: expected redis+sentinel://[USER:PASSWORD@]HOST[:PORT],HOST[:PORT]/MASTER[/DB]"
                ),
            )
        };
        let (tls, rest) = if let Some(rest) = url.strip_prefix("rediss+sentinel://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("redis+sentinel://") {
            if tls_files.is_some() {
                return Err(bad(
                    "ca=, cert= and key= need TLS: use rediss+sentinel://".to_owned()
                ));
            }
            (false, rest)
        } else {
            return Err(bad("not a sentinel URL".to_owned()));
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let mut node = RedisConnectionInfo::default();
        if let Some(userinfo) = userinfo {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            let user = decode(user).ok_or_else(|| bad("the user is not UTF-8".to_owned()))?;
            let password =
                decode(password).ok_or_else(|| bad("the password is not UTF-8".to_owned()))?;
            node.username = (!user.is_empty()).then_some(user);
            node.password = (!password.is_empty()).then_some(password);
        }
        let mut sentinels = Vec::new();
        for host in hosts.split(',') {
            let (name, port) = match host.rsplit_once(':') {
                // `[::1]:26379`, `host:26379`
                Some((name, port)) if !port.contains(']') => (
                    name,
                    port.parse::<u16>()
                        .map_err(|_| bad(format!("sentinel {host:?}: bad port")))?,
                ),
                _ => (host, DEFAULT_SENTINEL_PORT),
            };
            let name = name.trim_start_matches('[').trim_end_matches(']');
            if name.is_empty() {
                return Err(bad(format!("an empty sentinel address in {hosts:?}")));
            }
            sentinels.push((name.to_owned(), port));
        }
        let mut segments = path.split('/');
        let master = segments.next().unwrap_or("");
        if master.is_empty() {
            return Err(bad("no master name".to_owned()));
        }
        if let Some(db) = segments.next().filter(|s| !s.is_empty()) {
            node.db = db
                .parse::<i64>()
                .map_err(|_| bad(format!("database {db:?} is not a number")))?;
        }
        if segments.next().is_some() {
            return Err(bad("too many path segments".to_owned()));
        }
        Ok(Sentinel {
            sentinels,
            master: decode(master).ok_or_else(|| bad("the master name is not UTF-8".to_owned()))?,
            node,
            tls: tls.then_some(tls_files),
            preferred: AtomicUsize::new(0),
        })
    }

    /// A connection to the current primary, found through the sentinels.
    ///
    /// # Errors
    ///
    /// An I/O-kind [`RedisError`] saying what each sentinel answered when
    /// none named a reachable primary (a failover in progress, the
    /// sentinels down), or the primary's own error (authentication).
    pub(super) async fn connect(
        &self,
        config: &AsyncConnectionConfig,
    ) -> Result<MultiplexedConnection, RedisError> {
        let n = self.sentinels.len();
        let first = self.preferred.load(Ordering::Relaxed);
        let mut failures = Vec::new();
        for i in 0..n {
            let index = (first + i) % n;
            let (host, port) = &self.sentinels[index];
            let (ip, node_port) = match self.ask(host, *port, config).await {
                Ok(Some(addr)) => addr,
                Ok(None) => {
                    failures.push(format!(
                        "sentinel {host}:{port} does not know master {:?}",
                        self.master
                    ));
                    continue;
                }
                Err(e) => {
                    failures.push(format!("sentinel {host}:{port}: {e}"));
                    continue;
                }
            };
            self.preferred.store(index, Ordering::Relaxed);
            let client = self.client(ip.clone(), node_port, self.node.clone())?;
            let mut conn = match client
                .get_multiplexed_async_connection_with_config(config)
                .await
            {
                Ok(c) => c,
                // A wrong password is not a failover: say it as it is.
                Err(e) if e.kind() == redis::ErrorKind::AuthenticationFailed => return Err(e),
                Err(e) => {
                    failures.push(format!(
                        "primary {ip}:{node_port} (from {host}:{port}): {e}"
                    ));
                    continue;
                }
            };
            match role(&mut conn).await {
                Ok(r) if r == "master" => return Ok(conn),
                Ok(r) => failures.push(format!(
                    "{ip}:{node_port} (named primary by {host}:{port}) is a {r}: failover in progress"
                )),
                Err(e) => failures.push(format!("ROLE on {ip}:{node_port}: {e}")),
            }
        }
        Err(RedisError::from(std::io::Error::other(format!(
            "no primary for {:?} through the sentinels: {}",
            self.master,
            failures.join("; ")
        ))))
    }

    /// One sentinel's answer: the primary's address, or `None` when it
    /// does not monitor that master.
    async fn ask(
        &self,
        host: &str,
        port: u16,
        config: &AsyncConnectionConfig,
    ) -> Result<Option<(String, u16)>, RedisError> {
        let client = self.client(host.to_owned(), port, RedisConnectionInfo::default())?;
        let mut conn = client
            .get_multiplexed_async_connection_with_config(config)
            .await?;
        let answer: Option<(String, String)> = redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(&self.master)
            .query_async(&mut conn)
            .await?;
        Ok(answer.and_then(|(ip, port)| Some((ip, port.parse::<u16>().ok()?))))
    }

    fn client(
        &self,
        host: String,
        port: u16,
        redis: RedisConnectionInfo,
    ) -> Result<Client, RedisError> {
        match &self.tls {
            None => Client::open(ConnectionInfo {
                addr: ConnectionAddr::Tcp(host, port),
                redis,
            }),
            Some(files) => {
                let info = ConnectionInfo {
                    addr: ConnectionAddr::TcpTls {
                        host,
                        port,
                        insecure: false,
                        tls_params: None,
                    },
                    redis,
                };
                match files {
                    Some(files) => Client::build_with_tls(info, files.clone()),
                    None => Client::open(info),
                }
            }
        }
    }
}

/// The node's role (`master`, `slave`, `sentinel`) from `ROLE`.
async fn role(conn: &mut MultiplexedConnection) -> Result<String, RedisError> {
    let answer: Value = redis::cmd("ROLE").query_async(conn).await?;
    let first = match &answer {
        Value::Array(items) => items.first(),
        _ => None,
    };
    Ok(match first {
        Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
        Some(Value::SimpleString(s)) => s.clone(),
        _ => "node with an unreadable ROLE".to_owned(),
    })
}

/// Percent-decodes a URL component; `None` when it is not UTF-8.
fn decode(s: &str) -> Option<String> {
    let hex = |b: u8| {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(hi * 16 + lo);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_sentinels_master_and_credentials() {
        let s = Sentinel::parse(
            "redis+sentinel://hub:p%40ss@10.0.0.1:26380,10.0.0.2,[::1]:5000/mymaster/3",
            None,
        )
        .expect("url");
        assert_eq!(
            s.sentinels,
            [
                ("10.0.0.1".to_owned(), 26380),
                ("10.0.0.2".to_owned(), DEFAULT_SENTINEL_PORT),
                ("::1".to_owned(), 5000)
            ]
        );
        assert_eq!(s.master, "mymaster");
        assert_eq!(s.node.db, 3);
        assert_eq!(s.node.username.as_deref(), Some("hub"));
        assert_eq!(s.node.password.as_deref(), Some("p@ss"));
        assert!(s.tls.is_none());
        let tls = Sentinel::parse("rediss+sentinel://h/m", None).expect("tls url");
        assert!(matches!(tls.tls, Some(None)));
        for bad in [
            "redis+sentinel://h1,h2",
            "redis+sentinel://h1:x/m",
            "redis+sentinel://h1,,h2/m",
            "redis+sentinel://h/m/notanumber",
            "redis+sentinel://h/m/0/extra",
            "redis://h/m",
        ] {
            assert!(Sentinel::parse(bad, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(decode("a%20b%2").as_deref(), Some("a b%2"));
        assert_eq!(decode("%ff"), None);
        assert_eq!(decode("plain").as_deref(), Some("plain"));
    }
}
