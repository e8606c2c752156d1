//! The bodies of burnstand's fuzz targets, shared by the libFuzzer binaries
//! (`fuzz_targets/`) and the corpus replay test (`tests/replay.rs`) that CI runs on stable.
//!
//! Each body asserts properties, not just "no panic": decoding is the same however the bytes
//! are split; whatever decodes re-encodes to a value that decodes to itself; strict decoders
//! accept only canonical encodings, so re-encoding gives back exactly the input; no decoded
//! value exceeds the limits in `burnstand_wire::limits`.

#![forbid(unsafe_code)]

use burnstand_wire::block::{encode_block, BlockDecoder};
use burnstand_wire::burner::{Event, Request};
use burnstand_wire::command::{Command, Greeting, Identity, Reply, StationType};
use burnstand_wire::datastream::{
    from_bytes, to_bytes, ByteArray, CString, Decode, Encode, NullableString,
};
use burnstand_wire::link::{LinkOpen, MasterMessage, StationHello, StationMessage};
use burnstand_wire::nucleus::{HelloReply, RequestDelay};
use burnstand_wire::push::{PushData, PushReply, StationPushReply};

/// Decoder on a small block bound, so the fuzzer reaches the limit cheaply.
const FUZZ_MAX_BLOCK: usize = 4096;

/// Feeds `input` to a decoder in pieces of `chunk` bytes; returns the blocks and whether a
/// decoding error ended it.
fn blocks(input: &[u8], chunk: usize) -> (Vec<Vec<u8>>, bool) {
    let mut decoder = BlockDecoder::with_max_block(FUZZ_MAX_BLOCK);
    let mut out = Vec::new();
    for mut piece in input.chunks(chunk.max(1)) {
        loop {
            match decoder.decode(&mut piece) {
                Ok(Some(block)) => {
                    assert!(block.len() <= FUZZ_MAX_BLOCK, "block over the bound");
                    out.push(block);
                }
                Ok(None) => break,
                Err(_) => return (out, true),
            }
        }
    }
    (out, false)
}

/// The first byte chooses how the rest is split; splitting must not change what decodes, and
/// every block survives encode → decode unchanged.
pub fn block_decoder(data: &[u8]) {
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    let whole = blocks(input, input.len());
    let pieces = blocks(input, usize::from(split));
    assert_eq!(whole, pieces, "decoding depends on how the input is split");
    for block in &whole.0 {
        let line = encode_block(block);
        let (again, failed) = blocks(&line, line.len());
        assert!(!failed, "an encoded block does not decode");
        assert_eq!(again, vec![block.clone()]);
    }
}

/// If `bytes` decodes as `T`, it is canonical: re-encoding gives exactly `bytes`, and that
/// decodes to the same value.
fn canonical<T: Decode + Encode + PartialEq + std::fmt::Debug>(bytes: &[u8]) {
    if let Ok(value) = from_bytes::<T>(bytes) {
        let again = to_bytes(&value);
        assert_eq!(
            again, bytes,
            "{value:?} decoded from a non-canonical encoding"
        );
        assert_eq!(from_bytes::<T>(&again).ok().as_ref(), Some(&value));
    }
}

/// If `bytes` decodes as `T`, the value survives encode → decode (for types with a documented
/// non-canonical input, like TQCString's null, which collapses to empty as in TQt3).
fn round_trip<T: Decode + Encode + PartialEq + std::fmt::Debug>(bytes: &[u8]) {
    if let Ok(value) = from_bytes::<T>(bytes) {
        assert_eq!(
            from_bytes::<T>(&to_bytes(&value)).ok().as_ref(),
            Some(&value)
        );
    }
}

/// Every TQDataStream value type, decoded strictly from the same bytes.
pub fn datastream_roundtrip(data: &[u8]) {
    canonical::<u8>(data);
    canonical::<u32>(data);
    canonical::<u64>(data);
    canonical::<bool>(data);
    canonical::<String>(data);
    canonical::<NullableString>(data);
    canonical::<ByteArray>(data);
    round_trip::<CString>(data);
    canonical::<Vec<String>>(data);
    canonical::<Vec<u32>>(data);
    canonical::<Vec<ByteArray>>(data);
}

/// The master's command mode: commands, replies, the greeting, station lists, the identity
/// block.
pub fn command_parser(data: &[u8]) {
    canonical::<Command>(data);
    canonical::<Reply>(data);
    canonical::<Greeting>(data);
    canonical::<Vec<StationType>>(data);
    canonical::<Identity>(data);
    // The master–station link (protocol.md §4.4, §5.9).
    canonical::<StationHello>(data);
    canonical::<LinkOpen>(data);
    canonical::<StationMessage>(data);
    canonical::<MasterMessage>(data);
    // The protocol nucleus (protocol.md §4.5); HELLO itself is a Command.
    canonical::<HelloReply>(data);
    canonical::<RequestDelay>(data);
    // Image push (protocol.md §5.11).
    canonical::<PushReply>(data);
    canonical::<PushData>(data);
    canonical::<StationPushReply>(data);
}

/// The burner protocol: requests and events.
pub fn burner_parser(data: &[u8]) {
    canonical::<Request>(data);
    canonical::<Event>(data);
}

mod differential;
pub use differential::unwrap_differential;

/// A target body.
pub type Target = fn(&[u8]);

/// Every target by name, for the replay test and `README.md`.
pub const TARGETS: [(&str, Target); 5] = [
    ("block_decoder", block_decoder),
    ("datastream_roundtrip", datastream_roundtrip),
    ("command_parser", command_parser),
    ("burner_parser", burner_parser),
    ("unwrap_differential", unwrap_differential),
];
