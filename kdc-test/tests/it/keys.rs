//! Service keytabs: exported, usable to decrypt tickets, and made stale by key rotation.

use crate::{file, ok, realm, run, STATION, SVC};

#[test]
fn keytab_exported_and_kvno_usable() {
    let realm = realm("BURNSTAND.TEST");
    let kt = realm.keytab(SVC).unwrap().to_path_buf();
    assert!(kt.starts_with(realm.dir()));
    assert_ne!(
        Some(kt.as_path()),
        realm.keytab(STATION),
        "one keytab per service"
    );

    let listed = ok(&realm, "klist", &["-k", &file(&kt)]);
    assert!(
        listed.contains("burnstand/localhost@BURNSTAND.TEST"),
        "{listed}"
    );
    assert!(!listed.contains("station"), "{listed}");

    realm.kinit("alice").unwrap();
    let out = ok(&realm, "kvno", &[SVC]);
    assert!(
        out.contains("burnstand/localhost@BURNSTAND.TEST: kvno = 1"),
        "{out}"
    );
    // `kvno -k` decrypts the service ticket with the keytab: the keytab really matches the KDB.
    let out = ok(&realm, "kvno", &["-k", &file(&kt), SVC]);
    assert!(out.contains("keytab entry valid"), "{out}");
}

#[test]
fn rotate_service_key_makes_the_old_keytab_stale() {
    let mut realm = realm("BURNSTAND.TEST");
    let old = realm.keytab(SVC).unwrap().to_path_buf();
    let new = realm.rotate_service_key(SVC).unwrap();
    assert_ne!(old, new);
    assert!(old.exists(), "the old keytab stays on disk");
    assert_eq!(realm.keytab(SVC), Some(new.as_path()));

    let old_list = ok(&realm, "klist", &["-k", &file(&old)]);
    let new_list = ok(&realm, "klist", &["-k", &file(&new)]);
    let kvnos = |list: &str| -> Vec<u32> {
        list.lines()
            .filter(|l| l.contains(SVC))
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect()
    };
    assert!(kvnos(&old_list).iter().all(|k| *k == 1), "{old_list}");
    assert!(kvnos(&new_list).iter().all(|k| *k == 2), "{new_list}");

    realm.kinit("alice").unwrap();
    let out = ok(&realm, "kvno", &["-k", &file(&new), SVC]);
    assert!(out.contains("kvno = 2"), "{out}");
    let stale = run(&realm, "kvno", &["-k", &file(&old), SVC]);
    assert!(!stale.status.success(), "old keytab still decrypts");
    let err = String::from_utf8_lossy(&stale.stderr);
    assert!(
        err.contains("not found in keytab") || err.contains("kvno"),
        "{err}"
    );

    // Rotating again gives a third file; the service env follows the newest one.
    let third = realm.rotate_service_key(SVC).unwrap();
    assert!(!third.eq(&new));
    let env = realm.service_env(SVC).unwrap();
    assert!(env
        .iter()
        .any(|(k, v)| k == "KRB5_KTNAME" && v.to_string_lossy() == file(&third)));
    assert!(realm.rotate_service_key("nope/localhost").is_err());
}
