//! Two clients racing for the last station: exactly one wins, every time.

use burnstand_wire::command::{Command, Reply};

use crate::client::{assert_closed, command, connect, list};
use crate::common::{lab_test, LabSpec};

/// Rounds of the race; each starts from a free station.
const ROUNDS: usize = 8;

#[test]
fn two_clients_racing_for_the_last_station_exactly_one_wins() {
    lab_test(LabSpec::default(), |lab| async move {
        for round in 0..ROUNDS {
            let mut alice = connect(&lab, "alice").await;
            let mut bob = connect(&lab, "bob").await;
            let station_type = list(&mut alice).await.remove(0);
            let (a, b) = tokio::join!(
                command(&mut alice, Command::Bind(station_type.clone())),
                command(&mut bob, Command::Bind(station_type.clone())),
            );
            let mut replies = [a.clone(), b];
            replies.sort_by_key(|r| r.word());
            assert_eq!(replies, [Reply::ErrUnaval, Reply::Ok], "round {round}");
            let winner = if a == Reply::Ok { &mut alice } else { &mut bob };
            assert_eq!(command(winner, Command::Quit).await, Reply::Ok);
            assert_closed(winner).await;
        }
    });
}
