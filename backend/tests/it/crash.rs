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
    let acked = hammer_then_kill(&lab, &lab.config_text("", "")).await;
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
    assert_all_logged(&lab, &acked);
}

/// The same with the log rotating every 4 KiB and its head exported: a kill at any point of
/// a rotation leaves a log the restarted station goes on with, end to end, and the head
/// matches.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_while_the_log_rotates_loses_nothing_and_the_station_goes_on() {
    let lab = Lab::new();
    let head = lab.dir.path().join("station.head");
    let config = lab.config_text(
        &format!(
            "[audit]\nrotate_bytes = 4096\nhead_export = \"{}\"\n",
            head.display()
        ),
        "",
    );
    let acked = hammer_then_kill(&lab, &config).await;
    assert!(
        burnstand_audit::segments_of(&lab.audit_log)
            .expect("segments")
            .len()
            >= 2,
        "the log rotated while it was hammered"
    );
    let report = burnstand_audit::verify_log(&lab.audit_log, None).expect("read");
    match &report.problem {
        None
        | Some(burnstand_audit::LogProblem::InFile {
            problem: Problem::TornTail { .. },
            ..
        }) => {}
        Some(other) => panic!("the log is damaged beyond a torn tail: {other}"),
    }
    assert_all_logged(&lab, &acked);
    // Restarted, it repairs what the kill left and goes on; the head it exports is the end.
    let station = lab.start_binary(&config);
    drop(station);
    let exported = burnstand_audit::Head::read(&head).expect("head");
    let report = burnstand_audit::verify_log(&lab.audit_log, Some(&exported)).expect("read");
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.first_seq, 1);
    assert_eq!(report.after_head, Some(0), "{report}");
}

/// Every acknowledged session is in the log (all segments).
fn assert_all_logged(lab: &Lab, acked: &[String]) {
    let mut logged = HashSet::new();
    let _ = burnstand_audit::scan_log(&lab.audit_log, None, |r, _| {
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

/// Starts the station binary with `config`, opens sessions from several tasks, and SIGKILLs
/// it after a pseudo-random number of acknowledged `session.start` records; returns their ids.
async fn hammer_then_kill(lab: &Lab, config: &str) -> Vec<String> {
    let mut station = lab.start_binary(config);
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
        let mut identity = identity_of(lab, "alice");
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
    acked
}
