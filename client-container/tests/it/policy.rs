//! The policy end to end, with real tickets: refused early at BIND with the reason, quotas
//! counted from receipts, receipts saved and checked, foreign and anonymous principals.

use crate::lab::{Lab, Policy, FOREIGN, REALM};
use crate::text;

fn run_text(out: &std::process::Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    )
}

#[test]
fn a_user_without_entitlement_is_refused_at_bind_with_the_reason() {
    let lab = Lab::start_with_policy(&Policy {
        users: vec!["alice"],
        ..Policy::default()
    });
    let out = lab.run("dave", &["burn", "sample"]);
    assert_eq!(out.status.code(), Some(16), "{}", run_text(&out));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "dave@{REALM} is not entitled to burn any image on a DVD station now"
        )),
        "{stderr}"
    );
    assert!(lab
        .master_records()
        .iter()
        .any(|r| r.event == "bind.deny" && r.get_str("principal") == Some("dave@BURNSTAND.TEST")));
    // Nothing reached a station.
    assert!(lab
        .station_records()
        .iter()
        .all(|r| r.event != "session.start"));
}

#[test]
fn a_used_up_quota_refuses_the_next_copy_and_the_saved_receipt_verifies() {
    let lab = Lab::start_with_policy(&Policy {
        sample_copies: Some(1),
        ..Policy::default()
    });
    let saved = lab.dir.path().join("alice-receipts.jsonl");
    let out = lab.run(
        "alice",
        &["burn", "sample", "--save-receipt", saved.to_str().unwrap()],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        run_text(&out),
        lab.logs()
    );
    let log = lab
        .station_log_of("alice")
        .expect("the station that burned");
    // The saved receipt is in that station's log, byte for byte.
    let check = crate::burnstand(
        &[
            "audit",
            "verify",
            log.to_str().unwrap(),
            "--receipt",
            saved.to_str().unwrap(),
        ],
        &[],
    );
    assert!(check.status.success(), "{}", run_text(&check));
    assert!(text(&check.stdout).contains("all 1 receipt record(s)"));

    // The second copy is over the quota, whichever station the master picks.
    let out = lab.run("alice", &["burn", "sample"]);
    assert_eq!(out.status.code(), Some(16), "{}", run_text(&out));
    assert!(
        text(&out.stderr).contains("quota used up: 1 of 1 copies of sample"),
        "{}",
        run_text(&out)
    );
    // Another user's quota is their own.
    let out = lab.run("bob", &["burn", "sample"]);
    assert_eq!(out.status.code(), Some(0), "{}", run_text(&out));

    // The statistics see both burns, from the master's log alone or with the stations'.
    let master = lab.master_audit.to_str().unwrap().to_owned();
    let mut args = vec!["--json", "audit", "show", master.as_str()];
    let stations: Vec<String> = lab
        .station_audits
        .iter()
        .filter(|p| p.exists())
        .map(|p| p.to_str().unwrap().to_owned())
        .collect();
    args.extend(stations.iter().map(String::as_str));
    let out = crate::burnstand(&args, &[]);
    assert!(out.status.success(), "{}", run_text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["copies"], 2, "{json}");
    assert_eq!(json["per_user"]["alice@BURNSTAND.TEST"]["verified"], 1);
    assert_eq!(json["per_user"]["bob@BURNSTAND.TEST"]["verified"], 1);
}

#[test]
fn anonymous_and_foreign_principals_are_refused_unless_the_policy_allows_them() {
    let lab = Lab::start_with_policy(&Policy {
        anonymous: true,
        foreign: true,
        extra_users: vec![format!("*@{FOREIGN}"), "*@WELLKNOWN:ANONYMOUS".into()],
        ..Policy::default()
    });
    for (user, expected) in [
        ("anonymous", "the anonymous principal is not accepted here"),
        (
            "eve",
            "principals of realm FOREIGN.TEST are not accepted here",
        ),
    ] {
        let out = lab.run(user, &["burn", "sample"]);
        assert_eq!(out.status.code(), Some(16), "{user}: {}", run_text(&out));
        assert!(
            text(&out.stderr).contains(expected),
            "{user}: {}",
            run_text(&out)
        );
    }
    let denied: Vec<String> = lab
        .master_records()
        .iter()
        .filter(|r| r.event == "bind.deny")
        .filter_map(|r| r.get_str("principal").map(str::to_owned))
        .collect();
    assert_eq!(
        denied,
        [
            "WELLKNOWN/ANONYMOUS@WELLKNOWN:ANONYMOUS".to_owned(),
            format!("eve@{FOREIGN}")
        ]
    );
}

#[test]
fn a_policy_that_admits_a_foreign_realm_lets_its_users_burn() {
    let lab = Lab::start_with_policy(&Policy {
        foreign: true,
        header: format!("realms = [\"{REALM}\", \"{FOREIGN}\"]"),
        extra_users: vec![format!("*@{FOREIGN}")],
        ..Policy::default()
    });
    let out = lab.run("eve", &["burn", "sample"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        run_text(&out),
        lab.logs()
    );
    assert!(text(&out.stdout).contains(&format!("eve@{FOREIGN}")));
}
