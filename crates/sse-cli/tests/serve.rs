//! `sse serve` and `sse publish` as a user runs them: the built binary, real
//! HTTP over loopback, a data directory per test.

use sse_testkit::ports::free_port;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

fn sse() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sse"));
    // The test process's environment must not configure the hub under test.
    for var in [
        "SSE_PUBLISHER_JWT_KEY",
        "SSE_SUBSCRIBER_JWT_KEY",
        "SSE_TOKEN",
        "SSE_ADDR",
        "SSE_STORE",
        "SSE_CONFIG",
    ] {
        c.env_remove(var);
    }
    c
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sse-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running `sse serve`, killed when dropped.
struct Hub {
    child: Child,
    base: String,
    token: Option<String>,
    /// What it printed on stdout at start.
    banner: Vec<String>,
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `sse serve` in `dir` and waits for its banner (bounded).
fn start(dir: &Path, addr: &str, envs: &[(&str, &str)], args: &[&str]) -> Hub {
    let mut cmd = sse();
    cmd.arg("serve")
        .args(args)
        .current_dir(dir)
        .env("SSE_ADDR", addr)
        .env("SSE_LOG", "warn");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + WAIT;
    let (mut base, mut token, mut banner) = (None, None, Vec::new());
    while Instant::now() < deadline {
        let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) else {
            if base.is_some() {
                break; // the banner is printed at once; silence means it is done
            }
            continue;
        };
        if let Some(url) = line.strip_prefix("sse hub listening on ") {
            base = Some(url.trim().to_owned());
        }
        if let Some(t) = line.trim().strip_prefix("publisher token: ") {
            token = Some(t.to_owned());
        }
        banner.push(line);
    }
    let base = base.expect("the hub printed where it listens");
    Hub {
        child,
        base,
        token,
        banner,
    }
}

fn host_port(base: &str) -> String {
    base.trim_start_matches("http://").to_owned()
}

/// Opens a subscription and returns the socket after the response head.
fn subscribe(base: &str, query: &str, headers: &[(&str, &str)]) -> (String, BufReader<TcpStream>) {
    let mut s = TcpStream::connect(host_port(base)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut req = format!(
        "GET /.well-known/mercure?{query} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut r = BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        head.push_str(&line);
    }
    (head, r)
}

/// Reads until `needle` has been seen (bounded by the read timeout).
fn read_until(r: &mut BufReader<TcpStream>, needle: &str) -> String {
    let mut seen = String::new();
    while !seen.contains(needle) {
        let mut buf = [0u8; 4096];
        let n = r.read(&mut buf).unwrap_or(0);
        assert!(n > 0, "stream ended before {needle:?}; got {seen:?}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    seen
}

fn publish(base: &str, extra: &[&str]) -> std::process::Output {
    sse()
        .args(["publish", "--hub", &format!("{base}/.well-known/mercure")])
        .args(extra)
        .output()
        .unwrap()
}

/// `GET path` on a fresh connection; the whole response, head included.
fn get(base: &str, path: &str) -> String {
    let mut s = TcpStream::connect(host_port(base)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    response
}

fn dev_subscriber_token(base: &str) -> String {
    let page = get(base, "/");
    let at = page
        .find("\"devSubscriberToken\":\"")
        .expect("dev token on the page")
        + 22;
    page[at..].split('"').next().unwrap().to_owned()
}

#[test]
fn first_run_prints_a_working_token_and_publish_reaches_a_subscriber() {
    let dir = temp_dir("first-run");
    let hub = start(&dir, "127.0.0.1:0", &[], &[]);
    let token = hub
        .token
        .clone()
        .expect("a development publisher token is printed");
    assert!(
        dir.join("sse-data/dev-key").exists(),
        "the dev key is kept beside the store"
    );
    let sub = dev_subscriber_token(&hub.base);
    let (head, mut stream) = subscribe(
        &hub.base,
        "topic=https://example.com/demo",
        &[("Authorization", &format!("Bearer {sub}"))],
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let out = publish(
        &hub.base,
        &[
            "--topic",
            "https://example.com/demo",
            "--data",
            "hello from the CLI",
            "--token",
            &token,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(id.starts_with("urn:uuid:"), "{id}");
    let got = read_until(&mut stream, "hello from the CLI");
    assert!(got.contains(&format!("id: {id}\n")), "{got}");
}

/// `sse listen` started from the banner's own line, with its quotes,
/// receives what the banner's publisher token publishes.
#[test]
fn first_run_subscribes_from_the_printed_line() {
    let dir = temp_dir("printed-line");
    let hub = start(&dir, "127.0.0.1:0", &[], &[]);
    assert!(
        hub.banner
            .iter()
            .any(|l| l.contains("development key was generated and kept in ./sse-data/dev-key")),
        "{:?}",
        hub.banner
    );
    let line = hub
        .banner
        .iter()
        .find_map(|l| l.trim().strip_prefix("sse listen "))
        .expect("a printed sse listen line");
    assert!(hub
        .banner
        .iter()
        .any(|l| l.trim().starts_with("curl -N -H 'Authorization: Bearer ")));
    // The shell's reading of the line: words, single quotes kept together.
    let words: Vec<&str> = line
        .split('\'')
        .enumerate()
        .flat_map(|(i, part)| {
            if i % 2 == 1 {
                vec![part]
            } else {
                part.split_whitespace().collect()
            }
        })
        .collect();
    let mut listen = sse()
        .arg("listen")
        .args(&words)
        .args(["--json", "--max-events", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(listen.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("\"open\"") {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "sse listen ended before it opened"
        );
    }
    let token = hub.token.clone().unwrap();
    let sent = publish(
        &hub.base,
        &[
            "--topic",
            "https://example.com/demo",
            "--data",
            "from the banner",
            "--private",
            "--token",
            &token,
        ],
    );
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(listen.wait().unwrap().success());
    assert!(rest.contains("\"data\":\"from the banner\""), "{rest}");
}

/// `sse token` mints what a hub with configured keys accepts: a publisher
/// token for an app's backend and a subscriber token that reads private
/// updates of its topic.
#[test]
fn sse_token_mints_publisher_and_subscriber_tokens_the_hub_accepts() {
    let dir = temp_dir("token");
    let keys = [
        (
            "SSE_PUBLISHER_JWT_KEY",
            "publisher secret of 32 bytes .....",
        ),
        (
            "SSE_SUBSCRIBER_JWT_KEY",
            "subscriber secret of 32 bytes ....",
        ),
    ];
    let hub = start(&dir, "127.0.0.1:0", &keys, &["--store", "memory://"]);
    let audience = format!("{}/.well-known/mercure", hub.base);
    let key_file = dir.join("subscriber.key");
    std::fs::write(&key_file, format!("{}\n", keys[1].1)).unwrap();
    let mint = |args: &[&str], env: Option<(&str, &str)>| -> String {
        let mut c = sse();
        c.args(["token", "--audience", &audience]).args(args);
        if let Some((k, v)) = env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let sub = mint(
        &[
            "--subscribe",
            "urn:private",
            "--ttl",
            "60",
            "--key-file",
            key_file.to_str().unwrap(),
        ],
        None,
    );
    let publisher = mint(
        &["--publish", "urn:private", "--subject", "backend"],
        Some(keys[0]),
    );
    let (head, mut stream) = subscribe(
        &hub.base,
        "topic=urn:private",
        &[("Authorization", &format!("Bearer {sub}"))],
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let out = publish(
        &hub.base,
        &[
            "--topic",
            "urn:private",
            "--data",
            "minted",
            "--private",
            "--token",
            &publisher,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    read_until(&mut stream, "data: minted");
    // The wrong role's key is refused by the hub; no grant is refused by sse token.
    let wrong = mint(
        &["--publish", "urn:private"],
        Some(("SSE_PUBLISHER_JWT_KEY", keys[1].1)),
    );
    let out = publish(
        &hub.base,
        &["--topic", "urn:private", "--data", "x", "--token", &wrong],
    );
    assert!(!out.status.success());
    let out = sse().args(["token"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to grant"));
}

#[test]
fn publish_with_a_key_signs_its_own_token_and_without_one_fails_clearly() {
    let dir = temp_dir("keys");
    let keys = [
        (
            "SSE_PUBLISHER_JWT_KEY",
            "publisher secret of 32 bytes .....",
        ),
        (
            "SSE_SUBSCRIBER_JWT_KEY",
            "subscriber secret of 32 bytes ....",
        ),
    ];
    let hub = start(
        &dir,
        "127.0.0.1:0",
        &keys,
        &["--allow-anonymous", "--store", "memory://"],
    );
    assert!(hub.token.is_none(), "no dev token when keys are configured");
    let (_, mut stream) = subscribe(&hub.base, "topic=urn:t", &[]);
    let out = sse()
        .args([
            "publish",
            "--hub",
            &format!("{}/.well-known/mercure", hub.base),
            "--topic",
            "urn:t",
            "--data",
            "signed",
            "--id",
            "my-id",
        ])
        .env("SSE_PUBLISHER_JWT_KEY", keys[0].1)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), "my-id");
    read_until(&mut stream, "data: signed");
    let out = publish(&hub.base, &["--topic", "urn:t", "--data", "x"]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("401"), "{err}");
}

/// Containers and systemd units say `1`, `yes`, `on`: every boolean
/// variable takes them (it refused `1` once: "invalid value '1'").
#[test]
fn boolean_variables_take_one_yes_and_on() {
    let dir = temp_dir("booleans");
    let keys = [
        (
            "SSE_PUBLISHER_JWT_KEY",
            "publisher secret of 32 bytes .....",
        ),
        (
            "SSE_SUBSCRIBER_JWT_KEY",
            "subscriber secret of 32 bytes ....",
        ),
    ];
    for (allow, legacy) in [("1", "0"), ("yes", "No"), ("ON", "off"), ("True", "FALSE")] {
        let mut envs = keys.to_vec();
        envs.extend([
            ("SSE_ALLOW_ANONYMOUS", allow),
            ("SSE_LEGACY", legacy),
            ("SSE_SUBSCRIPTIONS", allow),
        ]);
        let hub = start(&dir, "127.0.0.1:0", &envs, &["--store", "memory://"]);
        let (head, _) = subscribe(&hub.base, "topic=urn:t", &[]);
        assert!(
            head.starts_with("HTTP/1.1 200"),
            "SSE_ALLOW_ANONYMOUS={allow} lets a subscriber in without a token: {head}"
        );
    }
    let out = sse()
        .args(["serve", "--store", "memory://"])
        .env("SSE_ALLOW_ANONYMOUS", "maybe")
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("1/0, true/false, yes/no or on/off"), "{err}");
}

#[test]
fn metrics_addr_serves_metrics_apart_and_the_main_port_keeps_healthz() {
    let dir = temp_dir("metrics-addr");
    let ops = format!("127.0.0.1:{}", free_port());
    let hub = start(
        &dir,
        "127.0.0.1:0",
        &[("SSE_METRICS_ADDR", &ops)],
        &["--store", "memory://"],
    );
    let ops = format!("http://{ops}");
    let sub = dev_subscriber_token(&hub.base);
    let (head, _stream) = subscribe(
        &hub.base,
        "topic=urn:m",
        &[("Authorization", &format!("Bearer {sub}"))],
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let metrics = get(&ops, "/metrics");
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    for line in [
        "\nsse_hub_subscribers 1\n",
        "\nmercure_subscribers_connected 1\n",
        "\nmercure_subscribers_total 1\n",
        "\nmercure_updates_total 0\n",
        "\nsse_hub_build_info{version=",
    ] {
        assert!(metrics.contains(line), "{line:?} missing: {metrics}");
    }
    #[cfg(target_os = "linux")]
    for name in [
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(metrics.contains(&format!("\n{name} ")), "{name}: {metrics}");
    }
    assert!(get(&ops, "/healthz").starts_with("HTTP/1.1 200"));
    assert!(get(&hub.base, "/healthz").starts_with("HTTP/1.1 200"));
    let public = get(&hub.base, "/metrics");
    assert!(public.starts_with("HTTP/1.1 404"), "{public}");
    assert!(get(&ops, "/.well-known/mercure").starts_with("HTTP/1.1 404"));
}

#[test]
fn without_keys_it_refuses_to_listen_beyond_loopback() {
    let dir = temp_dir("refuse");
    let out = sse()
        .args(["serve", "--addr", "0.0.0.0:0", "--store", "memory://"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("refusing to listen on 0.0.0.0:0 without keys"),
        "{err}"
    );
}

#[test]
fn a_foreign_sqlite_file_is_refused_at_start_up_and_left_unchanged() {
    let dir = temp_dir("foreign-sqlite");
    let app = dir.join("app.db");
    rusqlite::Connection::open(&app)
        .unwrap()
        .execute_batch(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);
             INSERT INTO users (name) VALUES ('ada');",
        )
        .unwrap();
    let bytes = std::fs::read(&app).unwrap();
    let modified = std::fs::metadata(&app).unwrap().modified().unwrap();
    let out = sse()
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--store",
            "sqlite://app.db",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("cannot open the store sqlite app.db")
            && err.contains("another application's SQLite database (tables: users")
            && err.contains("give the hub a file of its own"),
        "{err}"
    );
    assert_eq!(std::fs::read(&app).unwrap(), bytes, "not a byte written");
    assert_eq!(
        std::fs::metadata(&app).unwrap().modified().unwrap(),
        modified
    );
    for side in ["app.db-wal", "app.db-shm", "app.db-journal"] {
        assert!(!dir.join(side).exists(), "{side} was created");
    }
}

#[cfg(unix)]
fn terminate(hub: &mut Hub) -> std::process::ExitStatus {
    let pid = hub.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = hub.child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the hub did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(unix)]
#[test]
fn sigterm_tells_subscribers_to_come_back_and_history_survives_a_restart() {
    let dir = temp_dir("restart");
    let addr = format!("127.0.0.1:{}", free_port());
    let mut hub = start(&dir, &addr, &[], &[]);
    let token = hub.token.clone().unwrap();
    let sub = dev_subscriber_token(&hub.base);
    let auth = format!("Bearer {sub}");
    let mut ids = Vec::new();
    for n in 1..=3 {
        let out = publish(
            &hub.base,
            &[
                "--topic",
                "urn:r",
                "--data",
                &format!("update {n}"),
                "--token",
                &token,
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        ids.push(String::from_utf8(out.stdout).unwrap().trim().to_owned());
    }
    let (_, mut stream) = subscribe(&hub.base, "topic=urn:r", &[("Authorization", &auth)]);
    let status = terminate(&mut hub);
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    let tail = read_until(&mut stream, "retry: ");
    assert!(tail.contains("retry: 1000"), "{tail}");

    // Same data directory: same dev key, so the printed token still works.
    let hub = start(&dir, &addr, &[], &[]);
    assert!(
        hub.banner
            .iter()
            .any(|l| l.contains("development key in ./sse-data/dev-key was reused")),
        "the banner says the key was reused: {:?}",
        hub.banner
    );
    assert_eq!(hub.token.as_deref().map(|t| t.split('.').count()), Some(3));
    let out = publish(
        &hub.base,
        &["--topic", "urn:r", "--data", "update 4", "--token", &token],
    );
    assert!(
        out.status.success(),
        "the old token still works: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (head, mut stream) = subscribe(
        &hub.base,
        "topic=urn:r",
        &[("Authorization", &auth), ("Last-Event-ID", &ids[0])],
    );
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("mercure-last-event-id: {}", ids[0]).to_ascii_lowercase()),
        "{head}"
    );
    let got = read_until(&mut stream, "update 4");
    let order: Vec<usize> = ["update 2", "update 3", "update 4"]
        .iter()
        .map(|u| got.find(u).expect(u))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "in order: {got}");
    assert!(
        !got.contains("update 1"),
        "nothing before the cursor: {got}"
    );
    assert_eq!(got.matches("update 2").count(), 1, "once: {got}");
}

/// The browser driver, or `None` (skip) when node, chromium or the npm
/// package is missing outside strict mode.
fn browser(url: &str) -> Option<(Child, std::io::BufReader<std::process::ChildStdout>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let ready = root
        .join("tests/browser/node_modules/playwright-core")
        .exists()
        && Path::new("/usr/bin/chromium").exists()
        && Command::new("node").arg("--version").output().is_ok();
    if !ready {
        sse_testkit::skip::skip(
            "node, /usr/bin/chromium or tests/browser/node_modules missing (run scripts/test.sh)",
        );
        return None;
    }
    let mut child = Command::new("node")
        .arg(root.join("tests/browser/debug_page.mjs"))
        .arg(url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    Some((child, out))
}

/// The next JSON line from the driver, bounded in time.
fn driver_line(out: &mut BufReader<std::process::ChildStdout>) -> serde_json::Value {
    // The driver bounds each of its own waits at 20 s, so a line always
    // comes; the read itself needs no timer.
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    eprintln!("browser driver: {}", line.trim_end());
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("driver said {line:?}: {e}"))
}

#[cfg(unix)]
#[test]
fn debug_page_shows_published_updates_and_resumes_after_a_hub_restart() {
    let dir = temp_dir("browser");
    let addr = format!("127.0.0.1:{}", free_port());
    let mut hub = start(&dir, &addr, &[], &[]);
    let token = hub.token.clone().unwrap();
    let Some((mut driver, mut out)) = browser(&format!("{}/", hub.base)) else {
        return;
    };
    let mut stdin = driver.stdin.take().unwrap();
    assert_eq!(driver_line(&mut out)["ready"], true, "the page subscribed");

    let publish_n = |base: &str, n: usize| -> String {
        let out = publish(
            base,
            &[
                "--topic",
                "https://example.com/demo",
                "--data",
                &format!("{{\"n\":{n}}}"),
                "--token",
                &token,
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let mut ids = vec![publish_n(&hub.base, 1), publish_n(&hub.base, 2)];
    writeln!(stdin, "wait 2").unwrap();
    let seen = driver_line(&mut out);
    assert!(seen.get("error").is_none(), "{seen}");

    // Restart the hub on the same address; publish before the page has had
    // time to reconnect, so only Last-Event-ID replay can deliver it.
    assert!(terminate(&mut hub).success());
    let hub = start(&dir, &addr, &[], &[]);
    ids.push(publish_n(&hub.base, 3));
    ids.push(publish_n(&hub.base, 4));
    writeln!(stdin, "wait 4").unwrap();
    let seen = driver_line(&mut out);
    writeln!(stdin, "quit").unwrap();
    drop(stdin); // the driver reads stdin until it closes
    let _ = driver.wait();
    assert!(seen.get("error").is_none(), "{seen}");
    let got: Vec<String> = seen["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, ids, "every update once, in order, across the restart");
    let data: Vec<&str> = seen["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["data"].as_str().unwrap())
        .collect();
    assert_eq!(
        data,
        [r#"{"n":1}"#, r#"{"n":2}"#, r#"{"n":3}"#, r#"{"n":4}"#]
    );
}

/// One setting from all three sources: the flag beats the variable, which
/// beats the file (the banner says how many updates are kept).
#[test]
fn a_flag_beats_its_variable_which_beats_the_file() {
    let dir = temp_dir("precedence");
    let file = dir.join("hub.toml");
    std::fs::write(&file, "store = \"memory://\"\nhistory_size = 5\n").unwrap();
    let config = file.to_str().unwrap();
    let kept = |envs: &[(&str, &str)], args: &[&str]| {
        let mut all = vec!["--config", config];
        all.extend(args);
        let hub = start(&dir, "127.0.0.1:0", envs, &all);
        let line = hub
            .banner
            .iter()
            .find(|l| l.contains("updates kept"))
            .cloned();
        line.expect("the banner names the store")
    };
    assert!(kept(&[], &[]).contains("last 5 updates kept"));
    let env = [("SSE_HISTORY_SIZE", "6")];
    assert!(kept(&env, &[]).contains("last 6 updates kept"));
    assert!(kept(&env, &["--history-size", "7"]).contains("last 7 updates kept"));
    // The byte bound beside it: a new count keeps it.
    let bytes = [("SSE_HISTORY_BYTES", "2MiB")];
    assert!(kept(&bytes, &["--history-size", "7"])
        .contains("last 7 updates kept (at most 2 MiB of them)"));
    assert!(
        kept(&[], &[]).contains("(at most 64 MiB of them)"),
        "the default"
    );
}
