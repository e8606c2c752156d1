//! The protocol nucleus's settings (issue 16, seed 004): the oldest client the master
//! accepts (`min_client_version`), the admin's notices (`[[notice]]`) and the request delays
//! (`[request_delay]`) that refusals asking to retry carry.
//!
//! Parsed and checked here, apart from the rest of the config; `crate::connection` uses them
//! when it answers HELLO and when it refuses a reservation.

use std::time::{Duration, SystemTime};

use burnstand_wire::limits::{MAX_NOTICES, MAX_NOTICE_TEXT_LEN, MAX_REQUEST_DELAY_SECS};
use burnstand_wire::nucleus::{self, ClientVersion, Notice, Priority, RequestDelay};
use serde::Deserialize;

use super::validate::Problems;

/// Default of `request_delay.busy`: about what it takes a burn to free a drive is too long for
/// "try again"; half a minute lets a user who asked too early see a change.
pub const DEFAULT_BUSY_REQUEST_DELAY: Duration = Duration::from_secs(30);
/// Default of `request_delay.draining`: the default `limits.drain_deadline` (30 s) and a
/// restart; a client that waited in the queue reconnects after it (its place is kept for
/// `queue.rejoin_grace`, 2 minutes by default).
pub const DEFAULT_DRAIN_REQUEST_DELAY: Duration = Duration::from_secs(40);

/// One `[[notice]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotice {
    #[serde(default)]
    priority: Option<String>,
    text: String,
    #[serde(default)]
    until: Option<RawUntil>,
}

/// `until` as a TOML date-time (`until = 2026-12-01T18:00:00Z`) or a string of the same.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawUntil {
    Date(toml::value::Datetime),
    Text(String),
}

/// `[request_delay]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRequestDelay {
    #[serde(default)]
    busy: Option<String>,
    #[serde(default)]
    draining: Option<String>,
}

/// A notice the admin configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredNotice {
    pub notice: Notice,
    /// After this instant it is no longer shown; `None`: until the config changes.
    pub until: Option<SystemTime>,
}

/// The validated nucleus settings; without any of the keys: every client version accepted,
/// no notices, the default delays.
#[derive(Debug, Clone)]
pub struct NucleusSettings {
    /// Clients that say HELLO with an older version are refused with ERRVERSION. Clients
    /// that never say HELLO (from before the nucleus) are not checked: this is advice to
    /// users, not access control.
    pub min_client_version: Option<ClientVersion>,
    /// In config order.
    pub notices: Vec<ConfiguredNotice>,
    /// DELAY before ERRUNAVAL for "none free" or "no healthy station", and before ERRDENIED
    /// for a full queue.
    pub busy_request_delay: RequestDelay,
    /// DELAY before ERRUNAVAL while the master shuts down, and to waiting clients as it
    /// closes their connections.
    pub drain_request_delay: RequestDelay,
}

impl Default for NucleusSettings {
    fn default() -> Self {
        NucleusSettings {
            min_client_version: None,
            notices: Vec::new(),
            busy_request_delay: RequestDelay::clamped(DEFAULT_BUSY_REQUEST_DELAY.as_secs()),
            drain_request_delay: RequestDelay::clamped(DEFAULT_DRAIN_REQUEST_DELAY.as_secs()),
        }
    }
}

impl NucleusSettings {
    /// The notices in force at `now`, as sent: high priority first, then in config order.
    pub fn notices_at(&self, now: SystemTime) -> Vec<Notice> {
        let mut notices: Vec<Notice> = self
            .notices
            .iter()
            .filter(|n| n.until.is_none_or(|until| now < until))
            .map(|n| n.notice.clone())
            .collect();
        nucleus::display_order(&mut notices);
        notices
    }
}

/// Checks the nucleus keys, reporting every problem; the result is only used if there are
/// none.
pub(super) fn validate(
    min_client_version: Option<&str>,
    notices: &[RawNotice],
    delays: &RawRequestDelay,
    problems: &mut Problems,
) -> NucleusSettings {
    let mut settings = NucleusSettings::default();
    if let Some(text) = min_client_version {
        match text.parse::<ClientVersion>() {
            Ok(version) => settings.min_client_version = Some(version),
            Err(_) => problems.push(format!(
                "min_client_version = {text:?} is not a version like \"0.2.0\" (three numbers)"
            )),
        }
    }
    if notices.len() > MAX_NOTICES {
        problems.push(format!(
            "{} [[notice]] entries, at most {MAX_NOTICES}: a person reads a handful at login",
            notices.len()
        ));
    }
    for (i, raw) in notices.iter().enumerate().take(MAX_NOTICES) {
        if let Some(notice) = check_notice(i + 1, raw, problems) {
            settings.notices.push(notice);
        }
    }
    if let Some(delay) = check_delay("request_delay.busy", delays.busy.as_deref(), problems) {
        settings.busy_request_delay = delay;
    }
    if let Some(delay) = check_delay(
        "request_delay.draining",
        delays.draining.as_deref(),
        problems,
    ) {
        settings.drain_request_delay = delay;
    }
    settings
}

fn check_notice(n: usize, raw: &RawNotice, problems: &mut Problems) -> Option<ConfiguredNotice> {
    let mut ok = true;
    let priority = match raw.priority.as_deref() {
        None => Priority::Normal,
        Some(word) => Priority::from_name(word).unwrap_or_else(|| {
            problems.push(format!(
                "[[notice]] {n}: priority = {word:?} is not one of \"high\", \"normal\", \"low\""
            ));
            ok = false;
            Priority::Normal
        }),
    };
    let len = raw.text.chars().count();
    if raw.text.trim().is_empty() || len > MAX_NOTICE_TEXT_LEN {
        problems.push(format!(
            "[[notice]] {n}: text must be 1 to {MAX_NOTICE_TEXT_LEN} characters (it has {len})"
        ));
        ok = false;
    }
    if raw.text.chars().any(char::is_control) {
        problems.push(format!(
            "[[notice]] {n}: text must be one line without control characters (a client prints it as it is)"
        ));
        ok = false;
    }
    let until = match &raw.until {
        None => None,
        Some(until) => {
            let text = match until {
                RawUntil::Date(date) => date.to_string(),
                RawUntil::Text(text) => text.clone(),
            };
            match humantime::parse_rfc3339(&text) {
                Ok(when) => Some(when),
                Err(e) => {
                    problems.push(format!(
                        "[[notice]] {n}: until = {text:?} is not a UTC time like \"2026-12-01T18:00:00Z\": {e}"
                    ));
                    ok = false;
                    None
                }
            }
        }
    };
    ok.then(|| ConfiguredNotice {
        notice: Notice {
            priority,
            text: raw.text.clone(),
        },
        until,
    })
}

fn check_delay(key: &str, text: Option<&str>, problems: &mut Problems) -> Option<RequestDelay> {
    let text = text?;
    let max = u64::from(MAX_REQUEST_DELAY_SECS);
    match humantime::parse_duration(text) {
        Ok(delay) if (1..=max).contains(&delay.as_secs()) => {
            Some(RequestDelay::clamped(delay.as_secs()))
        }
        Ok(_) => {
            problems.push(format!(
                "{key} = {text:?} must be 1 s to {max} s (clients honour at most that)"
            ));
            None
        }
        Err(e) => {
            problems.push(format!(
                "{key} = {text:?} is not a duration like \"30s\" or \"2m\": {e}"
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;

    const BASE: &str = r#"
        listen = "127.0.0.1:4700"
        principal = "burnstand/localhost@LAB.TEST"
        keytab = "/etc/burnstand/master.keytab"
        audit_log = "/var/log/burnstand/master.jsonl"
        policy = "../docs/policy.example.toml"

        [[station]]
        name = "dvd-1"
        drive = "DVD"
        address = "dvd1.lab:4710"
        principal = "burnstand-station/dvd1@LAB.TEST"
        services = ["burner"]
        allow = ["*@LAB.TEST"]
    "#;

    fn config(top: &str, sections: &str) -> crate::error::Result<Config> {
        Config::from_toml(&format!("{top}\n{BASE}\n{sections}"))
    }

    #[test]
    fn without_keys_every_client_is_accepted_with_no_notices() {
        let nucleus = config("", "").expect("valid").nucleus;
        assert_eq!(nucleus.min_client_version, None);
        assert!(nucleus.notices.is_empty());
        assert_eq!(
            u64::from(nucleus.busy_request_delay.seconds),
            DEFAULT_BUSY_REQUEST_DELAY.as_secs()
        );
    }

    #[test]
    fn notices_parse_in_config_order_and_expire() {
        let sections = r#"
            [[notice]]
            text = "motd"
            [[notice]]
            priority = "high"
            text = "maintenance tonight"
            until = 2030-01-01T00:00:00Z
            [[notice]]
            priority = "low"
            text = "old news"
            until = "2020-01-01T00:00:00Z"
            [request_delay]
            busy = "45s"
            draining = "2m"
        "#;
        let nucleus = config("min_client_version = \"0.2.0\"", sections)
            .expect("valid")
            .nucleus;
        assert_eq!(
            nucleus.min_client_version,
            Some(ClientVersion::new(0, 2, 0))
        );
        assert_eq!(nucleus.busy_request_delay.seconds, 45);
        assert_eq!(nucleus.drain_request_delay.seconds, 120);
        let now = humantime::parse_rfc3339("2026-06-01T00:00:00Z").expect("time");
        let shown: Vec<(Priority, String)> = nucleus
            .notices_at(now)
            .into_iter()
            .map(|n| (n.priority, n.text))
            .collect();
        assert_eq!(
            shown,
            [
                (Priority::High, "maintenance tonight".to_owned()),
                (Priority::Normal, "motd".to_owned())
            ]
        );
    }

    #[test]
    fn every_bad_nucleus_key_is_reported() {
        let mut sections = String::from(
            r#"
            [[notice]]
            priority = "urgent"
            text = "x"
            [[notice]]
            text = ""
            [[notice]]
            text = "two\nlines"
            [[notice]]
            text = "x"
            until = "tomorrow"
            [request_delay]
            busy = "0s"
            draining = "2h"
        "#,
        );
        let message = config("min_client_version = \"0.2\"", &sections)
            .expect_err("invalid")
            .to_string();
        for needle in [
            "min_client_version",
            "\"urgent\"",
            "1 to 1024 characters",
            "one line",
            "\"tomorrow\"",
            "request_delay.busy",
            "request_delay.draining",
        ] {
            assert!(
                message.contains(needle),
                "{needle:?} missing from {message}"
            );
        }
        sections = "[[notice]]\ntext = \"x\"\n".repeat(MAX_NOTICES + 1);
        let message = config("", &sections).expect_err("invalid").to_string();
        assert!(message.contains("at most 16"), "{message}");
    }
}
