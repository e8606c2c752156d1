//! The burner module: the second connection, which SERVs the burner service and then speaks
//! the burner protocol with the reserved station through the master's relay
//! (protocol.md §6).
//!
//! Requests go out one at a time; events come back either as the answer or pushed (idle
//! AVAIL/EMPTY reports, progress, tray changes), so every wait for an answer skips the pushed
//! reports it is not waiting for.

use std::net::SocketAddr;
use std::time::Duration;

use burnstand_wire::burner::{Capabilities, Event, MediumInfo, Request};
use burnstand_wire::datastream::from_bytes;
use burnstand_wire::io::Session;
use tokio::net::TcpStream;

use crate::ClientError;

/// How long a station may take to answer CAPAB, WHATIS or OPEN. Each may run xorriso on the
/// drive (bounded at the station by two minutes) or hash newly published images.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(180);

/// An open pass-through to the reserved station's burner service.
pub struct BurnerModule {
    session: Session<TcpStream>,
    local: Option<SocketAddr>,
    /// The station's friendly name once known (for messages).
    station: String,
}

impl BurnerModule {
    /// Wraps a connection the master answered SERV with OK; `local` is this end's address,
    /// which the station records as the session's `client`.
    pub fn new(session: Session<TcpStream>, local: Option<SocketAddr>) -> Self {
        BurnerModule {
            session,
            local,
            station: "the station".to_owned(),
        }
    }

    /// This end's address (the `client` of the station's `session.start` record).
    pub fn local_address(&self) -> Option<SocketAddr> {
        self.local
    }

    /// The station's friendly name, or "the station" before CAPAB.
    pub fn station(&self) -> &str {
        &self.station
    }

    /// CAPAB: who the station is and which images it offers this user.
    pub async fn capabilities(&mut self) -> Result<Capabilities, ClientError> {
        self.send(&Request::Capab).await?;
        let cap = self
            .answer("CAPAB", |event| match event {
                Event::Cap(cap) => Some(cap),
                _ => None,
            })
            .await?;
        self.station = cap.friendly_name.clone();
        Ok(cap)
    }

    /// WHATIS: the disc in the drive.
    pub async fn medium(&mut self) -> Result<MediumInfo, ClientError> {
        self.send(&Request::WhatIs).await?;
        self.answer("WHATIS", |event| match event {
            Event::Info(info) => Some(info),
            _ => None,
        })
        .await
    }

    /// OPEN: opens the tray.
    pub async fn open_tray(&mut self) -> Result<(), ClientError> {
        self.send(&Request::Open).await?;
        self.answer("OPEN", |event| match event {
            Event::TrayOpen => Some(()),
            _ => None,
        })
        .await
    }

    /// Sends a request without waiting for its answer (BURN, CANCEL: the burn flow reads the
    /// events itself).
    pub async fn send(&mut self, request: &Request) -> Result<(), ClientError> {
        self.session.send(request).await.map_err(|e| self.lost(e))
    }

    /// The next event, however long it takes. Cancel-safe: dropping the future loses nothing.
    ///
    /// An event with a tag this build does not know is skipped: a newer station may push
    /// optional messages (new messages do not bump the protocol version). A known event that
    /// does not decode is a protocol error.
    pub async fn next_event(&mut self) -> Result<Event, ClientError> {
        loop {
            let bytes = self.session.recv_bytes().await.map_err(|e| self.lost(e))?;
            match from_bytes::<Event>(&bytes) {
                Ok(event) => return Ok(event),
                Err(burnstand_wire::Error::UnknownEvent) => continue,
                Err(e) => {
                    return Err(ClientError::Unexpected {
                        peer: "the station",
                        what: format!("a message burnstand cannot read ({e})"),
                    })
                }
            }
        }
    }

    /// Waits for the event `pick` accepts; pushed reports in between are skipped, an ERROR is
    /// the station's refusal.
    async fn answer<T>(
        &mut self,
        request: &'static str,
        pick: impl Fn(Event) -> Option<T>,
    ) -> Result<T, ClientError> {
        let wait = async {
            loop {
                let event = self.next_event().await?;
                if let Event::Error(report) = event {
                    return Err(ClientError::Station {
                        station: self.station.clone(),
                        code: report.code,
                        text: report.text,
                    });
                }
                let word = event.word();
                if let Some(answer) = pick(event) {
                    return Ok(answer);
                }
                if !is_pushed(word) {
                    return Err(ClientError::Unexpected {
                        peer: "the station",
                        what: format!("{word} in answer to {request}"),
                    });
                }
            }
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, wait).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::ConnectionLost(format!(
                "{} did not answer {request} within {REQUEST_TIMEOUT:?}; try again, and tell the lab staff if it persists",
                self.station
            ))),
        }
    }

    fn lost(&self, e: burnstand_wire::IoError) -> ClientError {
        match e {
            burnstand_wire::IoError::Closed
            | burnstand_wire::IoError::Codec(burnstand_wire::Error::UnterminatedBlock { .. }) => {
                ClientError::ConnectionLost(format!(
                    "the connection to {} closed (the master ended the session, or the station stopped); an unfinished burn is cancelled by the station",
                    self.station
                ))
            }
            other => ClientError::from_wire(other),
        }
    }
}

/// Events a station may push at any time, which are never the answer to a plain request.
fn is_pushed(word: &str) -> bool {
    matches!(word, "AVAIL" | "EMPTY" | "TRAYOPEN" | "STATUS")
}
