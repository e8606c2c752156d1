//! The statistics as text: one titled table per view, laid out by `comfy-table` in Markdown
//! style (plain ASCII, so it survives mail and logs, and pastes into an issue as a table).
//! Column widths are measured by display width, so names in any script line up.

use std::collections::BTreeMap;

use comfy_table::presets::ASCII_MARKDOWN;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};

use super::{Statistics, Tally};
use crate::output::Report;

/// The count columns every tally table ends with.
const COUNTS: [&str; 4] = ["copies", "verified", "verify failed", "other"];

/// A cell of text from a log: control characters (a newline would split the row) are shown
/// escaped, never interpreted.
fn text(s: &str) -> Cell {
    if !s.chars().any(char::is_control) {
        return Cell::new(s);
    }
    let escaped: String = s
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect();
    Cell::new(escaped)
}

fn count(n: u64) -> Cell {
    Cell::new(n).set_alignment(CellAlignment::Right)
}

fn tally(t: &Tally) -> [Cell; 4] {
    [
        count(t.copies),
        count(t.verified),
        count(t.verify_failed),
        count(t.other),
    ]
}

/// A table with these headers; never wrapped to a terminal width (there is none to ask).
fn table(headers: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_style(ASCII_MARKDOWN)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(headers.to_vec());
    table
}

/// `title`, then the table's lines.
fn section(lines: &mut Vec<String>, title: &str, table: &Table) {
    lines.push(String::new());
    lines.push(title.to_owned());
    lines.extend(table.lines());
}

/// A titled table: the `keys` columns, then [`COUNTS`].
fn tallies<'a>(
    lines: &mut Vec<String>,
    title: &str,
    keys: &[&str],
    rows: impl Iterator<Item = (Vec<Cell>, &'a Tally)>,
) {
    let mut t = table(&[keys, &COUNTS[..]].concat());
    for (mut cells, counts) in rows {
        cells.extend(tally(counts));
        t.add_row(cells);
    }
    section(lines, title, &t);
}

fn per_key(rows: &BTreeMap<String, Tally>) -> impl Iterator<Item = (Vec<Cell>, &Tally)> {
    rows.iter().map(|(key, t)| (vec![text(key)], t))
}

impl Report for Statistics {
    fn human(&self) -> String {
        let mut lines = vec![format!(
            "{} burned cop{} in {}",
            self.copies,
            if self.copies == 1 { "y" } else { "ies" },
            self.logs.join(", ")
        )];
        if self.copies == 0 {
            return lines.join("\n");
        }
        tallies(&mut lines, "per user", &["user"], per_key(&self.per_user));
        let images = self
            .per_image
            .iter()
            .map(|(image, t)| (vec![text(&image.name), text(&image.sha256)], t));
        tallies(&mut lines, "per image", &["image", "sha256"], images);
        let stations = per_key(&self.per_station);
        tallies(&mut lines, "per station", &["station"], stations);

        if self.verify_failures_per_drive.is_empty() {
            lines.extend([String::new(), "verify failures per drive: none".to_owned()]);
        } else {
            let mut drives = table(&["station", "drive", "verify failures"]);
            for (drive, n) in &self.verify_failures_per_drive {
                drives.add_row(vec![text(&drive.station), text(&drive.drive), count(*n)]);
            }
            section(&mut lines, "verify failures per drive", &drives);
        }

        if let Some(by) = self.by {
            let rows = self.per_period.iter().flat_map(|(period, stations)| {
                stations
                    .iter()
                    .map(move |(station, t)| (vec![text(period), text(station)], t))
            });
            let title = format!("copies per {} (UTC)", by.word());
            tallies(&mut lines, &title, &[by.word(), "station"], rows);
        }
        lines.join("\n")
    }
}
