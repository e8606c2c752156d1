//! The protocol nucleus on a connection (`docs/protocol.md` §4.5): HELLO with its WELCOME or
//! ERRVERSION, and the DELAY that precedes a refusal asking to retry. Part of [`super`]'s
//! connection; split off so each file reads in one sitting.
//!
//! Only a client that said HELLO (and was welcomed) ever gets a DELAY: the old client's
//! decoders are strict, and a message they do not know would break them.

use burnstand_wire::io::Session;
use burnstand_wire::nucleus::{Hello, HelloReply, RequestDelay, NUCLEUS_VERSION};
use tokio::net::TcpStream;
use tracing::info;

use super::{Connection, End};
use crate::audit;
use crate::flood;
use crate::receipts;

impl Connection {
    /// HELLO: the client's version. Too old for `min_client_version`: ERRVERSION with the
    /// version needed and the notices, and the connection ends; else WELCOME with the notices.
    pub(super) async fn hello(
        &mut self,
        session: &mut Session<TcpStream>,
        hello: Hello,
    ) -> Option<End> {
        if self.nucleus.is_some() {
            return self.invalid(session, "HELLO twice").await;
        }
        tracing::Span::current().record("client_version", hello.client.to_string());
        let settings = &self.shared.config.nucleus;
        let notices = settings.notices_at(receipts::now());
        if let Some(needed) = settings
            .min_client_version
            .filter(|min| hello.client < *min)
        {
            let reason = format!(
                "client version {} is older than min_client_version {needed}",
                hello.client
            );
            info!(%needed, "client too old: refused");
            let event = audit::connection_deny(self.conn_id, &self.principal, &reason);
            if !self.record_within(flood::Kind::ConnectionDeny, event).await {
                return Some(End::AuditFailed);
            }
            // The connection ends either way; a client that is gone misses nothing else.
            let _ = session.send(&HelloReply::TooOld { needed, notices }).await;
            return Some(End::ClientTooOld);
        }
        let version = hello.version.min(NUCLEUS_VERSION);
        self.nucleus = Some(version);
        info!(
            nucleus = version,
            notices = notices.len(),
            "client said HELLO"
        );
        session
            .send(&HelloReply::Welcome { version, notices })
            .await
            .err()
            .map(|e| End::Lost(e.to_string()))
    }

    /// Sends `delay` (DELAY) ahead of the refusal it belongs to, if the client said HELLO;
    /// nothing to a client from before the nucleus.
    pub(super) async fn request_delay(
        &self,
        session: &mut Session<TcpStream>,
        delay: Option<RequestDelay>,
    ) -> Option<End> {
        let delay = delay.filter(|_| self.nucleus.is_some())?;
        info!(request_delay = delay.seconds, "asking the client to wait");
        session
            .send(&delay)
            .await
            .err()
            .map(|e| End::Lost(e.to_string()))
    }
}
