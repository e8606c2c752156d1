//! The burn's progress on stderr: a bar with percent, speed and time left on a terminal, a
//! line every 10 % otherwise (logs, CI), nothing with `--json`.
//!
//! The station reports only percentages (STATUS, from xorriso's "X of Y MB written"), so the
//! speed is derived: image size × percent over elapsed time, and the time left is the
//! remaining percent at that pace. Both are measured from the phase's first report above 0 %,
//! not from its start: xorriso fills its buffer at full speed first, and its first report
//! would make any burn look fast.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use burnstand_wire::burner::{Phase, Progress};
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Bar,
    Lines,
    Quiet,
}

/// The progress display of one burn.
pub struct ProgressDisplay {
    mode: Mode,
    image_bytes: u64,
    bar: Option<ProgressBar>,
    /// The phase and copy being shown.
    current: Option<(Phase, u32)>,
    /// The phase's first report above 0 %: when, and how far.
    anchor: Option<(Instant, u8)>,
    last_line_decile: Option<u8>,
}

impl ProgressDisplay {
    /// A display for an image of `image_bytes`; `quiet` for `--json`.
    pub fn new(quiet: bool, image_bytes: u64) -> Self {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines
        };
        ProgressDisplay {
            mode,
            image_bytes,
            bar: None,
            current: None,
            anchor: None,
            last_line_decile: None,
        }
    }

    /// Shows a STATUS report.
    pub fn update(&mut self, p: &Progress) {
        let percent = p.percent.get();
        if self.current != Some((p.phase, p.copy)) {
            self.finish();
            self.current = Some((p.phase, p.copy));
            self.anchor = None;
            self.last_line_decile = None;
            if self.mode == Mode::Bar {
                self.bar = Some(new_bar(&label(p)));
            }
        }
        let rate = match self.anchor {
            Some((at, from)) => rate_text(self.image_bytes, from, percent, at.elapsed()),
            None => {
                if percent > 0 {
                    self.anchor = Some((Instant::now(), percent));
                }
                "measuring…".to_owned()
            }
        };
        match self.mode {
            Mode::Quiet => {}
            Mode::Bar => {
                if let Some(bar) = &self.bar {
                    bar.set_position(percent.into());
                    bar.set_message(rate);
                }
            }
            Mode::Lines => {
                let decile = percent / 10;
                if self.last_line_decile != Some(decile) {
                    self.last_line_decile = Some(decile);
                    eprintln!("{:>20} {percent:>3}%  {rate}", label(p));
                }
            }
        }
    }

    /// Prints a line for the person without tearing the bar.
    pub fn println(&self, text: &str) {
        match (&self.bar, self.mode) {
            (_, Mode::Quiet) => {}
            (Some(bar), _) => bar.println(text),
            (None, _) => eprintln!("{text}"),
        }
    }

    /// Ends the current bar, leaving it on screen where it stopped: at 100 % after a
    /// completed phase, part way after a cancel or a failure.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            // `abandon`, not `finish`: indicatif's finish would draw 100 %.
            bar.abandon();
        }
    }
}

fn label(p: &Progress) -> String {
    let phase = match p.phase {
        Phase::Writing => "writing",
        Phase::Verifying => "verifying",
    };
    format!("copy {}/{} {phase}", p.copy, p.copies)
}

fn new_bar(label: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(100), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{prefix:>20} [{bar:32.cyan/blue}] {pos:>3}%  {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(label.to_owned());
    bar
}

/// `1.33 MiB/s, 3 s left`: the image bytes between percentages `from` and `to` over
/// `elapsed`, and the rest of the image at that pace.
pub fn rate_text(image_bytes: u64, from: u8, to: u8, elapsed: Duration) -> String {
    if to <= from || elapsed.is_zero() {
        return "measuring…".to_owned();
    }
    let done = image_bytes.saturating_mul(u64::from(to - from)) / 100;
    let secs = elapsed.as_secs_f64();
    // Rounded to whole bytes per second: precision beyond that means nothing here.
    let per_sec = (done as f64 / secs).round() as u64;
    if to >= 100 {
        return format!("{}/s, done", HumanBytes(per_sec));
    }
    let left = secs * f64::from(100 - to) / f64::from(to - from);
    format!(
        "{}/s, {} left",
        HumanBytes(per_sec),
        short_duration(Duration::from_secs_f64(left))
    )
}

/// `42 s`, `3 min 5 s`, `1 h 2 min`.
pub fn short_duration(d: Duration) -> String {
    let s = d.as_secs() + u64::from(d.subsec_millis() >= 500);
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_and_time_left_come_from_size_percent_and_elapsed() {
        // 10 MiB image, from 10 % to 35 % in 2 s: 1.25 MiB/s, 65 % left is 5.2 s.
        let text = rate_text(10 * 1024 * 1024, 10, 35, Duration::from_secs(2));
        assert_eq!(text, "1.25 MiB/s, 5 s left");
        assert_eq!(
            rate_text(1000, 10, 10, Duration::from_secs(2)),
            "measuring…"
        );
        assert!(rate_text(1000, 10, 100, Duration::from_secs(1)).ends_with("done"));
    }

    #[test]
    fn durations_read_short() {
        assert_eq!(short_duration(Duration::from_millis(41_600)), "42 s");
        assert_eq!(short_duration(Duration::from_secs(185)), "3 min 5 s");
        assert_eq!(short_duration(Duration::from_secs(3720)), "1 h 2 min");
    }
}
