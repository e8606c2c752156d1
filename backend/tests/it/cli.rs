//! The binary's command line: --help, --check-config.

use std::process::Command;

use crate::harness::*;

fn station() -> Command {
    Command::new(env!("CARGO_BIN_EXE_burnstand-station"))
}

/// `burnstand-station --config FILE --check-config` with only the lab realm's environment.
fn check_config(lab: &Lab, config: &std::path::Path) -> std::process::Output {
    station()
        .arg("--config")
        .arg(config)
        .arg("--check-config")
        .env_clear()
        .envs(lab.realm.env())
        .output()
        .unwrap()
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
    let out = check_config(&lab, &good);
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
    assert!(
        stdout.contains("fast path: on (self-test passed)"),
        "{stdout}"
    );
    let off = lab.dir.path().join("mit.toml");
    std::fs::write(&off, lab.config_text("fast_path = false", "")).unwrap();
    let out = check_config(&lab, &off);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("fast path: off (fast_path = false)"),
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

/// Every path under `dir` with its kind, size, mode and modification time: a snapshot to
/// prove a check changed nothing on disk.
fn tree(dir: &std::path::Path) -> Vec<(std::path::PathBuf, String)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path.clone());
            }
            out.push((
                path,
                format!(
                    "{:o} {} {}.{}",
                    meta.mode(),
                    meta.size(),
                    meta.mtime(),
                    meta.mtime_nsec()
                ),
            ));
        }
    }
    out.sort();
    out
}

/// `burnstand-station --check-config` on `text`, with the realm's environment.
/// Also asserts that the check created or changed nothing under the lab's directory.
fn check(lab: &Lab, name: &str, text: &str) -> std::process::Output {
    let path = lab.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    let before = tree(lab.dir.path());
    let out = check_file(lab, &path);
    assert_eq!(tree(lab.dir.path()), before, "--check-config changed files");
    out
}

/// `burnstand-station --check-config` on the file at `path`.
fn check_file(lab: &Lab, path: &std::path::Path) -> std::process::Output {
    station()
        .arg("--config")
        .arg(path)
        .arg("--check-config")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(lab.realm.env())
        .output()
        .unwrap()
}

/// Asserts the check failed with exit code 1 and said `needle` (and named no Rust item).
fn assert_refused(out: &std::process::Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    assert!(!stderr.contains("::"), "{stderr}");
}

#[test]
fn check_config_changes_nothing_on_disk() {
    let lab = Lab::new();
    lab.make_iso("a.iso", 64 << 10, b"", false);
    // Fresh paths: the daemon would create the audit log's directory, the state directory
    // and the digest cache; a check must not.
    let text = lab
        .config_text("", "")
        .replace(
            &lab.state.display().to_string(),
            &lab.dir.path().join("new-state").display().to_string(),
        )
        .replace(
            &lab.audit_log.display().to_string(),
            &lab.dir
                .path()
                .join("new-audit/station.log")
                .display()
                .to_string(),
        );
    let config = lab.dir.path().join("fresh.toml");
    std::fs::write(&config, &text).unwrap();
    let before = tree(lab.dir.path());
    let out = check_file(&lab, &config);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 image(s)"));
    assert_eq!(
        tree(lab.dir.path()),
        before,
        "--check-config created or changed files"
    );
    assert!(!lab.dir.path().join("new-state").exists());
    assert!(!lab.dir.path().join("new-audit").exists());
}

#[test]
fn check_config_and_start_refuse_a_keytab_others_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let lab = Lab::new();
    let keytab = lab.realm.keytab(STATION).unwrap().to_owned();
    std::fs::set_permissions(&keytab, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = check(&lab, "keytab.toml", &lab.config_text("", ""));
    assert_refused(&out, &format!("chmod 600 {}", keytab.display()));
    assert_refused(&out, "mode 0640");

    // Serving is refused the same way.
    let path = lab.dir.path().join("keytab.toml");
    let out = station()
        .arg("--config")
        .arg(&path)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(lab.realm.env())
        .output()
        .unwrap();
    assert_refused(&out, &format!("chmod 600 {}", keytab.display()));
    assert!(out.stdout.is_empty(), "it never listened");
    assert!(
        !lab.audit_log.exists() && !lab.state.exists(),
        "nothing was opened"
    );
}

#[test]
fn check_config_refuses_user_and_unknown_realm_trusted_masters() {
    let lab = Lab::new();
    let master = lab.principal(MASTER);

    let user = lab
        .config_text("", "")
        .replace(&master, &lab.principal("alice"));
    let out = check(&lab, "user.toml", &user);
    assert_refused(
        &out,
        "trusted master \"alice@BURNSTAND.TEST\" is not a service principal",
    );
    // The daemon does not start with it either.
    let out = station()
        .arg("--config")
        .arg(lab.dir.path().join("user.toml"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(lab.realm.env())
        .output()
        .unwrap();
    assert_refused(&out, "is not a service principal");

    let foreign = lab
        .config_text("", "")
        .replace(&master, "burnstand/localhost@ELSEWHERE.TEST");
    let out = check(&lab, "foreign.toml", &foreign);
    assert_refused(&out, "realm ELSEWHERE.TEST");
    assert_refused(&out, "BURNSTAND.TEST");

    // A realm the policy lists is known.
    lab.policy_header(&format!("realms = [\"{REALM}\", \"ELSEWHERE.TEST\"]\n"));
    let out = check(&lab, "foreign.toml", &foreign);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_config_refuses_a_device_that_is_not_a_drive() {
    let lab = Lab::new();
    let plain = lab.dir.path().join("plain.img");
    std::fs::write(&plain, vec![0u8; 4096]).unwrap();
    for device in [plain.display().to_string(), "/dev/null".to_owned()] {
        let text = lab.config_text("", "").replace(
            &format!("file = \"{}\"\nallow_file_drive = true", lab.disc.display()),
            &format!("device = \"{device}\""),
        );
        assert!(text.contains(&format!("device = \"{device}\"")));
        let out = check(&lab, "device.toml", &text);
        assert_refused(
            &out,
            &format!("drive.device {device} is not a block device"),
        );
    }
    let out = check(
        &lab,
        "device.toml",
        &lab.config_text("", "").replace(
            &format!("file = \"{}\"\nallow_file_drive = true", lab.disc.display()),
            &format!("device = \"{}\"", plain.display()),
        ),
    );
    assert_refused(&out, "allow_file_drive = true");
}
