//! The checks that ask the KDC: a ticket from the station's keytab (`kinit -k`) into a private
//! temporary cache, the clock offset MIT records in it, and a service ticket for each trusted
//! master (`kvno`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use burnstand_wire::gss::ccache::{kdc_clock_of_file, KdcClock};

use super::{probe, Report, Status};
use crate::config::Config;

/// Skew from which the doctor warns: clocks that far apart drift further; an NTP client
/// (chrony, systemd-timesyncd) keeps them within a second.
pub const SKEW_WARN: Duration = Duration::from_secs(10);
/// Skew from which the doctor fails: half of MIT's default `clockskew` (300 s), beyond which
/// every authentication to this station is refused.
pub const SKEW_FAIL: Duration = Duration::from_secs(150);

/// `kinit -k` with the station's keytab into a private cache: the key is current at the KDC,
/// the clock offset MIT measured, and each trusted master known to the KDC (`kvno`).
pub(super) fn probe_kdc(config: &Config, out: &mut Report) {
    let dir = match PrivateDir::create() {
        Ok(dir) => dir,
        Err(e) => {
            out.fail(
                "clock",
                format!(
                    "cannot make a temporary directory for the probe ticket: {e}; check TMPDIR"
                ),
            );
            return;
        }
    };
    let cache = dir.0.join("ccache");
    let cache_name = format!("FILE:{}", cache.display());
    let kinit = probe(
        Command::new("kinit")
            .arg("-k")
            .arg("-t")
            .arg(&config.keytab)
            .arg("-c")
            .arg(&cache_name)
            .arg(&config.principal),
    );
    if let Err(e) = kinit {
        out.fail(
            "clock",
            format!(
                "cannot get a ticket with the station's key (`kinit -k -t {} {}`): {e}; is the \
                 KDC reachable (krb5.conf), and is the keytab's key current (re-export it with \
                 ktadd -norandkey after a key change)?",
                config.keytab.display(),
                config.principal
            ),
        );
        out.skip(
            "masters",
            "the KDC check of the trusted masters needs a ticket",
        );
        return;
    }
    clock(&cache, out);
    for master in &config.trusted_masters {
        match probe(Command::new("kvno").arg("-c").arg(&cache_name).arg(master)) {
            Ok(_) => out.ok("masters", format!("the KDC knows {master}")),
            Err(e) => out.fail(
                "masters",
                format!(
                    "the KDC gives no ticket for trusted master {master}: {e}; create the \
                     master's principal, or correct `trusted_masters`"
                ),
            ),
        }
    }
}

/// The KDC time offset recorded in the probe's cache.
fn clock(cache: &Path, out: &mut Report) {
    let (status, message) = match kdc_clock_of_file(cache) {
        Ok(KdcClock::Offset { micros }) => judge_skew(micros),
        Ok(KdcClock::NotRecorded) => (
            Status::Warn,
            "not measured: krb5.conf has kdc_timesync = 0; compare the clock with the KDC's by \
             hand"
                .to_owned(),
        ),
        Ok(KdcClock::Unknown) => (
            Status::Warn,
            "not measured: kinit wrote a cache without a version-4 header".to_owned(),
        ),
        Err(e) => (
            Status::Warn,
            format!("not measured: cannot read the probe's cache: {e}"),
        ),
    };
    out.push(status, "clock", message);
}

/// What a KDC time offset (`KDC − local`, microseconds) means for the station.
pub fn judge_skew(micros: i64) -> (Status, String) {
    let skew = Duration::from_micros(micros.unsigned_abs());
    let said = format!(
        "this clock is {} s {} the KDC's",
        skew.as_secs(),
        if micros > 0 { "behind" } else { "ahead of" }
    );
    if skew >= SKEW_FAIL {
        (
            Status::Fail,
            format!(
                "{said}: Kerberos refuses authenticators beyond 300 s; set the clock and run an \
                 NTP client (chrony)"
            ),
        )
    } else if skew >= SKEW_WARN {
        (
            Status::Warn,
            format!("{said}; run an NTP client (chrony, systemd-timesyncd)"),
        )
    } else {
        (
            Status::Ok,
            format!("within {} s of the KDC's", SKEW_WARN.as_secs()),
        )
    }
}

/// A directory only this user can enter, removed on drop: the probe ticket's cache.
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn create() -> std::io::Result<PrivateDir> {
        use std::os::unix::fs::DirBuilderExt;
        let path = std::env::temp_dir().join(format!("burnstand-doctor-{}", uuid::Uuid::new_v4()));
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(PrivateDir(path))
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_is_judged_against_mits_tolerance() {
        assert_eq!(judge_skew(0).0, Status::Ok);
        assert_eq!(judge_skew(-9_999_999).0, Status::Ok);
        let (status, text) = judge_skew(-30_000_000);
        assert_eq!(status, Status::Warn);
        assert!(text.contains("30 s ahead of the KDC's"), "{text}");
        let (status, text) = judge_skew(150_000_000);
        assert_eq!(status, Status::Fail);
        assert!(text.contains("150 s behind the KDC's"), "{text}");
    }
}
