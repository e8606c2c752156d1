//! Cross-realm trust: a user of realm B gets a valid ticket for a service of realm A.

use kdc_test::combined_krb5_conf;

use crate::{file, realm, SVC};

#[test]
fn user_of_b_gets_a_ticket_for_a_service_of_a() {
    let a = realm("HOME.TEST");
    let b = realm("FOREIGN.TEST");
    a.trust_from(&b).unwrap();

    let combined = b.dir().join("combined-krb5.conf");
    combined_krb5_conf(&[&a, &b], &combined).unwrap();
    let conf = std::fs::read_to_string(&combined).unwrap();
    assert!(conf.contains(&format!("kdc = 127.0.0.1:{}", a.port())));
    assert!(conf.contains(&format!("kdc = 127.0.0.1:{}", b.port())));

    // bob authenticates in his own realm B…
    let cc = b.dir().join("bob.cc");
    b.kinit_into("bob", &cc).unwrap();

    // …and asks for A's service: B's KDC issues krbtgt/HOME.TEST@FOREIGN.TEST, A's KDC the ticket.
    let target = format!("{SVC}@HOME.TEST");
    let out = b
        .command("kvno")
        .env("KRB5_CONFIG", &combined)
        .args(["-c", &file(&cc), &target])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("kvno = 1"));

    let klist = b
        .command("klist")
        .env("KRB5_CONFIG", &combined)
        .args(["-c", &file(&cc)])
        .output()
        .unwrap();
    let klist = String::from_utf8_lossy(&klist.stdout);
    assert!(
        klist.contains("Default principal: bob@FOREIGN.TEST"),
        "{klist}"
    );
    assert!(klist.contains("krbtgt/HOME.TEST@FOREIGN.TEST"), "{klist}");
    assert!(klist.contains(&target), "{klist}");

    // The ticket decrypts with A's keytab: A's service would accept bob@FOREIGN.TEST unless its
    // own policy refuses foreign realms.
    let verify = b
        .command("kvno")
        .env("KRB5_CONFIG", &combined)
        .args([
            "-c",
            &file(&cc),
            "-k",
            &file(a.keytab(SVC).unwrap()),
            &target,
        ])
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}

#[test]
fn without_trust_a_foreign_user_gets_nothing() {
    let a = realm("HOME.TEST");
    let b = realm("FOREIGN.TEST");
    let combined = b.dir().join("combined-krb5.conf");
    combined_krb5_conf(&[&a, &b], &combined).unwrap();
    let cc = b.dir().join("bob.cc");
    b.kinit_into("bob", &cc).unwrap();
    let out = b
        .command("kvno")
        .env("KRB5_CONFIG", &combined)
        .args(["-c", &file(&cc), &format!("{SVC}@HOME.TEST")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(a.trust_from(&a).is_err(), "a realm cannot trust itself");
}
