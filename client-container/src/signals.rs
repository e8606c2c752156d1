//! Signals that stop a queue wait or a held reservation.
//!
//! A tokio signal handler, once registered, stays for the life of the process: Ctrl-C then no
//! longer kills burnstand by itself. So a foreground command arms Ctrl-C only when it starts
//! to wait in the queue ([`Stop::arm_ctrl_c`]); once the wait is over, [`Stop::exit_on_signal`]
//! keeps Ctrl-C meaning "stop burnstand" (the connections close, the master releases the
//! station) until the burn, which cancels at the station instead, takes it over.

use std::future::pending;

use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::task::AbortHandle;

use crate::output::Output;
use crate::ClientError;

/// The signals that stop a wait; none armed means it never stops.
#[derive(Default)]
pub struct Stop {
    interrupt: Option<Signal>,
    terminate: Option<Signal>,
    hangup: Option<Signal>,
}

fn arm(kind: SignalKind, name: &str) -> Result<Signal, ClientError> {
    signal(kind).map_err(|e| ClientError::Internal(format!("cannot handle {name}: {e}")))
}

async fn next(signal: &mut Option<Signal>) {
    match signal {
        Some(signal) => {
            if signal.recv().await.is_none() {
                pending::<()>().await;
            }
        }
        None => pending::<()>().await,
    }
}

impl Stop {
    /// Stops on nothing (yet).
    pub fn none() -> Self {
        Stop::default()
    }

    /// Stops on SIGINT, SIGTERM and SIGHUP: the reservation holder.
    pub fn any_signal() -> Result<Self, ClientError> {
        Ok(Stop {
            interrupt: Some(arm(SignalKind::interrupt(), "SIGINT")?),
            terminate: Some(arm(SignalKind::terminate(), "SIGTERM")?),
            hangup: Some(arm(SignalKind::hangup(), "SIGHUP")?),
        })
    }

    /// Arms Ctrl-C (SIGINT), if nothing is armed yet.
    pub fn arm_ctrl_c(&mut self) -> Result<(), ClientError> {
        if !self.is_armed() {
            self.interrupt = Some(arm(SignalKind::interrupt(), "Ctrl-C")?);
        }
        Ok(())
    }

    /// Whether any signal is armed.
    pub fn is_armed(&self) -> bool {
        self.interrupt.is_some() || self.terminate.is_some() || self.hangup.is_some()
    }

    /// Waits for an armed signal; never returns when none is armed. Cancel-safe.
    pub async fn recv(&mut self) {
        tokio::select! {
            () = next(&mut self.interrupt) => {}
            () = next(&mut self.terminate) => {}
            () = next(&mut self.hangup) => {}
        }
    }

    /// From now on an armed signal ends burnstand with exit code 130, as an unhandled Ctrl-C
    /// would; abort the returned task to take the signal over. `None` when nothing is armed
    /// (then Ctrl-C still kills burnstand by itself).
    pub fn exit_on_signal(mut self, out: Output) -> Option<AbortHandle> {
        if !self.is_armed() {
            return None;
        }
        let task = tokio::spawn(async move {
            self.recv().await;
            out.error(&ClientError::Interrupted(
                "interrupted (Ctrl-C): the master releases the station when the connections close"
                    .to_owned(),
            ));
            std::process::exit(130);
        });
        Some(task.abort_handle())
    }
}
