//! The queue's behaviour through its API: join, rejoin, leave, clear, the bound, write-through,
//! and a restart from the SQLite file.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn waiting(user: &str, type_id: u32, priority: u32, joined: u64) -> Waiting {
    Waiting {
        key: format!("key:{user}").into_bytes(),
        user: format!("{user}@LAB.TEST"),
        type_id,
        drives: 1,
        station: String::new(),
        class: if priority > 0 {
            "staff".into()
        } else {
            String::new()
        },
        priority,
        joined: at(joined),
        seq: 0,
    }
}

/// A store in memory that can be told to fail, to see that the queue writes through first.
#[derive(Clone, Default)]
struct MemoryStore {
    state: Arc<Mutex<(Vec<Waiting>, u64, bool)>>,
}

impl MemoryStore {
    fn fail(&self, fail: bool) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).2 = fail;
    }

    fn rows(&self) -> Vec<Waiting> {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .clone()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Vec<Waiting>, &mut u64) -> T) -> Result<T> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (rows, seq, fail) = &mut *state;
        if *fail {
            return Err(Error::Queue("store down".into()));
        }
        Ok(f(rows, seq))
    }
}

impl QueueStore for MemoryStore {
    fn load(&self) -> Result<Vec<Waiting>> {
        self.with(|rows, _| rows.clone())
    }
    fn insert(&self, entry: &Waiting) -> Result<u64> {
        self.with(|rows, seq| {
            *seq += 1;
            rows.push(Waiting {
                seq: *seq,
                ..entry.clone()
            });
            *seq
        })
    }
    fn update(&self, entry: &Waiting) -> Result<()> {
        self.with(|rows, _| {
            for row in rows.iter_mut().filter(|r| r.key == entry.key) {
                *row = entry.clone();
            }
        })
    }
    fn remove(&self, key: &[u8]) -> Result<()> {
        self.with(|rows, _| rows.retain(|r| r.key != key))
    }
    fn clear(&self) -> Result<()> {
        self.with(|rows, _| rows.clear())
    }
}

fn queue() -> (Queue, MemoryStore) {
    let store = MemoryStore::default();
    let queue = Queue::open(Box::new(store.clone()), QueueSettings::default()).expect("open");
    (queue, store)
}

fn users(entries: &[&Waiting]) -> Vec<String> {
    entries.iter().map(|e| e.user.clone()).collect()
}

#[test]
fn joins_are_first_come_first_served_per_type() {
    let (mut queue, _) = queue();
    for (user, type_id) in [("ann", 1), ("bob", 2), ("cat", 1), ("dan", 1)] {
        assert!(!queue
            .join(waiting(user, type_id, 0, 0))
            .expect("join")
            .rejoined());
    }
    let now = at(60);
    assert_eq!(
        users(&queue.order(1, now)),
        ["ann@LAB.TEST", "cat@LAB.TEST", "dan@LAB.TEST"]
    );
    assert_eq!(users(&queue.order(2, now)), ["bob@LAB.TEST"]);
    assert_eq!((queue.len(1), queue.len(2), queue.len(3)), (3, 1, 0));
    assert_eq!(
        queue.position(b"key:dan", now),
        Some(Position {
            position: 3,
            waiting: 3
        })
    );
    assert_eq!(
        queue.position(b"key:bob", now),
        Some(Position {
            position: 1,
            waiting: 1
        })
    );
    assert_eq!(queue.position(b"key:eve", now), None);
}

#[test]
fn a_higher_class_goes_ahead_and_positions_follow_the_order() {
    let (mut queue, _) = queue();
    queue.join(waiting("ann", 1, 0, 0)).expect("join");
    queue.join(waiting("bob", 1, 0, 10)).expect("join");
    queue.join(waiting("exam", 1, 10, 20)).expect("join");
    let now = at(30);
    let order = users(&queue.order(1, now));
    assert_eq!(order, ["exam@LAB.TEST", "ann@LAB.TEST", "bob@LAB.TEST"]);
    for (i, entry) in queue.order(1, now).iter().enumerate() {
        let position = queue.position(&entry.key, now).expect("waiting");
        assert_eq!(position.position as usize, i + 1);
        assert_eq!(position.waiting, 3);
    }
}

#[test]
fn a_rejoin_keeps_the_place_and_takes_only_drives_and_station() {
    let (mut queue, store) = queue();
    queue.join(waiting("ann", 1, 0, 0)).expect("join");
    queue.join(waiting("bob", 1, 0, 10)).expect("join");
    let first = queue.get(b"key:ann").expect("waiting").clone();
    let mut again = waiting("ann", 1, 7, 500);
    again.drives = 3;
    again.station = "dvd-2".into();
    again.user = "ann-renamed@LAB.TEST".into();
    let joined = queue.join(again).expect("rejoin");
    assert_eq!(joined, Joined::Rejoined { seq: first.seq });
    let now_entry = queue.get(b"key:ann").expect("waiting");
    assert_eq!(
        *now_entry,
        Waiting {
            drives: 3,
            station: "dvd-2".into(),
            ..first
        }
    );
    assert_eq!(
        users(&queue.order(1, at(600))),
        ["ann@LAB.TEST", "bob@LAB.TEST"]
    );
    assert_eq!(queue.total(), 2, "one entry per principal");
    assert_eq!(store.rows(), queue.entries(), "written through");
}

#[test]
fn joining_for_another_type_moves_to_the_end_of_that_type() {
    let (mut queue, store) = queue();
    queue.join(waiting("ann", 1, 0, 0)).expect("join");
    queue.join(waiting("bob", 2, 0, 10)).expect("join");
    let joined = queue.join(waiting("ann", 2, 0, 20)).expect("move");
    let Joined::Moved { seq, left } = joined else {
        panic!("expected a move, got {joined:?}");
    };
    assert_eq!(left.type_id, 1);
    assert!(seq > left.seq);
    assert_eq!(queue.len(1), 0);
    assert_eq!(
        users(&queue.order(2, at(30))),
        ["bob@LAB.TEST", "ann@LAB.TEST"]
    );
    assert_eq!(store.rows(), queue.entries());
}

#[test]
fn leave_and_clear_return_what_they_took() {
    let (mut queue, store) = queue();
    queue.join(waiting("ann", 1, 0, 0)).expect("join");
    queue.join(waiting("bob", 1, 0, 10)).expect("join");
    queue.join(waiting("cat", 2, 0, 20)).expect("join");
    let left = queue
        .leave(b"key:ann")
        .expect("leave")
        .expect("was waiting");
    assert_eq!(left.user, "ann@LAB.TEST");
    assert_eq!(queue.leave(b"key:ann").expect("leave"), None);
    assert_eq!(
        queue.position(b"key:bob", at(30)).map(|p| p.position),
        Some(1)
    );
    assert_eq!(store.rows(), queue.entries());
    let cleared = queue.clear().expect("clear");
    assert_eq!(cleared.len(), 2);
    assert_eq!(queue.total(), 0);
    assert!(store.rows().is_empty());
    // Seq keeps growing after a clear: a new join is never "earlier" than an old one.
    let seq = queue.join(waiting("dan", 1, 0, 40)).expect("join").seq();
    assert!(seq > left.seq, "{seq} after {}", left.seq);
}

#[test]
fn next_for_skips_what_the_caller_finds_ineligible() {
    let (mut queue, _) = queue();
    queue.join(waiting("ann", 1, 0, 0)).expect("join");
    let mut bob = waiting("bob", 1, 0, 10);
    bob.station = "dvd-2".into();
    queue.join(bob).expect("join");
    queue.join(waiting("cat", 1, 0, 20)).expect("join");
    queue.join(waiting("dan", 2, 0, 0)).expect("join");
    let now = at(30);
    let away: &[u8] = b"key:ann";
    let freed = "dvd-1";
    let next = queue.next_for(1, now, |e| {
        e.key != away && (e.station.is_empty() || e.station == freed)
    });
    assert_eq!(next.map(|e| e.user.as_str()), Some("cat@LAB.TEST"));
    let next = queue.next_for(1, now, |e| e.key != away);
    assert_eq!(next.map(|e| e.user.as_str()), Some("bob@LAB.TEST"));
    assert_eq!(
        queue.next_for(1, now, |_| true).map(|e| e.user.as_str()),
        Some("ann@LAB.TEST")
    );
    assert_eq!(queue.next_for(1, now, |_| false), None);
    assert_eq!(queue.next_for(3, now, |_| true), None);
}

#[test]
fn expire_drops_exactly_what_the_caller_rejects() {
    let (mut queue, store) = queue();
    for user in ["ann", "bob", "cat", "dan"] {
        queue.join(waiting(user, 1, 0, 0)).expect("join");
    }
    let gone = queue
        .expire(|e| e.user != "bob@LAB.TEST" && e.user != "dan@LAB.TEST")
        .expect("expire");
    assert_eq!(
        gone.iter().map(|e| e.user.as_str()).collect::<Vec<_>>(),
        ["bob@LAB.TEST", "dan@LAB.TEST"]
    );
    assert_eq!(
        users(&queue.order(1, at(0))),
        ["ann@LAB.TEST", "cat@LAB.TEST"]
    );
    assert_eq!(store.rows(), queue.entries());
}

#[test]
fn the_bound_refuses_new_principals_but_not_rejoins() {
    let (mut queue, _) = queue();
    for i in 0..MAX_WAITING {
        queue
            .join(waiting(&format!("u{i}"), 1 + (i % 3) as u32, 0, 0))
            .expect("join");
    }
    let refused = queue.join(waiting("late", 1, 0, 0));
    assert!(
        matches!(refused, Err(Error::QueueFull { limit: MAX_WAITING })),
        "{refused:?}"
    );
    assert_eq!(queue.total(), MAX_WAITING);
    assert!(queue
        .join(waiting("u0", 1, 0, 0))
        .expect("rejoin")
        .rejoined());
    queue.leave(b"key:u1").expect("leave");
    queue.join(waiting("late", 1, 0, 0)).expect("room again");
}

#[test]
fn a_failing_store_changes_nothing() {
    let (mut queue, store) = queue();
    queue.join(waiting("ann", 1, 0, 0)).expect("join");
    let before = queue.entries().to_vec();
    store.fail(true);
    assert!(queue.join(waiting("bob", 1, 0, 0)).is_err());
    let mut again = waiting("ann", 1, 0, 0);
    again.drives = 4;
    assert!(queue.join(again).is_err());
    assert!(queue.leave(b"key:ann").is_err());
    assert!(queue.clear().is_err());
    assert!(queue.expire(|_| false).is_err());
    assert_eq!(queue.entries(), before);
    store.fail(false);
    assert_eq!(store.rows(), before);
}

#[test]
fn invalid_entries_are_refused() {
    let (mut queue, _) = queue();
    let mut no_key = waiting("ann", 1, 0, 0);
    no_key.key.clear();
    let mut long_station = waiting("ann", 1, 0, 0);
    long_station.station = "x".repeat(MAX_FARM_TEXT_LEN + 1);
    let mut no_drives = waiting("ann", 1, 0, 0);
    no_drives.drives = 0;
    for entry in [no_key, long_station, no_drives] {
        let refused = queue.join(entry.clone());
        assert!(matches!(refused, Err(Error::Queue(_))), "{entry:?}");
    }
    assert_eq!(queue.total(), 0);
}

#[test]
fn a_damaged_store_is_refused_at_open() {
    let store = MemoryStore::default();
    store.insert(&waiting("ann", 1, 0, 0)).expect("insert");
    store.insert(&waiting("ann", 2, 0, 0)).expect("insert");
    let refused = Queue::open(Box::new(store), QueueSettings::default());
    let message = refused.err().expect("refused").to_string();
    assert!(message.contains("\"ann@LAB.TEST\" twice"), "{message}");
}

#[test]
fn the_queue_survives_a_restart_from_its_sqlite_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(QUEUE_FILE);
    let open = || {
        let store = SqliteQueueStore::open(&path).expect("store");
        Queue::open(Box::new(store), QueueSettings::default()).expect("queue")
    };
    let now = at(4000);
    let (order_before, entries_before, ann, gone) = {
        let mut queue = open();
        queue.join(waiting("ann", 1, 0, 0)).expect("join");
        queue.join(waiting("bob", 1, 0, 100)).expect("join");
        queue.join(waiting("exam", 1, 10, 3500)).expect("join");
        queue.join(waiting("cat", 2, 0, 200)).expect("join");
        let mut dan = waiting("dan", 1, 3, 300);
        dan.drives = 2;
        dan.station = "dvd-1".into();
        queue.join(dan).expect("join");
        // The newest entry leaves: its seq must not come back after the restart.
        queue.join(waiting("gone", 1, 0, 3600)).expect("join");
        let gone = queue
            .leave(b"key:gone")
            .expect("leave")
            .expect("was waiting");
        let order: Vec<Waiting> = queue.order(1, now).into_iter().cloned().collect();
        let ann = queue.get(b"key:ann").expect("waiting").clone();
        (order, queue.entries().to_vec(), ann, gone)
    };
    // Aging matters at `now`: dan 3 + 12 steps; ann and bob 0 + 13; exam only 10 + 1.
    assert_eq!(
        order_before
            .iter()
            .map(|e| e.user.as_str())
            .collect::<Vec<_>>(),
        [
            "dan@LAB.TEST",
            "ann@LAB.TEST",
            "bob@LAB.TEST",
            "exam@LAB.TEST"
        ]
    );
    let mut queue = open();
    assert_eq!(queue.entries(), entries_before, "every field, in seq order");
    let order_after: Vec<Waiting> = queue.order(1, now).into_iter().cloned().collect();
    assert_eq!(order_after, order_before);
    // A client reconnecting after the restart gets its place back...
    let joined = queue.join(waiting("ann", 1, 0, 3999)).expect("rejoin");
    assert_eq!(joined, Joined::Rejoined { seq: ann.seq });
    assert_eq!(queue.get(b"key:ann"), Some(&ann));
    // ...and a new join comes after everybody, also after the one that left.
    let late = queue.join(waiting("late", 1, 0, 4000)).expect("join").seq();
    assert!(entries_before.iter().all(|e| e.seq < late));
    assert!(late > gone.seq, "seq {late} reused after {}", gone.seq);
}
