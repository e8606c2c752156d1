//! The station's configuration file (TOML); `docs/station.example.toml` is a commented example
//! and `docs/station.md` the reference.
//!
//! Parsing is strict (unknown keys are errors, so a typo cannot silently leave a default in
//! place) and validation happens here, once, so the rest of the daemon works with values that
//! make sense: a drive that is either a real device or an explicitly enabled file, a non-empty
//! list of trusted masters, absolute paths.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use burnstand_wire::burner::DriveKind;
use serde::Deserialize;

use crate::error::{Result, StationError};

/// Largest configuration file read, so a wrong path (a disc image, /dev/zero) fails fast.
pub const MAX_CONFIG_LEN: u64 = 1024 * 1024;

/// Longest `friendly_name`, in characters: it is sent in every CAP (at most 1 KiB there).
pub const MAX_FRIENDLY_NAME_LEN: usize = 256;

/// Longest `station_id`, in characters: it is sent in every CAP and written into every audit
/// record and receipt (at most 768 bytes of escaped JSON there).
pub const MAX_STATION_ID_LEN: usize = 128;

/// The whole configuration, as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the station listens for the master, e.g. `"0.0.0.0:4711"`.
    pub listen: SocketAddr,
    /// The station's own service principal, e.g. `burnstand-station/lab2-pc1@CAMPUS.EDU`.
    pub principal: String,
    /// The keytab holding the key of `principal`; `main` points `KRB5_KTNAME` at it.
    pub keytab: PathBuf,
    /// A krb5.conf to use instead of the system one (`KRB5_CONFIG`); optional.
    #[serde(default)]
    pub krb5_config: Option<PathBuf>,
    /// Principals of the masters allowed to connect. Nobody else is served.
    pub trusted_masters: Vec<String>,
    /// A name for people: shown by displays and in CAP.
    pub friendly_name: String,
    /// A stable identifier for this station (burner-farm design: "something identifiable").
    /// Unset: a UUID made at first start and kept in `state_dir/station-id` (see
    /// [`crate::station_id`]).
    #[serde(default)]
    pub station_id: Option<String>,
    /// The directory of images and their `.toml` sidecars.
    pub catalog: PathBuf,
    /// A directory the station may write: the digest cache lives here.
    pub state_dir: PathBuf,
    /// The audit log file (hash-chained JSON Lines, shared format with the master).
    pub audit_log: PathBuf,
    /// The policy file (`docs/policy.md`): who may burn which image, how many copies. The
    /// station has the final say for its drive, so it reads the same file as the master.
    pub policy: PathBuf,
    /// The drive.
    pub drive: DriveSection,
    /// Time an unauthenticated peer gets to finish the Kerberos handshake, and the master to
    /// send the identity block, in seconds.
    #[serde(default = "default_handshake_timeout")]
    pub handshake_timeout_secs: u64,
    /// How often an idle session is told AVAIL or EMPTY (burner-farm design: "repeat occasionally"), in
    /// seconds; 0 turns it off.
    #[serde(default = "default_idle_report")]
    pub idle_report_secs: u64,
    /// How often the station checks on its own that its drive can be used while a master
    /// watches its state (`docs/protocol.md` §5.10.1), in seconds; 0 turns it off. Without it
    /// a drive that breaks while idle shows as idle until a session is refused.
    #[serde(default = "default_drive_check")]
    pub drive_check_secs: u64,
    /// Whether the tray is opened after every burn (burner-farm design: "possibly pops tray open
    /// itself"). Between copies of a multi-copy burn it is always opened.
    #[serde(default = "default_true")]
    pub eject_after_burn: bool,
    /// How long to wait for the next blank disc between copies, in seconds.
    #[serde(default = "default_medium_wait")]
    pub medium_wait_secs: u64,
    /// Most connections served at once; more are closed on accept.
    #[serde(default = "default_max_sessions")]
    pub max_sessions: usize,
    /// Connections still in the Kerberos handshake at once: a separate, smaller budget, so
    /// peers that never authenticate can never take the master's session slots.
    #[serde(default = "default_max_unauthenticated")]
    pub max_unauthenticated: usize,
    /// Below this many bytes free on the audit log's filesystem, new sessions are refused
    /// (ERRNOTAVL); running ones go on. 0 turns the check off.
    #[serde(default = "default_min_free_bytes")]
    pub min_free_bytes: u64,
    /// Image push (`[push]`): who may push images into the catalog, and how large.
    #[serde(default)]
    pub push: crate::push::PushSection,
    /// Whether sessions move from MIT's wrap/unwrap to the Rust RFC 4121 fast path after the
    /// handshake, where the context allows it (AES enctypes). Off, or when the fast path's
    /// start-up self-test fails, every session stays on MIT.
    #[serde(default = "default_true")]
    pub fast_path: bool,
    /// The audit log's lifecycle (`[audit]`): rotation and head export.
    #[serde(default)]
    pub audit: burnstand_audit::AuditSettings,
}

/// The `[drive]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriveSection {
    /// What the drive writes: `"CD"`, `"DVD"` or `"BD"`.
    pub kind: String,
    /// A real optical drive, e.g. `/dev/sr0`: burned with `-ban_stdio_write`.
    #[serde(default)]
    pub device: Option<PathBuf>,
    /// A file used as a pseudo-drive (`stdio:`), for tests and demos only. Requires
    /// `allow_file_drive = true`.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// Must be `true` for `file` to be accepted: a file drive burns nothing physical, and
    /// enabling one must be a visible decision.
    #[serde(default)]
    pub allow_file_drive: bool,
    /// Write speed passed to xorriso as `speed=N` (omitted: the drive's maximum).
    #[serde(default)]
    pub speed: Option<u32>,
    /// The xorriso binary (default: `xorriso` from PATH).
    #[serde(default)]
    pub xorriso: Option<PathBuf>,
}

fn default_handshake_timeout() -> u64 {
    burnstand_wire::limits::HANDSHAKE_TIMEOUT.as_secs()
}
fn default_idle_report() -> u64 {
    10
}
fn default_drive_check() -> u64 {
    10
}
fn default_true() -> bool {
    true
}
fn default_medium_wait() -> u64 {
    600
}
fn default_max_sessions() -> usize {
    16
}

fn default_max_unauthenticated() -> usize {
    32
}

fn default_min_free_bytes() -> u64 {
    burnstand_audit::space::DEFAULT_MIN_FREE_BYTES
}

/// Where the station writes: a real device or an explicitly enabled file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriveTarget {
    /// A real optical drive.
    Device(PathBuf),
    /// A file pseudo-drive.
    File(PathBuf),
}

impl DriveTarget {
    /// The path of the device or file.
    pub fn path(&self) -> &Path {
        match self {
            DriveTarget::Device(p) | DriveTarget::File(p) => p,
        }
    }
}

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config> {
        let text = burnstand_daemon::read_config_text(path, MAX_CONFIG_LEN)?;
        Config::parse(&text, path)
    }

    /// Parses and validates configuration text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Config> {
        let config: Config = toml::from_str(text).map_err(|e| StationError::Config {
            path: origin.to_owned(),
            message: e.to_string(),
        })?;
        config.validate().map_err(|message| StationError::Config {
            path: origin.to_owned(),
            message,
        })?;
        Ok(config)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if self.principal.trim().is_empty() {
            return Err("`principal` is empty".into());
        }
        if self.trusted_masters.is_empty() {
            return Err("`trusted_masters` is empty: nobody could use this station".into());
        }
        if let Some(bad) = self.trusted_masters.iter().find(|p| p.trim().is_empty()) {
            return Err(format!(
                "`trusted_masters` contains an empty principal {bad:?}"
            ));
        }
        if self.friendly_name.trim().is_empty() {
            return Err("`friendly_name` is empty".into());
        }
        for (what, text, max) in [
            (
                "friendly_name",
                Some(&self.friendly_name),
                MAX_FRIENDLY_NAME_LEN,
            ),
            ("station_id", self.station_id.as_ref(), MAX_STATION_ID_LEN),
        ] {
            let Some(text) = text else { continue };
            if text.chars().count() > max {
                return Err(format!(
                    "`{what}` is longer than {max} characters; shorten it"
                ));
            }
            if text.trim().is_empty() || text.chars().any(char::is_control) {
                return Err(format!(
                    "`{what}` must not be empty or contain control characters"
                ));
            }
        }
        for (what, path) in [
            ("keytab", &self.keytab),
            ("catalog", &self.catalog),
            ("state_dir", &self.state_dir),
            ("audit_log", &self.audit_log),
        ] {
            if !path.is_absolute() {
                return Err(format!(
                    "`{what}` must be an absolute path, not {}",
                    path.display()
                ));
            }
        }
        if self.handshake_timeout_secs == 0 {
            return Err("`handshake_timeout_secs` must be at least 1".into());
        }
        if self.max_sessions == 0 {
            return Err("`max_sessions` must be at least 1".into());
        }
        if self.max_unauthenticated == 0 {
            return Err("`max_unauthenticated` must be at least 1".into());
        }
        self.drive_kind()?;
        self.target()?;
        if self.drive.speed == Some(0) {
            return Err("`drive.speed` must be at least 1 (leave it out for the maximum)".into());
        }
        if let Some(problem) = self.audit.problems(&self.audit_log).into_iter().next() {
            return Err(problem);
        }
        Ok(())
    }

    /// The drive's kind (validated).
    pub fn drive_kind(&self) -> std::result::Result<DriveKind, String> {
        DriveKind::from_word(&self.drive.kind).ok_or_else(|| {
            format!(
                "`drive.kind` is {:?}; use \"CD\", \"DVD\" or \"BD\"",
                self.drive.kind
            )
        })
    }

    /// The drive target (validated): exactly one of `device` and `file`, and `file` only with
    /// `allow_file_drive = true`.
    pub fn target(&self) -> std::result::Result<DriveTarget, String> {
        let d = &self.drive;
        let target = match (&d.device, &d.file) {
            (Some(device), None) => DriveTarget::Device(device.clone()),
            (None, Some(file)) if d.allow_file_drive => DriveTarget::File(file.clone()),
            (None, Some(_)) => {
                return Err("`drive.file` is a pseudo-drive for tests and demos; set \
                            `drive.allow_file_drive = true` to use it"
                    .into())
            }
            (Some(_), Some(_)) => {
                return Err("set either `drive.device` or `drive.file`, not both".into())
            }
            (None, None) => return Err("set `drive.device` (e.g. \"/dev/sr0\")".into()),
        };
        if !target.path().is_absolute() {
            return Err(format!(
                "the drive path must be absolute, not {}",
                target.path().display()
            ));
        }
        // xorriso's cdrecord emulation reads `dev=` itself; a comma or a prefix would change
        // what it addresses.
        let text = target.path().to_string_lossy();
        if text.contains(',') || text.contains(char::is_whitespace) {
            return Err(format!(
                "the drive path {text:?} must not contain commas or white space"
            ));
        }
        Ok(target)
    }

    /// The handshake (and identity block) deadline.
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.handshake_timeout_secs)
    }

    /// The idle AVAIL/EMPTY interval, `None` when turned off.
    pub fn idle_report(&self) -> Option<Duration> {
        (self.idle_report_secs > 0).then(|| Duration::from_secs(self.idle_report_secs))
    }

    /// The drive check's interval while a master watches, `None` when turned off.
    pub fn drive_check(&self) -> Option<Duration> {
        (self.drive_check_secs > 0).then(|| Duration::from_secs(self.drive_check_secs))
    }

    /// How long to wait for a new disc between copies.
    pub fn medium_wait(&self) -> Duration {
        Duration::from_secs(self.medium_wait_secs)
    }

    /// The xorriso program.
    pub fn xorriso(&self) -> PathBuf {
        self.drive
            .xorriso
            .clone()
            .unwrap_or_else(|| PathBuf::from("xorriso"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
listen = "127.0.0.1:4711"
principal = "burnstand-station/localhost@BURNSTAND.TEST"
keytab = "/etc/burnstand/station.keytab"
trusted_masters = ["burnstand/localhost@BURNSTAND.TEST"]
friendly_name = "Lab 2, drive 1"
catalog = "/srv/burnstand/images"
state_dir = "/var/lib/burnstand"
audit_log = "/var/log/burnstand/station.audit"
policy = "/etc/burnstand/policy.toml"
"#;

    fn parse(drive: &str) -> Result<Config> {
        Config::parse(&format!("{BASE}\n[drive]\n{drive}"), Path::new("test.toml"))
    }

    #[test]
    fn a_device_drive_parses_with_defaults() {
        let c = parse("kind = \"DVD\"\ndevice = \"/dev/sr0\"").unwrap();
        assert_eq!(c.target().unwrap(), DriveTarget::Device("/dev/sr0".into()));
        assert_eq!(c.drive_kind().unwrap(), DriveKind::Dvd);
        assert_eq!(c.handshake_timeout(), Duration::from_secs(10));
        assert_eq!(c.idle_report(), Some(Duration::from_secs(10)));
        assert_eq!(c.drive_check(), Some(Duration::from_secs(10)));
        assert!(c.eject_after_burn);
    }

    #[test]
    fn the_documented_example_is_valid() {
        let text = include_str!("../../docs/station.example.toml");
        let c = Config::parse(text, Path::new("docs/station.example.toml")).unwrap();
        assert_eq!(c.target().unwrap(), DriveTarget::Device("/dev/sr0".into()));
        assert_eq!(c.policy, Path::new("/etc/burnstand/policy.toml"));
        assert!(c.push.allow && !c.push.users);
        assert_eq!(c.push.max_image_size, crate::push::DEFAULT_MAX_IMAGE_SIZE);
    }

    #[test]
    fn push_is_for_admins_by_default_and_bounded() {
        let c = parse("kind = \"CD\"\ndevice = \"/dev/sr0\"").unwrap();
        assert!(c.push.allow && !c.push.users);
        let with = |table: &str| {
            let text = format!("kind = \"CD\"\ndevice = \"/dev/sr0\"\n\n[push]\n{table}");
            parse(&text)
        };
        let c = with("users = true\nmax_image_size = 1024").unwrap();
        assert!(c.push.users);
        assert_eq!(c.push.max_image_size, 1024);
        assert_eq!(
            c.push.user_quota_bytes,
            crate::push::DEFAULT_USER_QUOTA_BYTES
        );
        assert_eq!(
            c.push.user_image_lifetime,
            crate::push::DEFAULT_USER_IMAGE_LIFETIME
        );
        assert_eq!(
            c.push.partial_lifetime,
            crate::push::DEFAULT_PARTIAL_LIFETIME
        );
        let c = with(
            "user_quota_bytes = 10\nuser_image_lifetime = \"2h 30m\"\npartial_lifetime = \"90s\"",
        )
        .unwrap();
        assert_eq!(c.push.user_quota_bytes, 10);
        assert_eq!(c.push.user_image_lifetime, Duration::from_secs(9000));
        assert_eq!(c.push.partial_lifetime, Duration::from_secs(90));
        let err = with("partial_lifetime = \"soon\"").unwrap_err();
        assert!(err.to_string().contains("not a duration"), "{err}");
        assert!(with("quota = 5").is_err(), "unknown keys are errors");
    }

    #[test]
    fn a_file_drive_must_be_enabled_explicitly() {
        let err = parse("kind = \"CD\"\nfile = \"/tmp/disc.img\"").unwrap_err();
        assert!(err.to_string().contains("allow_file_drive = true"), "{err}");
        let c = parse("kind = \"CD\"\nfile = \"/tmp/disc.img\"\nallow_file_drive = true").unwrap();
        assert_eq!(
            c.target().unwrap(),
            DriveTarget::File("/tmp/disc.img".into())
        );
    }

    #[test]
    fn mistakes_are_named() {
        for (drive, needle) in [
            ("kind = \"HDDVD\"\ndevice = \"/dev/sr0\"", "drive.kind"),
            ("kind = \"DVD\"", "drive.device"),
            (
                "kind = \"DVD\"\ndevice = \"/dev/sr0\"\nfile = \"/x\"",
                "not both",
            ),
            ("kind = \"DVD\"\ndevice = \"sr0\"", "absolute"),
            ("kind = \"DVD\"\ndevice = \"/dev/sr0,x\"", "commas"),
            ("kind = \"DVD\"\ndevice = \"/dev/sr0\"\nspeed = 0", "speed"),
            (
                "kind = \"DVD\"\ndevice = \"/dev/sr0\"\ncolour = 1",
                "unknown field",
            ),
        ] {
            let err = parse(drive).unwrap_err().to_string();
            assert!(err.contains(needle), "{drive:?}: {err}");
        }
        let long_name = BASE.replace(
            "friendly_name = \"Lab 2, drive 1\"",
            &format!(
                "friendly_name = \"{}\"",
                "x".repeat(MAX_FRIENDLY_NAME_LEN + 1)
            ),
        );
        let err = Config::parse(
            &format!("{long_name}\n[drive]\nkind=\"CD\"\ndevice=\"/dev/sr0\""),
            Path::new("t"),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("`friendly_name` is longer than 256"),
            "{err}"
        );
        let long_id = format!(
            "{BASE}station_id = \"{}\"\n[drive]\nkind=\"CD\"\ndevice=\"/dev/sr0\"",
            "i".repeat(MAX_STATION_ID_LEN + 1)
        );
        let err = Config::parse(&long_id, Path::new("t")).unwrap_err();
        assert!(
            err.to_string().contains("`station_id` is longer than 128"),
            "{err}"
        );
        let no_masters = BASE.replace(
            "trusted_masters = [\"burnstand/localhost@BURNSTAND.TEST\"]",
            "trusted_masters = []",
        );
        let err = Config::parse(
            &format!("{no_masters}\n[drive]\nkind=\"CD\"\ndevice=\"/dev/sr0\""),
            Path::new("t"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("trusted_masters"), "{err}");
    }
}
