//! Publish form parsing: MERCURE.md M13–M22 and L5.

use proptest::prelude::*;
use sse_hub::publish::{generate_id, is_reserved_topic, PublishConfig, PublishRequest};
use sse_hub::topic::HubUrl;

const FORM: &[u8] = b"application/x-www-form-urlencoded";

fn hub() -> HubUrl {
    HubUrl::parse("https://example.com/.well-known/mercure").unwrap()
}

fn parse_with(body: &[u8], config: &PublishConfig) -> Result<PublishRequest, u16> {
    PublishRequest::parse(Some(FORM), body, &hub(), config).map_err(|e| {
        assert!(!e.message().is_empty());
        assert!(
            e.www_authenticate().is_none(),
            "form errors carry no challenge"
        );
        e.status().as_u16()
    })
}

fn parse(body: &[u8]) -> Result<PublishRequest, u16> {
    parse_with(body, &PublishConfig::default())
}

#[test]
fn m13_all_fields() {
    let req = parse(b"topic=https%3A%2F%2Fexample.com%2Fa&data=hello+world&private=on&id=urn%3Ax%3A1&type=note&retry=3000")
        .unwrap();
    assert_eq!(req.topics(), ["https://example.com/a"]);
    assert_eq!(req.data(), "hello world");
    assert!(req.is_private());
    assert_eq!(req.id(), Some("urn:x:1"));
    assert_eq!(req.event_type(), Some("note"));
    assert_eq!(req.retry(), Some(3000));
    let update = req.into_update();
    assert_eq!(update.id, "urn:x:1");
    assert_eq!(update.topics, vec!["https://example.com/a".to_owned()]);
    assert_eq!(update.data, "hello world");
    assert!(update.private);
    assert_eq!(update.event_type.as_deref(), Some("note"));
    assert_eq!(update.retry, Some(3000));
}

#[test]
fn m13_other_content_types_are_415() {
    for ct in [
        &b"multipart/form-data; boundary=x"[..],
        b"application/json",
        b"text/plain",
        b"application/x-www-form-urlencoded; charset=iso-8859-1",
    ] {
        let err = PublishRequest::parse(Some(ct), b"topic=a", &hub(), &PublishConfig::default())
            .unwrap_err();
        assert_eq!(err.status(), 415, "{}", String::from_utf8_lossy(ct));
        assert!(err.is_unsupported_media_type());
    }
    let err =
        PublishRequest::parse(None, b"topic=a", &hub(), &PublishConfig::default()).unwrap_err();
    assert_eq!(err.status(), 415);
    let ok = PublishRequest::parse(
        Some(b"Application/X-WWW-Form-URLEncoded ; charset=\"UTF-8\""),
        b"topic=a",
        &hub(),
        &PublishConfig::default(),
    );
    assert!(ok.is_ok());
}

#[test]
fn m13_h_unknown_fields_are_ignored() {
    let req = parse(b"topic=a&target=x&foo=%FF&bar").unwrap();
    assert_eq!(req.topics(), ["a"]);
}

#[test]
fn m14_missing_topic_is_400() {
    assert_eq!(parse(b"data=x").unwrap_err(), 400);
    assert_eq!(parse(b"").unwrap_err(), 400);
}

#[test]
fn m14_empty_topic_is_400() {
    assert_eq!(parse(b"topic=").unwrap_err(), 400);
}

#[test]
fn m14_h_two_topics_first_is_canonical() {
    let req =
        parse(b"topic=https%3A%2F%2Fexample.com%2Fa&topic=https%3A%2F%2Fexample.com%2Fb").unwrap();
    assert_eq!(
        req.topics(),
        ["https://example.com/a", "https://example.com/b"]
    );
}

#[test]
fn m14_s_two_topics_is_400_under_the_switch() {
    let mut config = PublishConfig::default();
    config.single_topic = true;
    assert!(parse_with(b"topic=a", &config).is_ok());
    assert_eq!(parse_with(b"topic=a&topic=b", &config).unwrap_err(), 400);
}

#[test]
fn m14_h_topic_count_cap_is_413() {
    let mut config = PublishConfig::default();
    config.max_topics = 2;
    assert!(parse_with(b"topic=a&topic=b", &config).is_ok());
    assert_eq!(
        parse_with(b"topic=a&topic=b&topic=c", &config).unwrap_err(),
        413
    );
}

#[test]
fn m14_topic_character_rules_are_400() {
    for body in [
        &b"topic=a%00"[..],
        b"topic=a%0D%0Ab",
        b"topic=a%7F",
        b"topic=a%C2%85",
        b"topic=a%E2%80%8B",
        b"topic=%FF",
        b"topic=ok&topic=a%0A",
    ] {
        assert_eq!(
            parse(body).unwrap_err(),
            400,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn m15_h_reserved_namespace_is_400() {
    for body in [
        &b"topic=%2F.well-known%2Fmercure"[..],
        b"topic=%2F.well-known%2Fmercure%2Fsubscriptions%2FExact%2Fa%2Fb",
        b"topic=https%3A%2F%2Fevil.example%2F.well-known%2Fmercure%2Fsubscriptions",
        b"topic=%2F.well-known%2F%256Dercure%2Fx",
        b"topic=%2Fa%2F..%2F.well-known%2Fmercure",
        b"topic=ok&topic=%2F.well-known%2Fmercure%2Fx",
    ] {
        assert_eq!(
            parse(body).unwrap_err(),
            400,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn m15_not_a_substring_test() {
    assert!(parse(b"topic=https%3A%2F%2Fx%2Ffoo%2F.well-known%2Fmercure").is_ok());
    assert!(parse(b"topic=%2F.well-known%2Fmercurey").is_ok());
}

#[test]
fn m15_h_star_topic_is_400() {
    assert_eq!(parse(b"topic=*").unwrap_err(), 400);
}

#[test]
fn m15_h_unparsable_topics_are_exempt() {
    assert!(!is_reserved_topic(
        "http://[::1/.well-known/mercure",
        &hub()
    ));
    assert!(parse(b"topic=http%3A%2F%2F%5B%3A%3A1%2F.well-known%2Fmercure").is_ok());
}

#[test]
fn m15_s_and_l5_reserved_namespace_is_403_under_the_switch() {
    let mut config = PublishConfig::default();
    config.reserved_namespace_forbidden = true;
    let err = PublishRequest::parse(
        Some(FORM),
        b"topic=%2F.well-known%2Fmercure%2Fx",
        &hub(),
        &config,
    )
    .unwrap_err();
    assert_eq!(err.status(), 403);
    assert!(err.is_forbidden());
}

#[test]
fn m15_custom_hub_path_is_reserved_too() {
    let hub = HubUrl::parse("https://example.com/hub").unwrap();
    let err = PublishRequest::parse(
        Some(FORM),
        b"topic=%2Fhub%2Fsubscriptions",
        &hub,
        &PublishConfig::default(),
    )
    .unwrap_err();
    assert_eq!(err.status(), 400);
    assert!(PublishRequest::parse(
        Some(FORM),
        b"topic=%2Fhubs",
        &hub,
        &PublishConfig::default()
    )
    .is_ok());
}

#[test]
fn m16_data_must_be_utf8() {
    assert_eq!(parse(b"topic=a&data=%FF%FE").unwrap_err(), 400);
    assert_eq!(parse(b"topic=a").unwrap().data(), "");
    // Data is opaque: control characters and newlines pass through (M10 splits lines).
    assert_eq!(
        parse(b"topic=a&data=l1%0D%0Al2%00").unwrap().data(),
        "l1\r\nl2\0"
    );
}

#[test]
fn m17_presence_of_private_is_private() {
    for body in [
        &b"topic=a&private"[..],
        b"topic=a&private=",
        b"topic=a&private=false",
        b"topic=a&private=0",
    ] {
        assert!(
            parse(body).unwrap().is_private(),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    assert!(!parse(b"topic=a&privatex=1").unwrap().is_private());
}

#[test]
fn m18_id_rules() {
    for body in [
        &b"topic=a&id=%23frag"[..],
        b"topic=a&id=a%0Ab",
        b"topic=a&id=a%0Db",
        b"topic=a&id=a%00b",
        b"topic=a&id=a%09b",
        b"topic=a&id=a%7F",
        b"topic=a&id=a%C2%90",
        b"topic=a&id=a%E2%80%AE",
        b"topic=a&id=earliest",
        b"topic=a&id=%FF",
    ] {
        assert_eq!(
            parse(body).unwrap_err(),
            400,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    assert_eq!(parse(b"topic=a&id=a%23b").unwrap().id(), Some("a#b"));
}

#[test]
fn m18_absent_id_is_generated() {
    let req = parse(b"topic=a&id=").unwrap();
    assert_eq!(req.id(), None);
    let a = req.clone().into_update().id;
    let b = req.into_update().id;
    assert!(a.starts_with("urn:uuid:") && b.starts_with("urn:uuid:"));
    assert_ne!(a, b);
    assert_eq!(generate_id().len(), "urn:uuid:".len() + 36);
}

#[test]
fn m19_type_rules() {
    for body in [
        &b"topic=a&type=a%0Ab"[..],
        b"topic=a&type=a%0D",
        b"topic=a&type=a%00",
        b"topic=a&type=a%7F",
        b"topic=a&type=a%C2%80",
        b"topic=a&type=%E2%80%8B",
        b"topic=a&type=mercure",
    ] {
        assert_eq!(
            parse(body).unwrap_err(),
            400,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    assert_eq!(
        parse(b"topic=a&type=Mercure").unwrap().event_type(),
        Some("Mercure")
    );
    assert_eq!(parse(b"topic=a&type=").unwrap().event_type(), None);
}

#[test]
fn m20_retry_digits_only() {
    for body in [
        &b"topic=a&retry=-1"[..],
        b"topic=a&retry=%2B5",
        b"topic=a&retry=1.5",
        b"topic=a&retry=+5",
        b"topic=a&retry=%EF%BC%91",
        b"topic=a&retry=99999999999999999999999",
        b"topic=a&retry=1e3",
    ] {
        assert_eq!(
            parse(body).unwrap_err(),
            400,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    assert_eq!(
        parse(b"topic=a&retry=").unwrap().retry(),
        None,
        "empty retry is absent (0.x)"
    );
    assert_eq!(parse(b"topic=a&retry=007").unwrap().retry(), Some(7));
}

#[test]
fn m22_caps_are_413() {
    let mut config = PublishConfig::default();
    config.max_body = 64;
    config.max_topic_len = 8;
    config.max_id_len = 4;
    config.max_type_len = 4;
    assert_eq!(parse_with(&[b'a'; 65], &config).unwrap_err(), 413);
    assert_eq!(parse_with(b"topic=123456789", &config).unwrap_err(), 413);
    assert_eq!(parse_with(b"topic=a&id=12345", &config).unwrap_err(), 413);
    assert_eq!(parse_with(b"topic=a&type=12345", &config).unwrap_err(), 413);
    assert!(parse_with(b"topic=12345678&id=1234&type=1234", &config).is_ok());
}

#[test]
fn l5_alternate_topics_and_0x_status_codes() {
    // 0.x: missing topic, bad retry, CR/LF/NUL in id or type → 400.
    assert_eq!(parse(b"data=x").unwrap_err(), 400);
    assert_eq!(parse(b"topic=a&retry=x").unwrap_err(), 400);
    assert_eq!(parse(b"topic=a&id=%0A").unwrap_err(), 400);
    assert_eq!(parse(b"topic=a&type=%00").unwrap_err(), 400);
    let req = parse(b"topic=https%3A%2F%2Fex%2F1&topic=https%3A%2F%2Fex%2Falt").unwrap();
    assert_eq!(req.topics().len(), 2);
}

#[test]
fn repeated_single_fields_keep_the_first() {
    let req = parse(b"topic=a&data=1&data=2&id=x&id=y&type=t&type=u&retry=1&retry=2").unwrap();
    assert_eq!(
        (req.data(), req.id(), req.event_type(), req.retry()),
        ("1", Some("x"), Some("t"), Some(1))
    );
}

proptest! {
    #[test]
    fn prop_publish_parse_never_panics(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = PublishRequest::parse(Some(FORM), &body, &hub(), &PublishConfig::default());
    }

    #[test]
    fn prop_reserved_check_never_panics(topic in any::<String>()) {
        let _ = is_reserved_topic(&topic, &hub());
    }
}

fn form_encode(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

proptest! {
    #[test]
    fn prop_m16_data_round_trips_through_form_encoding(data in any::<String>()) {
        let body = format!("topic=a&data={}", form_encode(&data));
        let req = parse(body.as_bytes()).unwrap();
        prop_assert_eq!(req.data(), data.as_str());
    }

    #[test]
    fn prop_m13_plus_is_space_and_percent_is_a_byte(data in "[a-z +]{0,20}") {
        let body = format!("topic=a&data={data}");
        let req = parse(body.as_bytes()).unwrap();
        prop_assert_eq!(req.data(), data.replace('+', " "));
    }
}
