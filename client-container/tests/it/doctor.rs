//! `burnstand doctor` against a real KDC (and, for the healthy case, a real master): every
//! check passes on a working setup, and each broken part fails with what to fix.

use std::ffi::OsString;
use std::process::Output;

use crate::lab::Lab;
use crate::{burnstand, text};

/// The report's line for `check` with `status` (e.g. `FAIL`, `ticket`), if there is one.
fn line<'a>(report: &'a str, status: &str, check: &str) -> Option<&'a str> {
    let prefix = format!("{status:<4}  {check:<9}  ");
    report.lines().find(|l| l.starts_with(&prefix))
}

/// Asserts exit code 28 (`doctor_failed`) and a FAIL line for `check` saying `needle`.
fn assert_fails(out: &Output, check: &str, needle: &str) {
    let report = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(28),
        "{report}\n{}",
        text(&out.stderr)
    );
    let line = line(&report, "FAIL", check).unwrap_or_else(|| panic!("no FAIL {check}: {report}"));
    assert!(line.contains(needle), "expected {needle:?} in: {line}");
    assert!(
        text(&out.stderr).contains("run `burnstand doctor` again"),
        "{}",
        text(&out.stderr)
    );
}

/// A realm with alice and the master's principal, and no daemons.
fn realm() -> kdc_test::Realm {
    kdc_test::RealmBuilder::new("BURNSTAND.TEST")
        .user("alice", "alice-pw")
        .service("burnstand/localhost")
        .start()
        .unwrap()
}

/// A port nobody listens on.
fn closed_port() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

#[test]
fn a_working_setup_passes_every_check() {
    let lab = Lab::start();
    let out = lab.run("alice", &["doctor"]);
    let report = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{report}\n{}",
        text(&out.stderr)
    );
    assert!(
        report.contains("doctor: 0 failed, 0 warning(s)"),
        "{report}"
    );
    let master = lab.principal("burnstand/localhost");
    for (check, needle) in [
        ("config", "no configuration file"),
        ("krb5.conf", "default realm BURNSTAND.TEST"),
        ("ticket", &lab.principal("alice")),
        ("clock", "of the KDC's"),
        ("principal", &format!("the KDC knows {master}")),
        ("master", &format!("authenticated as {master}")),
    ] {
        let line = line(&report, "OK", check).unwrap_or_else(|| panic!("no OK {check}: {report}"));
        assert!(line.contains(needle), "expected {needle:?} in: {line}");
    }

    // The same as one JSON document.
    let out = lab.run("alice", &["--json", "doctor"]);
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["failed"], 0);
    assert_eq!(doc["checks"].as_array().unwrap().len(), 6);
    assert!(doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["status"] == "ok"));
}

#[test]
fn no_ticket_fails_with_run_kinit_and_skips_the_master() {
    let realm = realm();
    let out = burnstand(&["--master", &closed_port(), "doctor"], &realm.env());
    assert_fails(&out, "ticket", "run kinit");
    let report = text(&out.stdout);
    for check in ["clock", "principal", "master"] {
        assert!(line(&report, "SKIP", check).is_some(), "{report}");
    }
    assert!(line(&report, "OK", "krb5.conf").is_some(), "{report}");
}

#[test]
fn an_unknown_master_principal_and_an_unreachable_master_fail() {
    let realm = realm();
    realm.kinit("alice").unwrap();
    let master = closed_port();
    let out = burnstand(
        &[
            "--master",
            &master,
            "--master-principal",
            "burnstand/nowhere@BURNSTAND.TEST",
            "doctor",
        ],
        &realm.env(),
    );
    assert_fails(&out, "principal", "check --master-principal");
    assert_fails(
        &out,
        "master",
        &format!("cannot reach the burnstand master at {master}"),
    );
    assert!(line(&text(&out.stdout), "OK", "ticket").is_some());
}

#[test]
fn a_missing_krb5_conf_and_a_bad_config_file_fail() {
    let realm = realm();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "mastr = \"m:4700\"\n").unwrap();
    let mut env = realm.env();
    env.retain(|(k, _)| k != "KRB5_CONFIG");
    env.push((
        "KRB5_CONFIG".into(),
        OsString::from(dir.path().join("no-krb5.conf")),
    ));
    let config_shown = config.clone();
    env.push(("BURNSTAND_CONFIG".into(), config.into_os_string()));
    let out = burnstand(&["doctor"], &env);
    assert_fails(&out, "krb5.conf", "no Kerberos configuration at");
    let report = text(&out.stdout);
    assert!(
        line(&report, "SKIP", "master")
            .unwrap()
            .contains("needs the configuration"),
        "{report}"
    );
    // The file is checked also when the flags name both settings.
    let out = burnstand(
        &[
            "--master",
            &closed_port(),
            "--master-principal",
            "burnstand/localhost",
            "doctor",
        ],
        &env,
    );
    assert_fails(&out, "config", &format!("{}", config_shown.display()));
    assert!(
        text(&out.stdout).contains("unknown field `mastr`"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_ticket_got_with_a_skewed_clock_warns_about_the_clock() {
    use std::io::Write as _;
    let realm = realm();
    // kinit under libfaketime: this process tree's clock 10 minutes slow, the KDC's right.
    // MIT records the offset in the cache; burnstand reads it there.
    let mut kinit = realm
        .command("faketime")
        .args(["-f", "-10m", "kinit", "alice"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("run faketime (scripts/install-deps.sh installs it)");
    kinit
        .stdin
        .take()
        .unwrap()
        .write_all(b"alice-pw\n")
        .unwrap();
    assert!(kinit.wait().unwrap().success());

    let out = burnstand(&["--master", &closed_port(), "doctor"], &realm.env());
    let report = text(&out.stdout);
    let clock = line(&report, "WARN", "clock").unwrap_or_else(|| panic!("{report}"));
    assert!(
        clock.contains("s behind the KDC's") && clock.contains("NTP"),
        "{clock}"
    );
    // A warning alone does not fail the doctor; the unreachable master does.
    assert!(line(&report, "OK", "ticket").is_some(), "{report}");
    assert_fails(&out, "master", "cannot reach");
}
