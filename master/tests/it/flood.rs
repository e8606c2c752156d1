//! Floods of audit records by authenticated users, against the real master binary with its
//! audit log on a small tmpfs: reconnect loops (`auth.ok`, `command.invalid`), refused BIND and
//! SERV on one connection (`bind.deny`, `serv.deny`), connections over the per-user budget
//! (`connection.deny`). Each is bounded per principal and per address: the disk does not
//! fill, what is left out is counted (`EVENT.suppressed`), and other users are served. And the
//! free-space watermark: below it new connections are refused, running sessions go on.
//!
//! The bounds are counts: what a budget allows in the time the test took (its burst plus its
//! refill over the elapsed minutes), never a duration.

use std::path::Path;
use std::time::{Duration, Instant};

use burnstand_audit::budget::{Rate, DENIALS_PER_PRINCIPAL};
use burnstand_wire::command::{Command, Reply, StationType};
use burnstand_wire::datastream::to_bytes;

use crate::client::{burner, command, connect, handshake, list, raw, Client};
use crate::common::{guard, lab_test, Lab, LabSpec, SmallDisk};
use crate::hostile::{established, still_fine};

/// The login budget per principal the master starts with.
const LOGINS: Rate = Rate::new(
    burnstand_master::config::DEFAULT_LOGIN_BUDGET_PER_PRINCIPAL,
    burnstand_master::config::DEFAULT_LOGIN_BUDGET_PER_PRINCIPAL,
);

/// The watermark of the flood tests: it fits their small disk, and a flood that ate the disk
/// would trip it (refusing new connections), so it does not hide one.
const FLOOD_LIMITS: &str = "min_free_bytes = 16384";

/// Records a budget of `rate` allows in `elapsed`: the burst, and the refill (rounded up).
fn allowed(rate: Rate, elapsed: Duration) -> usize {
    let refill = (elapsed.as_secs_f64() / 60.0 * f64::from(rate.per_minute)).ceil();
    rate.burst as usize + refill as usize
}

fn of(path: &Path, event: &str, user: &str) -> Vec<burnstand_audit::Record> {
    let principal = format!("{user}@{}", crate::common::REALM);
    burnstand_audit::read_records(path)
        .expect("the audit log reads")
        .into_iter()
        .filter(|r| r.event == event && r.get_str("principal") == Some(principal.as_str()))
        .collect()
}

fn suppressed(path: &Path, event: &str) -> u64 {
    burnstand_audit::read_records(path)
        .expect("the audit log reads")
        .iter()
        .filter(|r| r.event == format!("{event}.suppressed"))
        .filter_map(|r| r.get_u64("count"))
        .sum()
}

/// Waits until `count()` reaches `expected`: counts of what a budget left out are written
/// with their owner's next record, or by the master's periodic flush once the budget has
/// refilled (`FLUSH_EVERY`). A generous hang guard, not a timing.
async fn eventually_equal(what: &str, expected: u64, count: impl Fn() -> u64) {
    for _ in 0..120 {
        if count() == expected {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("{what}: {} accounted for, expected {expected}", count());
}

/// Another user is still served: a new connection, LIST.
async fn others_still_served(lab: &Lab) {
    let stream = raw(lab.master_addr).await;
    let mut carol = guard("carol's login", handshake(lab, "carol", stream))
        .await
        .expect("carol cannot log in: the audit log is full or the master locked her out");
    list(&mut carol).await;
}

/// bob logs in, or `None` when the master closes the connection without a greeting.
async fn bob(lab: &Lab) -> Option<Client> {
    let stream = raw(lab.master_addr).await;
    guard("bob's login", handshake(lab, "bob", stream))
        .await
        .ok()
}

/// Sends an invalid command; whether it was answered ERRINVCMD (else the connection closed).
async fn invalid(client: &mut Client) -> bool {
    if client.send_bytes(&to_bytes("FROBNICATE")).await.is_err() {
        return false;
    }
    matches!(client.recv::<Reply>().await, Ok(Reply::ErrInvCmd))
}

#[test]
fn reconnect_loops_with_invalid_commands_cannot_flood_the_audit_log() {
    lab_test(
        LabSpec::default()
            .binary()
            .small_disk(128)
            .limits(FLOOD_LIMITS),
        |mut lab| async move {
            let (_container, mut module) = established(&mut lab, "alice", 0).await;
            let started = Instant::now();
            let (mut logins, mut invalids) = (0u64, 0u64);
            for _ in 0..150 {
                logins += 1;
                let Some(mut session) = bob(&lab).await else {
                    continue;
                };
                for _ in 0..16 {
                    invalids += 1;
                    assert!(
                        invalid(&mut session).await,
                        "an invalid command was not answered"
                    );
                }
            }
            let elapsed = started.elapsed();
            still_fine(&mut module, b"after bob's loop").await;
            others_still_served(&lab).await;
            let path = &lab.audit_path;
            let ok = of(path, "auth.ok", "bob").len();
            assert!(
                ok <= allowed(LOGINS, elapsed),
                "{ok} auth.ok records of {logins} logins"
            );
            let bad = of(path, "command.invalid", "bob").len();
            assert!(
                bad <= allowed(DENIALS_PER_PRINCIPAL, elapsed),
                "{bad} command.invalid records of {invalids}"
            );
            // Every login is accounted for: a greeting after auth.ok, or a refusal recorded or
            // counted (connection.deny); every invalid command recorded or counted.
            eventually_equal("logins", logins, || {
                of(path, "auth.ok", "bob").len() as u64
                    + of(path, "connection.deny", "bob").len() as u64
                    + suppressed(path, "connection.deny")
            })
            .await;
            eventually_equal("invalid commands", invalids, || {
                of(path, "command.invalid", "bob").len() as u64
                    + suppressed(path, "command.invalid")
            })
            .await;
            assert!(suppressed(path, "command.invalid") > 0);
        },
    );
}

#[test]
fn refused_binds_and_servs_cannot_flood_the_audit_log() {
    lab_test(
        LabSpec::default()
            .binary()
            .small_disk(128)
            .limits(FLOOD_LIMITS),
        |mut lab| async move {
            let (_container, mut module) = established(&mut lab, "alice", 0).await;
            let mut bob = connect(&lab, "bob").await;
            let unknown = || {
                Command::Bind(StationType {
                    id: 99,
                    services: Vec::new(),
                    name: String::new(),
                    description: String::new(),
                })
            };
            let started = Instant::now();
            let flood = 1000u64;
            for _ in 0..flood {
                assert_eq!(command(&mut bob, unknown()).await, Reply::ErrUnaval);
                assert_eq!(
                    command(&mut bob, Command::Serv(burner())).await,
                    Reply::ErrNoConn
                );
            }
            let elapsed = started.elapsed();
            still_fine(&mut module, b"after bob's refusals").await;
            others_still_served(&lab).await;
            let path = &lab.audit_path;
            for event in ["bind.deny", "serv.deny"] {
                let n = of(path, event, "bob").len();
                assert!(
                    n <= allowed(DENIALS_PER_PRINCIPAL, elapsed),
                    "{n} {event} records of {flood}"
                );
            }
            for event in ["bind.deny", "serv.deny"] {
                eventually_equal(event, flood, || {
                    of(path, event, "bob").len() as u64 + suppressed(path, event)
                })
                .await;
            }
        },
    );
}

#[test]
fn connections_over_the_per_user_budget_cannot_flood_the_audit_log() {
    let spec = LabSpec::default()
        .binary()
        .small_disk(64)
        .limits(&format!("max_connections_per_user = 2\n{FLOOD_LIMITS}"));
    lab_test(spec, |mut lab| async move {
        let (_container, mut module) = established(&mut lab, "alice", 0).await;
        let _one = connect(&lab, "bob").await;
        let _two = connect(&lab, "bob").await;
        let started = Instant::now();
        let flood = 500u64;
        for _ in 0..flood {
            assert!(
                bob(&lab).await.is_none(),
                "a third connection of bob was greeted"
            );
        }
        let elapsed = started.elapsed();
        still_fine(&mut module, b"after bob's connections").await;
        others_still_served(&lab).await;
        let path = &lab.audit_path;
        let n = of(path, "connection.deny", "bob").len();
        assert!(
            n <= allowed(DENIALS_PER_PRINCIPAL, elapsed),
            "{n} connection.deny records of {flood}"
        );
        eventually_equal("connection.deny", flood, || {
            of(path, "connection.deny", "bob").len() as u64 + suppressed(path, "connection.deny")
        })
        .await;
    });
}

#[test]
fn below_the_free_space_watermark_new_connections_are_refused_and_running_ones_go_on() {
    let spec = LabSpec::default()
        .binary()
        .small_disk(4096)
        .limits("min_free_bytes = 2097152");
    lab_test(spec, |mut lab| async move {
        let (mut container, mut module) = established(&mut lab, "alice", 0).await;
        let disk: &SmallDisk = lab.disk.as_ref().expect("small disk");
        // About 1 MiB left: below the watermark, far from full.
        disk.fill(1 << 20);
        assert!(
            bob(&lab).await.is_none(),
            "a new connection was served below the watermark"
        );
        let log = std::fs::read_to_string(lab._dir.path().join("master.log")).expect("log");
        let line = format!("audit filesystem {} has ", disk.path.display());
        assert!(
            log.lines().any(|l| l.contains(&line)
                && l.contains("below min_free_bytes 2097152: refusing new sessions; free space or raise the limit")),
            "no actionable log line in:\n{log}"
        );
        // The running session goes on, with its records.
        still_fine(&mut module, b"below the watermark").await;
        assert_eq!(command(&mut container, Command::Quit).await, Reply::Ok);
        assert_eq!(of(&lab.audit_path, "quit", "alice").len(), 1);
        // Space freed: new connections again.
        std::fs::remove_file(disk.path.join("filler")).expect("remove the filler");
        assert!(bob(&lab).await.is_some());
        burnstand_testlab::assert_intact_or_torn(&lab.audit_path);
    });
}
