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
