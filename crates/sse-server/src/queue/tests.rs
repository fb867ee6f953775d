//! The queue's bounds, clocks and phases.
use super::*;

fn shared(frames: usize, bytes: usize) -> Shared {
    Shared::new(
        QueueLimit::default()
            .with_max_frames(frames)
            .with_max_bytes(bytes),
        None,
        None,
        None,
    )
}

#[test]
fn bound_by_frames() {
    let s = shared(2, 1000);
    s.push(Bytes::from_static(b"a"), true).unwrap();
    s.push(Bytes::from_static(b"b"), true).unwrap();
    let e = s.push(Bytes::from_static(b"c"), true).unwrap_err();
    assert!(e.is_queue_full());
    assert_eq!(&e.into_frame()[..], b"c");
    assert_eq!(s.queued(), (2, 2));
    // Frames on the stream's own behalf bypass the bound.
    s.push(Bytes::from_static(b"d"), false).unwrap();
    assert_eq!(s.queued(), (3, 3));
}

#[test]
fn bound_by_bytes_but_an_oversized_frame_fits_an_empty_queue() {
    let s = shared(100, 4);
    s.push(Bytes::from_static(b"123456"), true).unwrap();
    assert!(s
        .push(Bytes::from_static(b"1"), true)
        .unwrap_err()
        .is_queue_full());
    assert!(matches!(s.pop(), Pop::Frame(_)));
    s.push(Bytes::from_static(b"1234"), true).unwrap();
    assert!(s.push(Bytes::from_static(b"5"), true).is_err());
}

#[test]
fn sweep_keep_alive_counts_idle_time_from_the_last_write() {
    let s = Shared::new(
        QueueLimit::default(),
        Some(Duration::from_millis(500)),
        None,
        None,
    );
    s.touch(1000);
    s.keep_alive_if_idle(1499);
    assert_eq!(s.queued(), (0, 0));
    s.keep_alive_if_idle(1500);
    assert_eq!(s.queued(), (1, 3));
    // Queuing it counts as activity: no second one on the next sweep.
    s.keep_alive_if_idle(1750);
    assert_eq!(s.queued(), (1, 3));
    let none = Shared::new(QueueLimit::default(), None, None, None);
    none.keep_alive_if_idle(u64::MAX);
    assert_eq!(none.queued(), (0, 0));
}

#[test]
fn write_timeout_counts_from_the_last_progress() {
    let s = Shared::new(
        QueueLimit::default(),
        None,
        Some(Duration::from_millis(100)),
        None,
    );
    // Nothing waits: never stalled.
    assert!(!s.is_stalled(u64::MAX));
    let before = now_ms();
    s.push(Bytes::from_static(b"a"), true).unwrap();
    s.push(Bytes::from_static(b"b"), true).unwrap();
    let after = now_ms();
    assert!(!s.is_stalled(before + 99));
    assert!(s.is_stalled(after + 100));
    // The writer takes one: what remains waits from now.
    assert!(matches!(s.pop(), Pop::Frame(_)));
    assert!(!s.is_stalled(after + 99));
    // The writer takes the rest: nothing waits.
    assert!(matches!(s.pop(), Pop::Frame(_)));
    assert!(!s.is_stalled(u64::MAX));
    // Light path: a write the socket refused starts the clock; a
    // later mark does not move it, and progress stops it.
    s.write_blocked(5_000);
    s.write_blocked(5_050);
    assert!(s.is_stalled(5_100));
    s.push(Bytes::from_static(b"c"), true).unwrap();
    assert!(matches!(s.pop(), Pop::Frame(_)));
    assert!(!s.is_stalled(u64::MAX));
    // Without a write timeout nothing is ever stalled.
    let none = shared(10, 100);
    none.push(Bytes::from_static(b"a"), true).unwrap();
    none.write_blocked(1);
    assert!(!none.is_stalled(u64::MAX));
}

#[test]
fn a_push_onto_a_stalled_queue_ends_the_stream() {
    let s = Shared::new(
        QueueLimit::default(),
        None,
        Some(Duration::from_millis(1)),
        None,
    );
    s.push(Bytes::from_static(b"a"), true).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let e = s.push(Bytes::from_static(b"b"), true).unwrap_err();
    assert!(e.is_closed());
    assert!(s.is_gone());
    assert!(matches!(s.pop(), Pop::End));
}

#[test]
fn keep_alive_is_not_queued_behind_waiting_frames() {
    let s = Shared::new(
        QueueLimit::default(),
        Some(Duration::from_millis(500)),
        None,
        None,
    );
    s.touch(1000);
    s.push(Bytes::from_static(b"data: x\n\n"), true).unwrap();
    s.keep_alive_if_idle(5000);
    s.keep_alive_if_idle(10_000);
    assert_eq!(s.queued(), (1, 9));
}

#[test]
fn close_drains_then_ends_and_abort_drops() {
    let s = shared(10, 100);
    s.push(Bytes::from_static(b"a"), true).unwrap();
    s.close();
    assert!(s.is_closed());
    assert!(s
        .push(Bytes::from_static(b"b"), true)
        .unwrap_err()
        .is_closed());
    assert!(matches!(s.pop(), Pop::Frame(_)));
    assert!(matches!(s.pop(), Pop::End));
    let s = shared(10, 100);
    s.push(Bytes::from_static(b"a"), true).unwrap();
    s.abort();
    assert!(s.is_gone());
    assert!(matches!(s.pop(), Pop::End));
}
