//! The client's side of the burner-farm commands against a **scripted** master, for what the
//! real master cannot be made to do on cue (an old master without the farm commands, a
//! RESERVED crossing a LEAVE, a terminal question); the real flows are in `farm.rs`, against
//! the real master. The scripted master is a task in this test that authenticates like the
//! master (a real KDC, real GSSAPI) and answers from a script.
//!
//! The scripted master answers the client's HELLO (the protocol nucleus) with ERRINVCMD, as a
//! master from before the nucleus does, unless a test asks for another answer
//! ([`scripted_masters`]).

use std::net::SocketAddr;
use std::time::Duration;

use burnstand::admin::{ask, interpret, AdminCommand};
use burnstand::config::Settings;
use burnstand::master::MasterConnection;
use burnstand::queue::{Position, QueueUi, WaitChoice};
use burnstand::reserve::{reserve_station, Want};
use burnstand::signals::Stop;
use burnstand::ticket::Ticket;
use burnstand::ClientError;
use burnstand_wire::command::{Command, Greeting, Reply, ServiceType, StationType};
use burnstand_wire::farm::{
    flags, AdminReply, ListX, ListedType, ReserveReply, ReservedStation, LISTX_VERSION,
};
use burnstand_wire::gss::acceptor_credentials;
use burnstand_wire::io::{Session, Unauthenticated};
use burnstand_wire::nucleus::HelloReply;
use kdc_test::{Realm, RealmBuilder};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const SERVICE: &str = "burnstand/localhost";
const TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn realm() -> Realm {
    let realm = RealmBuilder::new("BURNSTAND.TEST")
        .user("alice", "alice-pw")
        .service(SERVICE)
        .start()
        .unwrap_or_else(|e| panic!("starting the test realm: {e}"));
    realm
        .apply_to_process(Some(SERVICE))
        .unwrap_or_else(|e| panic!("realm environment: {e}"));
    realm
        .kinit("alice")
        .unwrap_or_else(|e| panic!("kinit: {e}"));
    realm
}

pub(crate) type Script = Box<
    dyn FnOnce(
            Session<TcpStream>,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        + Send,
>;

/// What a master from before the nucleus answers to HELLO.
pub(crate) fn old_master() -> HelloReply {
    HelloReply::Refused(Reply::ErrInvCmd)
}

/// A master from before the nucleus that accepts one connection, greets, and runs `script`
/// on it.
async fn scripted_master(realm: &Realm, script: Script) -> (SocketAddr, JoinHandle<()>) {
    scripted_masters(realm, old_master(), vec![script]).await
}

/// A master that accepts one connection per script, one after the other: greets, answers
/// HELLO with `hello`, and runs the script.
pub(crate) async fn scripted_masters(
    realm: &Realm,
    hello: HelloReply,
    scripts: Vec<Script>,
) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = realm.principal(SERVICE);
    let task = tokio::spawn(async move {
        for script in scripts {
            let (stream, _) = listener.accept().await.unwrap();
            let cred = acceptor_credentials(&service).unwrap();
            let mut session = Unauthenticated::new(stream)
                .accept(cred, TIMEOUT)
                .await
                .unwrap();
            session.send(&Greeting::CURRENT).await.unwrap();
            let Command::Hello(_) = expect(&mut session).await else {
                panic!("the client did not say HELLO first")
            };
            session.send(&hello).await.unwrap();
            script(session).await;
        }
    });
    (addr, task)
}

pub(crate) fn settings(realm: &Realm, addr: SocketAddr) -> Settings {
    Settings {
        master: addr.to_string(),
        master_principal: realm.principal(SERVICE),
    }
}

pub(crate) async fn connect(realm: &Realm, addr: SocketAddr) -> MasterConnection {
    let ticket = Ticket::current().unwrap();
    MasterConnection::connect(&settings(realm, addr), &ticket)
        .await
        .unwrap()
}

pub(crate) async fn expect(session: &mut Session<TcpStream>) -> Command {
    tokio::time::timeout(TIMEOUT, session.recv::<Command>())
        .await
        .expect("the client sends a command")
        .expect("a command")
}

fn dvd() -> StationType {
    StationType {
        id: 1,
        services: vec![ServiceType {
            id: ServiceType::BURNER,
            name: "burner".into(),
            description: "burns".into(),
        }],
        name: "DVD burner".into(),
        description: "DVD drive; services: burner".into(),
    }
}

pub(crate) fn listx(free: u32, busy: u32, queued: u32) -> ListX {
    ListX {
        version: LISTX_VERSION,
        types: vec![ListedType {
            record: dvd(),
            total: free + busy,
            free,
            busy,
            quarantined: 0,
            queued,
            notes: Vec::new(),
        }],
    }
}

pub(crate) fn reserved() -> ReserveReply {
    ReserveReply::Reserved {
        session_id: "6f1c".into(),
        stations: vec![ReservedStation {
            name: "dvd-1".into(),
            location: "room 2.14".into(),
        }],
    }
}

pub(crate) fn queued(position: u32, eta_seconds: u32, waiting: u32) -> ReserveReply {
    ReserveReply::Queued {
        position,
        eta_seconds,
        waiting,
    }
}

/// Records what the person would see, and answers the question as told.
#[derive(Default)]
pub(crate) struct Recorder {
    pub places: Vec<Position>,
    pub questions: Vec<String>,
    pub answer: Option<bool>,
    pub notes: Vec<String>,
}

impl QueueUi for Recorder {
    fn queued(&mut self, position: &Position) {
        self.places.push(*position);
    }
    fn ask(&mut self, question: &str) -> Option<bool> {
        self.questions.push(question.to_owned());
        self.answer
    }
    fn note(&mut self, text: &str) {
        self.notes.push(text.to_owned());
    }
}

pub(crate) fn want(wait: WaitChoice) -> Want {
    Want {
        wait,
        ..Want::default()
    }
}

#[tokio::test]
async fn an_old_master_gets_list_and_bind() {
    let realm = realm();
    let (addr, master) = scripted_master(
        &realm,
        Box::new(|mut s| {
            Box::pin(async move {
                assert_eq!(expect(&mut s).await, Command::ListX(LISTX_VERSION));
                s.send(&Reply::ErrInvCmd).await.unwrap();
                assert_eq!(expect(&mut s).await, Command::List);
                s.send(&vec![dvd()]).await.unwrap();
                assert_eq!(expect(&mut s).await, Command::Bind(dvd()));
                s.send(&Reply::Ok).await.unwrap();
            })
        }),
    )
    .await;
    let mut connection = connect(&realm, addr).await;
    // HELLO was answered ERRINVCMD: no nucleus, no notices, and everything else as before.
    assert_eq!(connection.nucleus(), None);
    assert!(connection.notices().is_empty());
    let got = reserve_station(
        &mut connection,
        &want(WaitChoice::Ask),
        false,
        &mut Recorder::default(),
        &mut Stop::none(),
        None,
    )
    .await
    .unwrap();
    master.await.unwrap();
    assert_eq!(got.reserved, None);
}

#[tokio::test]
async fn all_busy_asks_with_fresh_counts_and_a_yes_waits() {
    let realm = realm();
    let (addr, master) = scripted_master(
        &realm,
        Box::new(|mut s| {
            Box::pin(async move {
                expect(&mut s).await;
                s.send(&listx(1, 1, 0)).await.unwrap();
                let Command::Reserve(first) = expect(&mut s).await else {
                    panic!("not RESERVE")
                };
                assert_eq!(first.flags, flags::HOLD, "no WAIT before the answer");
                s.send(&ReserveReply::Refused(Reply::ErrUnaval))
                    .await
                    .unwrap();
                assert_eq!(expect(&mut s).await, Command::ListX(LISTX_VERSION));
                s.send(&listx(0, 2, 3)).await.unwrap();
                let Command::Reserve(second) = expect(&mut s).await else {
                    panic!("not RESERVE")
                };
                assert_eq!(second.flags, flags::WAIT | flags::HOLD);
                s.send(&reserved()).await.unwrap();
            })
        }),
    )
    .await;
    let mut connection = connect(&realm, addr).await;
    let mut ui = Recorder {
        answer: Some(true),
        ..Recorder::default()
    };
    let got = reserve_station(
        &mut connection,
        &want(WaitChoice::Ask),
        true,
        &mut ui,
        &mut Stop::none(),
        None,
    )
    .await
    .unwrap();
    master.await.unwrap();
    assert!(got.reserved.is_some());
    assert_eq!(
        ui.questions,
        ["All 2 stations of DVD burner are busy (3 waiting). Wait in the queue? [Y/n]"]
    );
}

#[tokio::test]
async fn all_busy_without_anyone_to_ask_fails_with_the_busy_count() {
    let realm = realm();
    let (addr, master) = scripted_master(
        &realm,
        Box::new(|mut s| {
            Box::pin(async move {
                expect(&mut s).await;
                s.send(&listx(0, 2, 0)).await.unwrap();
                expect(&mut s).await;
                s.send(&ReserveReply::Refused(Reply::ErrUnaval))
                    .await
                    .unwrap();
                expect(&mut s).await;
                s.send(&listx(0, 2, 0)).await.unwrap();
            })
        }),
    )
    .await;
    let mut connection = connect(&realm, addr).await;
    let e = reserve_station(
        &mut connection,
        &want(WaitChoice::Ask),
        false,
        &mut Recorder::default(),
        &mut Stop::none(),
        None,
    )
    .await
    .unwrap_err();
    master.await.unwrap();
    assert_eq!(e.exit_code(), 10);
    assert!(e.to_string().contains("reserved right now, 2 busy"), "{e}");
}

#[tokio::test]
async fn a_cleared_queue_ends_the_wait_with_its_own_code() {
    let realm = realm();
    let (addr, master) = scripted_master(
        &realm,
        Box::new(|mut s| {
            Box::pin(async move {
                expect(&mut s).await;
                s.send(&listx(0, 1, 0)).await.unwrap();
                expect(&mut s).await;
                s.send(&queued(1, 0, 1)).await.unwrap();
                s.send(&ReserveReply::Refused(Reply::ErrDenied(
                    "the lab staff cleared the queue".into(),
                )))
                .await
                .unwrap();
            })
        }),
    )
    .await;
    let mut connection = connect(&realm, addr).await;
    let e = reserve_station(
        &mut connection,
        &want(WaitChoice::Wait),
        false,
        &mut Recorder::default(),
        &mut Stop::none(),
        None,
    )
    .await
    .unwrap_err();
    master.await.unwrap();
    assert!(matches!(e, ClientError::QueueEnded(_)), "{e:?}");
    assert_eq!(e.exit_code(), 23);
    assert!(e.to_string().contains("cleared the queue"));
}

/// A station that came free just as the LEAVE went out is released with QUIT.
#[tokio::test]
async fn a_reservation_crossing_the_leave_is_quit() {
    let realm = realm();
    let (addr, master) = scripted_master(
        &realm,
        Box::new(|mut s| {
            Box::pin(async move {
                expect(&mut s).await;
                s.send(&listx(0, 1, 0)).await.unwrap();
                expect(&mut s).await;
                s.send(&queued(1, 60, 1)).await.unwrap();
                tokio::time::sleep(Duration::from_millis(200)).await;
                nix::sys::signal::raise(nix::sys::signal::Signal::SIGINT).unwrap();
                assert_eq!(expect(&mut s).await, Command::Leave);
                s.send(&reserved()).await.unwrap();
                assert_eq!(expect(&mut s).await, Command::Quit);
                s.send(&Reply::Ok).await.unwrap();
            })
        }),
    )
    .await;
    let mut connection = connect(&realm, addr).await;
    let e = reserve_station(
        &mut connection,
        &want(WaitChoice::Wait),
        false,
        &mut Recorder::default(),
        &mut Stop::none(),
        None,
    )
    .await
    .unwrap_err();
    master.await.unwrap();
    assert_eq!(e.exit_code(), 130);
    assert!(e.to_string().contains("released again"), "{e}");
}

#[tokio::test]
async fn a_named_station_goes_into_reserve_and_errdenied_to_admin_is_exit_22() {
    let realm = realm();
    let (addr, master) = scripted_master(
        &realm,
        Box::new(|mut s| {
            Box::pin(async move {
                expect(&mut s).await;
                s.send(&listx(0, 1, 0)).await.unwrap();
                let Command::Reserve(r) = expect(&mut s).await else {
                    panic!("not RESERVE")
                };
                assert_eq!(r.station, "dvd-2");
                s.send(&ReserveReply::Refused(Reply::ErrUnaval))
                    .await
                    .unwrap();
                expect(&mut s).await;
                s.send(&listx(0, 1, 0)).await.unwrap();
                assert_eq!(expect(&mut s).await, Command::StationReport);
                s.send(&AdminReply::Refused(Reply::ErrDenied("admins only".into())))
                    .await
                    .unwrap();
            })
        }),
    )
    .await;
    let mut connection = connect(&realm, addr).await;
    let named = Want {
        station: Some("dvd-2".into()),
        wait: WaitChoice::NoWait,
        ..Want::default()
    };
    let e = reserve_station(
        &mut connection,
        &named,
        false,
        &mut Recorder::default(),
        &mut Stop::none(),
        None,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, ClientError::StationBusy { .. }), "{e:?}");
    let reply = ask(&mut connection, &AdminCommand::Stations).await.unwrap();
    let e = interpret(&AdminCommand::Stations, reply).unwrap_err();
    master.await.unwrap();
    assert_eq!(e.exit_code(), 22);
    assert!(e
        .to_string()
        .contains("you are not in the master's admin group"));
}

/// Runs the real `burnstand` binary against the scripted master at `addr`.
pub(crate) async fn burnstand_at(
    realm: &Realm,
    addr: SocketAddr,
    runtime_dir: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    let principal = realm.principal(SERVICE);
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_burnstand"));
    command
        .args([
            "--master",
            &addr.to_string(),
            "--master-principal",
            &principal,
        ])
        .args(args)
        .env("BURNSTAND_RUNTIME_DIR", runtime_dir)
        .env_remove("BURNSTAND_CONFIG")
        .stdin(std::process::Stdio::null());
    tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("burnstand ends")
        .expect("run burnstand")
}

/// `reserve` without --wait or --no-wait and without a terminal: the holder finds every
/// station busy, and `reserve` fails like --no-wait, with the count.
#[tokio::test]
async fn reserve_without_a_terminal_does_not_wait() {
    let realm = realm();
    let (addr, master) = scripted_master(
        &realm,
        Box::new(|mut s| {
            Box::pin(async move {
                expect(&mut s).await;
                s.send(&listx(0, 2, 1)).await.unwrap();
                let Command::Reserve(r) = expect(&mut s).await else {
                    panic!("not RESERVE")
                };
                assert_eq!(r.flags, flags::HOLD);
                s.send(&ReserveReply::Refused(Reply::ErrUnaval))
                    .await
                    .unwrap();
                expect(&mut s).await;
                s.send(&listx(0, 2, 1)).await.unwrap();
            })
        }),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = burnstand_at(&realm, addr, dir.path(), &["reserve"]).await;
    master.await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(10), "{stderr}");
    assert!(stderr.contains("reserved right now, 2 busy"), "{stderr}");
    assert!(stderr.contains("--wait"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no record"
    );
}
