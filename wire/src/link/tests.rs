//! Unit tests of [`super`] (link.rs), kept apart so the module reads in one sitting.
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
        concat!("00000004 004f004b", "00000004", "00000004 00730074").replace(' ', "")
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
            supported: 4
        })
    ));
    // Version-2 and -3 stations are still served (without live state, without a policy
    // digest); a future one is not.
    for old in [2u32, 3] {
        let mut w = Writer::new();
        w.write("OK").write(&old).write("st");
        assert!(matches!(
            from_bytes::<StationHello>(w.as_bytes()),
            Ok(StationHello::Ready { version, .. }) if version == old
        ));
    }
    let mut w = Writer::new();
    w.write("OK").write(&5u32).write("st");
    assert!(matches!(
        from_bytes::<StationHello>(w.as_bytes()),
        Err(Error::UnsupportedVersion { found: 5, .. })
    ));
    assert_eq!(
        from_bytes::<StationHello>(&to_bytes("ERRNOTAVL")).ok(),
        Some(StationHello::NotAvailable)
    );
}

/// The policy-digest examples of protocol.md §5.9.1: the master's question and the answer of
/// a station whose policy file is empty (the SHA-256 of no bytes).
#[test]
fn the_documented_policy_messages() {
    assert_eq!(
        hex(&to_bytes(&MasterMessage::Policy)),
        "0000000c0050004f004c004900430059"
    );
    let digest =
        Sha256::from_hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
            .unwrap_or(Sha256([0; 32]));
    let answer = StationMessage::Policy { digest };
    let bytes = to_bytes(&answer);
    assert!(hex(&bytes).starts_with(concat!(
        "0000000c0050004f004c004900430059",
        "00000080",
        "006500330062003000630034"
    )));
    assert_eq!(bytes.len(), 16 + 4 + 128);
    assert_eq!(from_bytes::<StationMessage>(&bytes).ok(), Some(answer));
    assert_eq!(
        from_bytes::<MasterMessage>(&to_bytes(&MasterMessage::Policy)).ok(),
        Some(MasterMessage::Policy)
    );
    // A digest that is not 64 hex digits is refused, as every SHA-256 on the links.
    let mut w = Writer::new();
    w.write("POLICY").write("e3b0");
    assert!(from_bytes::<StationMessage>(w.as_bytes()).is_err());
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
                .prop_map(|(seq, hash, line)| StationMessage::Receipt(Receipt { seq, hash, line })),
            any::<u64>().prop_map(|head_seq| StationMessage::Synced {
                head_seq,
                head_hash: Sha256([7; 32]),
            }),
            Just(StationMessage::Pong),
            sha256().prop_map(|digest| StationMessage::Policy { digest }),
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
            Just(MasterMessage::Policy),
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
                .prop_map(|(user, user_exported_name, session_id, client_address)| {
                    LinkOpen::Session(Identity {
                        user,
                        user_exported_name,
                        session_id,
                        client_address,
                    })
                }),
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
