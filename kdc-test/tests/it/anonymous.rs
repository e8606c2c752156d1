//! The anonymous principal through anonymous PKINIT.

use kdc_test::Error;

use crate::{builder, file, realm, SVC};

#[test]
fn anonymous_kinit_gets_a_wellknown_ticket() {
    let realm = builder("BURNSTAND.TEST").anonymous(true).start().unwrap();
    let cc = realm.dir().join("anon.cc");
    realm.kinit_anonymous(&cc).unwrap();
    let klist = crate::ok(&realm, "klist", &["-c", &file(&cc)]);
    assert!(
        klist.contains("Default principal: WELLKNOWN/ANONYMOUS@WELLKNOWN:ANONYMOUS"),
        "{klist}"
    );
    // An anonymous client can get a service ticket: burnstand's policy must refuse it itself.
    let out = crate::ok(&realm, "kvno", &["-c", &file(&cc), SVC]);
    assert!(out.contains("kvno = 1"), "{out}");
    // Named users still work in an anonymous-enabled realm.
    realm.kinit("alice").unwrap();
}

#[test]
fn anonymous_is_refused_unless_enabled() {
    let realm = realm("BURNSTAND.TEST");
    let err = realm
        .kinit_anonymous(&realm.dir().join("anon.cc"))
        .unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err:?}");
    // And the KDC has no anonymous principal: a raw `kinit -n` fails too.
    let out = crate::run(&realm, "kinit", &["-n", "@BURNSTAND.TEST"]);
    assert!(!out.status.success());
}
