//! QUIT and the loss of the container connection close every connection of the user and free
//! the station; other users never notice.

use burnstand_wire::command::{Command, Reply};

use crate::client::{
    assert_closed, bind_first, burner, command, connect, list, reset_on_close, Client,
};
use crate::common::{lab_test, Lab, LabSpec};
use crate::station::StationEvent;

/// alice: a bound container, a module in pass-through, a module still in command mode.
/// bob: one connection in command mode.
async fn scene(lab: &mut Lab) -> (Client, Client, Client, Client) {
    let mut container = connect(lab, "alice").await;
    assert_eq!(bind_first(&mut container).await, Reply::Ok);
    let mut relaying = connect(lab, "alice").await;
    assert_eq!(
        command(&mut relaying, Command::Serv(burner())).await,
        Reply::Ok
    );
    assert!(matches!(
        lab.stations[0].next_event().await,
        StationEvent::Identity(_)
    ));
    relaying.send_bytes(b"ping").await.expect("relay");
    assert_eq!(relaying.recv_bytes().await.expect("echo"), b"echo:ping");
    let waiting = connect(lab, "alice").await;
    let mut bob = connect(lab, "bob").await;
    assert_eq!(list(&mut bob).await.len(), 1);
    (container, relaying, waiting, bob)
}

/// Everything of alice is closed, the station link too, bob is fine and can take the station.
async fn assert_torn_down(
    lab: &mut Lab,
    mut relaying: Client,
    mut waiting: Client,
    mut bob: Client,
) {
    assert_closed(&mut relaying).await;
    assert_closed(&mut waiting).await;
    assert!(matches!(
        lab.stations[0].next_event().await,
        StationEvent::Ended
    ));
    assert_eq!(
        bind_first(&mut bob).await,
        Reply::Ok,
        "the station is free again"
    );
    // And alice can start over.
    let mut alice = connect(lab, "alice").await;
    assert_eq!(
        command(&mut alice, Command::Serv(burner())).await,
        Reply::ErrNoConn
    );
}

#[test]
fn quit_closes_every_connection_of_the_user_and_frees_the_station() {
    lab_test(LabSpec::default(), |mut lab| async move {
        let (mut container, relaying, waiting, bob) = scene(&mut lab).await;
        assert_eq!(command(&mut container, Command::Quit).await, Reply::Ok);
        assert_closed(&mut container).await;
        assert_torn_down(&mut lab, relaying, waiting, bob).await;
    });
}

#[test]
fn quit_on_a_module_connection_also_closes_the_container() {
    lab_test(LabSpec::default(), |mut lab| async move {
        let (mut container, relaying, mut waiting, bob) = scene(&mut lab).await;
        assert_eq!(command(&mut waiting, Command::Quit).await, Reply::Ok);
        assert_closed(&mut container).await;
        assert_torn_down(&mut lab, relaying, waiting, bob).await;
    });
}

#[test]
fn a_closed_container_connection_tears_down_like_quit() {
    lab_test(LabSpec::default(), |mut lab| async move {
        let (container, relaying, waiting, bob) = scene(&mut lab).await;
        drop(container); // orderly FIN, as when the client process exits
        assert_torn_down(&mut lab, relaying, waiting, bob).await;
    });
}

#[test]
fn a_reset_container_connection_tears_down_like_quit() {
    lab_test(LabSpec::default(), |mut lab| async move {
        let (container, relaying, waiting, bob) = scene(&mut lab).await;
        let (blocks, _) = container.into_raw_parts();
        reset_on_close(blocks.get_ref());
        drop(blocks); // RST, as when a killed process leaves unread data or a machine dies
        assert_torn_down(&mut lab, relaying, waiting, bob).await;
    });
}

#[test]
fn a_module_ending_does_not_end_the_reservation() {
    lab_test(LabSpec::default(), |mut lab| async move {
        let (mut container, relaying, waiting, mut bob) = scene(&mut lab).await;
        drop(relaying);
        assert!(matches!(
            lab.stations[0].next_event().await,
            StationEvent::Ended
        ));
        drop(waiting);
        // Still reserved: bob cannot take it, alice can open a new module.
        assert_eq!(bind_first(&mut bob).await, Reply::ErrUnaval);
        let mut module = connect(&lab, "alice").await;
        assert_eq!(
            command(&mut module, Command::Serv(burner())).await,
            Reply::Ok
        );
        assert_eq!(command(&mut container, Command::Quit).await, Reply::Ok);
        assert_closed(&mut module).await;
    });
}
