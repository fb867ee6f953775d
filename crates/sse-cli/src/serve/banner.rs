//! What `sse serve` prints on stdout once it listens: where it is, and on
//! a first run (the development key) how to try it.

use std::io::Write;

use super::dev_key::{DevKey, DevTokens};
use super::HUB_PATH;

/// What the banner shows.
pub(super) struct Banner<'a> {
    /// `http://127.0.0.1:3000`, as reached from this machine.
    pub base: &'a str,
    pub public_url: &'a str,
    pub audience: &'a str,
    pub store: &'a str,
    pub history: usize,
    /// The history's byte bound.
    pub history_bytes: u64,
    /// `127.0.0.1:9100`, when `/metrics` is served apart.
    pub metrics: Option<String>,
    pub dev: Option<(&'a DevKey, &'a DevTokens)>,
}

impl Banner<'_> {
    pub fn print(&self) {
        let base = self.base;
        println!("sse hub listening on {base}");
        println!("  debug page: {base}/");
        println!("  hub:        {}", self.public_url);
        println!(
            "  store:      {}, last {} updates kept (at most {} MiB of them)",
            self.store,
            self.history,
            self.history_bytes.div_ceil(1 << 20)
        );
        if let Some(at) = &self.metrics {
            println!("  metrics:    http://{at}/metrics (and /healthz)");
        }
        if let Some((key, tokens)) = self.dev {
            let DevTokens { publish, subscribe } = tokens;
            println!();
            println!("{}", key.note());
            println!("  publisher token: {publish}");
            println!("  subscriber token: {subscribe}");
            let topic = "https://example.com/demo";
            let stream = format!("{base}{HUB_PATH}?topic={topic}");
            println!("  subscribe (in another terminal; either line):");
            println!("    curl -N -H 'Authorization: Bearer {subscribe}' '{stream}'");
            println!("    sse listen -H 'Authorization: Bearer {subscribe}' '{stream}'");
            println!("  publish:");
            println!(
                "    curl -d 'topic={topic}' -d 'data={{\"hello\":\"world\"}}' \\\n      -H 'Authorization: Bearer {publish}' {base}{HUB_PATH}"
            );
            let key_file = key
                .path
                .as_ref()
                .map_or("KEY".to_owned(), |p| p.display().to_string());
            println!(
                "  more tokens: sse token --publish TOPIC --subscribe TOPIC --audience {} --key-file {key_file}",
                self.audience
            );
        }
        std::io::stdout().flush().ok();
    }
}
