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

use crate::error::{Error, Result};
use crate::limits::MAX_LIST_LEN;

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

// --- integers -------------------------------------------------------------------------------

macro_rules! integer {
    ($($ty:ty => $qt:literal, $n:literal;)*) => {$(
        const _: () = assert!(std::mem::size_of::<$ty>() == $n);

        #[doc = concat!("`", $qt, "`: ", $n, " byte(s), big-endian.")]
        impl Encode for $ty {
            fn encode(&self, w: &mut Writer) {
                w.put_bytes(&self.to_be_bytes());
            }
        }

        #[doc = concat!("`", $qt, "`: ", $n, " byte(s), big-endian.")]
        impl Decode for $ty {
            const MIN_LEN: usize = $n;
            fn decode(r: &mut Reader<'_>) -> Result<Self> {
                Ok(<$ty>::from_be_bytes(r.take_array()?))
            }
        }
    )*};
}

integer! {
    u8 => "TQ_UINT8", 1;
    i8 => "TQ_INT8", 1;
    u16 => "TQ_UINT16", 2;
    i16 => "TQ_INT16", 2;
    u32 => "TQ_UINT32", 4;
    i32 => "TQ_INT32", 4;
    u64 => "TQ_UINT64", 8;
    i64 => "TQ_INT64", 8;
}

// --- bool -----------------------------------------------------------------------------------

/// One byte, `01` for true and `00` for false. TQt3 has no `bool` operator; a TQt peer writes
/// `(TQ_INT8)b`, which is exactly this.
impl Encode for bool {
    fn encode(&self, w: &mut Writer) {
        w.put_bytes(&[u8::from(*self)]);
    }
}

/// One byte: `00` is false, `01` is true, and any other byte is [`Error::InvalidValue`].
///
/// Strict on purpose: a TQt peer reading a `TQ_INT8` and testing it would take `02` as true, but
/// no correct peer writes it, so accepting it would only widen the set of messages that mean the
/// same thing.
impl Decode for bool {
    const MIN_LEN: usize = 1;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        match r.read::<u8>()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(Error::InvalidValue {
                what: "bool",
                value: other.into(),
            }),
        }
    }
}

// --- TQString -------------------------------------------------------------------------------

/// `TQString`, never null: u32 byte count (2 × UTF-16 code units), then UTF-16BE. The empty
/// string is `00000000`; characters outside the BMP are surrogate pairs.
impl Encode for str {
    fn encode(&self, w: &mut Writer) {
        let units = self.encode_utf16().count();
        let bytes = units.saturating_mul(2);
        w.buf.reserve(bytes.saturating_add(4));
        w.put_len(bytes);
        for unit in self.encode_utf16() {
            w.put_bytes(&unit.to_be_bytes());
        }
    }
}

/// `TQString`, never null: see the `str` impl.
impl Encode for String {
    fn encode(&self, w: &mut Writer) {
        self.as_str().encode(w);
    }
}

/// `TQString` where the protocol needs a value: the null string (`ffffffff`) is
/// [`Error::NullString`]; use [`NullableString`] where null is meaningful.
impl Decode for String {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        decode_qstring(r)?.ok_or(Error::NullString)
    }
}

/// Reads a TQString; `None` is the null string.
///
/// The checks run in this order: null marker, odd count ([`Error::OddStringLength`]), count
/// beyond the message ([`Error::Truncated`], before allocating), then unpaired surrogates
/// ([`Error::BadUtf16`]; TQt would keep them, Rust strings cannot).
fn decode_qstring(r: &mut Reader<'_>) -> Result<Option<String>> {
    let len = r.read::<u32>()?;
    if len == NULL_STRING {
        return Ok(None);
    }
    if len % 2 != 0 {
        return Err(Error::OddStringLength { len });
    }
    let bytes = r.take(len_usize(len))?;
    let units = bytes
        .chunks_exact(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
    let mut s = String::with_capacity(bytes.len() / 2);
    for c in char::decode_utf16(units) {
        s.push(c.map_err(|_| Error::BadUtf16)?);
    }
    Ok(Some(s))
}

/// A `TQString` that may be null: `None` is `TQString::null` (`ffffffff`), `Some("")` is the
/// empty string (`00000000`). TQt distinguishes the two, so this type does too.
///
/// Use it for every field a TQt peer may leave unset: TQt3 writes the null marker for any
/// string whose buffer was never allocated, including some empty strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct NullableString(pub Option<String>);

impl From<Option<String>> for NullableString {
    fn from(s: Option<String>) -> Self {
        NullableString(s)
    }
}

impl From<String> for NullableString {
    fn from(s: String) -> Self {
        NullableString(Some(s))
    }
}

/// `TQString`: `ffffffff` for `None`, otherwise as `str`.
impl Encode for NullableString {
    fn encode(&self, w: &mut Writer) {
        match &self.0 {
            None => w.put_bytes(&NULL_STRING.to_be_bytes()),
            Some(s) => s.encode(w),
        }
    }
}

/// `TQString`: `ffffffff` is `None`; everything else decodes as `String` does.
impl Decode for NullableString {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        decode_qstring(r).map(NullableString)
    }
}

// --- TQByteArray ----------------------------------------------------------------------------

/// A `TQByteArray`: raw bytes (checksums, GSSAPI tokens, file chunks).
///
/// Encoded as u32 size then the bytes. TQt3 has no null marker for byte arrays: a null array
/// is written as size 0, so null and empty are the same thing on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ByteArray(pub Vec<u8>);

impl From<Vec<u8>> for ByteArray {
    fn from(bytes: Vec<u8>) -> Self {
        ByteArray(bytes)
    }
}

/// `TQByteArray`: u32 size, bytes.
impl Encode for ByteArray {
    fn encode(&self, w: &mut Writer) {
        w.buf.reserve(self.0.len().saturating_add(4));
        w.put_len(self.0.len());
        w.put_bytes(&self.0);
    }
}

/// `TQByteArray`: u32 size (checked against the message before allocating), bytes.
impl Decode for ByteArray {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let len = r.read::<u32>()?;
        Ok(ByteArray(r.take(len_usize(len))?.to_vec()))
    }
}

// --- TQCString ------------------------------------------------------------------------------

/// A `TQCString`: bytes with no interior NUL (not necessarily UTF-8; TQt3 uses it for Latin-1
/// and locale-encoded text). Not to be confused with `std::ffi::CString`.
///
/// The field is private so a value with an interior NUL cannot exist: [`CString::new`] rejects
/// it, because TQt would cut the string at the first NUL and the two ends would disagree.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct CString(Vec<u8>);

impl CString {
    /// Wraps `bytes` (without a terminator); an interior NUL is [`Error::BadCString`].
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self> {
        let bytes = bytes.into();
        if bytes.contains(&0) {
            return Err(Error::BadCString);
        }
        Ok(CString(bytes))
    }

    /// The bytes, without the terminating NUL.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes, without the terminating NUL.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

/// `TQCString`: u32 size *including* the terminating NUL, the bytes, then `00`. The empty string
/// is `00000001 00`, as TQt3 writes `""`.
impl Encode for CString {
    fn encode(&self, w: &mut Writer) {
        let size = self.0.len().saturating_add(1);
        w.buf.reserve(size.saturating_add(4));
        w.put_len(size);
        w.put_bytes(&self.0);
        w.put_bytes(&[0]);
    }
}

/// `TQCString`: size 0 (TQt's null string) decodes as empty, so null and empty collapse — TQt3
/// itself reads both back as an empty string. Otherwise the last byte must be the only NUL, or
/// the value is [`Error::BadCString`].
impl Decode for CString {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let len = r.read::<u32>()?;
        if len == 0 {
            return Ok(CString(Vec::new()));
        }
        match r.take(len_usize(len))?.split_last() {
            Some((0, body)) if !body.contains(&0) => Ok(CString(body.to_vec())),
            _ => Err(Error::BadCString),
        }
    }
}

// --- TQValueList / TQStringList -------------------------------------------------------------

/// `TQValueList<T>` (and `TQStringList` for `T = String`): u32 count, then the items.
impl<T: Encode> Encode for [T] {
    fn encode(&self, w: &mut Writer) {
        w.put_len(self.len());
        for item in self {
            item.encode(w);
        }
    }
}

/// `TQValueList<T>`: see the `[T]` impl.
impl<T: Encode> Encode for Vec<T> {
    fn encode(&self, w: &mut Writer) {
        self.as_slice().encode(w);
    }
}

/// `TQValueList<T>`: a count above [`MAX_LIST_LEN`] is [`Error::TooLarge`]; a count whose items
/// could not fit the remaining bytes even at `T::MIN_LEN` each is [`Error::Truncated`]. Both are
/// checked before the `Vec` is allocated, so its capacity is bounded by the message itself.
impl<T: Decode> Decode for Vec<T> {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let count = r.read::<u32>()?;
        if count > MAX_LIST_LEN {
            return Err(Error::TooLarge {
                what: "list length",
                len: count.into(),
                limit: MAX_LIST_LEN.into(),
            });
        }
        let count = len_usize(count);
        let need = count.saturating_mul(T::MIN_LEN);
        if need > r.remaining() {
            return Err(Error::Truncated {
                need,
                have: r.remaining(),
            });
        }
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(r.read()?);
        }
        Ok(items)
    }
}

/// Encodes the referenced value, so `w.write(&&x)` and generic code over references work.
impl<T: Encode + ?Sized> Encode for &T {
    fn encode(&self, w: &mut Writer) {
        (**self).encode(w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex<T: Encode + ?Sized>(v: &T) -> String {
        hex::encode(to_bytes(v))
    }

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap_or_else(|e| panic!("bad test vector {s:?}: {e}"))
    }

    fn decode_hex<T: Decode>(s: &str) -> Result<T> {
        from_bytes(&unhex(s))
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn integer_vectors() -> Result<()> {
        assert_eq!(hex(&0xABu8), "ab");
        assert_eq!(hex(&-1i8), "ff");
        assert_eq!(hex(&0x1234u16), "1234");
        assert_eq!(hex(&-2i16), "fffe");
        assert_eq!(hex(&0x1234_5678u32), "12345678");
        assert_eq!(hex(&-2i32), "fffffffe");
        assert_eq!(hex(&0x0000_0001_0000_0002u64), "0000000100000002");
        assert_eq!(hex(&i64::MIN), "8000000000000000");

        assert_eq!(decode_hex::<u8>("ab")?, 0xAB);
        assert_eq!(decode_hex::<i8>("ff")?, -1);
        assert_eq!(decode_hex::<u16>("1234")?, 0x1234);
        assert_eq!(decode_hex::<i16>("fffe")?, -2);
        assert_eq!(decode_hex::<u32>("12345678")?, 0x1234_5678);
        assert_eq!(decode_hex::<i32>("fffffffe")?, -2);
        // A 4.7 GB DVD image: needs the upper word.
        assert_eq!(decode_hex::<u64>("0000000118000000")?, 4_697_620_480);
        assert_eq!(decode_hex::<i64>("8000000000000000")?, i64::MIN);
        Ok(())
    }

    #[test]
    fn bool_vectors() -> Result<()> {
        assert_eq!(hex(&true), "01");
        assert_eq!(hex(&false), "00");
        assert!(decode_hex::<bool>("01")?);
        assert!(!decode_hex::<bool>("00")?);
        Ok(())
    }

    #[test]
    fn bool_other_byte_is_invalid() {
        assert!(matches!(
            decode_hex::<bool>("02"),
            Err(Error::InvalidValue {
                what: "bool",
                value: 2
            })
        ));
        assert!(matches!(
            decode_hex::<bool>("ff"),
            Err(Error::InvalidValue {
                what: "bool",
                value: 0xFF
            })
        ));
    }

    #[test]
    fn qstring_vectors() -> Result<()> {
        assert_eq!(hex("LIST"), "00000008004c004900530054");
        assert_eq!(hex(&"LIST".to_string()), "00000008004c004900530054");
        assert_eq!(hex(""), "00000000");
        assert_eq!(hex("é"), "0000000200e9");
        // U+1F4BF OPTICAL DISC: a surrogate pair, 2 code units = 4 bytes.
        assert_eq!(hex("💿"), "00000004d83ddcbf");

        assert_eq!(decode_hex::<String>("00000008004c004900530054")?, "LIST");
        assert_eq!(decode_hex::<String>("00000000")?, "");
        assert_eq!(decode_hex::<String>("00000004d83ddcbf")?, "💿");
        Ok(())
    }

    #[test]
    fn null_and_empty_qstring_are_distinct() -> Result<()> {
        assert_eq!(hex(&NullableString(None)), "ffffffff");
        assert_eq!(hex(&NullableString(Some(String::new()))), "00000000");
        assert_eq!(
            hex(&NullableString::from("LIST".to_string())),
            "00000008004c004900530054"
        );
        assert_eq!(
            decode_hex::<NullableString>("ffffffff")?,
            NullableString(None)
        );
        assert_eq!(
            decode_hex::<NullableString>("00000000")?,
            NullableString(Some(String::new()))
        );
        assert!(matches!(
            decode_hex::<String>("ffffffff"),
            Err(Error::NullString)
        ));
        Ok(())
    }

    #[test]
    fn qstring_odd_length() {
        assert!(matches!(
            decode_hex::<String>("00000003004c00"),
            Err(Error::OddStringLength { len: 3 })
        ));
        assert!(matches!(
            decode_hex::<NullableString>("00000001ff"),
            Err(Error::OddStringLength { len: 1 })
        ));
    }

    #[test]
    fn qstring_lone_surrogates_are_bad_utf16() {
        // A high surrogate with nothing after it, a low surrogate alone, and a high surrogate
        // followed by an ordinary character.
        for v in ["00000002d83d", "00000002dcbf", "00000004d83d0041"] {
            assert!(
                matches!(decode_hex::<String>(v), Err(Error::BadUtf16)),
                "{v}"
            );
        }
    }

    #[test]
    fn huge_length_claims_are_truncated_before_allocating() {
        // If these allocated the claimed size first, the test would abort on a 4 GiB request.
        assert!(matches!(
            decode_hex::<String>("fffffffe0041"),
            Err(Error::Truncated {
                need: 0xFFFF_FFFE,
                have: 2
            })
        ));
        assert!(matches!(
            decode_hex::<ByteArray>("ffffffff00"),
            Err(Error::Truncated {
                need: 0xFFFF_FFFF,
                have: 1
            })
        ));
        assert!(matches!(
            decode_hex::<CString>("fffffff0"),
            Err(Error::Truncated {
                need: 0xFFFF_FFF0,
                have: 0
            })
        ));
    }

    #[test]
    fn bytearray_vectors() -> Result<()> {
        assert_eq!(
            hex(&ByteArray(vec![0xDE, 0xAD, 0xBE, 0xEF])),
            "00000004deadbeef"
        );
        assert_eq!(hex(&ByteArray::default()), "00000000");
        assert_eq!(
            decode_hex::<ByteArray>("00000004deadbeef")?.0,
            [0xDE, 0xAD, 0xBE, 0xEF]
        );
        assert_eq!(decode_hex::<ByteArray>("00000000")?, ByteArray::default());
        Ok(())
    }

    #[test]
    fn cstring_vectors() -> Result<()> {
        assert_eq!(hex(&CString::new("abc")?), "0000000461626300");
        assert_eq!(hex(&CString::default()), "0000000100");
        assert_eq!(
            decode_hex::<CString>("0000000461626300")?.as_bytes(),
            b"abc"
        );
        assert_eq!(decode_hex::<CString>("0000000100")?, CString::default());
        // TQt's null TQCString: collapses to empty.
        assert_eq!(decode_hex::<CString>("00000000")?, CString::default());
        Ok(())
    }

    #[test]
    fn cstring_rejects_misplaced_nuls() {
        assert!(matches!(CString::new(*b"a\0b"), Err(Error::BadCString)));
        // No terminator; a NUL inside; two NULs at the end; only a NUL after a NUL.
        for v in [
            "00000003616263",
            "0000000461006300",
            "00000003610000",
            "000000020000",
        ] {
            assert!(
                matches!(decode_hex::<CString>(v), Err(Error::BadCString)),
                "{v}"
            );
        }
    }

    #[test]
    fn list_vectors() -> Result<()> {
        assert_eq!(hex(&vec![1u32, 0x0203_0405]), "000000020000000102030405");
        assert_eq!(hex(&Vec::<u32>::new()), "00000000");
        assert_eq!(hex(&[7u16][..]), "000000010007");
        let list = strings(&["ab", ""]);
        assert_eq!(
            hex(&list),
            "00000002" /* count */
                .to_owned()
                + "0000000400610062"
                + "00000000"
        );

        assert_eq!(
            decode_hex::<Vec<u32>>("000000020000000102030405")?,
            [1, 0x0203_0405]
        );
        assert_eq!(
            decode_hex::<Vec<String>>("00000002000000040061006200000000")?,
            list
        );
        Ok(())
    }

    #[test]
    fn list_count_limits() {
        assert!(matches!(
            decode_hex::<Vec<u32>>("fffffffe"),
            Err(Error::TooLarge { what: "list length", len: 0xFFFF_FFFE, limit }) if limit == u64::from(MAX_LIST_LEN)
        ));
        // Within the cap, but 1000 u32s cannot fit in 4 bytes: refused before allocating.
        assert!(matches!(
            decode_hex::<Vec<u32>>("000003e800000001"),
            Err(Error::Truncated {
                need: 4000,
                have: 4
            })
        ));
        // An item truncated half way through is still reported precisely.
        assert!(matches!(
            decode_hex::<Vec<u32>>("00000001000000"),
            Err(Error::Truncated { need: 4, have: 3 })
        ));
    }

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
