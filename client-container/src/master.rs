//! A connection to the master: login, greeting, command mode (protocol.md §4–§5).
//!
//! The first connection is the **container connection**: it lists station types, reserves one
//! with BIND and holds the reservation until QUIT (or until it closes). A burner module opens a
//! second connection of the same kind and turns it into a pass-through with SERV
//! ([`MasterConnection::serv`], see [`crate::module`]).

use std::net::SocketAddr;
use std::time::Duration;

use burnstand_wire::command::{Command, Greeting, Reply, ServiceType, StationType};
use burnstand_wire::datastream::{from_bytes, Decode};
use burnstand_wire::io::{Session, Unauthenticated};
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
        Ok(MasterConnection { session, local })
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
        match recv::<Reply>(&mut self.session).await? {
            Reply::Ok => Ok(()),
            Reply::ErrUnaval => Err(ClientError::NoFreeStation {
                type_id: station_type.id,
                type_name: station_type.name.clone(),
                busy: None,
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
        self.session
            .recv_bytes()
            .await
            .map_err(ClientError::from_wire)
    }

    /// The answer to the command `what` just sent, bounded by [`REPLY_TIMEOUT`].
    pub async fn reply_bytes(&mut self, what: &str) -> Result<Vec<u8>, ClientError> {
        match tokio::time::timeout(REPLY_TIMEOUT, self.session.recv_bytes()).await {
            Ok(received) => received.map_err(ClientError::from_wire),
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
