//! Geometry of the server-drawn charts: the overview's stacked bars of risky ports per day,
//! and each host's per-port timelines. Templates only place what is computed here.

use super::exposure::Exposure;
use super::format;
use portwatch_kb::Severity;
use portwatch_model::{PortState, Proto};
use portwatch_store::SpanRow;

/// Rounds to one decimal (short, stable SVG attributes).
fn r1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// One day's stacked bar.
#[derive(Debug, Clone)]
pub struct Bar {
    /// Left edge.
    pub x: f64,
    /// Width.
    pub width: f64,
    /// Top of the critical part.
    pub critical_y: f64,
    /// Height of the critical part.
    pub critical_h: f64,
    /// Top of the high part (above the critical part).
    pub high_y: f64,
    /// Height of the high part.
    pub high_h: f64,
    /// The day in words, for the tooltip.
    pub label: String,
}

/// A labelled position on an axis.
#[derive(Debug, Clone)]
pub struct Tick {
    /// Position along the axis.
    pub pos: f64,
    /// Its label.
    pub label: String,
}

/// The exposure chart, laid out.
#[derive(Debug, Clone)]
pub struct BarChart {
    /// SVG width.
    pub width: f64,
    /// SVG height.
    pub height: f64,
    /// Left edge of the plot.
    pub left: f64,
    /// Right edge of the plot.
    pub right: f64,
    /// The zero line.
    pub baseline: f64,
    /// One bar per day.
    pub bars: Vec<Bar>,
    /// Horizontal grid lines with their values.
    pub y_ticks: Vec<Tick>,
    /// Day labels under the bars.
    pub x_ticks: Vec<Tick>,
    /// A sentence describing the data, for `<desc>`.
    pub summary: String,
}

/// A round top for the y axis at or above `max`.
fn nice_ceiling(max: u32) -> u32 {
    if max <= 4 {
        return 4;
    }
    let magnitude = 10u32.pow(max.ilog10());
    [1, 2, 5, 10]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&c| c >= max)
        .unwrap_or(max)
}

/// Lays out the exposure series as stacked bars (critical at the bottom, high above).
pub fn exposure_chart(e: &Exposure) -> BarChart {
    let (width, height) = (720.0, 220.0);
    let (left, right, top, bottom) = (44.0, 710.0, 12.0, 190.0);
    let max = e
        .days
        .iter()
        .map(super::exposure::Day::total)
        .max()
        .unwrap_or(0);
    let ceiling = nice_ceiling(max);
    let scale = (bottom - top) / f64::from(ceiling);
    let slot = (right - left) / e.days.len().max(1) as f64;
    let bars = e
        .days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let critical_h = f64::from(d.critical) * scale;
            let high_h = f64::from(d.high) * scale;
            Bar {
                x: r1(left + i as f64 * slot + slot * 0.15),
                width: r1(slot * 0.7),
                critical_y: r1(bottom - critical_h),
                critical_h: r1(critical_h),
                high_y: r1(bottom - critical_h - high_h),
                high_h: r1(high_h),
                label: format!(
                    "{}: {} risky port{} open ({} critical, {} high)",
                    format::date(d.start_ms),
                    d.total(),
                    if d.total() == 1 { "" } else { "s" },
                    d.critical,
                    d.high
                ),
            }
        })
        .collect();
    let y_ticks = [0, ceiling / 2, ceiling]
        .into_iter()
        .map(|v| Tick {
            pos: r1(bottom - f64::from(v) * scale),
            label: v.to_string(),
        })
        .collect();
    let last = e.days.len().saturating_sub(1);
    let x_ticks = e
        .days
        .iter()
        .enumerate()
        .filter(|(i, _)| (last - i).is_multiple_of(7))
        .map(|(i, d)| Tick {
            pos: r1(left + (i as f64 + 0.5) * slot),
            label: format::month_day(d.start_ms),
        })
        .collect();
    let today = e.days.last().map_or(0, super::exposure::Day::total);
    let peak = e.days.iter().max_by_key(|d| d.total());
    let summary = match peak {
        Some(p) if max > 0 => format!(
            "Risky open ports per day over the last {} days: {today} today; the most was {max} on {}.",
            e.days.len(),
            format::date(p.start_ms)
        ),
        _ => format!(
            "No risky port was open on any of the last {} days.",
            e.days.len()
        ),
    };
    BarChart {
        width,
        height,
        left,
        right,
        baseline: bottom,
        bars,
        y_ticks,
        x_ticks,
        summary,
    }
}

/// One remembered state of a port on a timeline.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Left edge, in percent of the row.
    pub x: f64,
    /// Width in percent (at least [`MIN_SEGMENT`], so a short span stays visible).
    pub width: f64,
    /// The fill: `tl-critical` … `tl-none` for open (by the port's rating), `tl-of` for
    /// open|filtered.
    pub class: &'static str,
    /// When, in words, for the tooltip.
    pub title: String,
}

/// One port's timeline.
#[derive(Debug, Clone)]
pub struct TimelineRow {
    /// `445/tcp`.
    pub label: String,
    /// The port's page.
    pub port_url: String,
    /// Its spans, oldest first.
    pub segments: Vec<Segment>,
    /// The whole row in words (the chart's text alternative).
    pub summary: String,
    /// Whether the port is open now.
    pub open_now: bool,
    /// How serious an open period of it is where the host is.
    pub severity: Severity,
    /// The severity badge's class.
    pub severity_class: &'static str,
}

/// The date axis under the timelines: labelled ticks, in percent of the row.
#[derive(Debug, Clone)]
pub struct TimeAxis {
    /// The ticks, left to right.
    pub ticks: Vec<AxisTick>,
}

/// A tick of the date axis.
#[derive(Debug, Clone)]
pub struct AxisTick {
    /// Where it is, 0 to 100 (percent of the row).
    pub pos: f64,
    /// Its label.
    pub label: String,
    /// The label's text anchor: `start` near the left edge, `end` near the right one.
    pub anchor: &'static str,
}

const HOUR_MS: i64 = 3_600_000;

/// Tick steps the axis chooses from, shortest first.
const STEPS: [i64; 12] = [
    HOUR_MS,
    3 * HOUR_MS,
    6 * HOUR_MS,
    12 * HOUR_MS,
    format::DAY_MS,
    2 * format::DAY_MS,
    7 * format::DAY_MS,
    14 * format::DAY_MS,
    30 * format::DAY_MS,
    91 * format::DAY_MS,
    182 * format::DAY_MS,
    365 * format::DAY_MS,
];

/// Most ticks on the axis.
const MAX_TICKS: i64 = 6;

/// The axis from `start` to `end` (ms): ticks at whole steps of UTC time (the shortest step
/// that gives at most [`MAX_TICKS`]), labelled by time of day under a day, else by date.
pub fn time_axis(start: i64, end: i64) -> TimeAxis {
    let length = (end - start).max(1);
    let step = STEPS
        .into_iter()
        .find(|s| length / s < MAX_TICKS)
        .unwrap_or(365 * format::DAY_MS);
    let mut ticks = Vec::new();
    let mut t = (start.div_euclid(step) + 1) * step;
    while t < end {
        let label = if step < format::DAY_MS {
            if t.rem_euclid(format::DAY_MS) == 0 {
                format::month_day(t)
            } else {
                format::hour_minute(t)
            }
        } else if step >= 182 * format::DAY_MS {
            format::year_month(t)
        } else {
            format::month_day(t)
        };
        let pos = r1((t - start) as f64 / length as f64 * 100.0);
        ticks.push(AxisTick {
            pos,
            label,
            anchor: match pos {
                p if p < 5.0 => "start",
                p if p > 95.0 => "end",
                _ => "middle",
            },
        });
        t += step;
    }
    TimeAxis { ticks }
}

/// The narrowest a period is drawn, in percent of the row (a few pixels on a laptop), so a
/// port open for a moment is still seen.
const MIN_SEGMENT: f64 = 0.6;

/// Timelines of a host's ports from `start` to `end` (ms), one row per transport and port in
/// the order `history` gives them; `rate` says how serious an open period of a port is (the
/// open periods are filled in that severity's colour).
pub fn timelines(
    spans: &[SpanRow],
    start: i64,
    end: i64,
    rate: impl Fn(&SpanRow) -> Severity,
) -> Vec<TimelineRow> {
    let length = (end - start).max(1) as f64;
    let pos = |t: i64| ((t.clamp(start, end) - start) as f64 / length * 100.0).clamp(0.0, 100.0);
    // One period per unbroken state: the store starts a new span whenever what answers
    // changes (a banner read, a version learned), which is history but not a new period.
    let mut ports: Vec<(String, u16, Proto, Severity, Vec<Period>)> = Vec::new();
    for s in spans {
        let label = format!("{}/{}", s.port, s.proto);
        if ports.last().is_none_or(|(l, ..)| *l != label) {
            ports.push((label, s.port, s.proto, Severity::None, Vec::new()));
        }
        let Some((_, _, _, severity, periods)) = ports.last_mut() else {
            continue;
        };
        *severity = (*severity).max(rate(s));
        let open = s.snapshot.state == PortState::Open;
        match periods.last_mut() {
            Some(last) if last.open == open && last.to == Some(s.from_at) => last.to = s.to_at,
            _ => periods.push(Period {
                open,
                from: s.from_at,
                to: s.to_at,
            }),
        }
    }
    ports
        .into_iter()
        .map(|(label, port, proto, severity, periods)| {
            let segments: Vec<Segment> = periods
                .iter()
                .map(|p| {
                    let from = pos(p.from);
                    let width = (pos(p.to.unwrap_or(end)) - from).max(MIN_SEGMENT);
                    // A period that began a moment ago stays inside the row, at its right end.
                    let x = from.min(100.0 - width);
                    let state = if p.open { "open" } else { "open|filtered" };
                    Segment {
                        x: r1(x),
                        width: r1(width),
                        class: if p.open {
                            fill_class(severity)
                        } else {
                            "tl-of"
                        },
                        title: match p.to {
                            Some(to) => format!(
                                "{state} from {} to {}",
                                format::when(p.from),
                                format::when(to)
                            ),
                            None => format!("{state} since {}", format::when(p.from)),
                        },
                    }
                })
                .collect();
            let parts: Vec<&str> = segments.iter().map(|s| s.title.as_str()).collect();
            TimelineRow {
                port_url: port_url(port, proto),
                summary: format!("{label} ({severity} risk): {}", parts.join("; ")),
                open_now: periods.iter().any(|p| p.to.is_none()),
                label,
                segments,
                severity,
                severity_class: format::severity_class(severity),
            }
        })
        .collect()
}

/// The fill of an open period rated `s`.
fn fill_class(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "tl-critical",
        Severity::High => "tl-high",
        Severity::Medium => "tl-medium",
        Severity::Low => "tl-low",
        Severity::None => "tl-none",
    }
}

/// An unbroken period in one state.
struct Period {
    open: bool,
    from: i64,
    to: Option<i64>,
}

/// The page of a port on a transport.
pub fn port_url(port: u16, proto: Proto) -> String {
    format!("/ports/{port}?proto={proto}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::exposure::{DAYS, empty};

    #[test]
    fn bars_stack_critical_under_high_and_fit_the_plot() {
        let mut e = empty(100 * format::DAY_MS);
        e.days[DAYS - 1].critical = 3;
        e.days[DAYS - 1].high = 2;
        let c = exposure_chart(&e);
        let b = &c.bars[DAYS - 1];
        assert!(b.critical_y + b.critical_h <= c.baseline + 0.05);
        assert!((b.high_y + b.high_h - b.critical_y).abs() < 0.2);
        assert!(b.high_y >= 12.0 - 0.05, "inside the plot");
        assert_eq!(c.y_ticks.last().unwrap().label, "5");
        assert!(c.summary.contains("5 today"), "{}", c.summary);
        assert_eq!(nice_ceiling(37), 50);
        assert_eq!(nice_ceiling(120), 200);
    }

    fn span(state: PortState, from: i64, to: Option<i64>) -> SpanRow {
        SpanRow {
            host: "10.0.0.1".parse().unwrap(),
            vantage: "local".into(),
            hostname: None,
            port: 445,
            proto: Proto::Tcp,
            snapshot: portwatch_store::PortSnapshot {
                state,
                reason: portwatch_model::Reason::SynAck,
                service: None,
                details: Default::default(),
            },
            from_scan: portwatch_store::ScanId(1),
            from_at: from,
            to_scan: None,
            to_at: to,
        }
    }

    #[test]
    fn adjacent_spans_in_one_state_are_one_period() {
        let spans = [
            span(PortState::Open, 1_000, Some(2_000)),
            span(PortState::Open, 2_000, Some(3_000)),
            span(PortState::Open, 5_000, None),
        ];
        let rows = timelines(&spans, 0, 10_000, |_| Severity::High);
        assert_eq!(rows.len(), 1);
        assert!(rows[0].segments.iter().all(|s| s.class == "tl-high"));
        let titles: Vec<_> = rows[0].segments.iter().map(|s| s.title.as_str()).collect();
        assert_eq!(titles.len(), 2, "{titles:?}");
        assert!(titles[1].starts_with("open since"), "{titles:?}");
        assert!(rows[0].open_now);
    }

    #[test]
    fn open_periods_are_filled_by_the_ports_rating_and_open_filtered_apart() {
        let spans = [
            span(PortState::OpenFiltered, 1_000, Some(2_000)),
            span(PortState::Open, 5_000, None),
        ];
        for (severity, class) in [
            (Severity::Critical, "tl-critical"),
            (Severity::Low, "tl-low"),
            (Severity::None, "tl-none"),
        ] {
            let rows = timelines(&spans, 0, 10_000, |_| severity);
            let classes: Vec<_> = rows[0].segments.iter().map(|s| s.class).collect();
            assert_eq!(classes, ["tl-of", class]);
            assert!(rows[0].summary.contains(&format!("({severity} risk)")));
        }
        let rows = timelines(&spans, 0, 10_000, |_| Severity::Low);
        let (x, w) = (rows[0].segments[1].x, rows[0].segments[1].width);
        assert_eq!((x, w), (50.0, 50.0), "percent of the row");
        // Opened a moment ago: still drawn, inside the row.
        let rows = timelines(&spans[1..], 0, 5_001, |_| Severity::Low);
        let s = &rows[0].segments[0];
        assert!(s.width >= MIN_SEGMENT && s.x + s.width <= 100.0, "{s:?}");
    }

    #[test]
    fn the_axis_ticks_whole_utc_steps_and_labels_them_by_date_or_time() {
        let day = format::DAY_MS;
        // Ten days: ticks every two days at midnight, labelled by date.
        let a = time_axis(100 * day + 5 * HOUR_MS, 110 * day + 5 * HOUR_MS);
        let labels: Vec<_> = a.ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels.len(), 5, "{labels:?}");
        assert_eq!(labels[0], format::month_day(102 * day));
        assert!(a.ticks.windows(2).all(|w| w[0].pos < w[1].pos));
        assert!(a.ticks.iter().all(|t| (0.0..=100.0).contains(&t.pos)));
        // Five hours: hourly ticks by time of day, and a date at midnight.
        let a = time_axis(100 * day - 2 * HOUR_MS - 1, 100 * day + 3 * HOUR_MS);
        let labels: Vec<_> = a.ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "22:00",
                "23:00",
                &format::month_day(100 * day),
                "01:00",
                "02:00"
            ]
        );
        // Three years: by month.
        let a = time_axis(0, 3 * 365 * day);
        assert_eq!(a.ticks[0].label, "1971-01");
        assert!(a.ticks.len() <= 6);
    }
}
