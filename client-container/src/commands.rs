//! The commands a user runs, each printing one [`Report`] through [`Output`].
//!
//! Every command that touches a station reserves it ([`Reservation::open`]), does its work
//! through the burner module, and releases it with QUIT, also when the work failed; the
//! work's error wins over a failed release. (If burnstand dies instead, the master sees the
//! container connection close and releases the station itself.) A station held by
//! `burnstand reserve` is used and stays held. `list` is in [`crate::listing`], `reserve`
//! and `release` in [`crate::holder`], `admin` in [`crate::admin`].

use burnstand_wire::burner::{Capabilities, ImageInfo, MediumInfo};
use serde::Serialize;

use crate::burn::{self, BurnRequest};
use crate::config::Settings;
use crate::output::{size, Output, Report};
use crate::reservation::Reservation;
use crate::reserve::Want;
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
    /// The station's configured name at the master, as RESERVE named it (`null` after BIND).
    pub reserved_as: Option<String>,
    /// Where it is, as RESERVE said (`null` after BIND).
    pub location: Option<String>,
    /// Held by `burnstand reserve` (and still held afterwards).
    pub held: bool,
}

impl StationEntry {
    fn new(res: &Reservation) -> Self {
        let cap: &Capabilities = &res.station;
        StationEntry {
            id: cap.station_id.clone(),
            name: cap.friendly_name.clone(),
            drive: cap.drive.to_string(),
            medium: cap.medium.to_string(),
            station_type: res.station_type.id,
            reserved_as: res.reserved.as_ref().map(|r| r.name.clone()),
            location: res
                .reserved
                .as_ref()
                .map(|r| r.location.clone())
                .filter(|l| !l.is_empty()),
            held: res.held,
        }
    }

    fn human(&self) -> String {
        let mut text = self.name.clone();
        if let Some(name) = &self.reserved_as {
            text.push_str(&format!(" [{name}]"));
        }
        if let Some(location) = &self.location {
            text.push_str(&format!(" in {location}"));
        }
        format!(
            "{text} (station id {}, {} drive, station type {})",
            self.id, self.drive, self.station_type
        )
    }
}

/// Releases `res` (unless `burnstand reserve` holds it) whatever the work's `result` was; the
/// work's error wins.
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
pub async fn images(settings: &Settings, want: &Want, out: &Output) -> Result<(), ClientError> {
    let ticket = Ticket::current()?;
    let res = Reservation::open(settings, &ticket, want, out).await?;
    let report = ImagesReport {
        station: StationEntry::new(&res),
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
pub async fn status(settings: &Settings, want: &Want, out: &Output) -> Result<(), ClientError> {
    let ticket = Ticket::current()?;
    let mut res = Reservation::open(settings, &ticket, want, out).await?;
    let medium = res.module.medium().await.map(|medium| StatusReport {
        station: StationEntry::new(&res),
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
pub async fn eject(settings: &Settings, want: &Want, out: &Output) -> Result<(), ClientError> {
    let ticket = Ticket::current()?;
    let mut res = Reservation::open(settings, &ticket, want, out).await?;
    let opened = res.module.open_tray().await.map(|()| EjectReport {
        station: StationEntry::new(&res),
        tray: "open",
    });
    let report = release(res, opened).await?;
    out.report(&report);
    Ok(())
}

// --- burn -------------------------------------------------------------------------------------

/// Reserve, CAPAB, BURN with progress, VERIFY per copy, receipt, QUIT. Several copies on a
/// burner-farm master are a job over several drives ([`crate::job`]).
///
/// The receipt is printed whenever the station accepted the burn, also when it then failed
/// or was cancelled; the error (if any) follows on stderr.
pub async fn burn(
    settings: &Settings,
    want: &Want,
    request: &BurnRequest,
    out: &Output,
) -> Result<(), ClientError> {
    let ticket = Ticket::current()?;
    let want = Want {
        drives: request.drives,
        ..want.clone()
    };
    let mut res = Reservation::open(settings, &ticket, &want, out).await?;
    if crate::job::applies(&res, &want) {
        return crate::job::burn_job(res, settings, &ticket, &want, request, out).await;
    }
    out.note(&format!(
        "{} {} for {}",
        if res.held { "using" } else { "reserved" },
        StationEntry::new(&res).human(),
        ticket.principal()
    ));
    let held = res.held;
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
    } else if held {
        out.note("the station stays reserved for you: `burnstand release` ends it");
    } else if released.is_ok() {
        out.note("the station was released");
    }
    result
}
