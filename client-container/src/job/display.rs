//! A job's progress on stderr: on a terminal one bar per drive (station, copy k of N,
//! percent, speed) and a total line; otherwise a line per event (each copy's start, every
//! 25 % of each phase, each copy's end, a drive leaving); nothing with `--json`.

use std::io::IsTerminal;
use std::time::Instant;

use burnstand_wire::burner::{Phase, Progress};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::burn::Show;
use crate::progress::rate_text;

/// A line-mode progress line every this many percent.
const LINE_STEP: u8 = 25;

/// One drive's phase being shown.
#[derive(Default)]
struct Drive {
    name: String,
    /// The job's copy and the phase shown.
    current: Option<(u32, Phase)>,
    /// The phase's first report above 0 %: when, and how far (see [`crate::progress`]).
    anchor: Option<(Instant, u8)>,
    last_step: Option<u8>,
    bar: Option<ProgressBar>,
}

/// The progress display of one job.
pub struct JobDisplay {
    quiet: bool,
    /// On a terminal: the bars.
    multi: Option<MultiProgress>,
    total: Option<ProgressBar>,
    drives: Vec<Drive>,
    copies: u32,
    image_bytes: u64,
    width: usize,
    ended: u64,
    verified: u64,
    failed: u64,
}

impl JobDisplay {
    /// A display of `copies` copies of an image of `image_bytes` on drives named `names`;
    /// `quiet` for `--json`.
    pub fn new(quiet: bool, names: &[String], copies: u32, image_bytes: u64) -> Self {
        let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
        let mut display = JobDisplay {
            quiet,
            multi: None,
            total: None,
            drives: names
                .iter()
                .map(|name| Drive {
                    name: name.clone(),
                    ..Drive::default()
                })
                .collect(),
            copies,
            image_bytes,
            width,
            ended: 0,
            verified: 0,
            failed: 0,
        };
        if !quiet && std::io::stderr().is_terminal() {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            for d in &mut display.drives {
                let bar = multi.add(new_bar(
                    "{prefix} [{bar:24.cyan/blue}] {pos:>3}%  {msg}",
                    100,
                ));
                bar.set_prefix(format!("{:<width$} waiting", d.name));
                d.bar = Some(bar);
            }
            let total = multi.add(new_bar(
                "{prefix} [{bar:24.green/blue}] {pos}/{len} copies  {msg}",
                u64::from(copies),
            ));
            total.set_prefix(format!("{:<width$}        ", "all drives"));
            display.total = Some(total);
            display.multi = Some(multi);
        }
        display
    }

    /// What a burn's tracker wants shown for drive `drive`, burning the job's copy `copy`.
    pub fn show(&mut self, drive: usize, copy: u32, show: Show) {
        match show {
            Show::Progress(p) => self.progress(drive, copy, &p),
            // The job prints its own line when the copy's burn is over.
            Show::CopyDone(_) => {}
            Show::Line(text) => self.line(&text),
        }
    }

    /// A STATUS report of drive `drive`, burning the job's copy `copy`.
    pub fn progress(&mut self, drive: usize, copy: u32, p: &Progress) {
        let (copies, bytes, width, quiet) = (self.copies, self.image_bytes, self.width, self.quiet);
        let Some(d) = self.drives.get_mut(drive) else {
            return;
        };
        let percent = p.percent.get();
        let label = format!(
            "copy {copy}/{copies} {}",
            match p.phase {
                Phase::Writing => "writing",
                Phase::Verifying => "verifying",
            }
        );
        if d.current != Some((copy, p.phase)) {
            d.current = Some((copy, p.phase));
            d.anchor = None;
            d.last_step = None;
            if let Some(bar) = &d.bar {
                bar.set_prefix(format!("{:<width$} {label:<20}", d.name));
            }
        }
        let rate = match d.anchor {
            Some((at, from)) => rate_text(bytes, from, percent, at.elapsed()),
            None => {
                if percent > 0 {
                    d.anchor = Some((Instant::now(), percent));
                }
                "measuring…".to_owned()
            }
        };
        if let Some(bar) = &d.bar {
            bar.set_position(percent.into());
            bar.set_message(rate);
        } else if !quiet {
            let step = percent / LINE_STEP;
            if d.last_step != Some(step) {
                d.last_step = Some(step);
                eprintln!("{}: {label} {percent:>3}%  {rate}", d.name);
            }
        }
    }

    /// The end of drive `drive`'s copy `copy`: its line, and the totals.
    pub fn copy_ended(&mut self, drive: usize, copy: u32, text: &str, verified: bool) {
        self.ended += 1;
        if verified {
            self.verified += 1;
        } else {
            self.failed += 1;
        }
        if let Some(d) = self.drives.get_mut(drive) {
            d.current = None;
            if let Some(bar) = &d.bar {
                bar.set_prefix(format!("{:<w$} {:<20}", d.name, "idle", w = self.width));
                bar.set_position(0);
                bar.set_message(format!(
                    "copy {copy}/{} {}",
                    self.copies,
                    if verified { "verified" } else { "NOT verified" }
                ));
            }
        }
        if let Some(total) = &self.total {
            total.set_position(self.ended);
            total.set_message(format!("{} verified, {} not", self.verified, self.failed));
        }
        self.line(text);
    }

    /// Drive `drive` does something else than burning (waits for a disc, left the job).
    pub fn drive_note(&mut self, drive: usize, state: &str, text: &str) {
        if let Some(d) = self.drives.get_mut(drive) {
            d.current = None;
            if let Some(bar) = &d.bar {
                bar.set_prefix(format!("{:<w$} {state:<20}", d.name, w = self.width));
                bar.set_position(0);
            }
        }
        self.line(text);
    }

    /// A line for the person, above the bars.
    pub fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        match &self.multi {
            Some(multi) => {
                let _ = multi.println(text);
            }
            None => eprintln!("{text}"),
        }
    }

    /// Leaves the bars where they stopped.
    pub fn finish(&mut self) {
        for d in &mut self.drives {
            if let Some(bar) = d.bar.take() {
                bar.abandon();
            }
        }
        if let Some(total) = self.total.take() {
            total.abandon();
        }
    }
}

fn new_bar(template: &str, len: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
    let style = ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar
}
