//! Hang guards: every wait of a test is bounded, by a bound the caller names, and only a hang
//! trips one (they are never timing assertions).

use std::future::Future;
use std::process::{Child, ExitStatus, Output};
use std::time::{Duration, Instant};

/// Awaits `future`, failing the test if it does not finish within `bound`.
pub async fn within<T>(bound: Duration, what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(bound, future).await {
        Ok(value) => value,
        Err(_) => panic!("hang guard: {what} did not finish within {bound:?}"),
    }
}

/// Polls `cond` every 50 ms until it holds; panics if it does not within `bound`.
pub async fn eventually(bound: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + bound;
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !cond() {
        panic!("never happened: {what} (within {bound:?})");
    }
}

/// Polls `f` (blocking, every 50 ms) until it returns something; panics if it does not within
/// `bound`.
pub fn wait_for<T>(bound: Duration, what: &str, f: impl Fn() -> Option<T>) -> T {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(value) = f() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "hang guard: {what} did not happen within {bound:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits (blocking) for `child` to exit; kills it and panics if it does not within `bound`.
pub fn wait_child(child: &mut Child, bound: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(status) = child.try_wait().expect("wait for a child") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("hang guard: {what} did not finish within {bound:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Collects a child's piped stdout and stderr, with [`wait_child`]'s hang guard.
pub fn wait_output(mut child: Child, bound: Duration, what: &str) -> Output {
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut buf);
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stderr, &mut buf);
        buf
    });
    let status = wait_child(&mut child, bound, what);
    Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}
