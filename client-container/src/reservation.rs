//! A reserved station with its burner module open: what `images`, `burn`, `status` and
//! `eject` work on.
//!
//! [`Reservation::open`] follows the remote-laboratory design: the container connection logs in, LISTs, picks the
//! station type and BINDs (holding the reservation on that connection); then a second
//! connection, the burner module, logs in and SERVs the burner service; CAPAB says which
//! station it is. [`Reservation::release`] sends QUIT on the container connection, which ends
//! every connection of the user at the master and frees the station. If burnstand dies
//! instead, the master notices the container connection closing and does the same.
//!
//! Only the connection holding the reservation ever sends QUIT: the master answers QUIT on
//! any connection by closing all of the user's connections, so a `burnstand list` that said
//! QUIT would end the same user's burn in another terminal.

use burnstand_wire::burner::Capabilities;
use burnstand_wire::command::{ServiceType, StationType};

use crate::config::Settings;
use crate::master::MasterConnection;
use crate::module::BurnerModule;
use crate::ticket::Ticket;
use crate::ClientError;

/// A reservation held on a container connection, with its burner module.
pub struct Reservation {
    container: MasterConnection,
    pub module: BurnerModule,
    /// The station type that was reserved.
    pub station_type: StationType,
    /// The reserved station's answer to CAPAB.
    pub station: Capabilities,
    /// The master's principal, as authenticated.
    pub master: String,
}

impl Reservation {
    /// Reserves a station of the type `wanted` names (see [`select_type`]) and opens its
    /// burner module. On failure after BIND the reservation is released before returning.
    pub async fn open(
        settings: &Settings,
        ticket: &Ticket,
        wanted: Option<&str>,
    ) -> Result<Reservation, ClientError> {
        let mut container = MasterConnection::connect(settings, ticket).await?;
        let types = container.list().await?;
        // Until BIND succeeds this connection holds nothing: on failure it just closes (a
        // QUIT would end the user's other connections, e.g. a burn in another terminal).
        let station_type = match select_type(&types, wanted) {
            Ok(t) => t.clone(),
            Err(e) => {
                container.close();
                return Err(e);
            }
        };
        if let Err(e) = container.bind(&station_type).await {
            container.close();
            return Err(e);
        }
        match open_module(settings, ticket, &station_type).await {
            Ok((module, station)) => Ok(Reservation {
                master: container.master().to_owned(),
                container,
                module,
                station_type,
                station,
            }),
            Err(e) => {
                let _ = container.quit().await;
                Err(e)
            }
        }
    }

    /// QUIT on the container connection: the master closes the module too and frees the
    /// station.
    pub async fn release(self) -> Result<(), ClientError> {
        drop(self.module);
        self.container.quit().await
    }
}

/// The burner service as the station type lists it.
pub fn burner_service(station_type: &StationType) -> Option<&ServiceType> {
    station_type
        .services
        .iter()
        .find(|s| s.id == ServiceType::BURNER)
}

async fn open_module(
    settings: &Settings,
    ticket: &Ticket,
    station_type: &StationType,
) -> Result<(BurnerModule, Capabilities), ClientError> {
    let service = burner_service(station_type).ok_or_else(|| {
        ClientError::NoStationType(format!(
            "station type {} \"{}\" offers no burner service",
            station_type.id, station_type.name
        ))
    })?;
    let connection = MasterConnection::connect(settings, ticket).await?;
    let local = connection.local_address();
    let session = connection.serv(service).await?;
    let mut module = BurnerModule::new(session, local);
    let cap = module.capabilities().await?;
    Ok((module, cap))
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
