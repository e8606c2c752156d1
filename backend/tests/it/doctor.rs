//! `burnstand-station --config FILE doctor` against a real realm: a healthy station passes,
//! and each broken part fails on its own line with what to fix.

use std::path::Path;
use std::process::Output;

use burnstand_testlab::daemon_command;

use crate::harness::*;

/// `burnstand-station --config <lab dir>/NAME doctor` on `text`, with PATH and the realm's
/// environment only.
fn doctor(lab: &Lab, name: &str, text: &str) -> Output {
    let path = lab.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    daemon_command(
        Path::new(env!("CARGO_BIN_EXE_burnstand-station")),
        &lab.realm,
    )
    .arg("--config")
    .arg(&path)
    .arg("doctor")
    .output()
    .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The report's line for `check` with `status` (e.g. `FAIL`, `keytab`), if there is one.
fn line<'a>(report: &'a str, status: &str, check: &str) -> Option<&'a str> {
    let prefix = format!("{status:<4}  {check:<9}  ");
    report.lines().find(|l| l.starts_with(&prefix))
}

/// Asserts exit code 1, a FAIL line for `check` saying `needle`, and no Rust names.
fn assert_fails(out: &Output, check: &str, needle: &str) {
    let report = stdout(out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    let line = line(&report, "FAIL", check).unwrap_or_else(|| panic!("no FAIL {check}: {report}"));
    assert!(line.contains(needle), "expected {needle:?} in: {line}");
    assert!(!report.contains("::"), "{report}");
}

/// A station keytab the test may change: a copy of the realm's, mode 0600.
fn own_keytab(lab: &Lab) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let keytab = lab.dir.path().join("station.keytab");
    std::fs::copy(lab.realm.keytab(STATION).unwrap(), &keytab).unwrap();
    std::fs::set_permissions(&keytab, std::fs::Permissions::from_mode(0o600)).unwrap();
    keytab
}

#[test]
fn a_healthy_station_passes_every_check() {
    let lab = Lab::new();
    lab.make_iso("a.iso", 64 << 10, b"", false);
    std::fs::create_dir_all(lab.audit_log.parent().unwrap()).unwrap();
    let mut log = burnstand_audit::AuditLog::open(&lab.audit_log).unwrap();
    let mut head = None;
    for n in 1..=2u64 {
        head = Some(
            log.append(&burnstand_audit::Event::new("station.start").field("n", n))
                .unwrap(),
        );
    }
    drop(log);
    let head = head.unwrap();

    // Pushes of at most 1 MiB: the catalog's filesystem surely has room for one (the default
    // 64 GiB would warn on a small disk).
    let text = lab.config_text("[push]\nmax_image_size = 1048576", "");
    let out = doctor(&lab, "good.toml", &text);
    let report = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(
        report.contains("doctor: 0 failed, 0 warning(s)"),
        "{report}"
    );
    for (check, needle) in [
        ("config", "test-station"),
        ("keytab", "readable by its owner only"),
        ("principal", &lab.principal(STATION)),
        (
            "masters",
            &format!("the KDC knows {}", lab.principal(MASTER)),
        ),
        ("clock", "of the KDC's"),
        ("drive", "readable and writable by this user"),
        ("xorriso", "needs 1.5.4 or newer"),
        ("disk", "free for the audit log"),
        (
            "audit",
            &format!(
                "2 records in 1 file(s), chain intact end to end, head 2:{}",
                head.hash
            ),
        ),
        ("catalog", "1 image(s)"),
    ] {
        // (`masters` has two lines: the configuration's rule, and the KDC's answer.)
        let prefix = format!("OK    {check:<9}  ");
        assert!(
            report
                .lines()
                .any(|l| l.starts_with(&prefix) && l.contains(needle)),
            "expected an OK {check} line with {needle:?}: {report}"
        );
    }
    // Every check ran.
    assert!(!report.contains("SKIP"), "{report}");
}

#[test]
fn the_doctor_creates_nothing_the_station_would() {
    let lab = Lab::new();
    let (state, audit_dir) = (
        lab.dir.path().join("new-state"),
        lab.dir.path().join("new-audit"),
    );
    let text = lab
        .config_text("", "")
        .replace(
            &lab.state.display().to_string(),
            &state.display().to_string(),
        )
        .replace(
            &lab.audit_log.display().to_string(),
            &audit_dir.join("station.log").display().to_string(),
        );
    let out = doctor(&lab, "fresh.toml", &text);
    let report = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(
        line(&report, "OK", "audit")
            .unwrap()
            .contains("does not exist yet"),
        "{report}"
    );
    assert!(!state.exists() && !audit_dir.exists(), "{report}");
}

#[test]
fn a_keytab_others_can_read_fails_with_chmod() {
    use std::os::unix::fs::PermissionsExt;
    let lab = Lab::new();
    let keytab = own_keytab(&lab);
    std::fs::set_permissions(&keytab, std::fs::Permissions::from_mode(0o644)).unwrap();
    let text = lab.config_text("", "").replace(
        &lab.realm.keytab(STATION).unwrap().display().to_string(),
        &keytab.display().to_string(),
    );
    let out = doctor(&lab, "open-keytab.toml", &text);
    assert_fails(&out, "keytab", &format!("chmod 600 {}", keytab.display()));
    assert!(
        line(&stdout(&out), "OK", "clock").is_some(),
        "the other checks run"
    );
}

#[test]
fn a_principal_missing_from_the_keytab_fails_with_ktadd() {
    let lab = Lab::new();
    let stranger = lab.principal("burnstand-station/elsewhere");
    let text = lab
        .config_text("", "")
        .replace(&lab.principal(STATION), &stranger);
    let out = doctor(&lab, "stranger.toml", &text);
    assert_fails(&out, "principal", "ktadd -norandkey");
    assert!(line(&stdout(&out), "FAIL", "principal")
        .unwrap()
        .contains(&stranger));
    assert!(
        line(&stdout(&out), "SKIP", "clock").is_some(),
        "no clock probe without the key: {}",
        stdout(&out)
    );
}

#[test]
fn a_trusted_master_the_kdc_does_not_know_fails() {
    let lab = Lab::new();
    let ghost = lab.principal("burnstand/ghost");
    let text = lab
        .config_text("", "")
        .replace(&lab.principal(MASTER), &ghost);
    let out = doctor(&lab, "ghost.toml", &text);
    assert_fails(&out, "masters", "correct `trusted_masters`");
    assert!(line(&stdout(&out), "FAIL", "masters")
        .unwrap()
        .contains(&ghost));
}

#[test]
fn a_missing_drive_fails_with_what_to_connect() {
    let lab = Lab::new();
    // A file drive whose directory is gone.
    let gone = lab.dir.path().join("unplugged/disc.img");
    let text = lab
        .config_text("", "")
        .replace(&lab.disc.display().to_string(), &gone.display().to_string());
    let out = doctor(&lab, "no-dir.toml", &text);
    assert_fails(
        &out,
        "drive",
        "create the directory, or correct `drive.file`",
    );

    // A device that is not there.
    let text = lab.config_text("", "").replace(
        &format!("file = \"{}\"\nallow_file_drive = true", lab.disc.display()),
        "device = \"/dev/burnstand-no-such-drive\"",
    );
    let out = doctor(&lab, "no-device.toml", &text);
    assert_fails(
        &out,
        "drive",
        "connect the drive, or correct `drive.device`",
    );
}

#[test]
fn a_missing_xorriso_fails_with_install_xorriso() {
    let lab = Lab::new();
    let text = lab.config_text("", "xorriso = \"/nonexistent/bin/xorriso\"");
    let out = doctor(&lab, "no-xorriso.toml", &text);
    assert_fails(&out, "xorriso", "cannot find /nonexistent/bin/xorriso");
    assert!(line(&stdout(&out), "FAIL", "xorriso")
        .unwrap()
        .contains("install xorriso"));
}

#[test]
fn an_unreadable_configuration_is_one_fail() {
    let lab = Lab::new();
    let out = doctor(&lab, "typo.toml", &lab.config_text("listne = 1", ""));
    assert_fails(&out, "config", "typo.toml");
    let report = stdout(&out);
    assert!(report.contains("unknown field `listne`"), "{report}");
    // Nothing else is checked; the TOML error's lines stay under its FAIL line.
    let lines: Vec<&str> = report.lines().collect();
    assert!(
        lines[1..lines.len() - 1]
            .iter()
            .all(|l| l.starts_with("    ")),
        "{report}"
    );
    assert_eq!(lines.last(), Some(&"doctor: 1 failed, 0 warning(s)"));
}

#[test]
fn a_clock_ten_minutes_off_the_kdcs_fails() {
    let lab = Lab::new();
    let path = lab.dir.path().join("skewed.toml");
    std::fs::write(&path, lab.config_text("", "")).unwrap();
    // libfaketime moves this process tree's clock (the doctor and its kinit), not the KDC's.
    let out = daemon_command(Path::new("faketime"), &lab.realm)
        .args(["-f", "-10m"])
        .arg(env!("CARGO_BIN_EXE_burnstand-station"))
        .arg("--config")
        .arg(&path)
        .arg("doctor")
        .output()
        .expect("run faketime (scripts/install-deps.sh installs it)");
    assert_fails(&out, "clock", "s behind the KDC's");
    let line = line(&stdout(&out), "FAIL", "clock").unwrap().to_owned();
    assert!(line.contains("NTP"), "{line}");
    // MIT measures in whole seconds: a second may tick between the KDC's stamp and ours.
    let seconds: u64 = line
        .split("this clock is ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no skew in: {line}"));
    assert!((598..=602).contains(&seconds), "{line}");
}

/// A rotated log is checked end to end across its segments (and against the exported head): a
/// segment moved away is named, not passed over because the live file alone still chains.
#[test]
fn the_audit_check_reads_every_segment_and_the_exported_head() {
    let lab = Lab::new();
    lab.make_iso("a.iso", 64 << 10, b"", false);
    std::fs::create_dir_all(lab.audit_log.parent().unwrap()).unwrap();
    let head_file = lab.dir.path().join("station.head");
    let settings = burnstand_audit::AuditSettings {
        rotate_bytes: burnstand_audit::MIN_ROTATE_BYTES,
        head_export: Some(head_file.clone()),
        ..burnstand_audit::AuditSettings::default()
    };
    let mut log = burnstand_audit::OpenOptions::new()
        .settings(settings)
        .open(&lab.audit_log)
        .unwrap();
    let mut last = None;
    for n in 1..=120u64 {
        let event = burnstand_audit::Event::new("station.start")
            .field("n", n)
            .field("padding", "x".repeat(64));
        last = Some(log.append(&event).unwrap());
    }
    drop(log);
    let head = last.unwrap();
    let segments = burnstand_audit::segments_of(&lab.audit_log).unwrap();
    assert!(segments.len() >= 2, "the log rotated: {segments:?}");
    let audit = format!(
        "[audit]\nrotate_bytes = {}\nhead_export = \"{}\"",
        burnstand_audit::MIN_ROTATE_BYTES,
        head_file.display()
    );
    let text = lab.config_text(&format!("[push]\nmax_image_size = 1048576\n{audit}"), "");

    let out = doctor(&lab, "rotated.toml", &text);
    let report = stdout(&out);
    let ok = line(&report, "OK", "audit").unwrap_or_else(|| panic!("no OK audit: {report}"));
    assert!(
        ok.contains(&format!("{} file(s)", segments.len() + 1))
            && ok.contains(&format!("head {}:{}", head.seq, head.hash))
            && ok.contains("matches the exported head"),
        "{ok}"
    );

    // The newest segment moved away: the live file alone still chains, the log does not.
    let moved = &segments[segments.len() - 1].path;
    std::fs::rename(moved, lab.dir.path().join("moved-away.jsonl")).unwrap();
    let out = doctor(&lab, "rotated.toml", &text);
    assert_fails(&out, "audit", "missing");
}
