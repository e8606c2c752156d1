//! [`Unauthenticated`]: a connection before the Kerberos handshake, and the handshake itself.

use std::time::Duration;

use crate::gss::Cred;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{BlockStream, IoError, Session};
use crate::gss::{Acceptor, Established, Initiator};
use crate::limits::MAX_HANDSHAKE_TOKEN_LEN;

/// A connection before authentication: all it can do is a handshake.
pub struct Unauthenticated<S> {
    blocks: BlockStream<S>,
    /// `None`: the process default ([`crate::gss::fast_path_default`]).
    fast_path: Option<bool>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Unauthenticated<S> {
    /// Wraps a fresh connection. Until the handshake completes only blocks of up to
    /// [`MAX_HANDSHAKE_TOKEN_LEN`] bytes are accepted.
    pub fn new(io: S) -> Self {
        Unauthenticated {
            blocks: BlockStream::new(io, MAX_HANDSHAKE_TOKEN_LEN),
            fast_path: None,
        }
    }

    /// Whether the session may move to the Rust fast path after the handshake (see
    /// [`Acceptor::fast_path`]); without this call the process default applies.
    pub fn fast_path(mut self, enabled: bool) -> Self {
        self.fast_path = Some(enabled);
        self
    }

    /// Runs the acceptor side within `timeout` and returns the authenticated session.
    pub async fn accept(self, cred: Cred, timeout: Duration) -> Result<Session<S>, IoError> {
        let mut blocks = self.blocks;
        let mut acceptor = Acceptor::new(cred);
        if let Some(enabled) = self.fast_path {
            acceptor = acceptor.fast_path(enabled);
        }
        let established = tokio::time::timeout(timeout, accept_tokens(&mut blocks, acceptor))
            .await
            .map_err(|_| IoError::HandshakeTimeout(timeout))??;
        Ok(Session::new(blocks, established))
    }

    /// Runs the initiator side towards the service principal `target` within `timeout`.
    pub async fn initiate(
        self,
        cred: Cred,
        target: &str,
        timeout: Duration,
    ) -> Result<Session<S>, IoError> {
        let mut blocks = self.blocks;
        let mut initiator = Initiator::new(cred, target)?;
        if let Some(enabled) = self.fast_path {
            initiator = initiator.fast_path(enabled);
        }
        let established = tokio::time::timeout(timeout, initiate_tokens(&mut blocks, initiator))
            .await
            .map_err(|_| IoError::HandshakeTimeout(timeout))??;
        Ok(Session::new(blocks, established))
    }
}

/// GSSAPI steps may block (keytab and replay cache files, the KDC): run them off the runtime.
async fn off_runtime<T: Send + 'static>(
    step: impl FnOnce() -> T + Send + 'static,
) -> Result<T, IoError> {
    tokio::task::spawn_blocking(step).await.map_err(|e| {
        IoError::Codec(crate::Error::Gss {
            operation: "handshake step",
            message: e.to_string(),
        })
    })
}

fn closed_means_refused(e: IoError) -> IoError {
    match e {
        IoError::Closed | IoError::Codec(crate::Error::UnterminatedBlock { .. }) => {
            IoError::HandshakeClosed
        }
        other => other,
    }
}

async fn accept_tokens<S>(
    blocks: &mut BlockStream<S>,
    mut acceptor: Acceptor,
) -> Result<Established, IoError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        let token = blocks.read_block().await.map_err(closed_means_refused)?;
        let (back, reply) = off_runtime(move || {
            let reply = acceptor.step(&token);
            (acceptor, reply)
        })
        .await?;
        acceptor = back;
        if let Some(reply) = reply? {
            blocks.write_block(&reply).await?;
        }
        if acceptor.is_complete() {
            return Ok(acceptor.establish()?);
        }
    }
}

async fn initiate_tokens<S>(
    blocks: &mut BlockStream<S>,
    mut initiator: Initiator,
) -> Result<Established, IoError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut input: Option<Vec<u8>> = None;
    loop {
        let (back, token) = off_runtime(move || {
            let token = initiator.step(input.as_deref());
            (initiator, token)
        })
        .await?;
        initiator = back;
        if let Some(token) = token? {
            blocks.write_block(&token).await?;
        }
        if initiator.is_complete() {
            return Ok(initiator.establish()?);
        }
        input = Some(blocks.read_block().await.map_err(closed_means_refused)?);
    }
}
