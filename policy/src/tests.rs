//! Unit tests of parsing and of every refusal.

use std::path::Path;
use std::time::{Duration, SystemTime};

use burnstand_wire::gss::Principal;

use crate::{Burn, Policy, PolicyError, Refusal, Subject, Usage, UsageIndex};

const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SHA_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn policy(text: &str) -> Policy {
    match Policy::parse(text, Path::new("test.toml"), "T.TEST") {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

fn problems(text: &str) -> Vec<String> {
    match Policy::parse(text, Path::new("test.toml"), "T.TEST") {
        Err(PolicyError::Invalid { problems, .. }) => problems,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn with<R>(name: &str, f: impl FnOnce(Subject<'_>) -> R) -> R {
    let p = Principal::parse(name).unwrap();
    f(Subject {
        exported: p.exported(),
        display: p.as_str(),
    })
}

fn burn(user: &str, sha: &str, seq: u64, end: SystemTime) -> Burn {
    Burn {
        copy_id: format!("copy-{seq}"),
        user: Principal::parse(user).unwrap().exported().to_vec(),
        sha256: sha.into(),
        end,
    }
}

const BASE: &str = r#"
[groups]
staff = ["bob@T.TEST"]

[[image]]
sha256 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
name = "exam"
allow_users = ["alice@T.TEST"]
allow_groups = ["staff"]
copies = 2
period = "30d"
drives = ["DVD"]
"#;

#[test]
fn entitled_users_and_groups_may_burn_others_not() {
    let p = policy(BASE);
    let now = SystemTime::now();
    let none = UsageIndex::new();
    for user in ["alice@T.TEST", "bob@T.TEST"] {
        let left = with(user, |s| p.may_burn(&s, SHA_A, "DVD", now, &none)).unwrap();
        assert_eq!(left.0, Some(2), "{user}");
    }
    for user in ["mallory@T.TEST", "alice/admin@T.TEST", "Alice@T.TEST"] {
        let err = with(user, |s| p.may_burn(&s, SHA_A, "DVD", now, &none)).unwrap_err();
        assert!(matches!(err, Refusal::NotEntitled { .. }), "{user}: {err}");
    }
    let err = with("alice@T.TEST", |s| p.may_burn(&s, SHA_B, "DVD", now, &none)).unwrap_err();
    assert!(matches!(err, Refusal::NotEntitled { .. }));
    let err = with("alice@T.TEST", |s| p.may_burn(&s, SHA_A, "CD", now, &none)).unwrap_err();
    assert!(matches!(err, Refusal::WrongDrive { .. }), "{err}");
}

#[test]
fn quota_counts_receipts_in_the_period_once_each() {
    let p = policy(BASE);
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    let mut usage = UsageIndex::new();
    usage.record(burn("alice@T.TEST", SHA_A, 1, now - 40 * day)); // outside the window
    usage.record(burn("alice@T.TEST", SHA_A, 2, now - day));
    usage.record(burn("alice@T.TEST", SHA_A, 2, now - day)); // the same burn learnt twice
    let left = with("alice@T.TEST", |s| {
        p.may_burn(&s, SHA_A, "DVD", now, &usage)
    })
    .unwrap();
    assert_eq!(left.0, Some(1));
    assert!(left.allows(1) && !left.allows(2));
    usage.record(burn("alice@T.TEST", SHA_A, 3, now - day));
    let err = with("alice@T.TEST", |s| {
        p.may_burn(&s, SHA_A, "DVD", now, &usage)
    })
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "quota used up: 2 of 2 copies of exam in the last 30d"
    );
    // bob's quota is his own
    assert!(with("bob@T.TEST", |s| p.may_burn(&s, SHA_A, "DVD", now, &usage)).is_ok());
    // and BIND is refused for alice: nothing else to burn
    let err = with("alice@T.TEST", |s| p.may_bind(&s, "DVD", now, &usage)).unwrap_err();
    assert!(matches!(err, Refusal::QuotaUsedUp { .. }), "{err}");
    assert!(with("bob@T.TEST", |s| p.may_bind(&s, "DVD", now, &usage)).is_ok());
    let err = with("bob@T.TEST", |s| p.may_bind(&s, "BD", now, &usage)).unwrap_err();
    assert!(matches!(err, Refusal::NothingToBurn { .. }), "{err}");
    assert_eq!(usage.used(b"nobody", SHA_A, None), 0);
}

#[test]
fn expired_entitlement_is_refused() {
    let p = policy(&format!(
        "[[image]]\nsha256 = \"{SHA_A}\"\nname = \"old\"\nallow_users = [\"*@T.TEST\"]\nvalid_until = \"2020-01-01T00:00:00Z\"\n"
    ));
    let now = SystemTime::now();
    let err = with("alice@T.TEST", |s| {
        p.may_burn(&s, SHA_A, "DVD", now, &UsageIndex::new())
    })
    .unwrap_err();
    assert!(
        err.to_string().contains("ended at 2020-01-01T00:00:00Z"),
        "{err}"
    );
    let err = with("alice@T.TEST", |s| {
        p.may_bind(&s, "DVD", now, &UsageIndex::new())
    })
    .unwrap_err();
    assert!(matches!(err, Refusal::Expired { .. }), "{err}");
}

#[test]
fn foreign_realms_and_anonymous_are_refused_unless_listed() {
    let p = policy(&format!(
        "[[image]]\nsha256 = \"{SHA_A}\"\nname = \"open\"\nallow_users = [\"*@T.TEST\", \"*@OTHER.TEST\", \"*@WELLKNOWN:ANONYMOUS\"]\n"
    ));
    let u = UsageIndex::new();
    let now = SystemTime::now();
    let err = with("eve@OTHER.TEST", |s| p.may_burn(&s, SHA_A, "DVD", now, &u)).unwrap_err();
    assert!(matches!(err, Refusal::ForeignRealm { .. }), "{err}");
    let err = with("WELLKNOWN/ANONYMOUS@WELLKNOWN:ANONYMOUS", |s| p.admits(&s)).unwrap_err();
    assert_eq!(err, Refusal::Anonymous);
    let err = with("WELLKNOWN/ANONYMOUS@T.TEST", |s| p.admits(&s)).unwrap_err();
    assert_eq!(err, Refusal::Anonymous);

    let open = policy(&format!(
        "realms = [\"T.TEST\", \"OTHER.TEST\"]\nallow_anonymous = true\n[[image]]\nsha256 = \"{SHA_A}\"\nname = \"open\"\nallow_users = [\"*@OTHER.TEST\", \"*@WELLKNOWN:ANONYMOUS\"]\n"
    ));
    assert!(with("eve@OTHER.TEST", |s| open
        .may_burn(&s, SHA_A, "DVD", now, &u))
    .is_ok());
    assert!(with("WELLKNOWN/ANONYMOUS@WELLKNOWN:ANONYMOUS", |s| open
        .may_burn(&s, SHA_A, "DVD", now, &u))
    .is_ok());
}

#[test]
fn every_problem_is_reported() {
    let found = problems(
        "realms = [\"*\"]\n[[image]]\nsha256 = \"xyz\"\nname = \"\"\nallow_users = [\"alice\", \"*\"]\nallow_groups = [\"nosuch\"]\nperiod = \"soon\"\nvalid_until = \"tomorrow\"\ndrives = []\n",
    );
    let text = found.join("\n");
    for needle in [
        "realms",
        "64 hex digits",
        "name is empty",
        "\"alice\" must be a principal with its realm",
        "\"*\" must be",
        "not in [groups]",
        "period \"soon\"",
        "valid_until \"tomorrow\"",
        "drives is empty",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    let dup = problems(&format!(
        "[[image]]\nsha256 = \"{SHA_A}\"\nname = \"a\"\n[[image]]\nsha256 = \"{SHA_A}\"\nname = \"b\"\n"
    ));
    assert!(dup[0].contains("appears twice"), "{dup:?}");
    assert!(matches!(
        Policy::parse("imag = 1", Path::new("x"), "T.TEST"),
        Err(PolicyError::Syntax { .. })
    ));
}

#[test]
fn the_documented_example_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/policy.example.toml");
    let p = Policy::load(&path, "CAMPUS.EDU").unwrap();
    assert!(!p.entitlements().is_empty());
}

#[test]
fn only_limited_or_dated_entitlements_need_a_grant() {
    let text = format!(
        r#"
[[image]]
sha256 = "{a}"
name = "limited"
allow_users = ["alice@T.TEST"]
copies = 1

[[image]]
sha256 = "{b}"
name = "dated"
allow_users = ["alice@T.TEST"]
valid_until = "2099-01-01T00:00:00Z"

[[image]]
sha256 = "{c}"
name = "free"
allow_users = ["alice@T.TEST"]
"#,
        a = "a".repeat(64),
        b = "b".repeat(64),
        c = "c".repeat(64)
    );
    let p = Policy::parse(&text, Path::new("t.toml"), "T.TEST").unwrap();
    with("alice@T.TEST", |s| {
        assert!(p.needs_grant(&s, &"a".repeat(64)));
        assert!(p.needs_grant(&s, &"B".repeat(64)));
        assert!(!p.needs_grant(&s, &"c".repeat(64)));
        assert!(!p.needs_grant(&s, &"d".repeat(64)));
    });
}

/// The digest is `sha256sum` of the file: a known answer, equal for equal bytes, different
/// for any changed byte (a comment too), and the same whether read from disk or parsed.
#[test]
fn the_digest_is_the_sha256_of_the_files_bytes() {
    let text =
        format!("[[image]]\nsha256 = \"{SHA_A}\"\nname = \"a\"\nallow_users = [\"x@T.TEST\"]\n");
    // sha256 of the empty policy file: the well-known digest of no bytes.
    assert_eq!(
        policy("").digest().to_hex(),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(policy(&text).digest(), policy(&text).digest());
    assert_ne!(
        policy(&text).digest(),
        policy(&format!("# a comment\n{text}")).digest()
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, &text).unwrap();
    let loaded = Policy::load(&path, "T.TEST").unwrap();
    assert_eq!(loaded.digest(), crate::digest_of(text.as_bytes()));
    assert_eq!(loaded.digest(), policy(&text).digest());
}
