//! What a viewer of the status page may see of the farm: one [`Snapshot`], filtered by who is
//! looking.
//!
//! - **wall** (no login, `public_wall = true`): stations by name and location, their state
//!   and progress, quarantine reasons, the queue's length per type; no user name, no image,
//!   no station detail (which can name files or people).
//! - **user**: the wall, plus what is theirs: the station they hold (image, detail) and their
//!   own places in the queue with ETA.
//! - **admin**: everything: who holds each station, the whole queue, who is logged in.
//!
//! The filter is a pure function of the registry's reports ([`filter`]), unit-tested below;
//! [`snapshot`] only gathers its inputs.

use std::collections::HashMap;

use burnstand_wire::farm::{QueueEntry, StationReport, WhoEntry};
use serde::Serialize;

use crate::server::Shared;

/// Who is looking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// Nobody logged in (the wall screen).
    Wall,
    /// A logged-in user, `name@REALM`.
    User(String),
    /// A logged-in member of the admin group.
    Admin(String),
}

impl Viewer {
    fn name(&self) -> Option<&str> {
        match self {
            Viewer::Wall => None,
            Viewer::User(name) | Viewer::Admin(name) => Some(name),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Viewer::Wall => "wall",
            Viewer::User(_) => "user",
            Viewer::Admin(_) => "admin",
        }
    }
}

/// The farm as one viewer may see it (the JSON of every event of `GET /events`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// When the master learnt of the newest change shown (Unix ms).
    pub at_unix_ms: u64,
    /// `wall`, `user` or `admin`.
    pub viewer: &'static str,
    /// The logged-in user, if any.
    pub user: Option<String>,
    /// False once the audit log failed closed: the master serves nobody until it is fixed.
    pub audit_healthy: bool,
    pub stations: Vec<StationView>,
    pub queue: QueueView,
    /// Who is logged in and what they hold (admins only; empty otherwise).
    pub who: Vec<WhoView>,
}

/// One station.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StationView {
    pub name: String,
    pub location: String,
    pub station_type: String,
    /// The master's view: free, busy, quarantined, offline, drained.
    pub condition: &'static str,
    /// Why it is quarantined, offline or drained.
    pub reason: String,
    /// idle, reserved, burning, verifying, drive error.
    pub activity: &'static str,
    /// blank disc, no disc, tray open, written disc, unknown.
    pub medium: &'static str,
    pub copy: u32,
    pub copies: u32,
    pub percent: u32,
    /// Who holds it (admins; users for their own station).
    pub holder: Option<String>,
    /// The image being burnt (admins; the holder).
    pub image: Option<String>,
    /// The station's detail line (admins; the holder).
    pub detail: Option<String>,
    /// Held by the viewer.
    pub yours: bool,
    pub burns_today: u32,
    pub verify_failures_today: u32,
}

/// The wait queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueView {
    /// Users waiting, all types.
    pub length: u32,
    /// Waiting per station type name.
    pub per_type: Vec<(String, u32)>,
    /// The entries the viewer may see: their own (users), all (admins), none (wall).
    pub entries: Vec<QueueEntryView>,
}

/// One place in the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueEntryView {
    pub position: u32,
    pub station_type: String,
    /// Who waits (admins only).
    pub user: Option<String>,
    pub eta_seconds: u32,
    pub waited_seconds: u32,
    pub connected: bool,
    pub yours: bool,
}

/// A logged-in user (admins only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WhoView {
    pub user: String,
    pub connections: u32,
    pub stations: Vec<String>,
    pub held_seconds: u32,
}

/// What [`filter`] works from: the registry's and the queue's reports, unfiltered.
#[derive(Debug, Clone, Default)]
pub struct Farm {
    pub stations: Vec<StationReport>,
    pub queue: Vec<QueueEntry>,
    pub who: Vec<WhoEntry>,
    /// Station type names by id.
    pub types: HashMap<u32, String>,
    pub audit_healthy: bool,
    pub at_unix_ms: u64,
}

/// Gathers the farm's reports (the lobby's lock, then the registry's, as everywhere).
pub(crate) fn farm(shared: &Shared, at_unix_ms: u64) -> Farm {
    let queue = crate::waiting::report(shared);
    Farm {
        stations: shared.registry.station_reports(),
        queue,
        who: shared.registry.who(),
        types: shared
            .registry
            .types()
            .iter()
            .map(|t| (t.record.id, t.record.name.clone()))
            .collect(),
        audit_healthy: shared.audit.is_healthy(),
        at_unix_ms,
    }
}

/// The snapshot `viewer` may see.
pub(crate) fn snapshot(shared: &Shared, viewer: &Viewer, at_unix_ms: u64) -> Snapshot {
    filter(farm(shared, at_unix_ms), viewer)
}

/// The filter of the module docs.
pub fn filter(farm: Farm, viewer: &Viewer) -> Snapshot {
    let me = viewer.name();
    let admin = matches!(viewer, Viewer::Admin(_));
    let type_name = |id: u32| {
        farm.types
            .get(&id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    };
    let stations = farm
        .stations
        .iter()
        .map(|s| {
            let holder = if s.holder.is_empty() {
                None
            } else {
                Some(s.holder.clone())
            };
            let yours = me.is_some_and(|me| holder.as_deref() == Some(me));
            let sees_all = admin || yours;
            let some = |text: &str| (!text.is_empty()).then(|| text.to_owned());
            StationView {
                name: s.name.clone(),
                location: s.location.clone(),
                station_type: type_name(s.type_id),
                condition: s.condition.word(),
                reason: s.reason.clone(),
                activity: s.state.activity.word(),
                medium: s.state.medium.word(),
                copy: s.state.copy,
                copies: s.state.copies,
                percent: s.state.percent.min(100),
                holder: if sees_all { holder } else { None },
                image: if sees_all { some(&s.state.image) } else { None },
                detail: if sees_all {
                    some(&s.state.detail)
                } else {
                    None
                },
                yours,
                burns_today: s.burns_today,
                verify_failures_today: s.verify_failures_today,
            }
        })
        .collect();
    let mut per_type: Vec<(String, u32)> = Vec::new();
    for entry in &farm.queue {
        let name = type_name(entry.type_id);
        match per_type.iter_mut().find(|(t, _)| *t == name) {
            Some((_, n)) => *n += 1,
            None => per_type.push((name, 1)),
        }
    }
    let entries = farm
        .queue
        .iter()
        .filter_map(|e| {
            let yours = me.is_some_and(|me| e.user == me);
            (admin || yours).then(|| QueueEntryView {
                position: e.position,
                station_type: type_name(e.type_id),
                user: admin.then(|| e.user.clone()),
                eta_seconds: e.eta_seconds,
                waited_seconds: e.waited_seconds,
                connected: e.connected,
                yours,
            })
        })
        .collect();
    let who = if admin {
        farm.who
            .iter()
            .map(|w| WhoView {
                user: w.user.clone(),
                connections: w.connections,
                stations: w.stations.clone(),
                held_seconds: w.held_seconds,
            })
            .collect()
    } else {
        Vec::new()
    };
    Snapshot {
        at_unix_ms: farm.at_unix_ms,
        viewer: viewer.kind(),
        user: me.map(str::to_owned),
        audit_healthy: farm.audit_healthy,
        stations,
        queue: QueueView {
            length: u32::try_from(farm.queue.len()).unwrap_or(u32::MAX),
            per_type,
            entries,
        },
        who,
    }
}

#[cfg(test)]
mod tests {
    use burnstand_wire::farm::{Activity, Condition, StationState};

    use super::*;

    fn station(name: &str, holder: &str, image: &str) -> StationReport {
        StationReport {
            name: name.into(),
            location: "room 2".into(),
            type_id: 1,
            condition: if holder.is_empty() {
                Condition::Free
            } else {
                Condition::Busy
            },
            reason: String::new(),
            state: StationState {
                activity: if holder.is_empty() {
                    Activity::Idle
                } else {
                    Activity::Burning
                },
                user: holder.into(),
                image: image.into(),
                copy: 2,
                copies: 5,
                percent: 40,
                detail: format!("{image} for {holder}"),
                ..StationState::default()
            },
            holder: holder.into(),
            burns_today: 3,
            verify_failures_today: 0,
        }
    }

    fn waiting(position: u32, user: &str) -> QueueEntry {
        QueueEntry {
            position,
            user: user.into(),
            type_id: 1,
            class: "default".into(),
            drives: 1,
            waited_seconds: 10,
            eta_seconds: 60,
            connected: true,
        }
    }

    fn farm() -> Farm {
        Farm {
            stations: vec![
                station("dvd-1", "alice@R", "exam-a"),
                station("dvd-2", "bob@R", "exam-b"),
                station("dvd-3", "", ""),
            ],
            queue: vec![waiting(1, "carol@R"), waiting(2, "alice@R")],
            who: vec![WhoEntry {
                user: "alice@R".into(),
                connections: 2,
                stations: vec!["dvd-1".into()],
                session_id: "s".into(),
                held_seconds: 5,
            }],
            types: HashMap::from([(1, "DVD".to_owned())]),
            audit_healthy: true,
            at_unix_ms: 7,
        }
    }

    /// Every string a snapshot carries, to look for names in.
    fn text(snapshot: &Snapshot) -> String {
        serde_json::to_string(snapshot).expect("json")
    }

    #[test]
    fn the_wall_shows_states_and_counts_but_no_names() {
        let wall = filter(farm(), &Viewer::Wall);
        let json = text(&wall);
        for secret in ["alice", "bob", "carol", "exam-a", "exam-b"] {
            assert!(!json.contains(secret), "{secret} on the wall: {json}");
        }
        assert_eq!(wall.stations.len(), 3);
        assert_eq!(wall.stations[0].activity, "burning");
        assert_eq!(
            (
                wall.stations[0].copy,
                wall.stations[0].copies,
                wall.stations[0].percent
            ),
            (2, 5, 40)
        );
        assert_eq!(wall.queue.length, 2);
        assert_eq!(wall.queue.per_type, vec![("DVD".to_owned(), 2)]);
        assert!(wall.queue.entries.is_empty() && wall.who.is_empty());
        assert_eq!(wall.at_unix_ms, 7);
    }

    #[test]
    fn a_user_sees_their_own_station_and_place_only() {
        let view = filter(farm(), &Viewer::User("alice@R".into()));
        let json = text(&view);
        for secret in ["bob", "carol", "exam-b"] {
            assert!(!json.contains(secret), "{secret} shown to alice: {json}");
        }
        let own = &view.stations[0];
        assert!(own.yours);
        assert_eq!(own.image.as_deref(), Some("exam-a"));
        assert_eq!(own.holder.as_deref(), Some("alice@R"));
        assert_eq!(view.stations[1].holder, None);
        assert_eq!(view.queue.entries.len(), 1);
        assert_eq!(view.queue.entries[0].position, 2);
        assert!(view.queue.entries[0].yours);
        assert_eq!(view.queue.entries[0].user, None);
        assert!(view.who.is_empty());
    }

    #[test]
    fn an_admin_sees_everyone() {
        let view = filter(farm(), &Viewer::Admin("dave@R".into()));
        assert_eq!(view.stations[1].holder.as_deref(), Some("bob@R"));
        assert_eq!(view.stations[1].image.as_deref(), Some("exam-b"));
        assert_eq!(view.queue.entries.len(), 2);
        assert_eq!(view.queue.entries[0].user.as_deref(), Some("carol@R"));
        assert_eq!(view.who.len(), 1);
        assert_eq!(view.viewer, "admin");
    }
}
