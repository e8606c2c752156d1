//! GSSAPI handshake and protected exchange against a real MIT KDC (from `kdc-test`), over real
//! TCP on 127.0.0.1. Each test sets the Kerberos environment of its own process: run them
//! with cargo nextest (one process per test), as `.ci/run` does.

use std::time::Duration;

use burnstand_wire::command::{Command, Greeting, ServiceType, StationType};
use burnstand_wire::fastpath::Enctype;
use burnstand_wire::gss::{
    acceptor_credentials, initiator_credentials, Established, Principal, ProtectionPath,
};
use burnstand_wire::io::{Session, Unauthenticated};
use burnstand_wire::protection::Protection;
use burnstand_wire::{Error, IoError};
use kdc_test::{Realm, RealmBuilder};
use tokio::net::{TcpListener, TcpStream};

use crate::{started_realm, SERVICE};
const TIMEOUT: Duration = Duration::from_secs(10);

fn realm() -> Realm {
    realm_with(RealmBuilder::new("BURNSTAND.TEST"))
}

fn realm_with(builder: RealmBuilder) -> Realm {
    let realm = started_realm(builder);
    realm
        .kinit("alice")
        .unwrap_or_else(|e| panic!("kinit alice: {e}"));
    realm
}

type Both = (
    Result<Session<TcpStream>, IoError>,
    Result<Session<TcpStream>, IoError>,
);

/// Runs an acceptor task and an initiator task against each other on 127.0.0.1, both with
/// the process default protection path (the fast path where the context allows it).
async fn handshake(realm: &Realm) -> Both {
    handshake_on(realm, burnstand_wire::gss::fast_path_default()).await
}

/// [`handshake`] with the fast path on or off on both sides.
async fn handshake_on(realm: &Realm, fast_path: bool) -> Both {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let service = realm.principal(SERVICE);
    let acceptor = tokio::spawn(async move {
        let (stream, _) = listener.accept().await?;
        let cred = acceptor_credentials(&service)?;
        Unauthenticated::new(stream)
            .fast_path(fast_path)
            .accept(cred, TIMEOUT)
            .await
    });
    let target = realm.principal(SERVICE);
    let initiator = async move {
        let stream = TcpStream::connect(addr).await?;
        let cred = initiator_credentials(None)?;
        Unauthenticated::new(stream)
            .fast_path(fast_path)
            .initiate(cred, &target, TIMEOUT)
            .await
    };
    let client = initiator.await;
    let server = acceptor.await.expect("acceptor task panicked");
    (server, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_then_protected_messages_both_ways() {
    let realm = realm();
    let (server, client) = handshake(&realm).await;
    let mut server = server.expect("acceptor side");
    let mut client = client.expect("initiator side");

    // The acceptor sees the user; the initiator sees the service it asked for.
    assert_eq!(server.peer().as_str(), "alice@BURNSTAND.TEST");
    assert_eq!(server.peer().realm(), Some("BURNSTAND.TEST"));
    assert_eq!(client.peer().as_str(), "burnstand/localhost@BURNSTAND.TEST");
    assert!(server.protection().remaining() > Duration::from_secs(60));

    // Configured names compare equal to authenticated peers by exported name.
    let alice = Principal::parse("alice@BURNSTAND.TEST").expect("parse");
    assert_eq!(&alice, server.peer());
    assert_eq!(
        &Principal::parse("alice").expect("default realm"),
        server.peer()
    );
    assert_ne!(
        &Principal::parse("Alice@BURNSTAND.TEST").expect("parse"),
        server.peer()
    );
    assert_ne!(
        &Principal::parse("alice/admin@BURNSTAND.TEST").expect("parse"),
        server.peer()
    );

    let station = StationType {
        id: 1,
        services: vec![ServiceType {
            id: ServiceType::BURNER,
            name: "burner".into(),
            description: "DVD".into(),
        }],
        name: "DVD burner".into(),
        description: "burner (DVD)".into(),
    };
    let talk = tokio::spawn(async move {
        server.send(&Greeting::CURRENT).await?;
        assert_eq!(server.recv::<Command>().await?, Command::List);
        server.send(&vec![station]).await?;
        let upload = server.recv_bytes().await?;
        server
            .send_bytes(&upload.iter().rev().copied().collect::<Vec<u8>>())
            .await?;
        Ok::<_, IoError>(server)
    });
    assert_eq!(
        client
            .recv::<Greeting>()
            .await
            .ok()
            .and_then(|g| g.check().ok()),
        Some(Greeting::CURRENT)
    );
    client.send(&Command::List).await.expect("send LIST");
    let list: Vec<StationType> = client.recv().await.expect("LIST reply");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].name, "DVD burner");

    let block: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    client.send_bytes(&block).await.expect("send 64 KiB");
    let echoed = client.recv_bytes().await.expect("receive 64 KiB");
    assert_eq!(echoed, block.iter().rev().copied().collect::<Vec<u8>>());
    talk.await.expect("server task").expect("server side");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_flipped_and_reflected_tokens_are_refused_by_mit() {
    replayed_flipped_and_reflected_tokens_are_refused(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_flipped_and_reflected_tokens_are_refused_by_the_fast_path() {
    replayed_flipped_and_reflected_tokens_are_refused(true).await;
}

async fn replayed_flipped_and_reflected_tokens_are_refused(fast_path: bool) {
    let realm = realm();
    let (server, client) = handshake_on(&realm, fast_path).await;
    let mut server: Established = server.expect("acceptor").into_protection();
    let mut client: Established = client.expect("initiator").into_protection();
    let want = if fast_path {
        ProtectionPath::Fast(Enctype::Aes256CtsHmacSha1_96)
    } else {
        ProtectionPath::Mit
    };
    assert_eq!(server.path(), want, "the realm's default enctype is 18");
    assert_eq!(client.path(), want);

    let first = client.seal(b"QUIT").expect("seal");
    // An RFC 4121 Wrap token with the Sealed flag: confidentiality is really on.
    assert_eq!(&first[..2], &[0x05, 0x04]);
    assert_eq!(first[2] & 0x02, 0x02, "Sealed flag");
    assert_eq!(server.open(&first).expect("first open"), b"QUIT");
    let replay = server.open(&first);
    assert!(
        matches!(
            replay,
            Err(Error::Gss {
                operation: "unwrap",
                ..
            }) | Err(Error::ReplayedToken { .. })
        ),
        "replay: {replay:?}"
    );

    let mut flipped = client.seal(b"LIST").expect("seal");
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    let flip = server.open(&flipped);
    assert!(
        matches!(flip, Err(Error::Gss { .. }) | Err(Error::Integrity)),
        "bit flip: {flip:?}"
    );

    let reflected = server.seal(&[0u8; 16]).expect("seal");
    assert!(
        server.open(&reflected).is_err(),
        "a token reflected to its sender"
    );
    assert_eq!(
        client.open(&reflected).expect("the real receiver"),
        [0u8; 16]
    );

    // Clearing the Sealed flag is caught by the header check, and forging it back is caught
    // by unwrap's checksum over the header.
    let mut unsealed = client.seal(b"BIND").expect("seal");
    unsealed[2] &= !0x02;
    assert!(matches!(server.open(&unsealed), Err(Error::NotSealed)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_keytab_fails_with_a_clear_message() {
    let mut realm = realm();
    let stale = realm.keytab(SERVICE).expect("service keytab").to_path_buf();
    realm
        .rotate_service_key(SERVICE)
        .expect("rotate the service key");
    // The acceptor keeps the keytab exported before the rotation: the ticket alice now gets
    // is encrypted with a key it does not have.
    std::env::set_var("KRB5_KTNAME", &stale);

    let (server, client) = handshake(&realm).await;
    let server = server.err().expect("the acceptor must refuse");
    let message = server.to_string();
    assert!(
        matches!(
            server,
            IoError::Codec(Error::Gss {
                operation: "accept security context",
                ..
            })
        ),
        "{message}"
    );
    assert!(
        message.contains("keytab"),
        "the message should name the keytab: {message}"
    );
    assert!(matches!(client.err(), Some(IoError::HandshakeClosed)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_ticket_is_a_credentials_error_naming_the_cache() {
    let realm = realm();
    std::env::set_var("KRB5CCNAME", realm.dir().join("no-such-ccache"));
    std::env::remove_var("KRB5_CLIENT_KTNAME");
    let err = initiator_credentials(None).expect_err("no credentials without a ticket");
    assert!(
        matches!(
            err,
            Error::Gss {
                operation: "acquire initiator credentials",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("no-such-ccache"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ends_when_its_ticket_does() {
    let lifetime = Duration::from_secs(3);
    let skew = Duration::from_secs(1);
    let realm = realm_with(
        RealmBuilder::new("BURNSTAND.TEST")
            .ticket_lifetime(lifetime)
            .clock_skew(skew),
    );
    let (server, client) = handshake(&realm).await;
    let mut server: Established = server.expect("acceptor").into_protection();
    let mut client: Established = client.expect("initiator").into_protection();

    // The acceptor's context lasts the ticket plus the clock skew, not MIT's default 300 s.
    let left = server.remaining();
    assert!(
        left <= lifetime + skew + Duration::from_secs(1),
        "context lifetime {left:?}"
    );
    let sealed = client
        .seal(b"LIST")
        .expect("seal while the ticket is valid");
    assert_eq!(server.open(&sealed).expect("open while valid"), b"LIST");

    tokio::time::sleep(left + Duration::from_millis(200)).await;
    assert!(matches!(server.seal(b"OK"), Err(Error::ContextExpired)));
    assert!(matches!(server.open(&sealed), Err(Error::ContextExpired)));
    assert!(matches!(client.seal(b"QUIT"), Err(Error::ContextExpired)));
}
