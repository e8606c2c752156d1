//! The binary's command line: --help, --check-config.

use std::process::Command;

use crate::harness::*;

fn station() -> Command {
    Command::new(env!("CARGO_BIN_EXE_burnstand-station"))
}

#[test]
fn help_explains_the_options() {
    let out = station().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--config <FILE>"), "{text}");
    assert!(text.contains("--check-config"), "{text}");
}

#[test]
fn check_config_accepts_a_good_configuration_and_names_problems() {
    let lab = Lab::new();
    lab.make_iso("a.iso", 64 << 10, b"", false);
    let good = lab.dir.path().join("good.toml");
    std::fs::write(&good, lab.config_text("", "")).unwrap();
    let out = station()
        .arg("--config")
        .arg(&good)
        .arg("--check-config")
        .env_clear()
        .envs(lab.realm.env())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("configuration ok: station test-station") && stdout.contains("1 image(s)"),
        "{stdout}"
    );

    let bad = lab.dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        lab.config_text("", "")
            .replace("allow_file_drive = true", ""),
    )
    .unwrap();
    let out = station()
        .arg("--config")
        .arg(&bad)
        .arg("--check-config")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("allow_file_drive = true"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_audit_tail_is_cut_at_start_and_the_cut_is_recorded() {
    use std::io::Write as _;
    let lab = Lab::new();
    std::fs::create_dir_all(lab.audit_log.parent().unwrap()).unwrap();
    let mut log = burnstand_audit::AuditLog::open(&lab.audit_log).unwrap();
    for n in 1..=3u64 {
        log.append(&burnstand_audit::Event::new("station.start").field("n", n))
            .unwrap();
    }
    drop(log);
    // A crash mid-append, and an editor that added the missing newline when someone looked.
    let torn = b"{\"seq\":4,\"time\":\"2026-11-22T04:3\n";
    std::fs::OpenOptions::new()
        .append(true)
        .open(&lab.audit_log)
        .unwrap()
        .write_all(torn)
        .unwrap();

    let station = lab.start_binary(&lab.config_text("", ""));
    let stderr = std::fs::read_to_string(lab.dir.path().join("station.stderr")).unwrap();
    assert!(
        stderr.contains("WARN") && stderr.contains("torn record") && stderr.contains("cut off"),
        "the operator is told about the repair: {stderr}"
    );
    // It serves.
    let mut module = connect_as_master(&lab, station.addr).await.module();
    assert!(matches!(
        module.ask(&burnstand_wire::burner::Request::Capab).await,
        burnstand_wire::burner::Event::Cap(_)
    ));
    drop(module);
    drop(station); // SIGTERM and wait

    let report = burnstand_audit::verify(&lab.audit_log).unwrap();
    assert!(report.is_ok(), "the repaired log verifies: {report}");
    let records = lab.records();
    assert_eq!(records[3].event, burnstand_audit::REPAIR_EVENT);
    assert_eq!(records[3].get_u64("cut_bytes"), Some(torn.len() as u64));
    assert_eq!(records[3].get_str("reason"), Some("not valid JSON"));
    assert_eq!(records[4].event, "station.start");
}
