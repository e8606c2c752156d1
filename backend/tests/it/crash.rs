//! kill -9 of a station while it is logging hard: the log keeps every acknowledged record,
//! and at most a torn last line that verify names.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use burnstand_audit::Problem;
use burnstand_wire::burner::{ErrorCode, Event, Request};

use crate::harness::*;

/// Sessions hammering the station at once.
const SESSIONS: usize = 8;

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

    let mut tasks = Vec::new();
    for session in 0..SESSIONS {
        let acked = Arc::clone(&acked);
        let addr = station.addr;
        let module = connect_as_master(&lab, addr).await.module();
        tasks.push(tokio::spawn(async move {
            let mut m = module;
            for n in 0.. {
                let id = format!("nope-{session}-{n}");
                if m.session
                    .send(&Request::Burn {
                        image_id: id.clone(),
                        copies: 1,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
                // An acknowledgement is the station's answer: the burn.deny is on disk first.
                match m.session.recv::<Event>().await {
                    Ok(Event::Error(r)) if r.code == ErrorCode::UnknownImage => {
                        acked.lock().unwrap().push(id);
                    }
                    Ok(other) => panic!("unexpected answer {other:?}"),
                    Err(_) => return,
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
        if r.event == "burn.deny" {
            if let Some(image) = r.get_str("image") {
                logged.insert(image.to_owned());
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
