//! Both stations busy: the next users are refused with ERRUNAVAL's message and exit code.

use nix::sys::signal::Signal;

use crate::lab::{text, Lab};

#[test]
fn while_both_stations_burn_the_next_users_get_errunaval() {
    let lab = Lab::start();
    // Two slow burns (12 MiB at speed 1) hold both stations.
    let alice = lab.spawn("alice", &["burn", "big"]);
    lab.wait_for_burn_start("alice");
    let bob = lab.spawn("bob", &["burn", "big"]);
    lab.wait_for_burn_start("bob");

    let carol = lab.run("carol", &["burn", "sample"]);
    let stderr = text(&carol.stderr);
    assert_eq!(carol.status.code(), Some(10), "{stderr}\n{}", lab.logs());
    assert!(
        stderr.contains(
            "no free station of type 1 \"DVD burner\": every station of this type is reserved"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("ERRUNAVAL"), "{stderr}");
    assert!(stderr.contains("try again"), "{stderr}");

    let dave = lab.run("dave", &["--json", "images"]);
    let stderr = text(&dave.stderr);
    assert_eq!(dave.status.code(), Some(10), "{stderr}");
    let error: serde_json::Value = serde_json::from_str(stderr.trim()).expect("a JSON error");
    assert_eq!(error["error"], "no_free_station");
    assert_eq!(error["exit_code"], 10);
    assert!(
        dave.stdout.is_empty(),
        "no document on stdout for a failure"
    );

    // The master refused both because every station was reserved.
    let denials: Vec<_> = lab
        .master_records()
        .into_iter()
        .filter(|r| r.event == "bind.deny")
        .collect();
    assert_eq!(denials.len(), 2, "{denials:#?}");
    for denial in &denials {
        assert_eq!(
            denial.get_str("reason"),
            Some("every station of this type is reserved")
        );
    }

    // The burns were still running all along: Ctrl-C cancels them (exit 130), which also
    // shows that the refusals did not come from stations that had already been freed.
    alice.signal(Signal::SIGINT);
    bob.signal(Signal::SIGINT);
    for (user, running) in [("alice", alice), ("bob", bob)] {
        let (status, stdout, stderr) = running.wait();
        assert_eq!(status.code(), Some(130), "{user}: {stdout}\n{stderr}");
        assert!(stdout.contains("CANCELLED"), "{user}: {stdout}");
    }
}
