//! Key rotation while the daemons run (docs/operations.md "Key rotation"): `kadmin ktadd`
//! gives the master's and the station's principals new keys and appends them to the keytabs
//! the running daemons read. A burn running across the rotation finishes and verifies, a user
//! whose cached service ticket is of the old key still logs in (the old key stays in the
//! keytab until the admin removes it), and a user whose ticket is of the new key burns, with no
//! daemon restarted.

use std::path::Path;

use burnstand_testlab::{MASTER, REALM, STATION};

use crate::lab::{text, Lab};

/// `ktadd` as an admin runs it (`kadmin -q "ktadd -k FILE PRINCIPAL"`): a new random key for
/// `service`, its kvno one up, appended to `keytab`.
fn rotate_into(lab: &Lab, service: &str, keytab: &Path) {
    let principal = format!("{service}@{REALM}");
    let out = lab
        .realm
        .command("kadmin.local")
        .args(["-r", REALM, "-q"])
        .arg(format!("ktadd -k {} {principal}", keytab.display()))
        .output()
        .expect("run kadmin.local");
    assert!(out.status.success(), "ktadd: {}", text(&out.stderr));
}

/// The key versions `keytab` holds for `service`, from `klist -k`.
fn kvnos(lab: &Lab, service: &str, keytab: &Path) -> Vec<u32> {
    let out = lab
        .realm
        .command("klist")
        .arg("-k")
        .arg(keytab)
        .output()
        .expect("run klist -k");
    let mut kvnos: Vec<u32> = text(&out.stdout)
        .lines()
        .filter(|l| l.contains(&format!("{service}@{REALM}")))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    kvnos.dedup();
    kvnos
}

/// The kvno of the service ticket for `service` that `user` gets now (`kvno`, which uses the
/// ticket in the user's cache if there is one).
fn ticket_kvno(lab: &Lab, user: &str, service: &str) -> String {
    let out = lab
        .realm
        .command("kvno")
        .env("KRB5CCNAME", format!("FILE:{}", lab.ccache(user).display()))
        .arg(format!("{service}@{REALM}"))
        .output()
        .expect("run kvno");
    assert!(out.status.success(), "kvno: {}", text(&out.stderr));
    text(&out.stdout)
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or("")
        .to_owned()
}

#[test]
fn keys_rotated_with_ktadd_while_the_daemons_run_keep_burns_and_logins_working() {
    let lab = Lab::start();
    let master_keytab = lab.realm.keytab(MASTER).expect("master keytab").to_owned();
    let station_keytab = lab
        .realm
        .keytab(STATION)
        .expect("station keytab")
        .to_owned();

    // alice logs in before the rotation: her cache now holds a ticket of the master's kvno 1.
    let out = lab.run("alice", &["list"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(ticket_kvno(&lab, "alice", MASTER), "1");

    // carol starts a long burn; the keys change under it.
    let burn = lab.spawn("carol", &["burn", "big"]);
    lab.wait_for_burn_start("carol");
    rotate_into(&lab, MASTER, &master_keytab);
    rotate_into(&lab, STATION, &station_keytab);
    assert_eq!(kvnos(&lab, MASTER, &master_keytab), [1, 2]);
    assert_eq!(kvnos(&lab, STATION, &station_keytab), [1, 2]);

    let (status, stdout, stderr) = burn.wait();
    assert_eq!(status.code(), Some(0), "{stdout}\n{stderr}\n{}", lab.logs());
    assert!(stdout.contains("VERIFIED"), "{stdout}");

    // alice's cached old-key ticket still opens a session: the old key is still in the keytab.
    let out = lab.run("alice", &["list"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(ticket_kvno(&lab, "alice", MASTER), "1");

    // bob's first ticket is of the new key, and a whole burn works with it.
    assert_eq!(ticket_kvno(&lab, "bob", MASTER), "2");
    let out = lab.run("bob", &["burn", "sample"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr),
        lab.logs()
    );
    assert!(text(&out.stdout).contains("VERIFIED"));
}
