//! The nucleus's messages: bytes (the hex examples of protocol.md §4.5), bounds, old forms.

use super::*;
use crate::command::Command;
use crate::datastream::{from_bytes, to_bytes};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn notice(priority: Priority, text: &str) -> Notice {
    Notice {
        priority,
        text: text.into(),
    }
}

#[test]
fn hello_bytes_round_trip() {
    let hello = Command::Hello(Hello {
        version: 1,
        client: ClientVersion::new(0, 2, 0),
    });
    let bytes = to_bytes(&hello);
    let expected = concat!(
        "0000000a",
        "00480045004c004c004f", // "HELLO"
        "00000001",             // nucleus version 1
        "0000000a",
        "0030002e0032002e0030", // "0.2.0"
    );
    assert_eq!(hex(&bytes), expected);
    assert_eq!(from_bytes::<Command>(&bytes).ok(), Some(hello));
}

#[test]
fn hello_refuses_version_zero_and_bad_version_texts() {
    let with = |version: u32, text: &str| {
        let mut w = crate::datastream::Writer::new();
        w.write("HELLO").write(&version).write(text);
        from_bytes::<Command>(&w.into_bytes())
    };
    assert!(with(1, "10.20.30").is_ok());
    assert!(matches!(
        with(0, "0.2.0"),
        Err(Error::InvalidValue {
            what: "HELLO version",
            value: 0
        })
    ));
    for bad in [
        "",
        "1",
        "1.2",
        "1.2.3.4",
        "1.2.x",
        "1.2.3-rc1",
        "+1.2.3",
        " 1.2.3",
        "1..3",
        "4294967296.0.0",
    ] {
        assert!(
            matches!(with(1, bad), Err(Error::BadVersion { .. })),
            "{bad:?} was accepted"
        );
    }
    // Longer than any three 32-bit numbers: refused for its length before it is parsed.
    let long = "1".repeat(MAX_CLIENT_VERSION_LEN + 1);
    assert!(matches!(
        with(1, &long),
        Err(Error::TooLarge {
            what: "client version",
            ..
        })
    ));
    // Trailing bytes after HELLO are not a HELLO.
    let mut bytes = to_bytes(&Command::Hello(Hello {
        version: 1,
        client: ClientVersion::new(1, 0, 0),
    }));
    bytes.push(0);
    assert!(matches!(
        from_bytes::<Command>(&bytes),
        Err(Error::TrailingData { extra: 1 })
    ));
}

#[test]
fn versions_compare_number_by_number() {
    let v = |s: &str| s.parse::<ClientVersion>().expect("version");
    assert!(v("0.10.0") > v("0.9.9"));
    assert!(v("1.0.0") > v("0.99.99"));
    assert!(v("0.2.1") > v("0.2.0"));
    assert_eq!(v("7.0.0").to_string(), "7.0.0");
    assert_eq!(v("0.0.0").to_string(), "0.0.0");
    // One spelling per version: what decodes is what encodes (the fuzz targets check it).
    assert!("007.0.0".parse::<ClientVersion>().is_err());
    assert!("1.02.3".parse::<ClientVersion>().is_err());
}

#[test]
fn welcome_bytes_round_trip() {
    let reply = HelloReply::Welcome {
        version: 1,
        notices: vec![notice(Priority::High, "down 18:00")],
    };
    let bytes = to_bytes(&reply);
    let expected = concat!(
        "0000000e",
        "00570045004c0043004f004d0045", // "WELCOME"
        "00000001",                     // version 1
        "00000001",                     // one notice
        "00000003",                     // priority high
        "00000014",
        "0064006f0077006e002000310038003a00300030", // "down 18:00"
    );
    assert_eq!(hex(&bytes), expected);
    assert_eq!(from_bytes::<HelloReply>(&bytes).ok(), Some(reply));
}

#[test]
fn errversion_names_the_version_needed() {
    let reply = HelloReply::TooOld {
        needed: ClientVersion::new(0, 3, 0),
        notices: Vec::new(),
    };
    let bytes = to_bytes(&reply);
    let expected = concat!(
        "00000014",
        "00450052005200560045005200530049004f004e", // "ERRVERSION"
        "0000000a",
        "0030002e0033002e0030", // "0.3.0"
        "00000000",             // no notices
    );
    assert_eq!(hex(&bytes), expected);
    assert_eq!(from_bytes::<HelloReply>(&bytes).ok(), Some(reply));
}

#[test]
fn an_old_masters_errinvcmd_is_a_hello_reply() {
    assert_eq!(
        from_bytes::<HelloReply>(&to_bytes(&Reply::ErrInvCmd)).ok(),
        Some(HelloReply::Refused(Reply::ErrInvCmd))
    );
    assert!(matches!(
        from_bytes::<HelloReply>(&to_bytes("HI")),
        Err(Error::UnknownReply)
    ));
}

#[test]
fn notices_are_bounded_in_count_and_length() {
    let many = HelloReply::Welcome {
        version: 1,
        notices: vec![notice(Priority::Low, "x"); MAX_NOTICES + 1],
    };
    assert!(matches!(
        from_bytes::<HelloReply>(&to_bytes(&many)),
        Err(Error::TooLarge {
            what: "notice count",
            ..
        })
    ));
    let most = HelloReply::Welcome {
        version: 1,
        notices: vec![notice(Priority::Low, &"y".repeat(MAX_NOTICE_TEXT_LEN)); MAX_NOTICES],
    };
    assert_eq!(
        from_bytes::<HelloReply>(&to_bytes(&most)).ok(),
        Some(most.clone())
    );
    let long = HelloReply::Welcome {
        version: 1,
        notices: vec![notice(Priority::Low, &"y".repeat(MAX_NOTICE_TEXT_LEN + 1))],
    };
    assert!(matches!(
        from_bytes::<HelloReply>(&to_bytes(&long)),
        Err(Error::TooLarge {
            what: "notice text",
            ..
        })
    ));
    // A priority the nucleus does not define.
    let mut w = crate::datastream::Writer::new();
    w.write("WELCOME")
        .write(&1u32)
        .write(&1u32)
        .write(&4u32)
        .write("x");
    assert!(matches!(
        from_bytes::<HelloReply>(&w.into_bytes()),
        Err(Error::InvalidValue {
            what: "notice priority",
            value: 4
        })
    ));
}

#[test]
fn notices_are_shown_high_first_then_in_config_order() {
    let mut notices = vec![
        notice(Priority::Low, "a"),
        notice(Priority::High, "b"),
        notice(Priority::Normal, "c"),
        notice(Priority::High, "d"),
        notice(Priority::Low, "e"),
    ];
    display_order(&mut notices);
    let texts: Vec<&str> = notices.iter().map(|n| n.text.as_str()).collect();
    assert_eq!(texts, ["b", "d", "c", "a", "e"]);
}

#[test]
fn delay_bytes_bounds_and_recognition() {
    let delay = RequestDelay { seconds: 30 };
    let bytes = to_bytes(&delay);
    let expected = concat!(
        "0000000a",
        "00440045004c00410059", // "DELAY"
        "0000001e",             // 30 seconds
    );
    assert_eq!(hex(&bytes), expected);
    assert_eq!(RequestDelay::parse(&bytes), Some(delay));
    for seconds in [0, MAX_REQUEST_DELAY_SECS + 1] {
        let mut w = crate::datastream::Writer::new();
        w.write("DELAY").write(&seconds);
        assert!(matches!(
            from_bytes::<RequestDelay>(&w.into_bytes()),
            Err(Error::InvalidValue {
                what: "request delay",
                ..
            })
        ));
    }
    // The replies a DELAY precedes are not DELAYs.
    for other in [
        to_bytes(&Reply::ErrUnaval),
        to_bytes(&Reply::ErrDenied("full".into())),
        to_bytes(&Vec::<u32>::new()),
    ] {
        assert_eq!(RequestDelay::parse(&other), None);
    }
    assert_eq!(RequestDelay::clamped(0).seconds, 1);
    assert_eq!(RequestDelay::clamped(45).seconds, 45);
    assert_eq!(
        RequestDelay::clamped(u64::MAX).seconds,
        MAX_REQUEST_DELAY_SECS
    );
}
