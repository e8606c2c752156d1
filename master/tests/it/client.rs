//! A test client: a user's container or module connection, authenticated with in-memory
//! password credentials, speaking command mode through `burnstand-wire`.

use std::net::SocketAddr;

use burnstand_wire::command::{Command, Greeting, Reply, ServiceType, StationType};
use burnstand_wire::farm::{AdminReply, ListX, Reserve, ReserveReply};
use burnstand_wire::gss::password_credentials;
use burnstand_wire::io::{Session, Unauthenticated};
use burnstand_wire::IoError as Error;
use kdc_test::Realm;
use tokio::net::TcpStream;

use crate::common::{guard, Lab, HANG_GUARD, MASTER, USERS};

pub type Client = Session<TcpStream>;

fn password(user: &str) -> &'static str {
    USERS
        .iter()
        .find(|(name, _)| *name == user)
        .map(|(_, pw)| *pw)
        .expect("known user")
}

/// Authenticates `user` over an existing TCP stream and checks the greeting.
pub async fn handshake(lab: &Lab, user: &str, stream: TcpStream) -> Result<Client, Error> {
    handshake_in(&lab.realm, user, stream).await
}

/// [`handshake`] for a master that is not a [`Lab`] (the daemon binary).
pub async fn handshake_in(realm: &Realm, user: &str, stream: TcpStream) -> Result<Client, Error> {
    let cred = password_credentials(&realm.principal(user), password(user))?;
    let mut session = Unauthenticated::new(stream)
        .initiate(cred, &realm.principal(MASTER), HANG_GUARD)
        .await?;
    let greeting: Greeting = session.recv().await?;
    greeting.check()?;
    Ok(session)
}

/// A new authenticated connection of `user` to the master.
pub async fn connect(lab: &Lab, user: &str) -> Client {
    guard("connect", async {
        let stream = TcpStream::connect(lab.master_addr)
            .await
            .expect("connect to master");
        handshake(lab, user, stream)
            .await
            .unwrap_or_else(|e| panic!("{user} cannot connect: {e}"))
    })
    .await
}

/// Like [`connect`], also returning the client's own address (what the master sees).
pub async fn connect_from(lab: &Lab, user: &str) -> (Client, SocketAddr) {
    guard("connect", async {
        let stream = TcpStream::connect(lab.master_addr)
            .await
            .expect("connect to master");
        let local = stream.local_addr().expect("local address");
        let client = handshake(lab, user, stream)
            .await
            .unwrap_or_else(|e| panic!("{user} cannot connect: {e}"));
        (client, local)
    })
    .await
}

/// Shuts down the sending direction of `stream` (the peer reads end of stream).
pub fn half_close(stream: &TcpStream) {
    socket2::SockRef::from(stream)
        .shutdown(std::net::Shutdown::Write)
        .expect("shutdown(SHUT_WR)");
}

/// Makes the next close of `stream` a reset (RST) instead of an orderly FIN, like a killed
/// process with unread data or a crashed machine's replacement.
pub fn reset_on_close(stream: &TcpStream) {
    socket2::SockRef::from(stream)
        .set_linger(Some(std::time::Duration::ZERO))
        .expect("SO_LINGER 0");
}

/// A raw TCP connection to `addr`.
pub async fn raw(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.expect("connect")
}

/// Sends `command` and reads a one-word reply.
pub async fn command(client: &mut Client, command: Command) -> Reply {
    guard("command", async {
        client.send(&command).await.expect("send command");
        client.recv::<Reply>().await.expect("reply")
    })
    .await
}

/// LIST.
pub async fn list(client: &mut Client) -> Vec<StationType> {
    guard("LIST", async {
        client.send(&Command::List).await.expect("send LIST");
        client.recv::<Vec<StationType>>().await.expect("LIST reply")
    })
    .await
}

/// BIND the first listed type.
pub async fn bind_first(client: &mut Client) -> Reply {
    let types = list(client).await;
    let first = types.into_iter().next().expect("a station type");
    command(client, Command::Bind(first)).await
}

/// BIND the type with id `type_id` (the master matches on the id alone).
pub async fn bind_first_of(client: &mut Client, type_id: u32) -> Reply {
    let station_type = StationType {
        id: type_id,
        services: vec![burner()],
        name: String::new(),
        description: String::new(),
    };
    command(client, Command::Bind(station_type)).await
}

/// LISTX in the newest version.
pub async fn list_x(client: &mut Client) -> ListX {
    list_x_version(client, burnstand_wire::farm::LISTX_VERSION).await
}

/// LISTX asking for `version`.
pub async fn list_x_version(client: &mut Client, version: u32) -> ListX {
    guard("LISTX", async {
        client
            .send(&Command::ListX(version))
            .await
            .expect("send LISTX");
        client.recv::<ListX>().await.expect("LISTX reply")
    })
    .await
}

/// Sends RESERVE and reads the first reply.
pub async fn reserve(client: &mut Client, request: Reserve) -> ReserveReply {
    guard("RESERVE", async {
        client
            .send(&Command::Reserve(request))
            .await
            .expect("send RESERVE");
        client.recv::<ReserveReply>().await.expect("RESERVE reply")
    })
    .await
}

/// The next message of a wait (QUEUED, RESERVED, …).
pub async fn next_reserve_reply(client: &mut Client) -> ReserveReply {
    guard("a reply while waiting", client.recv::<ReserveReply>())
        .await
        .expect("reply while waiting")
}

/// Sends an admin command and reads its reply.
pub async fn admin(client: &mut Client, command: Command) -> AdminReply {
    guard("admin command", async {
        client.send(&command).await.expect("send admin command");
        client.recv::<AdminReply>().await.expect("admin reply")
    })
    .await
}

/// The burner service record.
pub fn burner() -> ServiceType {
    ServiceType {
        id: ServiceType::BURNER,
        name: "burner".into(),
        description: String::new(),
    }
}

/// Waits until the master closes `client`: the next read fails (end of stream or reset).
pub async fn assert_closed(client: &mut Client) {
    let result = guard("the master closing the connection", client.recv_bytes()).await;
    match result {
        Err(
            Error::Closed
            | Error::Io(_)
            | Error::Codec(burnstand_wire::Error::UnterminatedBlock { .. }),
        ) => {}
        other => panic!("expected the connection to be closed, got {other:?}"),
    }
}

/// Waits until the master closes a raw stream (EOF or reset), discarding anything it sent.
pub async fn assert_raw_closed(stream: &mut TcpStream) {
    use tokio::io::AsyncReadExt;
    guard("the master closing a raw connection", async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
}

/// The TCP stream under an abandoned session's blocks, for writing raw bytes.
pub fn into_stream(blocks: burnstand_wire::io::BlockStream<TcpStream>) -> TcpStream {
    let std_stream = socket2::SockRef::from(blocks.get_ref())
        .try_clone()
        .expect("dup socket");
    let std_stream: std::net::TcpStream = std_stream.into();
    std_stream.set_nonblocking(true).expect("nonblocking");
    drop(blocks);
    TcpStream::from_std(std_stream).expect("tokio stream")
}

/// A TCP connection to `addr` from the loopback address `source` (all of 127.0.0.0/8 is
/// local): another peer address than the 127.0.0.1 every other test client uses.
pub async fn tcp_from(source: [u8; 4], addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from((source, 0)))
        .expect("bind the source address");
    socket.connect(addr).await.expect("connect")
}
