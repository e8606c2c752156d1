//! `burnstand list`, and the listing every reservation starts with: LISTX (station types with
//! how many stations are free, busy, quarantined and how many people wait), or plain LIST
//! from a master that predates the burner farm (protocol.md §5.10).
//!
//! The decision is [`ListxAnswer::decode`]: the answer to LISTX is read as a LISTX reply
//! first, else as a one-word reply; ERRINVCMD means an old master, and burnstand asks again
//! with LIST on the same connection.

use burnstand_wire::command::{Command, Reply, StationType};
use burnstand_wire::datastream::from_bytes;
use burnstand_wire::farm::{ListX, ListedType, LISTX_VERSION};
use serde::Serialize;

use crate::config::Settings;
use crate::master::MasterConnection;
use crate::output::{Output, Report};
use crate::table::table;
use crate::ticket::Ticket;
use crate::ClientError;

/// How many stations of a type there are, as LISTX counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub total: u32,
    pub free: u32,
    pub busy: u32,
    /// Quarantined or offline: out of service for now.
    pub quarantined: u32,
    /// People waiting in the queue for this type.
    pub waiting: u32,
}

impl From<&ListedType> for Counts {
    fn from(t: &ListedType) -> Self {
        Counts {
            total: t.total,
            free: t.free,
            busy: t.busy,
            quarantined: t.quarantined,
            waiting: t.queued,
        }
    }
}

/// The station types, with their counts when the master gave them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub types: Vec<StationType>,
    /// One entry a type, in the order of `types`; `None` from an old master (plain LIST).
    pub counts: Option<Vec<Counts>>,
    /// Why stations are out of use, one list a type in the order of `types` (LISTX 2);
    /// empty from older masters.
    pub notes: Vec<Vec<String>>,
}

impl Listing {
    /// The counts of type `id`, when known.
    pub fn counts_of(&self, id: u32) -> Option<Counts> {
        let i = self.types.iter().position(|t| t.id == id)?;
        self.counts.as_ref()?.get(i).copied()
    }

    /// Why stations of type `id` are out of use (LISTX 2).
    pub fn notes_of(&self, id: u32) -> &[String] {
        self.types
            .iter()
            .position(|t| t.id == id)
            .and_then(|i| self.notes.get(i))
            .map_or(&[], Vec::as_slice)
    }

    /// Whether the master speaks the burner-farm extensions (it answered LISTX).
    pub fn is_farm(&self) -> bool {
        self.counts.is_some()
    }
}

impl From<ListX> for Listing {
    fn from(listx: ListX) -> Self {
        let counts = listx.types.iter().map(Counts::from).collect();
        let notes = listx.types.iter().map(|t| t.notes.clone()).collect();
        Listing {
            types: listx.types.into_iter().map(|t| t.record).collect(),
            counts: Some(counts),
            notes,
        }
    }
}

/// What the master answered LISTX.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListxAnswer {
    /// The types with their counts.
    Counted(ListX),
    /// ERRINVCMD: a master older than the burner farm; ask with LIST.
    OldMaster,
}

impl ListxAnswer {
    /// Reads the answer to LISTX: a LISTX reply, else a one-word reply (ERRINVCMD is an old
    /// master; any other word, or anything else, makes no sense here).
    pub fn decode(bytes: &[u8]) -> Result<ListxAnswer, ClientError> {
        let listx_error = match from_bytes::<ListX>(bytes) {
            Ok(listx) => return Ok(ListxAnswer::Counted(listx)),
            Err(e) => e,
        };
        match from_bytes::<Reply>(bytes) {
            Ok(Reply::ErrInvCmd) => Ok(ListxAnswer::OldMaster),
            Ok(other) => Err(ClientError::Unexpected {
                peer: "the master",
                what: format!("{} in answer to LISTX", other.word()),
            }),
            Err(_) => Err(ClientError::Unexpected {
                peer: "the master",
                what: format!("an answer to LISTX that is not a station list ({listx_error})"),
            }),
        }
    }
}

/// LISTX, or LIST from an old master; the connection stays in command mode.
pub async fn list_types(master: &mut MasterConnection) -> Result<Listing, ClientError> {
    let bytes = list_x(master).await?;
    match ListxAnswer::decode(&bytes)? {
        ListxAnswer::Counted(listx) => Ok(Listing::from(listx)),
        ListxAnswer::OldMaster => Ok(Listing {
            notes: Vec::new(),
            types: master.list().await?,
            counts: None,
        }),
    }
}

/// Sends LISTX and returns the raw answer (also the held reservation's keep-alive).
pub async fn list_x(master: &mut MasterConnection) -> Result<Vec<u8>, ClientError> {
    master.send(&Command::ListX(LISTX_VERSION)).await?;
    master.reply_bytes("LISTX").await
}

// --- the report -------------------------------------------------------------------------------

/// A service of a station type.
#[derive(Debug, Serialize)]
pub struct ServiceEntry {
    pub id: u32,
    pub name: String,
    pub description: String,
}

/// A station type, as LIST(X) returned it.
#[derive(Debug, Serialize)]
pub struct TypeEntry {
    pub id: u32,
    pub name: String,
    pub description: String,
    pub services: Vec<ServiceEntry>,
    /// `null` from an old master.
    pub counts: Option<Counts>,
    /// Why stations of the type are out of use ("dvd-1: quarantined: no heartbeat for
    /// 16s"); empty when all are up, or from an older master.
    pub out_of_use: Vec<String>,
}

impl TypeEntry {
    fn new(t: &StationType, counts: Option<Counts>, out_of_use: &[String]) -> Self {
        TypeEntry {
            id: t.id,
            name: t.name.clone(),
            description: t.description.clone(),
            services: t
                .services
                .iter()
                .map(|s| ServiceEntry {
                    id: s.id,
                    name: s.name.clone(),
                    description: s.description.clone(),
                })
                .collect(),
            counts,
            out_of_use: out_of_use.to_vec(),
        }
    }
}

/// `burnstand list`.
#[derive(Debug, Serialize)]
pub struct ListReport {
    pub principal: String,
    pub master: String,
    /// Whether the master said how many stations are free (LISTX); an old master does not.
    pub counts_available: bool,
    pub station_types: Vec<TypeEntry>,
}

impl ListReport {
    /// The report of `listing` for `principal` at `master`.
    pub fn new(principal: &str, master: &str, listing: &Listing) -> Self {
        ListReport {
            principal: principal.to_owned(),
            master: master.to_owned(),
            counts_available: listing.is_farm(),
            station_types: listing
                .types
                .iter()
                .map(|t| TypeEntry::new(t, listing.counts_of(t.id), listing.notes_of(t.id)))
                .collect(),
        }
    }
}

impl Report for ListReport {
    fn human(&self) -> String {
        let mut lines = vec![format!(
            "logged in to {} as {}",
            self.master, self.principal
        )];
        if self.station_types.is_empty() {
            lines.push(
                "no burner stations are up for you (none is running, or you are on no access list)"
                    .to_owned(),
            );
            return lines.join("\n");
        }
        lines.push("station types you may reserve:".to_owned());
        if self.counts_available {
            let rows = self
                .station_types
                .iter()
                .map(|t| {
                    let c = t.counts.unwrap_or(Counts {
                        total: 0,
                        free: 0,
                        busy: 0,
                        quarantined: 0,
                        waiting: 0,
                    });
                    vec![
                        t.id.to_string(),
                        t.name.clone(),
                        c.total.to_string(),
                        c.free.to_string(),
                        c.busy.to_string(),
                        c.quarantined.to_string(),
                        c.waiting.to_string(),
                        t.description.clone(),
                    ]
                })
                .collect();
            lines.push(table(
                &[
                    "ID",
                    "TYPE",
                    "TOTAL",
                    "FREE",
                    "BUSY",
                    "QUARANTINED",
                    "WAITING",
                    "DESCRIPTION",
                ],
                &[0, 2, 3, 4, 5, 6],
                rows,
            ));
            for t in &self.station_types {
                for note in &t.out_of_use {
                    lines.push(format!("  out of use (type {}): {note}", t.id));
                }
            }
            lines.push(
                "when none is free, `burnstand burn --wait` waits in the queue; `burnstand reserve` holds a station for you"
                    .to_owned(),
            );
        } else {
            for t in &self.station_types {
                lines.push(format!("{:>4}  {}  ({})", t.id, t.name, t.description));
            }
            lines.push(
                "counts are not available: this master is older and does not say how many stations are free (it does not know LISTX); `burnstand images` reserves one and shows what it offers"
                    .to_owned(),
            );
        }
        lines.join("\n")
    }
}

/// LISTX (or LIST), then close (no reservation, so no QUIT).
pub async fn list(settings: &Settings, out: &Output) -> Result<(), ClientError> {
    let ticket = Ticket::current()?;
    let mut master = MasterConnection::connect(settings, &ticket).await?;
    let listing = list_types(&mut master).await?;
    let report = ListReport::new(ticket.principal(), master.master(), &listing);
    // No QUIT: it would end this user's reservation in another burnstand (a running burn).
    master.close();
    out.report(&report);
    Ok(())
}

#[cfg(test)]
mod tests;
