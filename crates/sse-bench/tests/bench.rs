//! End to end: the real `sse-bench` binary (coordinator and worker
//! processes) against a real HTTP server on loopback. Counts are asserted
//! exactly; timings never are.

mod common;

use std::time::Duration;

use common::server::{self, Options};
use serde_json::Value;

struct Outcome {
    code: i32,
    json: Value,
    stderr: String,
}

/// Runs the binary with `args` (plus `--json`) and parses its summary.
async fn bench(args: &[&str]) -> Outcome {
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_sse-bench"))
            .args(args)
            .arg("--json")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("sse-bench finished within its bound")
    .expect("sse-bench ran");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("summary is JSON ({e}); stderr: {stderr}"));
    Outcome {
        code: out.status.code().unwrap_or(-1),
        json,
        stderr,
    }
}

fn urls(addr: std::net::SocketAddr) -> (String, String) {
    (
        format!("http://{addr}/sub?topic={{topic}}"),
        format!("http://{addr}/pub?topic={{topic}}"),
    )
}

fn u(v: &Value, path: &str) -> u64 {
    v.pointer(path)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{path} in {v:#}"))
}

/// Runs a custom-target bench against `opts` with `subscribers` on
/// `topics`, publishing `updates`.
async fn run_custom(
    opts: Options,
    subscribers: u32,
    workers: u32,
    topics: u32,
    updates: u32,
    extra: &[&str],
) -> Outcome {
    let addr = server::start("127.0.0.1:0", opts).await;
    let (sub, publ) = urls(addr);
    let (n, w, t, k) = (
        subscribers.to_string(),
        workers.to_string(),
        topics.to_string(),
        updates.to_string(),
    );
    let mut args = vec![
        "--subscribe-url",
        &sub,
        "--publish-url",
        &publ,
        "-n",
        &n,
        "--workers",
        &w,
        "--topics",
        &t,
        "--updates",
        &k,
        "--rate",
        "400",
    ];
    // A generous drain unless the test bounds it (a lossy server makes the
    // workers wait for all of it).
    if !extra.contains(&"--drain-timeout") {
        args.extend_from_slice(&["--drain-timeout", "10"]);
    }
    args.extend_from_slice(extra);
    bench(&args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_counts_with_no_loss_and_no_duplicates() {
    let o = run_custom(Options::default(), 200, 2, 4, 100, &["--payload", "256"]).await;
    let j = &o.json;
    assert_eq!(o.code, 0, "{}\n{j:#}", o.stderr);
    assert_eq!(u(j, "/connect/connected"), 200);
    assert_eq!(u(j, "/connect/failed"), 0);
    assert_eq!(u(j, "/publish/attempted"), 100);
    assert_eq!(u(j, "/publish/ok"), 100);
    assert_eq!(u(j, "/publish/status_codes/200"), 100);
    // 4 topics × 25 updates, 50 subscribers on each.
    assert_eq!(u(j, "/delivery/expected"), 200 * 25);
    assert_eq!(u(j, "/delivery/delivered"), 200 * 25);
    assert_eq!(u(j, "/delivery/lost"), 0);
    assert_eq!(u(j, "/delivery/duplicated"), 0);
    assert_eq!(u(j, "/delivery/misrouted"), 0);
    assert_eq!(u(j, "/delivery/still_open"), 200);
    assert_eq!(u(j, "/latency_us/samples"), 200 * 25);
    assert_eq!(j["clean"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_events_are_reported_as_lost() {
    let opts = Options {
        drop_every: Some(10),
        ..Options::default()
    };
    // Lost events never arrive: the drain ends at its timeout.
    let o = run_custom(opts, 50, 1, 1, 100, &["--drain-timeout", "3"]).await;
    let j = &o.json;
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert_eq!(u(j, "/delivery/expected"), 50 * 100);
    assert_eq!(u(j, "/delivery/lost"), 50 * 10);
    assert_eq!(u(j, "/delivery/subscribers_with_loss"), 50);
    assert_eq!(u(j, "/delivery/max_lost_per_subscriber"), 10);
    assert_eq!(u(j, "/delivery/duplicated"), 0);
    assert_eq!(j["clean"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_events_are_reported() {
    let opts = Options {
        dup_every: Some(20),
        ..Options::default()
    };
    let o = run_custom(opts, 50, 2, 1, 100, &[]).await;
    let j = &o.json;
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert_eq!(u(j, "/delivery/duplicated"), 50 * 5);
    assert_eq!(u(j, "/delivery/subscribers_with_duplicates"), 50);
    assert_eq!(u(j, "/delivery/lost"), 0);
    assert_eq!(u(j, "/delivery/delivered"), 50 * 105);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_status_is_a_connect_error_with_its_reason() {
    let opts = Options {
        sub_status: 404,
        ..Options::default()
    };
    let o = run_custom(opts, 30, 2, 1, 5, &[]).await;
    let j = &o.json;
    assert_eq!(o.code, 2);
    assert_eq!(u(j, "/connect/connected"), 0);
    assert_eq!(u(j, "/connect/failed"), 30);
    assert_eq!(u(j, "/connect/errors/status 404"), 30);
    // Nothing was owed to subscribers that never connected.
    assert_eq!(u(j, "/delivery/expected"), 0);
    assert_eq!(u(j, "/delivery/lost"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_content_type_is_a_connect_error_with_its_reason() {
    let opts = Options {
        sub_content_type: "text/html; charset=utf-8",
        ..Options::default()
    };
    let o = run_custom(opts, 20, 1, 1, 5, &[]).await;
    let j = &o.json;
    assert_eq!(u(j, "/connect/failed"), 20);
    assert_eq!(u(j, "/connect/errors/content-type text~1html"), 20, "{j:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_are_counted() {
    // A port nobody listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sub = format!("http://127.0.0.1:{port}/sub?topic={{topic}}");
    let o = bench(&["--subscribe-url", &sub, "-n", "10", "--hold", "0"]).await;
    assert_eq!(o.code, 2);
    assert_eq!(
        u(&o.json, "/connect/errors/connect: connection refused"),
        10,
        "{:#}",
        o.json
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_delimited_bodies_and_events_split_across_chunks() {
    for opts in [
        Options {
            chunked: false,
            ..Options::default()
        },
        Options {
            split_events: true,
            ..Options::default()
        },
    ] {
        let o = run_custom(opts.clone(), 40, 1, 2, 60, &[]).await;
        let j = &o.json;
        assert_eq!(o.code, 0, "{opts:?}: {}\n{j:#}", o.stderr);
        assert_eq!(u(j, "/delivery/delivered"), 40 * 30);
        assert_eq!(u(j, "/delivery/lost"), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mercure_preset_publishes_forms_with_the_token() {
    let opts = Options {
        publish_auth: Some("Bearer s3cret".into()),
        ..Options::default()
    };
    let addr = server::start("127.0.0.1:0", opts).await;
    let url = format!("http://{addr}");
    let o = bench(&[
        "--target",
        "mercure",
        "--url",
        &url,
        "--token",
        "s3cret",
        "-n",
        "30",
        "--topics",
        "3",
        "--topic-prefix",
        "https://example.com/books/",
        "--updates",
        "30",
        "--rate",
        "300",
    ])
    .await;
    let j = &o.json;
    assert_eq!(o.code, 0, "{}\n{j:#}", o.stderr);
    assert_eq!(j["target"], "mercure");
    assert_eq!(u(j, "/delivery/delivered"), 30 * 10);

    // A wrong token: every publish is an error with its status.
    let o = bench(&[
        "--target",
        "mercure",
        "--url",
        &url,
        "--token",
        "wrong",
        "-n",
        "5",
        "--updates",
        "4",
        "--rate",
        "100",
        "--drain-timeout",
        "0.2",
    ])
    .await;
    assert_eq!(u(&o.json, "/publish/errors"), 4);
    assert_eq!(u(&o.json, "/publish/error_reasons/status 401"), 4);
    assert_eq!(u(&o.json, "/delivery/expected"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_summary_has_every_documented_field() {
    let dir = std::env::temp_dir().join(format!("sse-bench-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("plot.svg");
    let me = std::process::id().to_string();
    let o = run_custom(
        Options::default(),
        20,
        1,
        1,
        20,
        &["--server-pid", &me, "--svg", svg.to_str().unwrap()],
    )
    .await;
    let j = &o.json;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    let mut top = keys(j);
    top.sort();
    let mut want = [
        "schema",
        "target",
        "mode",
        "subscribers",
        "workers",
        "topics",
        "source_addrs",
        "payload_bytes",
        "connect",
        "publish",
        "delivery",
        "slow_resume",
        "latency_us",
        "server",
        "generator",
        "timeline",
        "clean",
    ];
    want.sort();
    assert_eq!(top, want);
    assert_eq!(j["schema"], 1);
    assert_eq!(j["mode"], "publish");
    for (section, fields) in [
        (
            "connect",
            &[
                "connected",
                "failed",
                "seconds",
                "errors",
                "reconnects",
                "reconnect_errors",
            ][..],
        ),
        (
            "publish",
            &[
                "rate_target",
                "rate_achieved",
                "attempted",
                "ok",
                "errors",
                "seconds",
                "status_codes",
                "error_reasons",
                "max_late_ms",
                "late_sends",
                "blocked_sends",
            ],
        ),
        (
            "delivery",
            &[
                "expected",
                "delivered",
                "lost",
                "duplicated",
                "subscribers_with_loss",
                "subscribers_with_duplicates",
                "max_lost_per_subscriber",
                "unmatched",
                "misrouted",
                "slow_subscribers",
                "churned_subscribers",
                "still_open",
                "disconnects",
                "seconds",
                "deliveries_per_second",
            ],
        ),
        (
            "generator",
            &["rss_kib", "rss_per_subscriber_bytes", "cpu_seconds"],
        ),
        (
            "latency_us",
            &["samples", "min", "mean", "p50", "p90", "p99", "p999", "max"],
        ),
        (
            "server",
            &[
                "pids",
                "rss_before_kib",
                "rss_connected_kib",
                "rss_end_kib",
                "rss_publish_peak_kib",
                "rss_per_subscriber_bytes",
                "cpu_seconds",
                "cpu_us_per_delivery",
            ],
        ),
    ] {
        let mut got = keys(&j[section]);
        got.sort();
        let mut want: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(got, want, "section {section}");
    }
    assert!(j["server"]["cpu_seconds"].is_number());
    assert!(j["server"]["rss_per_subscriber_bytes"].is_number());
    let point = &j["timeline"][0];
    for f in ["second", "samples", "p50_us", "p99_us"] {
        assert!(point[f].is_number(), "timeline field {f}");
    }
    let plot = std::fs::read_to_string(&svg).unwrap();
    assert!(
        plot.starts_with("<svg")
            && plot.contains("<polyline")
            && plot.trim_end().ends_with("</svg>")
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_mode_connects_measures_and_exits() {
    let addr = server::start("127.0.0.1:0", Options::default()).await;
    let (sub, _) = urls(addr);
    let me = std::process::id().to_string();
    let o = bench(&[
        "--subscribe-url",
        &sub,
        "-n",
        "100",
        "--workers",
        "2",
        "--hold",
        "0.3",
        "--server-pid",
        &me,
    ])
    .await;
    let j = &o.json;
    assert_eq!(o.code, 0, "{}\n{j:#}", o.stderr);
    assert_eq!(j["mode"], "hold");
    assert!(j["publish"].is_null());
    assert_eq!(u(j, "/connect/connected"), 100);
    assert_eq!(u(j, "/delivery/still_open"), 100);
    assert!(j["server"]["rss_per_subscriber_bytes"].is_number());
    assert!(j["server"]["cpu_seconds"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_spread_over_source_addresses() {
    let addr = server::start("127.0.0.1:0", Options::default()).await;
    let (sub, publ) = urls(addr);
    let o = bench(&[
        "--subscribe-url",
        &sub,
        "--publish-url",
        &publ,
        "-n",
        "60",
        "--source-addrs",
        "127.0.0.2,127.0.0.3",
        "--updates",
        "10",
        "--rate",
        "200",
    ])
    .await;
    let j = &o.json;
    assert_eq!(o.code, 0, "{}\n{j:#}", o.stderr);
    assert_eq!(
        j["source_addrs"],
        serde_json::json!(["127.0.0.2", "127.0.0.3"])
    );
    assert_eq!(u(j, "/delivery/delivered"), 600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nchan_preset_uses_its_routes() {
    let addr = server::start("127.0.0.1:0", Options::default()).await;
    let url = format!("http://{addr}/");
    let o = bench(&[
        "--target",
        "nchan",
        "--url",
        &url,
        "-n",
        "20",
        "--topics",
        "2",
        "--updates",
        "10",
        "--rate",
        "200",
    ])
    .await;
    let j = &o.json;
    assert_eq!(o.code, 0, "{}\n{j:#}", o.stderr);
    assert_eq!(j["target"], "nchan");
    assert_eq!(u(j, "/delivery/delivered"), 20 * 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumers_are_counted_apart() {
    let o = run_custom(
        Options::default(),
        20,
        1,
        1,
        20,
        &["--slow-fraction", "0.25"],
    )
    .await;
    let j = &o.json;
    assert_eq!(o.code, 0, "{}\n{j:#}", o.stderr);
    assert_eq!(u(j, "/connect/connected"), 20);
    assert_eq!(u(j, "/delivery/slow_subscribers"), 5);
    assert_eq!(u(j, "/delivery/still_open"), 15);
    assert_eq!(u(j, "/delivery/expected"), 15 * 20);
    assert_eq!(u(j, "/delivery/delivered"), 15 * 20);
    assert_eq!(u(j, "/delivery/lost"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumed_slow_consumers_are_counted_apart() {
    // The test server keeps what a slow subscriber has not read (up to its
    // queue's bound), so they get everything once they read again.
    let o = run_custom(
        Options::default(),
        20,
        1,
        1,
        20,
        &["--slow-fraction", "0.25", "--slow-resume"],
    )
    .await;
    let j = &o.json;
    assert_eq!(o.code, 0, "{}\n{j:#}", o.stderr);
    assert_eq!(u(j, "/slow_resume/subscribers"), 5);
    assert_eq!(u(j, "/slow_resume/expected"), 5 * 20);
    assert_eq!(u(j, "/slow_resume/lost"), 0);
    assert_eq!(u(j, "/slow_resume/disconnected"), 0);
    // Their deliveries are not the others' figures.
    assert_eq!(u(j, "/delivery/expected"), 15 * 20);
    assert_eq!(u(j, "/delivery/delivered"), 15 * 20);
    assert_eq!(u(j, "/latency_us/samples"), 15 * 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churned_subscribers_reconnect_and_the_rest_stay_exact() {
    let o = run_custom(Options::default(), 60, 2, 3, 150, &["--churn", "30"]).await;
    let j = &o.json;
    assert_eq!(o.code, 0, "{}\n{j:#}", o.stderr);
    let churned = u(j, "/delivery/churned_subscribers");
    assert!(churned >= 1, "{j:#}");
    assert!(u(j, "/connect/reconnects") >= churned);
    // The others got every update of their topic: 150 updates over 3 topics.
    assert_eq!(u(j, "/delivery/expected"), (60 - churned) * 50);
    assert_eq!(u(j, "/delivery/lost"), 0);
    assert_eq!(u(j, "/delivery/duplicated"), 0);
    assert_eq!(u(j, "/delivery/still_open"), 60);
}

/// Several `--subscribe-url`s spread the workers (and their subscribers)
/// over several servers, round robin. Two unrelated servers here, updates
/// published to the first only: exactly the second's half misses them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_urls_spread_workers_over_servers() {
    let a = server::start("127.0.0.1:0", Options::default()).await;
    let b = server::start("127.0.0.1:0", Options::default()).await;
    let ((sub_a, publ), (sub_b, _)) = (urls(a), urls(b));
    let o = bench(&[
        "--subscribe-url",
        &sub_a,
        "--subscribe-url",
        &sub_b,
        "--publish-url",
        &publ,
        "-n",
        "200",
        "--workers",
        "4",
        "--updates",
        "20",
        "--rate",
        "400",
        "--drain-timeout",
        "2",
    ])
    .await;
    let j = &o.json;
    assert_eq!(u(j, "/connect/connected"), 200, "{}\n{j:#}", o.stderr);
    // Workers 0 and 2 (100 subscribers) on A, 1 and 3 on B.
    assert_eq!(u(j, "/delivery/expected"), 200 * 20);
    assert_eq!(u(j, "/delivery/delivered"), 100 * 20);
    assert_eq!(u(j, "/delivery/lost"), 100 * 20);
}
