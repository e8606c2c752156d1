//! The container connection to the master: login, greeting, command mode.

use std::time::Duration;

use burnstand_wire::command::{Command, Greeting, StationType};
use burnstand_wire::gss::initiator_credentials;
use burnstand_wire::io::{Session, Unauthenticated};
use burnstand_wire::Error as WireError;
use tokio::net::TcpStream;

use crate::ClientError;

/// How long the login (Kerberos handshake) may take, including the KDC round trip.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(15);

/// An authenticated connection to the master that has passed the greeting.
pub struct MasterConnection {
    session: Session<TcpStream>,
}

impl MasterConnection {
    /// Connects to `address`, logs in to `principal` with the user's ticket, checks the greeting.
    pub async fn connect(address: &str, principal: &str) -> Result<Self, ClientError> {
        let cred = initiator_credentials(None).map_err(ClientError::NoTicket)?;
        let stream =
            TcpStream::connect(address)
                .await
                .map_err(|source| ClientError::Unreachable {
                    address: address.to_owned(),
                    source,
                })?;
        let mut session = Unauthenticated::new(stream)
            .initiate(cred, principal, LOGIN_TIMEOUT)
            .await
            .map_err(ClientError::AuthenticationFailed)?;
        let greeting: Greeting = session.recv().await.map_err(ClientError::Connection)?;
        greeting.check().map_err(ClientError::Incompatible)?;
        Ok(MasterConnection { session })
    }

    /// The principal the master authenticated as (mutual authentication).
    pub fn master(&self) -> &str {
        self.session.peer().as_str()
    }

    /// LIST: the station types that have at least one healthy station.
    pub async fn list(&mut self) -> Result<Vec<StationType>, ClientError> {
        self.session
            .send(&Command::List)
            .await
            .map_err(ClientError::Connection)?;
        self.session.recv().await.map_err(ClientError::Connection)
    }

    /// QUIT: ends every connection of this user at the master and releases any station.
    pub async fn quit(mut self) -> Result<(), ClientError> {
        self.session
            .send(&Command::Quit)
            .await
            .map_err(ClientError::Connection)?;
        match self.session.recv::<burnstand_wire::command::Reply>().await {
            Ok(_) | Err(WireError::Closed) => Ok(()),
            Err(e) => Err(ClientError::Connection(e)),
        }
    }
}
