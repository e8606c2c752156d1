//! What a daemon under systemd sees, without systemd: a stand-in for the notification socket
//! (`NOTIFY_SOCKET`) that records what the daemon says, and checks of its stderr log as the
//! journal (or a log shipper) would read it.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The longest notification datagram read (systemd's own messages are far shorter).
const MAX_DATAGRAM: usize = 4096;

/// A unix datagram socket in place of systemd's: pass [`NotifySocket::path`] as the daemon's
/// `NOTIFY_SOCKET`.
pub struct NotifySocket {
    socket: UnixDatagram,
    pub path: PathBuf,
}

impl NotifySocket {
    /// Binds `notify.sock` in `dir`.
    pub fn bind(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        NotifySocket { socket, path }
    }

    /// Reads datagrams until one has the line `line` (e.g. `READY=1`); panics if none does
    /// within `bound` (a hang guard, not a timing assertion). Returns every datagram read, in
    /// order, the one with `line` last.
    pub fn wait_for(&self, line: &str, bound: Duration) -> Vec<String> {
        let deadline = Instant::now() + bound;
        let mut seen = Vec::new();
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "hang guard: no {line:?} within {bound:?}; the daemon said {seen:?}"
            );
            self.socket
                .set_read_timeout(Some(left))
                .expect("read timeout");
            let Ok(n) = self.socket.recv(&mut buf) else {
                continue;
            };
            let datagram = String::from_utf8_lossy(&buf[..n]).into_owned();
            let found = datagram.lines().any(|l| l == line);
            seen.push(datagram);
            if found {
                return seen;
            }
        }
    }
}

/// Asserts that the log at `path` is not empty and has no ANSI escape (ESC, 0x1b): colour
/// codes do not belong in a file or the journal.
pub fn assert_no_colour(path: &Path) {
    let bytes = std::fs::read(path).expect("read the log");
    assert!(!bytes.is_empty(), "{} is empty", path.display());
    assert!(
        !bytes.contains(&0x1b),
        "escape codes in {}:\n{}",
        path.display(),
        String::from_utf8_lossy(&bytes)
    );
}

/// The lines of the log at `path` (not empty), each parsed as one JSON object; panics naming
/// the first line that is not.
pub fn json_lines(path: &Path) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let text = std::fs::read_to_string(path).expect("read the log");
    assert!(!text.is_empty(), "{} is empty", path.display());
    text.lines()
        .map(|line| match serde_json::from_str(line) {
            Ok(serde_json::Value::Object(object)) => object,
            other => panic!("not a JSON object ({other:?}): {line:?}"),
        })
        .collect()
}
