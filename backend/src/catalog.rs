//! The image catalog: a directory of disc images, each published by a TOML sidecar.
//!
//! An image `NAME` is offered only if `NAME.toml` sits next to it (no sidecar, no image: an
//! operator copying a file into the directory publishes nothing by accident). The sidecar says
//! how the image is called and whether it is restricted. Who may burn it is not the
//! sidecar's business: the policy file names images by SHA-256 (`burnstand-policy`), so an
//! entitlement can never follow a file name to other bytes.
//!
//! ```toml
//! name = "Exam software 2025"     # shown to users
//! id = "exam-2025"                # optional; the file name by default
//! restricted = true               # default true: burn, never read back
//! ```
//!
//! A pushed image's sidecar (written by the station, `crate::push`) also says who pushed it
//! and when; a user's push names its `owner`, which makes it a user image: counted in that
//! user's quota and removed after `[push] user_image_lifetime`. Users write sidecars only
//! through a push, which serializes them, so no user can set these fields themselves.
//!
//! ```toml
//! pushed_by = "alice@CAMPUS.EDU"
//! pushed_at = "2026-11-29T22:50:00Z"
//! owner = "alice@CAMPUS.EDU"      # only on a user's push
//! ```
//!
//! Digests (SHA-256 and MD5) are computed once per file version and kept in a cache file in
//! the state directory, keyed by file name and [`FileKey`]; a changed file (size, mtime, ctime,
//! inode) is hashed again on the next refresh. Every refresh re-reads the directory, so a
//! catalog change needs no restart.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use burnstand_wire::burner::{Md5, Sha256, MAX_IMAGE_ID_LEN};
use serde::{Deserialize, Serialize};

use crate::error::{Result, StationError};
use crate::image::{compute_digests, Digests, FileKey, Image, Owner, MAX_IMAGE_NAME_LEN};

/// What marks a sidecar.
pub const SIDECAR_SUFFIX: &str = ".toml";

/// Largest sidecar read.
pub const MAX_SIDECAR_LEN: u64 = 64 * 1024;

/// Most images one catalog offers: the first `MAX_IMAGES` published images (valid sidecars,
/// in file-name order); the rest are not offered, with a warning naming how many. So CAP
/// always fits one protocol message, whatever the catalog holds: every image takes at most
/// [`crate::bounds::MAX_IMAGE_INFO_LEN`] (1,753) bytes in CAP, and 512 of them plus the rest
/// of CAP stay under the 1 MiB − 1 KiB message bound (a compile-time assertion in
/// [`crate::bounds`]).
pub const MAX_IMAGES: usize = 512;

/// The digest cache's file name in the state directory.
pub const DIGEST_CACHE_FILE: &str = "digests.json";

/// Largest digest cache read (a few hundred bytes per image).
pub const MAX_CACHE_LEN: u64 = 16 * 1024 * 1024;

/// The version of the digest cache format.
const CACHE_VERSION: u32 = 1;

/// A sidecar file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sidecar {
    name: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default = "default_restricted")]
    restricted: bool,
    /// Who pushed it (provenance; not used for decisions).
    #[serde(default)]
    #[allow(dead_code)]
    pushed_by: Option<String>,
    /// When it was pushed, RFC 3339.
    #[serde(default)]
    pushed_at: Option<String>,
    /// The user who owns a user's push; requires `pushed_at`.
    #[serde(default)]
    owner: Option<String>,
}

impl Sidecar {
    /// The owner of a user's push; an owner without a valid `pushed_at` is an error (an
    /// image that could never expire).
    fn owner(&self) -> std::result::Result<Option<Owner>, String> {
        let Some(user) = &self.owner else {
            return Ok(None);
        };
        let at = self
            .pushed_at
            .as_deref()
            .ok_or("an owner without pushed_at; image not offered")?;
        let since = humantime::parse_rfc3339(at).map_err(|e| {
            format!("pushed_at {at:?} is not an RFC 3339 time ({e}); image not offered")
        })?;
        Ok(Some(Owner {
            user: user.clone(),
            since,
        }))
    }
}

fn default_restricted() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CacheEntry {
    key: FileKey,
    sha256: String,
    md5: String,
    bytes: u64,
}

impl CacheEntry {
    fn digests(&self) -> Option<Digests> {
        Some(Digests {
            sha256: Sha256::from_hex(&self.sha256).ok()?,
            md5: Md5::from_hex(&self.md5).ok()?,
            bytes: self.bytes,
        })
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    images: BTreeMap<String, CacheEntry>,
}

/// The catalog of one station.
#[derive(Debug)]
pub struct Catalog {
    dir: PathBuf,
    cache_path: PathBuf,
    cache: tokio::sync::Mutex<BTreeMap<String, CacheEntry>>,
    computed: Arc<AtomicU64>,
}

impl Catalog {
    /// Opens the catalog in `dir`, keeping its digest cache in `state_dir` (created if
    /// missing).
    pub fn open(dir: &Path, state_dir: &Path) -> Result<Catalog> {
        let err = |message: String| StationError::Catalog {
            path: dir.to_owned(),
            message,
        };
        let dir = dir
            .canonicalize()
            .map_err(|e| err(format!("cannot open the directory: {e}")))?;
        if !dir.is_dir() {
            return Err(err("is not a directory".into()));
        }
        std::fs::create_dir_all(state_dir).map_err(|e| {
            StationError::io(
                format!("creating the state directory {}", state_dir.display()),
                e,
            )
        })?;
        let cache_path = state_dir.join(DIGEST_CACHE_FILE);
        let cache = load_cache(&cache_path);
        Ok(Catalog {
            dir,
            cache_path,
            cache: tokio::sync::Mutex::new(cache),
            computed: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The catalog directory (canonical).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many images were hashed since the catalog was opened (cache misses).
    pub fn digests_computed(&self) -> u64 {
        self.computed.load(Ordering::Relaxed)
    }

    /// Re-reads the directory and returns every image, hashing new or changed files. Runs in
    /// a blocking thread; concurrent refreshes wait for each other rather than hash twice.
    pub async fn refresh(&self) -> Result<Vec<Image>> {
        let mut guard = self.cache.lock().await;
        let cache = std::mem::take(&mut *guard);
        let dir = self.dir.clone();
        let cache_path = self.cache_path.clone();
        let computed = Arc::clone(&self.computed);
        let task = tokio::task::spawn_blocking(move || {
            let mut cache = cache;
            let images = scan(&dir, &mut cache, &computed, Some(&cache_path));
            (cache, images)
        });
        match task.await {
            Ok((cache, images)) => {
                *guard = cache;
                images
            }
            Err(e) => Err(StationError::Catalog {
                path: self.dir.clone(),
                message: format!("scan task failed: {e}"),
            }),
        }
    }

    /// The image with this id, freshly checked against its file.
    pub async fn find(&self, id: &str) -> Result<Option<Image>> {
        Ok(self.refresh().await?.into_iter().find(|i| i.id == id))
    }
}

/// The images of the catalog in `dir`, as a refresh would list them, without creating or
/// writing anything: the digest cache in `state_dir` is read if it is there, images it does not
/// know are hashed, and nothing is saved (`--check-config` must have no side effects).
/// Blocking.
pub fn inspect(dir: &Path, state_dir: &Path) -> Result<Vec<Image>> {
    let dir = dir.canonicalize().map_err(|e| StationError::Catalog {
        path: dir.to_owned(),
        message: format!("cannot open the directory: {e}"),
    })?;
    if !dir.is_dir() {
        return Err(StationError::Catalog {
            path: dir,
            message: "is not a directory".into(),
        });
    }
    let mut cache = load_cache(&state_dir.join(DIGEST_CACHE_FILE));
    scan(&dir, &mut cache, &AtomicU64::new(0), None)
}

fn load_cache(path: &Path) -> BTreeMap<String, CacheEntry> {
    let Ok(file) = std::fs::File::open(path) else {
        return BTreeMap::new();
    };
    let mut text = String::new();
    if file.take(MAX_CACHE_LEN).read_to_string(&mut text).is_err() {
        tracing::warn!(path = %path.display(), "digest cache unreadable; rehashing the catalog");
        return BTreeMap::new();
    }
    match serde_json::from_str::<CacheFile>(&text) {
        Ok(c) if c.version == CACHE_VERSION => c.images,
        _ => {
            tracing::warn!(path = %path.display(), "digest cache invalid; rehashing the catalog");
            BTreeMap::new()
        }
    }
}

/// Writes the cache atomically (temporary file, then rename).
fn save_cache(path: &Path, cache: &BTreeMap<String, CacheEntry>) {
    let file = CacheFile {
        version: CACHE_VERSION,
        images: cache.clone(),
    };
    let tmp = path.with_extension("json.tmp");
    // Owner only, like every file the station writes (the cache names the catalog's files).
    let write_private = |bytes: Vec<u8>| {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        file.write_all(&bytes)
    };
    let result = serde_json::to_vec_pretty(&file)
        .map_err(std::io::Error::other)
        .and_then(write_private)
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        tracing::warn!(path = %path.display(), error = %e, "cannot save the digest cache");
    }
}

fn read_sidecar(path: &Path) -> std::result::Result<Sidecar, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut text = String::new();
    file.take(MAX_SIDECAR_LEN + 1)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    if text.len() as u64 > MAX_SIDECAR_LEN {
        return Err(format!("longer than {MAX_SIDECAR_LEN} bytes"));
    }
    toml::from_str(&text).map_err(|e| e.to_string())
}

fn check_id(id: &str) -> std::result::Result<(), String> {
    let len = id.chars().count();
    if len == 0 || len > MAX_IMAGE_ID_LEN {
        return Err(format!(
            "the id must have 1 to {MAX_IMAGE_ID_LEN} characters"
        ));
    }
    if id.chars().any(char::is_control) {
        return Err("the id must not contain control characters".into());
    }
    Ok(())
}

/// Checks an image name: 1 to [`MAX_IMAGE_NAME_LEN`] characters, no control characters.
fn check_name(name: &str) -> std::result::Result<(), String> {
    let len = name.chars().count();
    if len > MAX_IMAGE_NAME_LEN {
        return Err(format!(
            "image name longer than {MAX_IMAGE_NAME_LEN} characters; image not offered"
        ));
    }
    if name.trim().is_empty() {
        return Err("empty image name; image not offered".into());
    }
    if name.chars().any(char::is_control) {
        return Err("image name with control characters; image not offered".into());
    }
    Ok(())
}

/// One pass over the directory; see [`Catalog::refresh`]. A changed cache is saved to
/// `cache_path` (`None`: never saved).
fn scan(
    dir: &Path,
    cache: &mut BTreeMap<String, CacheEntry>,
    computed: &AtomicU64,
    cache_path: Option<&Path>,
) -> Result<Vec<Image>> {
    let entries = std::fs::read_dir(dir).map_err(|e| StationError::Catalog {
        path: dir.to_owned(),
        message: format!("cannot list: {e}"),
    })?;
    let mut sidecars: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| {
            n.len() > SIDECAR_SUFFIX.len() && n.ends_with(SIDECAR_SUFFIX) && !n.starts_with('.')
        })
        .collect();
    sidecars.sort();

    let mut images: Vec<Image> = Vec::new();
    let mut seen_files = Vec::new();
    let mut changed = false;
    let mut left_out = 0usize;
    for sidecar_name in sidecars {
        if images.len() >= MAX_IMAGES {
            // Not read, not hashed: CAP could not list it.
            left_out += 1;
            continue;
        }
        let file_name = sidecar_name[..sidecar_name.len() - SIDECAR_SUFFIX.len()].to_owned();
        let path = dir.join(&file_name);
        // Only regular files, never symlinks: the catalog is exactly this directory.
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            tracing::warn!(sidecar = %sidecar_name, "sidecar without an image file; skipped");
            continue;
        };
        if !meta.is_file() {
            tracing::warn!(image = %file_name, "not a regular file; skipped");
            continue;
        }
        let sidecar = match read_sidecar(&dir.join(&sidecar_name)) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(sidecar = %sidecar_name, error = %e, "invalid sidecar; image skipped");
                continue;
            }
        };
        if let Err(e) = check_name(&sidecar.name) {
            tracing::warn!(
                sidecar = %sidecar_name,
                chars = sidecar.name.chars().count(),
                limit = MAX_IMAGE_NAME_LEN,
                "{e}"
            );
            continue;
        }
        let owner = match sidecar.owner() {
            Ok(owner) => owner,
            Err(e) => {
                tracing::warn!(sidecar = %sidecar_name, error = %e, "invalid sidecar; image skipped");
                continue;
            }
        };
        let id = sidecar.id.clone().unwrap_or_else(|| file_name.clone());
        if let Err(e) = check_id(&id) {
            tracing::warn!(sidecar = %sidecar_name, error = %e, "invalid image id; image skipped");
            continue;
        }
        let key = FileKey::of(&meta);
        seen_files.push(file_name.clone());
        let cached = cache
            .get(&file_name)
            .filter(|c| c.key == key)
            .and_then(CacheEntry::digests);
        let digests = match cached {
            Some(d) => d,
            None => {
                tracing::info!(image = %file_name, bytes = key.size, "hashing image");
                computed.fetch_add(1, Ordering::Relaxed);
                let d = match compute_digests(&path) {
                    Ok(d) => d,
                    Err(e) => {
                        tracing::warn!(image = %file_name, error = %e, "cannot read image; skipped");
                        continue;
                    }
                };
                let after = std::fs::symlink_metadata(&path)
                    .map(|m| FileKey::of(&m))
                    .ok();
                if after != Some(key) || d.bytes != key.size {
                    tracing::warn!(image = %file_name, "image changed while it was hashed; skipped until the next refresh");
                    cache.remove(&file_name);
                    changed = true;
                    continue;
                }
                cache.insert(
                    file_name.clone(),
                    CacheEntry {
                        key,
                        sha256: d.sha256.to_hex(),
                        md5: d.md5.to_hex(),
                        bytes: d.bytes,
                    },
                );
                changed = true;
                d
            }
        };
        images.push(Image {
            id,
            name: sidecar.name,
            path,
            size: key.size,
            digests,
            restricted: sidecar.restricted,
            key,
            owner,
        });
    }

    if left_out > 0 {
        tracing::warn!(
            offered = MAX_IMAGES,
            left_out,
            "the catalog publishes more images than one CAP message can list; the first {MAX_IMAGES} \
             by file name are offered, {left_out} more are not offered: remove images or split \
             the catalog over stations"
        );
    }

    // Forget digests of files that are gone.
    let before = cache.len();
    cache.retain(|name, _| seen_files.contains(name));
    changed |= cache.len() != before;
    if let (true, Some(cache_path)) = (changed, cache_path) {
        save_cache(cache_path, cache);
    }

    // An id offered twice is ambiguous: offer neither.
    let mut counts: HashMap<String, usize> = HashMap::new();
    for image in &images {
        *counts.entry(image.id.clone()).or_default() += 1;
    }
    images.retain(|i| {
        let unique = counts.get(&i.id) == Some(&1);
        if !unique {
            tracing::warn!(id = %i.id, "two images share this id; neither is offered");
        }
        unique
    });
    images.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixture {
        _dir: tempfile::TempDir,
        images: PathBuf,
        state: PathBuf,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let images = dir.path().join("images");
        let state = dir.path().join("state");
        std::fs::create_dir(&images).unwrap();
        Fixture {
            _dir: dir,
            images,
            state,
        }
    }

    fn publish(images: &Path, file: &str, content: &[u8], sidecar: &str) {
        std::fs::write(images.join(file), content).unwrap();
        std::fs::write(images.join(format!("{file}.toml")), sidecar).unwrap();
    }

    #[tokio::test]
    async fn digests_are_cached_and_recomputed_when_the_file_changes() {
        let f = fixture();
        publish(&f.images, "a.iso", b"abc", "name = \"A\"\n");
        let catalog = Catalog::open(&f.images, &f.state).unwrap();
        let first = catalog.refresh().await.unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(
            first[0].digests.md5.to_hex(),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(catalog.digests_computed(), 1);

        // Unchanged: served from the cache.
        catalog.refresh().await.unwrap();
        assert_eq!(catalog.digests_computed(), 1);

        // A new catalog on the same state directory (a restart) uses the cache file.
        let restarted = Catalog::open(&f.images, &f.state).unwrap();
        assert_eq!(restarted.refresh().await.unwrap(), first);
        assert_eq!(restarted.digests_computed(), 0);

        // Same size, new content: the key (mtime/ctime) changes, the digests are recomputed.
        std::fs::write(f.images.join("a.iso"), b"abd").unwrap();
        let file = std::fs::File::options()
            .write(true)
            .open(f.images.join("a.iso"))
            .unwrap();
        file.set_modified(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1))
            .unwrap();
        let second = restarted.refresh().await.unwrap();
        assert_eq!(restarted.digests_computed(), 1);
        assert_ne!(second[0].digests, first[0].digests);
        assert_eq!(
            second[0].digests.md5,
            Md5(md5::Digest::finalize(<md5::Md5 as md5::Digest>::new_with_prefix(b"abd")).into())
        );
    }

    #[tokio::test]
    async fn image_names_are_bounded() {
        let f = fixture();
        let at_bound = "é".repeat(MAX_IMAGE_NAME_LEN);
        let over = "n".repeat(MAX_IMAGE_NAME_LEN + 1);
        publish(
            &f.images,
            "ok.iso",
            b"1",
            &format!("name = \"{at_bound}\"\n"),
        );
        publish(&f.images, "long.iso", b"2", &format!("name = \"{over}\"\n"));
        publish(&f.images, "ctl.iso", b"3", "name = \"bell\\u0007\"\n");
        publish(&f.images, "empty.iso", b"4", "name = \" \"\n");
        let images = inspect(&f.images, &f.state).unwrap();
        let ids: Vec<&str> = images.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["ok.iso"]);
        assert_eq!(images[0].name, at_bound);
        assert!(!f.state.exists(), "inspect writes nothing");
    }

    #[tokio::test]
    async fn at_most_max_images_are_offered() {
        let f = fixture();
        for n in 0..MAX_IMAGES + 2 {
            publish(
                &f.images,
                &format!("i{n:04}.iso"),
                format!("{n}").as_bytes(),
                "name = \"x\"\n",
            );
        }
        let catalog = Catalog::open(&f.images, &f.state).unwrap();
        let images = catalog.refresh().await.unwrap();
        assert_eq!(images.len(), MAX_IMAGES);
        assert_eq!(
            catalog.digests_computed(),
            MAX_IMAGES as u64,
            "the rest are not hashed"
        );
        assert!(
            images.iter().all(|i| i.id.as_str() < "i0512.iso"),
            "the first by file name"
        );
    }

    #[tokio::test]
    async fn only_published_regular_files_with_valid_sidecars_are_offered() {
        let f = fixture();
        publish(&f.images, "ok.iso", b"1", "name = \"OK\"\nid = \"ok\"\n");
        std::fs::write(f.images.join("unpublished.iso"), b"2").unwrap();
        std::fs::write(f.images.join("orphan.iso.toml"), "name = \"no file\"").unwrap();
        publish(
            &f.images,
            "bad.iso",
            b"3",
            "name = \"typo\"\nrestircted = false\n",
        );
        publish(&f.images, "dup1.iso", b"4", "name = \"d1\"\nid = \"dup\"\n");
        publish(&f.images, "dup2.iso", b"5", "name = \"d2\"\nid = \"dup\"\n");
        std::os::unix::fs::symlink(f.images.join("ok.iso"), f.images.join("link.iso")).unwrap();
        std::fs::write(f.images.join("link.iso.toml"), "name = \"link\"").unwrap();
        let catalog = Catalog::open(&f.images, &f.state).unwrap();
        let images = catalog.refresh().await.unwrap();
        let ids: Vec<&str> = images.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["ok"]);
        // Default: restricted.
        assert!(images[0].restricted);
        assert!(images[0].path.is_absolute());
    }
}
