//! Attacks on the Kerberos handshake at the master: weak flags, a replayed AP-REQ, an
//! unsealed command slipped in with the final token. Each leaves another user's session alone.

use std::time::Duration;

use burnstand_wire::command::Command;
use burnstand_wire::datastream::to_bytes;
use burnstand_wire::gss::{password_credentials, CtxFlags, Initiator, REQUIRED_FLAGS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{lab_test, Lab, LabSpec, MASTER};
use crate::hostile::{established, still_fine};

/// bob's first handshake token (his AP-REQ) for the master, made by hand.
fn bob_ap_req(lab: &Lab) -> Vec<u8> {
    let cred = password_credentials(&lab.principal("bob"), "bob-pw").expect("cred");
    let mut initiator = Initiator::new(cred, &lab.principal(MASTER)).expect("initiator");
    initiator.step(None).expect("token").expect("a token")
}

#[test]
fn a_client_that_omits_mutual_replay_or_sequence_is_refused() {
    lab_test(LabSpec::default().binary(), |mut lab| async move {
        let (_container, mut module) = established(&mut lab, "alice", 0).await;
        for omitted in [
            CtxFlags::GSS_C_MUTUAL_FLAG,
            CtxFlags::GSS_C_REPLAY_FLAG,
            CtxFlags::GSS_C_SEQUENCE_FLAG,
        ] {
            let cred = password_credentials(&lab.principal("bob"), "bob-pw").expect("cred");
            let mut initiator = Initiator::test_only_with_flags(
                cred,
                &lab.principal(MASTER),
                REQUIRED_FLAGS.difference(omitted),
            )
            .expect("initiator");
            let token = initiator.step(None).expect("first token").expect("a token");
            let tcp = tokio::net::TcpStream::connect(lab.master_addr)
                .await
                .unwrap();
            let mut blocks = burnstand_wire::io::BlockStream::new(
                tcp,
                burnstand_wire::limits::MAX_HANDSHAKE_TOKEN_LEN,
            );
            blocks.write_block(&token).await.expect("send the token");
            // At most the AP-REP comes back; then the master closes without a greeting.
            let mut blocks_read = 0;
            loop {
                let read = tokio::time::timeout(Duration::from_secs(30), blocks.read_block())
                    .await
                    .expect("hang guard");
                match read {
                    Ok(_) => blocks_read += 1,
                    Err(_) => break,
                }
                assert!(blocks_read <= 1, "{omitted:?}: more than a handshake reply");
            }
            still_fine(&mut module, b"after a weak client").await;
        }
        let records = burnstand_audit::read_records(&lab.audit_path).expect("read");
        let missing: Vec<&str> = records
            .iter()
            .filter(|r| r.event == "auth.fail")
            .filter_map(|r| r.get_str("reason"))
            .collect();
        assert_eq!(missing.len(), 3, "{missing:?}");
        for (reason, flag) in missing.iter().zip(["mutual", "replay", "sequence"]) {
            assert!(reason.to_lowercase().contains(flag), "{reason}");
        }
        assert!(records
            .iter()
            .all(|r| r.event != "auth.ok" || r.get_str("principal") != Some("bob@BURNSTAND.TEST")));
    });
}

#[test]
fn the_first_handshake_token_replayed_on_a_new_connection_is_refused() {
    lab_test(LabSpec::default().binary(), |mut lab| async move {
        let (_container, mut module) = established(&mut lab, "alice", 0).await;
        let ap_req = bob_ap_req(&lab);

        // What the master sends back to one AP-REQ, until it closes or goes quiet.
        async fn answers(addr: std::net::SocketAddr, token: &[u8]) -> (usize, bool) {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let mut blocks =
                burnstand_wire::io::BlockStream::new(tcp, burnstand_wire::limits::MAX_BLOCK_LEN);
            blocks.write_block(token).await.expect("send");
            let mut n = 0;
            loop {
                match tokio::time::timeout(Duration::from_secs(2), blocks.read_block()).await {
                    Ok(Ok(_)) => n += 1,
                    Ok(Err(_)) => return (n, true),
                    Err(_) => return (n, false),
                }
            }
        }
        // The original: AP-REP and the greeting, then the master waits for commands.
        let (first, first_closed) = answers(lab.master_addr, &ap_req).await;
        assert_eq!((first, first_closed), (2, false));
        // The replay on a new connection: refused by the replay cache, closed without a word.
        let (second, second_closed) = answers(lab.master_addr, &ap_req).await;
        assert_eq!((second, second_closed), (0, true));
        still_fine(&mut module, b"after a replayed AP-REQ").await;

        let records = burnstand_audit::read_records(&lab.audit_path).expect("read");
        let fail = records
            .iter()
            .find(|r| r.event == "auth.fail")
            .expect("the replay is audited");
        assert!(
            fail.get_str("reason").is_some_and(|r| r.contains("replay")),
            "{fail:?}"
        );
    });
}

#[test]
fn a_plaintext_command_in_the_same_write_as_the_final_token_is_refused() {
    lab_test(LabSpec::default().binary(), |mut lab| async move {
        let (_container, mut module) = established(&mut lab, "alice", 0).await;
        let ap_req = bob_ap_req(&lab);
        // The AP-REQ and an unsealed LIST, in one TCP write.
        let mut bytes = burnstand_wire::block::encode_block(&ap_req);
        bytes.extend_from_slice(&burnstand_wire::block::encode_block(&to_bytes(
            &Command::List,
        )));
        let mut tcp = tokio::net::TcpStream::connect(lab.master_addr)
            .await
            .unwrap();
        tcp.write_all(&bytes).await.expect("send");
        let mut blocks =
            burnstand_wire::io::BlockStream::new(tcp, burnstand_wire::limits::MAX_BLOCK_LEN);
        // The AP-REP and the greeting, then the unsealed block ends the connection.
        let mut n = 0;
        loop {
            let read = tokio::time::timeout(Duration::from_secs(30), blocks.read_block())
                .await
                .expect("hang guard");
            match read {
                Ok(_) => n += 1,
                Err(_) => break,
            }
        }
        assert_eq!(n, 2, "AP-REP and greeting only, no LIST answer");
        still_fine(&mut module, b"after a plaintext command").await;
        let records = burnstand_audit::read_records(&lab.audit_path).expect("read");
        assert!(records
            .iter()
            .all(|r| !(r.event == "list" && r.get_str("principal") == Some("bob@BURNSTAND.TEST"))));
    });
}

#[test]
fn endless_handshake_tokens_are_cut_off() {
    lab_test(LabSpec::default().binary(), |mut lab| async move {
        let (_container, mut module) = established(&mut lab, "alice", 0).await;
        // Token after token, as fast as the socket takes them. Kerberos 5 needs one; the
        // master stops at the first it cannot accept (and never beyond MAX_HANDSHAKE_ROUNDS).
        let mut tcp = tokio::net::TcpStream::connect(lab.master_addr)
            .await
            .unwrap();
        let token = burnstand_wire::block::encode_block(&[0x60; 700]);
        let writer = tokio::spawn(async move {
            for _ in 0..100_000 {
                if tcp.write_all(&token).await.is_err() {
                    return true;
                }
            }
            false
        });
        let cut_off = tokio::time::timeout(Duration::from_secs(60), writer)
            .await
            .expect("hang guard")
            .expect("writer task");
        assert!(cut_off, "the master read 100,000 handshake tokens");
        still_fine(&mut module, b"after endless tokens").await;
    });
}

#[test]
fn silent_connections_from_one_address_do_not_lock_out_another() {
    // The default budgets (32 handshakes at once), a long handshake deadline so the flood
    // holds its connections for the whole test.
    let spec = LabSpec::default()
        .binary()
        .limits("handshake_timeout = \"60s\"");
    lab_test(spec, |mut lab| async move {
        let (_container, mut module) = established(&mut lab, "alice", 0).await;
        // 200 silent connections from 127.0.0.2, all accepted by the kernel before the
        // user's below (the master accepts in order).
        let mut flood = Vec::new();
        for _ in 0..200 {
            flood.push(crate::client::tcp_from([127, 0, 0, 2], lab.master_addr).await);
        }
        // A user from another address still logs in, and keeps doing so.
        for _ in 0..3 {
            let stream = crate::client::tcp_from([127, 0, 0, 1], lab.master_addr).await;
            let mut bob = crate::common::guard(
                "bob's login during the flood",
                crate::client::handshake(&lab, "bob", stream),
            )
            .await
            .expect("bob is locked out by another address's silent connections");
            assert_eq!(crate::client::list(&mut bob).await.len(), 1);
        }
        still_fine(&mut module, b"during the flood").await;
        // The flooding address got its share of handshake slots; the rest were closed at once.
        let mut open = 0;
        for stream in &mut flood {
            let mut byte = [0u8; 1];
            match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut byte)).await {
                Err(_) => open += 1,
                Ok(Ok(0)) | Ok(Err(_)) => {}
                Ok(Ok(_)) => panic!("the master sent something before authentication"),
            }
        }
        assert!(
            open <= burnstand_master::config::DEFAULT_MAX_HANDSHAKES_PER_ADDRESS,
            "{open} silent connections of one address still held"
        );
    });
}
