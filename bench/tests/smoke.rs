//! The benchmark binary still speaks the protocol: a one-second run of each benchmark that
//! talks to the daemons, against the real master and station binaries and a real KDC. Checks
//! only that every figure was produced and no session failed — never a speed (figures are for
//! `docs/benchmarks.md`, not for tests). (a) includes its `ssh -J` baseline with 1 MiB. The
//! farm benchmarks run at their smallest: (e) three users waiting for two stations, (f) three
//! busy sessions, (g) a two-copy job of a 1 MiB image on two file drives, (h) a push of a 1 MiB image to two
//! stations (the bench checks both catalogs have it) and its `scp` baseline, (i) three
//! status-page event streams during a 1 MiB burn (the bench fails if no event reaches them).

use std::process::Command;

#[test]
fn every_benchmark_runs_against_the_current_daemons() {
    let out = Command::new(env!("CARGO_BIN_EXE_burnstand-bench"))
        .args([
            "--only",
            "a,b,d,e,f,g,h,i",
            "--relay-mib",
            "1",
            "--session-secs",
            "1",
            "--session-clients",
            "2",
            "--burn-mib",
            "2",
            "--queue-waiters",
            "3",
            "--queue-stations",
            "2",
            "--queue-binds",
            "3",
            "--busy-sessions",
            "3",
            "--list-samples",
            "10",
            "--job-copies",
            "2",
            "--job-drives",
            "2",
            "--job-mib",
            "1",
            "--push-mib",
            "1",
            "--sse-subscribers",
            "3",
            "--sse-mib",
            "1",
            "--json",
        ])
        .output()
        .expect("run burnstand-bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let figures: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("the figures as JSON");
    let figures = figures.as_array().expect("a list of figures");
    let of = |bench: &str| -> Vec<&str> {
        figures
            .iter()
            .filter(|f| f.get("bench").and_then(|b| b.as_str()) == Some(bench))
            .filter_map(|f| f.get("what")?.as_str())
            .collect()
    };
    // Every hand-over goes to the head of the queue (a freed station once went to a user far
    // back when the master judged entries against a changing picture).
    assert!(
        of("e")
            .iter()
            .any(|w| w.contains(" 0 not to the head of the queue")),
        "{figures:?}"
    );
    for bench in ["a", "b", "d", "e", "f", "g", "h", "i"] {
        assert!(
            !of(bench).is_empty(),
            "no figure ({bench}): {figures:?}\n{stderr}"
        );
    }
    // (a) has its ssh -J baseline (the bench's own sshd) and the master's CPU per GiB.
    let relay = of("a");
    assert!(
        relay.iter().any(|w| w.contains("same run"))
            && figures.iter().any(|f| f
                .get("baseline")
                .and_then(|b| b.as_str())
                .is_some_and(|b| b.starts_with("ssh -J"))),
        "{relay:?}\n{stderr}"
    );
    assert!(
        relay.iter().any(|w| w.contains("per relayed GiB")),
        "{relay:?}"
    );
    let sessions = of("b");
    assert!(
        sessions.iter().all(|w| w.contains(", 0 failed)")),
        "{sessions:?}\n{stderr}"
    );
    // Every waiting user was served (the job's copies are checked by the bench itself: it
    // fails unless every copy verified).
    let handed = of("e");
    assert!(
        handed
            .iter()
            .any(|w| w.contains("(3 hand-overs, 3 waiting")),
        "{handed:?}\n{stderr}"
    );
}
