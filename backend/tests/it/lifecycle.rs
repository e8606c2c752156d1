//! The audit log's lifecycle at a station: torn tails a power cut leaves, a rotation cut
//! short, and quotas counted across rotated segments — against the real station.

use std::io::Write as _;

use burnstand_audit::{segments_of, verify_log, AuditSettings, Event, OpenOptions};
use burnstand_wire::burner::{Event as BurnerEvent, Request};

use crate::harness::*;

/// The station's log with `n` records, rotated every 4 KiB.
fn rotated_station_log(lab: &Lab, n: u64) -> u64 {
    std::fs::create_dir_all(lab.audit_log.parent().unwrap()).unwrap();
    let mut log = OpenOptions::new()
        .settings(AuditSettings {
            rotate_bytes: 4096,
            ..AuditSettings::default()
        })
        .open(&lab.audit_log)
        .unwrap();
    let mut last = 0;
    for i in 1..=n {
        last = log
            .append(&Event::new("session.start").field("session_id", format!("old-{i}")))
            .unwrap()
            .seq;
    }
    last
}

/// Every record of the whole log (segments, then the live file), which must verify.
pub(crate) fn all_records(lab: &Lab) -> Vec<burnstand_audit::Record> {
    let mut records = Vec::new();
    burnstand_audit::scan_log_strict(&lab.audit_log, |r, _| records.push(r.clone())).unwrap();
    records
}

pub(crate) async fn serves(lab: &Lab, addr: std::net::SocketAddr) {
    let mut module = connect_as_master(lab, addr).await.module();
    assert!(matches!(
        module.ask(&Request::Capab).await,
        BurnerEvent::Cap(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_filled_tail_of_the_largest_append_is_cut_at_start() {
    let lab = Lab::new();
    std::fs::create_dir_all(lab.audit_log.parent().unwrap()).unwrap();
    let mut log = burnstand_audit::AuditLog::open(&lab.audit_log).unwrap();
    for n in 1..=3u64 {
        log.append(&Event::new("station.start").field("n", n))
            .unwrap();
    }
    drop(log);
    // A power cut while a record of the largest size was appended: the file has its new size,
    // but its blocks read back as zeros, newline included.
    let torn = vec![0u8; burnstand_audit::MAX_RECORD_LEN + 1];
    std::fs::OpenOptions::new()
        .append(true)
        .open(&lab.audit_log)
        .unwrap()
        .write_all(&torn)
        .unwrap();

    let station = lab.start_binary(&lab.config_text("", ""));
    serves(&lab, station.addr).await;
    drop(station);
    let report = burnstand_audit::verify(&lab.audit_log).unwrap();
    assert!(report.is_ok(), "the repaired log verifies: {report}");
    let records = lab.records();
    assert_eq!(records[3].event, burnstand_audit::REPAIR_EVENT);
    assert_eq!(records[3].get_u64("cut_bytes"), Some(torn.len() as u64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_cut_short_by_a_power_cut_is_undone_and_the_chain_goes_on() {
    let lab = Lab::new();
    let last = rotated_station_log(&lab, 80);
    let segments = segments_of(&lab.audit_log).unwrap();
    assert!(segments.len() >= 2);
    // The state a power cut between the rotation's steps leaves: the live file also linked
    // under its segment name, and the prepared new live file under its hidden name.
    let first_live = lab.records()[0].seq;
    let half = burnstand_audit::segment_path(&lab.audit_log, first_live, last);
    std::fs::hard_link(&lab.audit_log, &half).unwrap();
    let stray = lab.audit_log.with_file_name(".station.log.rotating");
    std::fs::write(&stray, b"{\"seq\":").unwrap();

    let config = lab.config_text("[audit]\nrotate_bytes = 4096\n", "");
    let station = lab.start_binary(&config);
    serves(&lab, station.addr).await;
    drop(station);
    assert!(!half.exists() && !stray.exists());
    let report = verify_log(&lab.audit_log, None).unwrap();
    assert!(report.is_ok(), "{report}");
    let records = all_records(&lab);
    let start = records
        .iter()
        .find(|r| r.event == "station.start")
        .expect("station.start");
    assert_eq!(start.seq, last + 1, "the chain went on where it stopped");

    // The live file lost beside its segments (its only line torn): the station goes on after
    // the newest segment, never from record 1 again.
    std::fs::write(&lab.audit_log, b"{\"seq\":1,\"ti").unwrap();
    let station = lab.start_binary(&config);
    serves(&lab, station.addr).await;
    drop(station);
    let report = verify_log(&lab.audit_log, None).unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(lab.records()[0].event, burnstand_audit::ROTATE_EVENT);
}

#[tokio::test]
async fn sync_streams_receipts_from_rotated_segments_and_reconcile_closes_copies_there() {
    use burnstand_wire::burner::Sha256;
    use burnstand_wire::link::{MasterMessage, StationMessage};

    let lab = Lab::new();
    std::fs::create_dir_all(lab.audit_log.parent().unwrap()).unwrap();
    let mut log = OpenOptions::new()
        .settings(AuditSettings {
            rotate_bytes: 4096,
            ..AuditSettings::default()
        })
        .open(&lab.audit_log)
        .unwrap();
    let receipt = |n: u64| {
        Event::new("burn.receipt")
            .field("copy_id", format!("00000000-0000-4000-8000-00000000000{n}"))
            .field("station", "test-station")
            .field("user_exported", "0401")
            .field("sha256", "ab".repeat(32))
            .field("result", "verified")
            .field("end", "2026-11-22T10:00:00Z")
    };
    let first = log.append(&receipt(1)).unwrap();
    let second = log.append(&receipt(2)).unwrap();
    // A copy that started and never ended (the station lost power mid-burn).
    log.append(
        &Event::new("burn.start")
            .field("copy_id", "00000000-0000-4000-8000-000000000009")
            .field("station", "test-station")
            .field("user_exported", "0401")
            .field("image_sha256", "ab".repeat(32)),
    )
    .unwrap();
    for n in 0..100u64 {
        log.append(&Event::new("session.start").field("n", n))
            .unwrap();
    }
    drop(log);
    let live = lab.records();
    assert!(
        live.iter()
            .all(|r| r.event != "burn.receipt" && r.event != "burn.start"),
        "all of them are in rotated segments"
    );

    let running = lab
        .start(lab.config("[audit]\nrotate_bytes = 4096\n", ""), None)
        .await;
    // Reconcile found the copy in the old segment and closed it as interrupted.
    let interrupted = || -> Vec<burnstand_audit::Record> {
        all_records(&lab)
            .into_iter()
            .filter(|r| r.event == "burn.receipt" && r.get_u64("start_seq").is_some())
            .collect()
    };
    eventually("the interrupted copy is closed", || {
        !interrupted().is_empty()
    })
    .await;
    let closed = interrupted();
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert_eq!(closed[0].get_str("result"), Some("interrupted"));

    // SYNC after the first receipt: the second and the interrupted one, from the segments.
    let (mut link, _) = control_link(&lab, running.addr).await;
    link.send(&MasterMessage::Sync {
        after_seq: first.seq,
        after_hash: Sha256::from_hex(&first.hash).unwrap(),
    })
    .await
    .unwrap();
    let mut seqs = Vec::new();
    loop {
        match link.recv::<StationMessage>().await.unwrap() {
            StationMessage::Receipt(r) => seqs.push(r.seq),
            StationMessage::Synced { head_seq, .. } => {
                assert!(head_seq > closed[0].seq);
                break;
            }
            _ => {}
        }
    }
    assert_eq!(seqs, vec![second.seq, closed[0].seq]);
    drop(link);
    running.stop().await;
}
