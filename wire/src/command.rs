//! The master's command mode: the greeting, the commands LIST, BIND, SERV, QUIT, and the replies
//! (HELLO and its answers, the protocol nucleus, are in [`crate::nucleus`]).
//!
//! The remote-laboratory design fixes the words and their meaning; `docs/protocol.md` §4 fixes the bytes. Each
//! command or reply is one TQDataStream message in one protected block: a TQString word,
//! followed by the command's argument, if it has one. Decoding is "parse, don't validate": a
//! [`Command`] value is a command the master understands, and anything else is an [`Error`]
//! the master answers with ERRINVCMD.

use crate::datastream::{ByteArray, Decode, Encode, Reader, Writer};
use crate::farm::Reserve;
use crate::limits::MAX_FARM_TEXT_LEN;
use crate::nucleus::Hello;
use crate::push::PushRequest;
use crate::{Error, Result};

/// Sent by the master right after authentication so a client can tell it reached burnstand.
/// The bytes spell "BURN" in ASCII.
pub const MAGIC: u32 = 0x4255_524E;

/// The protocol version this build speaks. Bumped only for incompatible changes; new optional
/// messages do not bump it (the protocol-nucleus design's "immutable nucleus").
pub const PROTOCOL_VERSION: u32 = 1;

/// The first protected message from the master: `TQ_UINT32 magic, TQ_UINT32 version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Greeting {
    pub magic: u32,
    pub version: u32,
}

impl Greeting {
    /// The greeting this build sends.
    pub const CURRENT: Greeting = Greeting {
        magic: MAGIC,
        version: PROTOCOL_VERSION,
    };

    /// Accepts a greeting only if it is burnstand's magic and a version we speak.
    pub fn check(self) -> Result<Self> {
        if self.magic != MAGIC {
            return Err(Error::BadMagic { found: self.magic });
        }
        if self.version != PROTOCOL_VERSION {
            return Err(Error::UnsupportedVersion {
                found: self.version,
                supported: PROTOCOL_VERSION,
            });
        }
        Ok(self)
    }
}

impl Encode for Greeting {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.magic).write(&self.version);
    }
}

impl Decode for Greeting {
    const MIN_LEN: usize = 8;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Greeting {
            magic: r.read()?,
            version: r.read()?,
        })
    }
}

/// A service a station offers (the burner service, later others): what a module asks for
/// with SERV. Encoded as `TQ_UINT32 id, TQString name, TQString description`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceType {
    pub id: u32,
    pub name: String,
    pub description: String,
}

impl ServiceType {
    /// The id of the burner service (the burner-farm design's burner protocol).
    pub const BURNER: u32 = 1;
}

impl Encode for ServiceType {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.id).write(&self.name).write(&self.description);
    }
}

impl Decode for ServiceType {
    const MIN_LEN: usize = 4 + 4 + 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(ServiceType {
            id: r.read()?,
            name: r.read()?,
            description: r.read()?,
        })
    }
}

/// A kind of station: stations with identical resources are consolidated into one type.
/// Encoded as `TQ_UINT32 id, TQValueList<ServiceType> services, TQString name,
/// TQString description`. BIND carries the record as LIST returned it; the master matches on
/// `id` alone.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StationType {
    pub id: u32,
    pub services: Vec<ServiceType>,
    pub name: String,
    pub description: String,
}

impl Encode for StationType {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.id)
            .write(&self.services)
            .write(&self.name)
            .write(&self.description);
    }
}

impl Decode for StationType {
    const MIN_LEN: usize = 4 + 4 + 4 + 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(StationType {
            id: r.read()?,
            services: r.read()?,
            name: r.read()?,
            description: r.read()?,
        })
    }
}

/// A command the master understands in command mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// List the station types with at least one healthy station. Answered with
    /// `TQValueList<StationType>`.
    List,
    /// Reserve a station of this type for the authenticated user (the container connection).
    Bind(StationType),
    /// Open a pass-through to this service of the user's reserved station (a module connection).
    Serv(ServiceType),
    /// End every connection of the user and release the station.
    Quit,
    // --- burner-farm extensions (§5.10); an old master answers each with ERRINVCMD ---
    /// `LISTX TQ_UINT32 version`: LIST with counts, in the highest version both know.
    ListX(u32),
    /// `RESERVE` + [`Reserve`]: BIND for one or several stations, a named one, waiting.
    Reserve(Reserve),
    /// `LEAVE`: leave the queue (while waiting after RESERVE with WAIT).
    Leave,
    /// `SREPORT`: the station report (admin group only).
    StationReport,
    /// `QREPORT`: the queue report (admin group only).
    QueueReport,
    /// `QCLEAR`: empty the queue; every waiting client is told (admin group only).
    QueueClear,
    /// `DRAIN TQString station`: let the running reservation finish, make no new one.
    Drain(String),
    /// `RESUME TQString station`: undo DRAIN.
    Resume(String),
    /// `RELEASE TQString station`: end the reservation holding the station once its running
    /// copy is done; never cuts a burn (admin group only).
    Release(String),
    /// `WHO`: who is logged in and what they hold (admin group only).
    Who,
    /// `PUSH` + [`PushRequest`]: send an image to stations (§5.11); the push sub-protocol
    /// follows on this connection. The master checks who may (admins; users only where
    /// allowed), so it is not in [`Command::is_admin`].
    Push(Box<PushRequest>),
    // --- protocol nucleus (§4.5); an old master answers it with ERRINVCMD ---
    /// `HELLO` + [`Hello`]: the client's version, once, right after the greeting. Answered
    /// with [`crate::nucleus::HelloReply`].
    Hello(Hello),
}

impl Command {
    /// The case-sensitive command word on the wire.
    pub fn word(&self) -> &'static str {
        match self {
            Command::List => "LIST",
            Command::Bind(_) => "BIND",
            Command::Serv(_) => "SERV",
            Command::Quit => "QUIT",
            Command::ListX(_) => "LISTX",
            Command::Reserve(_) => "RESERVE",
            Command::Leave => "LEAVE",
            Command::StationReport => "SREPORT",
            Command::QueueReport => "QREPORT",
            Command::QueueClear => "QCLEAR",
            Command::Drain(_) => "DRAIN",
            Command::Resume(_) => "RESUME",
            Command::Release(_) => "RELEASE",
            Command::Who => "WHO",
            Command::Push(_) => "PUSH",
            Command::Hello(_) => "HELLO",
        }
    }

    /// Whether only the configured admin group may send it.
    pub fn is_admin(&self) -> bool {
        matches!(
            self,
            Command::StationReport
                | Command::QueueReport
                | Command::QueueClear
                | Command::Drain(_)
                | Command::Resume(_)
                | Command::Release(_)
                | Command::Who
        )
    }
}

impl Encode for Command {
    fn encode(&self, w: &mut Writer) {
        w.write(self.word());
        match self {
            Command::Bind(station) => {
                w.write(station);
            }
            Command::Serv(service) => {
                w.write(service);
            }
            Command::ListX(version) => {
                w.write(version);
            }
            Command::Reserve(reserve) => {
                w.write(reserve);
            }
            Command::Drain(station) | Command::Resume(station) | Command::Release(station) => {
                w.write(station);
            }
            Command::Push(request) => {
                w.write(&**request);
            }
            Command::Hello(hello) => {
                w.write(hello);
            }
            Command::List
            | Command::Quit
            | Command::Leave
            | Command::StationReport
            | Command::QueueReport
            | Command::QueueClear
            | Command::Who => {}
        }
    }
}

impl Decode for Command {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let word: String = r.read()?;
        match word.as_str() {
            "LIST" => Ok(Command::List),
            "BIND" => Ok(Command::Bind(r.read()?)),
            "SERV" => Ok(Command::Serv(r.read()?)),
            "QUIT" => Ok(Command::Quit),
            "LISTX" => match r.read::<u32>()? {
                0 => Err(Error::InvalidValue {
                    what: "LISTX version",
                    value: 0,
                }),
                version => Ok(Command::ListX(version)),
            },
            "RESERVE" => Ok(Command::Reserve(r.read()?)),
            "LEAVE" => Ok(Command::Leave),
            "SREPORT" => Ok(Command::StationReport),
            "QREPORT" => Ok(Command::QueueReport),
            "QCLEAR" => Ok(Command::QueueClear),
            "DRAIN" => Ok(Command::Drain(station_name(r)?)),
            "RESUME" => Ok(Command::Resume(station_name(r)?)),
            "RELEASE" => Ok(Command::Release(station_name(r)?)),
            "WHO" => Ok(Command::Who),
            "PUSH" => Ok(Command::Push(Box::new(r.read()?))),
            "HELLO" => Ok(Command::Hello(r.read()?)),
            _ => Err(Error::UnknownCommand),
        }
    }
}

fn station_name(r: &mut Reader<'_>) -> Result<String> {
    crate::link::bounded("station name", r.read()?, MAX_FARM_TEXT_LEN)
}

/// The master's and the station's one-word replies (the remote-laboratory design), each a TQString.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reply {
    /// The command succeeded; after SERV, pass-through starts; from a station, the channel is up.
    Ok,
    /// Not a command, or not allowed in this state (SERV after BIND, anything but QUIT after BIND).
    ErrInvCmd,
    /// No station of the requested type is free (BIND); the client stays in command mode.
    ErrUnaval,
    /// SERV from a user who has no live container connection with a reserved station.
    ErrNoConn,
    /// The station's service could not be reached or refused; the connection is closed.
    ErrNotAvl,
    /// `ERRDENIED` + TQString reason: BIND refused by policy (no entitlement, quota used up,
    /// foreign realm, anonymous). The reason is for the user; command mode goes on.
    ErrDenied(String),
}

impl Reply {
    /// The case-sensitive reply text on the wire. "ERRUNAVAL" is spelled as in the remote-laboratory design.
    pub fn word(&self) -> &'static str {
        match self {
            Reply::Ok => "OK",
            Reply::ErrInvCmd => "ERRINVCMD",
            Reply::ErrUnaval => "ERRUNAVAL",
            Reply::ErrNoConn => "ERRNOCONN",
            Reply::ErrNotAvl => "ERRNOTAVL",
            Reply::ErrDenied(_) => "ERRDENIED",
        }
    }
}

impl Encode for Reply {
    fn encode(&self, w: &mut Writer) {
        w.write(self.word());
        if let Reply::ErrDenied(reason) = self {
            w.write(reason);
        }
    }
}

impl Decode for Reply {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let word: String = r.read()?;
        if word == "ERRDENIED" {
            return Ok(Reply::ErrDenied(r.read()?));
        }
        [
            Reply::Ok,
            Reply::ErrInvCmd,
            Reply::ErrUnaval,
            Reply::ErrNoConn,
            Reply::ErrNotAvl,
        ]
        .into_iter()
        .find(|reply| reply.word() == word)
        .ok_or(Error::UnknownReply)
    }
}

/// What the master tells a station about the user when it opens a link for a user's session
/// ([`crate::link::LinkOpen::Session`]), before the pass-through starts: `TQString user,
/// TQByteArray user_exported_name, TQString session_id, TQString client_address`.
///
/// The station authenticated the *master*, not the user; it attributes the session to `user`
/// because it trusts the master (its configured principal) to have authenticated them.
/// `user_exported_name` is the GSSAPI exported name, the form to compare in policy;
/// `user` is the display form for logs and receipts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub user_exported_name: Vec<u8>,
    pub session_id: String,
    pub client_address: String,
}

impl Encode for Identity {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.user)
            .write(&ByteArray(self.user_exported_name.clone()))
            .write(&self.session_id)
            .write(&self.client_address);
    }
}

impl Decode for Identity {
    const MIN_LEN: usize = 20;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let user = r.read()?;
        let ByteArray(user_exported_name) = r.read()?;
        let session_id = r.read()?;
        let client_address = r.read()?;
        Ok(Identity {
            user,
            user_exported_name,
            session_id,
            client_address,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datastream::{from_bytes, to_bytes};

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn burner() -> ServiceType {
        ServiceType {
            id: ServiceType::BURNER,
            name: "burner".into(),
            description: "DVD".into(),
        }
    }

    #[test]
    fn greeting_bytes_and_check() {
        assert_eq!(hex(&to_bytes(&Greeting::CURRENT)), "4255524e00000001");
        let bad = from_bytes::<Greeting>(&[0, 0, 0, 1, 0, 0, 0, 1]).and_then(Greeting::check);
        assert!(matches!(bad, Err(Error::BadMagic { found: 1 })));
        let future = Greeting {
            magic: MAGIC,
            version: 2,
        }
        .check();
        assert!(matches!(
            future,
            Err(Error::UnsupportedVersion {
                found: 2,
                supported: 1
            })
        ));
    }

    #[test]
    fn command_words_are_tqstrings() {
        assert_eq!(hex(&to_bytes(&Command::List)), "00000008004c004900530054");
        assert_eq!(hex(&to_bytes(&Command::Quit)), "000000080051005500490054");
    }

    #[test]
    fn serv_carries_the_service_record() {
        let bytes = to_bytes(&Command::Serv(burner()));
        let expected = concat!(
            "00000008",
            "0053004500520056", // "SERV"
            "00000001",         // id 1
            "0000000c",
            "006200750072006e00650072", // "burner"
            "00000006",
            "004400560044", // "DVD"
        );
        assert_eq!(hex(&bytes), expected);
        assert_eq!(
            from_bytes::<Command>(&bytes).ok(),
            Some(Command::Serv(burner()))
        );
    }

    #[test]
    fn bind_round_trips() {
        let station = StationType {
            id: 7,
            services: vec![burner()],
            name: "DVD burner".into(),
            description: "burner (DVD)".into(),
        };
        let bytes = to_bytes(&Command::Bind(station.clone()));
        assert_eq!(
            from_bytes::<Command>(&bytes).ok(),
            Some(Command::Bind(station))
        );
    }

    #[test]
    fn unknown_and_lowercase_words_are_invalid() {
        assert!(matches!(
            from_bytes::<Command>(&to_bytes("list")),
            Err(Error::UnknownCommand)
        ));
        assert!(matches!(
            from_bytes::<Command>(&to_bytes("DROP")),
            Err(Error::UnknownCommand)
        ));
        // A command with trailing bytes is not a command either.
        let mut bytes = to_bytes(&Command::Quit);
        bytes.push(0);
        assert!(matches!(
            from_bytes::<Command>(&bytes),
            Err(Error::TrailingData { extra: 1 })
        ));
    }

    #[test]
    fn identity_round_trips() {
        let identity = Identity {
            user: "alice@BURNSTAND.TEST".into(),
            user_exported_name: vec![4, 1, 0, 11],
            session_id: "6f1c".into(),
            client_address: "127.0.0.1:40000".into(),
        };
        let bytes = to_bytes(&identity);
        assert_eq!(&bytes[..4], &[0, 0, 0, 40]);
        assert_eq!(from_bytes::<Identity>(&bytes).ok(), Some(identity.clone()));
        // Link version 2 carries no prior-burn list: a version-1 block with one is refused.
        let mut old = bytes.clone();
        old.extend_from_slice(&[0, 0, 0, 0]);
        assert!(matches!(
            from_bytes::<Identity>(&old),
            Err(Error::TrailingData { extra: 4 })
        ));
    }

    #[test]
    fn errdenied_carries_its_reason() {
        let reply = Reply::ErrDenied("quota used up".into());
        let bytes = to_bytes(&reply);
        assert_eq!(
            hex(&bytes),
            "0000001200450052005200440045004e0049004500440000001a00710075006f0074006100200075007300650064002000750070"
        );
        assert_eq!(from_bytes::<Reply>(&bytes).ok(), Some(reply));
        // The reason is required.
        assert!(from_bytes::<Reply>(&to_bytes("ERRDENIED")).is_err());
    }

    #[test]
    fn every_reply_round_trips_with_its_seed_text() {
        for (reply, text) in [
            (Reply::Ok, "OK"),
            (Reply::ErrInvCmd, "ERRINVCMD"),
            (Reply::ErrUnaval, "ERRUNAVAL"),
            (Reply::ErrNoConn, "ERRNOCONN"),
            (Reply::ErrNotAvl, "ERRNOTAVL"),
        ] {
            assert_eq!(to_bytes(&reply), to_bytes(text));
            assert_eq!(from_bytes::<Reply>(&to_bytes(text)).ok(), Some(reply));
        }
        assert!(matches!(
            from_bytes::<Reply>(&to_bytes("ok")),
            Err(Error::UnknownReply)
        ));
    }
}
