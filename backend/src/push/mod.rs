//! Image push, the station's side (`docs/protocol.md` §5.11, `docs/station.md` "[push]"):
//! a master opens a link with `PUSH`, the station decides whether it takes the image, says
//! from which offset it wants the bytes, writes them to a partial file in its catalog
//! directory, checks SHA-256 and MD5 against what the client announced, publishes the image
//! (image first, sidecar last), and audits `image.pushed` before it says `PUSHED`.
//!
//! Only a trusted master can open the link (the station's "accepts only the master" rule
//! holds: it is one more link opening after the same handshake and trust check). The master
//! vouches for who pushes and whether they are an admin, as it vouches for a session's user.
//!
//! A user's push (`[push] users = true`, unrestricted images only) is theirs: its sidecar
//! names the `owner`, it counts in their `[push] user_quota_bytes` ([`quota`]) and a catalog
//! refresh removes it after `[push] user_image_lifetime` ([`sweep`]). A user may replace
//! only their own images.

mod quota;
mod store;
mod sweep;
mod writer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use burnstand_audit::Event;
use burnstand_wire::io::Session as WireSession;
use burnstand_wire::push::{PushData, PushOpen, StationPushReply};
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::station::Station;
use store::{Claim, Partial};
use writer::Writer;

pub use store::{partial_path, sidecar_path};
pub use sweep::refresh as refresh_catalog;

/// Longest the station waits for the next chunk. Longer than the master waits for the
/// slowest station's first answer (5 minutes: another station of the push may be re-reading
/// a large partial file) plus the client's own pause (60 s). A master silent for this long
/// has lost its client; the partial is kept.
pub const PUSH_IDLE_TIMEOUT: Duration = Duration::from_secs(400);

/// Default `[push] max_image_size`: 64 GiB, a dual-layer BD and then some.
pub const DEFAULT_MAX_IMAGE_SIZE: u64 = 64 << 30;

/// Default `[push] user_quota_bytes`: 8 GiB per user and station, two DVDs' worth. It
/// bounds the disk one user's pushes (published and partial) take at one station.
pub const DEFAULT_USER_QUOTA_BYTES: u64 = 8 << 30;

/// Default `[push] user_image_lifetime`: a week. A user's image is for a course or an exam
/// session, not for the catalog's lifetime.
pub const DEFAULT_USER_IMAGE_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// Default `[push] partial_lifetime`: a day. A partial file nobody has written to for this
/// long belongs to a push given up; it is removed so it does not hold disk forever.
pub const DEFAULT_PARTIAL_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// The `[push]` table of the station's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushSection {
    /// Whether admins (the master's admin group) may push images here. Default: true.
    #[serde(default = "default_true")]
    pub allow: bool,
    /// Whether other users may push their own unrestricted images. Default: false.
    #[serde(default)]
    pub users: bool,
    /// Largest image taken, in bytes.
    #[serde(default = "default_max_image_size")]
    pub max_image_size: u64,
    /// Most bytes one user's pushes may take at this station: their published images plus
    /// their partial files (each counted at its full announced size).
    #[serde(default = "default_user_quota_bytes")]
    pub user_quota_bytes: u64,
    /// How long a user's pushed image stays in the catalog (humantime: `"7d"`, `"12h"`),
    /// counted from its `pushed_at`; then a catalog refresh removes it (`image.expired`).
    #[serde(default = "default_user_image_lifetime", deserialize_with = "duration")]
    pub user_image_lifetime: Duration,
    /// How long a partial file may go unwritten before a catalog refresh removes it
    /// (`image.partial.removed`); a push given up leaks no disk.
    #[serde(default = "default_partial_lifetime", deserialize_with = "duration")]
    pub partial_lifetime: Duration,
}

impl Default for PushSection {
    fn default() -> Self {
        PushSection {
            allow: true,
            users: false,
            max_image_size: DEFAULT_MAX_IMAGE_SIZE,
            user_quota_bytes: DEFAULT_USER_QUOTA_BYTES,
            user_image_lifetime: DEFAULT_USER_IMAGE_LIFETIME,
            partial_lifetime: DEFAULT_PARTIAL_LIFETIME,
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_max_image_size() -> u64 {
    DEFAULT_MAX_IMAGE_SIZE
}

fn default_user_quota_bytes() -> u64 {
    DEFAULT_USER_QUOTA_BYTES
}

fn default_user_image_lifetime() -> Duration {
    DEFAULT_USER_IMAGE_LIFETIME
}

fn default_partial_lifetime() -> Duration {
    DEFAULT_PARTIAL_LIFETIME
}

/// A humantime duration (`"24h"`, `"7d"`), as elsewhere in the station's configuration.
fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(|e| {
        serde::de::Error::custom(format!(
            "{text:?} is not a duration like \"24h\" or \"7d\": {e}"
        ))
    })
}

/// Who opened the push link, for the records.
pub struct Pusher<'a> {
    pub conn: u64,
    pub peer: SocketAddr,
    /// The master, display form.
    pub master: &'a str,
}

/// Serves one push link to its end: every outcome is answered (if the link is still there)
/// and logged; refusals and publications are audited.
pub async fn serve(
    station: &Arc<Station>,
    mut wire: WireSession<TcpStream>,
    pusher: Pusher<'_>,
    open: PushOpen,
    shutdown: &CancellationToken,
) {
    let reply = match receive(station, &mut wire, &pusher, &open, shutdown).await {
        Ok(reply) => reply,
        Err(Lost(reason)) => {
            tracing::info!(reason = %reason, image = %open.image.id, "push interrupted; the partial image is kept for a resume");
            return;
        }
    };
    if let StationPushReply::Failed { reason } = &reply {
        tracing::warn!(image = %open.image.id, reason = %reason, "push refused");
        let event = record("image.push.refused", station, &pusher, &open).field("reason", reason);
        // A refusal anyone with a ticket can repeat (a user's push): within the user's and
        // the master's address's budget, like a refused session.
        let kind = crate::flood::Kind::SessionRefuse;
        let address = pusher.peer.ip();
        if let Err(e) = crate::flood::audit_within(station, kind, &open.user, address, event).await
        {
            tracing::error!(error = %e, "cannot audit a refused push");
        }
    }
    let _ = tokio::time::timeout(PUSH_IDLE_TIMEOUT, wire.send(&reply)).await;
}

/// The link is gone (or the station stops): nothing to answer.
struct Lost(String);

/// A refusal's answer.
fn failed(reason: impl Into<String>) -> StationPushReply {
    StationPushReply::Failed {
        reason: reason.into(),
    }
}

/// Decides, takes the bytes, checks and publishes; the answer to send, or `Lost`.
async fn receive(
    station: &Arc<Station>,
    wire: &mut WireSession<TcpStream>,
    pusher: &Pusher<'_>,
    open: &PushOpen,
    shutdown: &CancellationToken,
) -> Result<StationPushReply, Lost> {
    let image = &open.image;
    if let Some(refusal) = refusal(station, open) {
        return Ok(failed(refusal));
    }
    // Expired images and abandoned partials go first: they neither clash nor count.
    if let Err(e) = sweep::refresh(station).await {
        return Ok(failed(format!("the station cannot read its catalog: {e}")));
    }
    match clash(station, open).await {
        Clash::None => {}
        Clash::Same(file) => {
            tracing::info!(image = %image.id, "pushed image is in the catalog already");
            return Ok(StationPushReply::Stored { file });
        }
        Clash::Refused(reason) => return Ok(failed(reason)),
    }
    let dir = station.catalog().dir().to_owned();
    let path = partial_path(&dir, image);
    let Some(_claim) = Claim::take(&path) else {
        return Ok(failed(
            "this image is being pushed to this station already; wait for that push to end",
        ));
    };
    if !open.admin {
        if let Some(refusal) = reserve(station, open, &path).await {
            return Ok(failed(refusal));
        }
    }
    let size = image.size;
    let opened = blocking(move || Partial::open(&path, size)).await;
    let partial = match opened {
        Ok(partial) => partial,
        Err(e) => return Ok(failed(format!("the station cannot write its catalog: {e}"))),
    };
    let resumed = partial.len;
    tracing::info!(image = %image.id, offset = resumed, size, "push accepted");
    send(wire, &StationPushReply::Ready { offset: resumed }).await?;
    // Received chunks go to the writer (hashes and writes them) while the next one arrives.
    let mut writer = Writer::start(partial);
    let mut received = resumed;
    let mut out_of_place = None;
    while received < size {
        let Some(mut message) = writer.buffer().await else {
            // The writer stopped on an error: `finish` says which.
            break;
        };
        let got = tokio::select! {
            got = tokio::time::timeout(PUSH_IDLE_TIMEOUT, wire.recv_bytes_into(&mut message)) => got,
            () = shutdown.cancelled() => Ok(Err(burnstand_wire::IoError::Closed)),
        };
        match got {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return lost(writer, e.to_string()).await,
            Err(_) => return lost(writer, "no data from the master in time".into()).await,
        }
        let (offset, len) = match PushData::parse(&message) {
            Ok((offset, bytes)) => (offset, bytes.len() as u64),
            Err(e) => return lost(writer, format!("not an image chunk: {e}")).await,
        };
        let end = offset.saturating_add(len);
        if offset != received || end > size {
            out_of_place = Some(format!(
                "a chunk at offset {offset} of {len} bytes does not continue the {received} bytes \
                 the station has"
            ));
            break;
        }
        received = end;
        if !writer.write(message).await {
            // The writer stopped on an error: `finish` says which.
            break;
        }
    }
    let (mut partial, written) = writer.finish().await;
    if let Err(e) = written {
        return lost_partial(partial, format!("cannot write the image: {e}"))
            .await
            .or_else(|Lost(reason)| Ok(failed(reason)));
    }
    if let Some(reason) = out_of_place {
        return Ok(discard(partial, reason).await);
    }
    let (sha256, md5) = partial.digests();
    if sha256 != image.sha256 || md5 != image.md5 {
        let which = if sha256 != image.sha256 {
            "SHA-256"
        } else {
            "MD5"
        };
        let reason = format!(
            "the bytes received do not have the {which} the client announced; nothing was published"
        );
        return Ok(discard(partial, reason).await);
    }
    publish(station, pusher, open, partial, resumed).await
}

/// Checks a user's quota and reserves the image's size for them (its owner file); the
/// refusal, if the push may not go on.
async fn reserve(station: &Station, open: &PushOpen, partial: &std::path::Path) -> Option<String> {
    let quota = station.config().push.user_quota_bytes;
    let _publishing = store::PUBLISH.lock().await;
    let images = match station.catalog().refresh().await {
        Ok(images) => images,
        Err(e) => return Some(format!("the station cannot read its catalog: {e}")),
    };
    let dir = station.catalog().dir().to_owned();
    let (open2, partial) = (open.clone(), partial.to_owned());
    let reserved = blocking(move || {
        let used = quota::used(&dir, &images, &open2)?;
        if let Some(refusal) = quota::refusal(used, open2.image.size, quota) {
            return Ok(Some(refusal));
        }
        store::write_owner(&partial, &open2.user).map(|()| None)
    })
    .await;
    reserved.unwrap_or_else(|e| Some(format!("the station cannot write its catalog: {e}")))
}

/// Answers the master; a lost link is `Lost`.
async fn send(wire: &mut WireSession<TcpStream>, reply: &StationPushReply) -> Result<(), Lost> {
    wire.send(reply).await.map_err(|e| Lost(e.to_string()))
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(value) => value,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// The link was lost mid-push: what arrived (queued chunks included) is written and made
/// durable for a resume.
async fn lost(writer: Writer, reason: String) -> Result<StationPushReply, Lost> {
    let (partial, written) = writer.finish().await;
    if let Err(e) = written {
        tracing::warn!(error = %e, "cannot write a partial image");
    }
    lost_partial(partial, reason).await
}

/// [`lost`] once the writer has stopped.
async fn lost_partial(partial: Partial, reason: String) -> Result<StationPushReply, Lost> {
    let synced = blocking(move || partial.sync()).await;
    if let Err(e) = synced {
        tracing::warn!(error = %e, "cannot sync a partial image");
    }
    Err(Lost(reason))
}

/// Deletes a partial whose bytes are wrong; the refusal to send.
async fn discard(partial: Partial, reason: String) -> StationPushReply {
    let path = partial.path.clone();
    drop(partial);
    let removed = blocking(move || {
        store::remove_owner(&path);
        std::fs::remove_file(&path)
    })
    .await;
    if let Err(e) = removed {
        tracing::warn!(error = %e, "cannot remove a bad partial image");
    }
    failed(reason)
}

/// Why this station does not take this push at all, if it does not.
fn refusal(station: &Station, open: &PushOpen) -> Option<String> {
    let rules = &station.config().push;
    let image = &open.image;
    if open.admin && !rules.allow {
        return Some("this station takes no pushed images ([push] allow = false)".into());
    }
    if !open.admin && !rules.users {
        return Some(
            "this station takes images from the lab staff only ([push] users = false)".into(),
        );
    }
    if !open.admin && image.restricted {
        return Some("only the lab staff may push restricted images".into());
    }
    if image.size > rules.max_image_size {
        return Some(format!(
            "the image has {} bytes; this station takes images of at most {} bytes ([push] max_image_size)",
            image.size, rules.max_image_size
        ));
    }
    None
}

/// What the catalog already holds under the pushed id.
enum Clash {
    None,
    /// That very image (same id and SHA-256) is published, as this file.
    Same(String),
    Refused(String),
}

async fn clash(station: &Station, open: &PushOpen) -> Clash {
    let image = &open.image;
    let dir = station.catalog().dir().to_owned();
    let published = match station.catalog().refresh().await {
        Ok(images) => images.into_iter().find(|i| i.id == image.id),
        Err(e) => return Clash::Refused(format!("the station cannot read its catalog: {e}")),
    };
    if let Some(published) = published {
        let file = published
            .path
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or_default()
            .to_owned();
        if published.digests.sha256 == image.sha256 {
            return Clash::Same(file);
        }
        if !image.replace {
            return Clash::Refused(format!(
                "the catalog has another image with id {:?}; push with --replace to replace it",
                image.id
            ));
        }
        let theirs = published
            .owner
            .as_ref()
            .is_some_and(|o| o.user == open.user);
        if !open.admin && !theirs {
            return Clash::Refused(format!(
                "the image with id {:?} is not one you pushed; you may replace only your own \
                 images, push under another id",
                image.id
            ));
        }
        if file != image.id {
            return Clash::Refused(format!(
                "the image with id {:?} is published from the file {file:?}; only an image pushed \
                 under its own name can be replaced, ask the station's operator",
                image.id
            ));
        }
        return Clash::None;
    }
    let taken = [dir.join(&image.id), sidecar_path(&dir, &image.id)]
        .into_iter()
        .any(|p| std::fs::symlink_metadata(p).is_ok());
    if taken && (!image.replace || !open.admin) {
        return Clash::Refused(format!(
            "the catalog directory has a file named {:?} already; push under another id{}",
            image.id,
            if open.admin { " or with --replace" } else { "" }
        ));
    }
    Clash::None
}

/// Publishes a checked image and audits it; the answer.
async fn publish(
    station: &Arc<Station>,
    pusher: &Pusher<'_>,
    open: &PushOpen,
    partial: Partial,
    resumed: u64,
) -> Result<StationPushReply, Lost> {
    let image = &open.image;
    let dir = station.catalog().dir().to_owned();
    // Two pushes of other bytes under one id must not both publish: the check and the
    // renames are one step.
    let _publishing = store::PUBLISH.lock().await;
    if let Clash::Refused(reason) = clash(station, open).await {
        return Ok(discard(partial, reason).await);
    }
    let (dir2, image2) = (dir.clone(), image.clone());
    let provenance = store::Provenance {
        by: open.user.clone(),
        at: std::time::SystemTime::now(),
        owned: !open.admin,
    };
    let published = blocking(move || store::publish(&dir2, partial, &image2, &provenance)).await;
    if let Err(e) = published {
        return Ok(failed(format!("the station cannot publish the image: {e}")));
    }
    let event = record("image.pushed", station, pusher, open)
        .field("file", image.id.as_str())
        .field("owned", !open.admin)
        .field("resumed_from", resumed);
    if let Err(e) = station.audit(event).await {
        tracing::error!(error = %e, "cannot audit a pushed image; taking it back");
        let id = image.id.clone();
        if let Err(e) = blocking(move || store::unpublish(&dir, &id)).await {
            tracing::error!(error = %e, "cannot take back an unaudited image");
        }
        return Ok(failed(
            "the station's audit log failed; the image was not published",
        ));
    }
    tracing::info!(image = %image.id, bytes = image.size, resumed_from = resumed, "image pushed");
    Ok(StationPushReply::Stored {
        file: image.id.clone(),
    })
}

/// A push record: who, from where, which image.
fn record(name: &str, station: &Station, pusher: &Pusher<'_>, open: &PushOpen) -> Event {
    let image = &open.image;
    Event::new(name)
        .field("station", station.id())
        .field("conn", pusher.conn)
        .field("peer", pusher.peer)
        .field("master", pusher.master)
        .field("user", open.user.as_str())
        .field("user_exported", hex::encode(&open.user_exported))
        .field("admin", open.admin)
        .field("image_id", image.id.as_str())
        .field("image_name", image.name.as_str())
        .field("restricted", image.restricted)
        .field("size", image.size)
        .field("sha256", image.sha256.to_hex())
        .field("md5", image.md5.to_hex())
}
