//! KDC process ownership: verified port, retry on a taken port, teardown, kept directories.

use std::net::{Ipv4Addr, TcpListener};
use std::time::Duration;

use kdc_test::{port_owned_by, Error, RealmBuilder};

use crate::{builder, pid_gone, realm};

#[test]
fn drop_kills_and_reaps_the_kdc_and_removes_the_dir() {
    let realm = realm("BURNSTAND.TEST");
    let pid = realm.kdc_pid().unwrap();
    let dir = realm.dir().to_path_buf();
    let port = realm.port();
    assert!(!pid_gone(pid));
    assert!(dir.join("principal").exists());
    drop(realm);
    assert!(pid_gone(pid), "krb5kdc {pid} still exists (or is a zombie)");
    assert!(!dir.exists(), "{} not removed", dir.display());
    assert!(!port_owned_by(port, pid).unwrap());
}

#[test]
fn the_port_is_held_by_our_own_kdc() {
    let realm = realm("BURNSTAND.TEST");
    let pid = realm.kdc_pid().unwrap();
    assert!(port_owned_by(realm.port(), pid).unwrap());
    assert!(!port_owned_by(realm.port(), std::process::id()).unwrap());
    assert_eq!(realm.start_attempts(), 1);
    let conf = std::fs::read_to_string(realm.kdc_conf()).unwrap();
    assert!(conf.contains(&format!("kdc_tcp_listen = 127.0.0.1:{}", realm.port())));
    assert!(
        conf.contains("kdc_listen = \"\""),
        "UDP is disabled:\n{conf}"
    );
}

#[test]
fn a_port_taken_by_someone_else_is_detected_and_another_is_used() {
    // Someone else listens on the port the KDC is told to try first. krb5kdc does not fail on a
    // bind error, and connecting to the port succeeds (it reaches the intruder): only the
    // socket-inode check notices.
    let intruder = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let taken = intruder.local_addr().unwrap().port();
    let realm = builder("BURNSTAND.TEST").first_port(taken).start().unwrap();
    assert_ne!(realm.port(), taken);
    assert_eq!(realm.start_attempts(), 2);
    assert!(port_owned_by(realm.port(), realm.kdc_pid().unwrap()).unwrap());
    assert!(realm.kdc_running());
    realm.kinit("alice").unwrap();
    let out = std::fs::read_to_string(realm.krb5_conf()).unwrap();
    assert!(out.contains(&format!("kdc = 127.0.0.1:{}", realm.port())));
    drop(intruder);
}

#[test]
fn a_port_held_by_another_kdc_is_not_shared() {
    // Two krb5kdc processes can both listen on one port and split the requests between them.
    // A second realm told to try the first realm's port must notice and move elsewhere.
    let first = realm("FIRST.TEST");
    let second = builder("SECOND.TEST")
        .first_port(first.port())
        .start()
        .unwrap();
    assert_ne!(second.port(), first.port());
    assert!(second.start_attempts() >= 2);
    assert!(port_owned_by(first.port(), first.kdc_pid().unwrap()).unwrap());
    assert!(port_owned_by(second.port(), second.kdc_pid().unwrap()).unwrap());
    // Both realms answer their own users only, every time.
    for _ in 0..5 {
        first.kinit("alice").unwrap();
        second.kinit("alice").unwrap();
    }
    assert!(crate::ok(&first, "klist", &[]).contains("alice@FIRST.TEST"));
}

#[test]
fn startup_timeout_reports_the_kdc_output_and_stops_it() {
    let err = builder("BURNSTAND.TEST")
        .start_timeout(Duration::ZERO)
        .start()
        .unwrap_err();
    match err {
        Error::KdcTimeout { log_tail, .. } => assert!(log_tail.contains("kdc.out"), "{log_tail}"),
        other => panic!("expected KdcTimeout, got {other:?}"),
    }
}

#[test]
fn keep_dir_leaves_the_files_but_stops_the_kdc() {
    let mut realm = realm("BURNSTAND.TEST");
    let pid = realm.kdc_pid().unwrap();
    let dir = realm.keep_dir();
    drop(realm);
    assert!(pid_gone(pid));
    assert!(dir.join("krb5.conf").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn caller_chosen_dir_is_kept_and_can_be_reused() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("realm");
    let first = builder("BURNSTAND.TEST").dir(&dir).start().unwrap();
    let pid = first.kdc_pid().unwrap();
    first.kinit("alice").unwrap();
    drop(first);
    assert!(pid_gone(pid));
    assert!(dir.join("principal").exists(), "a caller's dir stays");

    // A second realm in the same dir replaces the first one's files.
    let second = builder("OTHER.TEST").dir(&dir).start().unwrap();
    second.kinit("bob").unwrap();
    assert_eq!(second.dir(), dir.canonicalize().unwrap());
    assert!(crate::ok(&second, "klist", &[]).contains("bob@OTHER.TEST"));
}

#[test]
fn a_dir_with_foreign_files_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("krb5.conf"), "# somebody's\n").unwrap();
    let err = RealmBuilder::new("X.TEST")
        .dir(dir.path())
        .start()
        .unwrap_err();
    assert!(err.to_string().contains("not created by kdc-test"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("krb5.conf")).unwrap(),
        "# somebody's\n"
    );
}

/// With strace available, kinit and kvno in the realm env open nothing under /etc/krb5*,
/// /etc/ssl or /var (only the dynamic loader's and libc's files).
#[test]
fn nothing_under_etc_or_var_is_read() {
    let realm = realm("BURNSTAND.TEST");
    let trace = realm.dir().join("trace");
    let status = realm
        .command("strace")
        .args([
            "-f",
            "-qq",
            "-e",
            "trace=open,openat,stat,newfstatat,access",
            "-o",
        ])
        .arg(&trace)
        .arg("sh")
        .arg("-c")
        .arg("echo alice-pw | kinit alice >/dev/null && kvno burnstand/localhost >/dev/null")
        .status();
    match status {
        Ok(s) if s.success() => {}
        other => {
            eprintln!("strace unusable here ({other:?}); skipping the file-access check");
            return;
        }
    }
    let text = std::fs::read_to_string(&trace).unwrap();
    let allowed = ["/etc/ld.so.cache", "/etc/ld.so.preload", "/etc/localtime"];
    let bad: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("\"/etc/") || l.contains("\"/var/") || l.contains("/usr/lib/ssl/"))
        .filter(|l| !allowed.iter().any(|a| l.contains(a)))
        // sh itself may look at /etc for nothing krb5-related; only krb5/ssl/keytab paths count.
        .filter(|l| {
            l.contains("krb5") || l.contains("ssl") || l.contains("keytab") || l.contains("/var/")
        })
        .collect();
    assert!(bad.is_empty(), "opened system files:\n{}", bad.join("\n"));
    assert!(text.contains(&realm.krb5_conf().display().to_string()));
}
