//! `sse decode`: a captured stream in, one JSON object per line out.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;
use sse_wire::{Decoder, Frame, Limits};

#[derive(clap::Args)]
pub struct Args {
    /// Start as if reconnecting with this last event ID.
    #[arg(long, value_name = "ID")]
    last_event_id: Option<String>,
    /// Also print comment lines as {"comment":"…"}.
    #[arg(long)]
    comments: bool,
    /// Print only {"events":N,"bytes":M} at the end (for throughput runs).
    #[arg(long)]
    count: bool,
    /// Largest line in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_line())]
    max_line: usize,
    /// Largest event in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_event())]
    max_event: usize,
    /// The captured stream; stdin when absent or `-`.
    file: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut input: Box<dyn Read> = match &args.file {
        None => Box::new(io::stdin().lock()),
        Some(p) if p.as_os_str() == "-" => Box::new(io::stdin().lock()),
        Some(p) => Box::new(File::open(p).with_context(|| format!("cannot open {}", p.display()))?),
    };
    let limits = Limits::default()
        .with_max_line(args.max_line)
        .with_max_event(args.max_event);
    let mut decoder = Decoder::with_limits(limits);
    if let Some(id) = &args.last_event_id {
        decoder = decoder.with_last_event_id(id.as_str());
    }
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut chunk = vec![0u8; 256 * 1024];
    let (mut events, mut bytes) = (0u64, 0u64);
    loop {
        let n = match input.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("cannot read the input"),
        };
        bytes += n as u64;
        decoder.push(&chunk[..n]);
        for frame in decoder.frames() {
            let frame = match frame {
                Ok(f) => f,
                Err(e) => {
                    out.flush().ok();
                    eprintln!("sse decode: {e} (after {bytes} bytes read); raise it with --max-line / --max-event");
                    return Ok(ExitCode::FAILURE);
                }
            };
            if args.count {
                events += u64::from(matches!(frame, Frame::Message(_)));
                continue;
            }
            let line = match frame {
                Frame::Message(m) => {
                    json!({"type": &*m.event_type, "data": &*m.data, "id": &*m.last_event_id})
                }
                Frame::Retry(d) => json!({"retry": d.as_millis() as u64}),
                Frame::Comment(c) if args.comments => json!({"comment": &*c}),
                _ => continue,
            };
            serde_json::to_writer(&mut out, &line)?;
            out.write_all(b"\n")?;
        }
        // Flush per read, not per event: output keeps up with a live stream
        // without a syscall per event on a file.
        out.flush()?;
    }
    decoder.finish();
    if args.count {
        serde_json::to_writer(&mut out, &json!({"events": events, "bytes": bytes}))?;
    } else {
        serde_json::to_writer(
            &mut out,
            &json!({"end": {"last_event_id": &**decoder.last_event_id()}}),
        )?;
    }
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
