//! A private `redis-server` for a test: on a free loopback port, in a
//! temporary directory of its own, killed when dropped. Without
//! `redis-server` on the machine, [`Redis::start`] returns `None` after a
//! message (the test returns early), or fails the test under
//! `SSE_TEST_STRICT` (see [`crate::skip`]).
//!
//! `scripts/test.sh` installs the Debian package `redis-server`.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::ports::free_port;
use crate::skip;

/// How long a server may take to answer `PING` after it was started, and
/// to exit after `SIGTERM`. Generous: it only turns a hang into a failure.
pub const START_WAIT: Duration = Duration::from_secs(20);

/// How often a port is tried again when another process took it between
/// [`free_port`] and `redis-server`'s bind.
const PORT_TRIES: usize = 5;

/// A running `redis-server`, killed (SIGKILL) when dropped.
///
/// By default it keeps nothing on disk (`--save "" --appendonly no`);
/// [`RedisBuilder::append_only`] makes it durable across
/// [`stop`](Redis::stop) and [`restart`](Redis::restart).
#[derive(Debug)]
pub struct Redis {
    child: Option<Child>,
    port: u16,
    program: String,
    args: Vec<OsString>,
    dir: tempfile::TempDir,
}

/// Options of a [`Redis`] before it starts.
#[derive(Debug, Default)]
#[must_use = "a builder does nothing until `start`"]
pub struct RedisBuilder {
    args: Vec<OsString>,
    append_only: bool,
}

impl RedisBuilder {
    /// Extra `redis-server` arguments after the kit's own (later ones win
    /// in Redis, so these override: TLS ports, `--replicaof`…).
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Append-only persistence with an fsync on every write, so that an
    /// acknowledged write survives [`Redis::stop`] and [`Redis::restart`].
    pub fn append_only(mut self) -> Self {
        self.append_only = true;
        self
    }

    /// Starts the server and waits (bounded by [`START_WAIT`]) until it
    /// answers `PING`. `None`, after a message, when `redis-server` is not
    /// installed (see the module docs).
    ///
    /// # Panics
    ///
    /// When `redis-server` is missing under `SSE_TEST_STRICT`, or does not
    /// start on any of a few free ports.
    pub fn start(self) -> Option<Redis> {
        let program = "redis-server";
        if !skip::have(program, "--version") {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("sse-test-redis-")
            .tempdir()
            .expect("a temp dir for redis-server");
        let mut args: Vec<OsString> = ["--bind", "127.0.0.1", "--save", ""]
            .into_iter()
            .map(OsString::from)
            .collect();
        if self.append_only {
            args.extend(["--appendonly", "yes", "--appendfsync", "always"].map(OsString::from));
        } else {
            args.extend(["--appendonly", "no"].map(OsString::from));
        }
        args.extend(["--daemonize", "no", "--loglevel", "warning"].map(OsString::from));
        args.push("--dir".into());
        args.push(dir.path().into());
        args.extend(self.args);
        let mut redis = Redis {
            child: None,
            port: 0,
            program: program.to_owned(),
            args,
            dir,
        };
        for _ in 0..PORT_TRIES {
            redis.port = free_port();
            if redis.spawn() {
                return Some(redis);
            }
        }
        panic!("{program} did not start on any of {PORT_TRIES} free ports");
    }
}

impl Redis {
    /// A server with the defaults (see [`RedisBuilder::start`]).
    ///
    /// # Panics
    ///
    /// As [`RedisBuilder::start`].
    pub fn start() -> Option<Redis> {
        Self::builder().start()
    }

    /// Options before starting.
    pub fn builder() -> RedisBuilder {
        RedisBuilder::default()
    }

    fn spawn(&mut self) -> bool {
        let child = Command::new(&self.program)
            .arg("--port")
            .arg(self.port.to_string())
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.program));
        self.child = Some(child);
        let deadline = Instant::now() + START_WAIT;
        while Instant::now() < deadline {
            if command(self.port, &["PING"]).is_some_and(|r| r == "+PONG") {
                return true;
            }
            if let Some(Ok(Some(_))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return false; // exited: the port was taken
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        false
    }

    /// The plaintext port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The server's working directory (`--dir`: its append-only file, a
    /// replica's sync file), removed when the server is dropped.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's process id.
    ///
    /// # Panics
    ///
    /// When the server is stopped.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("redis-server is running").id()
    }

    /// Runs one command as the default user on the plaintext port; the
    /// first line of the reply (`+OK`, `:3`, `$5`…).
    ///
    /// # Panics
    ///
    /// When the server does not answer.
    pub fn run(&self, args: &[&str]) -> String {
        command(self.port, args).unwrap_or_else(|| panic!("redis {args:?}: no answer"))
    }

    /// Sends a signal (`-STOP`, `-CONT`, `-TERM`…) with `kill`.
    ///
    /// # Panics
    ///
    /// When the server is stopped or `kill` fails.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} redis-server");
    }

    /// Stops the server the way an operator does (SIGTERM: it syncs the
    /// append-only file and exits) and waits for it, bounded.
    ///
    /// # Panics
    ///
    /// When it has not exited within [`START_WAIT`] (it is killed first).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + START_WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("redis-server did not stop on SIGTERM");
    }

    /// Starts it again after [`stop`](Redis::stop), on the same port with
    /// the same directory (and so, with [`RedisBuilder::append_only`], the
    /// same data).
    ///
    /// # Panics
    ///
    /// When it does not answer `PING` within [`START_WAIT`].
    pub fn restart(&mut self) {
        self.stop();
        assert!(self.spawn(), "redis-server did not restart");
    }

    /// SIGKILL, and reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One RESP command to `127.0.0.1:port`; the first line of the reply
/// without its line break, `None` when nothing answers (within 5 s).
pub fn command(port: u16, args: &[&str]) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut request = format!("*{}\r\n", args.len());
    for a in args {
        request.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(request.as_bytes()).ok()?;
    let mut reply = Vec::new();
    let mut byte = [0u8; 1];
    while s.read_exact(&mut byte).is_ok() {
        if byte[0] == b'\n' {
            break;
        }
        reply.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&reply).trim_end().to_owned();
    (!line.is_empty()).then_some(line)
}

/// The URL of one `redis-server` shared by every test of this test binary
/// (started on first use), or `None` when it skips (see [`Redis::start`]).
/// Give each test a key prefix of its own.
///
/// Statics are never dropped, so this server is not killed by [`Drop`]: a
/// shell watchdog beside it stops it once this process is gone.
///
/// # Panics
///
/// As [`RedisBuilder::start`].
pub fn shared_url() -> Option<String> {
    static URL: OnceLock<Option<String>> = OnceLock::new();
    URL.get_or_init(start_shared).clone()
}

fn start_shared() -> Option<String> {
    if !skip::have("redis-server", "--version") {
        return None;
    }
    for _ in 0..PORT_TRIES {
        let port = free_port();
        let script = format!(
            "redis-server --port {port} --bind 127.0.0.1 --save '' --appendonly no \
             --daemonize no --loglevel warning & r=$!; \
             while kill -0 {pid} 2>/dev/null && kill -0 $r 2>/dev/null; do sleep 1; done; \
             kill $r 2>/dev/null",
            pid = std::process::id()
        );
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let deadline = Instant::now() + START_WAIT;
        let mut up = false;
        while Instant::now() < deadline {
            if command(port, &["PING"]).is_some_and(|r| r == "+PONG") {
                up = true;
                break;
            }
            if let Ok(Some(_)) = watchdog.try_wait() {
                break; // the server exited: the port was taken
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Reaped when it ends (with the server), so it never lingers as a
        // zombie.
        std::thread::spawn(move || watchdog.wait());
        if up {
            return Some(format!("redis://127.0.0.1:{port}"));
        }
    }
    panic!("redis-server did not start on any of {PORT_TRIES} free ports");
}
