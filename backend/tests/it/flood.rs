//! Floods of audit records by authenticated peers, against the real station binary with its
//! audit log on a small tmpfs: a user connecting directly (`session.deny`), a master whose
//! users the policy refuses (`session.refuse`), a user sending BURN for ids that do not exist
//! (`burn.deny`). Each is bounded per principal and per address: the disk does not fill, the
//! records left out are counted (`EVENT.suppressed`), and the station goes on serving. And the
//! free-space watermark: below it new sessions are refused, running ones go on.
//!
//! The bounds are counts: what the budget allows in the time the test took (its burst plus
//! its refill over the elapsed minutes), never a duration.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use burnstand_audit::budget::{Rate, DENIALS_PER_PRINCIPAL};
use burnstand_wire::burner::{ErrorCode, Event, Request};
use burnstand_wire::gss::initiator_credentials;

use crate::harness::*;
use burnstand_testlab::SmallDisk;

/// The station binary with its audit log on a tmpfs of `kib` KiB, refusing new sessions
/// below `min_free` bytes free there.
fn on_small_disk(lab: &Lab, kib: u32, min_free: u64) -> (SmallDisk, ChildStation, PathBuf) {
    let disk = SmallDisk::mount(&lab.dir.path().join("small"), kib);
    let log = disk.path.join("station.audit");
    let extra = format!("min_free_bytes = {min_free}");
    let text = lab.config_text(&extra, "").replace(
        &format!("audit_log = \"{}\"", lab.audit_log.display()),
        &format!("audit_log = \"{}\"", log.display()),
    );
    let station = lab.start_binary(&text);
    (disk, station, log)
}

/// Records a budget of `rate` allows in `elapsed`: the burst, and the refill (rounded up).
fn allowed(rate: Rate, elapsed: Duration) -> usize {
    let refill = (elapsed.as_secs_f64() / 60.0 * f64::from(rate.per_minute)).ceil();
    rate.burst as usize + refill as usize
}

/// The watermark of the flood tests: it fits their small disk, and a flood that ate the disk
/// would trip it (refusing the master), so it does not hide one.
const FLOOD_WATERMARK: u64 = 16 << 10;

fn named(log: &std::path::Path, event: &str) -> Vec<burnstand_audit::Record> {
    burnstand_audit::read_records(log)
        .expect("the audit log reads")
        .into_iter()
        .filter(|r| r.event == event)
        .collect()
}

fn suppressed(log: &std::path::Path, event: &str) -> u64 {
    named(log, &format!("{event}.suppressed"))
        .iter()
        .filter_map(|r| r.get_u64("count"))
        .sum()
}

/// The station still serves the master: a session, CAPAB.
async fn master_still_served(lab: &Lab, addr: std::net::SocketAddr) {
    let mut m = match connect_as_master(lab, addr).await {
        Connected::Ok(m) => *m,
        Connected::NotAvailable => panic!("the station refuses the master (audit log full?)"),
        Connected::Closed(e) => panic!("the station closed the master's connection: {e}"),
    };
    assert!(matches!(m.ask(&Request::Capab).await, Event::Cap(_)));
}

/// Events of kind `event` on disk one by one plus those counted in `EVENT.suppressed`.
fn accounted(log: &std::path::Path, event: &str) -> u64 {
    named(log, event).len() as u64 + suppressed(log, event)
}

/// Waits until every one of `events` events of kind `event` is on disk, one by one or in a
/// count: counts are written with their owner's next record, or by the station's periodic
/// flush once the budget has refilled (`FLUSH_EVERY`); a generous hang guard, not a timing.
async fn all_accounted_for(log: &std::path::Path, event: &str, events: u64) {
    for _ in 0..120 {
        if accounted(log, event) == events {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!(
        "{} of {events} {event} events on disk or counted",
        accounted(log, event)
    );
}

#[tokio::test]
async fn a_user_connecting_directly_cannot_flood_the_audit_log() {
    let lab = Lab::new();
    let (_disk, station, log) = on_small_disk(&lab, 128, FLOOD_WATERMARK);
    let started = Instant::now();
    let flood = 600u64;
    for _ in 0..flood {
        let cred = user_credentials(&lab, "mallory");
        match connect_with(&lab, station.addr, cred, "mallory").await {
            Connected::Closed(_) => {}
            _ => panic!("mallory was served"),
        }
    }
    let elapsed = started.elapsed();
    master_still_served(&lab, station.addr).await;
    let denied = named(&log, "session.deny").len();
    assert!(
        denied <= allowed(DENIALS_PER_PRINCIPAL, elapsed),
        "{denied} session.deny records for {flood} attempts"
    );
    assert!(
        denied >= DENIALS_PER_PRINCIPAL.burst as usize,
        "the burst is recorded"
    );
    // Once the budget refills, the count of what was left out is written.
    all_accounted_for(&log, "session.deny", flood).await;
    assert!(suppressed(&log, "session.deny") > 0);
    burnstand_testlab::assert_intact_or_torn(&log);
    drop(station);
}

#[tokio::test]
async fn sessions_the_policy_refuses_cannot_flood_the_audit_log() {
    let lab = Lab::new();
    let (_disk, station, log) = on_small_disk(&lab, 128, FLOOD_WATERMARK);
    let foreign = || {
        let mut identity = identity_of(&lab, "alice");
        identity.user = "eve@OTHER.TEST".into();
        identity.user_exported_name =
            burnstand_station::principal::exported_name("eve@OTHER.TEST").expect("export");
        identity
    };
    let refused = || async {
        let cred = initiator_credentials(Some(&lab.principal(MASTER))).expect("cred");
        match connect_with_identity(&lab, station.addr, cred, foreign()).await {
            Connected::Ok(mut m) => {
                let e = m.recv().await;
                assert!(
                    matches!(&e, Event::Error(r) if r.code == ErrorCode::Denied),
                    "{e:?}"
                );
            }
            Connected::NotAvailable => panic!("ERRNOTAVL: the audit log is full"),
            Connected::Closed(e) => panic!("closed: {e}"),
        }
    };
    let started = Instant::now();
    let flood = 600u64;
    for _ in 0..flood {
        refused().await;
    }
    let elapsed = started.elapsed();
    master_still_served(&lab, station.addr).await;
    let records = named(&log, "session.refuse").len();
    assert!(
        records <= allowed(DENIALS_PER_PRINCIPAL, elapsed),
        "{records} session.refuse records for {flood} refusals"
    );
    all_accounted_for(&log, "session.refuse", flood).await;
    assert!(suppressed(&log, "session.refuse") > 0);
    drop(station);
}

#[tokio::test]
async fn burn_requests_for_unknown_images_cannot_flood_the_audit_log() {
    let lab = Lab::new();
    lab.make_iso("exam.iso", 64 << 10, b"", false);
    let (_disk, station, log) = on_small_disk(&lab, 128, FLOOD_WATERMARK);
    let mut m = connect_as_master(&lab, station.addr).await.module();
    let started = Instant::now();
    let flood = 1000u64;
    for n in 0..flood {
        let e = m
            .ask(&Request::Burn {
                image_id: format!("nope-{n}"),
                copies: 1,
            })
            .await;
        assert!(
            matches!(&e, Event::Error(r) if r.code == ErrorCode::UnknownImage),
            "BURN {n}: {e:?}"
        );
    }
    let elapsed = started.elapsed();
    let records = named(&log, "burn.deny").len();
    assert!(
        records <= allowed(DENIALS_PER_PRINCIPAL, elapsed),
        "{records} burn.deny records for {flood} refusals"
    );
    // Once the budget refills, the count of what was left out is written.
    all_accounted_for(&log, "burn.deny", flood).await;
    assert!(suppressed(&log, "burn.deny") > 0);
    // The same user burns a real image right after, with every record of it on disk.
    m.burn_verified("exam.iso").await;
    assert_eq!(named(&log, "burn.receipt").len(), 1);
    drop(m);
    master_still_served(&lab, station.addr).await;
    drop(station);
}

#[tokio::test]
async fn below_the_free_space_watermark_new_sessions_are_refused_and_running_ones_go_on() {
    let lab = Lab::new();
    lab.make_iso("exam.iso", 64 << 10, b"", false);
    let min_free: u64 = 2 << 20;
    let (disk, station, log) = on_small_disk(&lab, 4096, min_free);
    let mut running = connect_as_master(&lab, station.addr).await.module();
    assert!(matches!(running.ask(&Request::Capab).await, Event::Cap(_)));

    // About 1 MiB left: below the watermark, far from full.
    disk.fill(1 << 20);
    assert!(matches!(
        connect_as_master(&lab, station.addr).await,
        Connected::NotAvailable
    ));
    let refused = named(&log, "session.refuse");
    let reason = refused
        .last()
        .and_then(|r| r.get_str("reason"))
        .unwrap_or_default()
        .to_owned();
    assert!(reason.contains("below min_free_bytes 2097152"), "{reason}");
    let stderr = std::fs::read_to_string(lab.dir.path().join("station.stderr")).unwrap();
    let line = format!("audit filesystem {} has ", log.parent().unwrap().display());
    assert!(
        stderr.lines().any(|l| l.contains(&line)
            && l.contains("below min_free_bytes 2097152: refusing new sessions; free space or raise the limit")),
        "no actionable log line in:\n{stderr}"
    );

    // The session that was running burns, and every record of it is written.
    running
        .send(&Request::Burn {
            image_id: "exam.iso".into(),
            copies: 1,
        })
        .await;
    let events = running
        .until(|e| matches!(e, Event::Verify(_) | Event::Error(_)))
        .await;
    assert!(
        matches!(events.last(), Some(Event::Verify(v)) if v.passed),
        "{events:?}"
    );
    for event in ["burn.start", "burn.end", "burn.verify", "burn.receipt"] {
        assert_eq!(named(&log, event).len(), 1, "{event}");
    }
    drop(running);

    // Space freed: new sessions again.
    std::fs::remove_file(disk.path.join("filler")).unwrap();
    master_still_served(&lab, station.addr).await;
    burnstand_testlab::assert_intact_or_torn(&log);
    drop(station);
}
