//! The commands a user runs, each printing one [`Report`] through [`Output`].
//!
//! Every command that touches a station reserves it ([`Reservation::open`]), does its work
//! through the burner module, and releases it with QUIT, also when the work failed; the
//! work's error wins over a failed release. (If burnstand dies instead, the master sees the
//! container connection close and releases the station itself.)

use burnstand_wire::burner::{Capabilities, ImageInfo, MediumInfo};
use burnstand_wire::command::StationType;
use serde::Serialize;

use crate::burn::{self, BurnRequest};
use crate::config::Settings;
use crate::master::MasterConnection;
use crate::output::{size, Output, Report};
use crate::reservation::Reservation;
use crate::ticket::{self, utc, Ticket};
use crate::ClientError;

// --- login ------------------------------------------------------------------------------------

/// `burnstand login`.
#[derive(Debug, Serialize)]
pub struct LoginReport {
    pub principal: String,
    /// RFC 3339 UTC.
    pub expires: String,
}

impl Report for LoginReport {
    fn human(&self) -> String {
        format!(
            "logged in as {}; the ticket is valid until {}",
            self.principal, self.expires
        )
    }
}

/// Runs kinit for the user and reports the ticket.
pub fn login(principal: Option<&str>, out: &Output) -> Result<(), ClientError> {
    let ticket = ticket::login(principal)?;
    out.report(&LoginReport {
        principal: ticket.principal().to_owned(),
        expires: utc(ticket.expires()),
    });
    Ok(())
}

// --- list -------------------------------------------------------------------------------------

/// A service of a station type.
#[derive(Debug, Serialize)]
pub struct ServiceEntry {
    pub id: u32,
    pub name: String,
    pub description: String,
}

/// A station type, as LIST returned it.
#[derive(Debug, Serialize)]
pub struct TypeEntry {
    pub id: u32,
    pub name: String,
    pub description: String,
    pub services: Vec<ServiceEntry>,
}

impl From<&StationType> for TypeEntry {
    fn from(t: &StationType) -> Self {
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
        }
    }
}

/// `burnstand list`.
#[derive(Debug, Serialize)]
pub struct ListReport {
    pub principal: String,
    pub master: String,
    pub station_types: Vec<TypeEntry>,
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
        for t in &self.station_types {
            lines.push(format!("{:>4}  {}  ({})", t.id, t.name, t.description));
        }
        lines.push(
            "the master does not say how many are free; `burnstand images` reserves one and shows what it offers"
                .to_owned(),
        );
        lines.join("\n")
    }
}

/// LIST, then close (no reservation, so no QUIT).
pub async fn list(settings: &Settings, out: &Output) -> Result<(), ClientError> {
    let ticket = Ticket::current()?;
    let mut master = MasterConnection::connect(settings, &ticket).await?;
    let types = master.list().await?;
    let report = ListReport {
        principal: ticket.principal().to_owned(),
        master: master.master().to_owned(),
        station_types: types.iter().map(TypeEntry::from).collect(),
    };
    // No QUIT: it would end this user's reservation in another burnstand (a running burn).
    master.close();
    out.report(&report);
    Ok(())
}

// --- the station, as several reports show it ---------------------------------------------------

/// The reserved station.
#[derive(Debug, Serialize)]
pub struct StationEntry {
    pub id: String,
    pub name: String,
    pub drive: String,
    /// The medium state CAP reported (BLANK, WRITTEN, ABSENT, TRAYOPEN, UNKNOWN).
    pub medium: String,
    pub station_type: u32,
}

impl StationEntry {
    fn new(cap: &Capabilities, station_type: &StationType) -> Self {
        StationEntry {
            id: cap.station_id.clone(),
            name: cap.friendly_name.clone(),
            drive: cap.drive.to_string(),
            medium: cap.medium.to_string(),
            station_type: station_type.id,
        }
    }

    fn human(&self) -> String {
        format!(
            "{} (station id {}, {} drive, station type {})",
            self.name, self.id, self.drive, self.station_type
        )
    }
}

/// Releases `res` whatever the work's `result` was; the work's error wins.
async fn release<T>(res: Reservation, result: Result<T, ClientError>) -> Result<T, ClientError> {
    let released = res.release().await;
    let value = result?;
    released?;
    Ok(value)
}

// --- images -----------------------------------------------------------------------------------

/// An image the station offers.
#[derive(Debug, Serialize)]
pub struct ImageEntry {
    pub id: String,
    pub name: String,
    pub size: u64,
    pub sha256: String,
    pub md5: String,
    /// May be burned but never read back.
    pub restricted: bool,
}

impl From<&ImageInfo> for ImageEntry {
    fn from(i: &ImageInfo) -> Self {
        ImageEntry {
            id: i.id.clone(),
            name: i.name.clone(),
            size: i.size,
            sha256: i.sha256.to_hex(),
            md5: i.md5.to_hex(),
            restricted: i.restricted,
        }
    }
}

/// `burnstand images`.
#[derive(Debug, Serialize)]
pub struct ImagesReport {
    pub station: StationEntry,
    pub images: Vec<ImageEntry>,
}

impl Report for ImagesReport {
    fn human(&self) -> String {
        let mut lines = vec![format!("images offered to you by {}", self.station.human())];
        if self.images.is_empty() {
            lines.push("  none: ask the lab staff to give you access to an image".to_owned());
            return lines.join("\n");
        }
        let id_width = self
            .images
            .iter()
            .map(|i| i.id.len())
            .max()
            .unwrap_or(2)
            .max(2);
        let name_width = self
            .images
            .iter()
            .map(|i| i.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        lines.push(format!(
            "  {:<id_width$}  {:<name_width$}  {:>10}  ACCESS",
            "ID", "NAME", "SIZE"
        ));
        for i in &self.images {
            lines.push(format!(
                "  {:<id_width$}  {:<name_width$}  {:>10}  {}",
                i.id,
                i.name,
                indicatif::HumanBytes(i.size).to_string(),
                if i.restricted {
                    "restricted (burn only, never read back)"
                } else {
                    "open"
                }
            ));
        }
        for i in &self.images {
            lines.push(format!("  {} sha256 {}", i.id, i.sha256));
        }
        lines.push("burn one with `burnstand burn ID`".to_owned());
        lines.join("\n")
    }
}

/// Reserve, CAPAB (done by the reservation), print, QUIT.
pub async fn images(
    settings: &Settings,
    station_type: Option<&str>,
    out: &Output,
) -> Result<(), ClientError> {
    let ticket = Ticket::current()?;
    let res = Reservation::open(settings, &ticket, station_type).await?;
    let report = ImagesReport {
        station: StationEntry::new(&res.station, &res.station_type),
        images: res.station.images.iter().map(ImageEntry::from).collect(),
    };
    release(res, Ok(())).await?;
    out.report(&report);
    Ok(())
}

// --- status -----------------------------------------------------------------------------------

/// The disc in the drive (WHATIS).
#[derive(Debug, Serialize)]
pub struct MediumEntry {
    pub state: String,
    pub profile: String,
    pub rewritable: bool,
    pub used_bytes: u64,
    pub free_bytes: u64,
    /// Whether a burn can start on it.
    pub burnable: bool,
}

impl From<&MediumInfo> for MediumEntry {
    fn from(m: &MediumInfo) -> Self {
        MediumEntry {
            state: m.state.to_string(),
            profile: m.profile.clone(),
            rewritable: m.rewritable,
            used_bytes: m.used_bytes,
            free_bytes: m.free_bytes,
            burnable: m.is_burnable(),
        }
    }
}

/// `burnstand status`.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub station: StationEntry,
    pub medium: MediumEntry,
}

impl Report for StatusReport {
    fn human(&self) -> String {
        let m = &self.medium;
        let mut lines = vec![
            format!("station   {}", self.station.human()),
            format!(
                "disc      {}{}{}",
                m.state,
                if m.profile.is_empty() {
                    String::new()
                } else {
                    format!(", {}", m.profile)
                },
                if m.rewritable { ", rewritable" } else { "" }
            ),
        ];
        if m.used_bytes > 0 || m.free_bytes > 0 {
            lines.push(format!("used      {}", size(m.used_bytes)));
            lines.push(format!("free      {}", size(m.free_bytes)));
        }
        lines.push(if m.burnable {
            "ready to burn".to_owned()
        } else {
            "not burnable: put in a blank (or rewritable) disc".to_owned()
        });
        lines.join("\n")
    }
}

/// Reserve, WHATIS, print, QUIT.
pub async fn status(
    settings: &Settings,
    station_type: Option<&str>,
    out: &Output,
) -> Result<(), ClientError> {
    let ticket = Ticket::current()?;
    let mut res = Reservation::open(settings, &ticket, station_type).await?;
    let medium = res.module.medium().await.map(|medium| StatusReport {
        station: StationEntry::new(&res.station, &res.station_type),
        medium: MediumEntry::from(&medium),
    });
    let report = release(res, medium).await?;
    out.report(&report);
    Ok(())
}

// --- eject ------------------------------------------------------------------------------------

/// `burnstand eject`.
#[derive(Debug, Serialize)]
pub struct EjectReport {
    pub station: StationEntry,
    /// Always `"open"` on success.
    pub tray: &'static str,
}

impl Report for EjectReport {
    fn human(&self) -> String {
        format!("the tray of {} is open", self.station.human())
    }
}

/// Reserve, OPEN, QUIT.
pub async fn eject(
    settings: &Settings,
    station_type: Option<&str>,
    out: &Output,
) -> Result<(), ClientError> {
    let ticket = Ticket::current()?;
    let mut res = Reservation::open(settings, &ticket, station_type).await?;
    let opened = res.module.open_tray().await.map(|()| EjectReport {
        station: StationEntry::new(&res.station, &res.station_type),
        tray: "open",
    });
    let report = release(res, opened).await?;
    out.report(&report);
    Ok(())
}

// --- burn -------------------------------------------------------------------------------------

/// Reserve, CAPAB, BURN with progress, VERIFY per copy, receipt, QUIT.
///
/// The receipt is printed whenever the station accepted the burn, also when it then failed
/// or was cancelled; the error (if any) follows on stderr.
pub async fn burn(
    settings: &Settings,
    station_type: Option<&str>,
    request: &BurnRequest,
    out: &Output,
) -> Result<(), ClientError> {
    let ticket = Ticket::current()?;
    let mut res = Reservation::open(settings, &ticket, station_type).await?;
    out.note(&format!(
        "reserved {} for {}",
        StationEntry::new(&res.station, &res.station_type).human(),
        ticket.principal()
    ));
    let (receipt, result) = burn::burn(&mut res, &ticket, &settings.master, request, out).await;
    let released = res.release().await;
    if let Some(receipt) = &receipt {
        out.report(receipt);
        if let Some(path) = &request.save_receipt {
            crate::audit::save_receipt(path, &receipt.station_records)?;
            out.note(&format!(
                "saved {} station receipt record(s) to {}; check them later with `burnstand audit verify STATION-LOG --receipt {}`",
                receipt.station_records.len(),
                path.display(),
                path.display()
            ));
        }
    }
    if result.is_ok() {
        if let Err(e) = &released {
            out.note(&format!("note: releasing the station: {e}"));
        }
    } else if released.is_ok() {
        out.note("the station was released");
    }
    result
}
