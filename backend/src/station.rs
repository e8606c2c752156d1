//! [`Station`]: what every session of one station shares — the configuration, the drive and
//! its exclusive hold, the image catalog, the audit log, the trusted masters, the burn
//! policy with the copies counted so far, and the live state the masters watch.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::SystemTime;

use burnstand_audit::Record;
use burnstand_audit::{Appended, AuditLog, Event, SharedAuditLog};
use burnstand_policy::{Burn, Policy, Refusal, Remaining, Subject, UsageIndex};
use burnstand_wire::burner::Sha256;
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::catalog::Catalog;
use crate::config::Config;
use crate::control::ControlLinks;
use crate::drive::{Drive, XorrisoDrive};
use crate::error::{Result, StationError};
use crate::principal::exported_name;
use crate::receipt::Who;
use crate::state_board::drive::ReportingDrive;
use crate::state_board::StateBoard;

/// Proof that the caller holds the drive exclusively: burns, tray and medium queries take it,
/// so two xorriso processes never address the drive at once.
pub type DriveHold = OwnedMutexGuard<()>;

/// The shared state of one station (one drive).
#[derive(Debug)]
pub struct Station {
    config: Config,
    id: String,
    drive: Arc<dyn Drive>,
    catalog: Catalog,
    audit: SharedAuditLog,
    hold: Arc<Mutex<()>>,
    trusted_masters: Vec<Vec<u8>>,
    /// The burn policy, replaced whole by a reload ([`crate::reload`]).
    policy: crate::reload::LivePolicy,
    /// Copies burned here, from this station's own `burn.receipt` records (at start-up) and
    /// every receipt appended since. A std mutex: held only for a lookup or an insert.
    usage: StdMutex<UsageIndex>,
    /// The masters' control links: copy grants, receipts pushed and synced.
    control: ControlLinks,
    /// What the station is doing, for the masters watching it (fed by sessions, burns and
    /// the drive, which reports through it).
    state: Arc<StateBoard>,
    next_conn: AtomicU64,
    /// Budgets of the records peers can cause, and the free-space watermark.
    guards: crate::flood::Guards,
}

impl Station {
    /// Builds the station the configuration describes: its xorriso drive, catalog and audit
    /// log. The krb5 environment (KRB5_CONFIG) must be in place: principals are resolved here.
    pub fn from_config(config: Config) -> Result<Arc<Station>> {
        let invalid = |message: String| StationError::Config {
            path: "configuration".into(),
            message,
        };
        let kind = config.drive_kind().map_err(invalid)?;
        let target = config.target().map_err(invalid)?;
        let drive = XorrisoDrive::new(kind, target, config.drive.speed, config.xorriso());
        Station::with_drive(config, Arc::new(drive))
    }

    /// Builds a station around `drive` (tests pass a
    /// [`TestOnlyFaultyDrive`](crate::faulty::TestOnlyFaultyDrive)), opening the configured
    /// audit log.
    pub fn with_drive(config: Config, drive: Arc<dyn Drive>) -> Result<Arc<Station>> {
        if let Some(parent) = config.audit_log.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| StationError::io(format!("creating {}", parent.display()), e))?;
        }
        let audit = burnstand_audit::OpenOptions::new()
            .repair_torn_tail(true)
            .settings(config.audit.clone())
            .open(&config.audit_log)?;
        Station::with_parts(config, drive, audit)
    }

    /// Builds a station around `drive` and an already opened audit log (tests open theirs
    /// with injected failures to check that the station fails closed).
    pub fn with_parts(
        config: Config,
        drive: Arc<dyn Drive>,
        audit: AuditLog,
    ) -> Result<Arc<Station>> {
        let resolve = |what: &str, p: &String| {
            exported_name(p).map_err(|e| StationError::Config {
                path: "configuration".into(),
                message: format!("{what} {p:?} is not a usable Kerberos principal: {e}"),
            })
        };
        let trusted_masters = config
            .trusted_masters
            .iter()
            .map(|p| resolve("trusted master", p))
            .collect::<Result<Vec<_>>>()?;
        let home_realm = crate::reload::home_realm(&config)
            .map(str::to_owned)
            .ok_or_else(|| StationError::Config {
                path: "configuration".into(),
                message: format!(
                    "principal {:?} has no realm; write it as name/host@REALM",
                    config.principal
                ),
            })?;
        let policy_err = |e: burnstand_policy::PolicyError| StationError::Config {
            path: config.policy.clone(),
            message: e.to_string(),
        };
        let policy = Policy::load(&config.policy, &home_realm).map_err(policy_err)?;
        let usage = UsageIndex::from_log(&config.audit_log).map_err(policy_err)?;
        let catalog = Catalog::open(&config.catalog, &config.state_dir)?;
        let audit = SharedAuditLog::new(audit);
        let guards = crate::flood::Guards::new(&config.audit_log, config.min_free_bytes);
        let state = Arc::new(StateBoard::new(config.target().ok()));
        let drive: Arc<dyn Drive> = Arc::new(ReportingDrive::new(drive, Arc::clone(&state)));
        Ok(Arc::new(Station {
            id: crate::station_id::load_or_create(&config)?,
            config,
            drive,
            catalog,
            audit,
            hold: Arc::new(Mutex::new(())),
            trusted_masters,
            policy: crate::reload::LivePolicy::new(policy),
            usage: StdMutex::new(usage),
            control: ControlLinks::default(),
            state,
            next_conn: AtomicU64::new(1),
            guards,
        }))
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The station id (in CAP and every audit record).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The drive; what its operations learn goes to the live state ([`ReportingDrive`]).
    pub fn drive(&self) -> &dyn Drive {
        &*self.drive
    }

    /// The image catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Whether `exported` (a GSSAPI exported name) is one of the trusted masters.
    pub fn is_trusted_master(&self, exported: &[u8]) -> bool {
        self.trusted_masters.iter().any(|m| m == exported)
    }

    /// The drive, exclusively, if nobody else holds it right now. Never waits: a second burn
    /// gets a clear "busy" instead of queueing behind the first.
    pub fn try_hold(&self) -> Option<DriveHold> {
        Arc::clone(&self.hold).try_lock_owned().ok()
    }

    /// The burn policy in force now (a reload may replace it for the next decision).
    pub fn policy(&self) -> Arc<Policy> {
        self.policy.get()
    }

    /// The policy in force and its digest, for reloads and the control links.
    pub fn live_policy(&self) -> &crate::reload::LivePolicy {
        &self.policy
    }

    /// Whether the policy lets this user use burnstand at all (realm, anonymous).
    pub fn admits(&self, who: &Who) -> std::result::Result<(), Refusal> {
        self.policy.get().admits(&subject(who))
    }

    /// Whether the user may burn the image with `sha256` on this drive now, and how many
    /// copies are left.
    pub fn may_burn(&self, who: &Who, sha256: &Sha256) -> std::result::Result<Remaining, Refusal> {
        let policy = self.policy.get();
        let usage = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        policy.may_burn(
            &subject(who),
            &sha256.to_hex(),
            self.drive.kind().word(),
            SystemTime::now(),
            &*usage,
        )
    }

    /// The masters' control links.
    pub fn control(&self) -> &ControlLinks {
        &self.control
    }

    /// The live state the masters watch.
    pub fn state(&self) -> &Arc<StateBoard> {
        &self.state
    }

    /// Appends a `burn.receipt`, counts the copy, and pushes the receipt to the masters'
    /// control links — all before anyone is told about it.
    pub async fn receipt(&self, event: Event) -> Result<Appended> {
        let appended = self.audit_appended(event).await?;
        match Record::parse_line(appended.line.as_bytes())
            .ok()
            .as_ref()
            .and_then(Burn::from_record)
        {
            Some(burn) => self
                .usage
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .record(burn),
            None => tracing::error!(seq = appended.seq, "a receipt just written does not parse"),
        }
        match burnstand_wire::burner::Sha256::from_hex(&appended.hash) {
            Ok(hash) => self.control.push_receipt(&burnstand_wire::burner::Receipt {
                seq: appended.seq,
                hash,
                line: appended.line.clone(),
            }),
            Err(e) => tracing::error!(error = %e, "audit log returned a malformed hash"),
        }
        Ok(appended)
    }

    /// Appends an audit record and returns once it is durable. Fails closed: an error means
    /// the action must not be acknowledged (or performed).
    pub async fn audit(&self, event: Event) -> Result<()> {
        self.audit_appended(event).await.map(|_| ())
    }

    /// [`Station::audit`], returning where the record went.
    pub async fn audit_appended(&self, event: Event) -> Result<Appended> {
        let name = event.name().to_owned();
        match self.audit.append(event).await {
            Ok(appended) => {
                tracing::debug!(event = %name, seq = appended.seq, "audited");
                Ok(appended)
            }
            Err(e) => {
                tracing::error!(event = %name, error = %e, "audit append failed; refusing the action: free space or fix the disk under the audit log, then restart the station");
                Err(e.into())
            }
        }
    }

    /// Whether the audit log still accepts records (false after a failed write or fsync).
    pub fn audit_healthy(&self) -> bool {
        self.audit.is_healthy()
    }

    /// Budgets of the records peers can cause, and the free-space watermark.
    pub fn guards(&self) -> &crate::flood::Guards {
        &self.guards
    }

    /// A fresh connection number.
    pub(crate) fn next_conn(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }
}

/// The policy's view of a session's user: the master-vouched exported and display names.
fn subject(who: &Who) -> Subject<'_> {
    Subject {
        exported: &who.user_exported,
        display: &who.user,
    }
}
