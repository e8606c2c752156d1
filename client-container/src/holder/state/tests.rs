use std::os::unix::fs::PermissionsExt;

use super::*;

fn state(pid: u32) -> HeldState {
    HeldState {
        version: STATE_VERSION,
        pid,
        master: "master.lab:4700".into(),
        master_principal: "burnstand/master.lab@R".into(),
        principal: "alice@R".into(),
        station: "dvd-1".into(),
        location: "room 2.14, left drive".into(),
        session_id: "6f1c".into(),
        station_type: HeldType {
            id: 1,
            name: "DVD burner".into(),
            description: "DVD drive; services: burner".into(),
            services: vec![HeldService {
                id: ServiceType::BURNER,
                name: "burner".into(),
                description: "burns".into(),
            }],
        },
        since: "2026-11-22T05:18:18Z".into(),
        ticket_expires: "2026-11-22T15:18:18Z".into(),
    }
}

#[test]
fn a_record_is_written_0600_in_a_0700_folder_and_read_back() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("burnstand");
    let path = write(&dir, &state(42)).unwrap();
    assert_eq!(path, dir.join(file_name("alice@R", "master.lab:4700")));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(read(&path).unwrap(), Some(state(42)));
    // Only the record is left: the temporary file was renamed.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    let back = state(42).station_type.to_station_type();
    assert_eq!(HeldType::from(&back), state(42).station_type);
}

#[test]
fn the_file_name_depends_on_principal_and_master() {
    let a = file_name("alice@R", "m:1");
    assert!(a.starts_with("reservation-") && a.ends_with(".json"), "{a}");
    assert_eq!(a.len(), "reservation-".len() + 16 + ".json".len());
    assert_ne!(a, file_name("bob@R", "m:1"));
    assert_ne!(a, file_name("alice@R", "m:2"));
    assert_eq!(a, file_name("alice@R", "m:1"));
}

#[test]
fn a_live_holder_is_found_and_a_dead_one_is_stale() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &state(42)).unwrap();
    let live = lookup(dir.path(), "alice@R", "master.lab:4700", |pid| pid == 42);
    assert_eq!(live, Lookup::Live(Box::new(state(42)), path.clone()));
    match lookup(dir.path(), "alice@R", "master.lab:4700", |_| false) {
        Lookup::Stale { path: stale, what } => {
            assert_eq!(stale, path);
            assert!(what.contains("dvd-1 (room 2.14, left drive)"), "{what}");
            assert!(what.contains("pid 42"), "{what}");
        }
        other => panic!("{other:?}"),
    }
    // Another user, another master: nothing on record.
    assert_eq!(
        lookup(dir.path(), "bob@R", "master.lab:4700", |_| true),
        Lookup::None
    );
    assert_eq!(
        lookup(dir.path(), "alice@R", "other:4700", |_| true),
        Lookup::None
    );
}

#[test]
fn an_unreadable_record_is_stale() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file_name("alice@R", "m:1"));
    std::fs::write(&path, "{ not json").unwrap();
    assert!(matches!(
        lookup(dir.path(), "alice@R", "m:1", |_| true),
        Lookup::Stale { .. }
    ));
}

#[test]
fn a_real_dead_process_is_not_a_holder() {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    assert!(!holder_alive(pid));
    // This test process runs, but it is not a holder.
    assert!(!holder_alive(std::process::id()));
    assert!(!holder_alive(0));
    assert!(!holder_alive(1));
}

#[test]
fn only_the_holders_own_record_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &state(42)).unwrap();
    remove_if_ours(&path, 7);
    assert!(path.exists());
    remove_if_ours(&path, 42);
    assert!(!path.exists());
}

#[test]
fn release_finds_records_by_master_without_a_principal() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &state(42)).unwrap();
    let mut other = state(43);
    other.master = "elsewhere:4700".into();
    write(dir.path(), &other).unwrap();
    let found = records_for(dir.path(), "master.lab:4700");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].1.pid, 42);
    assert!(records_for(&dir.path().join("missing"), "m").is_empty());
}
