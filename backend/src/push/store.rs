//! The files of a push: the partial image in the catalog directory, resumed by re-hashing
//! what it holds, and publishing (image first, sidecar last).
//!
//! A push writes `.push-<sha256>-<size>.partial` in the catalog directory. The catalog
//! never offers it: it starts with a dot and has no sidecar. It is keyed by the announced
//! SHA-256 and size, so a later push of the same image finds it and resumes; a push of other
//! bytes never does. **Resume by re-hashing**: on resume the station reads the prefix again
//! through SHA-256 and MD5 (one sequential read of what is on disk) instead of trusting a
//! saved hash state, so the digests always describe the bytes in the file, whatever
//! happened to it between the pushes. A wrong prefix is caught by the final digest check,
//! which deletes the partial.
//!
//! Publishing: the partial is fsynced and renamed to `<id>` (not yet an image: no sidecar),
//! then the sidecar is written to a dot file, fsynced and renamed to `<id>.toml`, and the
//! directory is fsynced. The sidecar's rename is what publishes, so a half-published image
//! never appears.
//!
//! **Replacing** (`--replace`): the old sidecar is removed (and the directory fsynced)
//! *before* the new bytes are renamed over the old image. Between the two steps the image is
//! briefly unpublished (a BURN of it is refused as unknown), never described by the old
//! sidecar's name and `restricted` while it holds the new bytes. A crash in between leaves
//! the new bytes without a sidecar: not offered, until the push is repeated.
//!
//! A user's push also writes `.push-<sha256>-<size>.owner` next to its partial, naming the
//! user: the quota counts partial files by their owner (`super::quota`).

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use burnstand_wire::burner::{Md5, Sha256};
use burnstand_wire::push::PushImage;
use md5::Digest as _;
use serde::Serialize;

use crate::catalog::SIDECAR_SUFFIX;
use crate::image::DIGEST_BUF_LEN;

/// The partial files being written right now (by path): one push per image and station.
static BUSY: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

/// Serializes the check for a name clash with the renames that publish, per process.
pub(super) static PUBLISH: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The partial file of `image` in `dir`.
pub fn partial_path(dir: &Path, image: &PushImage) -> PathBuf {
    dir.join(format!(
        ".push-{}-{}.partial",
        image.sha256.to_hex(),
        image.size
    ))
}

/// A push's claim on its partial file; released on drop.
pub(super) struct Claim(PathBuf);

impl Claim {
    /// Claims `path`, or `None` if another push of the same image to this station runs.
    pub(super) fn take(path: &Path) -> Option<Claim> {
        let mut busy = BUSY.lock().unwrap_or_else(|p| p.into_inner());
        busy.get_or_insert_with(HashSet::new)
            .insert(path.to_owned())
            .then(|| Claim(path.to_owned()))
    }
}

/// Whether a push is writing the partial file `path` right now.
pub(super) fn is_claimed(path: &Path) -> bool {
    let busy = BUSY.lock().unwrap_or_else(|p| p.into_inner());
    busy.as_ref().is_some_and(|set| set.contains(path))
}

/// The file naming the user whose push writes the partial file `partial`.
pub(super) fn owner_path(partial: &Path) -> PathBuf {
    partial.with_extension("owner")
}

/// Records that `user`'s push writes the partial `partial`. Blocking.
pub(super) fn write_owner(partial: &Path, user: &str) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(owner_path(partial))?;
    file.write_all(user.as_bytes())
}

/// Removes the owner file of `partial`, if there is one. Blocking.
pub(super) fn remove_owner(partial: &Path) {
    match std::fs::remove_file(owner_path(partial)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(error = %e, "cannot remove a partial's owner file"),
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut busy = BUSY.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(set) = busy.as_mut() {
            set.remove(&self.0);
        }
    }
}

/// The partial image being written, with the digests of every byte in it.
pub(super) struct Partial {
    pub path: PathBuf,
    file: File,
    sha: sha2::Sha256,
    md5: md5::Md5,
    /// Bytes in the file (and hashed).
    pub len: u64,
}

impl Partial {
    /// Opens (or creates) the partial file, re-hashing what it already holds. A file longer
    /// than the image cannot be a prefix of it: it is emptied.
    pub(super) fn open(path: &Path, size: u64) -> std::io::Result<Partial> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        let mut partial = Partial {
            path: path.to_owned(),
            file: file.try_clone()?,
            sha: sha2::Sha256::new(),
            md5: md5::Md5::new(),
            len: 0,
        };
        if file.metadata()?.len() > size {
            file.set_len(0)?;
            return Ok(partial);
        }
        let mut buf = vec![0u8; DIGEST_BUF_LEN];
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            partial.hash(&buf[..n]);
        }
        Ok(partial)
    }

    fn hash(&mut self, bytes: &[u8]) {
        self.sha.update(bytes);
        self.md5.update(bytes);
        self.len += bytes.len() as u64;
    }

    /// Appends one chunk (the file's cursor is at its end after [`Partial::open`]), hashing
    /// MD5 on a second thread while this one writes and hashes SHA-256: MD5 is the slowest step of a push at the station
    /// (no hardware help), and the two digests do not depend on each other.
    pub(super) fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let Partial { file, sha, md5, .. } = self;
        let written = std::thread::scope(|scope| {
            let md5_done = scope.spawn(|| md5.update(bytes));
            let written = file.write_all(bytes);
            sha.update(bytes);
            if let Err(panic) = md5_done.join() {
                std::panic::resume_unwind(panic);
            }
            written
        });
        // On a failed write the digests have the chunk and the file may not: the push ends
        // there (its digests are never used), and a resume re-hashes the file.
        written.map(|()| self.len += bytes.len() as u64)
    }

    /// Makes what was written durable (a dropped push resumes from here).
    pub(super) fn sync(&self) -> std::io::Result<()> {
        self.file.sync_data()
    }

    /// The digests of the whole file; consumes the hash state.
    pub(super) fn digests(&mut self) -> (Sha256, Md5) {
        let sha = std::mem::take(&mut self.sha);
        let md5 = std::mem::take(&mut self.md5);
        (Sha256(sha.finalize().into()), Md5(md5.finalize().into()))
    }
}

/// The sidecar a push writes (the catalog's format: `docs/station.md`).
#[derive(Serialize)]
struct Sidecar<'a> {
    name: &'a str,
    id: &'a str,
    restricted: bool,
    pushed_by: &'a str,
    pushed_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<&'a str>,
}

/// Who pushed an image and when: written into its sidecar.
pub(super) struct Provenance {
    /// The pushing user, display form.
    pub by: String,
    pub at: SystemTime,
    /// A user's push (not an admin's): the image is theirs, counted and expiring.
    pub owned: bool,
}

/// Publishes the complete, checked partial as `<id>` with its sidecar `<id>.toml`, replacing
/// any published file of that name (old sidecar first: see the module doc). Blocking.
pub(super) fn publish(
    dir: &Path,
    partial: Partial,
    image: &PushImage,
    provenance: &Provenance,
) -> std::io::Result<()> {
    partial.file.sync_all()?;
    let sidecar = toml::to_string(&Sidecar {
        name: &image.name,
        id: &image.id,
        restricted: image.restricted,
        pushed_by: &provenance.by,
        pushed_at: humantime::format_rfc3339_seconds(provenance.at).to_string(),
        owner: provenance.owned.then_some(provenance.by.as_str()),
    })
    .map_err(std::io::Error::other)?;
    let published = sidecar_path(dir, &image.id);
    match std::fs::remove_file(&published) {
        Ok(()) => File::open(dir)?.sync_all()?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let target = dir.join(&image.id);
    std::fs::rename(&partial.path, &target)?;
    remove_owner(&partial.path);
    let tmp = partial.path.with_extension("toml.partial");
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)?;
    file.write_all(sidecar.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, &published)?;
    File::open(dir)?.sync_all()
}

/// Takes a published push back (its record could not be written): the sidecar goes, so
/// the image is no longer offered. Blocking.
pub(super) fn unpublish(dir: &Path, id: &str) -> std::io::Result<()> {
    std::fs::remove_file(sidecar_path(dir, id))?;
    File::open(dir)?.sync_all()
}

/// The sidecar of the image file `id`.
pub fn sidecar_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}{SIDECAR_SUFFIX}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(bytes: &[u8]) -> PushImage {
        PushImage {
            id: "x.iso".into(),
            name: "X \"quoted\"".into(),
            restricted: false,
            replace: false,
            size: bytes.len() as u64,
            sha256: Sha256(sha2::Sha256::digest(bytes).into()),
            md5: Md5(md5::Md5::digest(bytes).into()),
        }
    }

    #[test]
    fn a_resumed_partial_has_the_digests_of_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let bytes: Vec<u8> = (0..DIGEST_BUF_LEN * 2 + 11).map(|i| i as u8).collect();
        let image = image(&bytes);
        let path = partial_path(dir.path(), &image);
        assert!(path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with(".push-"));
        let mut first = Partial::open(&path, image.size).unwrap();
        first.append(&bytes[..1000]).unwrap();
        first.sync().unwrap();
        drop(first);
        let mut resumed = Partial::open(&path, image.size).unwrap();
        assert_eq!(resumed.len, 1000);
        resumed.append(&bytes[1000..]).unwrap();
        assert_eq!(resumed.digests(), (image.sha256, image.md5));
        let by = Provenance {
            by: "alice@EXAMPLE.ORG\"\nrestricted = true".into(),
            at: SystemTime::UNIX_EPOCH,
            owned: true,
        };
        publish(dir.path(), resumed, &image, &by).unwrap();
        assert_eq!(std::fs::read(dir.path().join("x.iso")).unwrap(), bytes);
        let sidecar = std::fs::read_to_string(sidecar_path(dir.path(), "x.iso")).unwrap();
        assert!(sidecar.contains("restricted = false"), "{sidecar}");
        assert!(
            sidecar.contains("pushed_at = \"1970-01-01T00:00:00Z\""),
            "{sidecar}"
        );
        // Serialized, so a name cannot add fields of its own.
        let parsed: toml::Table = toml::from_str(&sidecar).unwrap();
        assert_eq!(parsed["owner"].as_str(), Some(by.by.as_str()));
        assert_eq!(parsed["restricted"].as_bool(), Some(false));
        assert!(!path.exists());
        // Only the image and its sidecar are left.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_replace_unpublishes_the_old_image_before_its_bytes_change() {
        let dir = tempfile::tempdir().unwrap();
        let image = image(b"new bytes");
        let by = Provenance {
            by: "dave@EXAMPLE.ORG".into(),
            at: SystemTime::now(),
            owned: false,
        };
        let write = |image: &PushImage| {
            let path = partial_path(dir.path(), image);
            let mut partial = Partial::open(&path, image.size).unwrap();
            partial.append(b"new bytes").unwrap();
            partial
        };
        // The old image's file cannot be replaced (a directory stands in for any failure
        // between the two steps): the old sidecar is gone already, so nothing describes
        // bytes it was not written for.
        std::fs::create_dir(dir.path().join("x.iso")).unwrap();
        std::fs::write(dir.path().join("x.iso/keep"), b"").unwrap();
        std::fs::write(sidecar_path(dir.path(), "x.iso"), "name = \"Old\"\n").unwrap();
        assert!(publish(dir.path(), write(&image), &image, &by).is_err());
        assert!(!sidecar_path(dir.path(), "x.iso").exists());

        // A replace that goes through: the new bytes with the new sidecar only.
        std::fs::remove_dir_all(dir.path().join("x.iso")).unwrap();
        std::fs::remove_file(partial_path(dir.path(), &image)).unwrap();
        std::fs::write(dir.path().join("x.iso"), b"old").unwrap();
        std::fs::write(sidecar_path(dir.path(), "x.iso"), "name = \"Old\"\n").unwrap();
        publish(dir.path(), write(&image), &image, &by).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("x.iso")).unwrap(),
            b"new bytes"
        );
        let sidecar = std::fs::read_to_string(sidecar_path(dir.path(), "x.iso")).unwrap();
        let parsed: toml::Table = toml::from_str(&sidecar).unwrap();
        assert_eq!(parsed["name"].as_str(), Some(image.name.as_str()));
        assert!(
            !sidecar.contains("owner"),
            "an admin's push has no owner: {sidecar}"
        );
    }

    #[test]
    fn a_partial_longer_than_the_image_starts_over_and_claims_are_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let image = image(b"abc");
        let path = partial_path(dir.path(), &image);
        std::fs::write(&path, b"abcdef").unwrap();
        let partial = Partial::open(&path, image.size).unwrap();
        assert_eq!(partial.len, 0);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        let claim = Claim::take(&path).unwrap();
        assert!(Claim::take(&path).is_none());
        drop(claim);
        assert!(Claim::take(&path).is_some());
    }
}
