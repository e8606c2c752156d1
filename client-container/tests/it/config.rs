//! Where the master is: --master beats BURNSTAND_MASTER beats the configuration file beats
//! the default; a broken configuration file is a usage error.

use std::process::Stdio;

use crate::lab::{text, wait_output, Lab};

/// An address nobody listens on.
fn dead_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

#[test]
fn flag_beats_environment_beats_config_file() {
    let lab = Lab::start();
    let dead = dead_address();
    let config = lab.dir.path().join("burnstand.toml");
    std::fs::write(
        &config,
        format!(
            "# alice's ~/.config/burnstand/config.toml\nmaster = \"{}\"\nmaster_principal = \"burnstand/localhost@BURNSTAND.TEST\"\n",
            lab.master_addr
        ),
    )
    .unwrap();
    let run = |env_master: Option<&str>, args: &[&str]| {
        let mut cmd = lab.client("alice", args);
        cmd.env_remove("BURNSTAND_MASTER")
            .env_remove("BURNSTAND_MASTER_PRINCIPAL")
            .env("BURNSTAND_CONFIG", &config);
        if let Some(master) = env_master {
            cmd.env("BURNSTAND_MASTER", master);
        }
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run burnstand");
        wait_output(child, "burnstand list")
    };

    // The file alone is enough.
    let out = run(None, &["list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("DVD burner"));

    // The environment beats the file.
    let out = run(Some(&dead), &["list"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&dead));

    // The flag beats the environment.
    let master = lab.master_addr.to_string();
    let out = run(Some(&dead), &["--master", &master, "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // A typo in the file is named, with the usage exit code.
    std::fs::write(&config, "mastr = \"x:1\"\n").unwrap();
    let out = run(None, &["list"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("burnstand.toml") && stderr.contains("mastr"),
        "{stderr}"
    );
}

/// The lab's /etc/burnstand/client.toml (here `BURNSTAND_SYSTEM_CONFIG`) is read under the
/// user's file: the user's keys win one by one, the system file fills in the rest.
#[test]
fn the_system_config_is_read_under_the_users_own() {
    let lab = Lab::start();
    let dead = dead_address();
    let system = lab.dir.path().join("client.toml");
    let user = lab.dir.path().join("user.toml");
    let principal = "burnstand/localhost@BURNSTAND.TEST";
    let run = |user_file: Option<&std::path::Path>| {
        let mut cmd = lab.client("alice", &["list"]);
        cmd.env_remove("BURNSTAND_MASTER")
            .env_remove("BURNSTAND_MASTER_PRINCIPAL")
            .env("BURNSTAND_SYSTEM_CONFIG", &system);
        if let Some(file) = user_file {
            cmd.env("BURNSTAND_CONFIG", file);
        }
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run burnstand");
        wait_output(child, "burnstand list")
    };

    // The system file alone is enough.
    std::fs::write(
        &system,
        format!(
            "master = \"{}\"\nmaster_principal = \"{principal}\"\n",
            lab.master_addr
        ),
    )
    .unwrap();
    let out = run(None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("DVD burner"));

    // The user's `master` beats the system's; the system's principal still fills in.
    std::fs::write(&user, format!("master = \"{dead}\"\n")).unwrap();
    let out = run(Some(&user));
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&dead), "{}", text(&out.stderr));

    // And the other way round: a dead master in the system file, the right one in the user's.
    std::fs::write(
        &system,
        format!("master = \"{dead}\"\nmaster_principal = \"{principal}\"\n"),
    )
    .unwrap();
    std::fs::write(&user, format!("master = \"{}\"\n", lab.master_addr)).unwrap();
    let out = run(Some(&user));
    assert!(out.status.success(), "{}", text(&out.stderr));

    // A typo in the system file is named, with the usage exit code.
    std::fs::write(&system, "mastr = \"x:1\"\n").unwrap();
    let out = run(Some(&user));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("client.toml") && stderr.contains("mastr"),
        "{stderr}"
    );
}
