//! Real ISO 9660 images made with xorriso, their pseudo-random payloads, and independent
//! digests of them.

use std::path::Path;
use std::process::{Command, Stdio};

/// Incompressible pseudo-random bytes (xorshift64), the same for the same seed.
pub struct Noise(u64);

impl Noise {
    /// The seed every lab uses, by default.
    pub const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

    pub fn new(seed: u64) -> Noise {
        Noise(seed)
    }

    /// Fills `buf` with the next bytes of the stream (eight at a time; a last partial chunk
    /// takes the first bytes of its word).
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let x = &mut self.0;
            *x ^= *x << 13;
            *x ^= *x >> 7;
            *x ^= *x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
    }
}

/// Builds a real ISO 9660 image `out` (volume `BURNSTAND_TEST`) holding one file,
/// `payload.bin`, of `payload_bytes` bytes (at least `marker`'s length): `marker`, then
/// pseudo-random bytes seeded by the size.
pub fn make_iso(out: &Path, payload_bytes: usize, marker: &[u8]) {
    let tree = tempfile::tempdir().expect("a temp dir for the image's tree");
    let mut data = marker.to_vec();
    let start = data.len();
    data.resize(payload_bytes.max(start), 0);
    Noise::new(Noise::SEED ^ payload_bytes as u64).fill(&mut data[start..]);
    std::fs::write(tree.path().join("payload.bin"), &data).expect("write the payload");
    let status = Command::new("xorriso")
        .args(["-as", "mkisofs", "-quiet", "-V", "BURNSTAND_TEST", "-o"])
        .arg(out)
        .arg(tree.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run xorriso (install it: apt-get install xorriso)");
    assert!(status.success(), "xorriso -as mkisofs failed");
}

/// `sha256sum`/`md5sum` (`tool`) of a file: a check of burnstand's digests by another program.
pub fn digest(tool: &str, file: &Path) -> String {
    let out = Command::new(tool)
        .arg(file)
        .output()
        .expect("run the digest tool");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_owned()
}
