//! The `sse` binary as a child process: found next to the running test,
//! started with arguments and environment, waited on until it listens, its
//! stderr kept for assertions, stopped (SIGTERM) or killed, and always
//! killed when dropped, so a failing test leaves no process behind.
//!
//! ```no_run
//! use sse_testkit::binary::SseCommand;
//! use sse_testkit::ports::free_addr;
//!
//! let addr = free_addr();
//! let hub = SseCommand::new("serve")
//!     .args(["--store", "memory://", "--addr", &addr.to_string()])
//!     .env("SSE_PUBLISHER_JWT_KEY", "a publisher key of at least 32 bytes")
//!     .start_listening(addr);
//! assert!(hub.stderr().is_empty());
//! hub.kill();
//! ```

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The bound on a start (until the process listens) and on a stop.
pub const START_WAIT: Duration = Duration::from_secs(20);

/// Where the `sse` binary is: `SSE_HUB_BIN` when set (another build, e.g.
/// the release one for a long run), otherwise the `sse` that cargo built
/// beside the running test (`target/<profile>/sse` for a test in
/// `target/<profile>/deps/`, which is `CARGO_BIN_EXE_sse` in `sse-cli`'s
/// tests).
///
/// # Panics
///
/// When the binary is not there: outside `sse-cli`'s own tests, build it
/// first (`cargo build -p sse-cli`).
pub fn sse_path() -> PathBuf {
    if let Some(bin) = std::env::var_os("SSE_HUB_BIN") {
        return std::fs::canonicalize(&bin)
            .unwrap_or_else(|e| panic!("SSE_HUB_BIN={}: {e}", bin.to_string_lossy()));
    }
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test runs from target/<profile>/deps");
    let bin = profile_dir.join(format!("sse{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} is missing: build it first (cargo build -p sse-cli)",
        bin.display()
    );
    bin
}

/// A command line of the `sse` binary, before it starts.
#[must_use = "a command does nothing until started"]
pub struct SseCommand {
    command: Command,
    description: String,
}

impl SseCommand {
    /// `sse <subcommand>` (see [`sse_path`]), with no standard input,
    /// standard output discarded, `SSE_LOG=warn`, and none of the
    /// variables a developer's shell may hold that change what `sse` does
    /// (`SSE_TOKEN`, `SSE_STORE`, `SSE_CONFIG`).
    ///
    /// `SSE_HUB_CPUS` (a `taskset -c` list) pins the process to those
    /// cores, so that a load generator on the others measures the hub,
    /// not the contention.
    pub fn new(subcommand: &str) -> SseCommand {
        let bin = sse_path();
        let mut command = match std::env::var_os("SSE_HUB_CPUS") {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpus).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        command
            .arg(subcommand)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .env("SSE_LOG", "warn");
        for var in ["SSE_TOKEN", "SSE_STORE", "SSE_CONFIG"] {
            command.env_remove(var);
        }
        SseCommand {
            command,
            description: format!("sse {subcommand}"),
        }
    }

    /// One more argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.description
            .push_str(&format!(" {}", arg.as_ref().to_string_lossy()));
        self.command.arg(arg);
        self
    }

    /// More arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    /// An environment variable.
    pub fn env(mut self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.command.env(name, value);
        self
    }

    /// Starts from an empty environment (keeping `PATH` and `SSE_LOG`), so
    /// that only what the test sets reaches the process.
    pub fn env_clear(mut self) -> Self {
        self.command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("SSE_LOG", "warn");
        self
    }

    /// The working directory.
    pub fn current_dir(mut self, dir: impl AsRef<std::path::Path>) -> Self {
        self.command.current_dir(dir);
        self
    }

    /// The underlying command, for what the builder does not cover.
    pub fn command_mut(&mut self) -> &mut Command {
        &mut self.command
    }

    /// Starts the process without waiting for anything. Its stderr is
    /// collected (see [`SseProcess::stderr`]).
    ///
    /// # Panics
    ///
    /// When the process cannot be started.
    pub fn spawn(mut self) -> SseProcess {
        let mut child = self
            .command
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.description));
        let stderr = Arc::new(Output::default());
        let pipe = child.stderr.take().expect("stderr is piped");
        let sink = Arc::clone(&stderr);
        // Drains stderr for the process's whole life: a full pipe would
        // block its next log line.
        std::thread::spawn(move || sink.collect(pipe));
        SseProcess {
            child,
            description: self.description,
            stderr,
            stdout: Arc::new(Output::default()),
            addr: None,
        }
    }

    /// Starts a hub (`sse serve`, usually on `SSE_ADDR=127.0.0.1:0`) and
    /// waits (bounded by [`START_WAIT`]) until it prints where it listens
    /// (`sse hub listening on <url>` on stdout); that address is then
    /// [`SseProcess::addr`]. Its stdout is collected too (see
    /// [`SseProcess::stdout`]).
    ///
    /// # Panics
    ///
    /// When it exits first or does not say in time.
    pub fn start_announced(mut self) -> SseProcess {
        self.command.stdout(Stdio::piped());
        let mut process = self.spawn();
        let pipe = process.child.stdout.take().expect("stdout is piped");
        let sink = Arc::clone(&process.stdout);
        // Drains stdout for the process's whole life: a closed pipe would
        // make its next line of output fail.
        std::thread::spawn(move || sink.collect(pipe));
        const ANNOUNCE: &str = "sse hub listening on ";
        let deadline = Instant::now() + START_WAIT;
        loop {
            let said = process.stdout();
            if let Some(line) = said.lines().find_map(|l| l.strip_prefix(ANNOUNCE)) {
                let url = line.trim();
                let addr = url
                    .trim_start_matches("http://")
                    .trim_start_matches("https://")
                    .split('/')
                    .next()
                    .and_then(|a| a.parse().ok())
                    .unwrap_or_else(|| panic!("not an address in {line:?}"));
                process.addr = Some(addr);
                return process;
            }
            process.assert_running_before(deadline, "printed where it listens");
            let text = process.stdout.text.lock().expect("output lock");
            let left = deadline.saturating_duration_since(Instant::now());
            // Wakes on the next line, or at the deadline.
            let _ = process
                .stdout
                .grew
                .wait_timeout_while(text, left, |t| t.len() == said.len());
        }
    }

    /// Starts the process and waits (bounded by [`START_WAIT`]) until
    /// `addr` accepts TCP connections.
    ///
    /// # Panics
    ///
    /// When it exits first or does not listen in time (its stderr is in
    /// the message).
    pub fn start_listening(self, addr: SocketAddr) -> SseProcess {
        let mut process = self.spawn();
        process.addr = Some(addr);
        let deadline = Instant::now() + START_WAIT;
        while TcpStream::connect(addr).is_err() {
            process.assert_running_before(deadline, "listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        process
    }

    /// Starts a hub (`sse serve`) and waits (bounded by [`START_WAIT`])
    /// until `GET /healthz` on `addr` answers 200.
    ///
    /// # Panics
    ///
    /// As [`start_listening`](Self::start_listening).
    pub async fn start_healthy(self, addr: SocketAddr) -> SseProcess {
        let mut process = self.spawn();
        process.addr = Some(addr);
        let deadline = Instant::now() + START_WAIT;
        while !healthz_ok(addr).await {
            process.assert_running_before(deadline, "answered /healthz");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        process
    }
}

/// Whether `GET /healthz` on `addr` answers 200 (within 5 s).
pub async fn healthz_ok(addr: SocketAddr) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let probe = async {
        let mut sock = tokio::net::TcpStream::connect(addr).await.ok()?;
        sock.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut head = [0u8; 12];
        sock.read_exact(&mut head).await.ok()?;
        Some(&head[9..12] == b"200")
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(5), probe).await,
        Ok(Some(true))
    )
}

/// What a process wrote to a pipe so far, and a signal for each new line.
#[derive(Default)]
struct Output {
    text: Mutex<String>,
    grew: Condvar,
}

impl Output {
    fn collect(&self, pipe: impl Read) {
        let mut reader = BufReader::new(pipe);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    self.text.lock().expect("output lock").push_str(&line);
                    self.grew.notify_all();
                }
            }
        }
    }
}

/// A running `sse` process, killed when dropped.
pub struct SseProcess {
    child: Child,
    description: String,
    stderr: Arc<Output>,
    stdout: Arc<Output>,
    addr: Option<SocketAddr>,
}

impl SseProcess {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The address it listens on (as given to
    /// [`start_listening`](SseCommand::start_listening) or
    /// [`start_healthy`](SseCommand::start_healthy), or as it printed).
    ///
    /// # Panics
    ///
    /// For a process started with [`SseCommand::spawn`].
    pub fn addr(&self) -> SocketAddr {
        self.addr
            .expect("started with start_listening or start_healthy")
    }

    /// The child process, for what this type does not cover.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Everything it wrote to stdout so far (started with
    /// [`SseCommand::start_announced`]; otherwise stdout is discarded).
    pub fn stdout(&self) -> String {
        self.stdout.text.lock().expect("output lock").clone()
    }

    /// Everything it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.text.lock().expect("output lock").clone()
    }

    /// Waits (bounded by `within`) until its stderr contains `needle`;
    /// all of its stderr so far.
    ///
    /// # Panics
    ///
    /// When `needle` did not appear in time.
    pub fn wait_stderr(&self, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        let mut text = self.stderr.text.lock().expect("output lock");
        while !text.contains(needle) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{} never wrote {needle:?} to stderr; it wrote:\n{text}",
                self.description
            );
            text = self
                .stderr
                .grew
                .wait_timeout(text, left)
                .expect("output lock")
                .0;
        }
        text.clone()
    }

    /// Whether it has exited (and how), without waiting.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn assert_running_before(&mut self, deadline: Instant, what: &str) {
        if let Some(status) = self.try_exit() {
            panic!(
                "{} exited before it {what}: {status}; stderr:\n{}",
                self.description,
                self.stderr()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{} never {what} within {START_WAIT:?}; stderr:\n{}",
            self.description,
            self.stderr()
        );
    }

    /// SIGTERM (a graceful shutdown), then waits for the exit, bounded by
    /// [`START_WAIT`].
    ///
    /// # Panics
    ///
    /// When it has not exited in time (it is killed first).
    pub fn stop(&mut self) -> ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + START_WAIT;
        while Instant::now() < deadline {
            if let Some(status) = self.try_exit() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        panic!("{} did not exit on SIGTERM", self.description);
    }

    /// SIGKILL, and reap.
    pub fn kill(mut self) {
        self.kill_in_place();
    }

    fn kill_in_place(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SseProcess {
    fn drop(&mut self) {
        self.kill_in_place();
    }
}
