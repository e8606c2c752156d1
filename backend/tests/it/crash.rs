//! kill -9 of a station while it is logging hard: the log keeps every acknowledged record,
//! and at most a torn last line that verify names.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use burnstand_audit::Problem;
use burnstand_wire::burner::{Event, Request};
use burnstand_wire::gss::initiator_credentials;
use burnstand_wire::link::{LinkOpen, StationHello};

use crate::harness::*;

/// Masters' connections hammering the station at once (within its 4 handshakes per address).
const SESSIONS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_heavy_logging_loses_no_acknowledged_record() {
    let lab = Lab::new();
    let mut station = lab.start_binary(&lab.config_text("", ""));
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    // Kill after a pseudo-random number of acknowledgements (50..250), mid-stream.
    let kill_after = 50
        + (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0) as usize
            % 200);

    // Each step is a new session: its `session.start` is on disk before the station answers
    // anything in it, so a CAP answer acknowledges the record. (Refusals would not do: they
    // are recorded only within a budget, see `flood`.)
    let killed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for session in 0..SESSIONS {
        let acked = Arc::clone(&acked);
        let killed = Arc::clone(&killed);
        let addr = station.addr;
        let master = lab.principal(MASTER);
        let station_principal = lab.principal(STATION);
        let mut identity = identity_of(&lab, "alice");
        tasks.push(tokio::spawn(async move {
            for n in 0.. {
                if killed.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                let id = format!("crash-{session}-{n}");
                identity.session_id = id.clone();
                let cred = initiator_credentials(Some(&master)).expect("master credentials");
                let Ok(tcp) = tokio::net::TcpStream::connect(addr).await else {
                    continue;
                };
                let Ok(mut s) = burnstand_wire::io::Unauthenticated::new(tcp)
                    .initiate(cred, &station_principal, TIMEOUT)
                    .await
                else {
                    continue;
                };
                if !matches!(
                    s.recv::<StationHello>().await,
                    Ok(StationHello::Ready { .. })
                ) || s.send(&LinkOpen::Session(identity.clone())).await.is_err()
                    || s.send(&Request::Capab).await.is_err()
                {
                    continue;
                }
                match s.recv::<Event>().await {
                    Ok(Event::Cap(_)) => acked.lock().unwrap().push(id),
                    Ok(other) => panic!("unexpected answer {other:?}"),
                    Err(_) => continue,
                }
            }
        }));
    }
    eventually("enough acknowledged records", || {
        acked.lock().unwrap().len() >= kill_after
    })
    .await;
    station.child.kill().expect("SIGKILL the station");
    station.child.wait().expect("reap the station");
    killed.store(true, std::sync::atomic::Ordering::SeqCst);
    for task in tasks {
        task.await.expect("session task");
    }

    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= kill_after);
    let report = burnstand_audit::verify(&lab.audit_log).expect("read the log");
    match &report.problem {
        None => {}
        Some(Problem::TornTail { line, .. }) => {
            // Only the very last line may be torn, and verify says which it is.
            assert_eq!(*line, report.records + 1, "{report}");
            assert!(report.to_string().contains("torn"), "{report}");
        }
        Some(other) => panic!("the log is damaged beyond a torn tail: {other:?}"),
    }
    let mut logged = HashSet::new();
    let _ = burnstand_audit::scan_records(&lab.audit_log, |r| {
        if r.event == "session.start" {
            if let Some(id) = r.get_str("session_id") {
                logged.insert(id.to_owned());
            }
        }
    });
    let missing: Vec<&String> = acked.iter().filter(|id| !logged.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged records are missing, e.g. {:?}",
        missing.len(),
        missing.first()
    );
}
