//! A streaming API in the LLM style: POST a JSON body with a bearer token,
//! read `data:` chunks of JSON until `data: [DONE]`.
//!
//! ```text
//! cargo run -p sse-eventsource --example llm_stream                  # against a local stand-in
//! API_KEY=... cargo run -p sse-eventsource --example llm_stream -- https://api.example.com/v1/chat/completions
//! ```
//!
//! A POST is not idempotent, so by default the source never sends it twice:
//! a dropped connection ends the stream with an error (`will_reconnect:
//! false`) instead of submitting the prompt again. A server that can resume
//! a generation from `Last-Event-ID` can opt in with
//! `ReconnectPolicy::default().reconnect_non_idempotent(true)`.

use futures_util::StreamExt;
use sse_client::http::Method;
use sse_client::{Event, EventSource};

#[derive(serde::Deserialize)]
struct Chunk {
    choices: Vec<Choice>,
}

#[derive(serde::Deserialize)]
struct Choice {
    delta: Delta,
}

#[derive(serde::Deserialize)]
struct Delta {
    #[serde(default)]
    content: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = match std::env::args().nth(1) {
        Some(url) => url,
        None => stand_in::start().await?,
    };
    let key = std::env::var("API_KEY").unwrap_or_else(|_| "sk-local".to_owned());
    let body = serde_json::json!({
        "model": "any",
        "stream": true,
        "messages": [{"role": "user", "content": "Say hello."}],
    });
    let mut source = EventSource::builder(&url)
        .method(Method::POST)
        .header("authorization", &format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .build()?;
    while let Some(event) = source.next().await {
        match event {
            Event::Open => {
                let head = source.response().expect("set at open");
                let id = head.headers().get("x-request-id");
                eprintln!("[{} request id {:?}]", head.status(), id);
            }
            Event::Message(m) if &*m.data == "[DONE]" => {
                println!();
                source.close();
            }
            Event::Message(m) => {
                for choice in m.json::<Chunk>()?.choices {
                    print!("{}", choice.delta.content);
                }
            }
            Event::Error { error, .. } => return Err(error.into()),
            _ => {}
        }
    }
    Ok(())
}

/// A local stand-in for the API, so the example runs without a network:
/// one POST in, a few chunks and `[DONE]` out.
mod stand_in {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    pub async fn start() -> std::io::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/v1/chat/completions", listener.local_addr()?);
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await?;
            let mut request = [0u8; 8192];
            let n = socket.read(&mut request).await?;
            let head = String::from_utf8_lossy(&request[..n]);
            let authorized = head
                .lines()
                .any(|l| l.to_ascii_lowercase().starts_with("authorization: bearer "));
            if !head.starts_with("POST ") || !authorized {
                return socket
                    .write_all(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
            socket
                .write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nx-request-id: req-1\r\n\r\n",
                )
                .await?;
            for word in ["Hello", ",", " world", "!"] {
                let chunk = serde_json::json!({"choices": [{"delta": {"content": word}}]});
                socket
                    .write_all(format!("data: {chunk}\n\n").as_bytes())
                    .await?;
            }
            socket.write_all(b"data: [DONE]\n\n").await
        });
        Ok(url)
    }
}
