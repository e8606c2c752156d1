//! The audit records a station writes: one builder per kind of event, so every record of a
//! kind has the same fields in the same order.
//!
//! Every record names the station and, once the master has said whom a session is for, the
//! user and the session id the master's own records use, so an auditor can join both logs.
//! Images are named by id **and** digest (a file can be replaced; its SHA-256 cannot). Nothing
//! secret or bulky goes in: no tokens, keys or image bytes.
//!
//! | event | when |
//! |---|---|
//! | `station.start` / `station.stop` | the daemon starts serving / stops |
//! | `session.deny` | an authenticated peer is not a trusted master (closed) |
//! | `session.refuse` | the drive or the audit log is unusable (ERRNOTAVL) |
//! | `session.start` / `session.end` | the identity block arrived / the session ended |
//! | `burn.deny` | a BURN was refused (unknown image, not allowed, busy, no disc, no space) |
//! | `burn.start` / `burn.end` | xorriso starts / has exited (ok or error) for one copy |
//! | `burn.verify` | the read-back finished: pass or fail, with all digests |
//! | `burn.receipt` | a copy ended, whatever the outcome: the record the user gets (RECEIPT) and quotas count; `interrupted` when the station closed it at start-up |
//! | `burn.cancel` | a burn was cancelled (CANCEL, session lost, shutdown) |
//! | `burn.abort` | a burn stopped on an error without a record of its own (no disc for the next copy, drive query failed) |
//! | `tray.open` | the tray was opened (OPEN, or after a burn) |
//! | `control.link` | a master's control link came up or went down |

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use burnstand_audit::Event;
use burnstand_policy::RECEIPT_EVENT;
use burnstand_wire::burner::Md5;

use crate::burn::ReadBack;
use crate::image::Image;

/// Whom a session is for, as far as the station knows: the master it authenticated and the
/// user the master named in the identity block.
#[derive(Debug, Clone)]
pub struct Who {
    /// The station's own id.
    pub station: String,
    /// The connection number (also in the tracing span).
    pub conn: u64,
    /// The master's socket address.
    pub peer: SocketAddr,
    /// The authenticated master principal, display form.
    pub master: String,
    /// The master's exported name: the control link that grants this session's copies.
    pub master_exported: Vec<u8>,
    /// The user, display form.
    pub user: String,
    /// The user's exported name (policy compares this).
    pub user_exported: Vec<u8>,
    /// The reservation's id, shared with the master's records.
    pub session_id: String,
    /// The user's client address as the master saw it.
    pub client: String,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn session(name: &str, who: &Who) -> Event {
    Event::new(name)
        .field("station", &who.station)
        .field("conn", who.conn)
        .field("user", &who.user)
        .field("session_id", &who.session_id)
}

fn image(event: Event, image: &Image) -> Event {
    event
        .field("image", &image.id)
        .field("image_sha256", image.digests.sha256.to_hex())
        .field("image_md5", image.digests.md5.to_hex())
        .field("bytes", image.size)
}

/// The daemon starts serving.
pub fn station_start(station: &str, listen: SocketAddr, drive: &str) -> Event {
    Event::new("station.start")
        .field("station", station)
        .field("listen", listen)
        .field("drive", drive)
}

/// The daemon stops serving.
pub fn station_stop(station: &str) -> Event {
    Event::new("station.stop").field("station", station)
}

/// An authenticated peer that is not a trusted master.
pub fn session_deny(station: &str, conn: u64, peer: SocketAddr, principal: &str) -> Event {
    Event::new("session.deny")
        .field("station", station)
        .field("conn", conn)
        .field("peer", peer)
        .field("principal", principal)
        .field("reason", "not a trusted master")
}

/// A trusted master was answered ERRNOTAVL.
pub fn session_refuse(
    station: &str,
    conn: u64,
    peer: SocketAddr,
    principal: &str,
    reason: &str,
) -> Event {
    Event::new("session.refuse")
        .field("station", station)
        .field("conn", conn)
        .field("peer", peer)
        .field("principal", principal)
        .field("reason", reason)
}

/// The session is attributed to a user.
pub fn session_start(who: &Who) -> Event {
    session("session.start", who)
        .field("master", &who.master)
        .field("peer", who.peer)
        .field("client", &who.client)
}

/// The session ended.
pub fn session_end(who: &Who, reason: &str) -> Event {
    session("session.end", who).field("reason", reason)
}

/// A BURN refused before anything was written.
pub fn burn_deny(who: &Who, image_id: &str, reason: &str) -> Event {
    session("burn.deny", who)
        .field("image", image_id)
        .field("reason", reason)
}

/// xorriso is about to start on copy `copy` of `copies`, whose id is `copy_id`. Carries
/// everything a receipt needs, so a copy the station never finished (it was killed) can be
/// closed with an `interrupted` receipt at the next start (`reconcile`).
pub fn burn_start(
    who: &Who,
    img: &Image,
    copy_id: &str,
    drive: &str,
    copy: u32,
    copies: u32,
) -> Event {
    image(session("burn.start", who), img)
        .field("copy_id", copy_id)
        .field("user_exported", hex::encode(&who.user_exported))
        .field("image_name", &img.name)
        .field("drive", drive)
        .field("copy", copy)
        .field("copies", copies)
}

/// A master's control link came up (`state` "up") or went down (`state` is why).
pub fn control_link(
    station: &str,
    conn: u64,
    peer: SocketAddr,
    master: &str,
    state: &str,
) -> Event {
    Event::new("control.link")
        .field("station", station)
        .field("conn", conn)
        .field("peer", peer)
        .field("master", master)
        .field("state", state)
}

/// xorriso has exited for one copy.
pub fn burn_end(who: &Who, img: &Image, copy: u32, took: Duration, error: Option<&str>) -> Event {
    let e = image(session("burn.end", who), img)
        .field("copy", copy)
        .field("ok", error.is_none())
        .field("duration_ms", ms(took));
    match error {
        Some(text) => e.field("error", text),
        None => e,
    }
}

/// The read-back of one copy finished: what it read (exactly the image's length unless the
/// disc ended early), and whether that matched the image (`passed`).
pub fn burn_verify(
    who: &Who,
    img: &Image,
    copy: u32,
    readback: &ReadBack,
    passed: bool,
    took: Duration,
) -> Event {
    verify_record(
        who,
        img,
        copy,
        passed,
        Some(readback.md5),
        readback.bytes,
        took,
    )
}

/// The read-back of one copy failed before it finished (`error` says why): the copy is
/// unverified, and the record says so with no digest and no bytes read.
pub fn burn_verify_failed(who: &Who, img: &Image, copy: u32, took: Duration, error: &str) -> Event {
    verify_record(who, img, copy, false, None, 0, took).field("error", error)
}

/// The fields every `burn.verify` record has, in their order; only a failed read-back adds
/// `error` after them.
fn verify_record(
    who: &Who,
    img: &Image,
    copy: u32,
    passed: bool,
    readback_md5: Option<Md5>,
    read_bytes: u64,
    took: Duration,
) -> Event {
    image(session("burn.verify", who), img)
        .field("copy", copy)
        .field("passed", passed)
        .field(
            "readback_md5",
            readback_md5.map(|m| m.to_hex()).unwrap_or_default(),
        )
        .field("read_bytes", read_bytes)
        .field("duration_ms", ms(took))
}

/// A burn was cancelled during `phase`.
pub fn burn_cancel(who: &Who, img: &Image, copy: u32, phase: &str, reason: &str) -> Event {
    image(session("burn.cancel", who), img)
        .field("copy", copy)
        .field("phase", phase)
        .field("reason", reason)
}

/// A burn stopped on an error that had no record of its own (no disc between copies, a
/// drive query failed): the ERROR the user gets is never the only trace.
pub fn burn_abort(who: &Who, img: &Image, copy: u32, reason: &str) -> Event {
    image(session("burn.abort", who), img)
        .field("copy", copy)
        .field("reason", reason)
}

/// The tray was opened.
pub fn tray_open(who: &Who, reason: &str) -> Event {
    session("tray.open", who).field("reason", reason)
}

/// How a copy ended, as its receipt says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyResult {
    Verified,
    VerifyFailed,
    Failed,
    Cancelled,
}

impl CopyResult {
    fn word(self) -> &'static str {
        match self {
            CopyResult::Verified => "verified",
            CopyResult::VerifyFailed => "verify_failed",
            CopyResult::Failed => "failed",
            CopyResult::Cancelled => "cancelled",
        }
    }
}

/// What a receipt records about one copy, besides who and which image.
#[derive(Debug, Clone, Copy)]
pub struct CopyOutcome<'a> {
    pub copy: u32,
    /// The copy's UUID: its grant, `burn.start` and receipt carry it; quotas count it once.
    pub copy_id: &'a str,
    pub copies: u32,
    pub result: CopyResult,
    pub readback_md5: Option<Md5>,
    pub start: SystemTime,
    pub end: SystemTime,
}

fn utc(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The `burn.receipt` of one copy (fields as `docs/station.md` lists them).
pub fn burn_receipt(who: &Who, img: &Image, drive: &str, outcome: &CopyOutcome<'_>) -> Event {
    Event::new(RECEIPT_EVENT)
        .field("copy_id", outcome.copy_id)
        .field("station", &who.station)
        .field("drive", drive)
        .field("session_id", &who.session_id)
        .field("user", &who.user)
        .field("user_exported", hex::encode(&who.user_exported))
        .field("image_id", &img.id)
        .field("image_name", &img.name)
        .field("sha256", img.digests.sha256.to_hex())
        .field("md5", img.digests.md5.to_hex())
        .field(
            "readback_md5",
            outcome.readback_md5.map(|m| m.to_hex()).unwrap_or_default(),
        )
        .field("bytes", img.size)
        .field("copy", outcome.copy)
        .field("copies", outcome.copies)
        .field("result", outcome.result.word())
        .field("start", utc(outcome.start))
        .field("end", utc(outcome.end))
}
