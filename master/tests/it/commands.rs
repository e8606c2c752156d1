//! Command mode: every reply of the remote-laboratory design in its situation.

use burnstand_wire::command::{Command, Reply, ServiceType, StationType};
use burnstand_wire::datastream::to_bytes;
use burnstand_wire::gss::Principal;
use uuid::Uuid;

use burnstand_wire::protection::Protection;

use crate::client::{
    assert_closed, bind_first, bind_first_of, burner, command, connect, connect_from, half_close,
    list,
};
use crate::common::{guard, lab_test, LabSpec, StationSpec};
use crate::station::{StationEvent, StationMode, EOF_REPLY};

fn three_stations() -> LabSpec {
    LabSpec::default().stations(vec![
        StationSpec::new("dvd-1", "DVD"),
        StationSpec::new("cd-1", "CD").allow("[\"alice@BURNSTAND.TEST\"]"),
        StationSpec::new("dvd-2", "DVD"),
    ])
}

#[test]
fn list_consolidates_identical_stations_with_stable_ids() {
    lab_test(three_stations(), |lab| async move {
        let mut alice = connect(&lab, "alice").await;
        let types = list(&mut alice).await;
        let summary: Vec<(u32, &str)> = types.iter().map(|t| (t.id, t.name.as_str())).collect();
        assert_eq!(summary, [(1, "DVD burner"), (2, "CD burner")]);
        assert_eq!(types[0].services.len(), 1);
        assert_eq!(types[0].services[0].id, ServiceType::BURNER);
        assert!(
            types[0].description.contains("DVD"),
            "{}",
            types[0].description
        );

        // bob may not use the CD station: LIST does not show it to him.
        let mut bob = connect(&lab, "bob").await;
        let bob_types: Vec<u32> = list(&mut bob).await.iter().map(|t| t.id).collect();
        assert_eq!(bob_types, [1]);

        // IDs stay the same after reservations change.
        assert_eq!(
            command(&mut bob, Command::Bind(types[0].clone())).await,
            Reply::Ok
        );
        assert_eq!(list(&mut alice).await, types);
        // carol is in no access list: nothing to list, nothing to bind.
        let mut carol = connect(&lab, "carol").await;
        assert!(list(&mut carol).await.is_empty());
        assert_eq!(
            command(&mut carol, Command::Bind(types[0].clone())).await,
            Reply::ErrUnaval
        );
    });
}

#[test]
fn an_invalid_command_is_errinvcmd_and_command_mode_goes_on() {
    lab_test(LabSpec::default(), |lab| async move {
        let mut alice = connect(&lab, "alice").await;
        for garbage in [
            to_bytes("DROP"),
            to_bytes("list"),
            b"\x00\x01".to_vec(),
            Vec::new(),
            {
                let mut quit = to_bytes(&Command::Quit);
                quit.push(0); // trailing data
                quit
            },
        ] {
            alice.send_bytes(&garbage).await.expect("send");
            assert_eq!(
                alice.recv::<Reply>().await.expect("reply"),
                Reply::ErrInvCmd
            );
        }
        assert_eq!(list(&mut alice).await.len(), 1, "still in command mode");
    });
}

#[test]
fn bind_is_ok_and_then_only_quit_is_accepted() {
    lab_test(LabSpec::default(), |lab| async move {
        let mut alice = connect(&lab, "alice").await;
        let types = list(&mut alice).await;
        assert_eq!(
            command(&mut alice, Command::Bind(types[0].clone())).await,
            Reply::Ok
        );
        assert_eq!(command(&mut alice, Command::List).await, Reply::ErrInvCmd);
        // SERV on the connection that issued BIND.
        assert_eq!(
            command(&mut alice, Command::Serv(burner())).await,
            Reply::ErrInvCmd
        );
        assert_eq!(
            command(&mut alice, Command::Bind(types[0].clone())).await,
            Reply::ErrInvCmd
        );
        assert_eq!(command(&mut alice, Command::Quit).await, Reply::Ok);
        assert_closed(&mut alice).await;
    });
}

#[test]
fn bind_without_a_free_station_is_errunaval_and_command_mode_goes_on() {
    lab_test(LabSpec::default(), |lab| async move {
        let mut alice = connect(&lab, "alice").await;
        assert_eq!(bind_first(&mut alice).await, Reply::Ok);
        let mut bob = connect(&lab, "bob").await;
        let types = list(&mut bob).await;
        assert_eq!(
            types.len(),
            1,
            "a type whose stations are all reserved is still listed"
        );
        assert_eq!(
            command(&mut bob, Command::Bind(types[0].clone())).await,
            Reply::ErrUnaval
        );
        let unknown = StationType {
            id: 99,
            services: vec![],
            name: String::new(),
            description: String::new(),
        };
        assert_eq!(
            command(&mut bob, Command::Bind(unknown)).await,
            Reply::ErrUnaval
        );
        // alice cannot hold two reservations.
        let mut alice2 = connect(&lab, "alice").await;
        assert_eq!(
            command(&mut alice2, Command::Bind(types[0].clone())).await,
            Reply::ErrUnaval
        );
        assert_eq!(list(&mut bob).await, types, "bob is still in command mode");
    });
}

#[test]
fn serv_without_a_container_is_errnoconn_and_command_mode_goes_on() {
    lab_test(LabSpec::default(), |lab| async move {
        let mut module = connect(&lab, "bob").await;
        assert_eq!(
            command(&mut module, Command::Serv(burner())).await,
            Reply::ErrNoConn
        );
        // Another user's reservation does not count.
        let mut alice = connect(&lab, "alice").await;
        assert_eq!(bind_first(&mut alice).await, Reply::Ok);
        assert_eq!(
            command(&mut module, Command::Serv(burner())).await,
            Reply::ErrNoConn
        );
        assert_eq!(list(&mut module).await.len(), 1, "still in command mode");
    });
}

#[test]
fn serv_is_ok_then_relays_with_the_identity_block() {
    lab_test(LabSpec::default(), |mut lab| async move {
        let mut container = connect(&lab, "alice").await;
        assert_eq!(bind_first(&mut container).await, Reply::Ok);
        let (mut module, module_addr) = connect_from(&lab, "alice").await;
        assert_eq!(
            command(&mut module, Command::Serv(burner())).await,
            Reply::Ok
        );

        let StationEvent::Identity(identity) = lab.stations[0].next_event().await else {
            panic!("expected the identity block first");
        };
        assert_eq!(identity.user, "alice@BURNSTAND.TEST");
        let alice = Principal::parse("alice@BURNSTAND.TEST").expect("principal");
        assert_eq!(identity.user_exported_name, alice.exported());
        assert!(
            Uuid::parse_str(&identity.session_id).is_ok(),
            "{}",
            identity.session_id
        );
        assert_eq!(identity.client_address, module_addr.to_string());

        // Blocks go through both ways, re-encrypted on each link.
        for block in [b"hello".to_vec(), Vec::new(), vec![0xA5; 512 * 1024]] {
            module
                .send_bytes(&block)
                .await
                .expect("send through the relay");
            let echoed = module.recv_bytes().await.expect("echo through the relay");
            assert_eq!(crate::station::echoed(&echoed), &block[..]);
        }

        // A half-close from the module reaches the station, whose answer still comes back.
        let (mut blocks, mut ctx) = module.into_raw_parts();
        half_close(blocks.get_ref());
        let last = guard("the station's last block", blocks.read_block())
            .await
            .expect("the station's last block");
        assert_eq!(ctx.open(&last).expect("open"), EOF_REPLY);
        let end = guard("end of stream", blocks.read_block()).await;
        assert!(
            matches!(end, Err(burnstand_wire::IoError::Closed)),
            "{end:?}"
        );
        assert!(matches!(
            lab.stations[0].next_event().await,
            StationEvent::Ended
        ));
    });
}

#[test]
fn serv_to_a_station_that_fails_after_bind_is_errnotavl_and_closes() {
    let spec = LabSpec::default().stations(vec![
        StationSpec::new("dvd-1", "DVD").mode(StationMode::RefuseSessions)
    ]);
    lab_test(spec, |lab| async move {
        let mut container = connect(&lab, "alice").await;
        assert_eq!(bind_first(&mut container).await, Reply::Ok);
        let mut module = connect(&lab, "alice").await;
        assert_eq!(
            command(&mut module, Command::Serv(burner())).await,
            Reply::ErrNotAvl
        );
        assert_closed(&mut module).await;
        // The container and its reservation are not affected: it can still QUIT.
        assert_eq!(command(&mut container, Command::Quit).await, Reply::Ok);
        // The failed station is left out of LIST for a while.
        let mut bob = connect(&lab, "bob").await;
        assert!(list(&mut bob).await.is_empty());
    });
}

/// A station whose control link cannot be opened is offline: LIST leaves it out and BIND
/// never hands it to a user (it used to, and the user's SERV failed).
fn an_offline_station_is_never_bound(mode: StationMode) {
    let spec = LabSpec::default().stations(vec![StationSpec::new("dvd-1", "DVD").mode(mode)]);
    lab_test(spec, |lab| async move {
        let mut alice = connect(&lab, "alice").await;
        let mut listed = list(&mut alice).await;
        guard("the station's first control link attempt", async {
            while !listed.is_empty() {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                listed = list(&mut alice).await;
            }
        })
        .await;
        assert_eq!(bind_first_of(&mut alice, 1).await, Reply::ErrUnaval);
    });
}

#[test]
fn a_refusing_station_is_offline_and_never_bound() {
    an_offline_station_is_never_bound(StationMode::Refuse);
}

#[test]
fn an_unreachable_station_is_offline_and_never_bound() {
    an_offline_station_is_never_bound(StationMode::Unreachable);
}
