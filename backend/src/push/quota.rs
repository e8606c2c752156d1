//! A user's space at one station (`[push] user_quota_bytes`): the sizes of the images their
//! pushes published (sidecar `owner`) plus the announced sizes of the partial files their
//! pushes are writing (`.push-*.owner`). A partial counts at its full size from its first
//! byte, so pushes in parallel cannot together overrun the quota.
//!
//! The check and the owner file that reserves the space are one step under
//! [`super::store::PUBLISH`], so two pushes of one user cannot both pass it.

use std::path::Path;

use burnstand_wire::push::PushOpen;

use crate::image::Image;

/// What a user's pushes hold at this station, in bytes, besides the push `open` itself (its
/// own partial, and with `--replace` the image it replaces, do not count). Blocking.
pub(super) fn used(dir: &Path, images: &[Image], open: &PushOpen) -> std::io::Result<u64> {
    let user = open.user.as_str();
    let own = super::store::owner_path(&super::partial_path(dir, &open.image));
    let published: u64 = images
        .iter()
        .filter(|i| i.owner.as_ref().is_some_and(|o| o.user == user))
        .filter(|i| !(open.image.replace && i.id == open.image.id))
        .map(|i| i.size)
        .sum();
    let mut partial = 0u64;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if path == own {
            continue;
        }
        let Some(size) = owner_file_size(&entry.file_name().to_string_lossy()) else {
            continue;
        };
        // At most a principal's name: bounded by the read, whatever the file holds.
        let owner = read_bounded(&path, MAX_OWNER_FILE_LEN)?;
        if owner == user.as_bytes() {
            partial = partial.saturating_add(size);
        }
    }
    Ok(published.saturating_add(partial))
}

/// Largest owner file read: a principal's display name is far shorter.
const MAX_OWNER_FILE_LEN: u64 = 4096;

/// The announced size in an owner file's name (`.push-<sha256>-<size>.owner`).
pub(super) fn owner_file_size(name: &str) -> Option<u64> {
    let stem = name.strip_prefix(".push-")?.strip_suffix(".owner")?;
    let (_, size) = stem.rsplit_once('-')?;
    size.parse().ok()
}

fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    match std::fs::File::open(path) {
        Ok(file) => {
            file.take(limit).read_to_end(&mut bytes)?;
        }
        // Its push ended between the listing and the read.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    Ok(bytes)
}

/// The refusal of a push that would take the user over their quota, if it would.
pub(super) fn refusal(used: u64, size: u64, quota: u64) -> Option<String> {
    // Past u64: over any quota.
    if used.checked_add(size).is_some_and(|total| total <= quota) {
        return None;
    }
    Some(format!(
        "this image has {size} bytes and your images at this station use {used} of the \
         {quota} bytes you may use ([push] user_quota_bytes); nothing was published. Wait \
         until your older images expire, or ask the lab staff"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_files_name_their_size() {
        let sha = "ab".repeat(32);
        assert_eq!(
            owner_file_size(&format!(".push-{sha}-4096.owner")),
            Some(4096)
        );
        assert_eq!(owner_file_size(&format!(".push-{sha}-4096.partial")), None);
        assert_eq!(owner_file_size(".push-x.owner"), None);
    }

    #[test]
    fn the_quota_is_reached_not_exceeded() {
        assert_eq!(refusal(6, 4, 10), None);
        let reason = refusal(7, 4, 10).unwrap();
        assert!(reason.contains("use 7 of the 10 bytes"), "{reason}");
        assert!(refusal(u64::MAX, 1, u64::MAX).is_some());
    }
}
