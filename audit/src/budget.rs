//! Budgets for audit records that anyone can cause: token buckets, with the records left out
//! counted and written later as `EVENT.suppressed`.
//!
//! Every audit record is fsynced before the action it records is acknowledged, and a log that
//! cannot be written stops the daemon from serving (fail closed). So a record that a peer can
//! cause at will — a refusal, an invalid command, a login — is a way to fill the disk and take
//! the daemon down. Both daemons put such records through a budget:
//!
//! * [`Budget`]: one bucket for everyone (the master's `auth.fail`, where the peer is not
//!   authenticated and only its address is known).
//! * [`RecordBudget`]: one bucket **per principal** and one **per peer address**; a record is
//!   written only if both have a token. One user (from however many addresses) and one address
//!   (with however many accounts) each get at most their rate, and neither can use up anyone
//!   else's.
//!
//! A record over the budget is not written; the decision it records still happens (a refusal
//! is still answered, a connection is still closed), because refusing is always safe. It is
//! counted in the bucket that refused it — the principal's if that one is empty, else the
//! address's — so every event is counted exactly once. The count is handed back with the next
//! record the same bucket admits, and the caller writes it first, as `EVENT.suppressed` with
//! `count` and `principal` or `peer` ([`Suppressed::event`]). A count whose owner does not come
//! back is written by the daemon's periodic flush ([`RecordBudget::take_due`], every
//! [`FLUSH_EVERY`], as soon as the bucket has a token for it), and what is left at shutdown
//! all at once ([`RecordBudget::take_all`]).
//!
//! Memory: each map holds at most [`MAX_TRACKED_KEYS`] buckets; a principal key is cut to
//! [`MAX_KEY_LEN`] bytes. A bucket that is full again and owes no count is forgotten when room
//! is needed (it is then the same as a new one). Keys that find the map full share one bucket
//! per map ("untracked principals", "untracked addresses"). So one [`RecordBudget`] holds at
//! most about 1024 × (256 + 80) + 1024 × 80 bytes ≈ 420 KiB, whatever the peers do.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use crate::record::Event;

/// Most principals, and most addresses, one [`RecordBudget`] tracks one by one (the memory
/// bound above).
pub const MAX_TRACKED_KEYS: usize = 1024;

/// Longest principal key kept, in bytes (cut at a character boundary). Two principals that
/// share their first 256 bytes share a bucket, which only makes the budget stricter.
pub const MAX_KEY_LEN: usize = 256;

/// Denial records (refusals, invalid commands) one principal may cause: 20 at once, then 10
/// a minute. A person who mistypes gets every refusal recorded; a loop gets about 3 KB of log
/// a minute. Used by both daemons for every kind of refusal they audit.
pub const DENIALS_PER_PRINCIPAL: Rate = Rate::new(20, 10);

/// Denial records one peer address may cause, over all its principals: 60 at once, then 30 a
/// minute (a lab behind one NAT address shares it).
pub const DENIALS_PER_ADDRESS: Rate = Rate::new(60, 30);

/// How often the daemons write the counts whose owners did not come back
/// ([`RecordBudget::take_due`]).
pub const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// A token bucket's size and refill: `burst` records at once, `per_minute` more each minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub burst: u32,
    pub per_minute: u32,
}

impl Rate {
    /// `burst` at once, refilled by `per_minute` a minute.
    pub const fn new(burst: u32, per_minute: u32) -> Rate {
        Rate { burst, per_minute }
    }

    fn per_second(self) -> f64 {
        f64::from(self.per_minute) / 60.0
    }
}

#[derive(Debug, Clone)]
struct Bucket {
    tokens: f64,
    last: Instant,
    /// Events refused by this bucket since its last admitted record.
    suppressed: u64,
}

impl Bucket {
    fn full(rate: Rate, now: Instant) -> Bucket {
        Bucket {
            tokens: f64::from(rate.burst),
            last: now,
            suppressed: 0,
        }
    }

    fn refill(&mut self, rate: Rate, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_second()).min(f64::from(rate.burst));
        self.last = now;
    }

    fn has_token(&self) -> bool {
        self.tokens >= 1.0
    }

    /// Full again and owing no count: forgetting it changes nothing.
    fn idle(&self, rate: Rate, now: Instant) -> bool {
        let mut probe = self.clone();
        probe.refill(rate, now);
        probe.suppressed == 0 && probe.tokens >= f64::from(rate.burst)
    }
}

/// One token bucket for everyone; see the module docs.
#[derive(Debug)]
pub struct Budget {
    rate: Rate,
    bucket: Mutex<Bucket>,
}

impl Budget {
    /// A full bucket of `rate`.
    pub fn new(rate: Rate) -> Budget {
        Budget {
            rate,
            bucket: Mutex::new(Bucket::full(rate, Instant::now())),
        }
    }

    /// `Some(n)`: record this event, after a record that `n` (if > 0) were suppressed before
    /// it; `None`: over the budget, it is counted only.
    pub fn admit(&self) -> Option<u64> {
        self.admit_at(Instant::now())
    }

    /// [`Budget::admit`] at `now` (tests drive the clock).
    pub fn admit_at(&self, now: Instant) -> Option<u64> {
        let mut b = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        b.refill(self.rate, now);
        if b.has_token() {
            b.tokens -= 1.0;
            Some(std::mem::take(&mut b.suppressed))
        } else {
            b.suppressed += 1;
            None
        }
    }
}

/// Whose bucket a suppressed count comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Principal(String),
    Address(IpAddr),
    /// The shared bucket of principals that found the map full.
    UntrackedPrincipals,
    /// The shared bucket of addresses that found the map full.
    UntrackedAddresses,
}

/// Events of one kind that a bucket refused since its last admitted record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppressed {
    pub owner: Owner,
    pub count: u64,
}

impl Suppressed {
    /// The record of this count: `EVENT.suppressed` with `count` and `principal` or `peer`
    /// (or `untracked`: `principals` / `addresses`).
    pub fn event(&self, event: &str) -> Event {
        let record = Event::new(format!("{event}.suppressed"));
        let record = match &self.owner {
            Owner::Principal(p) => record.field("principal", p.as_str()),
            Owner::Address(ip) => record.field("peer", *ip),
            Owner::UntrackedPrincipals => record.field("untracked", "principals"),
            Owner::UntrackedAddresses => record.field("untracked", "addresses"),
        };
        record.field("count", self.count)
    }
}

/// What to do with one event under a [`RecordBudget`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Write the event's record, after one record per count here (see [`Suppressed::event`]).
    Record(Vec<Suppressed>),
    /// Over the budget: do not write it (it was counted). `first` is true for the first event
    /// its bucket refuses after a recorded one: log that one, not every one.
    Suppress { first: bool },
}

/// Buckets of one key type, bounded.
#[derive(Debug)]
struct Buckets<K> {
    rate: Rate,
    map: HashMap<K, Bucket>,
    untracked: Bucket,
}

impl<K: Eq + Hash + Clone> Buckets<K> {
    fn new(rate: Rate, now: Instant) -> Self {
        Buckets {
            rate,
            map: HashMap::new(),
            untracked: Bucket::full(rate, now),
        }
    }

    /// The bucket of `key`, refilled to `now`; `None` as the key means the untracked bucket.
    fn bucket(&mut self, key: &K, now: Instant) -> (&mut Bucket, Option<K>) {
        let rate = self.rate;
        if !self.map.contains_key(key) && self.map.len() >= MAX_TRACKED_KEYS {
            self.map.retain(|_, b| !b.idle(rate, now));
        }
        if self.map.contains_key(key) || self.map.len() < MAX_TRACKED_KEYS {
            let bucket = self
                .map
                .entry(key.clone())
                .or_insert_with(|| Bucket::full(rate, now));
            bucket.refill(rate, now);
            (bucket, Some(key.clone()))
        } else {
            self.untracked.refill(rate, now);
            (&mut self.untracked, None)
        }
    }
}

#[derive(Debug)]
struct Maps {
    principals: Buckets<Box<str>>,
    addresses: Buckets<IpAddr>,
}

/// Per-principal and per-address budgets for one kind of record; see the module docs.
#[derive(Debug)]
pub struct RecordBudget {
    state: Mutex<Maps>,
    /// Whether events over the budget are counted (for `EVENT.suppressed`); an admission
    /// budget ([`RecordBudget::admission`]) refuses without counting.
    counting: bool,
}

impl RecordBudget {
    /// Budgets of `per_principal` for each principal and `per_address` for each address.
    pub fn new(per_principal: Rate, per_address: Rate) -> RecordBudget {
        let now = Instant::now();
        RecordBudget {
            state: Mutex::new(Maps {
                principals: Buckets::new(per_principal, now),
                addresses: Buckets::new(per_address, now),
            }),
            counting: true,
        }
    }

    /// Like [`RecordBudget::new`], for admitting actions rather than records (the master's
    /// logins): what it refuses is not counted, because each refusal has its own record.
    pub fn admission(per_principal: Rate, per_address: Rate) -> RecordBudget {
        RecordBudget {
            counting: false,
            ..RecordBudget::new(per_principal, per_address)
        }
    }

    /// The budgets every daemon uses for refusals: [`DENIALS_PER_PRINCIPAL`],
    /// [`DENIALS_PER_ADDRESS`].
    pub fn denials() -> RecordBudget {
        RecordBudget::new(DENIALS_PER_PRINCIPAL, DENIALS_PER_ADDRESS)
    }

    /// Whether an event of `principal` from `address` may be recorded now.
    pub fn admit(&self, principal: &str, address: IpAddr) -> Verdict {
        self.admit_at(principal, address, Instant::now())
    }

    /// [`RecordBudget::admit`] at `now` (tests drive the clock).
    pub fn admit_at(&self, principal: &str, address: IpAddr, now: Instant) -> Verdict {
        let key: Box<str> = cut(principal).into();
        let mut maps = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let Maps {
            principals,
            addresses,
        } = &mut *maps;
        let (by_principal, principal_key) = principals.bucket(&key, now);
        let (by_address, address_key) = addresses.bucket(&address, now);
        let step = u64::from(self.counting);
        if !by_principal.has_token() {
            by_principal.suppressed += step;
            return Verdict::Suppress {
                first: by_principal.suppressed == 1,
            };
        }
        if !by_address.has_token() {
            by_address.suppressed += step;
            return Verdict::Suppress {
                first: by_address.suppressed == 1,
            };
        }
        by_principal.tokens -= 1.0;
        by_address.tokens -= 1.0;
        let mut owed = Vec::new();
        let count = std::mem::take(&mut by_principal.suppressed);
        if count > 0 {
            let owner = principal_key.map_or(Owner::UntrackedPrincipals, |k| {
                Owner::Principal(k.into_string())
            });
            owed.push(Suppressed { owner, count });
        }
        let count = std::mem::take(&mut by_address.suppressed);
        if count > 0 {
            let owner = address_key.map_or(Owner::UntrackedAddresses, Owner::Address);
            owed.push(Suppressed { owner, count });
        }
        Verdict::Record(owed)
    }

    /// The counts that can be written now without waiting for their owner's next record:
    /// those of buckets that have refilled a token, which each such record takes. The daemons
    /// call this every [`FLUSH_EVERY`], so a count is written even if its owner never comes
    /// back.
    pub fn take_due(&self) -> Vec<Suppressed> {
        self.take(Instant::now(), false)
    }

    /// Every count still owed, tokens or not (at shutdown: at most one record per tracked
    /// key, so bounded like the maps).
    pub fn take_all(&self) -> Vec<Suppressed> {
        self.take(Instant::now(), true)
    }

    fn take(&self, now: Instant, all: bool) -> Vec<Suppressed> {
        let mut maps = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let Maps {
            principals,
            addresses,
        } = &mut *maps;
        let mut owed = Vec::new();
        let mut due = |bucket: &mut Bucket, rate: Rate, owner: &dyn Fn() -> Owner| {
            if bucket.suppressed == 0 {
                return;
            }
            bucket.refill(rate, now);
            if all || bucket.has_token() {
                bucket.tokens = (bucket.tokens - 1.0).max(0.0);
                owed.push(Suppressed {
                    owner: owner(),
                    count: std::mem::take(&mut bucket.suppressed),
                });
            }
        };
        let rate = principals.rate;
        for (key, bucket) in principals.map.iter_mut() {
            due(bucket, rate, &|| Owner::Principal(key.to_string()));
        }
        due(&mut principals.untracked, rate, &|| {
            Owner::UntrackedPrincipals
        });
        let rate = addresses.rate;
        for (ip, bucket) in addresses.map.iter_mut() {
            due(bucket, rate, &|| Owner::Address(*ip));
        }
        due(&mut addresses.untracked, rate, &|| {
            Owner::UntrackedAddresses
        });
        owed
    }

    /// Principals and addresses tracked one by one right now (tests, diagnostics).
    pub fn tracked(&self) -> (usize, usize) {
        let maps = self.state.lock().unwrap_or_else(|p| p.into_inner());
        (maps.principals.map.len(), maps.addresses.map.len())
    }
}

/// `s` cut to at most [`MAX_KEY_LEN`] bytes, at a character boundary.
fn cut(s: &str) -> &str {
    if s.len() <= MAX_KEY_LEN {
        return s;
    }
    let mut end = MAX_KEY_LEN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    fn recorded(v: &Verdict) -> bool {
        matches!(v, Verdict::Record(_))
    }

    #[test]
    fn a_single_budget_counts_what_it_leaves_out() {
        let budget = Budget::new(Rate::new(2, 60));
        let t0 = Instant::now();
        assert_eq!(budget.admit_at(t0), Some(0));
        assert_eq!(budget.admit_at(t0), Some(0));
        assert_eq!(budget.admit_at(t0), None);
        assert_eq!(budget.admit_at(t0), None);
        // One token a second: the next record carries the count.
        assert_eq!(budget.admit_at(t0 + Duration::from_secs(1)), Some(2));
        assert_eq!(budget.admit_at(t0 + Duration::from_secs(1)), None);
    }

    #[test]
    fn one_principal_cannot_use_up_another_principals_budget() {
        let budget = RecordBudget::new(Rate::new(3, 6), Rate::new(100, 600));
        let t0 = Instant::now();
        let verdicts: Vec<bool> = (0..10)
            .map(|_| recorded(&budget.admit_at("mallory@R", A, t0)))
            .collect();
        assert_eq!(verdicts.iter().filter(|r| **r).count(), 3);
        assert!(recorded(&budget.admit_at("alice@R", A, t0)));
        // mallory's next record, ten seconds later (6 a minute), owes 7.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(
            budget.admit_at("mallory@R", A, later),
            Verdict::Record(vec![Suppressed {
                owner: Owner::Principal("mallory@R".into()),
                count: 7
            }])
        );
    }

    #[test]
    fn one_address_with_many_principals_is_held_by_its_own_budget() {
        let budget = RecordBudget::new(Rate::new(3, 6), Rate::new(5, 6));
        let t0 = Instant::now();
        let recorded_from_a = (0..50)
            .filter(|n| recorded(&budget.admit_at(&format!("user{n}@R"), A, t0)))
            .count();
        assert_eq!(recorded_from_a, 5);
        // Another address is not affected.
        assert!(recorded(&budget.admit_at("user1@R", B, t0)));
        // The count goes to the address, once, with its next record.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(
            budget.admit_at("user99@R", A, later),
            Verdict::Record(vec![Suppressed {
                owner: Owner::Address(A),
                count: 45
            }])
        );
    }

    #[test]
    fn every_event_is_either_recorded_or_counted_once() {
        let budget = RecordBudget::new(Rate::new(4, 60), Rate::new(6, 60));
        let t0 = Instant::now();
        let mut recorded_n = 0u64;
        let mut counted = 0u64;
        let mut firsts = 0;
        for step in 0..1000u64 {
            let now = t0 + Duration::from_millis(step * 37);
            let who = ["a@R", "b@R", "c@R"][(step % 3) as usize];
            let from = if step % 5 == 0 { B } else { A };
            match budget.admit_at(who, from, now) {
                Verdict::Record(owed) => {
                    recorded_n += 1;
                    counted += owed.iter().map(|s| s.count).sum::<u64>();
                }
                Verdict::Suppress { first } => firsts += usize::from(first),
            }
        }
        // Flush whatever is still owed, long after.
        let end = t0 + Duration::from_secs(3600);
        for (who, from) in [("a@R", A), ("b@R", A), ("c@R", A), ("a@R", B)] {
            if let Verdict::Record(owed) = budget.admit_at(who, from, end) {
                recorded_n += 1;
                counted += owed.iter().map(|s| s.count).sum::<u64>();
            }
        }
        assert_eq!(recorded_n + counted, 1000 + 4);
        assert!(firsts > 0 && (firsts as u64) < counted);
    }

    #[test]
    fn the_maps_are_bounded_and_forget_idle_buckets() {
        let budget = RecordBudget::new(Rate::new(1, 60), Rate::new(100_000, 60_000));
        let t0 = Instant::now();
        for n in 0..MAX_TRACKED_KEYS + 10 {
            budget.admit_at(&format!("u{n}@R"), A, t0);
        }
        assert_eq!(budget.tracked().0, MAX_TRACKED_KEYS);
        // A minute later every bucket is full again and owes nothing: room for new ones.
        let later = t0 + Duration::from_secs(61);
        assert!(recorded(&budget.admit_at("new@R", A, later)));
        assert!(budget.tracked().0 < MAX_TRACKED_KEYS);
    }

    #[test]
    fn principals_beyond_the_bound_share_one_bucket_whose_count_is_kept() {
        let budget = RecordBudget::new(Rate::new(1, 60), Rate::new(100_000, 60_000));
        let t0 = Instant::now();
        // Every tracked principal owes a count, so none can be forgotten.
        for n in 0..MAX_TRACKED_KEYS {
            let who = format!("u{n}@R");
            assert!(recorded(&budget.admit_at(&who, A, t0)));
            assert!(!recorded(&budget.admit_at(&who, A, t0)));
        }
        assert!(recorded(&budget.admit_at("v0@R", A, t0)));
        assert!(!recorded(&budget.admit_at("v1@R", A, t0)));
        assert!(!recorded(&budget.admit_at("v2@R", A, t0)));
        assert_eq!(budget.tracked().0, MAX_TRACKED_KEYS);
        let later = t0 + Duration::from_secs(61);
        assert_eq!(
            budget.admit_at("v3@R", A, later),
            Verdict::Record(vec![Suppressed {
                owner: Owner::UntrackedPrincipals,
                count: 2
            }])
        );
    }

    #[test]
    fn counts_are_written_even_if_their_owner_never_comes_back() {
        let budget = RecordBudget::new(Rate::new(1, 60_000), Rate::new(100, 60_000));
        let t0 = Instant::now();
        assert!(recorded(&budget.admit_at("m@R", A, t0)));
        assert!(!recorded(&budget.admit_at("m@R", A, t0)));
        assert!(!recorded(&budget.admit_at("m@R", A, t0)));
        // 60,000 a minute: a token is back within a few milliseconds.
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(
            budget.take_due(),
            vec![Suppressed {
                owner: Owner::Principal("m@R".into()),
                count: 2
            }]
        );
        assert!(budget.take_due().is_empty(), "taken once");
        assert!(budget.take_all().is_empty());
    }

    #[test]
    fn at_shutdown_every_count_is_taken_tokens_or_not() {
        let budget = RecordBudget::new(Rate::new(1, 0), Rate::new(100, 0));
        assert!(recorded(&budget.admit("m@R", A)));
        assert!(!recorded(&budget.admit("m@R", A)));
        assert!(budget.take_due().is_empty(), "no token: not due");
        assert_eq!(budget.take_all().len(), 1);
    }

    #[test]
    fn an_admission_budget_refuses_without_counting() {
        let budget = RecordBudget::admission(Rate::new(1, 0), Rate::new(100, 0));
        assert!(recorded(&budget.admit("m@R", A)));
        assert!(!recorded(&budget.admit("m@R", A)));
        assert!(budget.take_all().is_empty());
        assert_eq!(budget.admit("m@R", A), Verdict::Suppress { first: false });
    }

    #[test]
    fn long_principals_are_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_KEY_LEN);
        assert!(cut(&long).len() <= MAX_KEY_LEN);
        assert!(long.starts_with(cut(&long)));
        let budget = RecordBudget::new(Rate::new(1, 1), Rate::new(10, 10));
        assert!(recorded(&budget.admit(&long, A)));
        assert!(!recorded(&budget.admit(&format!("{long}x"), A)));
    }

    #[test]
    fn suppressed_records_name_their_owner() {
        let s = Suppressed {
            owner: Owner::Address(A),
            count: 3,
        };
        let e = s.event("burn.deny");
        assert_eq!(e.name(), "burn.deny.suppressed");
        let fields: Vec<&str> = e.fields().map(|(n, _)| n).collect();
        assert_eq!(fields, ["peer", "count"]);
    }
}
