//! TQDataStream binary encoding, exactly as TQt3 (Qt 3.3) writes it in its default big-endian,
//! non-printable mode.
//!
//! The master relay and the burner stations were written against TQt3's `TQDataStream`, so every
//! message body is a sequence of values in that format. This module is the format's Rust side:
//! [`Encode`] appends a value to a [`Writer`], [`Decode`] reads one from a bounds-checked
//! [`Reader`]. Decoding never panics and never allocates more than the bytes that remain in the
//! message justify: every length is checked against [`Reader::remaining`] *before* anything is
//! allocated, so a peer that claims a 4 GiB string costs us nothing.
//!
//! | Rust               | TQt                              | Encoding                                   |
//! |--------------------|----------------------------------|--------------------------------------------|
//! | `u8`, `i8`         | `TQ_UINT8`, `TQ_INT8`            | 1 byte                                     |
//! | `u16`, `i16`       | `TQ_UINT16`, `TQ_INT16`          | 2 bytes big-endian                         |
//! | `u32`, `i32`       | `TQ_UINT32`, `TQ_INT32`          | 4 bytes big-endian                         |
//! | `u64`, `i64`       | `TQ_UINT64`, `TQ_INT64`          | 8 bytes big-endian                         |
//! | `bool`             | `(TQ_INT8)b`                     | 1 byte, 0 or 1 (anything else is rejected) |
//! | `String`, `str`    | `TQString` (not null)            | u32 byte count, UTF-16BE; null is rejected |
//! | [`NullableString`] | `TQString`                       | as above; null = `ffffffff`                |
//! | [`ByteArray`]      | `TQByteArray`                    | u32 size, bytes                            |
//! | [`CString`]        | `TQCString`                      | u32 size including the NUL, bytes, NUL     |
//! | `Vec<T>`, `[T]`    | `TQValueList<T>`, `TQStringList` | u32 count, items                           |
//!
//! `docs/protocol.md` §2 has the same table with hex examples.
//!
//! The stream itself ([`Reader`], [`Writer`], the [`Encode`]/[`Decode`] traits) is here; the
//! encodings of single values are in `primitives.rs`, those of lists in `containers.rs`.

mod containers;
mod primitives;

pub use primitives::{ByteArray, CString, NullableString};

use crate::error::{Error, Result};

/// The TQString length that marks a null string (`TQString::null`).
const NULL_STRING: u32 = 0xFFFF_FFFF;

/// What a length prefix saturates to if a value ever exceeded `u32::MAX` bytes. Even, so it can
/// never be read as [`NULL_STRING`]; see [`Writer::put_len`].
const SATURATED_LEN: u32 = 0xFFFF_FFFE;

/// A bounds-checked cursor over one message, in the style of rustls' `Reader`.
///
/// Every read either returns a value or an error naming exactly how many bytes were missing; it
/// never reads past the end and never panics.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader positioned at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Consumes the next `n` bytes, or fails with [`Error::Truncated`] without consuming anything.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.rest.len() {
            return Err(Error::Truncated {
                need: n,
                have: self.rest.len(),
            });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// Consumes the next `N` bytes as an array (the fixed-size integers are built from this).
    pub fn take_array<const N: usize>(&mut self) -> Result<[u8; N]> {
        match self.rest.split_first_chunk::<N>() {
            Some((head, tail)) => {
                self.rest = tail;
                Ok(*head)
            }
            None => Err(Error::Truncated {
                need: N,
                have: self.rest.len(),
            }),
        }
    }

    /// Decodes the next value.
    pub fn read<T: Decode>(&mut self) -> Result<T> {
        T::decode(self)
    }

    /// Ends the message: a message must be consumed exactly, so leftovers are
    /// [`Error::TrailingData`] (a peer that appends bytes is either broken or probing).
    pub fn finish(self) -> Result<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(Error::TrailingData {
                extra: self.rest.len(),
            })
        }
    }
}

/// Builds one message by appending encoded values to a `Vec<u8>`.
///
/// Encoding is infallible. Length prefixes are 32-bit, as in TQt3; a value longer than
/// `u32::MAX` bytes cannot be represented, but no such value can ever be sent either: a message
/// must fit one block ([`MAX_MESSAGE_LEN`](crate::limits::MAX_MESSAGE_LEN) ≈ 1 MiB, more than
/// 4000 times smaller). If that rule is broken anyway, debug builds assert and release builds
/// write the length `0xFFFFFFFE` followed by the full data: a line too long for any peer to
/// accept, rather than a silently truncated message that would parse as something else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty message.
    pub fn new() -> Self {
        Writer { buf: Vec::new() }
    }

    /// An empty message with room for `n` bytes.
    pub fn with_capacity(n: usize) -> Self {
        Writer {
            buf: Vec::with_capacity(n),
        }
    }

    /// Appends `v`; returns `self` so writes chain: `w.write(&cmd).write(&path)`.
    pub fn write<T: Encode + ?Sized>(&mut self, v: &T) -> &mut Self {
        v.encode(self);
        self
    }

    /// Appends raw bytes with no length prefix (TQt's `writeRawBytes`).
    pub fn put_bytes(&mut self, raw: &[u8]) {
        self.buf.extend_from_slice(raw);
    }

    /// Appends a 32-bit length prefix.
    ///
    /// A length above `u32::MAX` is a programmer error (see [`Writer`]) and saturates to
    /// `0xFFFFFFFE` — not `u32::MAX`, which would read as a null TQString.
    fn put_len(&mut self, len: usize) {
        debug_assert!(
            u32::try_from(len).is_ok(),
            "TQDataStream length {len} exceeds u32::MAX; messages are bounded by MAX_MESSAGE_LEN"
        );
        let len = u32::try_from(len).unwrap_or(SATURATED_LEN);
        self.put_bytes(&len.to_be_bytes());
    }

    /// Bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The finished message.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Length of the message so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// A value that can be written to a TQDataStream.
pub trait Encode {
    /// Appends the TQDataStream encoding of `self` to `w`.
    fn encode(&self, w: &mut Writer);
}

/// A value that can be read from a TQDataStream.
pub trait Decode: Sized {
    /// Fewest bytes any encoding of `Self` occupies (used to bound list counts before allocating).
    ///
    /// Must never overstate, or valid lists would be rejected as truncated.
    const MIN_LEN: usize;

    /// Reads one value from the front of `r`.
    fn decode(r: &mut Reader<'_>) -> Result<Self>;
}

/// Encodes one value as a whole message.
pub fn to_bytes<T: Encode + ?Sized>(v: &T) -> Vec<u8> {
    let mut w = Writer::new();
    w.write(v);
    w.into_bytes()
}

/// Decodes one value that must fill the whole message; trailing bytes are
/// [`Error::TrailingData`].
pub fn from_bytes<T: Decode>(bytes: &[u8]) -> Result<T> {
    let mut r = Reader::new(bytes);
    let v = r.read()?;
    r.finish()?;
    Ok(v)
}

/// A length prefix as a `usize`. On a target where it does not fit, `usize::MAX` can never be
/// satisfied by the remaining bytes, so the following [`Reader::take`] reports `Truncated`.
fn len_usize(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Test vectors in hex, shared by the submodules' tests.
#[cfg(test)]
mod test_vectors {
    use super::{from_bytes, to_bytes, Decode, Encode};
    use crate::error::Result;

    pub(super) fn hex<T: Encode + ?Sized>(v: &T) -> String {
        hex::encode(to_bytes(v))
    }

    pub(super) fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap_or_else(|e| panic!("bad test vector {s:?}: {e}"))
    }

    pub(super) fn decode_hex<T: Decode>(s: &str) -> Result<T> {
        from_bytes(&unhex(s))
    }

    pub(super) fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::test_vectors::*;
    use super::*;

    #[test]
    fn truncated_in_the_middle_of_a_u32() {
        assert!(matches!(
            decode_hex::<u32>("123456"),
            Err(Error::Truncated { need: 4, have: 3 })
        ));
        assert!(matches!(
            decode_hex::<u64>(""),
            Err(Error::Truncated { need: 8, have: 0 })
        ));
        assert!(matches!(
            decode_hex::<String>("0000"),
            Err(Error::Truncated { need: 4, have: 2 })
        ));
    }

    #[test]
    fn trailing_data() {
        assert!(matches!(
            decode_hex::<u16>("123456"),
            Err(Error::TrailingData { extra: 1 })
        ));
        assert!(matches!(
            decode_hex::<String>("00000000ffff"),
            Err(Error::TrailingData { extra: 2 })
        ));
    }

    #[test]
    fn reader_and_writer_sequence() -> Result<()> {
        let mut w = Writer::with_capacity(32);
        assert!(w.is_empty());
        w.write(&7u32)
            .write("ab")
            .write(&true)
            .write(&&NullableString(None));
        w.put_bytes(&[0xAA]);
        assert_eq!(w.len(), 4 + 8 + 1 + 4 + 1);
        let bytes = w.into_bytes();

        let mut r = Reader::new(&bytes);
        assert_eq!(r.read::<u32>()?, 7);
        assert_eq!(r.read::<String>()?, "ab");
        assert!(r.read::<bool>()?);
        assert_eq!(r.read::<NullableString>()?, NullableString(None));
        assert_eq!(r.remaining(), 1);
        assert!(matches!(
            r.take(2),
            Err(Error::Truncated { need: 2, have: 1 })
        ));
        assert_eq!(r.take(1)?, [0xAA]);
        r.finish()
    }
}
