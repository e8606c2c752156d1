//! Statistics plots for the status page: copies per day per station type, verify failures per
//! station, and the busiest hours of the day — drawn server-side as SVG from the copy ledger.
//!
//! Why server-side: the page runs no inline script and loads no plotting library, so the
//! browser only shows an image. Why from the [`Ledger`]: it holds every copy (the audit log
//! may be rotated away), and the plots must agree with what quotas count.
//!
//! Stations are named by the name the master last saw them present on their control link
//! ([`Ledger::name_station`]) and typed by the master's configuration (drive and services, as
//! LIST groups them). A copy of a station the master cannot name counts under
//! [`UNKNOWN_STATION`]. Days and hours are UTC, like the audit log's timestamps.
//!
//! plotters draws with its SVG backend only: text is SVG `<text>` the browser renders, so no
//! system font is read on the server.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::ledger::{CopyRow, Ledger};

/// Days the plots cover, today included.
pub const DAYS: u64 = 14;
/// Size of each plot in SVG user units (pixels at 100 %).
pub const SIZE: (u32, u32) = (640, 320);
/// The label of copies whose station the master cannot name (or no longer configures).
pub const UNKNOWN_STATION: &str = "unknown";
/// What an empty plot says.
pub const NO_COPIES: &str = "no copies yet";

const SECONDS_PER_DAY: u64 = 86_400;
const FONT: &str = "sans-serif";

/// The three plots, each a complete SVG document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plots {
    /// Copies per day (last [`DAYS`] days) per station type, one line each.
    pub copies_per_day: String,
    /// Failed verifies per station over the same days, one bar per configured station.
    pub verify_failures: String,
    /// Copies by hour of day (UTC) over the same days, 24 bars.
    pub busiest_hours: String,
}

/// Draws the plots of the last [`DAYS`] days up to `now` from `ledger`; `config` names the
/// stations' types.
pub fn plots(ledger: &dyn Ledger, config: &Config, now: SystemTime) -> Result<Plots> {
    let today = days(now);
    let first_day = today.saturating_sub(DAYS - 1);
    let rows =
        ledger.copies_since(UNIX_EPOCH + Duration::from_secs(first_day * SECONDS_PER_DAY))?;
    let stations = Stations::of(config);
    Ok(Plots {
        copies_per_day: copies_per_day(&rows, &stations, first_day, today)?,
        verify_failures: verify_failures(&rows, &stations)?,
        busiest_hours: busiest_hours(&rows)?,
    })
}

/// Station names (config order) and the type name of each.
struct Stations {
    names: Vec<String>,
    types: BTreeMap<String, String>,
}

impl Stations {
    fn of(config: &Config) -> Stations {
        let mut types = BTreeMap::new();
        for entry in crate::registry::station_types(config) {
            for &index in &entry.stations {
                if let Some(station) = config.stations.get(index) {
                    types.insert(station.name.clone(), entry.record.name.clone());
                }
            }
        }
        Stations {
            names: config.stations.iter().map(|s| s.name.clone()).collect(),
            types,
        }
    }

    /// The configured name of the row's station, or [`UNKNOWN_STATION`].
    fn name<'a>(&'a self, row: &CopyRow) -> &'a str {
        row.station_name
            .as_deref()
            .and_then(|name| self.names.iter().find(|n| *n == name))
            .map_or(UNKNOWN_STATION, String::as_str)
    }

    fn type_of<'a>(&'a self, row: &CopyRow) -> &'a str {
        self.types
            .get(self.name(row))
            .map_or(UNKNOWN_STATION, String::as_str)
    }
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn days(t: SystemTime) -> u64 {
    secs(t) / SECONDS_PER_DAY
}

/// `MM-DD` of a day counted from the epoch (UTC).
fn day_label(day: u64) -> String {
    let at = i64::try_from(day.saturating_mul(SECONDS_PER_DAY)).unwrap_or(0);
    match time::OffsetDateTime::from_unix_timestamp(at) {
        Ok(date) => format!("{:02}-{:02}", u8::from(date.month()), date.day()),
        Err(_) => day.to_string(),
    }
}

fn plot_err<E: std::fmt::Debug>(e: E) -> Error {
    Error::Plot(format!("{e:?}"))
}

/// Renders into an SVG string with `draw`, on a white background.
fn svg(
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> Result<()>,
) -> Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        draw(&root)?;
        root.present().map_err(plot_err)?;
    }
    Ok(out)
}

/// A plot with nothing to show: its title and [`NO_COPIES`].
fn empty(title: &str) -> Result<String> {
    svg(|root| {
        let (w, h) = SIZE;
        root.draw(&Text::new(title.to_owned(), (20, 20), (FONT, 20)))
            .map_err(plot_err)?;
        let at = (
            i32::try_from(w / 2).unwrap_or(0) - 60,
            i32::try_from(h / 2).unwrap_or(0),
        );
        root.draw(&Text::new(NO_COPIES, at, (FONT, 18)))
            .map_err(plot_err)
    })
}

fn copies_per_day(
    rows: &[CopyRow],
    stations: &Stations,
    first_day: u64,
    today: u64,
) -> Result<String> {
    const TITLE: &str = "Copies per day by station type";
    if rows.is_empty() {
        return empty(TITLE);
    }
    let span = usize::try_from(today - first_day + 1).unwrap_or(0);
    let mut by_type: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for row in rows {
        let Some(offset) = days(row.at).checked_sub(first_day) else {
            continue;
        };
        let counts = by_type
            .entry(stations.type_of(row))
            .or_insert_with(|| vec![0; span]);
        if let Some(n) = usize::try_from(offset).ok().and_then(|i| counts.get_mut(i)) {
            *n += 1;
        }
    }
    let top = by_type.values().flatten().copied().max().unwrap_or(0) + 1;
    let last = u32::try_from(span.saturating_sub(1)).unwrap_or(0);
    svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption(TITLE, (FONT, 20))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(0u32..last, 0u32..top)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_labels(span)
            .x_label_formatter(&|d| day_label(first_day + u64::from(*d)))
            .y_desc("copies")
            .draw()
            .map_err(plot_err)?;
        for (i, (name, counts)) in by_type.iter().enumerate() {
            let colour = Palette99::pick(i).to_rgba();
            let points = counts
                .iter()
                .enumerate()
                .map(|(d, &n)| (u32::try_from(d).unwrap_or(0), n));
            chart
                .draw_series(LineSeries::new(points, colour.stroke_width(2)))
                .map_err(plot_err)?
                .label(*name)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(plot_err)
    })
}

/// Bars over named categories.
fn bars(title: &str, y_desc: &str, names: &[String], counts: &[u32]) -> Result<String> {
    let n = u32::try_from(names.len()).unwrap_or(0);
    let top = counts.iter().copied().max().unwrap_or(0) + 1;
    svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 20))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d((0u32..n).into_segmented(), 0u32..top)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(names.len())
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => usize::try_from(*i)
                    .ok()
                    .and_then(|i| names.get(i))
                    .cloned()
                    .unwrap_or_default(),
                SegmentValue::Last => String::new(),
            })
            .y_desc(y_desc)
            .draw()
            .map_err(plot_err)?;
        chart
            .draw_series(
                Histogram::vertical(&chart)
                    .style(BLUE.mix(0.7).filled())
                    .margin(4)
                    .data(
                        counts
                            .iter()
                            .enumerate()
                            .filter(|(_, &c)| c > 0)
                            .map(|(i, &c)| (u32::try_from(i).unwrap_or(0), c)),
                    ),
            )
            .map_err(plot_err)?;
        Ok(())
    })
}

fn verify_failures(rows: &[CopyRow], stations: &Stations) -> Result<String> {
    const TITLE: &str = "Failed verifies per station";
    if rows.is_empty() {
        return empty(TITLE);
    }
    let mut names = stations.names.clone();
    let mut counts = vec![0u32; names.len()];
    for row in rows
        .iter()
        .filter(|r| r.result.as_deref() == Some("verify_failed"))
    {
        let name = stations.name(row);
        let index = match names.iter().position(|n| n == name) {
            Some(index) => index,
            None => {
                names.push(name.to_owned());
                counts.push(0);
                counts.len() - 1
            }
        };
        if let Some(n) = counts.get_mut(index) {
            *n += 1;
        }
    }
    bars(TITLE, "failed verifies", &names, &counts)
}

fn busiest_hours(rows: &[CopyRow]) -> Result<String> {
    const TITLE: &str = "Copies by hour of day (UTC)";
    if rows.is_empty() {
        return empty(TITLE);
    }
    let mut counts = [0u32; 24];
    for row in rows {
        let hour = (secs(row.at) % SECONDS_PER_DAY) / 3600;
        if let Some(n) = usize::try_from(hour).ok().and_then(|h| counts.get_mut(h)) {
            *n += 1;
        }
    }
    let names: Vec<String> = (0..24).map(|h| format!("{h:02}")).collect();
    bars(TITLE, "copies", &names, &counts)
}

#[cfg(test)]
mod tests;
