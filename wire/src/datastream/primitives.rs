//! TQDataStream encodings of single values: integers, `bool`, `TQString` (null or not),
//! `TQByteArray` and `TQCString`.

use super::{len_usize, Decode, Encode, Reader, Writer, NULL_STRING};
use crate::error::{Error, Result};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datastream::test_vectors::*;

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
}
