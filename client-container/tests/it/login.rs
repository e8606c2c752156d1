//! Logging in: what a user without a ticket sees, against a real KDC.

use crate::{burnstand, text};

#[test]
fn no_ticket_says_run_kinit_with_exit_code_3() {
    let realm = kdc_test::RealmBuilder::new("BURNSTAND.TEST")
        .user("alice", "alice-pw")
        .service("burnstand/localhost")
        .start()
        .unwrap();
    // The realm's environment, but nobody ran kinit: the ccache does not exist.
    let out = burnstand(&["--master", "127.0.0.1:9", "list"], &realm.env());
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no Kerberos ticket: run kinit"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn an_unreachable_master_is_exit_code_4() {
    let realm = kdc_test::RealmBuilder::new("BURNSTAND.TEST")
        .user("alice", "alice-pw")
        .service("burnstand/localhost")
        .start()
        .unwrap();
    realm.kinit("alice").unwrap();
    // Bind and drop a listener to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let master = format!("127.0.0.1:{port}");
    let out = burnstand(&["--master", &master, "list"], &realm.env());
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("cannot reach the burnstand master"));
}

#[test]
fn no_ticket_with_json_is_one_json_error_on_stderr() {
    let realm = kdc_test::RealmBuilder::new("BURNSTAND.TEST")
        .user("alice", "alice-pw")
        .service("burnstand/localhost")
        .start()
        .unwrap();
    let out = burnstand(
        &["--json", "--master", "127.0.0.1:9", "burn", "x"],
        &realm.env(),
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
    let error: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(error["error"], "no_ticket");
    assert_eq!(error["exit_code"], 3);
    assert!(error["message"]
        .as_str()
        .unwrap()
        .starts_with("no Kerberos ticket: run kinit"));
}

#[test]
fn an_expired_ticket_says_so_with_exit_code_3() {
    let realm = kdc_test::RealmBuilder::new("BURNSTAND.TEST")
        .user("alice", "alice-pw")
        .service("burnstand/localhost")
        .ticket_lifetime(std::time::Duration::from_secs(2))
        .start()
        .unwrap();
    realm.kinit("alice").unwrap();
    // Wait (bounded) until krb5 itself says the ticket has ended.
    crate::lab::wait_for("the ticket to expire", || {
        let valid = realm
            .command("klist")
            .arg("-s")
            .status()
            .expect("run klist")
            .success();
        (!valid).then_some(())
    });
    let out = burnstand(&["--master", "127.0.0.1:9", "list"], &realm.env());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.starts_with("burnstand: your Kerberos ticket")
            && stderr.contains("has expired: run kinit"),
        "{stderr}"
    );
}

#[test]
fn login_runs_kinit_and_shows_the_ticket() {
    let realm = kdc_test::RealmBuilder::new("BURNSTAND.TEST")
        .user("alice", "alice-pw")
        .start()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ccache = dir.path().join("alice.ccache");
    let mut env = realm.env();
    for (k, v) in &mut env {
        if k == "KRB5CCNAME" {
            *v = format!("FILE:{}", ccache.display()).into();
        }
    }
    let login = |password: &str| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_burnstand"))
            .args(["login", "alice@BURNSTAND.TEST"])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // kinit reads the password from stdin when it is not a terminal.
        std::io::Write::write_all(
            child.stdin.as_mut().unwrap(),
            format!("{password}\n").as_bytes(),
        )
        .unwrap();
        drop(child.stdin.take());
        crate::lab::wait_output(child, "burnstand login")
    };

    let wrong = login("not-the-password");
    let stderr = text(&wrong.stderr);
    assert_eq!(wrong.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("kinit did not get a ticket"), "{stderr}");

    let right = login("alice-pw");
    let stdout = text(&right.stdout);
    assert!(right.status.success(), "{}", text(&right.stderr));
    assert!(
        stdout.starts_with("logged in as alice@BURNSTAND.TEST; the ticket is valid until "),
        "{stdout}"
    );
    assert!(ccache.is_file(), "kinit wrote the ccache burnstand uses");
}
