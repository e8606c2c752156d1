//! Property tests of the TQDataStream codec and the block framing.
//!
//! Case counts are proptest's default (256, or `PROPTEST_CASES`), which keeps the suite to a
//! second or two.

use std::fmt::Debug;

use burnstand_wire::block::{encode_block, encode_block_into, BlockDecoder};
use burnstand_wire::datastream::{
    from_bytes, to_bytes, ByteArray, CString, Decode, Encode, NullableString, Reader, Writer,
};
use burnstand_wire::limits::max_line_len;
use burnstand_wire::{Error, Result};
use proptest::prelude::*;

// --- helpers --------------------------------------------------------------------------------

fn fail(e: Error) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

/// encode → decode gives back the value, and the decode consumes the whole message.
fn round_trip<T: Encode + Decode + PartialEq + Debug>(v: &T) -> Result<(), TestCaseError> {
    let bytes = to_bytes(v);
    let back: T = from_bytes(&bytes).map_err(fail)?;
    prop_assert_eq!(&back, v);
    Ok(())
}

/// Decoding arbitrary bytes never panics, and whatever it accepts is canonical: re-encoding the
/// value gives back exactly the bytes that were consumed.
fn canonical_prefix<T: Encode + Decode + Debug>(bytes: &[u8]) -> Result<(), TestCaseError> {
    let mut r = Reader::new(bytes);
    if let Ok(v) = r.read::<T>() {
        let consumed = bytes.len() - r.remaining();
        prop_assert_eq!(to_bytes(&v), &bytes[..consumed], "value {:?}", v);
    }
    Ok(())
}

/// Strings over every Unicode scalar value (proptest biases towards the awkward ones: NUL,
/// controls, surrogate-pair territory beyond the BMP), plus its default printable strings.
fn any_string() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(any::<char>(), 0..24).prop_map(String::from_iter),
        any::<String>(),
    ]
}

fn any_cstring() -> impl Strategy<Value = CString> {
    prop::collection::vec(1u8..=255, 0..32).prop_filter_map("no NUL", |v| CString::new(v).ok())
}

/// Bytes that decoders are likely to get some way into: fully random, or a small length/count
/// prefix followed by random bytes.
fn fuzz_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        (0u32..12, prop::collection::vec(any::<u8>(), 0..64)).prop_map(|(n, rest)| {
            let mut v = n.to_be_bytes().to_vec();
            v.extend(rest);
            v
        }),
    ]
}

/// A valid encoding with one byte overwritten and/or cut short.
fn mutate(mut bytes: Vec<u8>, at: prop::sample::Index, byte: u8, cut: bool) -> Vec<u8> {
    if !bytes.is_empty() {
        let i = at.index(bytes.len());
        if cut {
            bytes.truncate(i);
        } else {
            bytes[i] = byte;
        }
    }
    bytes
}

/// A message the way protocol code composes one: fields in order, no framing between them.
#[derive(Debug, Clone, PartialEq)]
struct Mixed {
    flags: u8,
    delta: i16,
    id: u32,
    size: u64,
    offset: i64,
    verify: bool,
    name: String,
    label: NullableString,
    digest: ByteArray,
    device: CString,
    files: Vec<String>,
    sizes: Vec<u64>,
}

impl Encode for Mixed {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.flags)
            .write(&self.delta)
            .write(&self.id)
            .write(&self.size)
            .write(&self.offset)
            .write(&self.verify)
            .write(&self.name)
            .write(&self.label)
            .write(&self.digest)
            .write(&self.device)
            .write(&self.files)
            .write(&self.sizes);
    }
}

impl Decode for Mixed {
    const MIN_LEN: usize = 1 + 2 + 4 + 8 + 8 + 1 + 4 * 6;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Mixed {
            flags: r.read()?,
            delta: r.read()?,
            id: r.read()?,
            size: r.read()?,
            offset: r.read()?,
            verify: r.read()?,
            name: r.read()?,
            label: r.read()?,
            digest: r.read()?,
            device: r.read()?,
            files: r.read()?,
            sizes: r.read()?,
        })
    }
}

prop_compose! {
    fn any_mixed()(
        (flags, delta, id, size, offset, verify) in
            (any::<u8>(), any::<i16>(), any::<u32>(), any::<u64>(), any::<i64>(), any::<bool>()),
        name in any_string(),
        label in prop::option::of(any_string()),
        digest in prop::collection::vec(any::<u8>(), 0..32),
        device in any_cstring(),
        files in prop::collection::vec(any_string(), 0..4),
        sizes in prop::collection::vec(any::<u64>(), 0..4),
    ) -> Mixed {
        Mixed {
            flags, delta, id, size, offset, verify, name,
            label: NullableString(label),
            digest: ByteArray(digest),
            device, files, sizes,
        }
    }
}

/// Feeds `chunks` to a fresh decoder, collecting every block; checks `finish` at the end.
fn decode_chunks<'a>(
    max_block: usize,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<Vec<u8>>> {
    let mut dec = BlockDecoder::with_max_block(max_block);
    let mut blocks = Vec::new();
    for mut chunk in chunks {
        while !chunk.is_empty() {
            if let Some(block) = dec.decode(&mut chunk)? {
                blocks.push(block);
            }
        }
    }
    dec.finish()?;
    Ok(blocks)
}

/// Splits `stream` into consecutive chunks whose sizes cycle through `sizes` (all ≥ 1).
fn split<'a>(stream: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut chunks = Vec::new();
    let mut rest = stream;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(size.clamp(1, rest.len()));
        chunks.push(chunk);
        rest = tail;
    }
    chunks
}

// --- TQDataStream ---------------------------------------------------------------------------

proptest! {
    #[test]
    fn round_trips_integers(
        a in any::<u8>(), b in any::<i8>(), c in any::<u16>(), d in any::<i16>(),
        e in any::<u32>(), f in any::<i32>(), g in any::<u64>(), h in any::<i64>(), t in any::<bool>(),
    ) {
        round_trip(&a)?; round_trip(&b)?; round_trip(&c)?; round_trip(&d)?;
        round_trip(&e)?; round_trip(&f)?; round_trip(&g)?; round_trip(&h)?; round_trip(&t)?;
    }

    #[test]
    fn round_trips_strings(s in any_string()) {
        let bytes = to_bytes(&s);
        // Length prefix = 2 × UTF-16 code units, then exactly that many bytes.
        let units = s.encode_utf16().count();
        prop_assert_eq!(&bytes[..4], &u32::try_from(2 * units).map_err(|e| TestCaseError::fail(e.to_string()))?.to_be_bytes());
        prop_assert_eq!(bytes.len(), 4 + 2 * units);
        round_trip(&s)?;
        // `str` and `String` encode identically.
        prop_assert_eq!(to_bytes(s.as_str()), bytes);
    }

    #[test]
    fn round_trips_nullable_strings(s in prop::option::of(any_string())) {
        round_trip(&NullableString(s))?;
    }

    #[test]
    fn round_trips_byte_arrays(v in prop::collection::vec(any::<u8>(), 0..128)) {
        // TQByteArray and TQValueList<TQ_UINT8> happen to share an encoding.
        prop_assert_eq!(to_bytes(&ByteArray(v.clone())), to_bytes(&v));
        round_trip(&ByteArray(v))?;
    }

    #[test]
    fn round_trips_cstrings(c in any_cstring()) {
        prop_assert_eq!(to_bytes(&c).len(), 4 + c.as_bytes().len() + 1);
        round_trip(&c)?;
    }

    #[test]
    fn round_trips_lists(
        ints in prop::collection::vec(any::<u32>(), 0..32),
        strings in prop::collection::vec(any_string(), 0..8),
        nested in prop::collection::vec(prop::collection::vec(any_string(), 0..4), 0..4),
    ) {
        round_trip(&ints)?;
        round_trip(&strings)?;
        round_trip(&nested)?;
        // A slice encodes like the Vec it came from.
        prop_assert_eq!(to_bytes(&strings[..]), to_bytes(&strings));
    }

    #[test]
    fn round_trips_mixed_messages(m in any_mixed(), ms in prop::collection::vec(any_mixed(), 0..3)) {
        round_trip(&m)?;
        round_trip(&ms)?;
    }

    #[test]
    fn decoding_garbage_never_panics_and_is_canonical(bytes in fuzz_bytes()) {
        canonical_prefix::<u8>(&bytes)?;
        canonical_prefix::<i8>(&bytes)?;
        canonical_prefix::<u16>(&bytes)?;
        canonical_prefix::<i16>(&bytes)?;
        canonical_prefix::<u32>(&bytes)?;
        canonical_prefix::<i32>(&bytes)?;
        canonical_prefix::<u64>(&bytes)?;
        canonical_prefix::<i64>(&bytes)?;
        canonical_prefix::<bool>(&bytes)?;
        canonical_prefix::<String>(&bytes)?;
        canonical_prefix::<NullableString>(&bytes)?;
        canonical_prefix::<ByteArray>(&bytes)?;
        canonical_prefix::<Vec<u32>>(&bytes)?;
        canonical_prefix::<Vec<String>>(&bytes)?;
        canonical_prefix::<Vec<Vec<String>>>(&bytes)?;
        canonical_prefix::<Mixed>(&bytes)?;
        // TQCString's null (size 0) is the one documented non-canonical input: it reads as
        // empty, which re-encodes as 00000001 00.
        if bytes.get(..4) != Some(&[0, 0, 0, 0][..]) {
            canonical_prefix::<CString>(&bytes)?;
        } else {
            prop_assert_eq!(Reader::new(&bytes).read::<CString>().ok(), Some(CString::default()));
        }
    }

    #[test]
    fn decoding_mutated_messages_never_panics_and_is_canonical(
        m in any_mixed(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<bool>(),
    ) {
        let bytes = mutate(to_bytes(&m), at, byte, cut);
        canonical_prefix::<Mixed>(&bytes)?;
        let bytes = mutate(to_bytes(&m.files), at, byte, cut);
        canonical_prefix::<Vec<String>>(&bytes)?;
    }
}

// --- block framing --------------------------------------------------------------------------

fn base64_char() -> impl Strategy<Value = u8> {
    prop::sample::select(&b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[..])
}

fn payloads() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..48), 0..8)
}

proptest! {
    #[test]
    fn block_stream_survives_any_chunking(
        payloads in payloads(),
        sizes in prop::collection::vec(1usize..20, 1..16),
    ) {
        let mut stream = Vec::new();
        for p in &payloads {
            encode_block_into(p, &mut stream);
        }
        // encode_block and encode_block_into agree.
        prop_assert_eq!(&stream, &payloads.iter().flat_map(|p| encode_block(p)).collect::<Vec<u8>>());

        let one_shot = decode_chunks(64, [&stream[..]]).map_err(fail)?;
        prop_assert_eq!(&one_shot, &payloads);
        let chunked = decode_chunks(64, split(&stream, &sizes)).map_err(fail)?;
        prop_assert_eq!(&chunked, &one_shot);
        let bytewise = decode_chunks(64, stream.chunks(1)).map_err(fail)?;
        prop_assert_eq!(&bytewise, &one_shot);
    }

    #[test]
    fn block_stream_with_crlf_decodes_the_same(
        payloads in payloads(),
        sizes in prop::collection::vec(1usize..20, 1..16),
    ) {
        let mut stream = Vec::new();
        for p in &payloads {
            let mut line = encode_block(p);
            line.insert(line.len() - 1, b'\r');
            stream.extend(line);
        }
        let chunked = decode_chunks(64, split(&stream, &sizes)).map_err(fail)?;
        prop_assert_eq!(&chunked, &payloads);
    }

    #[test]
    fn blocks_up_to_the_limit_are_accepted(
        max_block in 0usize..64,
        len_seed in any::<prop::sample::Index>(),
        fill in any::<u8>(),
        crlf in any::<bool>(),
    ) {
        let payload = vec![fill; len_seed.index(max_block + 1)];
        let mut line = encode_block(&payload);
        if crlf {
            line.insert(line.len() - 1, b'\r');
        }
        prop_assert!(line.len() <= max_line_len(max_block));
        let blocks = decode_chunks(max_block, [&line[..]]).map_err(fail)?;
        prop_assert_eq!(blocks, vec![payload]);
    }

    #[test]
    fn block_line_without_lf_is_refused_exactly_at_the_bound(
        max_block in 0usize..24,
        line in prop::collection::vec(base64_char(), 0..64),
        sizes in prop::collection::vec(1usize..12, 1..8),
    ) {
        let limit = max_line_len(max_block);
        let mut dec = BlockDecoder::with_max_block(max_block);
        let mut fed = 0;
        for mut chunk in split(&line, &sizes) {
            let len = chunk.len();
            let result = dec.decode(&mut chunk);
            if fed + len < limit {
                // Might still end in an acceptable line: held in full.
                prop_assert!(matches!(result, Ok(None)));
                fed += len;
                prop_assert_eq!(dec.buffered(), fed);
            } else {
                // Its LF would make the line longer than the bound: refused before buffering.
                prop_assert!(
                    matches!(result, Err(Error::LineTooLong { limit: l }) if l == limit),
                    "{:?}", result
                );
                prop_assert_eq!(dec.buffered(), fed);
                break;
            }
        }
    }

    #[test]
    fn block_decoder_garbage_never_panics_and_stays_bounded(
        max_block in 0usize..24,
        garbage in prop::collection::vec(
            prop_oneof![
                4 => any::<u8>(),
                4 => base64_char(),
                1 => Just(b'='),
                1 => Just(b'\r'),
                1 => Just(b'\n'),
            ],
            0..256,
        ),
        sizes in prop::collection::vec(1usize..40, 1..8),
    ) {
        let limit = max_line_len(max_block);
        let mut dec = BlockDecoder::with_max_block(max_block);
        'feed: for mut chunk in split(&garbage, &sizes) {
            while !chunk.is_empty() {
                let before = chunk.len();
                let result = dec.decode(&mut chunk);
                prop_assert!(dec.buffered() < limit, "buffered {} ≥ {}", dec.buffered(), limit);
                match result {
                    Ok(Some(block)) => prop_assert!(block.len() <= max_block),
                    Ok(None) => prop_assert!(chunk.is_empty()),
                    // The decoder must not be used after an error.
                    Err(_) => break 'feed,
                }
                prop_assert!(chunk.len() < before, "no progress");
            }
        }
        // finish reports exactly what is held.
        match dec.finish() {
            Ok(()) => prop_assert_eq!(dec.buffered(), 0),
            Err(Error::UnterminatedBlock { buffered }) => prop_assert_eq!(buffered, dec.buffered()),
            Err(e) => return Err(fail(e)),
        }
    }
}
