//! Unit tests of [`super`] (push.rs): the exact bytes of `docs/protocol.md` §5.11 and the
//! decoders' bounds.
use super::*;
use crate::command::Command;
use crate::datastream::{from_bytes, to_bytes};
use crate::link::LinkOpen;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A TQString of `n` repetitions of the two ASCII characters `pair`, in hex.
fn hex_string_of(pair: &str, n: usize) -> String {
    let units: String = pair.bytes().map(|c| format!("00{c:02x}")).collect();
    format!("{:08x}{}", pair.len() * n * 2, units.repeat(n))
}

fn image() -> PushImage {
    PushImage {
        id: "exam.iso".into(),
        name: "Exam".into(),
        restricted: true,
        replace: false,
        size: 4096,
        sha256: Sha256([0xab; 32]),
        md5: Md5([0xcd; 16]),
    }
}

fn request() -> PushRequest {
    PushRequest {
        version: PUSH_VERSION,
        station: "dvd-1".into(),
        type_id: 0,
        image: image(),
    }
}

fn image_hex() -> String {
    [
        "00000010006500780061006d002e00690073006f", // id "exam.iso"
        "00000008004500780061006d",                 // name "Exam"
        "01",                                       // restricted
        "00",                                       // replace
        "0000000000001000",                         // size 4096
        &hex_string_of("ab", 32),                   // sha256, 64 hex digits
        &hex_string_of("cd", 16),                   // md5, 32 hex digits
    ]
    .concat()
}

/// The PUSH example of protocol.md §5.11.
#[test]
fn the_documented_push_command() {
    let command = Command::Push(Box::new(request()));
    let expected = [
        "000000080050005500530048",     // "PUSH"
        "00000001",                     // version 1
        "0000000a006400760064002d0031", // station "dvd-1"
        "00000000",                     // type id (0: a named station)
        &image_hex(),
    ]
    .concat();
    let bytes = to_bytes(&command);
    assert_eq!(hex(&bytes), expected);
    assert_eq!(from_bytes::<Command>(&bytes).ok(), Some(command));
}

#[test]
fn the_documented_data_and_station_replies() {
    let data = PushData {
        offset: 0,
        bytes: b"abc".to_vec(),
    };
    let bytes = to_bytes(&data);
    assert_eq!(
        hex(&bytes),
        "000000080044004100540041000000000000000000000003616263"
    );
    assert_eq!(PushData::encode_slice(0, b"abc"), bytes);
    assert_eq!(from_bytes::<PushData>(&bytes).ok(), Some(data));

    let ready = StationPushReply::Ready { offset: 1 << 20 };
    assert_eq!(
        hex(&to_bytes(&ready)),
        "000000120050005500530048005200450041004400590000000000100000"
    );
    let stored = StationPushReply::Stored {
        file: "exam.iso".into(),
    };
    assert_eq!(
        hex(&to_bytes(&stored)),
        "0000000c00500055005300480045004400000010006500780061006d002e00690073006f"
    );
    for reply in [
        ready,
        stored,
        StationPushReply::Failed {
            reason: "SHA-256 mismatch".into(),
        },
        StationPushReply::Unknown,
    ] {
        assert_eq!(
            from_bytes::<StationPushReply>(&to_bytes(&reply)).ok(),
            Some(reply)
        );
    }
}

#[test]
fn the_documented_push_start() {
    let start = PushReply::Start {
        from: 0,
        targets: vec![PushTarget {
            station: "dvd-1".into(),
            state: TargetState::Ready,
            offset: 0,
            text: String::new(),
        }],
    };
    let bytes = to_bytes(&start);
    assert_eq!(
        hex(&bytes),
        concat!(
            "00000012005000550053004800530054004100520054", // "PUSHSTART"
            "0000000000000000",                             // from 0
            "00000001",                                     // one target
            "0000000a006400760064002d0031",                 // "dvd-1"
            "00000000",                                     // ready
            "0000000000000000",                             // offset 0
            "00000000",                                     // text ""
        )
    );
    assert_eq!(from_bytes::<PushReply>(&bytes).ok(), Some(start));
    let done = PushReply::Done {
        targets: vec![PushTarget {
            station: "dvd-2".into(),
            state: TargetState::Failed,
            offset: 0,
            text: "station too old".into(),
        }],
    };
    assert_eq!(from_bytes::<PushReply>(&to_bytes(&done)).ok(), Some(done));
    let denied = PushReply::Refused(Reply::ErrDenied("not an admin".into()));
    assert_eq!(
        from_bytes::<PushReply>(&to_bytes(&denied)).ok(),
        Some(denied)
    );
}

#[test]
fn the_station_opening_round_trips() {
    let open = LinkOpen::Push(Box::new(PushOpen {
        version: PUSH_VERSION,
        user: "dave@BURNSTAND.TEST".into(),
        user_exported: vec![4, 1, 0, 11],
        admin: true,
        image: image(),
    }));
    let bytes = to_bytes(&open);
    assert_eq!(hex(&bytes[..12]), "000000080050005500530048");
    assert_eq!(from_bytes::<LinkOpen>(&bytes).ok(), Some(open));
}

#[test]
fn ids_that_are_not_plain_file_names_are_refused() {
    for good in ["exam.iso", "a", "Exam_2025-v2.iso"] {
        assert!(check_push_id(good).is_ok(), "{good}");
    }
    let long = "x".repeat(MAX_IMAGE_ID_LEN + 1);
    for bad in [
        "",
        ".partial",
        "../etc/passwd",
        "a/b",
        "a b",
        "exam.iso.toml",
        "é",
        long.as_str(),
    ] {
        assert!(
            matches!(
                check_push_id(bad),
                Err(Error::InvalidValue {
                    what: "pushed image id",
                    ..
                })
            ),
            "{bad:?}"
        );
        let mut bad_image = image();
        bad_image.id = bad.into();
        assert!(from_bytes::<PushImage>(&to_bytes(&bad_image)).is_err());
    }
}

#[test]
fn sizes_versions_and_chunks_are_bounded() {
    for size in [0, MAX_PUSH_SIZE + 1] {
        let mut bad = image();
        bad.size = size;
        assert!(matches!(
            from_bytes::<PushImage>(&to_bytes(&bad)),
            Err(Error::InvalidValue {
                what: "image size",
                ..
            })
        ));
    }
    let mut future = request();
    future.version = 2;
    assert!(matches!(
        from_bytes::<PushRequest>(&to_bytes(&future)),
        Err(Error::UnsupportedVersion {
            found: 2,
            supported: 1
        })
    ));
    // A chunk may be as long as PUSH_CHUNK_LEN, not one byte longer, and not empty.
    let full = PushData::encode_slice(7, &vec![1u8; PUSH_CHUNK_LEN]);
    assert!(full.len() <= MAX_MESSAGE_LEN);
    assert_eq!(full.len(), PUSH_CHUNK_LEN + DATA_OVERHEAD);
    assert_eq!(
        from_bytes::<PushData>(&full).map(|d| d.end()).ok(),
        Some(7 + PUSH_CHUNK_LEN as u64)
    );
    for len in [0, PUSH_CHUNK_LEN + 1] {
        let bytes = PushData::encode_slice(0, &vec![1u8; len]);
        assert!(matches!(
            from_bytes::<PushData>(&bytes),
            Err(Error::TooLarge {
                what: "push chunk",
                ..
            })
        ));
    }
    // A length that claims more than the message holds costs nothing.
    let mut lying = PushData::encode_slice(0, b"abc");
    lying.truncate(lying.len() - 1);
    assert!(matches!(
        from_bytes::<PushData>(&lying),
        Err(Error::Truncated { .. })
    ));
    // No targets, or more than MAX_PUSH_TARGETS, is not a reply.
    let none = PushReply::Done { targets: vec![] };
    assert!(from_bytes::<PushReply>(&to_bytes(&none)).is_err());
    let target = PushTarget {
        station: "s".into(),
        state: TargetState::Stored,
        offset: 0,
        text: String::new(),
    };
    let many = PushReply::Done {
        targets: vec![target; MAX_PUSH_TARGETS + 1],
    };
    assert!(from_bytes::<PushReply>(&to_bytes(&many)).is_err());
    // An unknown target state is refused.
    let mut w = Writer::new();
    w.write("PUSHDONE")
        .write(&1u32)
        .write("s")
        .write(&3u32)
        .write(&0u64)
        .write("");
    assert!(matches!(
        from_bytes::<PushReply>(w.as_bytes()),
        Err(Error::InvalidValue {
            what: "push target state",
            value: 3
        })
    ));
}

#[test]
fn a_parsed_data_message_borrows_what_decoding_copies() {
    let bytes: Vec<u8> = (0..777u32).map(|i| (i % 253) as u8).collect();
    let message = PushData::encode_slice(1 << 33, &bytes);
    let decoded: PushData = from_bytes(&message).unwrap();
    assert_eq!(
        PushData::parse(&message).unwrap(),
        (decoded.offset, &decoded.bytes[..])
    );
    // The same refusals: trailing bytes, a cut message, an empty or oversized chunk.
    let mut longer = message.clone();
    longer.push(0);
    assert!(PushData::parse(&longer).is_err());
    assert!(PushData::parse(&message[..message.len() - 1]).is_err());
    assert!(PushData::parse(&PushData::encode_slice(0, &[])).is_err());
    let big = vec![0u8; PUSH_CHUNK_LEN + 1];
    assert!(PushData::parse(&PushData::encode_slice(0, &big)).is_err());
    assert!(PushData::parse(b"DATA").is_err());
}
