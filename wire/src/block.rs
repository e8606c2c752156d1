//! Base64 block framing: the outermost layer of every burnstand connection.
//!
//! A block is one line: the payload in standard, padded base64 (RFC 4648 §4, canonical), then a
//! single LF (0x0A). An empty line is a zero-length block. The remote-laboratory design asks for "a single
//! newline character, 0xD ('\n')", which contradicts itself (0x0D is CR); TQt's `canReadLine()`
//! and `readLine()` split on '\n' = 0x0A, so we write LF, and on read tolerate one CR right
//! before the LF (it costs nothing and lets a CRLF peer, or a human with a terminal, in). A CR
//! anywhere else is not base64 and is [`Error::BadBase64`]. `docs/protocol.md` §1 records this.
//!
//! Canonical decoding (padding required, no non-zero trailing bits) means every payload has
//! exactly one encoding, so a block cannot be smuggled past a filter in a second spelling.

use crate::error::{Error, Result};
use crate::limits::{max_line_len, MAX_BLOCK_LEN};

/// The block terminator (LF, as TQt's `readLine()` expects).
const LF: u8 = b'\n';

/// The one tolerated byte before the LF.
const CR: u8 = b'\r';

/// Largest `max_block` a decoder is configured with: keeps [`max_line_len`] from overflowing
/// while being far beyond anything that could be allocated anyway.
const MAX_CONFIGURABLE_BLOCK: usize = usize::MAX / 2;

/// Encodes one block: base64 of `payload`, then LF.
///
/// The caller keeps `payload` within the peer's block limit ([`MAX_BLOCK_LEN`] by default); a
/// larger block is rejected by the peer as [`Error::LineTooLong`] or [`Error::TooLarge`].
pub fn encode_block(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        payload
            .len()
            .div_ceil(3)
            .saturating_mul(4)
            .saturating_add(1),
    );
    encode_block_into(payload, &mut out);
    out
}

/// Appends one block (base64 of `payload`, then LF) to `out`, so several blocks can be written
/// with one buffer and one socket write. Encodes straight into `out` with the CPU's fastest
/// base64 kernel (`base64-simd` picks AVX2/SSSE3/NEON at run time): once `out` has grown to a
/// block's size, encoding allocates nothing.
pub fn encode_block_into(payload: &[u8], out: &mut Vec<u8>) {
    base64_simd::STANDARD.encode_append(payload, out);
    out.push(LF);
}

/// Splits a byte stream into blocks and decodes them, sans-I/O.
///
/// Memory: the decoder holds at most one incomplete line, and never more than
/// `max_line_len(max_block) - 1` bytes of it (≈ 1.33 MiB for the default 1 MiB block); a line
/// that would grow past [`max_line_len`] is [`Error::LineTooLong`] *before* it is buffered. Each
/// returned block is at most `max_block` bytes. So a peer, authenticated or not, can make one
/// connection direction hold at most about `max_line_len(max_block) + max_block` bytes.
///
/// Bytes of a line are scanned for LF exactly once; when a whole line arrives in one input
/// chunk with nothing buffered, it is decoded straight from the input without being copied.
pub struct BlockDecoder {
    /// The incomplete line so far; never contains LF, always shorter than `max_line`.
    line: Vec<u8>,
    max_block: usize,
    max_line: usize,
}

impl BlockDecoder {
    /// A decoder for blocks of up to [`MAX_BLOCK_LEN`] bytes.
    pub fn new() -> Self {
        Self::with_max_block(MAX_BLOCK_LEN)
    }

    /// A decoder for blocks of up to `max_block` decoded bytes (clamped to `usize::MAX / 2` so
    /// the line bound cannot overflow).
    pub fn with_max_block(max_block: usize) -> Self {
        let max_block = max_block.min(MAX_CONFIGURABLE_BLOCK);
        BlockDecoder {
            line: Vec::new(),
            max_block,
            max_line: max_line_len(max_block),
        }
    }

    /// Largest decoded block this decoder accepts.
    pub fn max_block(&self) -> usize {
        self.max_block
    }

    /// Consume bytes from the front of `input` up to and including the first LF; advance `input`
    /// past what was consumed. `Ok(Some(block))` when a line completed, `Ok(None)` when all of
    /// input was buffered without completing a line. After an `Err` the decoder must not be used
    /// again (the stream has lost its framing); `input` is then left where it was.
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Vec<u8>>> {
        let mut block = Vec::new();
        Ok(self.decode_into(input, &mut block)?.then_some(block))
    }

    /// Like [`decode`](Self::decode), but decodes a completed block into `block` (cleared
    /// first) instead of a new vector, so a reader that reuses one buffer allocates nothing per
    /// block. `Ok(true)` when a line completed and `block` holds it; `Ok(false)` when all of
    /// `input` was buffered (`block` is then untouched). `block` never grows past `max_block`.
    pub fn decode_into(&mut self, input: &mut &[u8], block: &mut Vec<u8>) -> Result<bool> {
        let data: &[u8] = input;
        let Some(lf) = memchr::memchr(LF, data) else {
            // No LF yet: the line will be at least this long plus the LF, so refuse now rather
            // than buffer past the bound.
            if self.line.len().saturating_add(data.len()) >= self.max_line {
                return Err(self.too_long());
            }
            self.line.extend_from_slice(data);
            *input = &[];
            return Ok(false);
        };

        let (body, rest) = data.split_at(lf);
        if self.line.len().saturating_add(lf).saturating_add(1) > self.max_line {
            return Err(self.too_long());
        }
        if self.line.is_empty() {
            decode_line(body, self.max_block, block)?;
        } else {
            self.line.extend_from_slice(body);
            let decoded = decode_line(&self.line, self.max_block, block);
            self.line.clear();
            decoded?;
        }
        // `rest` starts with the LF itself.
        *input = rest.get(1..).unwrap_or_default();
        Ok(true)
    }

    /// Bytes of an incomplete line held (always less than `max_line_len(max_block)`).
    pub fn buffered(&self) -> usize {
        self.line.len()
    }

    /// At EOF: [`Error::UnterminatedBlock`] if a partial line is held. A connection may only
    /// end between blocks; ending inside one means the peer died or the stream was cut.
    pub fn finish(&self) -> Result<()> {
        if self.line.is_empty() {
            Ok(())
        } else {
            Err(Error::UnterminatedBlock {
                buffered: self.line.len(),
            })
        }
    }

    fn too_long(&self) -> Error {
        Error::LineTooLong {
            limit: self.max_line,
        }
    }
}

impl Default for BlockDecoder {
    fn default() -> Self {
        Self::new()
    }
}

/// Shows sizes only: the buffered bytes are a peer's (possibly secret) data and stay out of logs.
impl std::fmt::Debug for BlockDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockDecoder")
            .field("buffered", &self.line.len())
            .field("max_block", &self.max_block)
            .finish()
    }
}

/// Decodes one line without its LF into `block` (cleared first): strips one trailing CR,
/// checks the decoded length against `max_block` before decoding, then decodes canonical
/// padded base64. `base64-simd`'s strict `STANDARD` refuses what the protocol refuses:
/// missing or misplaced padding, non-zero trailing bits, whitespace, the URL-safe alphabet.
fn decode_line(line: &[u8], max_block: usize, block: &mut Vec<u8>) -> Result<()> {
    block.clear();
    let line = line.strip_suffix(&[CR]).unwrap_or(line);
    if line.is_empty() {
        return Ok(());
    }
    // Padded base64 comes in whole 4-character quads of 3 bytes, less one per '='.
    let quads = line.len() / 4;
    if quads * 4 != line.len() {
        return Err(Error::BadBase64);
    }
    let padding = line.iter().rev().take(2).filter(|&&b| b == b'=').count();
    let decoded_len = quads * 3 - padding;
    if decoded_len > max_block {
        return Err(Error::TooLarge {
            what: "block",
            len: u64::try_from(decoded_len).unwrap_or(u64::MAX),
            limit: u64::try_from(max_block).unwrap_or(u64::MAX),
        });
    }
    base64_simd::STANDARD
        .decode_append(line, block)
        .map_err(|_| Error::BadBase64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` as one chunk, collecting every block.
    fn decode_all(dec: &mut BlockDecoder, mut input: &[u8]) -> Result<Vec<Vec<u8>>> {
        let mut blocks = Vec::new();
        while !input.is_empty() {
            if let Some(block) = dec.decode(&mut input)? {
                blocks.push(block);
            }
        }
        Ok(blocks)
    }

    fn one(line: &[u8]) -> Result<Vec<u8>> {
        let mut dec = BlockDecoder::new();
        let mut input = line;
        let block = dec.decode(&mut input)?;
        assert!(input.is_empty());
        dec.finish()?;
        block.ok_or(Error::UnterminatedBlock { buffered: 0 })
    }

    #[test]
    fn vectors() -> Result<()> {
        assert_eq!(encode_block(b""), b"\n");
        assert_eq!(encode_block(b"LIST"), b"TElTVA==\n");
        assert_eq!(encode_block(b"LIS"), b"TElT\n");
        assert_eq!(hex::encode(encode_block(&[0xFF, 0xFE])), "2f2f343d0a"); // "//4=\n"
        assert_eq!(one(b"\n")?, b"");
        assert_eq!(one(b"TElTVA==\n")?, b"LIST");
        assert_eq!(one(b"//4=\n")?, [0xFF, 0xFE]);
        Ok(())
    }

    #[test]
    fn encode_into_appends() {
        let mut out = b"xx".to_vec();
        encode_block_into(b"LIST", &mut out);
        encode_block_into(b"", &mut out);
        assert_eq!(out, b"xxTElTVA==\n\n");
    }

    #[test]
    fn crlf_is_tolerated() -> Result<()> {
        assert_eq!(one(b"TElTVA==\r\n")?, b"LIST");
        assert_eq!(one(b"\r\n")?, b"");
        // The CR and LF may arrive in different reads.
        let mut dec = BlockDecoder::new();
        assert_eq!(dec.decode(&mut &b"TElTVA==\r"[..])?, None);
        assert_eq!(dec.decode(&mut &b"\n"[..])?, Some(b"LIST".to_vec()));
        Ok(())
    }

    #[test]
    fn stray_cr_is_bad_base64() {
        for line in [
            &b"TElT\rVA==\n"[..],
            b"\rTElTVA==\n",
            b"TElTVA==\r\r\n",
            b"\r\r\n",
        ] {
            assert!(matches!(one(line), Err(Error::BadBase64)), "{line:?}");
        }
    }

    #[test]
    fn non_canonical_base64_is_rejected() {
        for line in [
            &b"TElTVA\n"[..], // padding missing
            b"TElTVA=\n",     // padding short
            b"TElTVA===\n",   // padding long
            b"TElTVB==\n",    // non-zero trailing bits ("LIST" with the last 4 bits set)
            b"TElTVE=\n",     // ditto, wrong length
            b"TE=TVA==\n",    // padding in the middle
            b"TElT VA=\n",    // whitespace
            b"TElTVA-_\n",    // URL-safe alphabet
        ] {
            assert!(matches!(one(line), Err(Error::BadBase64)), "{line:?}");
        }
    }

    #[test]
    fn line_length_bound_is_exact() -> Result<()> {
        // max_block 6 → longest line is 8 base64 chars + CR + LF = 10 = max_line_len(6).
        assert_eq!(max_line_len(6), 10);
        let mut dec = BlockDecoder::with_max_block(6);
        assert_eq!(dec.max_block(), 6);
        assert_eq!(decode_all(&mut dec, b"QUJDREVG\r\n")?, [b"ABCDEF"]);

        // 11 bytes in one chunk: refused.
        let mut dec = BlockDecoder::with_max_block(6);
        assert!(matches!(
            dec.decode(&mut &b"QUJDREVG\r\r\n"[..]),
            Err(Error::LineTooLong { limit: 10 })
        ));

        // Arriving in pieces: 9 bytes without LF may still end well; 10 cannot.
        let mut dec = BlockDecoder::with_max_block(6);
        assert_eq!(dec.decode(&mut &b"QUJDREVG\r"[..])?, None);
        assert_eq!(dec.buffered(), 9);
        assert_eq!(dec.decode(&mut &b"\n"[..])?, Some(b"ABCDEF".to_vec()));

        let mut dec = BlockDecoder::with_max_block(6);
        assert_eq!(dec.decode(&mut &b"QUJDREVG"[..])?, None);
        assert!(matches!(
            dec.decode(&mut &b"AA"[..]),
            Err(Error::LineTooLong { limit: 10 })
        ));
        assert_eq!(dec.buffered(), 8, "never buffered past the bound");
        Ok(())
    }

    #[test]
    fn decoded_length_is_bounded() {
        // max_block 5 still allows 8-char lines, which can carry 6 bytes.
        let mut dec = BlockDecoder::with_max_block(5);
        assert!(matches!(
            dec.decode(&mut &b"QUJDREVG\n"[..]),
            Err(Error::TooLarge {
                what: "block",
                len: 6,
                limit: 5
            })
        ));
        let mut dec = BlockDecoder::with_max_block(5);
        assert!(matches!(dec.decode(&mut &b"QUJDREU=\n"[..]), Ok(Some(b)) if b == b"ABCDE"));
    }

    #[test]
    fn partial_line_at_eof_is_unterminated() -> Result<()> {
        let mut dec = BlockDecoder::new();
        let mut input = &b"TElTVA==\nTElT"[..];
        assert_eq!(dec.decode(&mut input)?, Some(b"LIST".to_vec()));
        assert_eq!(input, b"TElT");
        dec.finish()?;
        assert_eq!(dec.decode(&mut input)?, None);
        assert!(input.is_empty());
        assert_eq!(dec.buffered(), 4);
        assert!(matches!(
            dec.finish(),
            Err(Error::UnterminatedBlock { buffered: 4 })
        ));
        Ok(())
    }

    #[test]
    fn several_blocks_in_one_chunk() -> Result<()> {
        let mut stream = Vec::new();
        for payload in [&b"LIST"[..], b"", b"\x00\xff", b"hello world"] {
            encode_block_into(payload, &mut stream);
        }
        let mut dec = BlockDecoder::new();
        let mut input = &stream[..];
        assert_eq!(dec.decode(&mut input)?, Some(b"LIST".to_vec()));
        assert_eq!(input, &stream[9..], "only the first line was consumed");
        assert_eq!(
            decode_all(&mut dec, input)?,
            [&b""[..], b"\x00\xff", b"hello world"]
        );
        dec.finish()
    }

    #[test]
    fn empty_input_is_a_no_op() -> Result<()> {
        let mut dec = BlockDecoder::new();
        assert_eq!(dec.decode(&mut &b""[..])?, None);
        assert_eq!(dec.buffered(), 0);
        dec.finish()
    }

    #[test]
    fn decode_into_reuses_one_buffer() -> Result<()> {
        let mut stream = Vec::new();
        encode_block_into(&[7u8; 3000], &mut stream);
        encode_block_into(b"short", &mut stream);
        encode_block_into(b"", &mut stream);
        let mut dec = BlockDecoder::new();
        let mut input = &stream[..];
        let mut block = Vec::new();
        assert!(dec.decode_into(&mut input, &mut block)?);
        assert_eq!(block, [7u8; 3000]);
        let buffer = block.as_ptr();
        assert!(dec.decode_into(&mut input, &mut block)?);
        assert_eq!(block, b"short");
        assert!(dec.decode_into(&mut input, &mut block)?);
        assert_eq!(block, b"");
        assert_eq!(
            block.as_ptr(),
            buffer,
            "no new allocation for smaller blocks"
        );
        assert!(!dec.decode_into(&mut &b"TEl"[..], &mut block)?);
        Ok(())
    }

    proptest::proptest! {
        /// The SIMD encoder writes exactly what the `base64` crate's STANDARD engine writes.
        #[test]
        fn encoding_matches_the_reference(payload in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            use base64::Engine as _;
            let mut expected = base64::engine::general_purpose::STANDARD.encode(&payload).into_bytes();
            expected.push(LF);
            proptest::prop_assert_eq!(encode_block(&payload), expected);
        }

        /// The SIMD decoder accepts and refuses exactly what the strict `base64` STANDARD
        /// engine does (canonical padding, zero trailing bits, no whitespace): lines drawn
        /// mostly from the alphabet, with padding, CR, space and URL-safe characters mixed in.
        #[test]
        fn decoding_matches_the_reference(line in "[A-Za-z0-9+/=]{0,80}[-_ \r=A-D]{0,3}[A-Za-z0-9+/=]{0,4}") {
            use base64::Engine as _;
            let line = line.as_bytes();
            let expected = base64::engine::general_purpose::STANDARD
                .decode(line.strip_suffix(b"\r").unwrap_or(line))
                .ok();
            let mut block = vec![0xAA; 5];
            let got = decode_line(line, MAX_BLOCK_LEN, &mut block).ok().map(|()| block);
            proptest::prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn debug_shows_no_payload() -> Result<()> {
        let mut dec = BlockDecoder::with_max_block(30);
        dec.decode(&mut &b"c2VjcmV0"[..])?;
        assert_eq!(
            format!("{dec:?}"),
            "BlockDecoder { buffered: 8, max_block: 30 }"
        );
        Ok(())
    }
}
