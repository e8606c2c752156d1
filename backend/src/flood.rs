//! The audit records peers can cause at will, kept within budgets, and the free-space
//! watermark that stops new sessions before the audit log's disk is full.
//!
//! Three records are a peer's choice: `session.deny` (any realm user with a ticket for the
//! station can connect directly), `session.refuse` (a master whose users the station refuses,
//! or one beyond `max_sessions`) and `burn.deny` (a user sending BURN for anything). Each goes
//! through its own [`RecordBudget`] of `burnstand_audit::budget`, shared with the master: per
//! principal [`DENIALS_PER_PRINCIPAL`](burnstand_audit::budget::DENIALS_PER_PRINCIPAL) and per
//! address [`DENIALS_PER_ADDRESS`](burnstand_audit::budget::DENIALS_PER_ADDRESS). The decision
//! is always carried out (the peer is refused); only its record is left out, and counted as
//! `EVENT.suppressed` with the principal's or address's next recorded one. Records of what a
//! session *does* (`session.start`, `burn.*`, `tray.open`) are never budgeted.
//!
//! Memory: three budgets of at most about 420 KiB each (see the budget module).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use burnstand_audit::budget::{RecordBudget, Verdict, FLUSH_EVERY};
use burnstand_audit::space::FreeSpace;
use burnstand_audit::Event;
use tokio_util::sync::CancellationToken;

use crate::error::Result;
use crate::receipt::Who;
use crate::station::Station;

/// The budgets and the watermark of one station.
#[derive(Debug)]
pub struct Guards {
    session_deny: RecordBudget,
    session_refuse: RecordBudget,
    burn_deny: RecordBudget,
    /// The watermark of the audit log's filesystem (`min_free_bytes`).
    pub space: FreeSpace,
}

/// Which budgeted record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    SessionDeny,
    SessionRefuse,
    BurnDeny,
}

impl Guards {
    /// Budgets for a station whose audit log is `audit_log`, refusing new sessions below
    /// `min_free` bytes free on its filesystem.
    pub fn new(audit_log: &Path, min_free: u64) -> Guards {
        Guards {
            session_deny: RecordBudget::denials(),
            session_refuse: RecordBudget::denials(),
            burn_deny: RecordBudget::denials(),
            space: FreeSpace::new(audit_log, min_free),
        }
    }

    fn budget(&self, kind: Kind) -> &RecordBudget {
        match kind {
            Kind::SessionDeny => &self.session_deny,
            Kind::SessionRefuse => &self.session_refuse,
            Kind::BurnDeny => &self.burn_deny,
        }
    }
}

/// Appends `event` if the budget of `kind` admits one more for `principal` from `address`,
/// preceded by the counts it left out before. `Ok(false)`: over the budget, counted only
/// (the caller carries out the refusal all the same). `Err`: the audit log failed.
pub async fn audit_within(
    station: &Station,
    kind: Kind,
    principal: &str,
    address: IpAddr,
    event: Event,
) -> Result<bool> {
    match station.guards().budget(kind).admit(principal, address) {
        Verdict::Suppress { first } => {
            if first {
                tracing::warn!(
                    event = event.name(),
                    principal,
                    %address,
                    "too many of these records: counting them instead of recording each \
                     (EVENT.suppressed follows with the count)"
                );
            }
            Ok(false)
        }
        Verdict::Record(owed) => {
            for count in &owed {
                station.audit(count.event(event.name())).await?;
            }
            station.audit(event).await?;
            Ok(true)
        }
    }
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::SessionDeny, Kind::SessionRefuse, Kind::BurnDeny];

    /// The event its records carry.
    pub fn event(self) -> &'static str {
        match self {
            Kind::SessionDeny => "session.deny",
            Kind::SessionRefuse => "session.refuse",
            Kind::BurnDeny => "burn.deny",
        }
    }
}

/// Writes, every [`FLUSH_EVERY`], the counts whose owners have not come back (once their
/// budget has a token for the record), and when `stop` fires everything still owed.
pub async fn flush_suppressed(station: Arc<Station>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => write_owed(&station, false).await,
        }
    }
    write_owed(&station, true).await;
}

async fn write_owed(station: &Station, all: bool) {
    for kind in Kind::ALL {
        let budget = station.guards().budget(kind);
        let owed = if all {
            budget.take_all()
        } else {
            budget.take_due()
        };
        for count in owed {
            if let Err(e) = station.audit(count.event(kind.event())).await {
                tracing::warn!(error = %e, "cannot write a count of suppressed records");
                return;
            }
        }
    }
}

/// The user's own address (from the identity block) for their budget; the master's if the
/// block's address does not parse.
pub fn client_ip(who: &Who) -> IpAddr {
    who.client
        .parse::<SocketAddr>()
        .map(|a| a.ip())
        .or_else(|_| who.client.parse::<IpAddr>())
        .unwrap_or_else(|_| who.peer.ip())
}
