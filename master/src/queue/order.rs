//! The hand-over order of the wait queue, as pure functions of the entries and `now`.
//!
//! An entry's **effective priority** is its class priority plus the number of whole
//! `aging_step`s it has waited; higher goes first, equal goes by `seq` (join order, FIFO).
//! Within one class everybody ages at the same rate, so the order there stays FIFO; a higher
//! class goes ahead of a lower one; and a lower class is never starved: an entry of priority
//! `p` that has waited [`no_overtake_after`]`(p, highest, aging_step)` is overtaken by no
//! entry that joins after that, of any class up to priority `highest`. Only the finitely many entries that joined before
//! (at most `MAX_WAITING`) can still be ahead of it, and each freed station takes one.
//!
//! Why: with class priorities alone an exam-office rush would keep a student waiting for ever;
//! with aging the student's wait is bounded by the class gap times `aging_step`.
//!
//! `now` is passed in so that tests (and the registry, which holds one `now` for a whole
//! update) get one consistent order. An entry that joined "after" `now` (a clock stepped back)
//! has waited zero steps.

use std::cmp::Ordering;
use std::time::{Duration, SystemTime};

use super::Waiting;

/// Whole `aging_step`s between `joined` and `now`; 0 if `now` is earlier or the step is zero.
pub fn aging_steps(joined: SystemTime, now: SystemTime, aging_step: Duration) -> u64 {
    let waited = now.duration_since(joined).unwrap_or_default();
    waited
        .as_nanos()
        .checked_div(aging_step.as_nanos())
        .map_or(0, |steps| u64::try_from(steps).unwrap_or(u64::MAX))
}

/// Class priority plus whole aging steps waited.
pub fn effective_priority(entry: &Waiting, now: SystemTime, aging_step: Duration) -> u64 {
    u64::from(entry.priority).saturating_add(aging_steps(entry.joined, now, aging_step))
}

/// `Less` if `a` is handed a station before `b`: higher effective priority first, then lower
/// `seq` (earlier join). A total order, since `seq` is unique.
pub fn hand_over_cmp(a: &Waiting, b: &Waiting, now: SystemTime, aging_step: Duration) -> Ordering {
    effective_priority(b, now, aging_step)
        .cmp(&effective_priority(a, now, aging_step))
        .then(a.seq.cmp(&b.seq))
}

/// `entries` in hand-over order.
pub fn sorted<'a>(
    entries: impl IntoIterator<Item = &'a Waiting>,
    now: SystemTime,
    aging_step: Duration,
) -> Vec<&'a Waiting> {
    let mut order: Vec<&Waiting> = entries.into_iter().collect();
    order.sort_by(|a, b| hand_over_cmp(a, b, now, aging_step));
    order
}

/// The first of `entries` in hand-over order, without sorting them all.
pub fn first<'a>(
    entries: impl IntoIterator<Item = &'a Waiting>,
    now: SystemTime,
    aging_step: Duration,
) -> Option<&'a Waiting> {
    entries
        .into_iter()
        .min_by(|a, b| hand_over_cmp(a, b, now, aging_step))
}

/// How long an entry `e` of class priority `priority` waits before no entry that joins later,
/// of class priority at most `highest` (the highest class configured, at most
/// [`MAX_CLASS_PRIORITY`](crate::config::queue::MAX_CLASS_PRIORITY)), can go ahead of it: `(highest − priority + 1) × aging_step`.
///
/// Why it holds: an entry `f` that joined `D = (highest − priority + 1)` steps or more after
/// `e` has, at any `now` after it joined, at least that many steps fewer, so `e`'s effective
/// priority is at least `priority + steps(f) + highest − priority + 1`: more than `f`'s, which
/// is at most `highest + steps(f)`.
pub fn no_overtake_after(priority: u32, highest: u32, aging_step: Duration) -> Duration {
    let gap = highest.saturating_sub(priority).saturating_add(1);
    aging_step.saturating_mul(gap)
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::config::queue::MAX_CLASS_PRIORITY;

    const STEP: Duration = Duration::from_secs(300);

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_000_000 + secs)
    }

    fn entry(seq: u64, priority: u32, joined: u64) -> Waiting {
        Waiting {
            key: format!("user{seq}").into_bytes(),
            user: format!("user{seq}@LAB.TEST"),
            type_id: 1,
            drives: 1,
            station: String::new(),
            class: if priority == 0 {
                String::new()
            } else {
                "high".into()
            },
            priority,
            joined: at(joined),
            seq,
        }
    }

    fn seqs(entries: &[Waiting], now: u64) -> Vec<u64> {
        sorted(entries, at(now), STEP)
            .iter()
            .map(|e| e.seq)
            .collect()
    }

    #[test]
    fn aging_counts_whole_steps_only() {
        assert_eq!(aging_steps(at(0), at(299), STEP), 0);
        assert_eq!(aging_steps(at(0), at(300), STEP), 1);
        assert_eq!(aging_steps(at(0), at(1499), STEP), 4);
        // A clock stepped back, or a zero step, ages nothing.
        assert_eq!(aging_steps(at(600), at(0), STEP), 0);
        assert_eq!(aging_steps(at(0), at(600), Duration::ZERO), 0);
        assert_eq!(effective_priority(&entry(1, 10, 0), at(650), STEP), 12);
    }

    #[test]
    fn one_class_is_served_first_come_first_served() {
        // Joined out of seq order on the clock (a second master's clock, a step back): seq
        // decides, never the timestamp within a step.
        let entries = [entry(3, 0, 20), entry(1, 0, 30), entry(2, 0, 10)];
        assert_eq!(seqs(&entries, 40), [1, 2, 3]);
        // Much later, still FIFO: everybody aged by the same steps.
        assert_eq!(seqs(&entries, 40 + 3600), [1, 2, 3]);
    }

    #[test]
    fn a_higher_class_overtakes_a_lower_one() {
        let entries = [entry(1, 0, 0), entry(2, 0, 10), entry(3, 10, 20)];
        assert_eq!(seqs(&entries, 30), [3, 1, 2]);
    }

    #[test]
    fn aging_lets_a_long_wait_overtake_a_newer_higher_class() {
        // seq 1 (priority 0) joined at 0; a priority-3 entry that joins 10 minutes (two
        // steps) later goes ahead of it, and stays ahead: both age at the same rate.
        let entries = [entry(1, 0, 0), entry(2, 3, 600)];
        assert_eq!(seqs(&entries, 600), [2, 1]);
        assert_eq!(seqs(&entries, 600 + 3600), [2, 1]);
        // One that joins three steps later ties, and the earlier join goes first...
        let entries = [entry(1, 0, 0), entry(2, 3, 900)];
        assert_eq!(seqs(&entries, 900), [1, 2]);
        assert_eq!(seqs(&entries, 900 + 3600), [1, 2]);
        // ...and one that joins four steps later is behind at once.
        let entries = [entry(1, 0, 0), entry(2, 3, 1200)];
        assert_eq!(seqs(&entries, 1200), [1, 2]);
    }

    #[test]
    fn equal_effective_priorities_go_by_seq() {
        // priority 2 after 0 steps, priority 1 after 1 step, priority 0 after 2 steps: all 2.
        let entries = [entry(5, 2, 600), entry(9, 1, 300), entry(7, 0, 0)];
        assert_eq!(seqs(&entries, 600), [5, 7, 9]);
        assert_eq!(first(&entries, at(600), STEP).map(|e| e.seq), Some(5));
    }

    #[test]
    fn after_the_bound_no_newer_entry_overtakes_whatever_its_class() {
        for priority in [0, 1, 10, MAX_CLASS_PRIORITY - 1, MAX_CLASS_PRIORITY] {
            let old = entry(1, priority, 0);
            let bound = no_overtake_after(priority, MAX_CLASS_PRIORITY, STEP).as_secs();
            for newer_priority in [0, priority, MAX_CLASS_PRIORITY] {
                for offset in [bound, bound + 1, bound + 299, bound + 300, bound * 3] {
                    let newer = entry(2, newer_priority, offset);
                    for waited in [0, 1, 299, 300, 7_777, 1_000_000] {
                        let now = at(offset + waited);
                        assert_eq!(
                            hand_over_cmp(&old, &newer, now, STEP),
                            Ordering::Less,
                            "priority {priority} overtaken by {newer_priority} joined at {offset}, now +{waited}"
                        );
                    }
                }
            }
            // Joined a little over one step inside the bound, the highest class still goes
            // ahead: the bound is tight to within one step (the step the seq tie-break gives).
            if priority < MAX_CLASS_PRIORITY {
                let joined = bound - STEP.as_secs() - 1;
                let newer = entry(2, MAX_CLASS_PRIORITY, joined);
                assert_eq!(
                    hand_over_cmp(&old, &newer, at(joined), STEP),
                    Ordering::Greater
                );
            }
        }
    }

    /// Serves a queue where a priority-10 entry joins every 30 s and a station frees every
    /// 60 s (more arrivals than hand-overs, for ever): returns when `old` (priority 0, joined
    /// first) was handed a station, if within `horizon` seconds.
    fn serve_old_entry_under_a_rush(aging_step: Duration, horizon: u64) -> Option<u64> {
        let mut waiting = vec![entry(1, 0, 0)];
        let mut seq = 1;
        for t in (30..=horizon).step_by(30) {
            seq += 1;
            waiting.push(entry(seq, 10, t));
            if t % 60 == 0 {
                let head = first(&waiting, at(t), aging_step).map(|e| e.seq);
                waiting.retain(|e| Some(e.seq) != head);
                if head == Some(1) {
                    return Some(t);
                }
            }
        }
        None
    }

    #[test]
    fn a_low_class_is_not_starved_by_an_endless_rush_of_a_higher_one() {
        let window = no_overtake_after(0, 10, STEP).as_secs();
        // Entries joining after the window never overtake; of those joining within it (one per
        // 30 s) one leaves per 60 s, so the old entry is served once they are gone.
        let ahead_at_most = window / 30 + 1;
        let bound = (ahead_at_most + 1) * 60;
        let served = serve_old_entry_under_a_rush(STEP, 4 * bound)
            .expect("the old entry is served while the rush goes on");
        assert!(served <= bound, "served at {served}s, bound {bound}s");
        // It takes aging to get there: the class gap is 10, so ten steps of waiting at least.
        assert!(served >= 10 * STEP.as_secs(), "served at {served}s");
        // Without aging (a step far longer than the run), the rush starves it.
        assert_eq!(
            serve_old_entry_under_a_rush(Duration::from_secs(1 << 40), 4 * bound),
            None
        );
    }
}
