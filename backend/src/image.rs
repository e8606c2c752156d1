//! One image of the catalog: its file and its digests (who may burn it is the policy's
//! business, by SHA-256).
//!
//! Digests are computed by streaming the file through SHA-256 and MD5 with a
//! [`DIGEST_BUF_LEN`] buffer, so hashing a 4.7 GB image costs that buffer, not the image. A
//! [`FileKey`] (device, inode, size, mtime, ctime) identifies the exact file version the
//! digests belong to: a file that was replaced, rewritten or touched gets a different key and
//! is hashed again. ctime is in the key because, unlike mtime, nobody can set it back.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use burnstand_wire::burner::{ImageInfo, Md5, Sha256};
use md5::Digest as _;
use serde::{Deserialize, Serialize};

/// Longest image name (the sidecar's `name`), in characters: shown to users in CAP and
/// written into every `burn.receipt`. It bounds CAP (at most 1 KiB of UTF-16 per image, see
/// [`crate::catalog::MAX_IMAGES`]) and a receipt's `image_name` (at most 1.5 KiB of escaped
/// JSON). Sidecars with a longer name are skipped with a warning: the image is not offered.
pub const MAX_IMAGE_NAME_LEN: usize = 256;

/// Buffer for hashing an image: the memory one digest computation costs, whatever the size.
pub const DIGEST_BUF_LEN: usize = 256 * 1024;

/// Identifies one version of a file: if any field changes, the digests are recomputed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileKey {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
}

impl FileKey {
    /// The key of the file `meta` describes.
    pub fn of(meta: &std::fs::Metadata) -> FileKey {
        let ns = |secs: i64, nsecs: i64| secs.saturating_mul(1_000_000_000).saturating_add(nsecs);
        FileKey {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// An image's SHA-256 and MD5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digests {
    pub sha256: Sha256,
    pub md5: Md5,
    /// Bytes hashed (the file's length when it was read).
    pub bytes: u64,
}

/// Streams `path` through SHA-256 and MD5 at once.
pub fn compute_digests(path: &Path) -> std::io::Result<Digests> {
    let mut file = std::fs::File::open(path)?;
    let mut sha = sha2::Sha256::new();
    let mut md5 = md5::Md5::new();
    let mut buf = vec![0u8; DIGEST_BUF_LEN];
    let mut bytes = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        sha.update(&buf[..n]);
        md5.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok(Digests {
        sha256: Sha256(sha.finalize().into()),
        md5: Md5(md5.finalize().into()),
        bytes,
    })
}

/// An image the station can burn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The catalog key users name in BURN (the sidecar's `id`, or the file name).
    pub id: String,
    /// Name for people.
    pub name: String,
    /// Absolute path of the image file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its digests, for the version identified by `key`.
    pub digests: Digests,
    /// Burn but never read back.
    pub restricted: bool,
    /// The file version the digests belong to.
    pub key: FileKey,
    /// The user whose push published it (`owner` in the sidecar): counted in their
    /// `[push] user_quota_bytes`, removed after `[push] user_image_lifetime`. `None` for
    /// images of the lab staff (copied in, or pushed by an admin).
    pub owner: Option<Owner>,
}

/// Whose pushed image this is, and since when (`docs/station.md` "[push]").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The user's principal, display form (as the master vouched for it).
    pub user: String,
    /// When the push published it (the sidecar's `pushed_at`).
    pub since: std::time::SystemTime,
}

impl Image {
    /// The burner protocol's description (digests only: never bytes).
    pub fn info(&self) -> ImageInfo {
        ImageInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            size: self.size,
            sha256: self.digests.sha256,
            md5: self.digests.md5,
            restricted: self.restricted,
        }
    }

    /// Whether the file still is the version that was hashed.
    pub fn unchanged(&self) -> bool {
        std::fs::symlink_metadata(&self.path)
            .map(|m| FileKey::of(&m) == self.key)
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_of_known_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        std::fs::write(&path, b"abc").unwrap();
        let d = compute_digests(&path).unwrap();
        assert_eq!(d.md5.to_hex(), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            d.sha256.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(d.bytes, 3);
        // Larger than the buffer: the same as hashing in one go.
        let big: Vec<u8> = (0..DIGEST_BUF_LEN * 2 + 7)
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&path, &big).unwrap();
        let d = compute_digests(&path).unwrap();
        assert_eq!(d.md5, Md5(md5::Md5::digest(&big).into()));
        assert_eq!(d.bytes, big.len() as u64);
    }
}
