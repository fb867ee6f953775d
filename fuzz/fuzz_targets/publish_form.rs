//! Fuzz target: the publish-form parser on arbitrary bodies, end to end to
//! the bytes a subscriber decodes.
//!
//! Checks, for every input: no panic; an accepted request obeys the caps
//! and character rules (M14–M22); its update encodes (an id or type the
//! format cannot carry would be skipped by the hub, so it must never be
//! accepted) and decodes back to exactly one event with the same id, type
//! and data (line breaks normalised), whatever CR/LF the fields held: no
//! field or event can be injected (M10, M46).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sse_hub::publish::{PublishConfig, PublishRequest};
use sse_hub::topic::HubUrl;
use sse_wire::{Decoder, Event, Frame};

const FORM: &[u8] = b"application/x-www-form-urlencoded";

fuzz_target!(|body: &[u8]| {
    let hub = HubUrl::parse("https://hub.example/.well-known/mercure").unwrap();
    let config = PublishConfig::default();
    let Ok(req) = PublishRequest::parse(Some(FORM), body, &hub, &config) else {
        return;
    };
    assert!(!req.topics().is_empty() && req.topics().len() <= config.max_topics);
    for t in req.topics() {
        assert!(t.len() <= config.max_topic_len && t != "*");
        assert!(!t.contains(['\r', '\n', '\0']), "topic {t:?}");
    }
    let update = req.into_update();
    let mut event = Event::new()
        .id(update.id.as_str())
        .expect("an accepted id encodes");
    if let Some(t) = &update.event_type {
        event = event.event(t.as_str()).expect("an accepted type encodes");
    }
    let bytes = event.data(update.data.as_str()).to_bytes();

    let mut decoder = Decoder::new();
    decoder.push(&bytes);
    let mut messages = Vec::new();
    while let Some(frame) = decoder.next_frame().expect("default limits") {
        match frame {
            Frame::Message(m) => messages.push(m),
            other => panic!("an extra frame was injected: {other:?}"),
        }
    }
    assert_eq!(messages.len(), 1, "exactly one event: {bytes:?}");
    let m = &messages[0];
    assert_eq!(&*m.last_event_id, update.id.as_str());
    assert_eq!(
        &*m.event_type,
        update.event_type.as_deref().unwrap_or("message")
    );
    let normalised = update.data.replace("\r\n", "\n").replace('\r', "\n");
    assert_eq!(&*m.data, normalised.as_str());
});
