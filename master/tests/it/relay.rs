//! The pass-through relay under load: many blocks of varying sizes both ways at once, with
//! several in flight, arrive intact and in order, and a half-close comes after the last one.

use burnstand_wire::command::{Command, Reply};
use burnstand_wire::limits::MAX_MESSAGE_LEN;
use burnstand_wire::IoError;

use crate::client::{bind_first, burner, command, connect};
use crate::common::{guard, lab_test, LabSpec};
use crate::station::{echoed, StationEvent, ECHO_PREFIX, EOF_REPLY};

/// Block sizes: empty, tiny, around base64 and cipher boundaries, the 64 KiB blocks a burn
/// streams, and the largest the echo can send back (it adds its prefix).
fn sizes() -> Vec<usize> {
    let largest = MAX_MESSAGE_LEN - ECHO_PREFIX.len();
    let mut sizes = vec![0, 1, 2, 3, 15, 16, 17, 31, 32, 33, 1000, 65_536, largest];
    sizes.extend((0..150).map(|i| (i * 7919) % 70_000 + i % 3));
    sizes.extend([largest, 0, 65_535, largest - 1]);
    sizes
}

/// Block `i` of `size` bytes: its index and a position pattern, so a block that arrives out
/// of order, twice, cut short or mixed with another is told apart.
fn payload(i: usize, size: usize) -> Vec<u8> {
    (0..size)
        .map(|at| (at as u32).wrapping_mul(31).wrapping_add(i as u32 * 101) as u8)
        .collect()
}

#[test]
fn many_blocks_of_varying_sizes_cross_both_ways_intact_and_in_order() {
    lab_test(LabSpec::default(), |mut lab| async move {
        let mut container = connect(&lab, "alice").await;
        assert_eq!(bind_first(&mut container).await, Reply::Ok);
        let mut module = connect(&lab, "alice").await;
        assert_eq!(
            command(&mut module, Command::Serv(burner())).await,
            Reply::Ok
        );
        assert!(matches!(
            lab.stations[0].next_event().await,
            StationEvent::Identity(_)
        ));
        // The module writes every block without waiting for echoes, so the relay holds
        // several in flight per direction while the echoes come back.
        let (mut rx, mut tx) = module.into_split();
        let sending = tokio::spawn(async move {
            for (i, size) in sizes().into_iter().enumerate() {
                tx.send_bytes(&payload(i, size)).await?;
            }
            tx.shutdown().await?;
            Ok::<_, IoError>(tx)
        });
        guard("every echo, in order", async {
            for (i, size) in sizes().into_iter().enumerate() {
                let answer = rx.recv_bytes().await.expect("an echo");
                assert_eq!(echoed(&answer).len(), size, "block {i}: length");
                assert!(echoed(&answer) == payload(i, size), "block {i}: content");
            }
            // The half-close reached the station after the last block; its answer is last.
            assert_eq!(rx.recv_bytes().await.expect("the EOF reply"), EOF_REPLY);
        })
        .await;
        let _tx = sending.await.expect("sender task").expect("sent");
        assert_eq!(command(&mut container, Command::Quit).await, Reply::Ok);
    });
}
