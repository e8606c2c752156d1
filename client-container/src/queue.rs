//! Waiting for a station: whether to wait ([`WaitChoice`]), the question asked when all
//! stations are busy, and the spinner line that shows the place in the queue.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::listing::Counts;
use crate::output::Output;

/// What to do when every station is busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitChoice {
    /// `--wait`: wait in the queue.
    Wait,
    /// `--no-wait`: fail at once (exit code 10).
    NoWait,
    /// Neither: ask on a terminal, else as `--no-wait`.
    #[default]
    Ask,
}

impl WaitChoice {
    /// From the two flags (clap makes them exclusive).
    pub fn from_flags(wait: bool, no_wait: bool) -> Self {
        match (wait, no_wait) {
            (true, _) => WaitChoice::Wait,
            (_, true) => WaitChoice::NoWait,
            _ => WaitChoice::Ask,
        }
    }
}

/// A place in the queue, as QUEUED says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// 1 is next.
    pub position: u32,
    /// The master's estimate; 0 means none yet.
    pub eta_seconds: u32,
    /// How many wait in all.
    pub waiting: u32,
}

/// The estimate for people: "about 4 min", "less than a minute", "no estimate yet".
pub fn eta_text(eta_seconds: u32) -> String {
    match eta_seconds {
        0 => "no estimate yet".to_owned(),
        1..=59 => "less than a minute".to_owned(),
        60..=3599 => format!("about {} min", eta_seconds.div_ceil(60)),
        _ => {
            let minutes = eta_seconds.div_ceil(60);
            format!("about {} h {} min", minutes / 60, minutes % 60)
        }
    }
}

/// "waiting for a station: position 2 of 5, about 4 min".
pub fn queue_line(p: &Position) -> String {
    format!(
        "waiting for a station: position {} of {}, {}",
        p.position,
        p.waiting,
        eta_text(p.eta_seconds)
    )
}

/// The question asked when every station is busy: "All 3 stations of DVD burner are busy
/// (2 waiting). Wait in the queue? [Y/n]"; for `--station`, about that station.
pub fn busy_question(type_name: &str, counts: Option<Counts>, station: Option<&str>) -> String {
    let waiting = counts.map(|c| c.waiting);
    let waiting_text = |w: u32| format!("{w} waiting");
    let what = match (station, counts) {
        (Some(station), _) => format!(
            "Station {station} is busy{}",
            waiting
                .map(|w| format!(" ({} for {type_name})", waiting_text(w)))
                .unwrap_or_default()
        ),
        (None, Some(c)) => {
            let usable = c.total.saturating_sub(c.quarantined);
            let stations = if usable == 1 { "station" } else { "stations" };
            let out_of_service = if c.quarantined > 0 {
                format!(", {} more out of service", c.quarantined)
            } else {
                String::new()
            };
            let all = if usable == 1 { "The" } else { "All" };
            let count = if usable == 1 {
                "only".to_owned()
            } else {
                usable.to_string()
            };
            format!(
                "{all} {count} {stations} of {type_name} {} busy ({}{out_of_service})",
                if usable == 1 { "is" } else { "are" },
                waiting_text(c.waiting)
            )
        }
        (None, None) => format!("All stations of {type_name} are busy"),
    };
    format!("{what}. Wait in the queue? [Y/n]")
}

/// Whether an answer to [`busy_question`] is yes: empty (the default) or starting with y.
pub fn is_yes(answer: &str) -> bool {
    let answer = answer.trim();
    answer.is_empty() || answer.to_ascii_lowercase().starts_with('y')
}

/// What a reservation shows the person while it reserves and waits.
pub trait QueueUi {
    /// The place in the queue changed (also when it is first joined).
    fn queued(&mut self, position: &Position);
    /// Every station is busy and neither --wait nor --no-wait was given: ask. `None` when
    /// no one can be asked (not a terminal, `--json`, the holder process).
    fn ask(&mut self, question: &str) -> Option<bool>;
    /// A note for the person.
    fn note(&mut self, text: &str);
}

/// The terminal: a spinner (a line per change when stderr is not a terminal, nothing with
/// `--json`), and the question on a terminal.
pub struct TerminalUi {
    out: Output,
    interactive: bool,
    spinner: Option<ProgressBar>,
    last_line: Option<String>,
}

impl TerminalUi {
    pub fn new(out: Output) -> Self {
        TerminalUi {
            out,
            interactive: !out.is_json()
                && std::io::stdin().is_terminal()
                && std::io::stderr().is_terminal(),
            spinner: None,
            last_line: None,
        }
    }

    /// Ends the spinner, leaving its last line on screen.
    pub fn finish(&mut self) {
        if let Some(spinner) = self.spinner.take() {
            spinner.abandon();
        }
    }
}

impl Drop for TerminalUi {
    fn drop(&mut self) {
        self.finish();
    }
}

impl QueueUi for TerminalUi {
    fn queued(&mut self, position: &Position) {
        if self.out.is_json() {
            return;
        }
        let line = queue_line(position);
        if !std::io::stderr().is_terminal() {
            if self.last_line.as_deref() != Some(line.as_str()) {
                self.out.note(&line);
            }
        } else {
            if self.spinner.is_none() {
                self.out
                    .note("every station is busy: waiting in the queue; Ctrl-C leaves it");
            }
            let spinner = self.spinner.get_or_insert_with(new_spinner);
            spinner.set_message(line.clone());
        }
        self.last_line = Some(line);
    }

    fn ask(&mut self, question: &str) -> Option<bool> {
        if !self.interactive {
            return None;
        }
        self.finish();
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "{question} ");
        let _ = stderr.flush();
        let mut answer = String::new();
        match std::io::stdin().lock().read_line(&mut answer) {
            // End of input (Ctrl-D) is no.
            Ok(0) | Err(_) => Some(false),
            Ok(_) => Some(is_yes(&answer)),
        }
    }

    fn note(&mut self, text: &str) {
        match &self.spinner {
            Some(spinner) => spinner.println(text),
            None => self.out.note(text),
        }
    }
}

fn new_spinner() -> ProgressBar {
    let spinner = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    spinner.set_style(style);
    spinner.enable_steady_tick(Duration::from_millis(120));
    spinner
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(total: u32, quarantined: u32, waiting: u32) -> Counts {
        Counts {
            total,
            free: 0,
            busy: total - quarantined,
            quarantined,
            waiting,
        }
    }

    #[test]
    fn the_queue_line_says_position_and_estimate() {
        let p = Position {
            position: 2,
            eta_seconds: 200,
            waiting: 5,
        };
        assert_eq!(
            queue_line(&p),
            "waiting for a station: position 2 of 5, about 4 min"
        );
        let first = Position {
            position: 1,
            eta_seconds: 0,
            waiting: 1,
        };
        assert_eq!(
            queue_line(&first),
            "waiting for a station: position 1 of 1, no estimate yet"
        );
    }

    #[test]
    fn estimates_read_short() {
        assert_eq!(eta_text(0), "no estimate yet");
        assert_eq!(eta_text(42), "less than a minute");
        assert_eq!(eta_text(60), "about 1 min");
        assert_eq!(eta_text(61), "about 2 min");
        assert_eq!(eta_text(3600), "about 1 h 0 min");
        assert_eq!(eta_text(5400), "about 1 h 30 min");
    }

    #[test]
    fn the_question_counts_stations_and_waiting_people() {
        assert_eq!(
            busy_question("DVD burner", Some(counts(3, 0, 2)), None),
            "All 3 stations of DVD burner are busy (2 waiting). Wait in the queue? [Y/n]"
        );
        assert_eq!(
            busy_question("DVD burner", Some(counts(3, 1, 0)), None),
            "All 2 stations of DVD burner are busy (0 waiting, 1 more out of service). Wait in the queue? [Y/n]"
        );
        assert_eq!(
            busy_question("DVD burner", Some(counts(1, 0, 4)), None),
            "The only station of DVD burner is busy (4 waiting). Wait in the queue? [Y/n]"
        );
        assert_eq!(
            busy_question("DVD burner", Some(counts(2, 0, 1)), Some("dvd-2")),
            "Station dvd-2 is busy (1 waiting for DVD burner). Wait in the queue? [Y/n]"
        );
        assert_eq!(
            busy_question("DVD burner", None, None),
            "All stations of DVD burner are busy. Wait in the queue? [Y/n]"
        );
    }

    #[test]
    fn enter_and_y_mean_yes() {
        assert!(is_yes("\n"));
        assert!(is_yes("y\n"));
        assert!(is_yes("Yes"));
        assert!(!is_yes("n\n"));
        assert!(!is_yes("no"));
        assert!(!is_yes("q"));
    }

    #[test]
    fn the_flags_choose() {
        assert_eq!(WaitChoice::from_flags(true, false), WaitChoice::Wait);
        assert_eq!(WaitChoice::from_flags(false, true), WaitChoice::NoWait);
        assert_eq!(WaitChoice::from_flags(false, false), WaitChoice::Ask);
    }
}
