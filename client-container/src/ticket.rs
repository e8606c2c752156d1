//! The user's Kerberos ticket: found in the credential cache `kinit` filled (KRB5CCNAME or the
//! system default), checked for expiry before any connection, and `burnstand login`, which runs
//! `kinit` for the user.
//!
//! burnstand never sees a password: `login` hands the terminal to `kinit`.

use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use burnstand_wire::gss::{initiator_credentials, Cred};

use crate::ClientError;

/// The user's credentials, checked to be current.
#[derive(Clone)]
pub struct Ticket {
    cred: Cred,
    principal: String,
    expires: SystemTime,
}

impl Ticket {
    /// The default principal of the credential cache, with a ticket that has not expired.
    pub fn current() -> Result<Ticket, ClientError> {
        let cred = initiator_credentials(None).map_err(|e| no_ticket(&e.to_string()))?;
        let principal = cred
            .name()
            .map(|name| name.to_string())
            .map_err(|e| no_ticket(e.to_string().trim_end()))?;
        let for_whom = format!(" for {principal}");
        // MIT krb5 hands out credentials whose ticket has ended; their lifetime is 0 (or the
        // inquiry fails). Checking here gives the user the real reason instead of a login
        // failure at the master.
        let lifetime = match cred.lifetime() {
            Ok(lifetime) if lifetime > Duration::ZERO => lifetime,
            _ => return Err(ClientError::TicketExpired { for_whom }),
        };
        Ok(Ticket {
            cred,
            principal,
            expires: SystemTime::now() + lifetime,
        })
    }

    /// GSSAPI credentials for one more connection.
    pub fn cred(&self) -> Cred {
        self.cred.clone()
    }

    /// The user's principal, display form (`alice@CAMPUS.EDU`).
    pub fn principal(&self) -> &str {
        &self.principal
    }

    /// When the ticket ends.
    pub fn expires(&self) -> SystemTime {
        self.expires
    }
}

/// A failure to use the ccache: MIT krb5 reports a ticket that has ended as "expired" when
/// acquiring or inquiring the credentials (or hands it out with lifetime 0, see
/// [`Ticket::current`]); anything else means there is no usable ticket.
fn no_ticket(detail: &str) -> ClientError {
    if detail.to_ascii_lowercase().contains("expired") {
        ClientError::TicketExpired {
            for_whom: String::new(),
        }
    } else {
        ClientError::NoTicket(detail.to_owned())
    }
}

/// `burnstand login [PRINCIPAL]`: runs `kinit [PRINCIPAL]` on the user's terminal (it asks for
/// the password itself), then checks the new ticket.
pub fn login(principal: Option<&str>) -> Result<Ticket, ClientError> {
    let mut kinit = Command::new("kinit");
    if let Some(principal) = principal {
        kinit.arg(principal);
    }
    // kinit's prompt and chatter go to stderr: stdout is for burnstand's report (and stays
    // one JSON document with --json). The terminal shows both.
    kinit.stdout(Stdio::from(std::io::stderr()));
    let status = kinit.status().map_err(|e| {
        ClientError::Internal(format!(
            "cannot run kinit: {e}\n  install the Kerberos client tools (Debian: apt-get install krb5-user)"
        ))
    })?;
    if !status.success() {
        return Err(ClientError::KinitFailed(match status.code() {
            Some(code) => format!("kinit exited with status {code}"),
            None => "kinit was stopped by a signal".to_owned(),
        }));
    }
    Ticket::current()
}

/// A point in time as RFC 3339 UTC with seconds, e.g. `2026-11-22T05:08:38Z`.
pub fn utc(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}
