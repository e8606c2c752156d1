//! SERV on a module connection: the station link for the user's reservation, the identity
//! block, and the pass-through that follows (`docs/protocol.md` §5.4, §5.5). Part of
//! [`super`]'s connection; split off so each file reads in one sitting.

use burnstand_wire::command::{Identity, Reply, ServiceType};
use burnstand_wire::io::Session;
use tokio::net::TcpStream;
use tracing::{info, warn};

use super::{record, Connection, End, Serv};
use crate::audit;
use crate::flood;
use crate::receipts;
use crate::registry::ServRefusal;
use crate::relay::{self, RelayEnd};
use crate::station;

impl Connection {
    /// SERV: on success the connection becomes a pass-through and never returns to command
    /// mode; only ERRNOCONN hands the session back.
    pub(super) async fn serv(
        &mut self,
        session: Session<TcpStream>,
        service: &ServiceType,
    ) -> Serv {
        let mut session = session;
        let lease = match self
            .shared
            .registry
            .open_module(&self.principal, service.id)
        {
            Ok(lease) => lease,
            Err(ServRefusal::NoContainer) => {
                let reason = "no live container connection with a reserved station";
                return match self
                    .deny_serv(&mut session, service.id, Reply::ErrNoConn, reason)
                    .await
                {
                    Some(end) => Serv::Ended(end),
                    // ERRNOCONN keeps command mode: the container may connect and BIND later.
                    None => Serv::Refused(Box::new(session)),
                };
            }
            Err(ServRefusal::NotOffered) => {
                let reason = "the reserved station does not offer this service";
                let end = self
                    .deny_serv(&mut session, service.id, Reply::ErrNotAvl, reason)
                    .await;
                return Serv::Ended(end.unwrap_or(End::NotAvailable));
            }
        };
        let Some(station) = self.shared.registry.station(lease.station) else {
            return Serv::Ended(End::NotAvailable);
        };
        let session_id = lease.session_id.to_string();
        let identity = Identity {
            user: self.principal.as_str().to_owned(),
            user_exported_name: self.principal.exported().to_vec(),
            session_id: session_id.clone(),
            client_address: self.peer.to_string(),
        };
        let timeout = self.shared.config.limits.station_timeout;
        let link = tokio::select! {
            link = station::open_session(&station, self.shared.initiator.clone(), &identity, timeout) => link,
            () = self.registration.cancelled().cancelled() => return Serv::Ended(End::Cancelled),
        };
        let link = match link {
            Ok(link)
                if self
                    .shared
                    .registry
                    .is_current(&self.principal, lease.session_id) =>
            {
                link
            }
            Ok(_) => return Serv::Ended(End::Cancelled),
            Err(e) => {
                warn!(station = %station.name, error = %e, "station unavailable");
                self.shared
                    .registry
                    .mark_down(lease.station, self.shared.config.limits.station_retry_after);
                let reason = format!("station {}: {e}", station.name);
                let end = self
                    .deny_serv(&mut session, service.id, Reply::ErrNotAvl, &reason)
                    .await;
                return Serv::Ended(end.unwrap_or(End::NotAvailable));
            }
        };
        let event = audit::serv(
            self.conn_id,
            &self.principal,
            service.id,
            &station.name,
            &session_id,
        );
        if !record(&self.shared, event).await {
            return Serv::Ended(End::AuditFailed);
        }
        if let Some(end) = self.reply(&mut session, Reply::Ok).await {
            return Serv::Ended(end);
        }
        info!(station = %station.name, session = %session_id, "pass-through started");
        let station::Linked {
            session: link,
            station_id,
            ..
        } = link;
        let watch = receipts::ReceiptWatch {
            shared: &self.shared,
            station_name: &station.name,
            station_id: &station_id,
            user_exported: Some(self.principal.exported()),
            conn: self.conn_id,
        };
        let registry = &self.shared.registry;
        let released = || registry.take_released(lease.session_id);
        let (end, counts) = relay::run(
            session,
            link,
            self.registration.cancelled(),
            self.expires_at,
            &watch,
            &released,
        )
        .await;
        let reason = end.reason();
        info!(reason = %reason, blocks_up = counts.up, blocks_down = counts.down, "pass-through ended");
        let event = audit::serv_end(
            self.conn_id,
            &self.principal,
            &session_id,
            counts.up,
            counts.down,
            &reason,
        );
        if let Err(e) = self.shared.audit.append(event).await {
            warn!(error = %e, "cannot audit the end of a pass-through");
        }
        drop(lease);
        Serv::Ended(match end {
            RelayEnd::Cancelled => End::Cancelled,
            RelayEnd::Expired => End::Expired,
            RelayEnd::Finished | RelayEnd::Failed(_) => End::Relayed,
        })
    }

    async fn deny_serv(
        &self,
        session: &mut Session<TcpStream>,
        service: u32,
        reply: Reply,
        reason: &str,
    ) -> Option<End> {
        info!(service, reply = reply.word(), reason, "SERV refused");
        let event = audit::serv_deny(self.conn_id, &self.principal, service, reply.word(), reason);
        if !self.record_within(flood::Kind::ServDeny, event).await {
            return Some(End::AuditFailed);
        }
        self.reply(session, reply).await
    }
}
