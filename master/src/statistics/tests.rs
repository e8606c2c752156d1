use super::*;
use crate::ledger::{from_unix, Copy, LogPosition, SqliteLedger, LEDGER_FILE};

const EXAMPLE_TEXT: &str = include_str!("../../../docs/master.example.toml");

/// The documented example (stations dvd-1, dvd-2: "DVD burner"; bd-1: "BD burner").
fn config() -> Config {
    let text = EXAMPLE_TEXT.replace(
        "/etc/burnstand/policy.toml",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/policy.example.toml"),
    );
    Config::from_toml(&text).expect("the documented example is valid")
}

/// 2026-11-30 13:20 UTC.
const NOW: u64 = 1_795_996_800 + 13 * 3600 + 20 * 60;

struct Lab {
    _dir: tempfile::TempDir,
    ledger: SqliteLedger,
    next: u32,
}

impl Lab {
    fn new() -> Lab {
        let dir = tempfile::tempdir().expect("temp dir");
        let ledger = SqliteLedger::open(&dir.path().join(LEDGER_FILE)).expect("ledger");
        Lab {
            _dir: dir,
            ledger,
            next: 0,
        }
    }

    /// A copy at `station_id`, `ago` seconds before NOW, with a receipt of `result`.
    fn copy(&mut self, station_id: &str, ago: u64, result: &str) {
        self.next += 1;
        let copy = Copy {
            copy_id: format!("copy-{}", self.next),
            user: b"alice".to_vec(),
            sha256: "ab".repeat(32),
            station_id: station_id.into(),
            at: from_unix(NOW - ago),
        };
        let position = LogPosition {
            seq: u64::from(self.next),
            hash: format!("{:064x}", self.next),
        };
        assert!(self
            .ledger
            .receipt(&copy, result, &position)
            .expect("receipt"));
    }

    fn plots(&self) -> Plots {
        plots(&self.ledger, &config(), from_unix(NOW)).expect("plots")
    }
}

fn is_svg(text: &str) -> bool {
    text.starts_with("<svg") && text.trim_end().ends_with("</svg>")
}

/// Bars the histogram drew: filled rectangles other than the white background.
fn bars(svg: &str) -> usize {
    svg.matches("<rect").count().saturating_sub(1)
}

#[test]
fn an_empty_ledger_gives_svgs_saying_no_copies_yet() {
    let plots = Lab::new().plots();
    for svg in [
        &plots.copies_per_day,
        &plots.verify_failures,
        &plots.busiest_hours,
    ] {
        assert!(is_svg(svg), "{svg}");
        assert!(svg.contains(NO_COPIES), "{svg}");
    }
}

#[test]
fn copies_are_plotted_by_type_station_and_hour() {
    let mut lab = Lab::new();
    lab.ledger.name_station("id-dvd1", "dvd-1").expect("name");
    lab.ledger.name_station("id-bd1", "bd-1").expect("name");
    lab.copy("id-dvd1", 60, "verified"); // today 13:19
    lab.copy("id-dvd1", 2 * 86_400, "verify_failed"); // two days ago 13:20
    lab.copy("id-bd1", 3600, "verify_failed"); // today 12:20
    lab.copy("id-unnamed", 5 * 3600, "verified"); // today 08:20
    lab.copy("id-dvd1", (DAYS + 1) * 86_400, "verify_failed"); // outside the window
    let plots = lab.plots();

    let per_day = &plots.copies_per_day;
    assert!(is_svg(per_day));
    assert!(!per_day.contains(NO_COPIES));
    for label in ["DVD burner", "BD burner", UNKNOWN_STATION, "11-30", "11-17"] {
        assert!(per_day.contains(label), "{label} missing from {per_day}");
    }
    assert!(!per_day.contains("11-16"), "the window is {DAYS} days");

    let failures = &plots.verify_failures;
    for label in ["dvd-1", "dvd-2", "bd-1"] {
        assert!(failures.contains(label), "{label} missing from {failures}");
    }
    // A bar per station with a failure inside the window: dvd-1 and bd-1.
    assert_eq!(bars(failures), 2, "{failures}");

    let hours = &plots.busiest_hours;
    assert!(hours.contains("13") && hours.contains("08"), "{hours}");
    // Hours 08, 12 and 13 have copies.
    assert_eq!(bars(hours), 3, "{hours}");
}
