//! [`SharedAuditLog`]: the async face of [`AuditLog`] for the tokio daemons.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::log::{Appended, AuditLog};
use crate::record::Event;

/// A cloneable handle on one [`AuditLog`] for many tasks.
///
/// Appends are serialized by a mutex, and each runs its blocking write and fsync on tokio's
/// blocking pool, so the async workers never wait on the disk. Each `append` future resolves
/// only after its own record is durable.
///
/// Dropping an `append` future does **not** cancel the append: the blocking task still writes
/// the record. That is the safe direction (a record without an acknowledgement, never the
/// reverse); acknowledge an action only after observing `Ok`.
#[derive(Clone, Debug)]
pub struct SharedAuditLog {
    log: Arc<Mutex<AuditLog>>,
    healthy: Arc<AtomicBool>,
}

impl SharedAuditLog {
    /// Wraps an opened log.
    pub fn new(log: AuditLog) -> Self {
        let healthy = Arc::new(AtomicBool::new(log.is_healthy()));
        SharedAuditLog {
            log: Arc::new(Mutex::new(log)),
            healthy,
        }
    }

    /// Appends `event` durably; see [`AuditLog::append`]. Must be called within a tokio
    /// runtime.
    pub async fn append(&self, event: Event) -> Result<Appended> {
        let log = Arc::clone(&self.log);
        let healthy = Arc::clone(&self.healthy);
        let task = tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot happen in append, but if it ever did the
            // outcome of that append is unknown: poison rather than guess.
            let mut guard = log.lock().unwrap_or_else(|poisoned| {
                let mut guard = poisoned.into_inner();
                guard.poison("an earlier append panicked mid-way".to_owned());
                guard
            });
            let result = guard.append(&event);
            if !guard.is_healthy() {
                healthy.store(false, Ordering::SeqCst);
            }
            result
        });
        match task.await {
            Ok(result) => result,
            Err(join_error) => {
                self.healthy.store(false, Ordering::SeqCst);
                Err(Error::Task(join_error.to_string()))
            }
        }
    }

    /// False once an append failed to write or fsync (or its task died): refuse new sessions.
    /// Never blocks, even while an append is in progress.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::SeqCst)
    }
}

impl From<AuditLog> for SharedAuditLog {
    fn from(log: AuditLog) -> Self {
        SharedAuditLog::new(log)
    }
}
