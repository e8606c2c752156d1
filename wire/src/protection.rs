//! The boundary between framing and the security mechanism.
//!
//! After authentication every block is a sealed message. [`Protection`] is the one seam
//! between the codec and GSSAPI: production code implements it with an established Kerberos
//! context ([`crate::gss::Established`]); unit tests of the codec and the async edge implement
//! it with a test-only cipher, so message handling is testable without a KDC. Nothing here
//! offers an unprotected mode: there is no plaintext `Protection` outside `cfg(test)`.

use crate::block::encode_block_into;
use crate::datastream::{from_bytes, to_bytes, Decode, Encode};
use crate::limits::MAX_MESSAGE_LEN;
use crate::{Error, Result};

/// Seals outgoing and opens incoming messages of one authenticated session.
///
/// Implementations keep per-direction sequence state (GSSAPI REPLAY and SEQUENCE), so a
/// failed [`open`](Protection::open) means the session can no longer be trusted: callers end
/// the session on any error.
pub trait Protection: Send {
    /// Encrypts and integrity-protects one message for the peer.
    fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>>;
    /// Checks and decrypts one message from the peer.
    fn open(&mut self, sealed: &[u8]) -> Result<Vec<u8>>;

    /// Seals `plaintext` and appends the sealed message to `out`, so a caller that reuses
    /// `out` allocates nothing per message when the implementation can wrap in place. The
    /// default calls [`seal`](Protection::seal) and copies; implementations that can write
    /// into `out` directly (the Rust RFC 4121 fast path) override it. On error `out` may hold
    /// a partial message: the session is over anyway.
    fn seal_into(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<()> {
        out.extend_from_slice(&self.seal(plaintext)?);
        Ok(())
    }

    /// Opens `sealed` and appends the plaintext to `out`; the in-place counterpart of
    /// [`open`](Protection::open), with the same default and the same error rule.
    fn open_into(&mut self, sealed: &[u8], out: &mut Vec<u8>) -> Result<()> {
        out.extend_from_slice(&self.open(sealed)?);
        Ok(())
    }
}

impl<P: Protection + ?Sized> Protection for Box<P> {
    fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>> {
        (**self).seal(plaintext)
    }
    fn open(&mut self, sealed: &[u8]) -> Result<Vec<u8>> {
        (**self).open(sealed)
    }
    // Forwarded, so a boxed context keeps its own in-place implementation.
    fn seal_into(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<()> {
        (**self).seal_into(plaintext, out)
    }
    fn open_into(&mut self, sealed: &[u8], out: &mut Vec<u8>) -> Result<()> {
        (**self).open_into(sealed, out)
    }
}

/// Seals `plaintext` and appends it to `out` as one block line.
///
/// Refuses plaintext over [`MAX_MESSAGE_LEN`] so the sealed block stays within what every
/// peer's decoder accepts.
pub fn seal_block<P: Protection + ?Sized>(
    protection: &mut P,
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<()> {
    seal_block_with(protection, plaintext, &mut Vec::new(), out)
}

/// [`seal_block`] with a caller-owned `scratch` buffer for the sealed message (cleared
/// first), so a sender that keeps both buffers seals and frames a block without allocating.
/// `scratch` holds at most one sealed message (≤ [`crate::limits::MAX_BLOCK_LEN`]).
pub fn seal_block_with<P: Protection + ?Sized>(
    protection: &mut P,
    plaintext: &[u8],
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Result<()> {
    if plaintext.len() > MAX_MESSAGE_LEN {
        return Err(Error::TooLarge {
            what: "message",
            len: plaintext.len() as u64,
            limit: MAX_MESSAGE_LEN as u64,
        });
    }
    scratch.clear();
    protection.seal_into(plaintext, scratch)?;
    encode_block_into(scratch, out);
    Ok(())
}

/// Serializes `message` with TQDataStream, seals it and appends the block line to `out`.
pub fn seal_message<P, T>(protection: &mut P, message: &T, out: &mut Vec<u8>) -> Result<()>
where
    P: Protection + ?Sized,
    T: Encode + ?Sized,
{
    seal_block(protection, &to_bytes(message), out)
}

/// Opens one decoded block and parses it as exactly one `T`.
pub fn open_message<P, T>(protection: &mut P, block: &[u8]) -> Result<T>
where
    P: Protection + ?Sized,
    T: Decode,
{
    from_bytes(&protection.open(block)?)
}

#[cfg(test)]
pub(crate) mod testing {
    //! A test-only stand-in for a GSSAPI context: XOR "encryption" plus a sequence number, so
    //! codec tests see reordering and tampering fail like they would with Kerberos. Never
    //! compiled outside `cfg(test)`.

    use super::Protection;
    use crate::{Error, Result};

    /// One direction pair of the test cipher; build two with [`pair`].
    pub(crate) struct TestOnlyXorProtection {
        key: u8,
        send_seq: u32,
        recv_seq: u32,
    }

    /// Two ends of a session that understand each other.
    pub(crate) fn pair() -> (TestOnlyXorProtection, TestOnlyXorProtection) {
        let end = || TestOnlyXorProtection {
            key: 0x5a,
            send_seq: 0,
            recv_seq: 0,
        };
        (end(), end())
    }

    fn gss_like(message: &'static str) -> Error {
        Error::Gss {
            operation: "unwrap",
            message: message.into(),
        }
    }

    impl Protection for TestOnlyXorProtection {
        fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>> {
            let mut out = self.send_seq.to_be_bytes().to_vec();
            out.extend(plaintext.iter().map(|b| b ^ self.key));
            self.send_seq += 1;
            Ok(out)
        }
        fn open(&mut self, sealed: &[u8]) -> Result<Vec<u8>> {
            let (seq, body) = sealed.split_at_checked(4).ok_or(gss_like("short token"))?;
            let seq = u32::from_be_bytes([seq[0], seq[1], seq[2], seq[3]]);
            if seq != self.recv_seq {
                return Err(gss_like("out of sequence"));
            }
            self.recv_seq += 1;
            Ok(body.iter().map(|b| b ^ self.key).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::BlockDecoder;
    use crate::command::{Command, Reply};

    #[test]
    fn a_sealed_command_arrives_as_the_same_command() {
        let (mut client, mut master) = testing::pair();
        let mut line = Vec::new();
        seal_message(&mut client, &Command::List, &mut line).ok();
        assert_eq!(line.last(), Some(&b'\n'));
        let block = BlockDecoder::new()
            .decode(&mut line.as_slice())
            .ok()
            .flatten();
        let block = block.unwrap_or_default();
        assert_eq!(
            open_message::<_, Command>(&mut master, &block).ok(),
            Some(Command::List)
        );
    }

    #[test]
    fn a_replayed_block_is_refused() {
        let (mut master, mut client) = testing::pair();
        let sealed = master.seal(&to_bytes(&Reply::Ok)).unwrap_or_default();
        assert!(open_message::<_, Reply>(&mut client, &sealed).is_ok());
        assert!(matches!(
            open_message::<_, Reply>(&mut client, &sealed),
            Err(Error::Gss { .. })
        ));
    }

    #[test]
    fn the_in_place_defaults_append_what_seal_and_open_return() -> Result<()> {
        let (mut a, mut b) = testing::pair();
        let (mut a2, b2) = testing::pair();
        let mut sealed = b"kept".to_vec();
        a.seal_into(b"hello", &mut sealed)?;
        assert_eq!(&sealed[..4], b"kept");
        assert_eq!(sealed[4..], a2.seal(b"hello")?);
        let mut opened = b"kept".to_vec();
        b.open_into(&sealed[4..], &mut opened)?;
        assert_eq!(opened, b"kepthello");
        // Through a box, as the daemons hold their contexts.
        let mut boxed: Box<dyn Protection> = Box::new(b2);
        let mut again = Vec::new();
        boxed.open_into(&sealed[4..], &mut again)?;
        assert_eq!(again, b"hello");
        assert!(
            boxed.open_into(&sealed[4..], &mut again).is_err(),
            "a replay"
        );
        Ok(())
    }

    #[test]
    fn seal_block_with_reuses_its_scratch_and_appends_lines() -> Result<()> {
        let (mut a, mut b) = testing::pair();
        let (mut scratch, mut out) = (b"stale".to_vec(), Vec::new());
        seal_block_with(&mut a, b"one", &mut scratch, &mut out)?;
        seal_block_with(&mut a, b"two", &mut scratch, &mut out)?;
        let mut dec = BlockDecoder::new();
        let mut input = out.as_slice();
        for expected in [&b"one"[..], b"two"] {
            let block = dec.decode(&mut input)?.unwrap_or_default();
            assert_eq!(b.open(&block)?, expected);
        }
        assert!(input.is_empty());
        Ok(())
    }

    #[test]
    fn oversized_plaintext_is_refused_before_sealing() {
        let (mut client, _) = testing::pair();
        let mut out = Vec::new();
        let big = vec![0u8; MAX_MESSAGE_LEN + 1];
        assert!(matches!(
            seal_block(&mut client, &big, &mut out),
            Err(Error::TooLarge { .. })
        ));
        assert!(out.is_empty());
    }
}
