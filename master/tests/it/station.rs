//! A small test station speaking the station handshake of `docs/protocol.md` §5.4:
//! GSSAPI accept (as the station principal; only the master may connect), then OK or
//! ERRNOTAVL, then the identity block, then an echo service: every block comes back prefixed
//! with `echo:`; when the master half-closes, the station sends `station saw EOF` and closes.
//!
//! It reports what it saw on a channel, so tests can assert on identities and closed links.

use std::net::SocketAddr;

use burnstand_wire::command::Identity;
use burnstand_wire::farm::StationState;
use burnstand_wire::gss::acceptor_credentials;
use burnstand_wire::io::Unauthenticated;
use burnstand_wire::link::{LinkOpen, MasterMessage, StationHello, StationMessage};
use burnstand_wire::IoError as Error;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::common::HANG_GUARD;

/// How the station answers the master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StationMode {
    Accept,
    /// Sends ERRNOTAVL after the handshake (e.g. a drive failure).
    Refuse,
    /// Reports once after WATCH, then says nothing more on its control link (a hung
    /// station host: the TCP connection stays up).
    Hangs,
    /// Serves its first link (the master's control link, opened at start) and refuses every
    /// later one with ERRNOTAVL: a station that fails between BIND and SERV.
    RefuseSessions,
    /// Nothing listens at the station's address.
    Unreachable,
    /// Takes an admin's FINISH but never answers FINISHED: the user leaves (having heard
    /// from the station why its job stopped) before the station's answer reaches the master.
    NeverFinishes,
    /// Reports a burn on every heartbeat after WATCH (copy 1 of 2, the percentage climbing
    /// 5 points a beat): progress for the status page to show.
    Burns,
}

/// What the station observed.
#[derive(Debug)]
pub enum StationEvent {
    /// A link opened; the identity block the master sent.
    Identity(Identity),
    /// A link ended (closed by the master, cleanly or not).
    Ended,
    /// A handshake or identity failed.
    Failed(String),
}

pub const EOF_REPLY: &[u8] = b"station saw EOF";

/// What the echo service puts before every block it sends back.
pub const ECHO_PREFIX: &[u8] = b"echo:";

/// The block the echo service got, from what it sent back; panics (the test fails) when the
/// answer is not an echo.
pub fn echoed(answer: &[u8]) -> &[u8] {
    answer
        .strip_prefix(ECHO_PREFIX)
        .unwrap_or_else(|| panic!("not an echo: {:?}", String::from_utf8_lossy(answer)))
}

pub struct TestStation {
    pub addr: SocketAddr,
    pub events: mpsc::UnboundedReceiver<StationEvent>,
}

impl TestStation {
    pub async fn start(
        own_principal: &str,
        master_principal: &str,
        mode: StationMode,
    ) -> TestStation {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind station");
        let addr = listener.local_addr().expect("station addr");
        let (tx, events) = mpsc::unbounded_channel();
        if mode == StationMode::Unreachable {
            drop(listener); // the port is now closed: connecting is refused
            return TestStation { addr, events };
        }
        let own = own_principal.to_owned();
        let master = master_principal.to_owned();
        tokio::spawn(async move {
            let mut accepted = 0usize;
            while let Ok((stream, _)) = listener.accept().await {
                let (tx, own, master) = (tx.clone(), own.clone(), master.clone());
                let mode = match mode {
                    StationMode::RefuseSessions if accepted > 0 => StationMode::Refuse,
                    StationMode::RefuseSessions => StationMode::Accept,
                    other => other,
                };
                accepted += 1;
                tokio::spawn(async move {
                    if let Err(e) = serve(stream, &own, &master, mode, &tx).await {
                        let _ = tx.send(StationEvent::Failed(e.to_string()));
                    }
                });
            }
        });
        TestStation { addr, events }
    }

    /// The next event, with a hang guard.
    pub async fn next_event(&mut self) -> StationEvent {
        let event = tokio::time::timeout(HANG_GUARD, self.events.recv())
            .await
            .expect("hang guard: station event")
            .expect("station task alive");
        if let StationEvent::Failed(reason) = &event {
            panic!("the test station failed: {reason}");
        }
        event
    }
}

async fn serve(
    stream: tokio::net::TcpStream,
    own: &str,
    master: &str,
    mode: StationMode,
    tx: &mpsc::UnboundedSender<StationEvent>,
) -> Result<(), Error> {
    // The listening port makes each test station's id unique.
    let port = stream.local_addr().map_or(0, |a| a.port());
    let cred = acceptor_credentials(own)?;
    let mut session = Unauthenticated::new(stream)
        .accept(cred, HANG_GUARD)
        .await?;
    assert_eq!(
        session.peer().as_str(),
        master,
        "only the master may connect to a station"
    );
    if mode == StationMode::Refuse {
        session.send(&StationHello::NotAvailable).await?;
        return Ok(());
    }
    let id = format!("test-station-{port}");
    session.send(&StationHello::ready(&id)).await?;
    let identity: Identity = match session.recv::<LinkOpen>().await? {
        LinkOpen::Session(identity) => identity,
        // Plays a station from before image push: it closes the link.
        LinkOpen::Push(_) => return Ok(()),
        LinkOpen::Control => {
            // The master's control link: this station burns nothing, so it only answers
            // the sync (no receipts) and the pings, and reports itself idle on every
            // heartbeat after WATCH, until the master closes it.
            let mut heartbeat: Option<tokio::time::Interval> = None;
            let mut percent = 0u32;
            loop {
                let beat = async {
                    match heartbeat.as_mut() {
                        Some(interval) => interval.tick().await,
                        None => std::future::pending().await,
                    }
                };
                let answer = tokio::select! {
                    message = session.recv::<MasterMessage>() => match message {
                        Ok(MasterMessage::Sync { .. }) => StationMessage::Synced {
                            head_seq: 0,
                            head_hash: burnstand_wire::burner::Sha256([0; 32]),
                        },
                        Ok(MasterMessage::Ping) => StationMessage::Pong,
                        Ok(MasterMessage::Finish { .. }) if mode == StationMode::NeverFinishes => {
                            continue
                        }
                        // It never burns: no copy runs, so a release may go ahead at once.
                        Ok(MasterMessage::Finish { session_id }) => {
                            StationMessage::Finished { session_id }
                        }
                        Ok(MasterMessage::Watch { .. }) if mode == StationMode::Hangs => {
                            session.send(&StationMessage::State(StationState::default())).await?;
                            while session.recv_bytes().await.is_ok() {}
                            return Ok(());
                        }
                        Ok(MasterMessage::Watch { heartbeat_ms }) => {
                            heartbeat = Some(tokio::time::interval(
                                std::time::Duration::from_millis(u64::from(heartbeat_ms)),
                            ));
                            continue;
                        }
                        Ok(_) => continue,
                        Err(_) => return Ok(()),
                    },
                    _ = beat => StationMessage::State(heartbeat_state(mode, &mut percent)),
                };
                session.send(&answer).await?;
            }
        }
    };
    let _ = tx.send(StationEvent::Identity(identity));
    loop {
        match session.recv_bytes().await {
            Ok(block) => {
                let mut reply = ECHO_PREFIX.to_vec();
                reply.extend_from_slice(&block);
                session.send_bytes(&reply).await?;
            }
            Err(Error::Closed) => {
                // The master passed on a half-close: we can still answer.
                let _ = session.send_bytes(EOF_REPLY).await;
                let _ = tx.send(StationEvent::Ended);
                return Ok(());
            }
            Err(_) => {
                let _ = tx.send(StationEvent::Ended);
                return Ok(());
            }
        }
    }
}

/// What a station in `mode` reports on a heartbeat: idle, or (`Burns`) a burn `percent`
/// further along.
fn heartbeat_state(mode: StationMode, percent: &mut u32) -> StationState {
    if mode != StationMode::Burns {
        return StationState::default();
    }
    *percent = (*percent + 5) % 100;
    StationState {
        activity: burnstand_wire::farm::Activity::Burning,
        image: "exam-2025".into(),
        copy: 1,
        copies: 2,
        percent: *percent,
        ..StationState::default()
    }
}
