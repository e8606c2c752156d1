//! Hostile peers at the master: floods of failures, a module that stops reading. Each case
//! checks that another user's established session is undisturbed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use burnstand_master::audit::{AUTH_FAIL_BURST, AUTH_FAIL_RATE};
use burnstand_master::connection::MAX_INVALID_COMMANDS;
use burnstand_wire::command::{Command, Reply};
use burnstand_wire::datastream::to_bytes;
use burnstand_wire::limits::MAX_MESSAGE_LEN;
use tokio::io::AsyncWriteExt;

use crate::client::{
    assert_closed, assert_raw_closed, bind_first, burner, command, connect, raw, Client,
};
use crate::common::{lab_test, wait_for_record, Lab, LabSpec, StationSpec};
use crate::station::StationEvent;

/// `user` holds station `index` with a module in pass-through to the echo station.
pub async fn established(lab: &mut Lab, user: &str, index: usize) -> (Client, Client) {
    let mut container = connect(lab, user).await;
    assert_eq!(bind_first(&mut container).await, Reply::Ok);
    let mut module = connect(lab, user).await;
    assert_eq!(
        command(&mut module, Command::Serv(burner())).await,
        Reply::Ok
    );
    assert!(matches!(
        lab.stations[index].next_event().await,
        StationEvent::Identity(_)
    ));
    (container, module)
}

pub async fn still_fine(module: &mut Client, payload: &[u8]) {
    module.send_bytes(payload).await.expect("relay still up");
    let echoed = module.recv_bytes().await.expect("echo");
    assert_eq!(crate::station::echoed(&echoed), payload);
}

#[test]
fn failed_handshakes_are_audited_at_a_bounded_rate() {
    lab_test(LabSpec::default().binary(), |mut lab| async move {
        let (_container, mut module) = established(&mut lab, "alice", 0).await;
        let started = Instant::now();
        let flood = 400;
        for _ in 0..flood {
            let mut garbage = raw(lab.master_addr).await;
            garbage.write_all(b"not base64!\n").await.expect("send");
            assert_raw_closed(&mut garbage).await;
        }
        let elapsed = started.elapsed().as_secs_f64();
        still_fine(&mut module, b"after the flood").await;

        let records = burnstand_audit::read_records(&lab.audit_path).expect("read");
        let fails = records.iter().filter(|r| r.event == "auth.fail").count() as f64;
        let bound = AUTH_FAIL_BURST + (elapsed + 1.0) * AUTH_FAIL_RATE;
        assert!(
            fails <= bound,
            "{fails} auth.fail records for {flood} failures"
        );
        assert!(fails >= AUTH_FAIL_BURST, "the burst is recorded one by one");

        // Once the budget refills, the next failure is recorded with the count it skipped.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let mut garbage = raw(lab.master_addr).await;
        garbage.write_all(b"not base64!\n").await.expect("send");
        assert_raw_closed(&mut garbage).await;
        let records = wait_for_record(&lab.audit_path, |r| r.event == "auth.fail.suppressed").await;
        let suppressed: u64 = records
            .iter()
            .filter(|r| r.event == "auth.fail.suppressed")
            .filter_map(|r| r.get_u64("count"))
            .sum();
        let recorded = records.iter().filter(|r| r.event == "auth.fail").count() as u64;
        assert_eq!(
            recorded + suppressed,
            flood + 1,
            "every failure is accounted for"
        );
    });
}

#[test]
fn invalid_commands_beyond_the_cap_close_only_that_connection() {
    lab_test(LabSpec::default().binary(), |mut lab| async move {
        let (_container, mut module) = established(&mut lab, "alice", 0).await;
        let mut bob = connect(&lab, "bob").await;
        for n in 0..MAX_INVALID_COMMANDS {
            bob.send_bytes(&to_bytes("FROBNICATE")).await.expect("send");
            let reply: Reply = bob
                .recv()
                .await
                .unwrap_or_else(|e| panic!("reply {n}: {e}"));
            assert_eq!(reply, Reply::ErrInvCmd);
        }
        bob.send_bytes(&to_bytes("FROBNICATE")).await.expect("send");
        assert_closed(&mut bob).await;
        still_fine(&mut module, b"after bob's flood").await;
        let records = burnstand_audit::read_records(&lab.audit_path).expect("read");
        let invalid = records
            .iter()
            .filter(|r| r.event == "command.invalid")
            .count();
        assert_eq!(invalid, MAX_INVALID_COMMANDS as usize);
    });
}

#[test]
fn a_module_that_stops_reading_is_held_by_back_pressure_not_memory() {
    let spec = LabSpec::default().binary().stations(vec![
        StationSpec::new("dvd-1", "DVD"),
        StationSpec::new("dvd-2", "DVD"),
    ]);
    lab_test(spec, |mut lab| async move {
        let (_alice_container, alice_module) = established(&mut lab, "alice", 0).await;
        let (_bob_container, mut bob_module) = established(&mut lab, "bob", 1).await;

        // alice sends full-size messages to the echo station and never reads the echoes.
        let sent = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&sent);
        let writer = tokio::spawn(async move {
            let mut module = alice_module;
            let payload = vec![0x5a; MAX_MESSAGE_LEN];
            while module.send_bytes(&payload).await.is_ok() {
                counter.fetch_add(payload.len() as u64, Ordering::Relaxed);
            }
        });
        // Wait until her writes stop making progress (the relay stopped reading from her).
        let mut last = u64::MAX;
        let mut steady = 0;
        for _ in 0..120 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = sent.load(Ordering::Relaxed);
            steady = if now == last { steady + 1 } else { 0 };
            last = now;
            if steady >= 8 {
                break;
            }
        }
        assert!(
            steady >= 8,
            "alice's writes never stopped: nothing pushes back"
        );
        // What the master and station took in is bounded by socket buffers and one block per
        // direction, not by what alice wanted to send.
        assert!(
            last <= 64 << 20,
            "{} MiB accepted from a peer that does not read",
            last >> 20
        );
        still_fine(&mut bob_module, b"bob is not affected").await;
        writer.abort();
    });
}

/// bob's connection split into its block stream and its GSSAPI context, for hand-made blocks.
async fn bob_raw(
    lab: &Lab,
) -> (
    burnstand_wire::io::BlockStream<tokio::net::TcpStream>,
    burnstand_wire::gss::Established,
) {
    connect(lab, "bob").await.into_raw_parts()
}

/// The connection is closed by the master: the next read fails.
async fn closed(blocks: &mut burnstand_wire::io::BlockStream<tokio::net::TcpStream>) {
    let read = tokio::time::timeout(Duration::from_secs(30), blocks.read_block())
        .await
        .expect("hang guard");
    assert!(read.is_err(), "the master answered instead of closing");
}

#[test]
fn replayed_dropped_swapped_flipped_and_reflected_blocks_close_only_that_connection() {
    use burnstand_wire::protection::Protection;
    lab_test(LabSpec::default().binary(), |mut lab| async move {
        let (_container, mut module) = established(&mut lab, "alice", 0).await;
        let list = to_bytes(&Command::List);

        // Replayed: the same sealed LIST twice.
        let (mut blocks, mut ctx) = bob_raw(&lab).await;
        let sealed = ctx.seal(&list).expect("seal");
        blocks.write_block(&sealed).await.expect("send");
        let reply = blocks
            .read_block()
            .await
            .expect("the first one is answered");
        ctx.open(&reply).expect("a reply from the master");
        blocks.write_block(&sealed).await.expect("send");
        closed(&mut blocks).await;
        still_fine(&mut module, b"after a replay").await;

        // Dropped: the second message arrives without the first.
        let (mut blocks, mut ctx) = bob_raw(&lab).await;
        let _lost = ctx.seal(&list).expect("seal");
        let second = ctx.seal(&list).expect("seal");
        blocks.write_block(&second).await.expect("send");
        closed(&mut blocks).await;
        still_fine(&mut module, b"after a gap").await;

        // Swapped: the second before the first.
        let (mut blocks, mut ctx) = bob_raw(&lab).await;
        let first = ctx.seal(&list).expect("seal");
        let second = ctx.seal(&list).expect("seal");
        blocks.write_block(&second).await.expect("send");
        blocks.write_block(&first).await.expect("send");
        closed(&mut blocks).await;
        still_fine(&mut module, b"after a swap").await;

        // Bit-flipped: one bit of the ciphertext.
        let (mut blocks, mut ctx) = bob_raw(&lab).await;
        let mut flipped = ctx.seal(&list).expect("seal");
        let last = flipped.len() - 1;
        flipped[last] ^= 0x01;
        blocks.write_block(&flipped).await.expect("send");
        closed(&mut blocks).await;
        still_fine(&mut module, b"after a flipped bit").await;

        // Reflected: the master's own reply sent back to it.
        let (mut blocks, mut ctx) = bob_raw(&lab).await;
        blocks
            .write_block(&ctx.seal(&list).expect("seal"))
            .await
            .expect("send");
        let reply = blocks.read_block().await.expect("answered");
        blocks.write_block(&reply).await.expect("send");
        closed(&mut blocks).await;
        still_fine(&mut module, b"after a reflection").await;

        // Not sealed at all: the command in plain text, base64-framed.
        let (mut blocks, _ctx) = bob_raw(&lab).await;
        blocks.write_block(&list).await.expect("send");
        closed(&mut blocks).await;
        still_fine(&mut module, b"after plain text").await;
    });
}

#[test]
fn malformed_messages_after_authentication_are_refused_and_the_session_goes_on() {
    lab_test(LabSpec::default().binary(), |mut lab| async move {
        let (_container, mut module) = established(&mut lab, "alice", 0).await;
        let mut bob = connect(&lab, "bob").await;
        let near_max = {
            // "BIND" followed by a station type whose name claims almost 4 GiB.
            let mut m = to_bytes("BIND");
            m.extend_from_slice(&1u32.to_be_bytes()); // id
            m.extend_from_slice(&0u32.to_be_bytes()); // no services
            m.extend_from_slice(&0xffff_fffeu32.to_be_bytes()); // name length
            m
        };
        let odd = vec![0, 0, 0, 3, 0, b'L', 0]; // an odd UTF-16 byte length
        let trailing = {
            let mut m = to_bytes(&Command::List);
            m.push(0);
            m
        };
        let huge_list = {
            let mut m = to_bytes("BIND");
            m.extend_from_slice(&1u32.to_be_bytes());
            m.extend_from_slice(&0xffff_ffffu32.to_be_bytes()); // services: 2^32 - 1
            m
        };
        for message in [near_max, odd, trailing, huge_list, Vec::new()] {
            bob.send_bytes(&message).await.expect("send");
            let reply: Reply = bob.recv().await.expect("a reply, not a closed connection");
            assert_eq!(reply, Reply::ErrInvCmd, "{message:02x?}");
        }
        // Still a working session.
        bob.send(&Command::List).await.expect("send");
        let _types: Vec<burnstand_wire::command::StationType> =
            bob.recv().await.expect("LIST answered");
        still_fine(&mut module, b"after malformed messages").await;
    });
}

#[test]
fn hostile_lines_and_tokens_close_only_their_connection() {
    lab_test(LabSpec::default().binary(), |mut lab| async move {
        let (_container, mut module) = established(&mut lab, "alice", 0).await;

        // A one-byte first token.
        let mut one = raw(lab.master_addr).await;
        one.write_all(b"AA==\n").await.expect("send");
        assert_raw_closed(&mut one).await;

        // A ticket for another service (the station) presented to the master.
        let cred = burnstand_wire::gss::password_credentials(&lab.principal("bob"), "bob-pw")
            .expect("bob's credentials");
        let tcp = tokio::net::TcpStream::connect(lab.master_addr)
            .await
            .unwrap();
        let other = burnstand_wire::io::Unauthenticated::new(tcp)
            .initiate(
                cred,
                &lab.principal(crate::common::STATION),
                Duration::from_secs(30),
            )
            .await;
        assert!(
            other.is_err(),
            "the master accepted a ticket for another service"
        );
        still_fine(&mut module, b"after a wrong ticket").await;

        // After authentication: a line longer than any block, and bad base64.
        let (blocks, _) = connect(&lab, "bob").await.into_raw_parts();
        let mut stream = crate::client::into_stream(blocks);
        let _ = stream.write_all(&vec![b'A'; 3 << 20]).await;
        assert_raw_closed(&mut stream).await;
        let (blocks, _) = connect(&lab, "bob").await.into_raw_parts();
        let mut stream = crate::client::into_stream(blocks);
        stream.write_all(b"QR==\n").await.expect("send");
        assert_raw_closed(&mut stream).await;

        // CRLF line ends are accepted (protocol.md §1): a sealed LIST ending in "\r\n".
        let (blocks, mut ctx) = connect(&lab, "bob").await.into_raw_parts();
        let mut stream = crate::client::into_stream(blocks);
        let sealed =
            burnstand_wire::protection::Protection::seal(&mut ctx, &to_bytes(&Command::List))
                .expect("seal");
        let mut line = burnstand_wire::block::encode_block(&sealed);
        line.pop();
        line.extend_from_slice(b"\r\n");
        stream.write_all(&line).await.expect("send");
        let mut blocks =
            burnstand_wire::io::BlockStream::new(stream, burnstand_wire::limits::MAX_BLOCK_LEN);
        let reply = blocks.read_block().await.expect("LIST answered");
        burnstand_wire::protection::Protection::open(&mut ctx, &reply).expect("opens");

        still_fine(&mut module, b"after hostile lines").await;
    });
}

#[test]
fn a_full_disk_closes_unrecorded_actions_and_refuses_new_connections() {
    lab_test(
        // No watermark: this test is about the disk really filling up.
        LabSpec::default()
            .binary()
            .small_disk(256)
            .limits("min_free_bytes = 0"),
        |lab| async move {
            let mut alice = connect(&lab, "alice").await;
            lab.disk.as_ref().expect("small disk").fill(0);

            // LIST after LIST until one cannot be recorded: that one gets no answer, and the
            // connection is closed. (The log's last page may hold a few more records first.)
            let mut answered = 0;
            let mut refused = false;
            for _ in 0..1000 {
                alice.send(&Command::List).await.expect("send");
                let reply = tokio::time::timeout(
                    Duration::from_secs(30),
                    alice.recv::<Vec<burnstand_wire::command::StationType>>(),
                )
                .await
                .expect("hang guard");
                match reply {
                    Ok(_) => answered += 1,
                    Err(_) => {
                        refused = true;
                        break;
                    }
                }
            }
            assert!(refused, "the full disk never refused a LIST");
            // The log is poisoned: new connections get no greeting (fail closed).
            let stream = tokio::net::TcpStream::connect(lab.master_addr)
                .await
                .unwrap();
            assert!(crate::client::handshake(&lab, "bob", stream).await.is_err());

            // What is on disk verifies (at most a torn, unacknowledged last line), and every
            // answered LIST has its record.
            burnstand_testlab::assert_intact_or_torn(&lab.audit_path);
            let mut lists = 0;
            let _ = burnstand_audit::scan_records(&lab.audit_path, |r| {
                if r.event == "list" {
                    lists += 1;
                }
            });
            // Every answered LIST is on disk; the refused one may be too (written, then not
            // acknowledged), never the other way round.
            assert!(
                lists == answered || lists == answered + 1,
                "{answered} LISTs answered, {lists} recorded"
            );
        },
    );
}
