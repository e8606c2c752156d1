//! PUSH on a connection (`docs/protocol.md` §5.11): an image streamed from the client to one
//! station or to every station of a type, each block opened with the client's context and
//! sealed again with each station link's own.
//!
//! Fan-out: each station has a task owning its link ([`station_leg`]); the connection reads
//! one `DATA` from the client and hands it to every station's task through a channel of
//! [`QUEUED_CHUNKS`]. A station that fails drops out — its task ends, its channel closes —
//! and the others go on; the answer says what became of each. Memory: one chunk read plus
//! at most [`QUEUED_CHUNKS`] per station, shared (`Arc`), and [`RECYCLED_CHUNKS`] kept to be
//! received into again; never the image. The client's `DATA` message is forwarded as it
//! came (checked, not copied) to every station that starts at its offset.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use burnstand_audit::Event;
use burnstand_wire::command::Reply;
use burnstand_wire::io::Session;
use burnstand_wire::link::LinkOpen;
use burnstand_wire::push::{
    PushData, PushOpen, PushReply, PushRequest, PushTarget, StationPushReply, TargetState,
    MAX_PUSH_TARGETS, PUSH_VERSION,
};
use burnstand_wire::IoError;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::{record, Connection, End};
use crate::audit;
use crate::config::StationConfig;
use crate::flood;
use crate::server::Shared;

/// Chunks queued per station ahead of its link: enough to keep a link busy while the next
/// chunk is read, few enough that a push holds at most `QUEUED_CHUNKS + 1` chunks per
/// station.
pub const QUEUED_CHUNKS: usize = 2;

/// Chunks the connection keeps after handing them to the stations, to receive into again
/// once every station has sent them: a station holds at most `QUEUED_CHUNKS + 1`, so the
/// oldest of these is usually free. They are chunks the stations hold anyway; at most this
/// many more (4 × 512 KiB) when stations drop out early.
pub const RECYCLED_CHUNKS: usize = QUEUED_CHUNKS + 2;

/// Longest a push waits for the client's next chunk.
pub const PUSH_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest a station may take to answer the push (it re-reads what it has of the image to
/// resume) and, after the last chunk, to check, sync and publish the image.
pub const PUSH_FINISH_TIMEOUT: Duration = Duration::from_secs(300);

/// One chunk of the image as the client sent it, shared by every station's leg.
struct Chunk {
    /// Where its bytes start in the image.
    offset: u64,
    /// Where they end.
    end: u64,
    /// The client's `DATA` message, checked: `PushData { offset, bytes }` encoded, the bytes
    /// last.
    message: Vec<u8>,
}

impl Chunk {
    /// The image's bytes in the chunk (the message was checked when it arrived).
    fn bytes(&self) -> &[u8] {
        PushData::parse(&self.message).map_or(&[], |(_, bytes)| bytes)
    }
}

/// A station that takes the bytes: its offset, its queue, its leg.
type ReadyLeg = (
    u64,
    mpsc::Sender<Arc<Chunk>>,
    tokio::task::JoinHandle<PushTarget>,
);

/// What a station's leg starts with.
enum Opened {
    /// Takes the bytes from `offset`; chunks go to `chunks`, the leg's end is `done`.
    Ready {
        offset: u64,
        chunks: mpsc::Sender<Arc<Chunk>>,
        done: tokio::task::JoinHandle<PushTarget>,
    },
    /// Stored (the image was there already) or failed: the final state.
    Final(PushTarget),
}

impl Connection {
    /// PUSH: checked, audited, fanned out, answered with PUSHDONE.
    pub(super) async fn push(
        &mut self,
        session: &mut Session<TcpStream>,
        request: &PushRequest,
    ) -> Option<End> {
        let admin = self.shared.config.admin.permits(&self.principal);
        let target = if request.station.is_empty() {
            format!("type {}", request.type_id)
        } else {
            request.station.clone()
        };
        // Admins push anything; other users only unrestricted images, and only to stations
        // whose `[push] users` allows it (the station decides that).
        if !admin && request.image.restricted {
            let event = audit::admin(
                self.conn_id,
                &self.principal,
                "PUSH (refused: not an admin)",
                &target,
            );
            if !self.record_within(flood::Kind::CommandInvalid, event).await {
                return Some(End::AuditFailed);
            }
            let reason = "you are not in the master's admin group (users may push only \
                          unrestricted images, where a station allows it)";
            return self.push_reply(session, refused(reason)).await;
        }
        let word = if admin { "PUSH" } else { "PUSH (user)" };
        let event = audit::admin(self.conn_id, &self.principal, word, &target);
        if !self.push_record(admin, event).await {
            return Some(End::AuditFailed);
        }
        let stations = match self.push_targets(request) {
            Ok(stations) => stations,
            Err(reason) => return self.push_reply(session, refused(&reason)).await,
        };
        info!(image = %request.image.id, size = request.image.size, stations = stations.len(), "push");
        let open = PushOpen {
            version: PUSH_VERSION,
            user: self.principal.as_str().to_owned(),
            user_exported: self.principal.exported().to_vec(),
            admin,
            image: request.image.clone(),
        };
        let legs = stations
            .into_iter()
            .map(|s| tokio::spawn(open_leg(Arc::clone(&self.shared), s, open.clone())));
        let mut ready: Vec<ReadyLeg> = Vec::new();
        let mut finals = Vec::new();
        let mut announced = Vec::new();
        for leg in legs {
            let (name, opened) = match leg.await {
                Ok(opened) => opened,
                Err(e) => {
                    warn!(error = %e, "a push leg failed");
                    continue;
                }
            };
            match opened {
                Opened::Ready {
                    offset,
                    chunks,
                    done,
                } => {
                    announced.push(target_state(&name, TargetState::Ready, offset, ""));
                    ready.push((offset, chunks, done));
                }
                Opened::Final(final_target) => {
                    announced.push(final_target.clone());
                    finals.push(final_target);
                }
            }
        }
        if ready.is_empty() {
            return self.push_done(session, request, finals, "done").await;
        }
        let from = ready.iter().map(|r| r.0).min().unwrap_or(0);
        let start = PushReply::Start {
            from,
            targets: announced,
        };
        if let Some(end) = self.push_reply(session, start).await {
            drop(ready);
            self.push_audit(request, &finals, "client lost").await;
            return Some(end);
        }
        let (streamed, lost) = self.stream(session, request, from, &mut ready).await;
        for (_, chunks, done) in ready {
            drop(chunks);
            match done.await {
                Ok(target) => finals.push(target),
                Err(e) => warn!(error = %e, "a push leg failed"),
            }
        }
        match lost {
            None => self.push_done(session, request, finals, "done").await,
            Some(reason) => {
                info!(streamed, reason = %reason, "push interrupted by the client");
                self.push_audit(request, &finals, "client lost").await;
                Some(End::Lost(reason))
            }
        }
    }

    /// The stations a push goes to, or why there are none.
    fn push_targets(&self, request: &PushRequest) -> Result<Vec<StationConfig>, String> {
        let registry = &self.shared.registry;
        let indexes = if request.station.is_empty() {
            registry
                .types()
                .iter()
                .find(|t| t.record.id == request.type_id)
                .map(|t| t.stations.clone())
                .ok_or_else(|| format!("no station type has the id {}", request.type_id))?
        } else {
            vec![registry
                .station_index(&request.station)
                .ok_or_else(|| format!("no station is named {:?}", request.station))?]
        };
        Ok(indexes
            .into_iter()
            .take(MAX_PUSH_TARGETS)
            .filter_map(|i| registry.station(i))
            .collect())
    }

    /// Reads the image's chunks from the client and hands each to every station still in
    /// the push; the bytes read, and why the client was lost (if it was).
    async fn stream(
        &self,
        session: &mut Session<TcpStream>,
        request: &PushRequest,
        from: u64,
        ready: &mut [ReadyLeg],
    ) -> (u64, Option<String>) {
        let size = request.image.size;
        let mut next = from;
        // The last chunks handed out, oldest first: once every station is done with one,
        // its buffer takes the next message (no allocation per chunk).
        let mut handed: VecDeque<Arc<Chunk>> = VecDeque::with_capacity(RECYCLED_CHUNKS + 1);
        while next < size {
            let mut bytes = Vec::new();
            if handed.len() >= RECYCLED_CHUNKS {
                if let Some(Ok(old)) = handed.pop_front().map(Arc::try_unwrap) {
                    bytes = old.message;
                }
            }
            let received = tokio::select! {
                biased;
                () = self.registration.cancelled().cancelled() => return (next, Some("cancelled".into())),
                received = tokio::time::timeout(PUSH_IDLE_TIMEOUT, session.recv_bytes_into(&mut bytes)) => received,
            };
            match received {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return (next, Some(e.to_string())),
                Err(_) => return (next, Some("no data from the client in time".into())),
            }
            // Checked without copying the bytes; they go on as they came.
            let (offset, end) = match PushData::parse(&bytes) {
                Ok((offset, data)) => (offset, offset.saturating_add(data.len() as u64)),
                Err(e) => return (next, Some(format!("not a chunk: {e}"))),
            };
            if offset != next || end > size {
                return (next, Some("a chunk out of place".into()));
            }
            next = end;
            // Stations starting at the same offset get the client's very message, sealed
            // for their link, without a copy per station.
            let chunk = Arc::new(Chunk {
                offset,
                end,
                message: bytes,
            });
            for (_, chunks, _) in ready.iter_mut() {
                // A station that dropped out has closed its channel: the others go on.
                let _ = chunks.send(Arc::clone(&chunk)).await;
            }
            handed.push_back(chunk);
        }
        (next - from, None)
    }

    /// Records `image.push` and answers PUSHDONE.
    async fn push_done(
        &self,
        session: &mut Session<TcpStream>,
        request: &PushRequest,
        targets: Vec<PushTarget>,
        result: &str,
    ) -> Option<End> {
        if !self.push_audit(request, &targets, result).await {
            return Some(End::AuditFailed);
        }
        self.push_reply(session, PushReply::Done { targets }).await
    }

    /// A push's record: an admin's always, a user's within the user's refusal budget (a
    /// user can repeat pushes that stations refuse at will); false if the log failed.
    async fn push_record(&self, admin: bool, event: Event) -> bool {
        if admin {
            record(&self.shared, event).await
        } else {
            self.record_within(flood::Kind::CommandInvalid, event).await
        }
    }

    /// The master's `image.push` record; false if the log failed.
    async fn push_audit(
        &self,
        request: &PushRequest,
        targets: &[PushTarget],
        result: &str,
    ) -> bool {
        let image = &request.image;
        let outcomes: Vec<String> = targets
            .iter()
            .map(|t| match t.state {
                TargetState::Stored => format!("{}: stored", t.station),
                TargetState::Ready => format!("{}: incomplete", t.station),
                TargetState::Failed => format!("{}: failed: {}", t.station, t.text),
            })
            .collect();
        let event = Event::new("image.push")
            .field("conn", self.conn_id)
            .field("principal", self.principal.as_str())
            .field("image_id", image.id.as_str())
            .field("image_name", image.name.as_str())
            .field("restricted", image.restricted)
            .field("size", image.size)
            .field("sha256", image.sha256.to_hex())
            .field("md5", image.md5.to_hex())
            .field("stations", outcomes.join("; "))
            .field(
                "stored",
                targets
                    .iter()
                    .filter(|t| t.state == TargetState::Stored)
                    .count() as u64,
            )
            .field("result", result);
        let admin = self.shared.config.admin.permits(&self.principal);
        self.push_record(admin, event).await
    }

    async fn push_reply(&self, session: &mut Session<TcpStream>, reply: PushReply) -> Option<End> {
        session
            .send(&reply)
            .await
            .err()
            .map(|e| End::Lost(e.to_string()))
    }
}

fn refused(reason: &str) -> PushReply {
    PushReply::Refused(Reply::ErrDenied(reason.to_owned()))
}

fn target_state(station: &str, state: TargetState, offset: u64, text: &str) -> PushTarget {
    PushTarget {
        station: station.to_owned(),
        state,
        offset,
        text: text.to_owned(),
    }
}

/// Opens the push link to one station and, if it is ready, starts its leg.
async fn open_leg(shared: Arc<Shared>, station: StationConfig, open: PushOpen) -> (String, Opened) {
    let name = station.name.clone();
    let failed = |reason: String| {
        warn!(station = %name, reason = %reason, "push: station failed");
        Opened::Final(target_state(&name, TargetState::Failed, 0, &reason))
    };
    let timeout = shared.config.limits.station_timeout;
    let mut linked =
        match crate::station::connect(&station, shared.initiator.clone(), timeout).await {
            Ok(linked) => linked,
            Err(e) => return (name.clone(), failed(e.to_string())),
        };
    let size = open.image.size;
    if let Err(e) = linked.session.send(&LinkOpen::Push(Box::new(open))).await {
        return (name.clone(), failed(e.to_string()));
    }
    let too_old = "station too old: its burnstand-station does not know image push; upgrade it";
    let answer = tokio::time::timeout(
        PUSH_FINISH_TIMEOUT,
        linked.session.recv::<StationPushReply>(),
    )
    .await;
    let offset = match answer {
        Ok(Ok(StationPushReply::Ready { offset })) if offset <= size => offset,
        Ok(Ok(StationPushReply::Ready { offset })) => {
            return (
                name.clone(),
                failed(format!(
                    "the station asked for offset {offset}, past the image's end"
                )),
            )
        }
        Ok(Ok(StationPushReply::Stored { file })) => {
            info!(station = %name, "push: the station has the image already");
            let target = target_state(&name, TargetState::Stored, size, &file);
            return (name.clone(), Opened::Final(target));
        }
        Ok(Ok(StationPushReply::Failed { reason })) => return (name.clone(), failed(reason)),
        Ok(Ok(StationPushReply::Unknown)) | Ok(Err(IoError::Closed)) => {
            return (name.clone(), failed(too_old.to_owned()))
        }
        Ok(Err(e)) => return (name.clone(), failed(e.to_string())),
        Err(_) => {
            return (
                name.clone(),
                failed("the station did not answer the push in time".into()),
            )
        }
    };
    let (chunks, rx) = mpsc::channel(QUEUED_CHUNKS);
    let done = tokio::spawn(station_leg(name.clone(), linked.session, rx, offset, size));
    (
        name,
        Opened::Ready {
            offset,
            chunks,
            done,
        },
    )
}

/// One station's leg: seals each chunk (from the station's offset on) for its link, and
/// reads its answer; ends early when the station answers before the end (a failure).
async fn station_leg(
    name: String,
    session: Session<TcpStream>,
    mut chunks: mpsc::Receiver<Arc<Chunk>>,
    offset: u64,
    size: u64,
) -> PushTarget {
    let failed = |reason: String| {
        warn!(station = %name, reason = %reason, "push: station failed");
        target_state(&name, TargetState::Failed, offset, &reason)
    };
    let (mut recv, mut send) = session.into_split();
    let answer = recv.recv::<StationPushReply>();
    tokio::pin!(answer);
    let mut sent = offset;
    while sent < size {
        let chunk = tokio::select! {
            chunk = chunks.recv() => chunk,
            early = &mut answer => return match early {
                Ok(StationPushReply::Failed { reason }) => failed(reason),
                Ok(other) => failed(format!("the station answered {other:?} before the end")),
                Err(e) => failed(e.to_string()),
            },
        };
        let Some(chunk) = chunk else {
            // The client is gone: the station keeps what it has for a resume.
            return failed(format!("the client's connection ended at byte {sent}"));
        };
        if chunk.end <= sent {
            continue;
        }
        let resent;
        let message = if chunk.offset == sent {
            &chunk.message
        } else {
            // A station resuming inside this chunk: only the bytes it lacks.
            let skip = usize::try_from(sent - chunk.offset).unwrap_or(usize::MAX);
            resent = PushData::encode_slice(sent, chunk.bytes().get(skip..).unwrap_or_default());
            &resent
        };
        if let Err(e) = send.send_bytes(message).await {
            return failed(e.to_string());
        }
        sent = chunk.end;
    }
    match tokio::time::timeout(PUSH_FINISH_TIMEOUT, &mut answer).await {
        Ok(Ok(StationPushReply::Stored { file })) => {
            info!(station = %name, "push: stored");
            target_state(&name, TargetState::Stored, offset, &file)
        }
        Ok(Ok(StationPushReply::Failed { reason })) => failed(reason),
        Ok(Ok(other)) => failed(format!("unexpected answer {other:?}")),
        Ok(Err(e)) => failed(e.to_string()),
        Err(_) => failed("the station did not confirm the image in time".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forwarded_chunk_has_the_client_bytes() {
        let bytes: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let message = PushData::encode_slice(4096, &bytes);
        let chunk = Chunk {
            offset: 4096,
            end: 4096 + 1000,
            message,
        };
        assert_eq!(chunk.bytes(), &bytes[..]);
    }
}
