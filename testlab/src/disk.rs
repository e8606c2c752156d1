//! A disk that can really fill up, for the tests that show what a daemon does when its audit
//! log cannot be written (the integration tests of `master/` and `backend/`).

use std::path::{Path, PathBuf};

/// A tmpfs mounted for a test's life: a disk that can really fill up (tests run as root, as
/// CI does).
pub struct SmallDisk {
    pub path: PathBuf,
}

impl SmallDisk {
    pub fn mount(path: &Path, kib: u32) -> SmallDisk {
        std::fs::create_dir_all(path).expect("mount point");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(path)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a tmpfs needs root (CI runs as root)"
        );
        SmallDisk {
            path: path.to_owned(),
        }
    }

    /// Fills the disk but for about `left` bytes.
    pub fn fill(&self, left: u64) {
        let out = std::process::Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&self.path)
            .output()
            .expect("run df");
        let free: u64 = String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .expect("df output");
        let _ = std::fs::write(
            self.path.join("filler"),
            vec![0u8; free.saturating_sub(left) as usize],
        );
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

/// Asserts that the log at `path` verifies, but for at most a torn last line: an append the
/// full disk cut short, which was never acknowledged.
pub fn assert_intact_or_torn(path: &Path) {
    let report = burnstand_audit::verify(path).expect("read the audit log");
    assert!(
        report.problem.is_none()
            || matches!(
                report.problem,
                Some(burnstand_audit::Problem::TornTail { .. })
            ),
        "{report}"
    );
}
