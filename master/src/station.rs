//! The master's link to a station daemon, opened for each SERV.
//!
//! The master authenticates to the station as **itself** (initiator credentials from its
//! keytab, via KRB5_CLIENT_KTNAME), never as the user: the station trusts the master's
//! principal and learns the user from the [`Identity`] block sent right after the station's
//! OK. The station handshake (seed 003, "Backend Server") is: GSSAPI, then the station sends
//! OK or ERRNOTAVL; burnstand adds the identity block, then pass-through starts.

use std::time::Duration;

use burnstand_wire::command::{Identity, Reply};
use burnstand_wire::gss::Cred;
use burnstand_wire::io::{Session, Unauthenticated};
use tokio::net::TcpStream;

use crate::config::StationConfig;
use crate::error::{Error, Result};
use crate::stream::SharedTcp;

/// Connects to `station`, authenticates, waits for its OK and sends `identity`.
///
/// Each step is bounded by `timeout`. Any failure means the station is unavailable for this
/// SERV (the client gets ERRNOTAVL).
pub async fn open(
    station: &StationConfig,
    cred: Cred,
    identity: &Identity,
    timeout: Duration,
) -> Result<Session<SharedTcp>> {
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
    let mut session = Unauthenticated::new(SharedTcp::new(tcp))
        .initiate(cred, &station.principal, timeout)
        .await?;
    // Mutual authentication already proved the station holds the key of the principal we
    // named; checking the exported name again costs nothing and guards against name aliasing.
    if session.peer().exported() != station.principal_exported.as_slice() {
        return Err(Error::StationImpostor {
            station: station.name.clone(),
            expected: station.principal.clone(),
            found: session.peer().as_str().to_owned(),
        });
    }
    let reply = tokio::time::timeout(timeout, session.recv::<Reply>())
        .await
        .map_err(|_| timed_out())??;
    if reply != Reply::Ok {
        return Err(Error::StationRefused {
            station: station.name.clone(),
            reply: reply.word().to_owned(),
        });
    }
    session.send(identity).await?;
    Ok(session)
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
            prior_burns: Vec::new(),
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
            "00000000", // prior_burns: an empty TQValueList
        );
        assert_eq!(hex(&to_bytes(&identity)), expected);
    }
}
