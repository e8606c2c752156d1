//! Unit tests of [`super`] (stats.rs) on real hash-chained logs written by burnstand-audit.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use burnstand_audit::{read_records, AuditLog, Event};
use tempfile::TempDir;

use super::*;
use crate::output::Report;

/// Station ids look like this in real logs: the thing the tables must not show.
const ID_A: &str = "0e5d0806-6a4e-4c49-9d5f-3b1f2c4d5e6f";
const ID_B: &str = "7c2a1b3d-1111-4222-8333-944455566677";

/// A receipt as a station writes it (the fields statistics read), for a copy ended at `end`.
fn receipt(station: &str, user: &str, image: &str, result: &str, end: &str) -> Event {
    Event::new(RECEIPT)
        .field("copy_id", format!("{station}/{end}"))
        .field("station", station)
        .field("drive", "DVD")
        .field("user", user)
        .field("image_name", image)
        .field("sha256", format!("{image}-sha"))
        .field("result", result)
        .field("start", end)
        .field("end", end)
}

/// The master's copy of a station's receipt: the station's fields, then the ones it adds.
fn relayed(receipt: Event, station_name: &str, station_seq: u64) -> Event {
    receipt
        .field("conn", 7u64)
        .field("station_name", station_name)
        .field("station_seq", station_seq)
        .field("station_hash", "ab".repeat(32))
}

/// A real log of `events` after one record that is not counted; the receipts' seqs are 2, 3, …
fn log(dir: &TempDir, file: &str, events: Vec<Event>) -> PathBuf {
    let path = dir.path().join(file);
    let mut log = AuditLog::open(&path).unwrap();
    log.append(&Event::new("station.start")).unwrap();
    for event in &events {
        log.append(event).unwrap();
    }
    path
}

fn at(rfc3339: &str) -> SystemTime {
    humantime::parse_rfc3339(rfc3339).unwrap()
}

fn keys<V>(map: &BTreeMap<String, V>) -> Vec<&str> {
    map.keys().map(String::as_str).collect()
}

/// Station A (renamed twice) burned three copies, station B (only its own log) one.
fn farm(dir: &TempDir) -> Vec<PathBuf> {
    let a1 = || {
        receipt(
            ID_A,
            "alice@LAB",
            "exam",
            "verified",
            "2026-11-01T10:00:00Z",
        )
    };
    let a2 = || {
        receipt(
            ID_A,
            "bob@LAB",
            "exam",
            "verify_failed",
            "2026-11-20T10:00:00Z",
        )
    };
    let station_a = log(dir, "station-a.log", vec![a1(), a2()]);
    let master = log(
        dir,
        "master.log",
        vec![
            relayed(a1(), "DVD old", 2),
            relayed(a2(), "Brenner Süd", 3),
            // Appended last, but the oldest copy: its name is not the newest.
            relayed(
                receipt(ID_A, "alice@LAB", "ide", "failed", "2026-10-01T10:00:00Z"),
                "Oldest name",
                1,
            ),
        ],
    );
    let b = receipt(ID_B, "bob@LAB", "ide", "verified", "2026-11-21T10:00:00Z");
    let station_b = log(dir, "station-b.log", vec![b]);
    vec![master, station_a, station_b]
}

#[test]
fn stations_are_shown_by_their_newest_name_else_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let logs = farm(&dir);
    let stats = show(&logs, None).unwrap();
    assert_eq!(
        stats.copies, 4,
        "the master's and station A's copies count once"
    );
    assert_eq!(
        keys(&stats.per_station),
        ["7c2a1b3d-1111-4222-8333-944455566677", "Brenner Süd"]
    );
    assert_eq!(stats.per_station["Brenner Süd"].copies, 3);
    assert_eq!(stats.per_station["Brenner Süd"].verify_failed, 1);
    assert_eq!(
        stats.stations[ID_A],
        StationInfo {
            name: Some("Brenner Süd".into()),
            label: "Brenner Süd".into()
        }
    );
    assert_eq!(stats.stations[ID_B].name, None);
    let drive = DriveKey {
        station: "Brenner Süd".into(),
        drive: "DVD".into(),
    };
    assert_eq!(stats.verify_failures_per_drive[&drive], 1);
    let text = stats.human();
    assert!(!text.contains(ID_A), "{text}");
    assert!(
        !text.contains("DVD old") && !text.contains("Oldest name"),
        "{text}"
    );

    // The order of the logs does not change the name.
    let reordered = [&logs[1], &logs[2], &logs[0]];
    assert_eq!(
        show(&reordered, None).unwrap().per_station,
        stats.per_station
    );
}

#[test]
fn grants_name_stations_and_a_shared_name_is_told_apart_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let grant = Event::new("copy.grant")
        .field("station_name", "DVD 1")
        .field("station_id", ID_A);
    let from_b = relayed(
        receipt(ID_B, "bob@LAB", "ide", "verified", "2026-11-21T10:00:00Z"),
        "DVD 1",
        5,
    );
    let master = log(&dir, "master.log", vec![grant, from_b]);
    let a = receipt(
        ID_A,
        "alice@LAB",
        "exam",
        "verified",
        "2026-11-21T11:00:00Z",
    );
    let station_a = log(&dir, "station-a.log", vec![a]);
    let stats = show(&[master, station_a], None).unwrap();
    assert_eq!(
        keys(&stats.per_station),
        [format!("DVD 1 ({ID_A})"), format!("DVD 1 ({ID_B})")]
    );
    assert_eq!(stats.stations[ID_A].name.as_deref(), Some("DVD 1"));
}

#[test]
fn days_are_utc_dates_that_change_at_midnight() {
    let day = |t: &str| Period::Day.bucket(at(t)).unwrap();
    assert_eq!(day("2026-11-22T00:00:00Z"), "2026-11-22");
    assert_eq!(day("2026-11-22T23:59:59Z"), "2026-11-22");
    assert_eq!(day("2026-11-23T00:00:00Z"), "2026-11-23");

    let dir = tempfile::tempdir().unwrap();
    let late = receipt(
        ID_A,
        "alice@LAB",
        "exam",
        "verified",
        "2026-11-22T23:59:59Z",
    );
    let early = receipt(
        ID_A,
        "alice@LAB",
        "exam",
        "verified",
        "2026-11-23T00:00:00Z",
    );
    let no_end = Event::new(RECEIPT)
        .field("station", ID_A)
        .field("result", "failed");
    let path = log(&dir, "station.log", vec![late, early, no_end]);
    let stats = show(&[&path], Some(Period::Day)).unwrap();
    // A receipt without `end` counts on the day it was logged.
    let logged = read_records(&path).unwrap()[3].timestamp().unwrap();
    let today = Period::Day.bucket(logged).unwrap();
    assert_eq!(stats.per_period["2026-11-22"][ID_A].copies, 1);
    assert_eq!(stats.per_period["2026-11-23"][ID_A].copies, 1);
    assert_eq!(stats.per_period[&today][ID_A].other, 1);
    assert_eq!(stats.per_period.len(), 3);
}

#[test]
fn iso_weeks_keep_new_year_in_the_old_years_last_week() {
    let week = |t: &str| Period::Week.bucket(at(t)).unwrap();
    assert_eq!(week("2025-12-29T00:00:00Z"), "2026-W01");
    assert_eq!(week("2026-11-22T12:00:00Z"), "2026-W47");
    assert_eq!(week("2026-12-27T23:59:59Z"), "2026-W52");
    assert_eq!(week("2026-12-28T00:00:00Z"), "2026-W53");
    assert_eq!(week("2026-12-31T12:00:00Z"), "2026-W53");
    assert_eq!(week("2027-01-01T12:00:00Z"), "2026-W53");
    assert_eq!(week("2027-01-03T23:59:59Z"), "2026-W53");
    assert_eq!(week("2027-01-04T00:00:00Z"), "2027-W01");

    let dir = tempfile::tempdir().unwrap();
    let ends = [
        "2026-12-31T12:00:00Z",
        "2027-01-01T12:00:00Z",
        "2027-01-04T08:00:00Z",
    ];
    let copies = (0u64..)
        .zip(ends)
        .map(|(seq, end)| {
            let copy = receipt(ID_A, "alice@LAB", "exam", "verified", end);
            relayed(copy, "Brenner Süd", 10 + seq)
        })
        .collect();
    let path = log(&dir, "master.log", copies);
    let stats = show(&[path], Some(Period::Week)).unwrap();
    assert_eq!(keys(&stats.per_period), ["2026-W53", "2027-W01"]);
    assert_eq!(stats.per_period["2026-W53"]["Brenner Süd"].copies, 2);
    assert_eq!(stats.per_period["2027-W01"]["Brenner Süd"].copies, 1);
}

/// The char positions of the column separators of each table in `text`. Names here are one
/// column wide per char (no CJK), so char positions are screen columns.
fn separator_positions(text: &str) -> Vec<Vec<Vec<usize>>> {
    let mut tables: Vec<Vec<Vec<usize>>> = Vec::new();
    let mut in_table = false;
    for line in text.lines() {
        if !line.starts_with('|') {
            in_table = false;
            continue;
        }
        if !in_table {
            tables.push(Vec::new());
            in_table = true;
        }
        let bars = line
            .chars()
            .enumerate()
            .filter(|(_, c)| *c == '|')
            .map(|(i, _)| i)
            .collect();
        if let Some(table) = tables.last_mut() {
            table.push(bars);
        }
    }
    tables
}

#[test]
fn every_row_of_every_table_has_the_same_column_positions() {
    let dir = tempfile::tempdir().unwrap();
    let mut logs = farm(&dir);
    let long = relayed(
        receipt(
            "st-long",
            "zoë.with-a-rather-long-principal@CAMPUS.EXAMPLE.EDU",
            "Final exam 2026 (media)",
            "verify_failed",
            "2027-01-01T00:00:00Z",
        ),
        "Lab 3, window desk",
        2,
    );
    logs.push(log(&dir, "master-2.log", vec![long]));
    let stats = show(&logs, Some(Period::Week)).unwrap();
    let text = stats.human();
    let tables = separator_positions(&text);
    assert_eq!(
        tables.len(),
        5,
        "user, image, station, drive, week:\n{text}"
    );
    for table in &tables {
        assert!(table.len() >= 3, "header, rule and rows:\n{text}");
        assert!(table[0].len() >= 4, "at least three columns:\n{text}");
        for row in table {
            assert_eq!(row, &table[0], "a column moved:\n{text}");
        }
    }
    assert!(text.contains("copies per week (UTC)"), "{text}");
    // Counts are right-aligned: the last column of every row ends in a digit and one space.
    for table in text.split("\n\n") {
        for row in table.lines().skip(3) {
            let last = row.trim_end_matches('|').rsplit('|').next().unwrap_or("");
            let digits = last.strip_suffix(' ').unwrap_or("").trim_start();
            assert!(digits.parse::<u64>().is_ok(), "{row:?} in\n{text}");
        }
    }
}

#[test]
fn json_carries_the_same_data_under_stable_names() {
    let dir = tempfile::tempdir().unwrap();
    let logs = farm(&dir);
    let json = serde_json::to_value(show(&logs, Some(Period::Week)).unwrap()).unwrap();
    let mut fields: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "by",
            "copies",
            "logs",
            "per_image",
            "per_period",
            "per_station",
            "per_user",
            "stations",
            "verify_failures_per_drive"
        ]
    );
    assert_eq!(json["by"], "week");
    assert_eq!(json["per_image"]["exam (exam-sha)"]["copies"], 2);
    assert_eq!(json["verify_failures_per_drive"]["Brenner Süd DVD"], 1);
    assert_eq!(json["stations"][ID_A]["name"], "Brenner Süd");
    assert_eq!(json["stations"][ID_B]["label"], ID_B);
    assert_eq!(json["per_period"]["2026-W44"]["Brenner Süd"]["verified"], 1);
    assert_eq!(json["per_period"]["2026-W47"][ID_B]["copies"], 1);

    let plain = show(&logs, None).unwrap();
    assert!(!plain.human().contains("copies per"));
    let json = serde_json::to_value(plain).unwrap();
    assert!(json["by"].is_null());
    assert_eq!(json["per_period"], serde_json::json!({}));
}

#[test]
fn control_characters_in_names_cannot_break_a_row() {
    let dir = tempfile::tempdir().unwrap();
    let evil = relayed(
        receipt(
            ID_A,
            "mallory\n| fake | row |",
            "exam",
            "verified",
            "2026-11-01T10:00:00Z",
        ),
        "DVD\t1",
        2,
    );
    let path: &Path = &log(&dir, "master.log", vec![evil]);
    let text = show(&[path], None).unwrap().human();
    assert!(text.contains("mallory\\n| fake | row |"), "{text}");
    assert!(text.contains("DVD\\t1"), "{text}");
    let rows = text.lines().filter(|l| l.starts_with('|')).count();
    assert_eq!(
        rows,
        3 * 3,
        "three tables (no verify failure) of header, rule and one row:\n{text}"
    );
}

#[test]
fn a_rotated_log_is_counted_with_all_its_segments_and_each_copy_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("station.jsonl");
    let mut log = burnstand_audit::OpenOptions::new()
        .settings(burnstand_audit::AuditSettings {
            rotate_bytes: 4096,
            ..Default::default()
        })
        .open(&path)
        .unwrap();
    for n in 0..40u64 {
        let end = format!("2026-11-01T10:{:02}:00Z", n);
        log.append(&receipt(ID_A, "alice@LAB", "exam", "verified", &end))
            .unwrap();
    }
    drop(log);
    let segments = burnstand_audit::segments_of(&path).unwrap();
    assert!(segments.len() >= 2);
    // The live file alone holds only some of them; the log as a whole holds all 40.
    assert!(read_records(&path).unwrap().len() < 40);
    assert_eq!(show(&[&path], None).unwrap().copies, 40);
    assert_eq!(show(&[dir.path()], None).unwrap().copies, 40);
    // A segment named as well as its live file: nothing counts twice.
    assert_eq!(
        show(&[path.clone(), segments[0].path.clone()], None)
            .unwrap()
            .copies,
        40
    );
}
