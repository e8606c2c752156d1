//! Station types: stations with identical resources (drive kind and services) consolidated
//! into the types LIST offers and BIND reserves from. Built once from the config; the ids are
//! stable for the life of the process.

use burnstand_wire::command::{ServiceType, StationType};

use crate::config::{Config, Service};

/// Stations with identical resources (drive kind and services), consolidated into one type.
#[derive(Debug, Clone)]
pub struct TypeEntry {
    /// What LIST sends for this type.
    pub record: StationType,
    /// Indexes into [`Config::stations`], in config order.
    pub stations: Vec<usize>,
}

/// Builds the station types from the config: ids count from 1 in order of first appearance,
/// so they are stable for the life of the process (a reload keeps them: see `roster.rs`).
pub fn station_types(config: &Config) -> Vec<TypeEntry> {
    let mut types: Vec<(String, Vec<Service>, TypeEntry)> = Vec::new();
    for (index, station) in config.stations.iter().enumerate() {
        if let Some((_, _, entry)) = types
            .iter_mut()
            .find(|(drive, services, _)| *drive == station.drive && *services == station.services)
        {
            entry.stations.push(index);
            continue;
        }
        let id = u32::try_from(types.len() + 1).unwrap_or(u32::MAX);
        let record = describe(id, &station.drive, &station.services);
        types.push((
            station.drive.clone(),
            station.services.clone(),
            TypeEntry {
                record,
                stations: vec![index],
            },
        ));
    }
    types.into_iter().map(|(_, _, entry)| entry).collect()
}

pub(super) fn describe(id: u32, drive: &str, services: &[Service]) -> StationType {
    let services: Vec<ServiceType> = services
        .iter()
        .map(|service| ServiceType {
            id: service.id(),
            name: service.name().to_owned(),
            description: format!("{} ({drive} drive)", service_description(*service)),
        })
        .collect();
    let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
    StationType {
        id,
        name: format!("{drive} {}", names.join(" + ")),
        description: format!("{drive} drive; services: {}", names.join(", ")),
        services,
    }
}

fn service_description(service: Service) -> &'static str {
    match service {
        Service::Burner => "burns restricted disc images under audit",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE_TEXT: &str = include_str!("../../../docs/master.example.toml");

    /// The documented example, reading the documented example policy.
    fn example() -> String {
        EXAMPLE_TEXT.replace(
            "/etc/burnstand/policy.toml",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/policy.example.toml"),
        )
    }

    #[test]
    fn identical_stations_share_one_type_with_ids_in_file_order() {
        let config = Config::from_toml(&example()).expect("the documented example is valid");
        let types = station_types(&config);
        let summary: Vec<(u32, &str, &[usize])> = types
            .iter()
            .map(|t| (t.record.id, t.record.name.as_str(), t.stations.as_slice()))
            .collect();
        assert_eq!(
            summary,
            [(1, "DVD burner", &[0, 1][..]), (2, "BD burner", &[2][..])]
        );
        let burner = &types[0].record.services[0];
        assert_eq!(
            (burner.id, burner.name.as_str()),
            (ServiceType::BURNER, "burner")
        );
        assert_eq!(types[0].record.description, "DVD drive; services: burner");
    }

    /// The LIST example of `docs/protocol.md` §5.
    #[test]
    fn the_documented_list_reply() {
        let record = describe(1, "DVD", &[Service::Burner]);
        let hex: String = burnstand_wire::datastream::to_bytes(&vec![record])
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let expected = concat!(
            "00000001", // one station type
            "00000001", // id 1
            "00000001", // one service:
            "00000001", //   id 1 (burner)
            "0000000c",
            "006200750072006e00650072", // "burner"
            "00000068",                 // "burns restricted disc images under audit (DVD drive)"
            "006200750072006e0073002000720065007300740072006900630074006500640020006400690073",
            "006300200069006d006100670065007300200075006e006400650072002000610075006400690074",
            "002000280044005600440020006400720069007600650029",
            "00000014",
            "0044005600440020006200750072006e00650072", // "DVD burner"
            "00000036",                                 // "DVD drive; services: burner"
            "004400560044002000640072006900760065003b002000730065007200760069006300650073003a",
            "0020006200750072006e00650072",
        );
        assert_eq!(hex, expected);
    }

    #[test]
    fn the_example_documents_the_defaults() {
        let config = Config::from_toml(&example()).expect("valid");
        let defaults = crate::config::Limits::default();
        let limits = &config.limits;
        assert_eq!(
            (
                limits.max_connections,
                limits.max_unauthenticated,
                limits.max_connections_per_user
            ),
            (
                defaults.max_connections,
                defaults.max_unauthenticated,
                defaults.max_connections_per_user
            )
        );
        assert_eq!(
            [
                limits.handshake_timeout,
                limits.idle_timeout,
                limits.reservation_idle_timeout,
                limits.drain_deadline
            ],
            [
                defaults.handshake_timeout,
                defaults.idle_timeout,
                defaults.reservation_idle_timeout,
                defaults.drain_deadline
            ]
        );
        assert_eq!(
            [limits.station_timeout, limits.station_retry_after],
            [defaults.station_timeout, defaults.station_retry_after]
        );
    }
}
