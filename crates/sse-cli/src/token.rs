//! `sse token`: mints an access token for a hub, for an app's backend
//! (publisher) or a test and script (subscriber), signed with the key the
//! hub verifies with, so nobody hand-writes JWT claims: an HS256/384/512
//! secret, or a PEM private key for RS*, PS*, ES256/384 and EdDSA (the hub
//! run with `--jwt-alg ALG` and the public key).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use sse_hub::auth::{mint, mint_legacy, JwtAlgorithm, SigningKey, TokenSpec};

/// The audience of a hub started with no flags (`sse serve` on loopback).
const DEFAULT_AUDIENCE: &str = "http://127.0.0.1:3000/.well-known/mercure";

#[derive(clap::Args)]
#[command(after_help = "\
The key: --key-file, else SSE_PUBLISHER_JWT_KEY for a token that publishes, \
SSE_SUBSCRIBER_JWT_KEY for one that only subscribes (the variables `sse serve` \
reads). For the development key of a first run: --key-file sse-data/dev-key. \
With --alg RS256 (RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA) the \
key is a PEM private key and --key-file is required; the hub verifies with the \
public key (sse serve --jwt-alg RS256 --publisher-jwt-key-file public.pem).

Examples:
  sse token --publish 'https://example.com/books/{id}' --ttl 86400
  sse token --subscribe https://example.com/books/1 --key-file sse-data/dev-key
  openssl genpkey -algorithm ed25519 -out private.pem
  openssl pkey -in private.pem -pubout -out public.pem
  sse token --alg EdDSA --key-file private.pem --publish '*'")]
pub struct Args {
    /// Grant `publish` on this topic selector (an exact topic, a URL
    /// pattern, or `*`; repeatable).
    #[arg(long, value_name = "TOPIC")]
    publish: Vec<String>,
    /// Grant `subscribe` on this topic selector (repeatable). A subscribe
    /// grant is also what lets its holder read the private updates of
    /// those topics; anonymous subscribers get public ones only.
    #[arg(long, value_name = "TOPIC")]
    subscribe: Vec<String>,
    /// The hub's audience (`aud`): its --audience, else its public URL
    /// (default: SSE_PUBLIC_URL, else http://127.0.0.1:3000/.well-known/mercure).
    #[arg(long, env = "SSE_AUDIENCE", value_name = "ID")]
    audience: Option<String>,
    /// Lifetime in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    ttl: u64,
    /// The `iss` claim (a hub run with --jwt-issuer needs it).
    #[arg(long, env = "SSE_JWT_ISSUER", value_name = "ISS")]
    issuer: Option<String>,
    /// The `sub` claim (the hub's per-subject limits count by it).
    #[arg(long, value_name = "SUB")]
    subject: Option<String>,
    /// The signature algorithm: HS256, HS384, HS512 (a shared secret), or
    /// RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA (a PEM
    /// private key from --key-file).
    #[arg(long, value_name = "ALG", default_value = "HS256", value_parser = parse_alg)]
    alg: JwtAlgorithm,
    /// Read the key from this file: the HMAC secret (a trailing newline is
    /// not part of it), or the PEM private key for the other algorithms.
    #[arg(long, value_name = "PATH")]
    key_file: Option<PathBuf>,
    /// Mint a token of the deployed 0.x generation (a `mercure` claim,
    /// `typ: JWT`), for a hub run with --legacy.
    #[arg(long)]
    legacy: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.publish.is_empty() && args.subscribe.is_empty() {
        bail!("nothing to grant: give --publish TOPIC and/or --subscribe TOPIC");
    }
    let key = key(&args)?;
    let audience = args
        .audience
        .or_else(|| {
            std::env::var("SSE_PUBLIC_URL")
                .ok()
                .filter(|u| !u.is_empty())
        })
        .unwrap_or_else(|| DEFAULT_AUDIENCE.to_owned());
    let mut spec = TokenSpec::publisher(audience, args.publish)
        .with_subscribe(args.subscribe)
        .with_ttl(Duration::from_secs(args.ttl));
    if let Some(iss) = args.issuer {
        spec = spec.with_issuer(iss);
    }
    if let Some(sub) = args.subject {
        spec = spec.with_subject(sub);
    }
    let now = crate::serve::now_secs();
    let token = if args.legacy {
        mint_legacy(&key, &spec, now)?
    } else {
        mint(&key, &spec, now)?
    };
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}

fn parse_alg(name: &str) -> Result<JwtAlgorithm, String> {
    JwtAlgorithm::from_name(name.trim()).ok_or_else(|| {
        "expected HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 \
         or EdDSA"
            .to_owned()
    })
}

/// The signing key of `--alg`: a PEM private key from `--key-file` for a
/// public-key algorithm (the hub's variables hold public keys, which cannot
/// sign), else the HMAC secret of [`secret`].
fn key(args: &Args) -> anyhow::Result<SigningKey> {
    let hmac = matches!(
        args.alg,
        JwtAlgorithm::HS256 | JwtAlgorithm::HS384 | JwtAlgorithm::HS512
    );
    if hmac {
        return Ok(SigningKey::hmac(args.alg, &secret(args)?)?);
    }
    let file = args.key_file.as_ref().with_context(|| {
        format!(
            "--alg {} signs with a private key: give --key-file PATH (PEM)",
            args.alg
        )
    })?;
    let pem = std::fs::read(file)
        .with_context(|| format!("cannot read the key file {}", file.display()))?;
    SigningKey::from_pem(args.alg, &pem).with_context(|| format!("the key file {}", file.display()))
}

/// The signing secret: the file, else the variable of the role the token
/// is for; a token for both roles needs both variables to agree (one
/// signature cannot satisfy two different keys).
fn secret(args: &Args) -> anyhow::Result<Vec<u8>> {
    if let Some(file) = &args.key_file {
        return crate::serve::secret("", Some(file.clone()))?
            .filter(|k| !k.is_empty())
            .with_context(|| format!("the key file {} is empty", file.display()));
    }
    let publisher = crate::serve::secret("SSE_PUBLISHER_JWT_KEY", None)?;
    let subscriber = crate::serve::secret("SSE_SUBSCRIBER_JWT_KEY", None)?;
    let wanted = match (args.publish.is_empty(), args.subscribe.is_empty()) {
        (false, true) => publisher,
        (true, false) => subscriber,
        _ => match (publisher, subscriber) {
            (Some(p), Some(s)) if p != s => bail!(
                "a token for both roles cannot be signed for two different keys: \
                 mint one with --publish and one with --subscribe"
            ),
            (p, s) => p.or(s),
        },
    };
    wanted.context(
        "no key: set SSE_PUBLISHER_JWT_KEY / SSE_SUBSCRIBER_JWT_KEY or give --key-file \
         (sse-data/dev-key for the hub of a first run)",
    )
}
