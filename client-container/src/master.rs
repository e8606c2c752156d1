//! A connection to the master: login, greeting, command mode (protocol.md §4–§5).
//!
//! The first connection is the **container connection**: it lists station types, reserves one
//! with BIND and holds the reservation until QUIT (or until it closes). A burner module opens a
//! second connection of the same kind and turns it into a pass-through with SERV
//! ([`MasterConnection::serv`], see [`crate::module`]).
//!
//! Right after the greeting the client says HELLO with its version (the protocol nucleus,
//! protocol.md §4.5): a new master answers with its notices, which are printed once per
//! process ([`show_notices`]), or refuses a client that is too old; an old master answers
//! ERRINVCMD and everything goes on as before. A welcomed connection may then get a DELAY
//! before a refusal: it is kept as [`MasterConnection::request_delay`] for the caller.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use burnstand_wire::command::{Command, Greeting, Reply, ServiceType, StationType};
use burnstand_wire::datastream::{from_bytes, Decode};
use burnstand_wire::io::{Session, Unauthenticated};
use burnstand_wire::nucleus::{
    self, ClientVersion, Hello, HelloReply, Notice, RequestDelay, NUCLEUS_VERSION,
};
use burnstand_wire::{Error as WireError, IoError};
use tokio::net::TcpStream;

use crate::config::Settings;
use crate::ticket::Ticket;
use crate::ClientError;

/// How long the login (Kerberos handshake) may take, including the KDC round trip.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the TCP connect may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the master may take to answer a command (it answers at once; this only guards
/// against a master that hangs).
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// An authenticated connection to the master that has passed the greeting.
pub struct MasterConnection {
    session: Session<TcpStream>,
    local: Option<SocketAddr>,
    /// The nucleus version HELLO agreed on; `None` with a master from before the nucleus.
    nucleus: Option<u32>,
    /// The master's notices from WELCOME, high priority first.
    notices: Vec<Notice>,
    /// The last DELAY since the last command sent: the request_delay of the refusal that
    /// followed it, or of the master closing a queue wait as it shuts down.
    request_delay: Option<RequestDelay>,
}

/// This build's version, as HELLO states it.
pub fn client_version() -> ClientVersion {
    // Cargo versions of this crate are MAJOR.MINOR.PATCH (a unit test checks it); were one
    // ever not, the master would see 0.0.0 and a minimum would refuse it, saying so.
    env!("CARGO_PKG_VERSION")
        .parse()
        .unwrap_or(ClientVersion::new(0, 0, 0))
}

/// Whether the master's notices were printed in this process already (a burn opens a
/// container and a module connection; the person reads them once).
static NOTICES_SHOWN: AtomicBool = AtomicBool::new(false);

/// Prints no notices in this process (`--json`: stderr carries one JSON error at most).
pub fn silence_notices() {
    NOTICES_SHOWN.store(true, Ordering::Relaxed);
}

/// A notice as printed: its priority, then its text with any control character (a master's
/// bytes must not drive the terminal) replaced.
pub fn notice_line(notice: &Notice) -> String {
    let text: String = notice
        .text
        .chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    format!("master notice [{}]: {text}", notice.priority.name())
}

/// Prints `notices` on stderr, once per process, high priority first.
pub fn show_notices(notices: &[Notice]) {
    if notices.is_empty() || NOTICES_SHOWN.swap(true, Ordering::Relaxed) {
        return;
    }
    let mut stderr = std::io::stderr().lock();
    for notice in notices {
        let _ =
            std::io::Write::write_all(&mut stderr, format!("{}\n", notice_line(notice)).as_bytes());
    }
}

impl MasterConnection {
    /// Connects to the configured master, logs in with the user's ticket, checks the greeting.
    pub async fn connect(settings: &Settings, ticket: &Ticket) -> Result<Self, ClientError> {
        let address = settings.master.as_str();
        let unreachable = |source| ClientError::Unreachable {
            address: address.to_owned(),
            source,
        };
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address))
            .await
            .map_err(|_| {
                unreachable(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {CONNECT_TIMEOUT:?}"),
                ))
            })?
            .map_err(unreachable)?;
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().ok();
        let mut session = Unauthenticated::new(stream)
            .initiate(ticket.cred(), &settings.master_principal, LOGIN_TIMEOUT)
            .await
            .map_err(|e| login_failure(e, ticket))?;
        let greeting: Greeting = recv(&mut session).await?;
        greeting.check().map_err(ClientError::Incompatible)?;
        let mut connection = MasterConnection {
            session,
            local,
            nucleus: None,
            notices: Vec::new(),
            request_delay: None,
        };
        connection.hello().await?;
        show_notices(&connection.notices);
        Ok(connection)
    }

    /// HELLO: states this build's version. WELCOME keeps the notices; ERRVERSION is
    /// [`ClientError::ClientTooOld`]; ERRINVCMD (a master from before the nucleus) is fine.
    async fn hello(&mut self) -> Result<(), ClientError> {
        let hello = Hello {
            version: NUCLEUS_VERSION,
            client: client_version(),
        };
        self.send(&Command::Hello(hello)).await?;
        match self.reply::<HelloReply>("HELLO").await? {
            HelloReply::Welcome {
                version,
                mut notices,
            } => {
                nucleus::display_order(&mut notices);
                self.nucleus = Some(version);
                self.notices = notices;
                Ok(())
            }
            HelloReply::TooOld {
                needed,
                mut notices,
            } => {
                nucleus::display_order(&mut notices);
                // The notices go with the refusal, after its reason: not printed here.
                silence_notices();
                Err(ClientError::ClientTooOld {
                    have: hello.client.to_string(),
                    needed: needed.to_string(),
                    notices: notices.iter().map(notice_line).collect(),
                })
            }
            HelloReply::Refused(Reply::ErrInvCmd) => Ok(()),
            HelloReply::Refused(other) => Err(ClientError::Unexpected {
                peer: "the master",
                what: format!("{} in answer to HELLO", other.word()),
            }),
        }
    }

    /// The master's notices (WELCOME), high priority first; none from an old master.
    pub fn notices(&self) -> &[Notice] {
        &self.notices
    }

    /// The nucleus version agreed with the master; `None` for a master from before it.
    pub fn nucleus(&self) -> Option<u32> {
        self.nucleus
    }

    /// How long the master asked us to stay away (its last DELAY since the last command),
    /// in seconds: read it after a refusal or a lost queue wait.
    pub fn request_delay(&self) -> Option<u32> {
        self.request_delay.map(|d| d.seconds)
    }

    /// The next message that is not a DELAY; a DELAY is kept as [`Self::request_delay`].
    async fn next_message(&mut self) -> Result<Vec<u8>, ClientError> {
        loop {
            let bytes = self
                .session
                .recv_bytes()
                .await
                .map_err(ClientError::from_wire)?;
            match RequestDelay::parse(&bytes).filter(|_| self.nucleus.is_some()) {
                Some(delay) => self.request_delay = Some(delay),
                None => return Ok(bytes),
            }
        }
    }

    /// The principal the master authenticated as (mutual authentication).
    pub fn master(&self) -> &str {
        self.session.peer().as_str()
    }

    /// This end's address as the master sees it (on the campus network: no NAT in between).
    pub fn local_address(&self) -> Option<SocketAddr> {
        self.local
    }

    /// LIST: the station types with a healthy station this user may reserve.
    pub async fn list(&mut self) -> Result<Vec<StationType>, ClientError> {
        self.send(&Command::List).await?;
        let bytes = self.reply_bytes("LIST").await?;
        match from_bytes::<Vec<StationType>>(&bytes) {
            Ok(types) => Ok(types),
            // A master that does not take LIST from us answers with a word instead.
            Err(e) => match from_bytes::<Reply>(&bytes) {
                Ok(Reply::ErrInvCmd) => Err(ClientError::CommandRefused { command: "LIST" }),
                _ => Err(ClientError::Unexpected {
                    peer: "the master",
                    what: format!("an answer to LIST that is not a station list ({e})"),
                }),
            },
        }
    }

    /// BIND: reserves a station of `station_type` on this connection. ERRUNAVAL is
    /// [`ClientError::NoFreeStation`].
    pub async fn bind(&mut self, station_type: &StationType) -> Result<(), ClientError> {
        self.send(&Command::Bind(station_type.clone())).await?;
        match self.reply::<Reply>("BIND").await? {
            Reply::Ok => Ok(()),
            Reply::ErrUnaval => Err(ClientError::NoFreeStation {
                type_id: station_type.id,
                type_name: station_type.name.clone(),
                busy: None,
                retry_in: self.request_delay(),
            }),
            Reply::ErrDenied(reason) => Err(ClientError::Denied {
                type_name: station_type.name.clone(),
                reason,
            }),
            Reply::ErrInvCmd => Err(ClientError::CommandRefused { command: "BIND" }),
            other => Err(ClientError::Unexpected {
                peer: "the master",
                what: format!("{} in answer to BIND", other.word()),
            }),
        }
    }

    /// SERV: turns this (second) connection into a pass-through to `service` of the station
    /// the user reserved on the container connection.
    pub async fn serv(mut self, service: &ServiceType) -> Result<Session<TcpStream>, ClientError> {
        self.send(&Command::Serv(service.clone())).await?;
        match recv::<Reply>(&mut self.session).await {
            Ok(Reply::Ok) => Ok(self.session),
            Ok(Reply::ErrNoConn) => Err(ClientError::ReservationLost),
            Ok(Reply::ErrNotAvl) => Err(ClientError::StationNotAvailable(format!(
                "the master could not open its {} service",
                service.name
            ))),
            Ok(Reply::ErrInvCmd) => Err(ClientError::CommandRefused { command: "SERV" }),
            Ok(other) => Err(ClientError::Unexpected {
                peer: "the master",
                what: format!("{} in answer to SERV", other.word()),
            }),
            Err(e) => Err(e),
        }
    }

    /// Closes a connection that holds no reservation, without QUIT.
    ///
    /// QUIT ends **every** connection of the user at the master (the remote-laboratory design), including a
    /// reservation the same user holds in another burnstand — a burn in another terminal. So
    /// only the connection holding the reservation says QUIT; the others just close, which the
    /// master treats as a connection without a reservation ending.
    pub fn close(self) {
        drop(self.session);
    }

    /// QUIT: ends every connection of this user at the master and releases the station. Only
    /// for the container connection that holds the reservation (see [`Self::close`]).
    pub async fn quit(mut self) -> Result<(), ClientError> {
        self.send_quit().await
    }

    /// QUIT without giving up the value (the queue wait, which borrows the connection, must
    /// release a reservation that crossed its LEAVE). Nothing may be sent afterwards: the
    /// master has closed the connection.
    pub async fn send_quit(&mut self) -> Result<(), ClientError> {
        self.send(&Command::Quit).await?;
        // Skip what was pushed before the QUIT arrived (QUEUED, a LISTX answer): the master
        // answers OK and closes; a close without the OK means the same.
        let deadline = tokio::time::Instant::now() + REPLY_TIMEOUT;
        loop {
            match tokio::time::timeout_at(deadline, self.session.recv_bytes()).await {
                Ok(Ok(bytes)) if from_bytes::<Reply>(&bytes).is_ok() => return Ok(()),
                Ok(Ok(_)) => continue,
                Ok(Err(IoError::Closed)) => return Ok(()),
                Ok(Err(e)) => return Err(ClientError::from_wire(e)),
                Err(_) => return Err(no_answer("QUIT")),
            }
        }
    }

    /// Sends one command.
    pub async fn send(&mut self, command: &Command) -> Result<(), ClientError> {
        self.request_delay = None;
        self.session
            .send(command)
            .await
            .map_err(ClientError::from_wire)
    }

    /// Sends one message of a command's own protocol (an image push's chunks).
    pub async fn send_bytes(&mut self, message: &[u8]) -> Result<(), ClientError> {
        self.session
            .send_bytes(message)
            .await
            .map_err(ClientError::from_wire)
    }

    /// The next message, however long it takes (a queue wait, a held reservation). Cancel-safe:
    /// dropping the future loses nothing.
    pub async fn recv_bytes(&mut self) -> Result<Vec<u8>, ClientError> {
        self.next_message().await
    }

    /// The answer to the command `what` just sent, bounded by [`REPLY_TIMEOUT`].
    pub async fn reply_bytes(&mut self, what: &str) -> Result<Vec<u8>, ClientError> {
        match tokio::time::timeout(REPLY_TIMEOUT, self.next_message()).await {
            Ok(received) => received,
            Err(_) => Err(no_answer(what)),
        }
    }

    /// The answer to the command `what` just sent, decoded as `T`, bounded by [`REPLY_TIMEOUT`].
    pub async fn reply<T: Decode>(&mut self, what: &str) -> Result<T, ClientError> {
        let bytes = self.reply_bytes(what).await?;
        from_bytes::<T>(&bytes).map_err(|e| ClientError::Unexpected {
            peer: "the master",
            what: format!("an answer to {what} burnstand cannot read ({e})"),
        })
    }
}

/// Receives one message from the master, bounded by [`REPLY_TIMEOUT`].
async fn recv<T: Decode>(session: &mut Session<TcpStream>) -> Result<T, ClientError> {
    match tokio::time::timeout(REPLY_TIMEOUT, session.recv::<T>()).await {
        Ok(result) => result.map_err(ClientError::from_wire),
        Err(_) => Err(no_answer("a command")),
    }
}

fn no_answer(what: &str) -> ClientError {
    ClientError::ConnectionLost(format!(
        "the master did not answer {what} within {REPLY_TIMEOUT:?}; try again, and tell the lab staff if it persists"
    ))
}

/// What a failed handshake means for the user: an ended ticket, or a refused login.
fn login_failure(e: IoError, ticket: &Ticket) -> ClientError {
    let expired = match e.codec() {
        Some(WireError::ContextExpired) => true,
        Some(WireError::Gss { message, .. }) => message.to_ascii_lowercase().contains("expired"),
        _ => false,
    };
    if expired {
        ClientError::TicketExpired {
            for_whom: format!(" for {}", ticket.principal()),
        }
    } else {
        ClientError::AuthenticationFailed(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burnstand_wire::nucleus::Priority;

    #[test]
    fn this_builds_version_is_what_hello_states() {
        let text = env!("CARGO_PKG_VERSION");
        assert_eq!(text.parse::<ClientVersion>().ok(), Some(client_version()));
        assert_ne!(client_version(), ClientVersion::new(0, 0, 0));
    }

    #[test]
    fn a_notice_cannot_drive_the_terminal() {
        let notice = Notice {
            priority: Priority::High,
            text: "down at 18:00\u{1b}[2J\n".into(),
        };
        assert_eq!(
            notice_line(&notice),
            "master notice [high]: down at 18:00\u{fffd}[2J\u{fffd}"
        );
    }
}
