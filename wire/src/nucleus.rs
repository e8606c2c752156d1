//! The protocol nucleus (the BOINC scheduler-RPC design, seed 004): the client states its
//! version, the master answers with notices for the person at the terminal, and refusals that
//! ask to come back later carry a `request_delay`.
//!
//! Everything here is an *extension* of command mode (`docs/protocol.md` §4.5): a client
//! that never sends HELLO gets the master it always got, and a master from before the nucleus
//! answers HELLO with ERRINVCMD, after which the client carries on without notices or delays.
//! A new message is only ever sent to a client that asked for it with HELLO, because the old
//! decoders are strict (a reply with an appended field would be `TrailingData` to them).
//!
//! ```text
//! client                                  master
//! HELLO 1 "0.2.0"                ──►
//!                                ◄──  WELCOME 1 [notices]          (old master: ERRINVCMD)
//!                                ◄──  ERRVERSION "0.3.0" [notices] (too old: the master closes)
//! RESERVE …                      ──►
//!                                ◄──  DELAY 30                     only after WELCOME, then
//!                                ◄──  ERRUNAVAL                    the refusal it belongs to
//! ```

use std::fmt;
use std::str::FromStr;

use crate::command::Reply;
use crate::datastream::{Decode, Encode, Reader, Writer};
use crate::limits::{
    MAX_CLIENT_VERSION_LEN, MAX_NOTICES, MAX_NOTICE_TEXT_LEN, MAX_REQUEST_DELAY_SECS,
};
use crate::{Error, Result};

/// The nucleus version this build speaks: HELLO carries the client's, WELCOME the highest
/// both know. Version 1: notices in WELCOME, DELAY before refusals that ask to retry.
pub const NUCLEUS_VERSION: u32 = 1;

/// A client's release, `MAJOR.MINOR.PATCH` (numbers only), compared number by number: what a
/// master's `min_client_version` is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl ClientVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        ClientVersion {
            major,
            minor,
            patch,
        }
    }
}

impl fmt::Display for ClientVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl FromStr for ClientVersion {
    type Err = Error;

    /// Exactly three dot-separated decimal numbers, each fitting 32 bits, without leading
    /// zeros: "0.2.0". Anything else (a pre-release suffix, a sign, spaces, "007") is refused
    /// rather than guessed at, so two parties never disagree about which version is older and
    /// every accepted text is the one [`fmt::Display`] writes (decoding stays canonical).
    fn from_str(text: &str) -> Result<Self> {
        let bad = || Error::BadVersion {
            what: "client version",
            len: text.chars().count(),
        };
        let mut numbers = text.split('.').map(|part| {
            let leading_zero = part.len() > 1 && part.starts_with('0');
            if part.is_empty() || leading_zero || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            part.parse::<u32>().map_err(|_| bad())
        });
        let mut next = || numbers.next().unwrap_or_else(|| Err(bad()));
        let version = ClientVersion::new(next()?, next()?, next()?);
        if numbers.next().is_some() {
            return Err(bad());
        }
        Ok(version)
    }
}

impl Encode for ClientVersion {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.to_string());
    }
}

impl Decode for ClientVersion {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let text = crate::link::bounded("client version", r.read()?, MAX_CLIENT_VERSION_LEN)?;
        text.parse()
    }
}

/// `HELLO TQ_UINT32 nucleus_version, TQString client_version`: sent once, right after the
/// greeting, by a client that knows the nucleus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    /// The highest nucleus version the client speaks (at least 1).
    pub version: u32,
    pub client: ClientVersion,
}

impl Encode for Hello {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.version).write(&self.client);
    }
}

impl Decode for Hello {
    const MIN_LEN: usize = 8;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let version = match r.read::<u32>()? {
            0 => {
                return Err(Error::InvalidValue {
                    what: "HELLO version",
                    value: 0,
                })
            }
            version => version,
        };
        Ok(Hello {
            version,
            client: r.read()?,
        })
    }
}

/// How much a notice matters (the design's message priority). Ordered: `Low < Normal < High`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// For the curious: the client shows it, but it need not catch the eye.
    Low,
    /// The message of the day.
    Normal,
    /// The user must act or know now (maintenance, a client to upgrade).
    High,
}

impl Priority {
    /// Every priority, lowest first.
    pub const ALL: [Priority; 3] = [Priority::Low, Priority::Normal, Priority::High];

    /// The code on the wire: 1 low, 2 normal, 3 high.
    pub fn code(self) -> u32 {
        match self {
            Priority::Low => 1,
            Priority::Normal => 2,
            Priority::High => 3,
        }
    }

    /// The word in master.toml and in what the client prints.
    pub fn name(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
        }
    }

    /// The priority a config word names, if any.
    pub fn from_name(name: &str) -> Option<Priority> {
        Priority::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl Encode for Priority {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.code());
    }
}

impl Decode for Priority {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let code: u32 = r.read()?;
        Priority::ALL
            .into_iter()
            .find(|p| p.code() == code)
            .ok_or(Error::InvalidValue {
                what: "notice priority",
                value: u64::from(code),
            })
    }
}

/// A message from the lab's admin to the person at the terminal: `TQ_UINT32 priority,
/// TQString text` (at most [`MAX_NOTICE_TEXT_LEN`] characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Notice {
    pub priority: Priority,
    pub text: String,
}

impl Encode for Notice {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.priority).write(&self.text);
    }
}

impl Decode for Notice {
    const MIN_LEN: usize = 8;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Notice {
            priority: r.read()?,
            text: crate::link::bounded("notice text", r.read()?, MAX_NOTICE_TEXT_LEN)?,
        })
    }
}

/// Orders notices as they are shown: high priority first, then in the order given (the
/// master sends them in config order). Stable, so equal priorities keep that order.
pub fn display_order(notices: &mut [Notice]) {
    notices.sort_by_key(|n| std::cmp::Reverse(n.priority));
}

/// A `TQValueList<Notice>` of at most [`MAX_NOTICES`]; the count is checked before any
/// notice is decoded.
fn read_notices(r: &mut Reader<'_>) -> Result<Vec<Notice>> {
    let count: u32 = r.clone().read()?;
    if count as usize > MAX_NOTICES {
        return Err(Error::TooLarge {
            what: "notice count",
            len: u64::from(count),
            limit: MAX_NOTICES as u64,
        });
    }
    r.read()
}

/// The master's answer to HELLO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelloReply {
    /// `WELCOME TQ_UINT32 version, TQValueList<Notice> notices`: the nucleus version both
    /// speak (the lower of the two) and the notices in force, high priority first.
    Welcome { version: u32, notices: Vec<Notice> },
    /// `ERRVERSION TQString needed, TQValueList<Notice> notices`: this client is older than
    /// the master accepts; `needed` is the oldest it does. The master closes the connection
    /// after it. The notices say where to get a new client, if the admin wrote that.
    TooOld {
        needed: ClientVersion,
        notices: Vec<Notice>,
    },
    /// One of command mode's words: ERRINVCMD from a master that predates the nucleus (or
    /// to a second HELLO).
    Refused(Reply),
}

impl Encode for HelloReply {
    fn encode(&self, w: &mut Writer) {
        match self {
            HelloReply::Welcome { version, notices } => {
                w.write("WELCOME").write(version).write(notices);
            }
            HelloReply::TooOld { needed, notices } => {
                w.write("ERRVERSION").write(needed).write(notices);
            }
            HelloReply::Refused(reply) => {
                w.write(reply);
            }
        }
    }
}

impl Decode for HelloReply {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let mut peek = r.clone();
        let word: String = peek.read()?;
        match word.as_str() {
            "WELCOME" => {
                *r = peek;
                let version = match r.read::<u32>()? {
                    0 => {
                        return Err(Error::InvalidValue {
                            what: "WELCOME version",
                            value: 0,
                        })
                    }
                    version => version,
                };
                Ok(HelloReply::Welcome {
                    version,
                    notices: read_notices(r)?,
                })
            }
            "ERRVERSION" => {
                *r = peek;
                Ok(HelloReply::TooOld {
                    needed: r.read()?,
                    notices: read_notices(r)?,
                })
            }
            _ => Ok(HelloReply::Refused(r.read()?)),
        }
    }
}

/// `DELAY TQ_UINT32 seconds`: the design's `request_delay`. Sent only to a client whose HELLO
/// was welcomed, right before the refusal it belongs to (ERRUNAVAL, ERRDENIED for a full
/// queue) or before the master closes a waiting client's connection as it shuts down: do not
/// ask again for this long. 1 to [`MAX_REQUEST_DELAY_SECS`] seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestDelay {
    pub seconds: u32,
}

impl RequestDelay {
    /// The delay, clamped into the range the protocol allows (a master's config is checked
    /// against the same range; this keeps an encoder from ever sending what a decoder refuses).
    pub fn clamped(seconds: u64) -> Self {
        RequestDelay {
            seconds: u32::try_from(seconds)
                .unwrap_or(u32::MAX)
                .clamp(1, MAX_REQUEST_DELAY_SECS),
        }
    }

    /// The message in `bytes`, if it is a DELAY: how a client tells it from the reply that
    /// follows it. No other message of command mode starts with the word "DELAY".
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        crate::datastream::from_bytes::<RequestDelay>(bytes).ok()
    }
}

impl Encode for RequestDelay {
    fn encode(&self, w: &mut Writer) {
        w.write("DELAY").write(&self.seconds);
    }
}

impl Decode for RequestDelay {
    const MIN_LEN: usize = 4 + 10 + 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let word: String = r.read()?;
        if word != "DELAY" {
            return Err(Error::UnknownReply);
        }
        let seconds: u32 = r.read()?;
        if seconds == 0 || seconds > MAX_REQUEST_DELAY_SECS {
            return Err(Error::InvalidValue {
                what: "request delay",
                value: u64::from(seconds),
            });
        }
        Ok(RequestDelay { seconds })
    }
}

#[cfg(test)]
mod tests;
