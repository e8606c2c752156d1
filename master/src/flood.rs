//! The audit records users can cause at will, kept within budgets, and the free-space
//! watermark that stops new connections before the audit log's disk is full.
//!
//! Every record is fsynced before what it records is acknowledged, and a log that cannot be
//! written stops the master for everyone (fail closed). So records an authenticated user can
//! repeat at will go through the budgets of `burnstand_audit::budget` (shared with the
//! stations), **per principal and per peer address**:
//!
//! * `command.invalid`, `bind.deny`, `serv.deny`, `connection.deny`: refusals, each kind its
//!   own [`RecordBudget`] of [`DENIALS_PER_PRINCIPAL`] and [`DENIALS_PER_ADDRESS`]. The refusal
//!   is always carried out; over the budget only its record is left out, and counted
//!   (`EVENT.suppressed`, written before that principal's or address's next record of the
//!   kind).
//! * `auth.ok`: a login is acknowledged by the greeting, so its record must be on disk first
//!   and cannot be left out. Instead **logins** have a budget: `login_budget_per_principal`
//!   and `login_budget_per_address` (`[limits]`), each "that many at once, that many more a
//!   minute". A login over it gets no greeting: the connection is closed and the refusal is
//!   audited as `connection.deny` (reason `too many logins`), itself within the denial budget.
//!   So a reconnect loop costs at most the login budget's `auth.ok` records plus a bounded
//!   number of refusals, instead of one `auth.ok` and 16 `command.invalid` per connection.
//!
//! `auth.fail` keeps its single global bucket ([`crate::audit::FailureBudget`]): the peer is
//! not authenticated, and a per-address bucket would be as many buckets as an attacker has
//! addresses.
//!
//! Memory: five budgets of at most about 420 KiB each (see the budget module).

use std::net::IpAddr;
use std::sync::Arc;

use burnstand_audit::budget::{Rate, RecordBudget, Verdict, FLUSH_EVERY};
use burnstand_audit::space::FreeSpace;
use burnstand_audit::Event;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::config::Config;
use crate::server::Shared;

/// Reason of the `connection.deny` of a login over its budget.
pub const TOO_MANY_LOGINS: &str =
    "too many logins of this principal or from this address; try again in a minute";

/// The budgets and the watermark of the master.
#[derive(Debug)]
pub struct Guards {
    logins: RecordBudget,
    connection_deny: RecordBudget,
    command_invalid: RecordBudget,
    bind_deny: RecordBudget,
    serv_deny: RecordBudget,
    /// The watermark of the audit log's filesystem (`limits.min_free_bytes`).
    pub space: FreeSpace,
}

/// Which budgeted refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    ConnectionDeny,
    CommandInvalid,
    BindDeny,
    ServDeny,
}

impl Guards {
    /// The budgets `config` asks for.
    pub fn new(config: &Config) -> Guards {
        let limits = &config.limits;
        let per_minute = |n: u32| Rate::new(n, n);
        Guards {
            logins: RecordBudget::admission(
                per_minute(limits.login_budget_per_principal),
                per_minute(limits.login_budget_per_address),
            ),
            connection_deny: RecordBudget::denials(),
            command_invalid: RecordBudget::denials(),
            bind_deny: RecordBudget::denials(),
            serv_deny: RecordBudget::denials(),
            space: FreeSpace::new(&config.audit_log, limits.min_free_bytes),
        }
    }

    /// Whether `principal` may log in from `address` now (then its `auth.ok` is written).
    pub fn login(&self, principal: &str, address: IpAddr) -> bool {
        // Refused logins are not counted here: each has its own connection.deny (or that
        // budget's count).
        matches!(self.logins.admit(principal, address), Verdict::Record(_))
    }

    fn budget(&self, kind: Kind) -> &RecordBudget {
        match kind {
            Kind::ConnectionDeny => &self.connection_deny,
            Kind::CommandInvalid => &self.command_invalid,
            Kind::BindDeny => &self.bind_deny,
            Kind::ServDeny => &self.serv_deny,
        }
    }
}

impl Kind {
    const ALL: [Kind; 4] = [
        Kind::ConnectionDeny,
        Kind::CommandInvalid,
        Kind::BindDeny,
        Kind::ServDeny,
    ];

    /// The event its records carry.
    pub fn event(self) -> &'static str {
        match self {
            Kind::ConnectionDeny => "connection.deny",
            Kind::CommandInvalid => "command.invalid",
            Kind::BindDeny => "bind.deny",
            Kind::ServDeny => "serv.deny",
        }
    }
}

/// Writes, every [`FLUSH_EVERY`], the counts whose owners have not come back (once their
/// budget has a token for the record), and when `stop` fires everything still owed.
pub(crate) async fn flush_suppressed(shared: Arc<Shared>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => write_owed(&shared, false).await,
        }
    }
    write_owed(&shared, true).await;
}

async fn write_owed(shared: &Shared, all: bool) {
    for kind in Kind::ALL {
        let budget = shared.guards.budget(kind);
        let owed = if all {
            budget.take_all()
        } else {
            budget.take_due()
        };
        for count in owed {
            if let Err(e) = shared.audit.append(count.event(kind.event())).await {
                warn!(error = %e, "cannot write a count of suppressed records");
                return;
            }
        }
    }
}

/// Appends the refusal `event` if the budget of `kind` admits one more for `principal` from
/// `address`, after the counts it left out before. Returns false only when the audit log
/// failed (the caller closes the connection, like any failed record); over the budget the
/// refusal is counted and the caller answers it all the same.
pub(crate) async fn record_within(
    shared: &Shared,
    kind: Kind,
    principal: &str,
    address: IpAddr,
    event: Event,
) -> bool {
    match shared.guards.budget(kind).admit(principal, address) {
        Verdict::Suppress { first } => {
            if first {
                warn!(
                    event = event.name(),
                    principal,
                    %address,
                    "too many of these records: counting them instead of recording each \
                     (EVENT.suppressed follows with the count)"
                );
            }
            true
        }
        Verdict::Record(owed) => {
            for count in &owed {
                if let Err(e) = shared.audit.append(count.event(event.name())).await {
                    warn!(error = %e, "audit log refused a record: closing the connection unacknowledged");
                    return false;
                }
            }
            match shared.audit.append(event).await {
                Ok(_) => true,
                Err(e) => {
                    warn!(error = %e, "audit log refused a record: closing the connection unacknowledged");
                    false
                }
            }
        }
    }
}
