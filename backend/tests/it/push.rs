//! The push link at the station (`docs/protocol.md` §5.11), the test playing the master: an
//! opening the station does not know, an image it has already, a chunk out of place, and a
//! user's push under the default `[push]` rules.

use std::net::SocketAddr;

use burnstand_wire::burner::{Md5, Sha256};
use burnstand_wire::command::Reply;
use burnstand_wire::datastream::Writer;
use burnstand_wire::gss::initiator_credentials;
use burnstand_wire::io::{Session, Unauthenticated};
use burnstand_wire::link::{LinkOpen, StationHello};
use burnstand_wire::push::{PushData, PushImage, PushOpen, StationPushReply, PUSH_VERSION};
use md5::Digest as _;
use tokio::net::TcpStream;

use crate::harness::{Lab, MASTER, STATION, TIMEOUT};

/// Connects as the master and waits for the station's hello.
async fn as_master(lab: &Lab, addr: SocketAddr) -> Session<TcpStream> {
    let cred = initiator_credentials(Some(&lab.principal(MASTER))).expect("master credentials");
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let mut session = Unauthenticated::new(tcp)
        .initiate(cred, &lab.principal(STATION), TIMEOUT)
        .await
        .expect("authenticate");
    assert!(matches!(
        session.recv::<StationHello>().await.expect("hello"),
        StationHello::Ready { .. }
    ));
    session
}

fn image_of(id: &str, bytes: &[u8], restricted: bool) -> PushImage {
    PushImage {
        id: id.into(),
        name: format!("Pushed {id}"),
        restricted,
        replace: false,
        size: bytes.len() as u64,
        sha256: Sha256(sha2::Sha256::digest(bytes).into()),
        md5: Md5(md5::Md5::digest(bytes).into()),
    }
}

async fn open(lab: &Lab, addr: SocketAddr, image: PushImage, admin: bool) -> Session<TcpStream> {
    open_as(lab, addr, "alice", image, admin).await
}

async fn open_as(
    lab: &Lab,
    addr: SocketAddr,
    user: &str,
    image: PushImage,
    admin: bool,
) -> Session<TcpStream> {
    let mut session = as_master(lab, addr).await;
    let opening = LinkOpen::Push(Box::new(PushOpen {
        version: PUSH_VERSION,
        user: lab.principal(user),
        user_exported: vec![4, 1],
        admin,
        image,
    }));
    session.send(&opening).await.expect("send PUSH");
    session
}

#[tokio::test]
async fn the_station_answers_pushes_and_openings_it_does_not_know() {
    let lab = Lab::new();
    let iso = lab.make_iso("exam.iso", 64 << 10, b"", true);
    let running = lab.start(lab.config("", ""), None).await;

    // An opening from a newer master: ERRINVCMD, so the master can say the station is old.
    let mut future = as_master(&lab, running.addr).await;
    let mut w = Writer::new();
    w.write("TELEPORT");
    future.send_bytes(w.as_bytes()).await.expect("send");
    assert_eq!(
        future.recv::<Reply>().await.expect("reply"),
        Reply::ErrInvCmd
    );

    // That very image under that id: stored, nothing to send.
    let bytes = std::fs::read(&iso).unwrap();
    let mut same = open(&lab, running.addr, image_of("exam.iso", &bytes, true), true).await;
    assert_eq!(
        same.recv::<StationPushReply>().await.expect("answer"),
        StationPushReply::Stored {
            file: "exam.iso".into()
        }
    );

    // A chunk that does not continue what the station has: refused, the partial removed.
    let new = b"not an image, but bytes".to_vec();
    let mut bad = open(&lab, running.addr, image_of("new.iso", &new, true), true).await;
    assert_eq!(
        bad.recv::<StationPushReply>().await.expect("answer"),
        StationPushReply::Ready { offset: 0 }
    );
    let chunk = PushData {
        offset: 3,
        bytes: new[3..].to_vec(),
    };
    bad.send(&chunk).await.expect("send chunk");
    let StationPushReply::Failed { reason } = bad.recv().await.expect("answer") else {
        panic!("a chunk out of place was taken")
    };
    assert!(reason.contains("does not continue"), "{reason}");
    let left: Vec<_> = std::fs::read_dir(iso.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(".push-") || n.starts_with("new.iso"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // A user (not an admin) with an unrestricted image: `[push] users` is off by default.
    let mut user = open(&lab, running.addr, image_of("mine.iso", &new, false), false).await;
    let StationPushReply::Failed { reason } = user.recv().await.expect("answer") else {
        panic!("a user's push was taken")
    };
    assert!(reason.contains("[push] users = false"), "{reason}");

    let refused = lab.records_named("image.push.refused");
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(lab.records_named("image.pushed").is_empty());
    running.stop().await;
}

#[tokio::test]
async fn a_users_unfinished_push_counts_in_their_quota_at_its_full_size() {
    let lab = Lab::new();
    let config = lab.config("[push]\nusers = true\nuser_quota_bytes = 1000\n", "");
    let running = lab.start(config, None).await;

    // alice's push of 600 bytes stops after 100 of them; the station keeps the partial.
    let first: Vec<u8> = (0..600u32).map(|i| (i % 251) as u8).collect();
    let mut cut = open(
        &lab,
        running.addr,
        image_of("first.iso", &first, false),
        false,
    )
    .await;
    assert_eq!(
        cut.recv::<StationPushReply>().await.expect("answer"),
        StationPushReply::Ready { offset: 0 }
    );
    let chunk = PushData {
        offset: 0,
        bytes: first[..100].to_vec(),
    };
    cut.send(&chunk).await.expect("send chunk");
    drop(cut);

    // Her next push of 500 bytes would make 1,100 with the partial's full 600: refused,
    // before a byte is written.
    let second = vec![7u8; 500];
    let mut over = open(
        &lab,
        running.addr,
        image_of("second.iso", &second, false),
        false,
    )
    .await;
    let StationPushReply::Failed { reason } = over.recv().await.expect("answer") else {
        panic!("a push over the user's quota was taken")
    };
    assert!(reason.contains("use 600 of the 1000 bytes"), "{reason}");
    assert!(reason.contains("[push] user_quota_bytes"), "{reason}");
    let refused = lab.records_named("image.push.refused");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0]
        .get_str("reason")
        .is_some_and(|r| r.contains("user_quota_bytes")));

    // bob's quota is his own; an admin's push counts in nobody's.
    let mut bobs = open_as(
        &lab,
        running.addr,
        "bob",
        image_of("second.iso", &second, false),
        false,
    )
    .await;
    assert_eq!(
        bobs.recv::<StationPushReply>().await.expect("answer"),
        StationPushReply::Ready { offset: 0 }
    );
    drop(bobs);
    let big = vec![9u8; 2000];
    let mut staff = open(&lab, running.addr, image_of("staff.iso", &big, false), true).await;
    assert_eq!(
        staff.recv::<StationPushReply>().await.expect("answer"),
        StationPushReply::Ready { offset: 0 }
    );
    drop(staff);
    running.stop().await;
}
