//! What a station is doing, as it reports it over the control link (`STATE`, §5.10.1) and as
//! the master repeats it in station reports.
//!
//! The burner-farm design's station sends "Status 0% … 100%, MD5 pass/fail, Tray Open,
//! AVAIL/EMPTY (repeat occasionally)". Here that is one record, sent whenever any field
//! changes and repeated as the heartbeat: the master never has to ask.

use crate::datastream::{Decode, Encode, Reader, Writer};
use crate::limits::MAX_FARM_TEXT_LEN;
use crate::link::bounded;
use crate::{Error, Result};

/// What the station's drive is busy with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Activity {
    /// No user session open.
    #[default]
    Idle,
    /// A user's session is open; nothing is burning.
    Reserved,
    /// Writing copy `copy` of `copies`.
    Burning,
    /// Reading a copy back to compare its MD5.
    Verifying,
    /// The drive cannot be used (the detail says why); the master quarantines the station.
    DriveError,
}

impl Activity {
    const ALL: [Activity; 5] = [
        Activity::Idle,
        Activity::Reserved,
        Activity::Burning,
        Activity::Verifying,
        Activity::DriveError,
    ];

    /// The code on the wire.
    pub fn code(self) -> u32 {
        match self {
            Activity::Idle => 0,
            Activity::Reserved => 1,
            Activity::Burning => 2,
            Activity::Verifying => 3,
            Activity::DriveError => 4,
        }
    }

    /// The word people read (reports, logs).
    pub fn word(self) -> &'static str {
        match self {
            Activity::Idle => "idle",
            Activity::Reserved => "reserved",
            Activity::Burning => "burning",
            Activity::Verifying => "verifying",
            Activity::DriveError => "drive error",
        }
    }
}

/// What is in the drive (the burner-farm design's AVAIL / EMPTY / Tray Open).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Medium {
    /// Not known (not checked yet, or the drive is busy).
    #[default]
    Unknown,
    /// A blank disc: AVAIL.
    Blank,
    /// No disc: EMPTY.
    NoDisc,
    /// The tray is open.
    TrayOpen,
    /// A written (not blank) disc is in the drive.
    Written,
}

impl Medium {
    const ALL: [Medium; 5] = [
        Medium::Unknown,
        Medium::Blank,
        Medium::NoDisc,
        Medium::TrayOpen,
        Medium::Written,
    ];

    /// The code on the wire.
    pub fn code(self) -> u32 {
        match self {
            Medium::Unknown => 0,
            Medium::Blank => 1,
            Medium::NoDisc => 2,
            Medium::TrayOpen => 3,
            Medium::Written => 4,
        }
    }

    /// The word people read.
    pub fn word(self) -> &'static str {
        match self {
            Medium::Unknown => "unknown",
            Medium::Blank => "blank disc",
            Medium::NoDisc => "no disc",
            Medium::TrayOpen => "tray open",
            Medium::Written => "written disc",
        }
    }
}

fn by_code<T: Copy>(all: &[T], code: u32, of: impl Fn(T) -> u32, what: &'static str) -> Result<T> {
    all.iter()
        .copied()
        .find(|&v| of(v) == code)
        .ok_or(Error::InvalidValue {
            what,
            value: u64::from(code),
        })
}

impl Encode for Activity {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.code());
    }
}

impl Decode for Activity {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        by_code(&Activity::ALL, r.read()?, Activity::code, "activity")
    }
}

impl Encode for Medium {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.code());
    }
}

impl Decode for Medium {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        by_code(&Medium::ALL, r.read()?, Medium::code, "medium")
    }
}

/// A station's state: `TQ_UINT32 activity, TQ_UINT32 medium, TQString user, TQString image,
/// TQ_UINT32 copy, TQ_UINT32 copies, TQ_UINT32 percent, TQString detail`.
///
/// `user` is the session's principal (display form) or empty; `image` the image being burned
/// or empty; `copy` of `copies` and `percent` (0–100) describe the running burn, zeros
/// otherwise; `detail` is a line for people (a drive error's message).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StationState {
    pub activity: Activity,
    pub medium: Medium,
    pub user: String,
    pub image: String,
    pub copy: u32,
    pub copies: u32,
    pub percent: u32,
    pub detail: String,
}

impl Encode for StationState {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.activity)
            .write(&self.medium)
            .write(&self.user)
            .write(&self.image)
            .write(&self.copy)
            .write(&self.copies)
            .write(&self.percent)
            .write(&self.detail);
    }
}

impl Decode for StationState {
    const MIN_LEN: usize = 8 * 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let activity = r.read()?;
        let medium = r.read()?;
        let user = bounded("user", r.read()?, MAX_FARM_TEXT_LEN)?;
        let image = bounded("image", r.read()?, MAX_FARM_TEXT_LEN)?;
        let copy: u32 = r.read()?;
        let copies: u32 = r.read()?;
        let percent: u32 = r.read()?;
        if copy > copies {
            return Err(Error::InvalidValue {
                what: "copy number",
                value: u64::from(copy),
            });
        }
        if percent > 100 {
            return Err(Error::InvalidValue {
                what: "percentage",
                value: u64::from(percent),
            });
        }
        let detail = bounded("detail", r.read()?, MAX_FARM_TEXT_LEN)?;
        Ok(StationState {
            activity,
            medium,
            user,
            image,
            copy,
            copies,
            percent,
            detail,
        })
    }
}

impl StationState {
    /// One line for people: "burning exam-2025, copy 2 of 5, 40% (blank disc)".
    pub fn describe(&self) -> String {
        let mut line = self.activity.word().to_owned();
        if !self.image.is_empty() {
            line.push(' ');
            line.push_str(&self.image);
        }
        if self.copies > 0 {
            line.push_str(&format!(", copy {} of {}", self.copy, self.copies));
        }
        if matches!(self.activity, Activity::Burning | Activity::Verifying) {
            line.push_str(&format!(", {}%", self.percent));
        }
        if self.medium != Medium::Unknown {
            line.push_str(&format!(" ({})", self.medium.word()));
        }
        if !self.detail.is_empty() {
            line.push_str(": ");
            line.push_str(&self.detail);
        }
        line
    }
}
