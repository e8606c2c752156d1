//! The job's copy numbers: which are still to burn, which a drive is burning. Each drive takes
//! the next number when it is free; a copy a station refused before it started goes back for
//! another drive; nothing is handed out once the job is stopped (a used-up quota, Ctrl-C).

use std::collections::BTreeSet;

/// The copies of one job, shared by its drives (no I/O).
#[derive(Debug)]
pub struct Pool {
    /// Copy numbers nobody has taken yet (or given back), smallest first.
    waiting: BTreeSet<u32>,
    /// Copies a drive is burning now.
    running: u32,
    /// Why no more copies are handed out.
    stopped: Option<String>,
}

impl Pool {
    /// Copies 1 ..= `copies`, none taken.
    pub fn new(copies: u32) -> Self {
        Pool {
            waiting: (1..=copies).collect(),
            running: 0,
            stopped: None,
        }
    }

    /// The next copy to burn, if any is left and the job goes on.
    pub fn take(&mut self) -> Option<u32> {
        if self.stopped.is_some() {
            return None;
        }
        let next = self.waiting.pop_first()?;
        self.running += 1;
        Some(next)
    }

    /// Copy `copy` was not started (its station refused it before burning): another drive may
    /// take it.
    pub fn give_back(&mut self, copy: u32) {
        self.running = self.running.saturating_sub(1);
        self.waiting.insert(copy);
    }

    /// Copy `copy` ended, however: it is not burned again.
    pub fn done(&mut self) {
        self.running = self.running.saturating_sub(1);
    }

    /// Hands out nothing more; the first reason stays.
    pub fn stop(&mut self, reason: &str) {
        self.stopped.get_or_insert_with(|| reason.to_owned());
    }

    /// Why the job was stopped, if it was.
    pub fn stopped(&self) -> Option<&str> {
        self.stopped.as_deref()
    }

    /// Whether a drive may still get a copy: some wait, or a running one may come back.
    pub fn may_have_work(&self) -> bool {
        self.stopped.is_none() && (!self.waiting.is_empty() || self.running > 0)
    }

    /// The copies never burned (still waiting when the job ended).
    pub fn left_over(&self) -> Vec<u32> {
        self.waiting.iter().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_go_out_in_order_and_a_refused_one_comes_back_first() {
        let mut pool = Pool::new(3);
        assert_eq!((pool.take(), pool.take()), (Some(1), Some(2)));
        pool.give_back(1);
        assert_eq!(pool.take(), Some(1));
        assert_eq!(pool.take(), Some(3));
        assert_eq!(pool.take(), None);
        assert!(pool.may_have_work(), "a running copy may come back");
        pool.done();
        pool.done();
        pool.done();
        assert!(!pool.may_have_work());
        assert!(pool.left_over().is_empty());
    }

    #[test]
    fn a_stopped_pool_hands_out_nothing_and_keeps_the_first_reason() {
        let mut pool = Pool::new(4);
        assert_eq!(pool.take(), Some(1));
        pool.stop("quota used up");
        pool.stop("Ctrl-C");
        assert_eq!(pool.take(), None);
        pool.give_back(1);
        assert!(!pool.may_have_work());
        assert_eq!(pool.stopped(), Some("quota used up"));
        assert_eq!(pool.left_over(), [1, 2, 3, 4]);
    }
}
