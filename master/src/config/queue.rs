//! The wait queue's settings (`[queue]` and `[[queue.class]]`, issue 13): how long a freed
//! station is held for the user at the head, how long an absent client keeps its place, how
//! fast waiting raises an entry's priority, and the priority classes.
//!
//! Parsed and checked here, apart from the rest of the config, so that the queue's settings
//! stay in one place; [`crate::queue`] uses them.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use burnstand_wire::gss::Principal;
use serde::Deserialize;

use super::validate::{check_allow, is_name, Entry, Problems};
use super::Access;

/// Most `[[queue.class]]` entries. Bounds the classes held and the work of [`class_of`], which
/// runs once per queued RESERVE; a lab needs a handful (exam staff, teaching staff).
pub const MAX_QUEUE_CLASSES: usize = 32;

/// Highest class priority. Bounds how long a default-class entry can be overtaken: at most
/// `(MAX_CLASS_PRIORITY + 1) × aging_step` after it joined (see [`crate::queue::order`]).
pub const MAX_CLASS_PRIORITY: u32 = 1000;

/// Longest value of any `[queue]` duration. A walk-up queue measured in days is a typo; and an
/// `aging_step` this long already means a low class may be overtaken for a thousand days.
pub const MAX_QUEUE_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// Default of `queue.claim_timeout`: a waiting client is connected (that is how it is handed a
/// station), so it answers within seconds; longer only keeps a free drive idle.
pub const DEFAULT_CLAIM_TIMEOUT: Duration = Duration::from_secs(30);
/// Default of `queue.rejoin_grace`: long enough for a laptop to change networks or for a
/// restarted master to be reached again, short enough that a user who gave up stops holding
/// up the queue.
pub const DEFAULT_REJOIN_GRACE: Duration = Duration::from_secs(2 * 60);
/// Default of `queue.aging_step`.
pub const DEFAULT_AGING_STEP: Duration = Duration::from_secs(5 * 60);
/// Default of `queue.default_eta`: a typical DVD burn with verification.
pub const DEFAULT_ETA: Duration = Duration::from_secs(10 * 60);

/// The validated `[queue]` section; every key has a default, so a config without the section
/// gets a FIFO queue with aging and no classes.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// How long the user at the head of the queue, handed a freed station, has to take it
    /// before it passes to the next.
    pub claim_timeout: Duration,
    /// How long an entry whose client is not connected keeps its place (a reconnect, a master
    /// restart), after which the caller expires it.
    pub rejoin_grace: Duration,
    /// Every whole `aging_step` waited adds 1 to an entry's priority, so no class starves.
    pub aging_step: Duration,
    /// The estimated length of one reservation before any was measured (ETA).
    pub default_eta: Duration,
    /// The priority classes in file order; the first whose members match applies.
    pub classes: Vec<QueueClass>,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            claim_timeout: DEFAULT_CLAIM_TIMEOUT,
            rejoin_grace: DEFAULT_REJOIN_GRACE,
            aging_step: DEFAULT_AGING_STEP,
            default_eta: DEFAULT_ETA,
            classes: Vec::new(),
        }
    }
}

/// One `[[queue.class]]`: who waits with a higher priority.
#[derive(Debug, Clone)]
pub struct QueueClass {
    /// Unique name, shown in queue reports.
    pub name: String,
    /// Added to every member's effective priority (0 to [`MAX_CLASS_PRIORITY`]).
    pub priority: u32,
    /// Who belongs to the class, in the syntax of a station's `allow`.
    pub members: Access,
}

/// The class a principal waits in: the first class whose members match, else the default
/// class `""` with priority 0.
pub fn class_of(settings: &QueueSettings, principal: &Principal) -> (String, u32) {
    settings
        .classes
        .iter()
        .find(|class| class.members.permits(principal))
        .map_or_else(
            || (String::new(), 0),
            |class| (class.name.clone(), class.priority),
        )
}

/// `[queue]` as serde reads it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawQueue {
    #[serde(deserialize_with = "super::duration")]
    claim_timeout: Duration,
    #[serde(deserialize_with = "super::duration")]
    rejoin_grace: Duration,
    #[serde(deserialize_with = "super::duration")]
    aging_step: Duration,
    #[serde(deserialize_with = "super::duration")]
    default_eta: Duration,
    #[serde(rename = "class")]
    classes: Vec<RawClass>,
}

impl Default for RawQueue {
    fn default() -> Self {
        let defaults = QueueSettings::default();
        RawQueue {
            claim_timeout: defaults.claim_timeout,
            rejoin_grace: defaults.rejoin_grace,
            aging_step: defaults.aging_step,
            default_eta: defaults.default_eta,
            classes: Vec::new(),
        }
    }
}

/// `[[queue.class]]` as serde reads it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClass {
    name: String,
    priority: u32,
    members: Vec<String>,
}

impl RawQueue {
    /// Checks the section, adding every problem to `problems` (named by its key), and builds
    /// the settings the queue runs with.
    pub(super) fn validate(
        self,
        groups: &BTreeMap<String, Vec<Entry>>,
        problems: &mut Problems,
    ) -> QueueSettings {
        for (key, value) in [
            ("claim_timeout", self.claim_timeout),
            ("rejoin_grace", self.rejoin_grace),
            ("aging_step", self.aging_step),
            ("default_eta", self.default_eta),
        ] {
            if value.is_zero() || value > MAX_QUEUE_DURATION {
                problems.push(format!(
                    "queue.{key} ({}) must be longer than zero and at most 24h",
                    humantime::format_duration(value)
                ));
            }
        }
        if self.classes.len() > MAX_QUEUE_CLASSES {
            problems.push(format!(
                "queue.class: {} classes configured, at most {MAX_QUEUE_CLASSES}",
                self.classes.len()
            ));
        }
        let mut names = HashSet::new();
        let mut classes = Vec::with_capacity(self.classes.len().min(MAX_QUEUE_CLASSES));
        for raw in self.classes.into_iter().take(MAX_QUEUE_CLASSES) {
            let what = format!("queue.class {:?}", raw.name);
            if !is_name(&raw.name) {
                problems.push(format!(
                    "{what}: name must be 1 to {} letters, digits, '.', '-' or '_'",
                    super::MAX_NAME_LEN
                ));
            }
            if !names.insert(raw.name.clone()) {
                problems.push(format!("{what}: the name is used twice"));
            }
            if raw.priority > MAX_CLASS_PRIORITY {
                problems.push(format!(
                    "{what}: priority {} is above the highest, {MAX_CLASS_PRIORITY}",
                    raw.priority
                ));
            }
            let members = if raw.members.is_empty() {
                problems.push(format!(
                    "{what}: members is empty: nobody would wait in this class"
                ));
                Access::default()
            } else {
                check_allow(&raw.members, groups, &format!("{what}: members"), problems)
            };
            classes.push(QueueClass {
                name: raw.name,
                priority: raw.priority,
                members,
            });
        }
        QueueSettings {
            claim_timeout: self.claim_timeout,
            rejoin_grace: self.rejoin_grace,
            aging_step: self.aging_step,
            default_eta: self.default_eta,
            classes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const BASE: &str = r#"
        listen = "127.0.0.1:4700"
        principal = "burnstand/localhost@LAB.TEST"
        keytab = "/etc/burnstand/master.keytab"
        audit_log = "/var/log/burnstand/master.jsonl"
        policy = "../docs/policy.example.toml"

        [groups]
        exam-office = ["examiner@LAB.TEST"]

        [[station]]
        name = "dvd-1"
        drive = "DVD"
        address = "dvd1.lab:4710"
        principal = "burnstand-station/dvd1@LAB.TEST"
        services = ["burner"]
        allow = ["*@LAB.TEST"]
    "#;

    fn with_queue(section: &str) -> crate::Result<Config> {
        Config::from_toml(&format!("{BASE}\n{section}"))
    }

    fn principal(name: &str) -> Principal {
        Principal::parse(name).expect("principal")
    }

    #[test]
    fn without_a_queue_section_the_defaults_apply() {
        let queue = with_queue("").expect("valid").queue;
        assert_eq!(queue.claim_timeout, Duration::from_secs(30));
        assert_eq!(queue.rejoin_grace, Duration::from_secs(120));
        assert_eq!(queue.aging_step, Duration::from_secs(300));
        assert_eq!(queue.default_eta, Duration::from_secs(600));
        assert!(queue.classes.is_empty());
        assert_eq!(
            class_of(&queue, &principal("alice@LAB.TEST")),
            (String::new(), 0)
        );
    }

    #[test]
    fn classes_match_in_file_order_and_others_get_the_default_class() {
        let queue = with_queue(
            r#"
            [queue]
            claim_timeout = "45s"
            aging_step = "2m"

            [[queue.class]]
            name = "exam-staff"
            priority = 10
            members = ["group:exam-office"]

            [[queue.class]]
            name = "lab"
            priority = 3
            members = ["*@LAB.TEST"]
            "#,
        )
        .expect("valid")
        .queue;
        assert_eq!(queue.claim_timeout, Duration::from_secs(45));
        assert_eq!(queue.aging_step, Duration::from_secs(120));
        assert_eq!(queue.rejoin_grace, DEFAULT_REJOIN_GRACE);
        // The examiner is in both classes: the first one listed applies.
        assert_eq!(
            class_of(&queue, &principal("examiner@LAB.TEST")),
            ("exam-staff".to_owned(), 10)
        );
        assert_eq!(
            class_of(&queue, &principal("alice@LAB.TEST")),
            ("lab".to_owned(), 3)
        );
        assert_eq!(
            class_of(&queue, &principal("mallory@OTHER.TEST")),
            (String::new(), 0)
        );
    }

    #[test]
    fn bad_queue_values_are_reported_by_key() {
        let message = with_queue(
            r#"
            [queue]
            claim_timeout = "0s"
            default_eta = "2days"

            [[queue.class]]
            name = "exam staff"
            priority = 1001
            members = ["group:nobody"]

            [[queue.class]]
            name = "empty"
            priority = 1
            members = []
            "#,
        )
        .expect_err("invalid")
        .to_string();
        for needle in [
            "queue.claim_timeout (0s) must be longer than zero",
            "queue.default_eta (2days) must be longer than zero and at most 24h",
            "queue.class \"exam staff\": name must be",
            "queue.class \"exam staff\": priority 1001 is above the highest, 1000",
            "queue.class \"exam staff\": members: group \"nobody\" is not defined",
            "queue.class \"empty\": members is empty",
        ] {
            assert!(
                message.contains(needle),
                "{needle:?} missing from {message}"
            );
        }
    }

    #[test]
    fn unparsable_durations_and_unknown_keys_name_the_key() {
        let message = with_queue("[queue]\naging_step = \"soon\"")
            .expect_err("invalid")
            .to_string();
        assert!(message.contains("aging_step"), "{message}");
        assert!(message.contains("not a duration"), "{message}");
        let message = with_queue("[queue]\naging_stp = \"5m\"")
            .expect_err("invalid")
            .to_string();
        assert!(message.contains("aging_stp"), "{message}");
        let message = with_queue("[[queue.class]]\nname = \"x\"\nmembers = [\"*@LAB.TEST\"]")
            .expect_err("invalid")
            .to_string();
        assert!(message.contains("priority"), "{message}");
    }

    #[test]
    fn class_names_are_unique_and_the_class_count_is_bounded() {
        let twice =
            "[[queue.class]]\nname = \"a\"\npriority = 1\nmembers = [\"*@LAB.TEST\"]\n".repeat(2);
        let message = with_queue(&twice).expect_err("invalid").to_string();
        assert!(
            message.contains("\"a\": the name is used twice"),
            "{message}"
        );
        let many: String = (0..=MAX_QUEUE_CLASSES)
            .map(|i| {
                format!(
                    "[[queue.class]]\nname = \"c{i}\"\npriority = 1\nmembers = [\"*@LAB.TEST\"]\n"
                )
            })
            .collect();
        let message = with_queue(&many).expect_err("invalid").to_string();
        assert!(
            message.contains("33 classes configured, at most 32"),
            "{message}"
        );
    }
}
