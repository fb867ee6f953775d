//! `RedisStore` against Redis as production runs it (feature `redis`):
//! TLS with a private CA and a client certificate, a replica that must
//! confirm every acknowledged append (`WAIT`), and an ACL user the way a
//! managed service hands one out (no `CONFIG`; a missing permission named
//! at start-up).
//!
//! Every server is a real `redis-server` started here on free ports and
//! killed when its test ends. Without `redis-server` the tests skip with a
//! message, or fail under `SSE_TEST_STRICT=1`. Every wait is bounded; no
//! assertion is about time.
#![cfg(feature = "redis")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sse_hub::store::{Cursor, RedisConfig, RedisStore, Store, StoreError};
use sse_hub::Update;
use sse_testkit::ports::free_port;
use sse_testkit::redis::Redis;

/// The bound on every wait.
const WAIT: Duration = Duration::from_secs(20);

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sse-redis-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn update(id: &str) -> Update {
    Update {
        id: id.to_owned(),
        topics: vec!["urn:sse:deploy".to_owned()],
        data: format!("data of {id}"),
        private: false,
        event_type: None,
        retry: None,
    }
}

/// The ids in the store's whole history.
async fn history(store: &RedisStore) -> Vec<String> {
    let replay = store
        .replay(Cursor::Earliest, 10_000)
        .await
        .expect("replay");
    replay.entries.iter().map(|e| e.update.id.clone()).collect()
}

/// The error and its sources, as one text (what a start-up error shows).
fn chain(e: &StoreError) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

// ------------------------------------------------------------------ TLS --

/// A CA, a server certificate for 127.0.0.1 signed by it, and a client
/// certificate signed by it, as PEM files in `dir`.
fn write_pki(dir: &Path) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "sse test Redis CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose, name: &str| {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(names).expect("params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        let cert = params
            .signed_by(&key, &ca_cert, &ca_key)
            .expect("signed certificate");
        (cert.pem(), key.serialize_pem())
    };
    let (server, server_key) = leaf(
        vec!["127.0.0.1".to_owned(), "localhost".to_owned()],
        ExtendedKeyUsagePurpose::ServerAuth,
        "redis",
    );
    let (client, client_key) = leaf(Vec::new(), ExtendedKeyUsagePurpose::ClientAuth, "hub");
    for (name, pem) in [
        ("ca.pem", ca_cert.pem()),
        ("server.pem", server),
        ("server.key", server_key),
        ("client.pem", client),
        ("client.key", client_key),
    ] {
        std::fs::write(dir.join(name), pem).expect("write PEM");
    }
}

/// A TLS `redis-server` that requires a client certificate; its TLS port.
fn tls_redis(dir: &Path) -> Option<(Redis, u16)> {
    write_pki(dir);
    let tls_port = free_port();
    let file = |name: &str| dir.join(name).display().to_string();
    let redis = Redis::builder()
        .args([
            "--tls-port",
            &tls_port.to_string(),
            "--tls-cert-file",
            &file("server.pem"),
            "--tls-key-file",
            &file("server.key"),
            "--tls-ca-cert-file",
            &file("ca.pem"),
            "--tls-auth-clients",
            "yes",
        ])
        .start()?;
    Some((redis, tls_port))
}

/// `rediss://` with a private CA and a client certificate: appends, replays
/// and the live feed work over TLS; the server really is TLS-only on that
/// port and really checks the client certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_private_ca_and_a_client_certificate() {
    let dir = temp_dir("tls");
    let Some((_redis, tls_port)) = tls_redis(&dir) else {
        return;
    };
    let file = |name: &str| dir.join(name).display().to_string();
    let url = format!(
        "rediss://127.0.0.1:{tls_port}/0?prefix=tls&ca={}&cert={}&key={}",
        file("ca.pem"),
        file("client.pem"),
        file("client.key")
    );
    let store = RedisStore::open(RedisConfig::from_url(&url).expect("url"))
        .await
        .expect("open over TLS");
    let mut live = store.live();
    let entry = store.append(update("over-tls")).await.expect("append");
    assert_eq!(live.recv().await.expect("live"), entry);
    assert_eq!(history(&store).await, ["over-tls"]);
    store.close().await.expect("close");

    // Without the client certificate the server refuses the handshake.
    let no_client_cert = format!(
        "rediss://127.0.0.1:{tls_port}/0?prefix=tls&ca={}",
        file("ca.pem")
    );
    let config = RedisConfig {
        command_timeout: Duration::from_secs(3),
        ..RedisConfig::from_url(&no_client_cert).expect("url")
    };
    let err = RedisStore::open(config)
        .await
        .expect_err("a server requiring client certificates refuses one without");
    assert!(err.is_backend(), "{}", chain(&err));

    // Plaintext to the TLS port is not Redis talking.
    let config = RedisConfig {
        command_timeout: Duration::from_secs(3),
        ..RedisConfig::from_url(&format!("redis://127.0.0.1:{tls_port}/0")).expect("url")
    };
    assert!(RedisStore::open(config).await.is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

/// `rediss://` without `ca=` checks the server against the system roots:
/// refused while the test CA is not among them, accepted once it is
/// (`SSL_CERT_FILE`, which the system-roots loader honours, names the
/// test CA). One test, so nothing else in this binary runs with the
/// variable set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_the_system_roots() {
    let dir = temp_dir("tls-roots");
    let Some((_redis, tls_port)) = tls_redis(&dir) else {
        return;
    };
    let file = |name: &str| dir.join(name).display().to_string();
    let url = format!(
        "rediss://127.0.0.1:{tls_port}/0?prefix=roots&cert={}&key={}",
        file("client.pem"),
        file("client.key")
    );
    let config = || RedisConfig {
        command_timeout: Duration::from_secs(3),
        ..RedisConfig::from_url(&url).expect("url")
    };
    let err = RedisStore::open(config())
        .await
        .expect_err("an unknown CA is refused");
    let text = chain(&err).to_lowercase();
    assert!(
        text.contains("certificate") || text.contains("unknownissuer"),
        "the error says why: {text}"
    );

    std::env::set_var("SSL_CERT_FILE", dir.join("ca.pem"));
    let opened = RedisStore::open(config()).await;
    std::env::remove_var("SSL_CERT_FILE");
    let store = opened.expect("the system roots include the CA now");
    store.append(update("roots")).await.expect("append");
    assert_eq!(history(&store).await, ["roots"]);
    store.close().await.expect("close");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A TLS file that is missing or not PEM fails at open and is named.
#[tokio::test]
async fn unusable_tls_files_are_named_at_open() {
    let dir = temp_dir("tls-files");
    std::fs::write(dir.join("junk.pem"), "-----BEGIN NOTHING-----\n").expect("write");
    for (query, needle) in [
        (format!("ca={}", dir.join("none.pem").display()), "none.pem"),
        (format!("ca={}", dir.join("junk.pem").display()), "junk.pem"),
        (
            format!("cert={}", dir.join("junk.pem").display()),
            "key=FILE",
        ),
    ] {
        let config = RedisConfig::from_url(&format!("rediss://127.0.0.1:1/0?{query}"))
            .expect("the URL parses; the files are read at open");
        let err = RedisStore::open(config).await.expect_err(&query);
        assert!(chain(&err).contains(needle), "{query}: {}", chain(&err));
    }
    let err = RedisConfig::from_url("redis://127.0.0.1/0?ca=/x.pem").expect_err("plaintext");
    assert!(chain(&err).contains("rediss://"), "{}", chain(&err));
    let _ = std::fs::remove_dir_all(&dir);
}

// ------------------------------------------------------------- replicas --

/// Waits (bounded) until the replica on `replica` reports its link to the
/// primary up.
fn wait_replica_linked(replica: &Redis) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let mut s = TcpStream::connect(("127.0.0.1", replica.port())).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s.write_all(b"INFO replication\r\n").expect("send");
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).unwrap_or(0);
        if String::from_utf8_lossy(&buf[..n]).contains("master_link_status:up") {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the replica never linked to its primary");
}

/// `replicas=1`: an append is acknowledged once the replica has it. With
/// the replica stopped, the append fails as "outcome unknown" (not "not
/// stored": the primary has it, and history shows it), naming the id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_waits_for_its_replica_or_says_the_outcome_is_unknown() {
    let Some(primary) = Redis::start() else {
        return;
    };
    let replica = Redis::builder()
        .args(["--replicaof", "127.0.0.1", &primary.port().to_string()])
        .start()
        .expect("replica");
    wait_replica_linked(&replica);
    let url = format!(
        "{}/0?prefix=wait&replicas=1&replica_timeout_ms=300",
        primary.url()
    );
    let config = RedisConfig::from_url(&url).expect("url");
    assert_eq!(config.replicas, 1);
    let store = RedisStore::open(config).await.expect("open");
    store.append(update("confirmed")).await.expect("append");
    // WAIT returned, so the replica has it now.
    assert_eq!(replica.run(&["XLEN", "wait:stream"]), ":1");

    replica.signal("-STOP");
    let err = store
        .append(update("in-doubt"))
        .await
        .expect_err("no replica confirms");
    replica.signal("-CONT");
    assert!(err.is_outcome_unknown(), "{}", chain(&err));
    assert!(!err.is_backend());
    assert_eq!(err.outcome_unknown_id(), Some("in-doubt"));
    assert!(chain(&err).contains("0 of 1 replicas"), "{}", chain(&err));
    assert_eq!(history(&store).await, ["confirmed", "in-doubt"]);

    // A generated id is reported too, so the publisher can retry with it.
    replica.signal("-STOP");
    let err = store.append(update("")).await.expect_err("no replica");
    replica.signal("-CONT");
    let id = err
        .outcome_unknown_id()
        .expect("the generated id")
        .to_owned();
    assert!(!id.is_empty());
    assert_eq!(history(&store).await.last(), Some(&id));
    store.close().await.expect("close");
}

// ------------------------------------------------------------------ ACL --

/// The commands docs/deploy.md lists, as an ACL rule: exactly these and
/// nothing else (no `CONFIG`, no `@admin`).
const DOCUMENTED_ACL: &[&str] = &[
    "+evalsha",
    "+script|load",
    "+xadd",
    "+xdel",
    "+xlen",
    "+xrange",
    "+xread",
    "+xinfo|stream",
    "+exists",
    "+hget",
    "+hset",
    "+hdel",
    "+get",
    "+set",
    "+incrby",
    "+info",
    "+wait",
    "+ping",
    "+hello",
];

fn acl_user(redis: &Redis, user: &str, keys: &str, rules: &[&str]) {
    let mut args = vec!["ACL", "SETUSER", user, "reset", "on", ">secret", keys];
    args.extend_from_slice(rules);
    assert_eq!(redis.run(&args), "+OK", "ACL SETUSER {user}");
}

async fn open_as(
    redis: &Redis,
    user: &str,
    prefix: &str,
    replicas: usize,
) -> Result<RedisStore, StoreError> {
    let config = RedisConfig {
        replicas,
        replica_timeout: Duration::from_millis(200),
        ..RedisConfig::from_url(&format!(
            "redis://{user}:secret@127.0.0.1:{}/0?prefix={prefix}",
            redis.port()
        ))
        .expect("url")
    };
    RedisStore::open(config).await
}

/// An ACL user with only the documented commands (so no `CONFIG`, which
/// managed services forbid) runs the store: appends, replays, the live
/// feed and `WAIT`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_commands_are_enough_and_config_is_not_needed() {
    let Some(redis) = Redis::start() else {
        return;
    };
    acl_user(&redis, "hub", "~acl:*", DOCUMENTED_ACL);
    // replicas=1 with no replica: WAIT runs (allowed) and reports 0.
    let store = open_as(&redis, "hub", "acl", 1).await.expect("open as hub");
    let mut live = store.live();
    let err = store.append(update("a")).await.expect_err("no replica");
    assert!(err.is_outcome_unknown(), "{}", chain(&err));
    store.close().await.expect("close");
    let store = open_as(&redis, "hub", "acl", 0).await.expect("open as hub");
    let b = store.append(update("b")).await.expect("append as hub");
    assert_eq!(live.recv().await.expect("live").update.id, "a");
    drop(live);
    assert_eq!(history(&store).await, ["a", "b"]);
    let mut live = store.live();
    let c = store.append(update("c")).await.expect("append");
    assert_eq!(live.recv().await.expect("live"), c);
    assert!(b.position < c.position);
    store.close().await.expect("close");
}

/// A user missing a permission the store needs fails at open, and the
/// error names what is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_permission_is_named_at_start_up() {
    let Some(redis) = Redis::start() else {
        return;
    };
    let without = |denied: &'static str| {
        let mut rules: Vec<&str> = DOCUMENTED_ACL.to_vec();
        rules.push(denied);
        rules
    };
    for (user, keys, rules, replicas, needle) in [
        ("no-xadd", "~p:*", without("-xadd"), 0, "XADD"),
        ("no-wait", "~p:*", without("-wait"), 1, "WAIT"),
        ("no-hset", "~p:*", without("-hset"), 0, "HSET"),
        ("no-evalsha", "~p:*", without("-evalsha"), 0, "evalsha"),
        ("wrong-keys", "~other:*", without("+ping"), 0, "keys"),
    ] {
        acl_user(&redis, user, keys, &rules);
        let err = open_as(&redis, user, "p", replicas).await.expect_err(user);
        let text = chain(&err);
        assert!(err.is_backend(), "{user}: {text}");
        assert!(
            text.contains(needle),
            "{user}: the error names {needle}: {text}"
        );
        assert!(text.contains("docs/deploy.md"), "{user}: {text}");
    }
}
