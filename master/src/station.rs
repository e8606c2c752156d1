//! The master's links to a station daemon: one opened for each SERV, and the control link
//! ([`crate::control`]), both starting with [`connect`].
//!
//! The master authenticates to the station as **itself** (initiator credentials from its
//! keytab, via KRB5_CLIENT_KTNAME), never as the user: the station trusts the master's
//! principal and learns the user from the [`Identity`] block sent right after the station's
//! OK. The station handshake (the remote-laboratory design's "Backend Server") is: GSSAPI,
//! then the station sends OK (with its link version and id, `docs/protocol.md` §4.4) or
//! ERRNOTAVL; the master says what the link is for (a session with its identity block, or
//! the control link), then pass-through starts.

use std::time::Duration;

use burnstand_wire::command::Identity;
use burnstand_wire::gss::Cred;
use burnstand_wire::io::{Session, Unauthenticated};
use burnstand_wire::link::{LinkOpen, StationHello};
use burnstand_wire::IoError;
use tokio::net::TcpStream;

use crate::config::StationConfig;
use crate::error::{Error, Result};

/// An authenticated link to a station that said it can serve, and the id it presented.
pub struct Linked {
    pub session: Session<TcpStream>,
    pub station_id: String,
    /// The link protocol version the station speaks (2 or 3).
    pub version: u32,
}

/// Connects to `station`, authenticates, and waits for its hello (link protocol version 2
/// or 3).
///
/// Each step is bounded by `timeout`. Any failure means the station is unavailable.
pub async fn connect(station: &StationConfig, cred: Cred, timeout: Duration) -> Result<Linked> {
    let timed_out = || Error::StationTimeout {
        station: station.name.clone(),
        timeout,
    };
    let connect_err = |reason: String| Error::StationConnect {
        station: station.name.clone(),
        address: station.address.clone(),
        reason,
    };
    let tcp = tokio::time::timeout(timeout, TcpStream::connect(&station.address))
        .await
        .map_err(|_| connect_err(format!("no connection within {timeout:?}")))?
        .map_err(|e| connect_err(e.to_string()))?;
    tcp.set_nodelay(true)?;
    let mut session = Unauthenticated::new(tcp)
        .initiate(cred, &station.principal, timeout)
        .await?;
    tracing::info!(
        station = %station.name,
        protection = %session.protection().path(),
        "station link protected"
    );
    // Mutual authentication already proved the station holds the key of the principal we
    // named; checking the exported name again costs nothing and guards against name aliasing.
    if session.peer().exported() != station.principal_exported.as_slice() {
        return Err(Error::StationImpostor {
            station: station.name.clone(),
            expected: station.principal.clone(),
            found: session.peer().as_str().to_owned(),
        });
    }
    let hello = tokio::time::timeout(timeout, session.recv::<StationHello>())
        .await
        .map_err(|_| timed_out())?;
    match hello {
        Ok(StationHello::Ready {
            station_id,
            version,
        }) => Ok(Linked {
            session,
            station_id,
            version,
        }),
        Ok(StationHello::NotAvailable) => Err(Error::StationRefused {
            station: station.name.clone(),
            reply: "ERRNOTAVL".to_owned(),
        }),
        Err(IoError::Codec(burnstand_wire::Error::UnsupportedVersion { found, supported })) => {
            Err(Error::StationLink {
                station: station.name.clone(),
                reason: format!(
                    "it speaks link protocol version {found}, this master needs {supported}: \
                     upgrade burnstand-station on that host"
                ),
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// Opens a link for a user's module connection: [`connect`], then the identity block.
pub async fn open_session(
    station: &StationConfig,
    cred: Cred,
    identity: &Identity,
    timeout: Duration,
) -> Result<Linked> {
    let mut linked = connect(station, cred, timeout).await?;
    linked
        .session
        .send(&LinkOpen::Session(identity.clone()))
        .await?;
    Ok(linked)
}

#[cfg(test)]
mod tests {
    use burnstand_wire::command::Identity;
    use burnstand_wire::datastream::to_bytes;
    use burnstand_wire::gss::Principal;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The identity block example of `docs/protocol.md` §5.
    #[test]
    fn the_documented_identity_block() {
        let exported = Principal::parse("alice@BURNSTAND.TEST")
            .expect("name")
            .exported()
            .to_vec();
        let exported_hex = concat!(
            "0401", // TOK_ID: exported name
            "000b",
            "06092a864886f712010202", // mechanism OID 1.2.840.113554.1.2.2 (krb5), DER
            "00000014",
            "616c696365404255524e5354414e442e54455354", // "alice@BURNSTAND.TEST"
        );
        assert_eq!(hex(&exported), exported_hex);
        let identity = Identity {
            user: "alice@BURNSTAND.TEST".into(),
            user_exported_name: exported,
            session_id: "0b8f7c3e-5d1a-4e2b-9c47-2f6d8e1a3b50".into(),
            client_address: "127.0.0.1:40000".into(),
        };
        let expected = concat!(
            "00000028", // user: TQString of 40 bytes
            "0061006c0069006300650040004200550052004e005300540041004e0044002e0054004500530054",
            "00000027", // user_exported_name: TQByteArray of 39 bytes
            "0401000b06092a864886f71201020200000014616c696365404255524e5354414e442e54455354",
            "00000048", // session_id: TQString of 72 bytes (36 characters)
            "00300062003800660037006300330065002d0035006400310061002d0034006500320062002d",
            "0039006300340037002d003200660036006400380065003100610033006200350030",
            "0000001e", // client_address: TQString of 30 bytes
            "003100320037002e0030002e0030002e0031003a00340030003000300030",
        );
        assert_eq!(hex(&to_bytes(&identity)), expected);
    }
}
