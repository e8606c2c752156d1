//! What burnstand prints: text for people, or with `--json` exactly one JSON document on
//! stdout (and a failure as one JSON object on stderr), for scripts.
//!
//! Human mode writes results to stdout and progress and notes to stderr, so `burnstand burn …
//! > receipt.txt` keeps the receipt. JSON mode prints no progress and no notes at all.

use std::io::Write;

use serde::Serialize;

use crate::ClientError;

/// A command's result, printable both ways.
pub trait Report: Serialize {
    /// The text a person reads (ends without a newline).
    fn human(&self) -> String;
}

/// Human or JSON output.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    json: bool,
}

/// A failure, as `--json` prints it on stderr.
#[derive(Debug, Serialize)]
pub struct JsonError<'a> {
    /// The exit code's name (`no_free_station`, `verify_failed`, …).
    pub error: &'static str,
    pub exit_code: u8,
    /// The same text a person would read.
    pub message: &'a str,
}

impl Output {
    pub fn new(json: bool) -> Self {
        Output { json }
    }

    /// Whether `--json` was given.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Prints a command's result on stdout.
    pub fn report(&self, report: &impl Report) {
        let text = if self.json {
            match serde_json::to_string_pretty(report) {
                Ok(text) => text,
                Err(e) => format!(
                    "{{\"error\":\"internal\",\"message\":\"cannot encode the result: {e}\"}}"
                ),
            }
        } else {
            report.human()
        };
        let mut stdout = std::io::stdout().lock();
        // A closed stdout (`| head`) is not worth a panic.
        let _ = writeln!(stdout, "{text}");
        let _ = stdout.flush();
    }

    /// A note for the person on stderr (nothing in JSON mode).
    pub fn note(&self, text: &str) {
        if !self.json {
            let _ = writeln!(std::io::stderr().lock(), "{text}");
        }
    }

    /// Prints a failure on stderr: `burnstand: MESSAGE`, or the JSON error object.
    pub fn error(&self, e: &ClientError) {
        let message = e.to_string();
        let text = if self.json {
            let doc = JsonError {
                error: e.name(),
                exit_code: e.exit_code(),
                message: &message,
            };
            serde_json::to_string(&doc)
                .unwrap_or_else(|_| format!("{{\"error\":\"{}\"}}", e.name()))
        } else {
            format!("burnstand: {message}")
        };
        let _ = writeln!(std::io::stderr().lock(), "{text}");
    }
}

/// Bytes for people: `4.4 MiB (4571136 bytes)`.
pub fn size(bytes: u64) -> String {
    format!("{} ({bytes} bytes)", indicatif::HumanBytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_carry_the_code_and_its_name() {
        let e = ClientError::ReservationLost;
        let message = e.to_string();
        let doc = JsonError {
            error: e.name(),
            exit_code: e.exit_code(),
            message: &message,
        };
        let value: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(&doc).unwrap()).unwrap();
        assert_eq!(value["error"], "reservation_lost");
        assert_eq!(value["exit_code"], 13);
    }

    #[test]
    fn sizes_read_both_ways() {
        assert_eq!(size(4_571_136), "4.36 MiB (4571136 bytes)");
    }
}
