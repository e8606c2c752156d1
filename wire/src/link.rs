//! The master–station link: the station's hello, what the master opens the link for (a user
//! session or the control link), and the control link's messages (copy grants, receipts,
//! reconciliation).
//!
//! The master is always the GSSAPI initiator towards a station (`docs/protocol.md` §4.4, §5.4).
//! Link protocol **version 2** replaced version 1's bare `OK` and its identity block with a
//! prior-burn list: copies are now counted by the master alone, from grants it hands out over
//! the control link (§5.9). A version-1 station answers the master's first read with a bare
//! `OK`, which decodes here as [`Error::UnsupportedVersion`] `{ found: 1 }`: the master names
//! the station and says it must be upgraded.
//!
//! Every message is one TQDataStream message in one protected block, starting with a `TQString`
//! tag word like the burner protocol (§6).

use crate::burner::{Receipt, Sha256};
use crate::command::Identity;
use crate::datastream::{ByteArray, Decode, Encode, Reader, Writer};
use crate::{Error, Result};

/// The master–station link protocol this build speaks.
pub const LINK_VERSION: u32 = 2;

/// The link's bounds live with every other bound in [`crate::limits`]; they are re-exported
/// here, where the link's callers have always found them.
pub use crate::limits::{
    COPY_ID_LEN, MAX_EXPORTED_NAME_LEN, MAX_LINK_TEXT_LEN, MAX_STATION_ID_LEN,
};

fn bounded(what: &'static str, s: String, limit: usize) -> Result<String> {
    let len = s.chars().count();
    if len > limit {
        return Err(Error::TooLarge {
            what,
            len: len as u64,
            limit: limit as u64,
        });
    }
    Ok(s)
}

/// A copy id: exactly 36 characters of lower-case hex digits and hyphens in UUID layout.
fn copy_id(s: String) -> Result<String> {
    let ok = s.len() == COPY_ID_LEN
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        });
    if ok {
        Ok(s)
    } else {
        Err(Error::InvalidValue {
            what: "copy id",
            value: s.len() as u64,
        })
    }
}

/// The station's first message on every link, right after the GSSAPI handshake.
///
/// `TQString "OK", TQ_UINT32 version, TQString station_id`, or `TQString "ERRNOTAVL"` when the
/// station cannot serve (its drive or audit log is unusable). A bare `OK` is a version-1
/// station: [`Error::UnsupportedVersion`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StationHello {
    Ready { version: u32, station_id: String },
    NotAvailable,
}

impl StationHello {
    /// The hello this build sends.
    pub fn ready(station_id: &str) -> StationHello {
        StationHello::Ready {
            version: LINK_VERSION,
            station_id: station_id.to_owned(),
        }
    }
}

impl Encode for StationHello {
    fn encode(&self, w: &mut Writer) {
        match self {
            StationHello::Ready {
                version,
                station_id,
            } => {
                w.write("OK").write(version).write(station_id);
            }
            StationHello::NotAvailable => {
                w.write("ERRNOTAVL");
            }
        }
    }
}

impl Decode for StationHello {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let word: String = r.read()?;
        match word.as_str() {
            "ERRNOTAVL" => Ok(StationHello::NotAvailable),
            "OK" if r.remaining() == 0 => Err(Error::UnsupportedVersion {
                found: 1,
                supported: LINK_VERSION,
            }),
            "OK" => {
                let version: u32 = r.read()?;
                if version != LINK_VERSION {
                    return Err(Error::UnsupportedVersion {
                        found: version,
                        supported: LINK_VERSION,
                    });
                }
                let station_id: String = r.read()?;
                if station_id.is_empty() {
                    return Err(Error::InvalidValue {
                        what: "station id",
                        value: 0,
                    });
                }
                let station_id = bounded("station id", station_id, MAX_STATION_ID_LEN)?;
                Ok(StationHello::Ready {
                    version,
                    station_id,
                })
            }
            _ => Err(Error::UnknownReply),
        }
    }
}

/// What the master opens a link for, its first message after the station's hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOpen {
    /// `TQString "SESSION"` + [`Identity`]: a user's module connection; pass-through follows.
    Session(Identity),
    /// `TQString "CONTROL"`: the master's control link (grants, receipts, reconciliation).
    Control,
}

impl Encode for LinkOpen {
    fn encode(&self, w: &mut Writer) {
        match self {
            LinkOpen::Session(identity) => {
                w.write("SESSION").write(identity);
            }
            LinkOpen::Control => {
                w.write("CONTROL");
            }
        }
    }
}

impl Decode for LinkOpen {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let word: String = r.read()?;
        match word.as_str() {
            "SESSION" => Ok(LinkOpen::Session(r.read()?)),
            "CONTROL" => Ok(LinkOpen::Control),
            _ => Err(Error::UnknownCommand),
        }
    }
}

/// A station's request for permission to burn one copy (`GRANTREQ`).
///
/// `TQString copy_id, TQString session_id, TQString user, TQByteArray user_exported,
/// TQString image_id, TQString image_name, Sha256 sha256, TQ_UINT32 copy, TQ_UINT32 copies`.
/// `copy_id` is the copy's UUID, made by the station; the grant, the station's `burn.start`
/// and the copy's receipt all carry it, and quotas count it once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRequest {
    pub copy_id: String,
    pub session_id: String,
    pub user: String,
    pub user_exported: Vec<u8>,
    pub image_id: String,
    pub image_name: String,
    pub sha256: Sha256,
    pub copy: u32,
    pub copies: u32,
}

impl Encode for GrantRequest {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.copy_id)
            .write(&self.session_id)
            .write(&self.user)
            .write(&ByteArray(self.user_exported.clone()))
            .write(&self.image_id)
            .write(&self.image_name)
            .write(&self.sha256)
            .write(&self.copy)
            .write(&self.copies);
    }
}

impl Decode for GrantRequest {
    const MIN_LEN: usize = 6 * 4 + Sha256::MIN_LEN + 8;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let copy_id = copy_id(r.read()?)?;
        let session_id = bounded("session id", r.read()?, MAX_LINK_TEXT_LEN)?;
        let user = bounded("user", r.read()?, MAX_LINK_TEXT_LEN)?;
        let ByteArray(user_exported) = r.read()?;
        if user_exported.is_empty() || user_exported.len() > MAX_EXPORTED_NAME_LEN {
            return Err(Error::TooLarge {
                what: "exported name",
                len: user_exported.len() as u64,
                limit: MAX_EXPORTED_NAME_LEN as u64,
            });
        }
        let image_id = bounded("image id", r.read()?, MAX_LINK_TEXT_LEN)?;
        let image_name = bounded("image name", r.read()?, MAX_LINK_TEXT_LEN)?;
        let sha256 = r.read()?;
        let copy: u32 = r.read()?;
        let copies: u32 = r.read()?;
        if copy == 0 || copy > copies {
            return Err(Error::InvalidValue {
                what: "copy number",
                value: u64::from(copy),
            });
        }
        Ok(GrantRequest {
            copy_id,
            session_id,
            user,
            user_exported,
            image_id,
            image_name,
            sha256,
            copy,
            copies,
        })
    }
}

/// Station → master on the control link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StationMessage {
    /// `GRANTREQ` + [`GrantRequest`]: may this copy be burned?
    GrantRequest(GrantRequest),
    /// `RECEIPT` + [`Receipt`]: a `burn.receipt` the station wrote (pushed as it is written,
    /// and during a [`MasterMessage::Sync`]).
    Receipt(Receipt),
    /// `SYNCED TQ_UINT64 head_seq, Sha256 head_hash`: every receipt after the asked position
    /// was sent; the station's log ends at record `head_seq`, whose line hashes to `head_hash`
    /// (zeros for an empty log). The master's next SYNC starts there. The
    /// station's log ends at `head_seq`.
    Synced { head_seq: u64, head_hash: Sha256 },
    /// `PONG`: the answer to [`MasterMessage::Ping`].
    Pong,
}

impl StationMessage {
    /// The tag word on the wire.
    pub fn word(&self) -> &'static str {
        match self {
            StationMessage::GrantRequest(_) => "GRANTREQ",
            StationMessage::Receipt(_) => "RECEIPT",
            StationMessage::Synced { .. } => "SYNCED",
            StationMessage::Pong => "PONG",
        }
    }
}

impl Encode for StationMessage {
    fn encode(&self, w: &mut Writer) {
        w.write(self.word());
        match self {
            StationMessage::GrantRequest(request) => {
                w.write(request);
            }
            StationMessage::Receipt(receipt) => {
                w.write(receipt);
            }
            StationMessage::Synced {
                head_seq,
                head_hash,
            } => {
                w.write(head_seq).write(head_hash);
            }
            StationMessage::Pong => {}
        }
    }
}

impl Decode for StationMessage {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let word: String = r.read()?;
        match word.as_str() {
            "GRANTREQ" => Ok(StationMessage::GrantRequest(r.read()?)),
            "RECEIPT" => Ok(StationMessage::Receipt(r.read()?)),
            "SYNCED" => Ok(StationMessage::Synced {
                head_seq: r.read()?,
                head_hash: r.read()?,
            }),
            "PONG" => Ok(StationMessage::Pong),
            _ => Err(Error::UnknownReply),
        }
    }
}

/// Master → station on the control link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterMessage {
    /// `GRANT TQString copy_id`: burn it; the copy is counted from now on.
    Grant { copy_id: String },
    /// `NOGRANT TQString copy_id, TQString reason`: do not burn it; `reason` is for the user.
    NoGrant { copy_id: String, reason: String },
    /// `SYNC TQ_UINT64 after_seq, Sha256 after_hash`: send every `burn.receipt` after the
    /// record `after_seq` (whose hash the master has as `after_hash`), then SYNCED. If the
    /// station's record `after_seq` does not have that hash (the log was replaced) or
    /// `after_seq` is 0, it sends every receipt its log holds.
    Sync { after_seq: u64, after_hash: Sha256 },
    /// `PING`: the link is alive; answered with PONG.
    Ping,
}

impl MasterMessage {
    /// The tag word on the wire.
    pub fn word(&self) -> &'static str {
        match self {
            MasterMessage::Grant { .. } => "GRANT",
            MasterMessage::NoGrant { .. } => "NOGRANT",
            MasterMessage::Sync { .. } => "SYNC",
            MasterMessage::Ping => "PING",
        }
    }
}

impl Encode for MasterMessage {
    fn encode(&self, w: &mut Writer) {
        w.write(self.word());
        match self {
            MasterMessage::Grant { copy_id } => {
                w.write(copy_id);
            }
            MasterMessage::NoGrant { copy_id, reason } => {
                w.write(copy_id).write(reason);
            }
            MasterMessage::Sync {
                after_seq,
                after_hash,
            } => {
                w.write(after_seq).write(after_hash);
            }
            MasterMessage::Ping => {}
        }
    }
}

impl Decode for MasterMessage {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let word: String = r.read()?;
        match word.as_str() {
            "GRANT" => Ok(MasterMessage::Grant {
                copy_id: copy_id(r.read()?)?,
            }),
            "NOGRANT" => Ok(MasterMessage::NoGrant {
                copy_id: copy_id(r.read()?)?,
                reason: bounded("grant refusal", r.read()?, MAX_LINK_TEXT_LEN)?,
            }),
            "SYNC" => Ok(MasterMessage::Sync {
                after_seq: r.read()?,
                after_hash: r.read()?,
            }),
            "PING" => Ok(MasterMessage::Ping),
            _ => Err(Error::UnknownCommand),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datastream::{from_bytes, to_bytes};

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    const COPY: &str = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";

    fn request() -> GrantRequest {
        GrantRequest {
            copy_id: COPY.into(),
            session_id: "0b8f7c3e-5d1a-4e2b-9c47-2f6d8e1a3b50".into(),
            user: "alice@BURNSTAND.TEST".into(),
            user_exported: b"\x04\x01exported".to_vec(),
            image_id: "exam".into(),
            image_name: "Final exam".into(),
            sha256: Sha256::from_hex(&"ab".repeat(32)).unwrap_or(Sha256([0; 32])),
            copy: 1,
            copies: 2,
        }
    }

    /// The hello example of protocol.md §4.4.
    #[test]
    fn the_documented_hello() {
        let hello = StationHello::ready("st");
        assert_eq!(
            hex(&to_bytes(&hello)),
            concat!("00000004 004f004b", "00000002", "00000004 00730074").replace(' ', "")
        );
        assert_eq!(
            from_bytes::<StationHello>(&to_bytes(&hello)).ok(),
            Some(hello)
        );
    }

    #[test]
    fn a_version_one_station_is_named_as_such() {
        let bare_ok = to_bytes("OK");
        assert!(matches!(
            from_bytes::<StationHello>(&bare_ok),
            Err(Error::UnsupportedVersion {
                found: 1,
                supported: 2
            })
        ));
        let mut w = Writer::new();
        w.write("OK").write(&3u32).write("st");
        assert!(matches!(
            from_bytes::<StationHello>(w.as_bytes()),
            Err(Error::UnsupportedVersion { found: 3, .. })
        ));
        assert_eq!(
            from_bytes::<StationHello>(&to_bytes("ERRNOTAVL")).ok(),
            Some(StationHello::NotAvailable)
        );
    }

    #[test]
    fn the_documented_control_messages() {
        assert_eq!(
            hex(&to_bytes(&LinkOpen::Control)),
            "0000000e0043004f004e00540052004f004c"
        );
        let grant = MasterMessage::Grant {
            copy_id: COPY.into(),
        };
        let bytes = to_bytes(&grant);
        assert!(hex(&bytes).starts_with("0000000a004700520041004e005400000048"));
        assert_eq!(bytes.len(), 14 + 4 + 72);
        for message in [
            grant,
            MasterMessage::NoGrant {
                copy_id: COPY.into(),
                reason: "quota used up".into(),
            },
            MasterMessage::Sync {
                after_seq: 7,
                after_hash: Sha256([1; 32]),
            },
            MasterMessage::Ping,
        ] {
            assert_eq!(
                from_bytes::<MasterMessage>(&to_bytes(&message)).ok(),
                Some(message)
            );
        }
        for message in [
            StationMessage::GrantRequest(request()),
            StationMessage::Synced {
                head_seq: 9,
                head_hash: Sha256([2; 32]),
            },
            StationMessage::Pong,
        ] {
            assert_eq!(
                from_bytes::<StationMessage>(&to_bytes(&message)).ok(),
                Some(message)
            );
        }
    }

    #[test]
    fn malformed_grant_requests_are_refused() {
        let bad_id = GrantRequest {
            copy_id: COPY.to_uppercase(),
            ..request()
        };
        let zero_copy = GrantRequest {
            copy: 0,
            ..request()
        };
        let beyond = GrantRequest {
            copy: 3,
            ..request()
        };
        let no_user = GrantRequest {
            user_exported: Vec::new(),
            ..request()
        };
        for bad in [bad_id, zero_copy, beyond, no_user] {
            let bytes = to_bytes(&StationMessage::GrantRequest(bad.clone()));
            assert!(from_bytes::<StationMessage>(&bytes).is_err(), "{bad:?}");
        }
        let long_reason = MasterMessage::NoGrant {
            copy_id: COPY.into(),
            reason: "x".repeat(MAX_LINK_TEXT_LEN + 1),
        };
        assert!(matches!(
            from_bytes::<MasterMessage>(&to_bytes(&long_reason)),
            Err(Error::TooLarge { .. })
        ));
    }

    /// Properties of every link message: it round-trips, and no strict prefix of its encoding
    /// decodes (each is an error, never a panic), so a block cut short is never taken for a
    /// shorter message.
    mod properties {
        use std::fmt::Debug;

        use proptest::prelude::*;

        use super::super::*;
        use crate::burner::Receipt;
        use crate::datastream::{from_bytes, to_bytes};

        fn text(max: usize) -> impl Strategy<Value = String> {
            prop::collection::vec(any::<char>(), 0..=max).prop_map(String::from_iter)
        }

        fn copy_id() -> impl Strategy<Value = String> {
            "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
        }

        fn sha256() -> impl Strategy<Value = Sha256> {
            any::<[u8; 32]>().prop_map(Sha256)
        }

        fn grant_request() -> impl Strategy<Value = GrantRequest> {
            (
                (copy_id(), text(40), text(40)),
                prop::collection::vec(any::<u8>(), 1..64),
                (text(20), text(20), sha256()),
                (1u32..=1000).prop_flat_map(|copies| (1..=copies, Just(copies))),
            )
                .prop_map(
                    |(
                        (copy_id, session_id, user),
                        user_exported,
                        (image_id, image_name, sha256),
                        (copy, copies),
                    )| {
                        GrantRequest {
                            copy_id,
                            session_id,
                            user,
                            user_exported,
                            image_id,
                            image_name,
                            sha256,
                            copy,
                            copies,
                        }
                    },
                )
        }

        fn station_message() -> impl Strategy<Value = StationMessage> {
            prop_oneof![
                grant_request().prop_map(StationMessage::GrantRequest),
                (any::<u64>(), sha256(), text(60))
                    .prop_filter("a receipt line is not empty", |(_, _, line)| !line
                        .is_empty())
                    .prop_map(|(seq, hash, line)| StationMessage::Receipt(Receipt {
                        seq,
                        hash,
                        line
                    })),
                any::<u64>().prop_map(|head_seq| StationMessage::Synced {
                    head_seq,
                    head_hash: Sha256([7; 32]),
                }),
                Just(StationMessage::Pong),
            ]
        }

        fn master_message() -> impl Strategy<Value = MasterMessage> {
            prop_oneof![
                copy_id().prop_map(|copy_id| MasterMessage::Grant { copy_id }),
                (copy_id(), text(80))
                    .prop_map(|(copy_id, reason)| MasterMessage::NoGrant { copy_id, reason }),
                (any::<u64>(), sha256()).prop_map(|(after_seq, after_hash)| {
                    MasterMessage::Sync {
                        after_seq,
                        after_hash,
                    }
                }),
                Just(MasterMessage::Ping),
            ]
        }

        fn station_hello() -> impl Strategy<Value = StationHello> {
            prop_oneof![
                text(MAX_STATION_ID_LEN)
                    .prop_filter("a station id is not empty", |id| !id.is_empty())
                    .prop_map(|id| StationHello::ready(&id)),
                Just(StationHello::NotAvailable),
            ]
        }

        fn link_open() -> impl Strategy<Value = LinkOpen> {
            prop_oneof![
                (
                    text(30),
                    prop::collection::vec(any::<u8>(), 0..64),
                    text(36),
                    text(30)
                )
                    .prop_map(
                        |(user, user_exported_name, session_id, client_address)| {
                            LinkOpen::Session(Identity {
                                user,
                                user_exported_name,
                                session_id,
                                client_address,
                            })
                        }
                    ),
                Just(LinkOpen::Control),
            ]
        }

        fn round_trips_and_no_prefix_decodes<T: Encode + Decode + PartialEq + Debug>(
            message: &T,
        ) -> Result<(), TestCaseError> {
            let bytes = to_bytes(message);
            let back = from_bytes::<T>(&bytes).ok();
            prop_assert_eq!(back.as_ref(), Some(message));
            for cut in 0..bytes.len() {
                prop_assert!(
                    from_bytes::<T>(&bytes[..cut]).is_err(),
                    "{} of {} bytes of {:?} decoded",
                    cut,
                    bytes.len(),
                    message
                );
            }
            Ok(())
        }

        proptest! {
            #[test]
            fn station_messages(message in station_message()) {
                round_trips_and_no_prefix_decodes(&message)?;
            }

            #[test]
            fn master_messages(message in master_message()) {
                round_trips_and_no_prefix_decodes(&message)?;
            }

            #[test]
            fn station_hellos(hello in station_hello()) {
                round_trips_and_no_prefix_decodes(&hello)?;
            }

            #[test]
            fn link_openings(open in link_open()) {
                round_trips_and_no_prefix_decodes(&open)?;
            }
        }
    }
}
