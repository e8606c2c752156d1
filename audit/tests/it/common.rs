//! Helpers shared by the test modules.

use std::path::{Path, PathBuf};

use burnstand_audit::{verify, Appended, AuditLog, Event, Problem};
use tempfile::TempDir;

/// A fresh directory and the path of a (not yet existing) log in it.
pub fn tmp_log() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    (dir, path)
}

/// The `i`-th event of a realistic session sequence: auth.ok, bind, burn.end, auth.fail, …
pub fn sample_event(i: u64) -> Event {
    match i % 4 {
        1 => Event::new("auth.ok")
            .field("principal", format!("user{i}@LAB.EXAMPLE"))
            .field("peer", "127.0.0.1:5000"),
        2 => Event::new("bind")
            .field("principal", format!("user{i}@LAB.EXAMPLE"))
            .field("station", "burner-2"),
        3 => Event::new("burn.end")
            .field("image_sha256", "ab".repeat(32))
            .field("bytes", 4_700_000_000u64 + i)
            .field("verified", !i.is_multiple_of(3)),
        _ => Event::new("auth.fail")
            .field("peer", "127.0.0.1:5001")
            .field("reason", "ticket expired"),
    }
}

/// Creates a log at `path` holding `n` sample records; returns what the appends returned.
pub fn write_log(path: &Path, n: u64) -> Vec<Appended> {
    let mut log = AuditLog::open(path).unwrap();
    (1..=n)
        .map(|i| log.append(&sample_event(i)).unwrap())
        .collect()
}

/// The file's lines without their newlines (the file must end in a newline).
pub fn read_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.ends_with('\n'), "log does not end in a newline");
    text.lines().map(str::to_owned).collect()
}

/// Replaces the file with these lines, each followed by a newline.
pub fn write_lines(path: &Path, lines: &[String]) {
    let mut text = String::new();
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// The first problem verify finds (panics if none).
pub fn problem(path: &Path) -> Problem {
    let report = verify(path).unwrap();
    match report.problem {
        Some(problem) => problem,
        None => panic!("verify found no problem: {report}"),
    }
}
