//! The reconnect logic as a pure state machine: it takes the time and what
//! happened to a connection, and answers what to do next. No I/O, no clock
//! of its own, no randomness of its own (jitter comes from a seeded
//! generator the caller can fix), so every timing rule is tested here with
//! made-up instants instead of sleeps. [`EventSource`](crate::EventSource)
//! only drives it.

use std::time::{Duration, Instant};

/// How an [`EventSource`](crate::EventSource) waits between connections.
///
/// The delay before a reconnect is the *reconnection time*: the server's
/// latest `retry:` value (kept across connections, as in browsers), or
/// [`initial_retry`](ReconnectPolicy::initial_retry) until the server sends
/// one. That is all a browser does. On top of it, failed attempts in a row
/// back off exponentially:
///
/// | consecutive failures `n` | delay before jitter |
/// |---|---|
/// | 0 (a working connection ended) | `retry` |
/// | n ≥ 1 | `min(max(retry, min_backoff) × 2ⁿ, max(max_delay, retry))` |
///
/// and jitter adds a uniformly random `[0, jitter)` fraction of that delay,
/// so the wait is never shorter than the server asked for, and at most
/// `max(max_delay, retry) × (1 + jitter)`. A connection counts as working
/// (and resets `n`) once it delivered a message or stayed open for
/// [`reset_after`](ReconnectPolicy::reset_after).
///
/// ```
/// use std::time::Duration;
/// use sse_client::ReconnectPolicy;
/// let policy = ReconnectPolicy::default()
///     .initial_retry(Duration::from_secs(1))
///     .max_delay(Duration::from_secs(30))
///     .retry_statuses([502, 503, 504]);
/// assert_eq!(policy.get_max_delay(), Duration::from_secs(30));
/// ```
#[derive(Clone, Debug, PartialEq)]
#[must_use]
pub struct ReconnectPolicy {
    /// Reconnection time until the server sends `retry:` (browsers use 3 to
    /// 5 seconds; the default is 3 s).
    initial_retry: Duration,
    /// Cap on the exponential part of the delay (default 60 s). Never below
    /// the server's `retry:`.
    max_delay: Duration,
    /// The base of the exponential backoff when `retry` is smaller (default
    /// 1 s), so that `retry: 0` cannot turn failures into a busy loop.
    min_backoff: Duration,
    /// Fraction of the delay added at random, in `[0, 1]` (default 0.5).
    jitter: f64,
    /// Open connection time after which a connection counts as working.
    reset_after: Duration,
    /// HTTP statuses (other than 200, 204 and redirects) that reconnect with
    /// backoff instead of failing for good. Empty by default, as in browsers.
    retry_statuses: Vec<u16>,
    /// Failed attempts in a row after which the source gives up. `None`
    /// (the default) retries for ever, as browsers do.
    max_retries: Option<u32>,
    /// `false` turns every reconnect into a final close.
    enabled: bool,
    /// Whether a request whose method is not idempotent (POST, PATCH, ...)
    /// is sent again on reconnect. Off by default.
    non_idempotent: bool,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            initial_retry: Duration::from_secs(3),
            max_delay: Duration::from_secs(60),
            min_backoff: Duration::from_secs(1),
            jitter: 0.5,
            reset_after: Duration::from_secs(30),
            retry_statuses: Vec::new(),
            max_retries: None,
            enabled: true,
            non_idempotent: false,
        }
    }
}

impl ReconnectPolicy {
    /// A policy that never reconnects: the first disconnect closes the
    /// source (what `sse listen --no-reconnect` does).
    pub fn never() -> Self {
        ReconnectPolicy {
            enabled: false,
            ..ReconnectPolicy::default()
        }
    }

    /// Sets the reconnection time used until the server sends `retry:`.
    pub fn initial_retry(mut self, delay: Duration) -> Self {
        self.initial_retry = delay;
        self
    }

    /// Sets the cap on the backoff delay.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Sets the smallest base of the exponential backoff.
    pub fn min_backoff(mut self, delay: Duration) -> Self {
        self.min_backoff = delay;
        self
    }

    /// Sets the random fraction added to each delay; clamped to `[0, 1]`
    /// (a NaN counts as 0).
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = if fraction.is_nan() {
            0.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        self
    }

    /// Sets how long a connection must stay open to count as working even
    /// if it delivered no message.
    pub fn reset_after(mut self, open_for: Duration) -> Self {
        self.reset_after = open_for;
        self
    }

    /// Reconnects with backoff on these statuses (for example 502, 503 and
    /// 504 during a deploy) instead of failing. 200, 204 and redirects are
    /// never affected.
    pub fn retry_statuses(mut self, statuses: impl IntoIterator<Item = u16>) -> Self {
        self.retry_statuses = statuses.into_iter().collect();
        self.retry_statuses.sort_unstable();
        self.retry_statuses.dedup();
        self
    }

    /// Gives up after this many failed attempts in a row.
    pub fn max_retries(mut self, attempts: Option<u32>) -> Self {
        self.max_retries = attempts;
        self
    }

    /// Lets a source whose method is not idempotent (POST, PATCH, or any
    /// method other than GET, HEAD, PUT, DELETE, OPTIONS and TRACE, per RFC
    /// 9110) reconnect, which sends its request (and body) again.
    ///
    /// Off by default: such a source closes on its first disconnect of any
    /// kind (the end of the stream, a network error, a retryable status), so
    /// a prompt to a streaming API is never submitted twice behind the
    /// application's back. Turn it on when the server makes a repeated
    /// request harmless, for example by resuming from `Last-Event-ID`.
    /// Redirects (307 and 308 keep the method and body) are part of one
    /// attempt and are followed either way.
    pub fn reconnect_non_idempotent(mut self, enabled: bool) -> Self {
        self.non_idempotent = enabled;
        self
    }

    /// Whether a source with a non-idempotent method may reconnect.
    pub fn reconnects_non_idempotent(&self) -> bool {
        self.non_idempotent
    }

    /// The same policy, with reconnects turned off unless `method` may be
    /// sent again (the builder applies this).
    pub(crate) fn for_method(mut self, method: &http::Method) -> Self {
        let idempotent = matches!(
            *method,
            http::Method::GET
                | http::Method::HEAD
                | http::Method::PUT
                | http::Method::DELETE
                | http::Method::OPTIONS
                | http::Method::TRACE
        );
        if !idempotent && !self.non_idempotent {
            self.enabled = false;
        }
        self
    }

    /// The reconnection time used until the server sends `retry:`.
    pub fn get_initial_retry(&self) -> Duration {
        self.initial_retry
    }

    /// The cap on the backoff delay.
    pub fn get_max_delay(&self) -> Duration {
        self.max_delay
    }

    /// Whether this status reconnects with backoff.
    pub fn retries_status(&self, status: u16) -> bool {
        self.retry_statuses.binary_search(&status).is_ok()
    }

    /// Whether the policy reconnects at all.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }
}

/// Why a connection (or an attempt at one) ended: the input of
/// [`Reconnect::on_disconnect`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Disconnect {
    /// The server ended the stream cleanly (end of the response body).
    Eof,
    /// A network error: connect failure, reset, TLS, timeout, a protocol
    /// error, or the stream broke a size limit.
    Network,
    /// A response with this status (not 200, 204 or a followed redirect).
    Status(u16),
    /// A 204 No Content: the server asks the client to stop.
    NoContent,
    /// Something a reconnect cannot fix: a wrong content type, too many
    /// redirects, an invalid redirect target.
    Fatal,
}

/// What the caller should do after a disconnect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Connect again once `at` has come (`delay` after the disconnect).
    Reconnect {
        /// When to start the next attempt.
        at: Instant,
        /// How long after the disconnect that is.
        delay: Duration,
    },
    /// Stop for good: the source is closed.
    Close,
}

/// Where the state machine is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// A connection attempt is under way.
    Connecting,
    /// A stream is open.
    Open,
    /// Waiting until the instant to reconnect.
    Waiting(Instant),
    /// Closed for good.
    Closed,
}

/// The reconnect state machine.
///
/// ```
/// use std::time::{Duration, Instant};
/// use sse_client::reconnect::{Action, Disconnect, Reconnect};
/// use sse_client::ReconnectPolicy;
///
/// let t0 = Instant::now();
/// let mut m = Reconnect::new(ReconnectPolicy::default().jitter(0.0), 1);
/// m.on_connect(t0);
/// m.on_open(t0);
/// m.on_retry(Duration::from_millis(500));
/// m.on_message();
/// assert_eq!(
///     m.on_disconnect(t0, Disconnect::Eof),
///     Action::Reconnect { at: t0 + Duration::from_millis(500), delay: Duration::from_millis(500) },
/// );
/// ```
#[derive(Clone, Debug)]
pub struct Reconnect {
    policy: ReconnectPolicy,
    /// The reconnection time: the server's last `retry:` or the initial one.
    retry: Duration,
    /// Failed attempts since the last working connection.
    failures: u32,
    phase: Phase,
    opened_at: Option<Instant>,
    /// The open connection delivered a message.
    delivered: bool,
    /// xorshift64* state; never zero.
    rng: u64,
}

impl Reconnect {
    /// A machine in the `Connecting` phase (an event source connects as soon
    /// as it is created). `seed` feeds the jitter; any value works, the same
    /// value gives the same delays.
    pub fn new(policy: ReconnectPolicy, seed: u64) -> Self {
        Reconnect {
            retry: policy.initial_retry,
            policy,
            failures: 0,
            phase: Phase::Connecting,
            opened_at: None,
            delivered: false,
            rng: splitmix64(seed),
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &ReconnectPolicy {
        &self.policy
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The reconnection time (the server's `retry:` once it sent one).
    pub fn retry(&self) -> Duration {
        self.retry
    }

    /// Failed attempts since the last working connection.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// A connection attempt starts now.
    pub fn on_connect(&mut self, _now: Instant) {
        if self.phase != Phase::Closed {
            self.phase = Phase::Connecting;
            self.opened_at = None;
            self.delivered = false;
        }
    }

    /// The server answered 200 with an event stream.
    pub fn on_open(&mut self, now: Instant) {
        if self.phase != Phase::Closed {
            self.phase = Phase::Open;
            self.opened_at = Some(now);
        }
    }

    /// The open stream delivered a message: the connection works.
    pub fn on_message(&mut self) {
        self.delivered = true;
    }

    /// The server sent a valid `retry:` field.
    pub fn on_retry(&mut self, delay: Duration) {
        self.retry = delay;
    }

    /// The user closed the source.
    pub fn close(&mut self) {
        self.phase = Phase::Closed;
    }

    /// The connection or attempt ended; returns what to do next and moves
    /// to `Waiting` or `Closed` accordingly.
    pub fn on_disconnect(&mut self, now: Instant, why: Disconnect) -> Action {
        if self.phase == Phase::Closed {
            return Action::Close;
        }
        let worked = match self.opened_at {
            Some(at) => {
                self.delivered || now.saturating_duration_since(at) >= self.policy.reset_after
            }
            None => false,
        };
        let retryable = match why {
            Disconnect::Eof | Disconnect::Network => true,
            Disconnect::Status(s) => self.policy.retries_status(s),
            Disconnect::NoContent | Disconnect::Fatal => false,
        };
        if !retryable || !self.policy.enabled {
            self.phase = Phase::Closed;
            return Action::Close;
        }
        if worked {
            self.failures = 0;
        } else {
            self.failures = self.failures.saturating_add(1);
            if self
                .policy
                .max_retries
                .is_some_and(|max| self.failures > max)
            {
                self.phase = Phase::Closed;
                return Action::Close;
            }
        }
        let delay = self.delay();
        // An absurd `retry:` (it saturates at u64::MAX ms) must not panic on
        // Instant overflow; a year is "never" for any real process.
        let at = now
            .checked_add(delay)
            .or_else(|| now.checked_add(Duration::from_secs(365 * 24 * 3600)))
            .unwrap_or(now);
        self.phase = Phase::Waiting(at);
        Action::Reconnect { at, delay }
    }

    /// Whether the wait is over at `now` (true outside `Waiting`).
    pub fn is_due(&self, now: Instant) -> bool {
        match self.phase {
            Phase::Waiting(at) => now >= at,
            _ => true,
        }
    }

    fn delay(&mut self) -> Duration {
        let base = if self.failures == 0 {
            self.retry
        } else {
            let cap = self.policy.max_delay.max(self.retry);
            let unit = self.retry.max(self.policy.min_backoff);
            // 2^n with n capped: beyond 2^31 every real cap has been hit.
            let factor = 1u32 << self.failures.min(31);
            unit.checked_mul(factor).map_or(cap, |d| d.min(cap))
        };
        if self.policy.jitter <= 0.0 {
            return base;
        }
        // Checked: `mul_f64` panics when the product overflows a Duration.
        let fraction = self.policy.jitter * self.next_unit();
        let extra = Duration::try_from_secs_f64(base.as_secs_f64() * fraction).unwrap_or_default();
        base.saturating_add(extra)
    }

    /// A uniform sample in `[0, 1)` (xorshift64*: plenty for spreading
    /// reconnects, and no dependency).
    fn next_unit(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (r >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The idle-timeout rule, also pure: a connection that receives no bytes at
/// all (not even a keep-alive comment) for `limit` is dead.
///
/// Bytes only move a timestamp ([`on_bytes`](IdleTimer::on_bytes), cheap
/// enough for every chunk); the driver's single timer is re-armed lazily
/// when it fires early ([`check`](IdleTimer::check)).
///
/// ```
/// use std::time::{Duration, Instant};
/// use sse_client::reconnect::{IdleCheck, IdleTimer};
/// let t0 = Instant::now();
/// let mut idle = IdleTimer::new(Duration::from_secs(30), t0);
/// idle.on_bytes(t0 + Duration::from_secs(20));
/// assert_eq!(idle.check(t0 + Duration::from_secs(30)), IdleCheck::WaitUntil(t0 + Duration::from_secs(50)));
/// assert_eq!(idle.check(t0 + Duration::from_secs(50)), IdleCheck::Expired);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct IdleTimer {
    limit: Duration,
    last_rx: Instant,
}

/// What [`IdleTimer::check`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdleCheck {
    /// No bytes for the whole limit: the connection is dead.
    Expired,
    /// Bytes came since; look again at this instant.
    WaitUntil(Instant),
}

impl IdleTimer {
    /// A timer for a connection that opened (received its head) at `now`.
    pub fn new(limit: Duration, now: Instant) -> Self {
        IdleTimer {
            limit,
            last_rx: now,
        }
    }

    /// The limit.
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// Bytes arrived at `now`.
    pub fn on_bytes(&mut self, now: Instant) {
        self.last_rx = now;
    }

    /// When the connection is dead unless more bytes come (a limit too large
    /// for `Instant` means a year, which is "never" for a connection).
    pub fn deadline(&self) -> Instant {
        self.last_rx
            .checked_add(self.limit)
            .or_else(|| {
                self.last_rx
                    .checked_add(Duration::from_secs(365 * 24 * 3600))
            })
            .unwrap_or(self.last_rx)
    }

    /// Whether the connection is dead at `now`.
    pub fn check(&self, now: Instant) -> IdleCheck {
        let deadline = self.deadline();
        if now >= deadline {
            IdleCheck::Expired
        } else {
            IdleCheck::WaitUntil(deadline)
        }
    }
}

/// Spreads any seed (0, 1, 2, … included) over the state space; the result
/// is never zero, the one state xorshift cannot leave.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_idempotent_methods_reconnect_unless_allowed() {
        use http::Method;
        for (method, reconnects) in [
            (Method::GET, true),
            (Method::HEAD, true),
            (Method::PUT, true),
            (Method::DELETE, true),
            (Method::OPTIONS, true),
            (Method::TRACE, true),
            (Method::POST, false),
            (Method::PATCH, false),
            (Method::from_bytes(b"QUERY").unwrap(), false),
        ] {
            let policy = ReconnectPolicy::default().for_method(&method);
            assert_eq!(policy.is_enabled(), reconnects, "{method}");
            let allowed = ReconnectPolicy::default()
                .reconnect_non_idempotent(true)
                .for_method(&method);
            assert!(allowed.is_enabled(), "{method}");
        }
        // A policy that never reconnects stays that way.
        assert!(!ReconnectPolicy::never()
            .reconnect_non_idempotent(true)
            .for_method(&Method::GET)
            .is_enabled());
    }

    const S: Duration = Duration::from_secs(1);

    fn machine(policy: ReconnectPolicy) -> (Reconnect, Instant) {
        (Reconnect::new(policy.jitter(0.0), 7), Instant::now())
    }

    fn delay_of(a: Action) -> Duration {
        match a {
            Action::Reconnect { delay, .. } => delay,
            Action::Close => panic!("expected a reconnect, got close"),
        }
    }

    #[test]
    fn working_connection_reconnects_after_initial_retry() {
        let (mut m, t) = machine(ReconnectPolicy::default());
        m.on_connect(t);
        m.on_open(t);
        m.on_message();
        let a = m.on_disconnect(t + S, Disconnect::Eof);
        assert_eq!(
            a,
            Action::Reconnect {
                at: t + S + 3 * S,
                delay: 3 * S
            }
        );
        assert_eq!(m.phase(), Phase::Waiting(t + 4 * S));
        assert!(!m.is_due(t + 3 * S));
        assert!(m.is_due(t + 4 * S));
    }

    #[test]
    fn retry_field_sets_delay_and_persists_across_connections() {
        let (mut m, t) = machine(ReconnectPolicy::default());
        m.on_connect(t);
        m.on_open(t);
        m.on_retry(Duration::from_millis(250));
        m.on_message();
        assert_eq!(
            delay_of(m.on_disconnect(t, Disconnect::Eof)),
            Duration::from_millis(250)
        );
        // The next connection sends no retry: the value is kept.
        m.on_connect(t);
        m.on_open(t);
        m.on_message();
        assert_eq!(
            delay_of(m.on_disconnect(t, Disconnect::Network)),
            Duration::from_millis(250)
        );
        assert_eq!(m.retry(), Duration::from_millis(250));
    }

    #[test]
    fn failures_back_off_exponentially_up_to_the_cap() {
        let (mut m, t) = machine(ReconnectPolicy::default().max_delay(10 * S));
        m.on_retry(S);
        let mut seen = Vec::new();
        for _ in 0..6 {
            m.on_connect(t);
            seen.push(delay_of(m.on_disconnect(t, Disconnect::Network)));
        }
        assert_eq!(seen, [2 * S, 4 * S, 8 * S, 10 * S, 10 * S, 10 * S]);
        assert_eq!(m.failures(), 6);
    }

    #[test]
    fn a_message_resets_the_backoff() {
        let (mut m, t) = machine(ReconnectPolicy::default());
        m.on_retry(S);
        for _ in 0..3 {
            m.on_connect(t);
            m.on_disconnect(t, Disconnect::Network);
        }
        m.on_connect(t);
        m.on_open(t);
        m.on_message();
        assert_eq!(delay_of(m.on_disconnect(t, Disconnect::Eof)), S);
        assert_eq!(m.failures(), 0);
    }

    #[test]
    fn an_open_without_messages_counts_as_failure_until_reset_after() {
        let (mut m, t) = machine(ReconnectPolicy::default().reset_after(10 * S));
        m.on_retry(S);
        m.on_connect(t);
        m.on_open(t);
        // Opened and closed at once with nothing: a flapping server backs off.
        assert_eq!(delay_of(m.on_disconnect(t + S, Disconnect::Eof)), 2 * S);
        m.on_connect(t);
        m.on_open(t);
        // Open long enough: a working connection (keep-alives only).
        assert_eq!(delay_of(m.on_disconnect(t + 10 * S, Disconnect::Eof)), S);
    }

    #[test]
    fn retry_zero_reconnects_at_once_but_failures_use_min_backoff() {
        let (mut m, t) =
            machine(ReconnectPolicy::default().min_backoff(Duration::from_millis(100)));
        m.on_retry(Duration::ZERO);
        m.on_connect(t);
        m.on_open(t);
        m.on_message();
        assert_eq!(
            delay_of(m.on_disconnect(t, Disconnect::Eof)),
            Duration::ZERO
        );
        m.on_connect(t);
        assert_eq!(
            delay_of(m.on_disconnect(t, Disconnect::Network)),
            Duration::from_millis(200)
        );
    }

    #[test]
    fn server_retry_above_cap_is_honoured() {
        let (mut m, t) = machine(ReconnectPolicy::default().max_delay(S));
        m.on_retry(5 * S);
        m.on_connect(t);
        assert_eq!(delay_of(m.on_disconnect(t, Disconnect::Network)), 5 * S);
    }

    #[test]
    fn no_content_and_fatal_close_for_good() {
        for why in [
            Disconnect::NoContent,
            Disconnect::Fatal,
            Disconnect::Status(500),
            Disconnect::Status(404),
        ] {
            let (mut m, t) = machine(ReconnectPolicy::default());
            m.on_connect(t);
            assert_eq!(m.on_disconnect(t, why), Action::Close, "{why:?}");
            assert_eq!(m.phase(), Phase::Closed);
            // Nothing revives a closed machine.
            m.on_connect(t);
            assert_eq!(m.phase(), Phase::Closed);
            assert_eq!(m.on_disconnect(t, Disconnect::Eof), Action::Close);
        }
    }

    #[test]
    fn chosen_statuses_retry_with_backoff() {
        let (mut m, t) = machine(ReconnectPolicy::default().retry_statuses([503, 502]));
        m.on_retry(S);
        m.on_connect(t);
        assert_eq!(delay_of(m.on_disconnect(t, Disconnect::Status(502))), 2 * S);
        m.on_connect(t);
        assert_eq!(delay_of(m.on_disconnect(t, Disconnect::Status(503))), 4 * S);
        m.on_connect(t);
        assert_eq!(m.on_disconnect(t, Disconnect::Status(500)), Action::Close);
        // 204 is never retried even if listed.
        let (mut m, t) = machine(ReconnectPolicy::default().retry_statuses([204]));
        assert_eq!(m.on_disconnect(t, Disconnect::NoContent), Action::Close);
    }

    #[test]
    fn max_retries_gives_up() {
        let (mut m, t) = machine(ReconnectPolicy::default().max_retries(Some(2)));
        m.on_connect(t);
        assert!(matches!(
            m.on_disconnect(t, Disconnect::Network),
            Action::Reconnect { .. }
        ));
        m.on_connect(t);
        assert!(matches!(
            m.on_disconnect(t, Disconnect::Network),
            Action::Reconnect { .. }
        ));
        m.on_connect(t);
        assert_eq!(m.on_disconnect(t, Disconnect::Network), Action::Close);
    }

    #[test]
    fn never_policy_closes_on_first_disconnect() {
        let (mut m, t) = machine(ReconnectPolicy::never());
        m.on_connect(t);
        m.on_open(t);
        m.on_message();
        assert_eq!(m.on_disconnect(t, Disconnect::Eof), Action::Close);
    }

    #[test]
    fn close_is_final() {
        let (mut m, t) = machine(ReconnectPolicy::default());
        m.close();
        assert_eq!(m.on_disconnect(t, Disconnect::Network), Action::Close);
        m.on_open(t);
        assert_eq!(m.phase(), Phase::Closed);
    }

    #[test]
    fn jitter_only_adds_and_is_bounded_and_reproducible() {
        let t = Instant::now();
        let run = |seed| {
            let mut m = Reconnect::new(
                ReconnectPolicy::default().jitter(0.5).max_delay(8 * S),
                seed,
            );
            m.on_retry(S);
            (0..20)
                .map(|_| {
                    m.on_connect(t);
                    let n = m.failures() + 1;
                    let d = delay_of(m.on_disconnect(t, Disconnect::Network));
                    let base = (S * (1 << n.min(31))).min(8 * S);
                    assert!(
                        d >= base && d < base.mul_f64(1.5),
                        "n={n} d={d:?} base={base:?}"
                    );
                    d
                })
                .collect::<Vec<_>>()
        };
        let a = run(42);
        assert_eq!(a, run(42));
        assert_ne!(a, run(43));
    }

    #[test]
    fn huge_retry_does_not_overflow() {
        let (mut m, t) = machine(ReconnectPolicy::default());
        m.on_retry(Duration::from_millis(u64::MAX));
        m.on_connect(t);
        for _ in 0..40 {
            assert!(matches!(
                m.on_disconnect(t, Disconnect::Network),
                Action::Reconnect { .. }
            ));
        }
        let mut j = Reconnect::new(ReconnectPolicy::default().jitter(1.0), 3);
        j.on_retry(Duration::MAX);
        assert!(matches!(
            j.on_disconnect(t, Disconnect::Network),
            Action::Reconnect { .. }
        ));
    }

    #[test]
    fn idle_timer_expires_only_after_a_full_silent_limit() {
        let t = Instant::now();
        let mut idle = IdleTimer::new(10 * S, t);
        assert_eq!(idle.check(t + 9 * S), IdleCheck::WaitUntil(t + 10 * S));
        // Bytes (a keep-alive is bytes) push the deadline.
        idle.on_bytes(t + 9 * S);
        assert_eq!(idle.check(t + 10 * S), IdleCheck::WaitUntil(t + 19 * S));
        assert_eq!(idle.check(t + 19 * S), IdleCheck::Expired);
        assert_eq!(idle.check(t + 100 * S), IdleCheck::Expired);
        // An absurd limit never overflows.
        let forever = IdleTimer::new(Duration::MAX, t);
        assert!(matches!(
            forever.check(t + 1000 * S),
            IdleCheck::WaitUntil(_)
        ));
    }

    #[test]
    fn jitter_setting_is_clamped() {
        assert_eq!(ReconnectPolicy::default().jitter(f64::NAN).jitter, 0.0);
        assert_eq!(ReconnectPolicy::default().jitter(7.0).jitter, 1.0);
        assert_eq!(ReconnectPolicy::default().jitter(-1.0).jitter, 0.0);
    }
}
