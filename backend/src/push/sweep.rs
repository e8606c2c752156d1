//! The catalog refresh's clean-up of pushed files: users' images past
//! `[push] user_image_lifetime` (`image.expired`) and partial files nobody has written for
//! `[push] partial_lifetime` (`image.partial.removed`). Every refresh the daemon makes for a
//! session (CAP, BURN) or a push runs it first, so an expired image is never offered again.
//!
//! Each removal is audited before it happens: if the record cannot be written the file
//! stays (and an expired image is not offered), and the next refresh tries again.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use burnstand_audit::Event;

use crate::error::Result;
use crate::image::Image;
use crate::station::Station;

/// The catalog's images after removing what expired; see the module doc.
pub async fn refresh(station: &Station) -> Result<Vec<Image>> {
    let images = station.catalog().refresh().await?;
    let lifetime = station.config().push.user_image_lifetime;
    let now = SystemTime::now();
    let expired = |i: &Image| {
        i.owner
            .as_ref()
            .is_some_and(|o| o.since.checked_add(lifetime).is_none_or(|end| end <= now))
    };
    let (gone, kept): (Vec<Image>, Vec<Image>) = images.into_iter().partition(expired);
    if !gone.is_empty() {
        // Not while a push publishes (it may be replacing that very image).
        let _publishing = super::store::PUBLISH.lock().await;
        for image in gone {
            expire(station, image).await;
        }
    }
    sweep_partials(station).await;
    Ok(kept)
}

/// Audits and removes one expired user image (sidecar first: unpublished, then deleted).
async fn expire(station: &Station, image: Image) {
    let Some(owner) = &image.owner else {
        return;
    };
    let file = image
        .path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let event = Event::new("image.expired")
        .field("station", station.id())
        .field("image_id", image.id.as_str())
        .field("file", file.as_str())
        .field("owner", owner.user.as_str())
        .field(
            "pushed_at",
            humantime::format_rfc3339_seconds(owner.since).to_string(),
        )
        .field("size", image.size)
        .field("sha256", image.digests.sha256.to_hex());
    if let Err(e) = station.audit(event).await {
        tracing::error!(error = %e, image = %image.id, "cannot audit an expired image; it stays on disk, not offered");
        return;
    }
    let dir = station.catalog().dir().to_owned();
    let id = image.id.clone();
    let removed = super::blocking(move || {
        std::fs::remove_file(super::sidecar_path(&dir, &file))?;
        std::fs::remove_file(&image.path)?;
        std::fs::File::open(&dir)?.sync_all()
    })
    .await;
    match removed {
        Ok(()) => tracing::info!(image = %id, "expired user image removed"),
        Err(e) => tracing::warn!(error = %e, "cannot remove an expired user image"),
    }
}

/// A partial file (or a partial's owner file, or a half-written sidecar) of a push.
fn is_push_leftover(name: &str) -> bool {
    name.starts_with(".push-") && (name.ends_with(".partial") || name.ends_with(".owner"))
}

/// Audits and removes the push leftovers nobody has written for `[push] partial_lifetime`
/// and no running push holds.
async fn sweep_partials(station: &Station) {
    let dir = station.catalog().dir().to_owned();
    let lifetime = station.config().push.partial_lifetime;
    let found = super::blocking(move || abandoned(&dir, lifetime)).await;
    let found = match found {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(error = %e, "cannot look for abandoned partial images");
            return;
        }
    };
    for (path, bytes, modified) in found {
        let name = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let event = Event::new("image.partial.removed")
            .field("station", station.id())
            .field("file", name.as_str())
            .field("bytes", bytes)
            .field(
                "modified",
                humantime::format_rfc3339_seconds(modified).to_string(),
            );
        if let Err(e) = station.audit(event).await {
            tracing::error!(error = %e, "cannot audit an abandoned partial image; it stays");
            return;
        }
        let removed = super::blocking(move || std::fs::remove_file(&path)).await;
        match removed {
            Ok(()) => tracing::info!(bytes, "abandoned partial image removed"),
            Err(e) => tracing::warn!(error = %e, "cannot remove an abandoned partial image"),
        }
    }
}

/// The push leftovers in `dir` last written more than `lifetime` ago and not held by a
/// running push: path, length, modification time. Blocking.
fn abandoned(
    dir: &Path,
    lifetime: std::time::Duration,
) -> std::io::Result<Vec<(PathBuf, u64, SystemTime)>> {
    let now = SystemTime::now();
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !is_push_leftover(&entry.file_name().to_string_lossy()) {
            continue;
        }
        let path = entry.path();
        // An owner file goes with its partial: held while its push runs.
        let partial = if path.extension().is_some_and(|e| e == "owner") {
            path.with_extension("partial")
        } else {
            path.clone()
        };
        if super::store::is_claimed(&partial) {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        // An owner file is as old as its partial's last write (it is written once, at the
        // push's start): it goes when its partial goes, or alone when that is gone.
        let written = std::fs::symlink_metadata(&partial).unwrap_or_else(|_| meta.clone());
        let modified = written.modified()?;
        let old = now
            .duration_since(modified)
            .is_ok_and(|age| age >= lifetime);
        if old && meta.is_file() {
            found.push((path, meta.len(), modified));
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_old_push_leftovers_nobody_holds_are_abandoned() {
        let dir = tempfile::tempdir().unwrap();
        let old = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1);
        let write = |name: &str, age: Option<SystemTime>| {
            let path = dir.path().join(name);
            let file = std::fs::File::create(&path).unwrap();
            if let Some(t) = age {
                file.set_modified(t).unwrap();
            }
            path
        };
        let stale = write(".push-aa-3.partial", Some(old));
        let stale_owner = write(".push-aa-3.owner", Some(old));
        write(".push-bb-3.partial", None);
        // A push started long ago, resumed lately: its owner file stays with its partial.
        write(".push-bb-3.owner", Some(old));
        let orphan_owner = write(".push-dd-3.owner", Some(old));
        write("image.iso", Some(old));
        write(".hidden.partial", Some(old));
        let held = write(".push-cc-3.partial", Some(old));
        let hour = std::time::Duration::from_secs(3600);
        let _claim = super::super::store::Claim::take(&held).unwrap();
        let found: Vec<PathBuf> = abandoned(dir.path(), hour)
            .unwrap()
            .into_iter()
            .map(|(p, _, _)| p)
            .collect();
        assert_eq!(found, [stale_owner, stale, orphan_owner]);
    }
}
