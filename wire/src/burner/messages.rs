//! The burner protocol's messages (`docs/protocol.md` §6.2, §6.3): a tag word, then the
//! record it announces. [`Request`]s go from the module to the station, [`Event`]s back.

use super::records::{Capabilities, ErrorReport, MediumInfo, Progress, Receipt, VerifyResult};
use super::values::{check_copies, check_image_id, ErrorCode};
use crate::datastream::{Decode, Encode, Reader, Writer};
use crate::{Error, Result};

/// A message from the burner module to the station.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `CAPAB`: what can you burn? Answered with [`Event::Cap`].
    Capab,
    /// `WHATIS`: what disc is in the drive? Answered with [`Event::Info`].
    WhatIs,
    /// `BURN TQString image_id, TQ_UINT32 copies`: burn `copies` discs of the image, one after
    /// the other. Answered with progress ([`Event::Status`]) and one [`Event::Verify`] per
    /// copy, or an [`Event::Error`].
    Burn { image_id: String, copies: u32 },
    /// `OPEN`: open the tray. Answered with [`Event::TrayOpen`] or an error.
    Open,
    /// `CANCEL`: stop this session's burn. Answered with [`Event::Cancelled`] once the burner
    /// process is gone, or an error if nothing was running.
    Cancel,
}

impl Request {
    /// The tag word on the wire.
    pub fn word(&self) -> &'static str {
        match self {
            Request::Capab => "CAPAB",
            Request::WhatIs => "WHATIS",
            Request::Burn { .. } => "BURN",
            Request::Open => "OPEN",
            Request::Cancel => "CANCEL",
        }
    }
}

impl Encode for Request {
    fn encode(&self, w: &mut Writer) {
        w.write(self.word());
        if let Request::Burn { image_id, copies } = self {
            w.write(image_id).write(copies);
        }
    }
}

/// An unknown tag word is [`Error::UnknownRequest`].
impl Decode for Request {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let word: String = r.read()?;
        match word.as_str() {
            "CAPAB" => Ok(Request::Capab),
            "WHATIS" => Ok(Request::WhatIs),
            "BURN" => {
                let image_id: String = r.read()?;
                check_image_id(&image_id)?;
                let copies = r.read()?;
                check_copies(copies)?;
                Ok(Request::Burn { image_id, copies })
            }
            "OPEN" => Ok(Request::Open),
            "CANCEL" => Ok(Request::Cancel),
            _ => Err(Error::UnknownRequest),
        }
    }
}

/// A message from the station to the burner module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `CAP` + [`Capabilities`]: the answer to CAPAB.
    Cap(Capabilities),
    /// `INFO` + [`MediumInfo`]: the answer to WHATIS.
    Info(MediumInfo),
    /// `STATUS` + [`Progress`]: pushed while a burn runs; `WRITING 0 %` acknowledges a BURN.
    Status(Progress),
    /// `VERIFY` + [`VerifyResult`]: a copy is done, with its MD5 pass or fail.
    Verify(VerifyResult),
    /// `TRAYOPEN`: the tray was opened (after OPEN, or after a burn).
    TrayOpen,
    /// `AVAIL`: a burnable disc is in the drive. Pushed after a burn and while idle.
    Avail,
    /// `EMPTY`: no burnable disc is in the drive. Pushed after a burn and while idle.
    Empty,
    /// `CANCELLED`: the burn was stopped and its burner process is gone; the drive is free.
    Cancelled,
    /// `ERROR` + [`ErrorReport`].
    Error(ErrorReport),
    /// `RECEIPT` + [`Receipt`]: one copy's audit record, sent once it is durable.
    Receipt(Receipt),
}

impl Event {
    /// The tag word on the wire.
    pub fn word(&self) -> &'static str {
        match self {
            Event::Cap(_) => "CAP",
            Event::Info(_) => "INFO",
            Event::Status(_) => "STATUS",
            Event::Verify(_) => "VERIFY",
            Event::TrayOpen => "TRAYOPEN",
            Event::Avail => "AVAIL",
            Event::Empty => "EMPTY",
            Event::Cancelled => "CANCELLED",
            Event::Error(_) => "ERROR",
            Event::Receipt(_) => "RECEIPT",
        }
    }

    /// Shorthand for an [`Event::Error`].
    pub fn error(code: ErrorCode, text: impl Into<String>) -> Self {
        Event::Error(ErrorReport::new(code, text))
    }
}

impl Encode for Event {
    fn encode(&self, w: &mut Writer) {
        w.write(self.word());
        match self {
            Event::Cap(cap) => {
                w.write(cap);
            }
            Event::Info(info) => {
                w.write(info);
            }
            Event::Status(progress) => {
                w.write(progress);
            }
            Event::Verify(result) => {
                w.write(result);
            }
            Event::Error(report) => {
                w.write(report);
            }
            Event::Receipt(receipt) => {
                w.write(receipt);
            }
            Event::TrayOpen | Event::Avail | Event::Empty | Event::Cancelled => {}
        }
    }
}

/// An unknown tag word is [`Error::UnknownEvent`].
impl Decode for Event {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let word: String = r.read()?;
        match word.as_str() {
            "CAP" => Ok(Event::Cap(r.read()?)),
            "INFO" => Ok(Event::Info(r.read()?)),
            "STATUS" => Ok(Event::Status(r.read()?)),
            "VERIFY" => Ok(Event::Verify(r.read()?)),
            "TRAYOPEN" => Ok(Event::TrayOpen),
            "AVAIL" => Ok(Event::Avail),
            "EMPTY" => Ok(Event::Empty),
            "CANCELLED" => Ok(Event::Cancelled),
            "ERROR" => Ok(Event::Error(r.read()?)),
            "RECEIPT" => Ok(Event::Receipt(r.read()?)),
            _ => Err(Error::UnknownEvent),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::burner::test_vectors::*;
    use crate::burner::{
        Capabilities, DriveKind, ImageInfo, MediumInfo, MediumState, Percent, Phase, Progress,
        MAX_COPIES, MAX_IMAGE_ID_LEN,
    };
    use crate::datastream::{from_bytes, to_bytes};

    #[test]
    fn capab_bytes() {
        // "CAPAB" as a TQString: 10 bytes of UTF-16BE.
        assert_eq!(
            hex(&to_bytes(&Request::Capab)),
            "0000000a00430041005000410042"
        );
        assert_eq!(
            hex(&to_bytes(&Request::Cancel)),
            "0000000c00430041004e00430045004c"
        );
    }

    #[test]
    fn tag_only_messages_bytes() {
        let h = |e: &Event| hex(&to_bytes(e));
        assert_eq!(
            hex(&to_bytes(&Request::WhatIs)),
            "0000000c005700480041005400490053"
        );
        assert_eq!(hex(&to_bytes(&Request::Open)), "00000008004f00500045004e");
        assert_eq!(
            h(&Event::TrayOpen),
            "000000100054005200410059004f00500045004e"
        );
        assert_eq!(h(&Event::Avail), "0000000a0041005600410049004c");
        assert_eq!(h(&Event::Empty), "0000000a0045004d005000540059");
        assert_eq!(
            h(&Event::Cancelled),
            "0000001200430041004e00430045004c004c00450044"
        );
    }

    #[test]
    fn burn_bytes() {
        let burn = Request::Burn {
            image_id: "exam".into(),
            copies: 2,
        };
        let expected = concat!(
            "00000008",
            "004200550052004e", // "BURN"
            "00000008",
            "006500780061006d", // "exam"
            "00000002",         // copies
        );
        assert_eq!(hex(&to_bytes(&burn)), expected);
        assert_eq!(from_bytes::<Request>(&unhex(expected)).unwrap(), burn);
    }

    #[test]
    fn error_bytes() {
        let err = Event::error(ErrorCode::Busy, "x");
        let expected = concat!(
            "0000000a",
            "004500520052004f0052", // "ERROR"
            "00000008",
            "0042005500530059", // "BUSY"
            "00000002",
            "0078", // "x"
        );
        assert_eq!(hex(&to_bytes(&err)), expected);
        round_trip_event(err);
    }

    #[test]
    fn every_message_round_trips() {
        round_trip_request(Request::Capab);
        round_trip_request(Request::WhatIs);
        round_trip_request(Request::Burn {
            image_id: "💿 exam".into(),
            copies: MAX_COPIES,
        });
        round_trip_request(Request::Open);
        round_trip_request(Request::Cancel);
        let image = ImageInfo {
            id: "exam-2025".into(),
            name: "Exam 2025".into(),
            size: 3_377_152,
            sha256: sha256_empty(),
            md5: md5_empty(),
            restricted: true,
        };
        for drive in DriveKind::ALL {
            for medium in MediumState::ALL {
                round_trip_event(Event::Cap(Capabilities {
                    station_id: "st-1".into(),
                    friendly_name: "Lab 2".into(),
                    drive: *drive,
                    medium: *medium,
                    images: vec![image.clone(), image.clone()],
                }));
            }
        }
        round_trip_event(Event::Info(MediumInfo {
            state: MediumState::Written,
            profile: "DVD+RW".into(),
            rewritable: true,
            used_bytes: 1,
            free_bytes: u64::MAX,
        }));
        for phase in Phase::ALL {
            round_trip_event(Event::Status(Progress {
                phase: *phase,
                copy: 2,
                copies: 3,
                percent: Percent::FULL,
            }));
        }
        for ev in [
            Event::TrayOpen,
            Event::Avail,
            Event::Empty,
            Event::Cancelled,
        ] {
            round_trip_event(ev);
        }
        for code in ErrorCode::ALL {
            round_trip_event(Event::error(*code, "text"));
        }
    }

    #[test]
    fn copies_and_ids_are_bounded() {
        let zero = to_bytes(&Request::Burn {
            image_id: "a".into(),
            copies: 0,
        });
        assert!(matches!(
            from_bytes::<Request>(&zero),
            Err(Error::InvalidValue {
                what: "copies",
                value: 0
            })
        ));
        let many = to_bytes(&Request::Burn {
            image_id: "a".into(),
            copies: MAX_COPIES + 1,
        });
        assert!(matches!(
            from_bytes::<Request>(&many),
            Err(Error::TooLarge { what: "copies", .. })
        ));
        let empty = to_bytes(&Request::Burn {
            image_id: String::new(),
            copies: 1,
        });
        assert!(matches!(
            from_bytes::<Request>(&empty),
            Err(Error::InvalidValue {
                what: "image id length",
                value: 0
            })
        ));
        let long = to_bytes(&Request::Burn {
            image_id: "x".repeat(MAX_IMAGE_ID_LEN + 1),
            copies: 1,
        });
        assert!(matches!(
            from_bytes::<Request>(&long),
            Err(Error::TooLarge {
                what: "image id",
                ..
            })
        ));
        // A progress report for copy 3 of 2 is nonsense.
        let mut w = Writer::new();
        w.write("STATUS")
            .write(&Phase::Writing)
            .write(&3u32)
            .write(&2u32)
            .write(&Percent::ZERO);
        assert!(matches!(
            from_bytes::<Event>(&w.into_bytes()),
            Err(Error::InvalidValue {
                what: "copy number",
                value: 3
            })
        ));
    }

    #[test]
    fn unknown_words_are_precise_errors() {
        assert!(matches!(
            from_bytes::<Request>(&to_bytes("capab")),
            Err(Error::UnknownRequest)
        ));
        assert!(matches!(
            from_bytes::<Request>(&to_bytes("GET")),
            Err(Error::UnknownRequest)
        ));
        assert!(matches!(
            from_bytes::<Event>(&to_bytes("DATA")),
            Err(Error::UnknownEvent)
        ));
        let mut w = Writer::new();
        w.write("ERROR").write("OOPS").write("text");
        assert!(matches!(
            from_bytes::<Event>(&w.into_bytes()),
            Err(Error::UnknownWord {
                what: "error code",
                len: 4
            })
        ));
        // Requests without their fields, or with extra bytes, are refused.
        assert!(matches!(
            from_bytes::<Request>(&to_bytes("BURN")),
            Err(Error::Truncated { .. })
        ));
        let mut bytes = to_bytes(&Request::WhatIs);
        bytes.push(0);
        assert!(matches!(
            from_bytes::<Request>(&bytes),
            Err(Error::TrailingData { extra: 1 })
        ));
    }
}
