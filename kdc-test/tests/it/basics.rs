//! A realm starts, users get tickets, errors are clear, the environment is complete.

use std::time::{Duration, Instant};

use kdc_test::{Error, RealmBuilder};

use crate::{ok, realm, run, SVC};

#[test]
fn kinit_alice_shows_in_klist() {
    let realm = realm("BURNSTAND.TEST");
    assert_eq!(realm.name(), "BURNSTAND.TEST");
    assert_eq!(realm.principal("alice"), "alice@BURNSTAND.TEST");
    assert_eq!(realm.password("alice"), Some("alice-pw"));
    realm.kinit("alice").unwrap();
    assert!(realm.ccache_path().exists());
    let klist = ok(&realm, "klist", &[]);
    assert!(
        klist.contains("Default principal: alice@BURNSTAND.TEST"),
        "{klist}"
    );
    assert!(
        klist.contains("krbtgt/BURNSTAND.TEST@BURNSTAND.TEST"),
        "{klist}"
    );
}

#[test]
fn wrong_password_fails_with_clear_error() {
    let realm = realm("BURNSTAND.TEST");
    let cc = realm.dir().join("wrong.cc");
    let err = realm
        .kinit_with_password("alice", "not-alice-pw", &cc)
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::CommandFailed { .. }), "{err:?}");
    assert!(
        text.contains("Password incorrect") || text.contains("Preauthentication failed"),
        "{text}"
    );
    assert!(!text.contains("not-alice-pw"), "password leaked: {text}");
    assert!(!cc.exists());
}

#[test]
fn unknown_user_and_service_are_errors() {
    let realm = realm("BURNSTAND.TEST");
    assert!(matches!(realm.kinit("mallory"), Err(Error::UnknownUser(u)) if u == "mallory"));
    assert!(matches!(
        realm.service_env("nope/localhost"),
        Err(Error::UnknownService(_))
    ));
    assert!(realm.keytab("nope/localhost").is_none());
}

#[test]
fn invalid_names_are_refused_before_anything_runs() {
    let bad_realm = RealmBuilder::new("lower.case").start().unwrap_err();
    assert!(matches!(
        bad_realm,
        Error::InvalidName { what: "realm", .. }
    ));
    let bad_user = RealmBuilder::new("X.TEST")
        .user("alice smith", "pw")
        .start()
        .unwrap_err();
    assert!(matches!(
        bad_user,
        Error::InvalidName {
            what: "principal",
            ..
        }
    ));
    let bad_pw = RealmBuilder::new("X.TEST")
        .user("alice", "two words")
        .start()
        .unwrap_err();
    assert!(matches!(
        bad_pw,
        Error::InvalidName {
            what: "password",
            ..
        }
    ));
    assert!(!bad_pw.to_string().contains("two words"));
}

#[test]
fn env_selects_only_realm_files() {
    let realm = realm("BURNSTAND.TEST");
    let env = realm.env();
    let get = |k: &str| {
        env.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.to_string_lossy().into_owned())
            .unwrap_or_else(|| panic!("{k} missing"))
    };
    let dir = realm.dir().to_string_lossy().into_owned();
    assert_eq!(get("KRB5_CONFIG"), realm.krb5_conf().to_string_lossy());
    assert!(get("KRB5_KDC_PROFILE").starts_with(&dir));
    assert_eq!(
        get("KRB5CCNAME"),
        format!("FILE:{}", realm.ccache_path().display())
    );
    let rcache = get("KRB5RCACHEDIR");
    assert!(rcache.starts_with(&dir) && std::path::Path::new(&rcache).is_dir());
    assert!(get("KRB5_KTNAME").contains(&dir));
    assert!(env.iter().all(|(k, _)| k != "KRB5RCACHETYPE"));

    let svc = realm.service_env(SVC).unwrap();
    let kt = format!("FILE:{}", realm.keytab(SVC).unwrap().display());
    for var in ["KRB5_KTNAME", "KRB5_CLIENT_KTNAME"] {
        assert!(svc
            .iter()
            .any(|(k, v)| k == var && v.to_string_lossy() == kt));
    }

    let conf = std::fs::read_to_string(realm.krb5_conf()).unwrap();
    for line in [
        "default_realm = BURNSTAND.TEST",
        "dns_lookup_kdc = false",
        "dns_lookup_realm = false",
        "dns_canonicalize_hostname = false",
        "rdns = false",
        "udp_preference_limit = 1",
        &format!("kdc = 127.0.0.1:{}", realm.port()),
        "localhost = BURNSTAND.TEST",
        "127.0.0.1 = BURNSTAND.TEST",
    ] {
        assert!(conf.contains(line), "{line} missing in\n{conf}");
    }
    assert!(!conf.contains("ignore_acceptor_hostname"));
}

#[test]
fn command_env_overrides_parent_krb5_variables() {
    let realm = realm("BURNSTAND.TEST");
    realm.kinit("bob").unwrap();
    // A developer's stray settings must not leak into the realm's commands.
    let out = realm
        .command("klist")
        .env_remove("LC_ALL")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("bob@BURNSTAND.TEST"));
    let cmd = realm.command("klist");
    let removed: Vec<_> = cmd
        .get_envs()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .collect();
    assert!(
        removed.contains(&"KRB5RCACHETYPE".to_string()),
        "{removed:?}"
    );
}

#[test]
fn apply_to_process_sets_the_variables() {
    // Process-global: fine under nextest (one test per process); under `cargo test` no other
    // test reads the process environment for krb5, they all use realm.command().
    let realm = realm("BURNSTAND.TEST");
    realm.apply_to_process(Some(SVC)).unwrap();
    assert_eq!(
        std::env::var_os("KRB5_CONFIG").unwrap(),
        realm.krb5_conf().as_os_str()
    );
    assert_eq!(
        std::env::var("KRB5_KTNAME").unwrap(),
        format!("FILE:{}", realm.keytab(SVC).unwrap().display())
    );
    assert!(std::env::var_os("KRB5RCACHETYPE").is_none());
    assert!(realm.apply_to_process(Some("nope/x")).is_err());
}

#[test]
fn two_realms_at_once_on_different_ports() {
    let a = realm("ALPHA.TEST");
    let b = realm("BETA.TEST");
    assert_ne!(a.port(), b.port());
    assert_ne!(a.dir(), b.dir());
    a.kinit("alice").unwrap();
    b.kinit("bob").unwrap();
    assert!(ok(&a, "klist", &[]).contains("alice@ALPHA.TEST"));
    assert!(ok(&b, "klist", &[]).contains("bob@BETA.TEST"));
    // Same realm name twice in one process also works: separate dirs and ports.
    let a2 = realm("ALPHA.TEST");
    assert_ne!(a2.port(), a.port());
    a2.kinit("alice").unwrap();
}

#[test]
fn users_and_services_can_be_added_while_the_kdc_runs() {
    let mut realm = realm("BURNSTAND.TEST");
    realm.add_user("carol", "carol-pw").unwrap();
    let kt = realm.add_service("extra/localhost").unwrap();
    assert_eq!(realm.keytab("extra/localhost"), Some(kt.as_path()));
    realm.kinit("carol").unwrap();
    let out = ok(&realm, "kvno", &["extra/localhost"]);
    assert!(
        out.contains("extra/localhost@BURNSTAND.TEST: kvno = 1"),
        "{out}"
    );
    // Adding the same user twice is an error that says why.
    let err = realm.add_user("carol", "other-pw").unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert!(!err.to_string().contains("other-pw"));
}

#[test]
fn short_ticket_lifetime_is_visible_in_klist() {
    let realm = crate::builder("BURNSTAND.TEST")
        .ticket_lifetime(Duration::from_secs(30))
        .start()
        .unwrap();
    realm.kinit("alice").unwrap();
    let klist = ok(&realm, "klist", &[]);
    let line = klist
        .lines()
        .find(|l| l.contains("krbtgt/BURNSTAND.TEST@BURNSTAND.TEST"))
        .unwrap();
    // "11/22/26 04:38:26  11/22/26 04:38:56  krbtgt/…": start and end are 30 s apart.
    let secs = |t: &str| -> i64 {
        let p: Vec<i64> = t.split(':').map(|x| x.parse().unwrap()).collect();
        p[0] * 3600 + p[1] * 60 + p[2]
    };
    let f: Vec<&str> = line.split_whitespace().collect();
    let life = (secs(f[3]) - secs(f[1])).rem_euclid(24 * 3600);
    assert!((1..=30).contains(&life), "lifetime {life}s in {line}");

    // A service ticket is capped too.
    ok(&realm, "kvno", &[SVC]);
    let klist = ok(&realm, "klist", &[]);
    assert!(klist.contains(SVC), "{klist}");
}

#[test]
fn ticket_really_expires() {
    let realm = crate::builder("BURNSTAND.TEST")
        .ticket_lifetime(Duration::from_secs(2))
        .clock_skew(Duration::from_secs(1))
        .start()
        .unwrap();
    realm.kinit("alice").unwrap();
    assert!(run(&realm, "klist", &["-s"]).status.success());
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(4) && run(&realm, "klist", &["-s"]).status.success() {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        !run(&realm, "klist", &["-s"]).status.success(),
        "ticket still valid after 4 s"
    );
    // And once the clock skew (1 s) has passed too, the KDC refuses the expired TGT.
    std::thread::sleep(Duration::from_millis(1500));
    let kvno = run(&realm, "kvno", &[SVC]);
    assert!(!kvno.status.success());
    let err = String::from_utf8_lossy(&kvno.stderr);
    assert!(err.contains("expired"), "{err}");
}

#[test]
fn realm_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<kdc_test::Realm>();
    assert_send_sync::<kdc_test::Error>();
    let realm = realm("BURNSTAND.TEST");
    std::thread::scope(|s| {
        s.spawn(|| {
            realm
                .kinit_into("alice", &realm.dir().join("a.cc"))
                .unwrap()
        });
        s.spawn(|| realm.kinit_into("bob", &realm.dir().join("b.cc")).unwrap());
    });
}
