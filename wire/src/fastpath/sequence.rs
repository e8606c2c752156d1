//! Strict per-direction sequence numbers.
//!
//! The relay's byte streams are ordered and lossless (TCP), so anything but the exact next
//! number is an attack or a bug: no replay window, no tolerance for gaps. `None` means the
//! direction used up all 2^64 numbers; a session never gets there, but wrapping around to 0
//! would allow replays, so it is refused instead.

use crate::{Error, Result};

/// Next number to send and next number expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sequence {
    send: Option<u64>,
    recv: Option<u64>,
}

impl Sequence {
    pub(crate) fn new(send: u64, recv: u64) -> Sequence {
        Sequence {
            send: Some(send),
            recv: Some(recv),
        }
    }

    pub(crate) fn next_send(&self) -> Option<u64> {
        self.send
    }

    pub(crate) fn next_recv(&self) -> Option<u64> {
        self.recv
    }

    /// One token went out with [`next_send`](Self::next_send).
    pub(crate) fn sent(&mut self) {
        self.send = self.send.and_then(|s| s.checked_add(1));
    }

    /// Whether `seq` is exactly the next expected number; does not advance.
    pub(crate) fn check_recv(&self, seq: u64) -> Result<()> {
        let expected = self.recv.ok_or(Error::SequenceExhausted)?;
        match seq.cmp(&expected) {
            std::cmp::Ordering::Equal => Ok(()),
            std::cmp::Ordering::Less => Err(Error::ReplayedToken { seq, expected }),
            std::cmp::Ordering::Greater => Err(Error::TokenGap { seq, expected }),
        }
    }

    /// The token checked by [`check_recv`](Self::check_recv) was accepted.
    pub(crate) fn received(&mut self) {
        self.recv = self.recv.and_then(|s| s.checked_add(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_next_number_is_accepted() {
        let mut s = Sequence::new(0, 5);
        assert!(matches!(
            s.check_recv(4),
            Err(Error::ReplayedToken {
                seq: 4,
                expected: 5
            })
        ));
        assert!(matches!(
            s.check_recv(6),
            Err(Error::TokenGap {
                seq: 6,
                expected: 5
            })
        ));
        assert!(s.check_recv(5).is_ok());
        s.received();
        assert_eq!(s.next_recv(), Some(6));
    }

    #[test]
    fn the_last_number_is_usable_once_and_then_nothing() {
        let mut s = Sequence::new(u64::MAX, u64::MAX);
        assert_eq!(s.next_send(), Some(u64::MAX));
        s.sent();
        assert_eq!(s.next_send(), None);
        assert!(s.check_recv(u64::MAX).is_ok());
        s.received();
        assert!(matches!(s.check_recv(0), Err(Error::SequenceExhausted)));
    }
}
