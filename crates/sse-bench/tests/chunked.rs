//! The chunked-body decoder against fixed inputs, split at every position:
//! the body bytes never depend on how the reads fell.

use sse_bench::chunked::ChunkedDecoder;

/// A realistic subscribe body: a comment, events in one chunk each, an
/// event split over two chunks, an extension, a trailer.
const STREAM: &[u8] = b"b\r\n: welcome\n\n\r\n\
28\r\nid: 1\ndata: sseb:0:0:1700000000000000:\n\n\r\n\
14;x=y\r\nid: 2\ndata: sseb:0:1\r\n\
14\r\n:1700000000000001:\n\n\r\n\
0\r\nX-Trailer: 1\r\n\r\n";

const BODY: &[u8] = b": welcome\n\nid: 1\ndata: sseb:0:0:1700000000000000:\n\nid: 2\ndata: sseb:0:1:1700000000000001:\n\n";

fn decode(pieces: &[&[u8]]) -> (Vec<u8>, bool) {
    let mut dec = ChunkedDecoder::new();
    let mut body = Vec::new();
    for p in pieces {
        let used = dec
            .decode(p, |s| body.extend_from_slice(s))
            .expect("valid input");
        assert_eq!(used, p.len());
    }
    (body, dec.is_done())
}

#[test]
fn fixture_is_consistent() {
    assert_eq!(decode(&[STREAM]), (BODY.to_vec(), true));
}

#[test]
fn every_single_split() {
    for i in 0..=STREAM.len() {
        let (a, b) = STREAM.split_at(i);
        assert_eq!(decode(&[a, b]), (BODY.to_vec(), true), "split at {i}");
    }
}

#[test]
fn every_pair_of_splits() {
    for i in 0..=STREAM.len() {
        for j in i..=STREAM.len() {
            let pieces = [&STREAM[..i], &STREAM[i..j], &STREAM[j..]];
            assert_eq!(decode(&pieces), (BODY.to_vec(), true), "split at {i},{j}");
        }
    }
}

#[test]
fn byte_at_a_time() {
    let pieces: Vec<&[u8]> = STREAM.chunks(1).collect();
    assert_eq!(decode(&pieces), (BODY.to_vec(), true));
}

#[test]
fn decoded_into_sse_wire_at_every_split() {
    for i in 0..=STREAM.len() {
        let mut dec = ChunkedDecoder::new();
        let mut sse = sse_wire::Decoder::new();
        let mut seqs = Vec::new();
        for piece in [&STREAM[..i], &STREAM[i..]] {
            dec.decode(piece, |s| sse.push(s)).unwrap();
            while let Some(frame) = sse.next_frame().unwrap() {
                if let sse_wire::Frame::Message(m) = frame {
                    seqs.push(sse_bench::payload::parse(&m.data).unwrap().seq);
                }
            }
        }
        assert_eq!(seqs, [0, 1], "split at {i}");
    }
}
