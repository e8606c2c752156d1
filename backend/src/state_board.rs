//! [`StateBoard`]: what this station is doing, as the masters' control links report it
//! (`STATE`, link version 3, `docs/protocol.md` §5.10.1).
//!
//! The board keeps the facts the station learns as it works — which sessions are open, the
//! running burn's copy, phase and percentage, what the drive last said about its disc, whether
//! the drive can be used — and derives one [`StationState`] from them. The state is published
//! on a `tokio::sync::watch` channel, and only when it changes: a burn reports progress often,
//! but the same state is never published twice. Each watching control link holds a receiver
//! and sends the latest state when it gets to it, so intermediate states may be skipped
//! (coalesced) but the last one is always sent.
//!
//! Who feeds it: sessions ([`StateBoard::open_session`], a guard that closes it on drop), burn
//! jobs ([`StateBoard::start_burn`] and the [`BurnMark`] it returns), and the drive itself —
//! every drive operation goes through [`drive::ReportingDrive`], which reports the medium
//! seen, the tray opened, and drive failures. [`check`] looks at the drive periodically while a
//! master watches, so a drive that breaks while nobody uses it shows up too.

pub mod check;
pub mod drive;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use burnstand_wire::burner::{MediumState, Percent, Phase};
use burnstand_wire::farm::{Activity, Medium, StationState};
use burnstand_wire::limits::MAX_FARM_TEXT_LEN;
use tokio::sync::watch;

use crate::config::DriveTarget;

/// What the station knows; the published state is derived from it.
#[derive(Debug, Default)]
struct Facts {
    /// Open user sessions: connection number → user (display form). At most `max_sessions`
    /// entries, since each one holds a session slot while it is here.
    sessions: BTreeMap<u64, String>,
    /// The running burn job (one at a time: it holds the drive).
    burn: Option<Burn>,
    /// What the drive last said about its disc.
    medium: Medium,
    /// Why the drive cannot be used, from its last usability check.
    unusable: Option<String>,
    /// Why the last drive operation failed as a drive failure (not a disc's).
    failed: Option<String>,
}

/// A running burn job, as the board shows it.
#[derive(Debug, Clone)]
struct Burn {
    user: String,
    image: String,
    copy: u32,
    copies: u32,
    phase: Phase,
    percent: u32,
    /// Waiting for a blank disc before this copy.
    waiting: bool,
}

/// The station's live state; see the module docs.
#[derive(Debug)]
pub struct StateBoard {
    /// A std mutex: held only to update the facts and publish, never across an await.
    facts: Mutex<Facts>,
    state: watch::Sender<StationState>,
    /// The drive's address, removed from every detail text (it names server paths).
    target: Option<DriveTarget>,
}

impl StateBoard {
    /// An idle board for the drive at `target` (`None`: no path to redact).
    pub fn new(target: Option<DriveTarget>) -> StateBoard {
        let (state, _) = watch::channel(StationState::default());
        StateBoard {
            facts: Mutex::new(Facts::default()),
            state,
            target,
        }
    }

    /// A receiver of the state, for one watching control link.
    pub fn subscribe(&self) -> watch::Receiver<StationState> {
        self.state.subscribe()
    }

    /// The state now.
    pub fn current(&self) -> StationState {
        self.state.borrow().clone()
    }

    /// Whether any control link watches the state (only then is the drive checked on its own).
    pub fn watched(&self) -> bool {
        self.state.receiver_count() > 0
    }

    /// Whether a burn job runs (the drive is then checked by the burn itself).
    pub fn burning(&self) -> bool {
        self.lock().burn.is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Facts> {
        self.facts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies `change` to the facts and publishes the derived state if it differs. The
    /// publish happens under the facts' lock, so states are published in the order of the
    /// changes.
    fn update(&self, change: impl FnOnce(&mut Facts)) {
        let mut facts = self.lock();
        change(&mut facts);
        let next = derive(&facts);
        self.state.send_if_modified(|state| {
            if *state == next {
                return false;
            }
            tracing::debug!(
                activity = next.activity.word(),
                medium = next.medium.word(),
                copy = next.copy,
                percent = next.percent,
                "station state changed"
            );
            *state = next;
            true
        });
    }

    /// A user's session is open until the returned guard is dropped.
    pub fn open_session(self: &Arc<Self>, conn: u64, user: &str) -> SessionMark {
        let user = bounded(user);
        self.update(|f| {
            f.sessions.insert(conn, user);
        });
        SessionMark {
            board: Arc::clone(self),
            conn,
        }
    }

    /// A burn job of `copies` copies of the image named `image` for `user` runs until the
    /// returned mark is dropped; it starts at copy 1, 0 %.
    pub fn start_burn(self: &Arc<Self>, user: &str, image: &str, copies: u32) -> BurnMark {
        let burn = Burn {
            user: bounded(user),
            image: bounded(image),
            copy: 1,
            copies,
            phase: Phase::Writing,
            percent: 0,
            waiting: false,
        };
        self.update(|f| f.burn = Some(burn));
        BurnMark {
            board: Arc::clone(self),
        }
    }

    /// The drive reported its disc.
    pub fn medium_seen(&self, state: MediumState) {
        let medium = match state {
            MediumState::Blank => Medium::Blank,
            MediumState::Written => Medium::Written,
            MediumState::Absent => Medium::NoDisc,
            MediumState::TrayOpen => Medium::TrayOpen,
            MediumState::Unknown => Medium::Unknown,
        };
        self.update(|f| {
            f.medium = medium;
            f.failed = None;
        });
    }

    /// The tray was opened.
    pub fn tray_opened(&self) {
        self.update(|f| {
            f.medium = Medium::TrayOpen;
            f.failed = None;
        });
    }

    /// A burn wrote its disc.
    pub fn disc_written(&self) {
        self.update(|f| {
            f.medium = Medium::Written;
            f.failed = None;
        });
    }

    /// The drive's usability check: `Err(why)` when it cannot be used.
    pub fn usable(&self, check: Result<(), String>) {
        let unusable = check.err().map(|why| self.detail(&why));
        self.update(|f| f.unusable = unusable);
    }

    /// A drive operation failed as a drive failure (the drive, not the disc).
    pub fn drive_failed(&self, why: &str) {
        let failed = Some(self.detail(why));
        self.update(|f| f.failed = failed);
    }

    /// A line for people from a drive's error text: without server paths, within the wire's
    /// bound.
    fn detail(&self, why: &str) -> String {
        let redacted = match &self.target {
            Some(target) => crate::drive::redact(why, target, None),
            None => why.to_owned(),
        };
        bounded(&redacted)
    }
}

/// An open session on the board; dropping it closes the session there.
#[derive(Debug)]
pub struct SessionMark {
    board: Arc<StateBoard>,
    conn: u64,
}

impl Drop for SessionMark {
    fn drop(&mut self) {
        let conn = self.conn;
        self.board.update(|f| {
            f.sessions.remove(&conn);
        });
    }
}

/// The running burn job on the board; dropping it ends the job there.
#[derive(Debug)]
pub struct BurnMark {
    board: Arc<StateBoard>,
}

impl BurnMark {
    /// Copy `copy` starts: checking the disc, asking for its grant, then writing from 0 %.
    pub fn copy(&self, copy: u32) {
        self.board.update(|f| {
            if let Some(b) = &mut f.burn {
                (b.copy, b.phase, b.percent, b.waiting) = (copy, Phase::Writing, 0, false);
            }
        });
    }

    /// Progress of the copy being written or verified.
    pub fn progress(&self, phase: Phase, copy: u32, percent: Percent) {
        self.board.update(|f| {
            if let Some(b) = &mut f.burn {
                (b.copy, b.phase, b.percent, b.waiting) =
                    (copy, phase, u32::from(percent.get()), false);
            }
        });
    }

    /// Waiting for a blank disc before copy `copy`.
    pub fn waiting_for_disc(&self, copy: u32) {
        self.board.update(|f| {
            if let Some(b) = &mut f.burn {
                (b.copy, b.phase, b.percent, b.waiting) = (copy, Phase::Writing, 0, true);
            }
        });
    }
}

impl Drop for BurnMark {
    fn drop(&mut self) {
        self.board.update(|f| f.burn = None);
    }
}

/// `text` cut to [`MAX_FARM_TEXT_LEN`] characters, the most a STATE text field may hold (the
/// master refuses a longer one).
fn bounded(text: &str) -> String {
    text.chars().take(MAX_FARM_TEXT_LEN).collect()
}

/// The state the facts amount to. A drive error outranks everything (the master quarantines
/// the station on it); then a burn; then an open session.
fn derive(f: &Facts) -> StationState {
    let mut state = StationState {
        activity: Activity::Idle,
        medium: f.medium,
        ..StationState::default()
    };
    if let Some(b) = &f.burn {
        state.activity = match b.phase {
            Phase::Writing => Activity::Burning,
            Phase::Verifying => Activity::Verifying,
        };
        state.user.clone_from(&b.user);
        state.image.clone_from(&b.image);
        (state.copy, state.copies, state.percent) = (b.copy, b.copies, b.percent.min(100));
        if b.waiting {
            state.detail = format!("waiting for a blank disc for copy {}", b.copy);
        }
    } else if let Some((_, user)) = f.sessions.last_key_value() {
        state.activity = Activity::Reserved;
        state.user.clone_from(user);
    }
    if let Some(why) = f.unusable.as_ref().or(f.failed.as_ref()) {
        state.activity = Activity::DriveError;
        state.detail.clone_from(why);
    }
    state
}

#[cfg(test)]
mod tests;
