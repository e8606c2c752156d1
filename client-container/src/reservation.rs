//! A reserved station with its burner module open: what `images`, `burn`, `status` and
//! `eject` work on.
//!
//! [`Reservation::open`] follows the remote-laboratory design: the container connection logs
//! in, lists the station types (LISTX, or LIST from an old master), picks one and reserves a
//! station (RESERVE, waiting in the queue if asked; BIND on an old master), holding the
//! reservation on that connection ([`crate::reserve`]); then a second connection, the burner
//! module, logs in and SERVs the burner service; CAPAB says which station it is.
//! [`Reservation::release`] sends QUIT on the container connection, which ends every
//! connection of the user at the master and frees the station. If burnstand dies instead, the
//! master notices the container connection closing and does the same.
//!
//! When `burnstand reserve` holds a station (a live holder process, [`crate::holder`]), no
//! container connection is opened at all: the module's SERV goes to the held station, and
//! nothing is released afterwards.
//!
//! Only the connection holding the reservation ever sends QUIT: the master answers QUIT on
//! any connection by closing all of the user's connections, so a `burnstand list` that said
//! QUIT would end the same user's burn in another terminal.

use burnstand_wire::burner::Capabilities;
use burnstand_wire::command::{ServiceType, StationType};
use burnstand_wire::farm::ReservedStation;
use tokio::task::AbortHandle;

use crate::config::Settings;
use crate::holder::{self, state::HeldState};
use crate::master::MasterConnection;
use crate::module::BurnerModule;
use crate::output::Output;
use crate::queue::TerminalUi;
use crate::reserve::{reserve_station, Rejoin, Want};
use crate::signals::Stop;
use crate::ticket::Ticket;
use crate::ClientError;

/// A reservation held on a container connection (or by `burnstand reserve`), with its burner
/// module.
pub struct Reservation {
    /// `None` when `burnstand reserve` holds the station.
    container: Option<MasterConnection>,
    /// Ctrl-C after a queue wait: ends burnstand until the burn takes Ctrl-C over.
    ctrl_c: Option<AbortHandle>,
    pub module: BurnerModule,
    /// The station type that was reserved.
    pub station_type: StationType,
    /// The reserved station's answer to CAPAB.
    pub station: Capabilities,
    /// The master's principal, as authenticated.
    pub master: String,
    /// The station RESERVE named, with its location; `None` after BIND (an old master).
    pub reserved: Option<ReservedStation>,
    /// Every station RESERVE reserved (more than one for a job over several drives, see
    /// [`crate::job`]); empty after BIND. The module above is open to one of them.
    pub reserved_all: Vec<ReservedStation>,
    /// The reservation's session id, when RESERVE said it.
    pub session_id: Option<String>,
    /// Held by `burnstand reserve`: [`Reservation::release`] leaves it held.
    pub held: bool,
}

impl Reservation {
    /// Uses the station `burnstand reserve` holds, if a holder runs; else reserves a station
    /// as `want` says (see [`reserve_station`]). Then opens the burner module. On failure
    /// after the reservation, it is released before returning.
    pub async fn open(
        settings: &Settings,
        ticket: &Ticket,
        want: &Want,
        out: &Output,
    ) -> Result<Reservation, ClientError> {
        if let Some(held) = holder::find_live(settings, ticket.principal(), out) {
            return Reservation::open_held(settings, ticket, want, held, out).await;
        }
        let mut container = MasterConnection::connect(settings, ticket).await?;
        let mut ui = TerminalUi::new(*out);
        let mut stop = Stop::none();
        // Until the reservation is made this connection holds nothing: on failure it just
        // closes (a QUIT would end the user's other connections, e.g. a burn in another
        // terminal).
        let rejoin = Some(Rejoin { settings, ticket });
        let got =
            match reserve_station(&mut container, want, false, &mut ui, &mut stop, rejoin).await {
                Ok(got) => got,
                Err(e) => {
                    drop(ui);
                    container.close();
                    return Err(e);
                }
            };
        drop(ui);
        let ctrl_c = stop.exit_on_signal(*out);
        let (reserved_all, session_id) = match got.reserved {
            Some(r) => (r.stations, Some(r.session_id)),
            None => (Vec::new(), None),
        };
        let reserved = reserved_all.first().cloned();
        match open_module(settings, ticket, &got.station_type).await {
            Ok((module, station, _)) => Ok(Reservation {
                master: container.master().to_owned(),
                container: Some(container),
                ctrl_c,
                module,
                station_type: got.station_type,
                station,
                reserved,
                reserved_all,
                session_id,
                held: false,
            }),
            Err(e) => {
                let _ = container.quit().await;
                Err(e)
            }
        }
    }

    /// The station a holder process holds: only the module connection.
    async fn open_held(
        settings: &Settings,
        ticket: &Ticket,
        want: &Want,
        held: HeldState,
        out: &Output,
    ) -> Result<Reservation, ClientError> {
        holder::check_matches(&held, want)?;
        out.note(&format!(
            "using your reservation of {} (held by `burnstand reserve` since {}; `burnstand release` ends it)",
            held.station_text(),
            held.since
        ));
        let station_type = held.station_type.to_station_type();
        let (module, station, master) = open_module(settings, ticket, &station_type)
            .await
            .map_err(|e| match e {
                ClientError::ReservationLost => ClientError::Relayed {
                    code: e.exit_code(),
                    message: format!(
                        "the master no longer has your reservation of {} (ERRNOCONN): it ended with your ticket or was released by the lab staff\n  run `burnstand release` to tidy up, then `burnstand reserve` again",
                        held.station_text()
                    ),
                },
                other => other,
            })?;
        Ok(Reservation {
            container: None,
            ctrl_c: None,
            module,
            station_type,
            station,
            master,
            reserved: Some(ReservedStation {
                name: held.station.clone(),
                location: held.location.clone(),
            }),
            reserved_all: vec![ReservedStation {
                name: held.station,
                location: held.location,
            }],
            session_id: Some(held.session_id),
            held: true,
        })
    }

    /// The burn handles Ctrl-C itself (it cancels at the station): stop ending burnstand on it.
    pub fn take_over_ctrl_c(&mut self) {
        if let Some(task) = self.ctrl_c.take() {
            task.abort();
        }
    }

    /// QUIT on the container connection: the master closes the module too and frees the
    /// station. A station held by `burnstand reserve` stays held: only the module closes.
    pub async fn release(mut self) -> Result<(), ClientError> {
        self.take_over_ctrl_c();
        drop(self.module);
        match self.container {
            Some(container) => container.quit().await,
            None => Ok(()),
        }
    }
}

/// The burner service as the station type lists it.
pub fn burner_service(station_type: &StationType) -> Option<&ServiceType> {
    station_type
        .services
        .iter()
        .find(|s| s.id == ServiceType::BURNER)
}

/// Opens the burner module: a connection that SERVs the burner service of the reserved
/// station (with several reserved, the master picks the one with the fewest modules open);
/// returns it with the station's CAPAB and the master's principal.
pub async fn open_module(
    settings: &Settings,
    ticket: &Ticket,
    station_type: &StationType,
) -> Result<(BurnerModule, Capabilities, String), ClientError> {
    let service = burner_service(station_type).ok_or_else(|| {
        ClientError::NoStationType(format!(
            "station type {} \"{}\" offers no burner service",
            station_type.id, station_type.name
        ))
    })?;
    let connection = MasterConnection::connect(settings, ticket).await?;
    let local = connection.local_address();
    let master = connection.master().to_owned();
    let session = connection.serv(service).await?;
    let mut module = BurnerModule::new(session, local);
    let cap = module.capabilities().await?;
    Ok((module, cap, master))
}

/// Picks the station type to reserve among those LIST offered: `wanted` is an id (`1`) or a
/// name (`"DVD burner"`, any case); without it, the only burner type there is.
pub fn select_type<'a>(
    types: &'a [StationType],
    wanted: Option<&str>,
) -> Result<&'a StationType, ClientError> {
    let burners: Vec<&StationType> = types
        .iter()
        .filter(|t| burner_service(t).is_some())
        .collect();
    let listing = || {
        burners
            .iter()
            .map(|t| format!("{} \"{}\"", t.id, t.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if burners.is_empty() {
        return Err(ClientError::NoStationType(
            "the master offers you no burner station: none is up right now, or you are on no station's access list (ask the lab staff)"
                .to_owned(),
        ));
    }
    match wanted {
        Some(wanted) => {
            let wanted = wanted.trim();
            let by_id = wanted.parse::<u32>().ok();
            burners
                .iter()
                .copied()
                .find(|t| Some(t.id) == by_id || t.name.eq_ignore_ascii_case(wanted))
                .ok_or_else(|| {
                    ClientError::NoStationType(format!(
                        "no station type {wanted:?} is offered to you; choose one of: {}",
                        listing()
                    ))
                })
        }
        None if burners.len() == 1 => Ok(burners[0]),
        None => Err(ClientError::Usage(format!(
            "there are several station types; choose one with --type: {}",
            listing()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn station_type(id: u32, name: &str, burner: bool) -> StationType {
        StationType {
            id,
            services: if burner {
                vec![ServiceType {
                    id: ServiceType::BURNER,
                    name: "burner".into(),
                    description: "burns".into(),
                }]
            } else {
                vec![]
            },
            name: name.into(),
            description: String::new(),
        }
    }

    #[test]
    fn the_only_burner_type_is_the_default() {
        let types = [
            station_type(1, "DVD burner", true),
            station_type(2, "scope", false),
        ];
        assert_eq!(select_type(&types, None).unwrap().id, 1);
    }

    #[test]
    fn a_type_is_chosen_by_id_or_by_name() {
        let types = [
            station_type(1, "DVD burner", true),
            station_type(2, "BD burner", true),
        ];
        assert_eq!(select_type(&types, Some("2")).unwrap().id, 2);
        assert_eq!(select_type(&types, Some("dvd BURNER")).unwrap().id, 1);
        let several = select_type(&types, None).unwrap_err();
        assert_eq!(several.exit_code(), 2);
        assert!(several
            .to_string()
            .contains("1 \"DVD burner\", 2 \"BD burner\""));
        let unknown = select_type(&types, Some("CD burner")).unwrap_err();
        assert_eq!(unknown.exit_code(), 11);
    }

    #[test]
    fn no_burner_type_says_why() {
        let e = select_type(&[], None).unwrap_err();
        assert_eq!(e.exit_code(), 11);
        assert!(e.to_string().contains("access list"));
    }
}
