//! [`PeerBudget`]: connections one peer address may have in the Kerberos handshake at once.
//!
//! Both daemons accept unauthenticated TCP connections and give each a slot of a global
//! handshake budget (`max_unauthenticated`) until it authenticates or its deadline passes.
//! Without a per-address share, one host opening silent connections takes every slot, and by
//! re-opening them as they time out it keeps everyone else out indefinitely. With this budget
//! in front of the global one, a flooding address holds at most its share, and the others (a
//! station's master, a master's users) still find free slots.
//!
//! Sans-I/O like the rest of this crate: a map behind a std mutex (held for one lookup, never
//! across an await); the daemons call [`PeerBudget::try_take`] in their accept loops.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Most peer addresses tracked at once: the memory bound of a [`PeerBudget`] (about 50 bytes
/// per address, so at most about 200 KiB). In practice the daemons' global handshake budgets
/// (`max_unauthenticated`, at most a few thousand) keep it far smaller: an address is tracked
/// only while it holds a slot. A new address finding the map full is refused like an address
/// over its share.
pub const MAX_TRACKED_PEERS: usize = 4096;

/// Handshakes in progress per peer address, each address limited to `per_peer`.
#[derive(Debug)]
pub struct PeerBudget {
    per_peer: usize,
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// One handshake slot of one peer address; given back on drop.
#[derive(Debug)]
pub struct PeerSlot {
    budget: Arc<PeerBudget>,
    ip: IpAddr,
}

impl PeerBudget {
    /// A budget allowing each address `per_peer` handshakes at once (at least 1).
    pub fn new(per_peer: usize) -> Arc<PeerBudget> {
        Arc::new(PeerBudget {
            per_peer: per_peer.max(1),
            counts: Mutex::new(HashMap::new()),
        })
    }

    /// The share of one address.
    pub fn per_peer(&self) -> usize {
        self.per_peer
    }

    /// A slot for `ip`, if it holds fewer than its share (and it can be tracked).
    pub fn try_take(self: &Arc<Self>, ip: IpAddr) -> Option<PeerSlot> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.len() >= MAX_TRACKED_PEERS && !counts.contains_key(&ip) {
            return None;
        }
        let count = counts.entry(ip).or_insert(0);
        if *count >= self.per_peer {
            return None;
        }
        *count += 1;
        Some(PeerSlot {
            budget: Arc::clone(self),
            ip,
        })
    }

    /// Addresses holding at least one slot (tests, logs).
    pub fn tracked(&self) -> usize {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut counts = self.budget.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn each_address_gets_its_share_and_no_more() {
        let budget = PeerBudget::new(2);
        let a1 = budget.try_take(ip(1));
        let a2 = budget.try_take(ip(1));
        assert!(a1.is_some() && a2.is_some());
        assert!(
            budget.try_take(ip(1)).is_none(),
            "a third slot for one address"
        );
        // Another address is unaffected.
        let b = budget.try_take(ip(2));
        assert!(b.is_some());
        // A slot given back can be taken again; an address with none is forgotten.
        drop(a1);
        assert!(budget.try_take(ip(1)).is_some());
        drop((a2, b));
        assert_eq!(budget.tracked(), 0);
    }

    #[test]
    fn the_map_is_bounded() {
        let budget = PeerBudget::new(1);
        let held: Vec<PeerSlot> = (0..MAX_TRACKED_PEERS as u32)
            .filter_map(|n| budget.try_take(IpAddr::from(n.to_be_bytes())))
            .collect();
        assert_eq!(held.len(), MAX_TRACKED_PEERS);
        assert!(
            budget.try_take(ip(250)).is_none(),
            "beyond the tracked bound"
        );
        drop(held);
        assert!(budget.try_take(ip(250)).is_some());
    }
}
