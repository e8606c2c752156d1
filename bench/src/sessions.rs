//! (b) Authenticated sessions per second at the master, against the same handshakes done
//! in process without it; (c) the master's memory with many idle authenticated sessions,
//! against the idle master.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use burnstand_wire::command::{Command, Reply};
use burnstand_wire::io::Unauthenticated;
use kdc_test::Realm;

use crate::lab::{self, TIMEOUT};
use crate::{Error, Figure};

/// Raises the soft descriptor limit to the hard one (the master inherits it): 10,000 idle
/// sessions need 10,000 descriptors on each side.
pub fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// Runs `clients` loops of `one(client)` for `secs`; returns completions per second and the
/// attempts that failed (with the first error), so a rare failure is reported, not hidden.
async fn per_second<F, Fut>(
    secs: u64,
    clients: usize,
    one: F,
) -> Result<(f64, u64, Option<String>), Error>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), Error>> + Send,
{
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let first_error: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let one = Arc::new(one);
    let mut tasks = Vec::new();
    let started = Instant::now();
    for client in 0..clients {
        let (done, one) = (Arc::clone(&done), Arc::clone(&one));
        let (failed, first_error) = (Arc::clone(&failed), Arc::clone(&first_error));
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                match one(client).await {
                    Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        let mut first = first_error.lock().unwrap_or_else(|p| p.into_inner());
                        first.get_or_insert_with(|| e.to_string());
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let first = first_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    Ok((
        done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64(),
        failed.load(Ordering::Relaxed),
        first,
    ))
}

pub async fn rate(realm: &Realm, secs: u64, clients: usize) -> Result<Figure, Error> {
    // Baseline: the same Kerberos handshake between two in-process tasks, no master.
    let clients = clients.min(lab::CLIENT_USERS);
    let creds: Arc<Vec<_>> = Arc::new(
        (0..clients)
            .map(|n| lab::client_cred(realm, n))
            .collect::<Result<_, _>>()?,
    );
    let station = lab::station_cred(realm)?;
    let target = realm.principal(lab::STATION);
    let baseline_creds = Arc::clone(&creds);
    let baseline = per_second(secs, clients, move |n| {
        let (cred, station, target) = (baseline_creds[n].clone(), station.clone(), target.clone());
        async move {
            let (a, b) = tokio::io::duplex(16 * 1024);
            let accept =
                tokio::spawn(async move { Unauthenticated::new(b).accept(station, TIMEOUT).await });
            Unauthenticated::new(a)
                .initiate(cred, &target, TIMEOUT)
                .await?;
            accept.await??;
            Ok(())
        }
    })
    .await?;
    let (baseline, _, _) = baseline;

    // The master: connect, handshake, greeting, QUIT, OK.
    let sink = lab::sink(realm).await?;
    let master = lab::master(realm, &lab::sibling("burnstand-master")?, sink.addr)?;
    let addr = master.addr;
    let principal = realm.principal(lab::MASTER);
    let measured = per_second(secs, clients, move |n| {
        let (cred, principal) = (creds[n].clone(), principal.clone());
        async move {
            let mut s = lab::connect(&principal, cred, addr).await?;
            s.send(&Command::Quit).await?;
            let reply: Reply = s.recv().await?;
            if reply != Reply::Ok {
                return Err(format!("QUIT answered {reply:?}").into());
            }
            Ok(())
        }
    })
    .await?;
    let (measured, failures, first) = measured;
    if let Some(first) = &first {
        eprintln!(
            "burnstand-bench: (b) {failures} session(s) failed, first: {first}; the master's log ends:\n{}",
            master.log_tail()
        );
    }
    drop(master);
    Ok(Figure {
        bench: "b",
        what: format!(
            "authenticated sessions at the master ({clients} clients, {secs} s, {failures} failed)"
        ),
        value: measured,
        unit: "sessions/s",
        baseline: "the same handshakes in process, no master".into(),
        baseline_value: baseline,
        ratio: measured / baseline,
        target: ">= 400 sessions/s".into(),
        met: measured >= 400.0,
    })
}

pub async fn idle_memory(realm: &Realm, sessions: usize) -> Result<Figure, Error> {
    let sink = lab::sink(realm).await?;
    let master = lab::master(realm, &lab::sibling("burnstand-master")?, sink.addr)?;
    // Let it settle, then the baseline.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_kb = master.status_kb("VmRSS");
    let cred = lab::user_cred(realm)?;
    let principal = realm.principal(lab::MASTER);
    let mut open = Vec::with_capacity(sessions);
    let mut failure = None;
    for _ in 0..sessions {
        match lab::connect(&principal, cred.clone(), master.addr).await {
            Ok(s) => open.push(s),
            Err(e) => {
                failure = Some(e.to_string());
                break;
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held_kb = master.status_kb("VmRSS");
    let hwm_kb = master.status_kb("VmHWM");
    let reached = open.len();
    drop(open);
    let mb = |kb: u64| kb as f64 / 1024.0;
    Ok(Figure {
        bench: "c",
        what: format!(
            "master RSS with {reached} idle authenticated sessions{} (peak {:.1} MB)",
            failure
                .map(|e| format!(" (stopped early: {e})"))
                .unwrap_or_default(),
            mb(hwm_kb)
        ),
        value: mb(held_kb),
        unit: "MB",
        baseline: "the idle master, no session".into(),
        baseline_value: mb(idle_kb),
        ratio: held_kb as f64 / idle_kb.max(1) as f64,
        target: "<= 300 MB".into(),
        met: mb(held_kb) <= 300.0,
    })
}
