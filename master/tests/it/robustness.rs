//! Garbage, oversized lines and broken blocks close only the connection they arrive on.

use burnstand_wire::command::{Command, Reply};
use burnstand_wire::limits::MAX_HANDSHAKE_TOKEN_LEN;
use tokio::io::AsyncWriteExt;

use crate::client::{
    assert_closed, assert_raw_closed, bind_first, burner, command, connect, list, raw, Client,
};
use crate::common::{events, lab_test, wait_for_record, Lab, LabSpec};
use crate::station::StationEvent;

/// alice holds a station with a module in pass-through.
async fn established(lab: &mut Lab) -> (Client, Client) {
    let mut container = connect(lab, "alice").await;
    assert_eq!(bind_first(&mut container).await, Reply::Ok);
    let mut module = connect(lab, "alice").await;
    assert_eq!(
        command(&mut module, Command::Serv(burner())).await,
        Reply::Ok
    );
    assert!(matches!(
        lab.stations[0].next_event().await,
        StationEvent::Identity(_)
    ));
    (container, module)
}

async fn still_fine(module: &mut Client, payload: &[u8]) {
    module.send_bytes(payload).await.expect("relay still up");
    let echoed = module.recv_bytes().await.expect("echo");
    assert_eq!(crate::station::echoed(&echoed), payload);
}

#[test]
fn a_garbage_or_oversized_first_line_does_not_disturb_an_established_session() {
    lab_test(LabSpec::default(), |mut lab| async move {
        let (mut container, mut module) = established(&mut lab).await;

        let mut garbage = raw(lab.master_addr).await;
        garbage
            .write_all(b"this is not base64 at all!\n")
            .await
            .expect("send garbage");
        assert_raw_closed(&mut garbage).await;
        still_fine(&mut module, b"after garbage").await;

        // A first line longer than any handshake token, without a newline.
        let mut oversized = raw(lab.master_addr).await;
        let line = vec![b'A'; MAX_HANDSHAKE_TOKEN_LEN * 2];
        // The master may close while we are still writing: that is the point.
        let _ = oversized.write_all(&line).await;
        assert_raw_closed(&mut oversized).await;
        still_fine(&mut module, b"after oversized").await;

        // A well-formed block that is not a handshake token.
        let mut bogus = raw(lab.master_addr).await;
        bogus.write_all(b"AAAAAAAA\n").await.expect("send");
        assert_raw_closed(&mut bogus).await;
        still_fine(&mut module, b"after bogus token").await;

        let mut bob = connect(&lab, "bob").await;
        assert_eq!(list(&mut bob).await.len(), 1);
        assert_eq!(command(&mut container, Command::Quit).await, Reply::Ok);

        let records = wait_for_record(&lab.audit_path, |r| r.event == "teardown").await;
        let fails = records.iter().filter(|r| r.event == "auth.fail").count();
        assert_eq!(fails, 3, "{:?}", events(&records));
        assert!(records
            .iter()
            .filter(|r| r.event == "auth.fail")
            .all(|r| r.get_str("reason").is_some_and(|s| !s.is_empty())));
    });
}

#[test]
fn a_broken_block_in_command_mode_closes_only_that_connection() {
    lab_test(LabSpec::default(), |mut lab| async move {
        let (_container, mut module) = established(&mut lab).await;

        // bob sends a block that is valid base64 but not a GSSAPI token of his context:
        // lost sync, closed without a reply.
        let bob = connect(&lab, "bob").await;
        let (mut blocks, _) = bob.into_raw_parts();
        blocks.write_block(b"not a wrap token").await.expect("send");
        assert!(blocks.read_block().await.is_err(), "closed without a reply");

        // A second bob connection sends a line that is not base64 after authenticating.
        let bob = connect(&lab, "bob").await;
        let (blocks, _) = bob.into_raw_parts();
        let mut stream = blocks_stream(blocks);
        stream.write_all(b"%%%\n").await.expect("send");
        assert_raw_closed(&mut stream).await;

        let mut other = connect(&lab, "alice").await;
        assert_eq!(list(&mut other).await.len(), 1);
        still_fine(&mut module, b"unaffected").await;
    });
}

/// The TCP stream under a session's blocks (the session is abandoned).
fn blocks_stream(
    blocks: burnstand_wire::io::BlockStream<tokio::net::TcpStream>,
) -> tokio::net::TcpStream {
    // BlockStream has no into_inner: re-create a stream handle from a duplicated descriptor.
    let std_stream = socket2::SockRef::from(blocks.get_ref())
        .try_clone()
        .expect("dup socket");
    let std_stream: std::net::TcpStream = std_stream.into();
    std_stream.set_nonblocking(true).expect("nonblocking");
    drop(blocks);
    tokio::net::TcpStream::from_std(std_stream).expect("tokio stream")
}

#[test]
fn garbage_from_a_module_in_pass_through_ends_only_its_relay() {
    lab_test(LabSpec::default(), |mut lab| async move {
        let (mut container, module) = established(&mut lab).await;
        let (mut blocks, _) = module.into_raw_parts();
        blocks.write_block(b"forged").await.expect("send");
        assert!(
            blocks.read_block().await.is_err(),
            "the relay closes the module"
        );
        assert!(matches!(
            lab.stations[0].next_event().await,
            StationEvent::Ended
        ));
        // The reservation holds; a new module works.
        let mut module = connect(&lab, "alice").await;
        assert_eq!(
            command(&mut module, Command::Serv(burner())).await,
            Reply::Ok
        );
        still_fine(&mut module, b"new module").await;
        assert_eq!(command(&mut container, Command::Quit).await, Reply::Ok);
        assert_closed(&mut module).await;
    });
}
