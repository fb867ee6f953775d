//! The decoder allocates nothing per event beyond the data itself: none when
//! the data is one line (a slice of the input), and for joined lines only
//! when its join buffer fills (amortized well under one per event).
//! Counted with a global allocator that counts per thread, so tests running
//! in parallel do not disturb each other.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use sse_wire::{Decoder, Frame};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

/// Pushes `input` as one chunk, then counts the allocations made while
/// taking every frame out (the events are dropped as they come).
fn allocations_while_decoding(input: &[u8]) -> (u64, usize) {
    let mut dec = Decoder::new();
    dec.push(input);
    let before = allocs();
    let mut events = 0;
    while let Some(frame) = dec.next_frame().unwrap() {
        if let Frame::Message(m) = frame {
            std::hint::black_box(&m);
            events += 1;
        }
    }
    (allocs() - before, events)
}

const N: usize = 10_000;

#[test]
fn single_line_data_allocates_nothing_per_event() {
    let input = b"data: hello\n\n".repeat(N);
    let (count, events) = allocations_while_decoding(&input);
    assert_eq!(events, N);
    // One allocation when the buffer first becomes shared, none per event.
    assert!(count <= 2, "{count} allocations for {N} events");
}

#[test]
fn event_type_and_id_allocate_nothing_per_event() {
    let mut input = Vec::new();
    for i in 0..N {
        input
            .extend_from_slice(format!("id: {i}\nevent: tick\ndata: {{\"n\":{i}}}\n\n").as_bytes());
    }
    let (count, events) = allocations_while_decoding(&input);
    assert_eq!(events, N);
    assert!(count <= 2, "{count} allocations for {N} events");
}

#[test]
fn multi_line_data_allocates_less_than_once_per_event() {
    let input = b"data: a\ndata: b\ndata: c\n\n".repeat(N);
    let (count, events) = allocations_while_decoding(&input);
    assert_eq!(events, N);
    // 5-byte events share 8 KiB join buffers: ~1,600 per allocation.
    assert!(
        count <= (N / 100) as u64,
        "{count} allocations for {N} events"
    );
}

#[test]
fn comments_allocate_nothing_per_comment() {
    let input = b": keep-alive\n".repeat(N);
    let (count, _) = allocations_while_decoding(&input);
    assert!(count <= 2, "{count} allocations for {N} comments");
}
