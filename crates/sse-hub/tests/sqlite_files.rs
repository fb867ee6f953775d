//! Which SQLite files the store takes: its own (marked with
//! `application_id` "SSEH"), a new or empty file, and a hub database from
//! before the mark; never another application's database, which it must
//! leave exactly as it found it.

use std::path::Path;

use rusqlite::Connection;
use sse_hub::store::{update_size, Cursor, SqliteConfig, SqliteStore, Store};
use sse_hub::Update;

/// "SSEH", as the store writes it.
const HUB_APPLICATION_ID: i64 = 0x5353_4548;

fn pragma(path: &Path, name: &str) -> i64 {
    Connection::open(path)
        .expect("open")
        .query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
        .expect("pragma")
}

fn update(id: &str) -> Update {
    Update {
        id: id.to_owned(),
        topics: vec!["urn:t:1".to_owned(), "urn:t:2".to_owned()],
        data: format!("data of {id}"),
        private: false,
        event_type: Some("note".to_owned()),
        retry: None,
    }
}

/// The names in `dir`, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn another_applications_database_is_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.db");
    Connection::open(&path)
        .expect("open")
        .execute_batch(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
             INSERT INTO users (name) VALUES ('ada'), ('grace');",
        )
        .expect("the other application's schema");
    let bytes = std::fs::read(&path).expect("read");
    let modified = std::fs::metadata(&path)
        .expect("metadata")
        .modified()
        .expect("mtime");

    let err = SqliteStore::open(SqliteConfig::new(&path)).expect_err("a foreign file");
    assert!(err.is_foreign(), "{err}");
    assert!(!err.is_corrupt() && !err.is_backend(), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("another application's SQLite database (tables: users")
            && message.contains("nothing was written"),
        "{message}"
    );

    // Not one byte: no WAL switch, no user_version, no table, no side file.
    assert_eq!(std::fs::read(&path).expect("read"), bytes);
    let after = std::fs::metadata(&path).expect("metadata");
    assert_eq!(after.modified().expect("mtime"), modified);
    assert_eq!(files(dir.path()), ["app.db"]);
}

#[test]
fn a_database_marked_by_another_application_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("other.db");
    Connection::open(&path)
        .expect("open")
        .execute_batch(
            "PRAGMA application_id = 1234;
             CREATE TABLE updates (seq INTEGER PRIMARY KEY);",
        )
        .expect("schema");
    let bytes = std::fs::read(&path).expect("read");
    let err = SqliteStore::open(SqliteConfig::new(&path)).expect_err("another mark");
    assert!(err.is_foreign(), "{err}");
    assert!(err.to_string().contains("application_id 0x4d2"), "{err}");
    assert_eq!(std::fs::read(&path).expect("read"), bytes);
}

#[tokio::test(flavor = "current_thread")]
async fn a_new_or_empty_file_is_taken_and_marked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").expect("an empty file");
    for path in [empty, dir.path().join("new.db")] {
        let store = SqliteStore::open(SqliteConfig::new(&path)).expect("ours");
        store.append(update("a")).await.expect("append");
        store.close().await.expect("close");
        assert_eq!(pragma(&path, "application_id"), HUB_APPLICATION_ID);
        // The mark is what later opens check: it opens again.
        let store = SqliteStore::open(SqliteConfig::new(&path)).expect("reopen");
        let replay = store.replay(Cursor::Earliest, 10).await.expect("replay");
        assert_eq!(replay.entries.len(), 1);
        store.close().await.expect("close");
    }
}

/// A database as the hub wrote it before the mark and the byte bound
/// (schema version 1, application_id 0): it opens, keeps its history, and
/// is upgraded and marked; its rows' sizes are counted as new ones are.
#[tokio::test(flavor = "current_thread")]
async fn a_hub_database_from_before_the_mark_opens_and_is_marked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("hub.sqlite3");
    let old = update("old");
    {
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE updates (
                 seq        INTEGER PRIMARY KEY AUTOINCREMENT,
                 id         TEXT    NOT NULL,
                 created_ms INTEGER NOT NULL,
                 topics     TEXT    NOT NULL,
                 data       TEXT    NOT NULL,
                 private    INTEGER NOT NULL,
                 event_type TEXT,
                 retry      INTEGER
             );
             CREATE INDEX updates_by_id ON updates (id);
             PRAGMA user_version = 1;",
        )
        .expect("the version 1 schema");
        conn.execute(
            "INSERT INTO updates (id, created_ms, topics, data, private, event_type)
             VALUES (?1, 1700000000000, ?2, ?3, 0, ?4)",
            rusqlite::params![
                old.id,
                serde_json::to_string(&old.topics).expect("json"),
                old.data,
                old.event_type,
            ],
        )
        .expect("a row");
    }
    assert_eq!(pragma(&path, "application_id"), 0);

    let store = SqliteStore::open(SqliteConfig::new(&path)).expect("the hub's own file");
    let new = store.append(update("new")).await.expect("append");
    let replay = store.replay(Cursor::Earliest, 10).await.expect("replay");
    let ids: Vec<&str> = replay
        .entries
        .iter()
        .map(|e| e.update.id.as_str())
        .collect();
    assert_eq!(ids, ["old", "new"]);
    store.close().await.expect("close");

    assert_eq!(pragma(&path, "application_id"), HUB_APPLICATION_ID);
    assert_eq!(pragma(&path, "user_version"), 2);
    let total: i64 = Connection::open(&path)
        .expect("open")
        .query_row("SELECT total FROM history_bytes", [], |r| r.get(0))
        .expect("the byte total");
    let expected = update_size(&old) + update_size(&new.update);
    assert_eq!(u64::try_from(total).expect("positive"), expected);
}
