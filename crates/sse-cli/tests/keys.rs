//! `sse serve` key settings, as an operator uses them: a JWK Set from an
//! identity provider over HTTPS (a real local HTTPS server, its certificate
//! from a CA generated for the test), a JWK Set file, and a separate
//! algorithm per role.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use sse_testkit::ports::free_port;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

const WAIT: Duration = Duration::from_secs(20);
const AUDIENCE: &str = "test-hub";
const TYPE_H: &str = "https://mercure.rocks/authorization-detail";

/// A running `sse serve`, killed when dropped.
struct Hub {
    child: Child,
    port: u16,
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `sse serve` with a cleared environment plus `envs`.
fn serve_command(port: u16, args: &[&str], envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sse"));
    cmd.args(["serve", "--store", "memory://", "--audience", AUDIENCE])
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("SSE_LOG", "warn");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd
}

/// Starts the hub and waits until `/healthz` answers (bounded).
fn start(args: &[&str], envs: &[(&str, &str)]) -> Hub {
    let port = free_port();
    let child = serve_command(port, args, envs)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut hub = Hub { child, port };
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(Some(status)) = hub.child.try_wait() {
            panic!("sse serve {args:?} exited at start: {status}");
        }
        if http(port, "GET /healthz HTTP/1.1\r\n", "").0 == 200 {
            return hub;
        }
        assert!(Instant::now() < deadline, "sse serve never became ready");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One request (`head` is the request line and extra headers); the status
/// (0 when nothing answered) and the body read to the end, or only the
/// head for an event stream (which stays open).
fn http(port: u16, head: &str, body: &str) -> (u16, String) {
    let Ok(mut sock) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    sock.set_read_timeout(Some(WAIT)).unwrap();
    let request = format!(
        "{head}host: x\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    if sock.write_all(request.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = sock.read(&mut buf).unwrap_or(0);
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw);
        let stream_head = text.contains("text/event-stream") && text.contains("\r\n\r\n");
        if n == 0 || stream_head {
            let status = text
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
            return (status, body.to_owned());
        }
    }
}

fn publish(port: u16, token: &str) -> (u16, String) {
    http(
        port,
        &format!(
            "POST /.well-known/mercure HTTP/1.1\r\nauthorization: Bearer {token}\r\n\
             content-type: application/x-www-form-urlencoded\r\n"
        ),
        "topic=https%3A%2F%2Fexample.com%2Fa&data=x",
    )
}

fn subscribe(port: u16, token: &str) -> u16 {
    http(
        port,
        &format!(
            "GET /.well-known/mercure?match=*&x=1 HTTP/1.1\r\nauthorization: Bearer {token}\r\n\
             accept: text/event-stream\r\n"
        ),
        "",
    )
    .0
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(action: &str) -> Value {
    json!({
        "aud": AUDIENCE,
        "exp": now() + 3600,
        "authorization_details": [{"type": TYPE_H, "actions": [action], "topics": [{"match": "*"}]}],
    })
}

/// An ES256 signing key and its public JWK.
struct EcKey {
    pair: rcgen::KeyPair,
    kid: String,
}

impl EcKey {
    fn new(kid: &str) -> EcKey {
        EcKey {
            pair: rcgen::KeyPair::generate().unwrap(),
            kid: kid.to_owned(),
        }
    }

    fn jwk(&self) -> Value {
        // An uncompressed P-256 point: 0x04, x, y.
        let raw = self.pair.public_key_raw();
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": self.kid,
            "x": b64(&raw[1..33]), "y": b64(&raw[33..65]),
        })
    }

    fn public_pem(&self) -> String {
        self.pair.public_key_pem()
    }

    /// A token signed with this key, naming its kid (or none).
    fn sign(&self, claims: &Value, with_kid: bool) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("at+jwt".to_owned());
        if with_kid {
            header.kid = Some(self.kid.clone());
        }
        let key = EncodingKey::from_ec_pem(self.pair.serialize_pem().as_bytes()).unwrap();
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    }
}

fn jwks(keys: &[&EcKey]) -> String {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()}).to_string()
}

/// A JWK Set served over HTTPS on 127.0.0.1, with a certificate from a CA
/// generated here; counts the documents it served.
struct Provider {
    port: u16,
    document: Arc<Mutex<String>>,
    fetches: Arc<AtomicUsize>,
    dir: tempfile::TempDir,
    _server: tokio::task::JoinHandle<()>,
}

impl Provider {
    async fn start(document: String) -> Provider {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let server_key = rcgen::KeyPair::generate().unwrap();
        let server_cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&server_key, &ca, &ca_key)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![server_cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let document = Arc::new(Mutex::new(document));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (doc, count) = (Arc::clone(&document), Arc::clone(&fetches));
        let server = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, doc, count) =
                    (acceptor.clone(), Arc::clone(&doc), Arc::clone(&count));
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return; // e.g. a client that does not trust our CA
                    };
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let body = doc.lock().unwrap().clone();
                    count.fetch_add(1, Ordering::SeqCst);
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/jwk-set+json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(answer.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Provider {
            port,
            document,
            fetches,
            dir,
            _server: server,
        }
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}/jwks", self.port)
    }

    fn ca(&self) -> String {
        self.dir.path().join("ca.pem").display().to_string()
    }

    fn serve(&self, document: String) {
        *self.document.lock().unwrap() = document;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_url_keys_are_fetched_over_https_and_refreshed_on_an_unknown_kid_once_per_interval() {
    let (k1, k2, k3) = (EcKey::new("k1"), EcKey::new("k2"), EcKey::new("k3"));
    let provider = Provider::start(jwks(&[&k1])).await;
    let (url, ca) = (provider.url(), provider.ca());
    let hub = tokio::task::spawn_blocking(move || {
        start(
            &[
                "--jwt-jwks-url",
                &url,
                "--jwt-jwks-cacert",
                &ca,
                "--jwt-jwks-min-refresh",
                "3600",
                "--jwt-jwks-timeout",
                "5",
            ],
            &[],
        )
    })
    .await
    .unwrap();
    let port = hub.port;
    assert_eq!(provider.fetches(), 1, "fetched once at start");
    let blocking = |f: Box<dyn FnOnce() -> (u16, String) + Send>| tokio::task::spawn_blocking(f);

    // The provider's key signs both roles' tokens (no other key is set,
    // and no development key is made up).
    let t1 = k1.sign(&claims("publish"), true);
    let (status, body) = blocking(Box::new(move || publish(port, &t1)))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let s1 = k1.sign(&claims("subscribe"), true);
    let status = tokio::task::spawn_blocking(move || subscribe(port, &s1))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(provider.fetches(), 1, "known kids need no fetch");

    // The provider rotates to k2: the first k2 token makes the hub fetch
    // again, and it is accepted (no refused request on a rotation).
    provider.serve(jwks(&[&k1, &k2]));
    let t2 = k2.sign(&claims("publish"), true);
    let (status, body) = blocking(Box::new(move || publish(port, &t2)))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(provider.fetches(), 2, "one fetch for the unknown kid");

    // Another rotation within the interval: no fetch, the token is refused.
    provider.serve(jwks(&[&k1, &k2, &k3]));
    let t3 = k3.sign(&claims("publish"), true);
    let (status, _) = blocking(Box::new(move || publish(port, &t3)))
        .await
        .unwrap();
    assert_eq!(status, 401);
    let t3 = k3.sign(&claims("publish"), true);
    let (status, _) = blocking(Box::new(move || publish(port, &t3)))
        .await
        .unwrap();
    assert_eq!(status, 401);
    assert_eq!(
        provider.fetches(),
        2,
        "at most one kid refresh per interval"
    );
    // The keys already fetched still work.
    let t2 = k2.sign(&claims("publish"), true);
    let (status, _) = blocking(Box::new(move || publish(port, &t2)))
        .await
        .unwrap();
    assert_eq!(status, 200);
    drop(hub);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_url_that_cannot_be_trusted_or_reached_stops_the_start_with_the_reason() {
    let k1 = EcKey::new("k1");
    let provider = Provider::start(jwks(&[&k1])).await;
    let url = provider.url();
    // Without --jwt-jwks-cacert the private CA is unknown: no start.
    let out = tokio::task::spawn_blocking(move || {
        serve_command(free_port(), &["--jwt-jwks-url", &url], &[])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("JWK Set") && err.contains("TLS"),
        "the reason is given: {err}"
    );
    assert_eq!(provider.fetches(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_file_keys_sign_tokens_for_the_roles_it_is_given_to() {
    let k1 = EcKey::new("k1");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("subscribers.jwks.json");
    std::fs::write(&file, jwks(&[&k1])).unwrap();
    let file = file.display().to_string();
    let hub = tokio::task::spawn_blocking(move || {
        start(
            &[],
            &[
                ("SSE_SUBSCRIBER_JWKS_FILE", &file),
                ("SSE_PUBLISHER_JWT_KEY", "a-publisher-secret-of-32-bytes!!"),
            ],
        )
    })
    .await
    .unwrap();
    let port = hub.port;
    let sub = k1.sign(&claims("subscribe"), true);
    let publisher = k1.sign(&claims("publish"), true);
    let (sub_status, pub_status) =
        tokio::task::spawn_blocking(move || (subscribe(port, &sub), publish(port, &publisher).0))
            .await
            .unwrap();
    assert_eq!(sub_status, 200, "the file's key signs subscriber tokens");
    assert_eq!(pub_status, 401, "and only those");
}

#[test]
fn publisher_and_subscriber_keys_each_have_their_own_algorithm() {
    let es = EcKey::new("sub");
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("subscriber.pem");
    std::fs::write(&pem, es.public_pem()).unwrap();
    let secret = "a-publisher-secret-of-32-bytes!!";
    let hs = |claims: &Value| {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("at+jwt".to_owned());
        jsonwebtoken::encode(
            &header,
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    // By flag, by environment variable, and by the file.
    let config = dir.path().join("hub.toml");
    std::fs::write(
        &config,
        format!(
            "publisher_jwt_alg = \"HS256\"\nsubscriber_jwt_alg = \"ES256\"\nsubscriber_jwt_key_file = {:?}\n",
            pem.display().to_string()
        ),
    )
    .unwrap();
    let pem_path = pem.display().to_string();
    let config_path = config.display().to_string();
    type Setup<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>);
    let setups: [Setup; 3] = [
        (
            vec![
                "--jwt-alg",
                "HS256",
                "--subscriber-jwt-alg",
                "ES256",
                "--subscriber-jwt-key-file",
                &pem_path,
            ],
            vec![],
        ),
        (
            vec![],
            vec![
                ("SSE_PUBLISHER_JWT_ALG", "HS256"),
                ("SSE_SUBSCRIBER_JWT_ALG", "ES256"),
                ("SSE_SUBSCRIBER_JWT_KEY_FILE", &pem_path),
            ],
        ),
        (vec!["--config", &config_path], vec![]),
    ];
    for (args, envs) in setups {
        let mut envs = envs;
        envs.push(("SSE_PUBLISHER_JWT_KEY", secret));
        let hub = start(&args, &envs);
        let label = format!("{args:?} {envs:?}");
        assert_eq!(publish(hub.port, &hs(&claims("publish"))).0, 200, "{label}");
        assert_eq!(
            subscribe(hub.port, &es.sign(&claims("subscribe"), false)),
            200,
            "{label}"
        );
        // Each role's algorithm is its own: an HS256 subscriber token and an
        // ES256 publisher token are refused.
        assert_eq!(
            subscribe(hub.port, &hs(&claims("subscribe"))),
            401,
            "{label}"
        );
        assert_eq!(
            publish(hub.port, &es.sign(&claims("publish"), false)).0,
            401,
            "{label}"
        );
    }
}

/// `sse token --alg ALG --key-file PATH` as its help describes it, with
/// the keys the other tests do not cover: a secret for HS512 (the hub's
/// `--jwt-alg HS512`), and PEM private keys generated by `openssl` for
/// RS256, ES256 and EdDSA (the hub given the public key). Each token
/// publishes and subscribes; one signed by another key of the same kind
/// is refused, and a public-key algorithm without `--key-file` is an
/// error that says what to give.
#[test]
fn sse_token_signs_with_every_kind_of_key_the_hub_verifies() {
    if !sse_testkit::skip::have("openssl", "version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    let token = |alg: &str, key: &str, envs: &[(&str, &str)], grant: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_sse"))
            .args(["token", "--alg", alg, "--audience", AUDIENCE, grant, "*"])
            .args(if key.is_empty() {
                vec![]
            } else {
                vec!["--key-file", key]
            })
            .env_clear()
            .envs(envs.iter().copied())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        out.status
            .success()
            .then(|| String::from_utf8(out.stdout).unwrap().trim().to_owned())
            .ok_or(stderr)
    };

    let secret = "an-HS512-secret-of-more-than-32-bytes";
    let other = "another-HS512-secret-of-32-bytes!!!!";
    let hub = start(
        &["--jwt-alg", "HS512"],
        &[
            ("SSE_PUBLISHER_JWT_KEY", secret),
            ("SSE_SUBSCRIBER_JWT_KEY", secret),
        ],
    );
    let env = [("SSE_PUBLISHER_JWT_KEY", secret)];
    assert_eq!(
        publish(hub.port, &token("HS512", "", &env, "--publish").unwrap()).0,
        200
    );
    let env = [("SSE_SUBSCRIBER_JWT_KEY", secret)];
    assert_eq!(
        subscribe(hub.port, &token("HS512", "", &env, "--subscribe").unwrap()),
        200
    );
    let env = [("SSE_PUBLISHER_JWT_KEY", other)];
    assert_eq!(
        publish(hub.port, &token("HS512", "", &env, "--publish").unwrap()).0,
        401
    );
    drop(hub);

    let kinds: [(&str, &[&str]); 3] = [
        (
            "RS256",
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        ),
        (
            "ES256",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        ),
        ("EdDSA", &["-algorithm", "ed25519"]),
    ];
    for (alg, genpkey) in kinds {
        let path = |name: &str| {
            dir.path()
                .join(format!("{alg}-{name}.pem"))
                .display()
                .to_string()
        };
        for name in ["private", "other"] {
            let mut args = vec!["genpkey"];
            args.extend_from_slice(genpkey);
            let out = path(name);
            args.extend(["-out", &out]);
            openssl(&args);
        }
        openssl(&[
            "pkey",
            "-in",
            &path("private"),
            "-pubout",
            "-out",
            &path("public"),
        ]);
        let public = path("public");
        let hub = start(
            &[
                "--jwt-alg",
                alg,
                "--publisher-jwt-key-file",
                &public,
                "--subscriber-jwt-key-file",
                &public,
            ],
            &[],
        );
        let publisher = token(alg, &path("private"), &[], "--publish").unwrap();
        assert_eq!(publish(hub.port, &publisher).0, 200, "{alg} publisher");
        let subscriber = token(alg, &path("private"), &[], "--subscribe").unwrap();
        assert_eq!(subscribe(hub.port, &subscriber), 200, "{alg} subscriber");
        let stranger = token(alg, &path("other"), &[], "--publish").unwrap();
        assert_eq!(
            publish(hub.port, &stranger).0,
            401,
            "{alg} with another key"
        );
        let missing = token(alg, "", &[("SSE_PUBLISHER_JWT_KEY", secret)], "--publish");
        let error = missing.expect_err("a public-key algorithm needs --key-file");
        assert!(error.contains("give --key-file PATH (PEM)"), "{error}");
    }
    // A key of the wrong kind is refused by name, before signing anything.
    let error = token(
        "ES256",
        &dir.path().join("EdDSA-private.pem").display().to_string(),
        &[],
        "--publish",
    )
    .expect_err("an Ed25519 key cannot sign ES256");
    assert!(
        error.contains("ES256 needs a PEM EC private key"),
        "{error}"
    );
}
