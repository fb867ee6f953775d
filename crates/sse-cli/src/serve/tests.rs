use std::path::Path;
use std::time::Duration;

use clap::{Args as _, FromArgMatches as _};
use sse_hub::config::HUB_SETTINGS;

use super::jwks_plan::JwksSpec;
use super::options::{load_file, Options, SERVE_SETTINGS};
use super::*;

fn command() -> clap::Command {
    Args::augment_args(clap::Command::new("serve"))
}

/// `sse serve ARGS` as clap parses it (the test's environment has no
/// `SSE_*` settings).
fn args(list: &[&str]) -> Result<Args, clap::Error> {
    let matches =
        command().try_get_matches_from(std::iter::once("serve").chain(list.iter().copied()))?;
    Args::from_arg_matches(&matches)
}

#[test]
fn help_lists_every_setting_with_its_variable() {
    let help = command().render_long_help().to_string();
    let every = SERVE_SETTINGS
        .iter()
        .map(|s| (s.long(), s.env()))
        .chain(HUB_SETTINGS.iter().map(|s| (s.long(), s.env())));
    let mut count = 0;
    for (long, env) in every {
        assert!(
            help.contains(&format!("--{long} ")),
            "--{long} missing: {help}"
        );
        assert!(
            help.contains(&format!("[env: {env}=")),
            "{env} missing: {help}"
        );
        count += 1;
    }
    assert!(count >= 47, "{count} settings");
    assert!(help.contains("[env: SSE_CONFIG="), "{help}");
}

#[test]
fn a_flag_beats_the_file_and_the_file_beats_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hub.toml");
    std::fs::write(
        &file,
        "store = \"memory://\"\nhistory_size = 42\nheartbeat = 0\nwrite_timeout = 5\nretry = 0.25\n\
         max_matchers = 3\ncors_origins = [\"https://app.example\"]\nallow_anonymous = \"on\"\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let s = resolve(
        args(&[
            "--config",
            path,
            "--history-size",
            "7",
            "--allow-anonymous=no",
        ])
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        s.hub.retention.max_entries(),
        7,
        "the flag wins over the file"
    );
    assert!(!s.hub.allow_anonymous, "the flag wins over the file");
    assert_eq!(s.hub.heartbeat, None);
    assert_eq!(s.hub.limits.write_timeout, Duration::from_secs(5));
    assert_eq!(s.hub.retry, Some(Duration::from_millis(250)));
    assert_eq!(s.hub.subscribe.max_matchers, 3);
    assert_eq!(s.hub.cors_origins, ["https://app.example"]);
    assert!(matches!(s.store, Dsn::Memory));
    let s = resolve(args(&["--store", "memory://"]).unwrap()).unwrap();
    assert_eq!(s.hub.retention.max_entries(), DEFAULT_HISTORY);
    assert_eq!(s.addr, DEFAULT_ADDR);
    assert_eq!(s.hub.hub_url, "http://127.0.0.1:3000/.well-known/mercure");
    assert!(s.derive_url && s.derive_audience);
}

#[test]
fn file_errors_name_the_key_the_value_and_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hub.toml");
    let path = file.to_str().unwrap();
    for (text, needles) in [
        (
            "addr = \"127.0.0.1:0\"\nstroe = \"memory://\"\n",
            &["line 2", "unknown setting `stroe` (did you mean `store`?)"][..],
        ),
        (
            "queue_frames = 0\n",
            &[
                "line 1",
                "invalid value 0 for queue_frames: must be at least 1",
            ],
        ),
        (
            "jwt_alg = \"none\"\n",
            &["invalid value \"none\" for jwt_alg: expected HS256"],
        ),
        (
            "addr = \"localhost\"\n",
            &["invalid value \"localhost\" for addr"],
        ),
        // Key material is no setting of the file.
        (
            "publisher_jwt_key = \"a secret\"\n",
            &["unknown setting `publisher_jwt_key`"],
        ),
    ] {
        std::fs::write(&file, text).unwrap();
        let err = resolve(args(&["--config", path]).unwrap()).err().unwrap();
        let err = format!("{err:#}");
        for needle in needles {
            assert!(err.contains(needle), "{text}: {needle:?} not in {err}");
        }
    }
}

#[test]
fn flags_and_variables_are_checked_by_clap_with_their_name() {
    let err = args(&["--heartbeat", "soon"]).err().unwrap().to_string();
    assert!(
        err.contains("'--heartbeat <SECS>'") && err.contains("expected seconds"),
        "{err}"
    );
    let err = args(&["--cors-origin", "https://a.example,*"])
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("explicit origins"), "{err}");
    let err = args(&["--log-format", "xml"]).err().unwrap().to_string();
    assert!(err.contains("expected text or json"), "{err}");
    let a = args(&[
        "--cors-origin",
        "https://a.example,https://b.example",
        "--cors-origin",
        "https://c.example",
        "--legacy",
        "--store",
        "memory://",
    ])
    .unwrap();
    let s = resolve(a).unwrap();
    assert_eq!(
        s.hub.cors_origins,
        [
            "https://a.example",
            "https://b.example",
            "https://c.example"
        ]
    );
    assert!(s.hub.auth.legacy_tokens && s.hub.auth.query_token);
}

#[test]
fn bad_store_urls_are_refused_before_anything_starts() {
    let err = resolve(args(&["--store", "postgres://x"]).unwrap())
        .err()
        .unwrap();
    let err = format!("{err:#}");
    assert!(
        err.starts_with("--store: unknown store scheme \"postgres\""),
        "{err}"
    );
    let err = resolve(args(&["--store", "redis://h?db=2"]).unwrap())
        .err()
        .unwrap();
    assert!(format!("{err:#}").contains("prefix=NAME"), "{err:#}");
}

/// packaging/hub.toml loads as shipped, and with every `#key` line
/// uncommented it sets every key of both tables (a new setting without a
/// line in the sample fails here) to a value it accepts.
#[test]
fn the_sample_hub_toml_has_every_key_and_loads() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/hub.toml");
    let text = std::fs::read_to_string(&sample).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let shipped = dir.path().join("shipped.toml");
    std::fs::write(&shipped, &text).unwrap();
    let shipped = shipped.to_str().unwrap();
    resolve(args(&["--config", shipped, "--store", "memory://"]).unwrap()).unwrap();

    let mut all = String::new();
    for line in text.lines() {
        let setting = line
            .strip_prefix('#')
            .filter(|rest| rest.starts_with(|c: char| c.is_ascii_lowercase()));
        all.push_str(setting.unwrap_or(line));
        all.push('\n');
    }
    for role in ["publisher", "subscriber"] {
        let key = dir.path().join(format!("{role}.key"));
        std::fs::write(&key, format!("{role} secret of at least 32 bytes...\n")).unwrap();
        all = all.replace(&format!("/etc/sse/{role}.key"), key.to_str().unwrap());
    }
    let every = dir.path().join("every.toml");
    std::fs::write(&every, &all).unwrap();
    let (mut hub, mut own) = (HubConfig::default(), Options::default());
    let mut given = load_file(&every, &mut hub, &mut own).unwrap();
    given.sort_unstable();
    let mut names: Vec<_> = HUB_SETTINGS
        .iter()
        .map(|s| s.name())
        .chain(SERVE_SETTINGS.iter().map(|s| s.name()))
        .collect();
    names.sort_unstable();
    assert_eq!(
        given, names,
        "packaging/hub.toml has a line for every setting"
    );
    let every = every.to_str().unwrap();
    let settings = resolve(args(&["--config", every, "--store", "memory://"]).unwrap()).unwrap();
    assert_eq!(settings.hub.auth.publisher_keys.len(), 1);
    assert_eq!(settings.log_format, LogFormat::Json);
    assert!(settings.metrics_addr.is_some());
    assert!(!settings.derive_url && !settings.derive_audience);
}

#[test]
fn jwks_settings_from_the_file_go_to_each_role() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hub.toml");
    std::fs::write(
        &file,
        "store = \"memory://\"\njwt_jwks_url = \"https://idp.example/jwks\"\n\
         subscriber_jwks_file = \"/etc/sse/sub.jwks.json\"\njwt_jwks_min_refresh = 5\n\
         jwt_jwks_refresh = 120\njwt_jwks_timeout = 2.5\njwt_jwks_cacert = \"/etc/sse/ca.pem\"\n",
    )
    .unwrap();
    let s = resolve(args(&["--config", file.to_str().unwrap()]).unwrap()).unwrap();
    let url = JwksSpec::Url("https://idp.example/jwks".into());
    let sub_file = JwksSpec::File("/etc/sse/sub.jwks.json".into());
    assert_eq!(s.jwks.publisher, std::slice::from_ref(&url));
    assert_eq!(s.jwks.subscriber, [url, sub_file]);
    assert_eq!(s.jwks.refresh.min_interval, Duration::from_secs(5));
    assert_eq!(s.jwks.refresh.interval, Duration::from_secs(120));
    assert_eq!(s.jwks.refresh.timeout, Duration::from_millis(2500));
    assert_eq!(s.jwks.cacert.as_deref(), Some(Path::new("/etc/sse/ca.pem")));
    assert!(
        s.dev_secret.is_none(),
        "a key set is a key: no development key"
    );
}
