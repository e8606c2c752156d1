//! TQDataStream encodings of containers: `TQValueList<T>` and `TQStringList`, bounded by
//! [`MAX_LIST_LEN`] and by the bytes that remain; and references, so generic code can encode
//! through them.

use super::{len_usize, Decode, Encode, Reader, Writer};
use crate::error::{Error, Result};
use crate::limits::MAX_LIST_LEN;

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
    use crate::datastream::test_vectors::*;

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
}
