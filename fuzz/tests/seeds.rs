//! Writes the seed corpus (`fuzz/corpus/<target>/`) from the wire crate's own encoders plus
//! hand-made edge cases. Run it after a protocol change and commit the files:
//! `cargo test --manifest-path fuzz/Cargo.toml --test seeds -- --ignored`.

use std::path::Path;

use burnstand_wire::block::encode_block;
use burnstand_wire::burner::{
    Capabilities, DriveKind, ErrorCode, ErrorReport, Event, ImageInfo, Md5, MediumInfo,
    MediumState, Percent, Phase, Progress, Receipt, Request, Sha256, VerifyResult,
};
use burnstand_wire::command::{Command, Greeting, Identity, Reply, ServiceType, StationType};
use burnstand_wire::datastream::{to_bytes, ByteArray};
use burnstand_wire::link::{GrantRequest, LinkOpen, MasterMessage, StationHello, StationMessage};
use burnstand_wire::nucleus::{
    ClientVersion, Hello, HelloReply, Notice, Priority, RequestDelay, NUCLEUS_VERSION,
};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn burner_service() -> ServiceType {
    ServiceType {
        id: ServiceType::BURNER,
        name: "burner".into(),
        description: "burns restricted disc images under audit (DVD drive)".into(),
    }
}

fn station_type() -> StationType {
    StationType {
        id: 1,
        services: vec![burner_service()],
        name: "DVD burner".into(),
        description: "DVD drive; services: burner".into(),
    }
}

#[test]
#[ignore = "writes the corpus; run by hand"]
fn write_seed_corpus() {
    // block_decoder: the first byte is the split size.
    let list = to_bytes(&Command::List);
    let mut two = encode_block(&list);
    two.extend_from_slice(&encode_block(b"second"));
    for (name, split, body) in [
        ("one-block", 1u8, encode_block(&list)),
        ("two-blocks-split-3", 3, two.clone()),
        ("crlf", 5, b"AAAACEwASQBTAFQ=\r\n".to_vec()),
        ("bare-cr", 2, b"AAAA\rAAAA\n".to_vec()),
        ("empty-line", 1, b"\n".to_vec()),
        ("bad-base64", 4, b"A=A=\n".to_vec()),
        ("non-canonical-padding", 4, b"QR==\n".to_vec()),
        ("no-newline", 7, b"AAAACEwASQBTAFQ=".to_vec()),
        ("over-long-line", 255, vec![b'A'; 6000]),
        ("binary-garbage", 9, vec![0, 255, 10, 128, 10]),
    ] {
        let mut seed = vec![split];
        seed.extend_from_slice(&body);
        write("block_decoder", name, &seed);
    }

    // datastream_roundtrip
    for (name, bytes) in [
        ("string", to_bytes("hello")),
        ("empty-string", to_bytes("")),
        ("null-string", vec![0xff; 4]),
        ("odd-utf16-length", vec![0, 0, 0, 3, 0, 0x41, 0]),
        ("length-near-max", vec![0xff, 0xff, 0xff, 0xfe, 0, 0x41]),
        ("byte-array", to_bytes(&ByteArray(vec![1, 2, 3]))),
        (
            "string-list",
            to_bytes(&vec!["a".to_owned(), "bc".to_owned()]),
        ),
        ("list-count-near-max", vec![0xff, 0xff, 0xff, 0xfe]),
        ("trailing-data", {
            let mut b = to_bytes("x");
            b.push(0);
            b
        }),
        ("unpaired-surrogate", vec![0, 0, 0, 2, 0xd8, 0x00]),
        ("u64", to_bytes(&u64::MAX)),
        ("bool-2", vec![2]),
    ] {
        write("datastream_roundtrip", name, &bytes);
    }

    // command_parser
    let identity = Identity {
        user: "alice@BURNSTAND.TEST".into(),
        user_exported_name: vec![4, 1, 0, 11],
        session_id: "0b8f7c3e-5d1a-4e2b-9c47-2f6d8e1a3b50".into(),
        client_address: "127.0.0.1:40000".into(),
    };
    for (name, bytes) in [
        ("list", to_bytes(&Command::List)),
        ("quit", to_bytes(&Command::Quit)),
        ("bind", to_bytes(&Command::Bind(station_type()))),
        ("serv", to_bytes(&Command::Serv(burner_service()))),
        ("lowercase-list", to_bytes("list")),
        (
            "hello",
            to_bytes(&Command::Hello(Hello {
                version: NUCLEUS_VERSION,
                client: ClientVersion::new(0, 2, 0),
            })),
        ),
        (
            "welcome",
            to_bytes(&HelloReply::Welcome {
                version: NUCLEUS_VERSION,
                notices: vec![
                    Notice {
                        priority: Priority::High,
                        text: "maintenance tonight from 18:00".into(),
                    },
                    Notice {
                        priority: Priority::Low,
                        text: "new blanks in the cupboard".into(),
                    },
                ],
            }),
        ),
        (
            "errversion",
            to_bytes(&HelloReply::TooOld {
                needed: ClientVersion::new(0, 3, 0),
                notices: Vec::new(),
            }),
        ),
        ("delay", to_bytes(&RequestDelay { seconds: 30 })),
        ("ok", to_bytes(&Reply::Ok)),
        ("errunaval", to_bytes(&Reply::ErrUnaval)),
        (
            "errdenied",
            to_bytes(&Reply::ErrDenied("quota used up".into())),
        ),
        ("greeting", to_bytes(&Greeting::CURRENT)),
        (
            "station-list",
            to_bytes(&vec![station_type(), station_type()]),
        ),
        ("identity", to_bytes(&identity)),
        (
            "link-hello",
            to_bytes(&StationHello::ready("test-station-1")),
        ),
        (
            "link-session",
            to_bytes(&LinkOpen::Session(identity.clone())),
        ),
        ("link-control", to_bytes(&LinkOpen::Control)),
        (
            "link-grant",
            to_bytes(&MasterMessage::Grant {
                copy_id: "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b".into(),
            }),
        ),
        (
            "link-sync",
            to_bytes(&MasterMessage::Sync {
                after_seq: 7,
                after_hash: Sha256([0x11; 32]),
            }),
        ),
        (
            "link-grantreq",
            to_bytes(&StationMessage::GrantRequest(GrantRequest {
                copy_id: "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b".into(),
                session_id: "0b8f7c3e-5d1a-4e2b-9c47-2f6d8e1a3b50".into(),
                user: "alice@BURNSTAND.TEST".into(),
                user_exported: vec![4, 1, 0, 11],
                image_id: "exam".into(),
                image_name: "Final exam".into(),
                sha256: Sha256([0xab; 32]),
                copy: 1,
                copies: 2,
            })),
        ),
        ("identity-v1-with-prior-burns", {
            let mut b = to_bytes(&identity);
            b.extend_from_slice(&[0, 0, 4, 1]); // a version-1 list: trailing data now
            b
        }),
    ] {
        write("command_parser", name, &bytes);
    }

    // burner_parser
    let sha = Sha256([0x11; 32]);
    let md5 = Md5([0x22; 16]);
    for (name, bytes) in [
        ("capab", to_bytes(&Request::Capab)),
        ("whatis", to_bytes(&Request::WhatIs)),
        (
            "burn",
            to_bytes(&Request::Burn {
                image_id: "exam-2026".into(),
                copies: 2,
            }),
        ),
        (
            "burn-too-many-copies",
            to_bytes(&Request::Burn {
                image_id: "x".into(),
                copies: 1000,
            }),
        ),
        ("open", to_bytes(&Request::Open)),
        ("cancel", to_bytes(&Request::Cancel)),
        (
            "cap",
            to_bytes(&Event::Cap(Capabilities {
                station_id: "st".into(),
                friendly_name: "Lab 2".into(),
                drive: DriveKind::Dvd,
                medium: MediumState::Blank,
                images: vec![ImageInfo {
                    id: "exam".into(),
                    name: "Exam".into(),
                    size: 1 << 20,
                    sha256: sha,
                    md5,
                    restricted: true,
                }],
            })),
        ),
        (
            "info",
            to_bytes(&Event::Info(MediumInfo {
                state: MediumState::Written,
                profile: "DVD+RW".into(),
                rewritable: true,
                used_bytes: 1,
                free_bytes: 2,
            })),
        ),
        (
            "status",
            to_bytes(&Event::Status(Progress {
                phase: Phase::Writing,
                copy: 1,
                copies: 1,
                percent: Percent::new(50).unwrap(),
            })),
        ),
        (
            "verify",
            to_bytes(&Event::Verify(VerifyResult {
                copy: 1,
                copies: 1,
                image_id: "exam".into(),
                passed: true,
                bytes: 1 << 20,
                image_sha256: sha,
                image_md5: md5,
                readback_md5: md5,
            })),
        ),
        (
            "error",
            to_bytes(&Event::Error(ErrorReport::new(ErrorCode::Busy, "x"))),
        ),
        (
            "receipt",
            to_bytes(&Event::Receipt(Receipt {
                seq: 5,
                hash: sha,
                line: "{\"seq\":5}".into(),
            })),
        ),
        ("trayopen", to_bytes(&Event::TrayOpen)),
        ("percent-101", {
            let mut b = to_bytes(&Event::Status(Progress {
                phase: Phase::Verifying,
                copy: 1,
                copies: 1,
                percent: Percent::new(100).unwrap(),
            }));
            let n = b.len();
            b[n - 1] = 101;
            b
        }),
        ("download", to_bytes("DOWNLOAD")),
    ] {
        write("burner_parser", name, &bytes);
    }
}
