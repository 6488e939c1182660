//! Inline SVG charts for HTML reports, drawn with `plotters`' SVG backend.
//!
//! Every function returns one complete, self-contained `<svg>` element (no
//! scripts, no external fonts or files) that can be pasted into any HTML
//! page, e.g. with [`super::html::figure`]. The element carries
//! `class="chart"`, `data-chart="NAME"` (`timeline`, `latency-histogram`,
//! `percentile-curve`, `throughput`), `role="img"` and an `aria-label`; the
//! legend names every series drawn, so a reader (or a test) can find them.
//!
//! Empty input never fails: the chart says that there is nothing to draw.
//! The inputs are plain durations so `hookproof bench` or `hookproof fuzz`
//! can chart their own measurements:
//!
//! ```
//! use hookproof::report::charts;
//! use std::time::Duration;
//! let latencies: Vec<Duration> = (1..=200).map(Duration::from_micros).collect();
//! let svg = charts::latency_histogram(&latencies).unwrap();
//! assert!(svg.starts_with("<svg") && svg.contains("data-chart=\"latency-histogram\""));
//! ```

use super::html::escape;
use crate::history::{Attempt, AttemptOutcome};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::collections::HashMap;
use std::time::Duration;

/// Width of a half-width chart in SVG pixels (the timeline and the
/// throughput chart are twice as wide).
pub const WIDTH: u32 = 620;
/// Height of every chart in SVG pixels.
pub const HEIGHT: u32 = 300;

/// The percentiles [`percentile_curve`] marks: p50, p75, p90, p95, p99, p99.9.
pub const PERCENTILES: &[f64] = &[0.5, 0.75, 0.9, 0.95, 0.99, 0.999];

/// A chart could not be drawn.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChartError {
    /// `plotters` failed while drawing.
    #[error("cannot draw the {chart} chart: {message}")]
    Draw {
        /// Which chart (its `data-chart` name).
        chart: &'static str,
        /// The drawing error.
        message: String,
    },
    /// [`throughput`] was asked for buckets of zero length.
    #[error("the throughput bucket must be longer than zero")]
    ZeroBucket,
}

/// What one delivery attempt amounts to on the [`timeline`] chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttemptClass {
    /// The SUT answered 2xx and the producer saw it.
    Acked,
    /// The attempt failed (retryable status, timeout, connection error or a
    /// lost ack) and the delivery was tried again.
    Retried,
    /// The SUT refused the delivery for good (a non-retryable 4xx).
    Rejected,
    /// The last attempt of a delivery that never got an ack nor a refusal:
    /// the event went to the dead-letter queue (or the run ended first).
    DeadLettered,
}

impl AttemptClass {
    /// Every class, in legend order.
    pub const ALL: [AttemptClass; 4] = [
        AttemptClass::Acked,
        AttemptClass::Retried,
        AttemptClass::Rejected,
        AttemptClass::DeadLettered,
    ];

    /// The legend label.
    pub fn label(self) -> &'static str {
        match self {
            AttemptClass::Acked => "acked",
            AttemptClass::Retried => "retried",
            AttemptClass::Rejected => "rejected",
            AttemptClass::DeadLettered => "dead-lettered",
        }
    }

    /// Its colour, also used by the HTML page's CSS.
    pub fn color(self) -> RGBColor {
        match self {
            AttemptClass::Acked => ACKED,
            AttemptClass::Retried => RGBColor(0xe0, 0x8a, 0x00),
            AttemptClass::Rejected => RGBColor(0xc6, 0x28, 0x28),
            AttemptClass::DeadLettered => RGBColor(0x6a, 0x1b, 0x9a),
        }
    }

    /// Classifies every attempt of a delivery log (same order as
    /// `attempts`). Only the attempts are needed, so a log read back from
    /// `delivery-log/NAME.jsonl` classifies like a live one: a failed
    /// attempt is `Retried` when a later attempt of the same delivery
    /// exists, else `DeadLettered`.
    pub fn classify(attempts: &[Attempt]) -> Vec<AttemptClass> {
        let mut last: HashMap<usize, u32> = HashMap::new();
        for a in attempts {
            let n = last.entry(a.delivery).or_default();
            *n = (*n).max(a.attempt);
        }
        attempts
            .iter()
            .map(|a| match a.outcome {
                AttemptOutcome::Acked { .. } => AttemptClass::Acked,
                AttemptOutcome::Rejected { .. } => AttemptClass::Rejected,
                _ if last.get(&a.delivery).is_some_and(|&n| a.attempt < n) => AttemptClass::Retried,
                _ => AttemptClass::DeadLettered,
            })
            .collect()
    }
}

const ACKED: RGBColor = RGBColor(0x2e, 0x7d, 0x32);
const SERIES: RGBColor = RGBColor(0x1f, 0x5f, 0xa8);
const MUTED: RGBColor = RGBColor(0x66, 0x66, 0x66);
const FONT: &str = "sans-serif";

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Drawn = Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// Draws with `draw` on a white SVG canvas of `size` and returns the
/// `<svg>` element, tagged with `chart` and `label` (see the module doc).
fn render(
    chart: &'static str,
    label: &str,
    size: (u32, u32),
    draw: impl FnOnce(&Area<'_>) -> Drawn,
) -> Result<String, ChartError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE)
            .and_then(|()| draw(&root))
            .and_then(|()| root.present())
            .map_err(|e| ChartError::Draw {
                chart,
                message: e.to_string(),
            })?;
    }
    let attributes = format!(
        "<svg class=\"chart\" data-chart=\"{chart}\" role=\"img\" aria-label=\"{}\" ",
        escape(label)
    );
    Ok(svg.replacen("<svg ", &attributes, 1))
}

/// The "nothing to draw" canvas.
fn no_data(root: &Area<'_>, what: &str) -> Drawn {
    let (w, h) = root.dim_in_pixel();
    let style = TextStyle::from((FONT, 16).into_font()).color(&MUTED).pos(
        plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Center,
        ),
    );
    root.draw(&Text::new(
        what.to_string(),
        (w as i32 / 2, h as i32 / 2),
        style,
    ))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Formats milliseconds for axis labels and annotations.
fn ms_label(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Which grid lines a chart draws.
enum Grid {
    /// Lines across (a value axis on y).
    Horizontal,
    /// Lines up and down (time on x).
    Vertical,
}

/// The axes of a chart: descriptions, label formats, how many x labels
/// (plotters' default when `None`) and the grid.
struct Axes<'a> {
    x_desc: &'a str,
    y_desc: &'a str,
    x_label: &'a dyn Fn(&f64) -> String,
    y_label: &'a dyn Fn(&f64) -> String,
    x_labels: Option<usize>,
    grid: Grid,
}

/// Draws the axes and grid of every chart in one style.
fn draw_mesh(
    chart: &mut ChartContext<'_, SVGBackend<'_>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    axes: &Axes<'_>,
) -> Drawn {
    let mut mesh = chart.configure_mesh();
    match axes.grid {
        Grid::Horizontal => mesh.disable_x_mesh(),
        Grid::Vertical => mesh.disable_y_mesh(),
    };
    if let Some(n) = axes.x_labels {
        mesh.x_labels(n);
    }
    mesh.x_desc(axes.x_desc)
        .y_desc(axes.y_desc)
        .x_label_formatter(axes.x_label)
        .y_label_formatter(axes.y_label)
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 13))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(MUTED.mix(0.15))
        .draw()
}

fn legend<'a, 'b: 'a>(
    chart: &mut ChartContext<'a, SVGBackend<'b>, impl CoordTranslate>,
    position: SeriesLabelPosition,
) -> Drawn {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(MUTED.mix(0.5))
        .label_font((FONT, 13))
        .draw()
}

/// Event timeline: one row per delivery (y), time since the run's start
/// (x); each attempt is a bar from its start to its answer with a dot at
/// the start, coloured by its [`AttemptClass`]. The legend names the
/// classes present with their counts, e.g. `acked (120)`.
pub fn timeline(attempts: &[Attempt]) -> Result<String, ChartError> {
    let label = format!("delivery timeline: {} attempt(s)", attempts.len());
    render("timeline", &label, (WIDTH * 2, HEIGHT + 60), |root| {
        if attempts.is_empty() {
            return no_data(root, "no delivery attempts");
        }
        let classes = AttemptClass::classify(attempts);
        let end = attempts
            .iter()
            .map(|a| ms(a.answered_at()))
            .fold(1.0, f64::max);
        let rows = attempts.iter().map(|a| a.delivery).max().unwrap_or(0) as f64 + 1.0;
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..end * 1.02, -0.5..rows - 0.5)?;
        draw_mesh(
            &mut chart,
            &Axes {
                x_desc: "time since the run started (ms)",
                y_desc: "delivery #",
                x_label: &|v| ms_label(*v),
                y_label: &|v| format!("{v:.0}"),
                x_labels: None,
                grid: Grid::Vertical,
            },
        )?;
        for class in AttemptClass::ALL {
            let of_class: Vec<&Attempt> = attempts
                .iter()
                .zip(&classes)
                .filter(|(_, c)| **c == class)
                .map(|(a, _)| a)
                .collect();
            if of_class.is_empty() {
                continue;
            }
            let color = class.color();
            chart.draw_series(of_class.iter().map(|a| {
                let y = a.delivery as f64;
                PathElement::new(
                    vec![(ms(a.started), y), (ms(a.answered_at()), y)],
                    color.stroke_width(2),
                )
            }))?;
            chart
                .draw_series(
                    of_class.iter().map(|a| {
                        Circle::new((ms(a.started), a.delivery as f64), 3, color.filled())
                    }),
                )?
                .label(format!("{} ({})", class.label(), of_class.len()))
                .legend(move |(x, y)| Circle::new((x + 6, y), 4, color.filled()));
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })
}

/// Ack-latency histogram: acks (y) per latency bin (x, ms), between 5 and
/// 40 bins; vertical lines mark p50 and p99 (series `p50 … ms`, `p99 … ms`).
pub fn latency_histogram(latencies: &[Duration]) -> Result<String, ChartError> {
    let label = format!("ack latency histogram: {} ack(s)", latencies.len());
    render("latency-histogram", &label, (WIDTH, HEIGHT), |root| {
        if latencies.is_empty() {
            return no_data(root, "no acks: no latency to chart");
        }
        let mut values: Vec<Duration> = latencies.to_vec();
        let p50 = ms(quantile(&mut values, 0.5));
        let p99 = ms(quantile(&mut values, 0.99));
        let max = ms(*values.last().expect("not empty")).max(0.001);
        let bins = ((values.len() as f64).sqrt().ceil() as usize).clamp(5, 40);
        let width = max / bins as f64;
        let mut counts = vec![0u32; bins];
        for v in &values {
            counts[((ms(*v) / width) as usize).min(bins - 1)] += 1;
        }
        let top = f64::from(*counts.iter().max().expect("bins > 0")) * 1.3;
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..max * 1.02, 0.0..top)?;
        draw_mesh(
            &mut chart,
            &Axes {
                x_desc: "ack latency (ms)",
                y_desc: "acks",
                x_label: &|v| ms_label(*v),
                y_label: &|v| format!("{v:.0}"),
                x_labels: None,
                grid: Grid::Horizontal,
            },
        )?;
        chart
            .draw_series(counts.iter().enumerate().map(|(i, &c)| {
                let x0 = i as f64 * width;
                Rectangle::new(
                    [(x0, 0.0), (x0 + width, f64::from(c))],
                    SERIES.mix(0.75).filled(),
                )
            }))?
            .label(format!("acks ({})", values.len()))
            .legend(|(x, y)| {
                Rectangle::new([(x, y - 5), (x + 12, y + 5)], SERIES.mix(0.75).filled())
            });
        for (name, at, color) in [
            ("p50", p50, ACKED),
            ("p99", p99, AttemptClass::Rejected.color()),
        ] {
            chart
                .draw_series(LineSeries::new(
                    [(at, 0.0), (at, top)],
                    color.stroke_width(2),
                ))?
                .label(format!("{name} {} ms", ms_label(at)))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 12, y)], color.stroke_width(2))
                });
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
}

/// The nearest-rank `p`-quantile of a non-empty slice (sorts it).
fn quantile(values: &mut [Duration], p: f64) -> Duration {
    crate::check::quantile(values, p).expect("callers pass a non-empty slice")
}

/// Position of percentile `q` on the percentile curve's x axis: equal room
/// for each "nine" (p90 at 1, p99 at 2, p99.9 at 3).
fn nines(q: f64) -> f64 {
    -(1.0 - q).log10()
}

/// Percentile label, e.g. `p99.9`.
fn percentile_label(q: f64) -> String {
    let p = (q * 1000.0).round() / 10.0;
    if p.fract() == 0.0 {
        format!("p{p:.0}")
    } else {
        format!("p{p:.1}")
    }
}

/// Latency percentile curve: latency (y, ms) at each percentile from p0 to
/// p99.9 on a "nines" x axis, with the [`PERCENTILES`] marked and labelled
/// (series `ack latency` and `p50 … p99.9`).
pub fn percentile_curve(latencies: &[Duration]) -> Result<String, ChartError> {
    let label = format!("ack latency percentiles: {} ack(s)", latencies.len());
    render("percentile-curve", &label, (WIDTH, HEIGHT), |root| {
        if latencies.is_empty() {
            return no_data(root, "no acks: no latency to chart");
        }
        let mut values: Vec<Duration> = latencies.to_vec();
        let end = nines(0.999);
        let curve: Vec<(f64, f64)> = (0..=300)
            .map(|i| {
                let x = end * f64::from(i) / 300.0;
                let q = 1.0 - 10f64.powf(-x);
                (x, ms(quantile(&mut values, q.max(1e-9))))
            })
            .collect();
        let marks: Vec<(f64, f64, f64)> = PERCENTILES
            .iter()
            .map(|&q| (q, nines(q), ms(quantile(&mut values, q))))
            .collect();
        let top = curve.iter().map(|p| p.1).fold(0.001, f64::max) * 1.2;
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .margin_right(24)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..end * 1.04, 0.0..top)?;
        draw_mesh(
            &mut chart,
            &Axes {
                x_desc: "percentile",
                y_desc: "ack latency (ms)",
                x_label: &|v| ms_label(*v),
                y_label: &|v| ms_label(*v),
                // Ticked by hand below: the axis is not linear.
                x_labels: Some(0),
                grid: Grid::Horizontal,
            },
        )?;
        // The x axis is not linear in the percentile: tick the marked ones.
        let tick = TextStyle::from((FONT, 12).into_font()).color(&BLACK).pos(
            plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Top,
            ),
        );
        for &(q, x, _) in &marks {
            chart.draw_series(LineSeries::new([(x, 0.0), (x, top)], MUTED.mix(0.15)))?;
            let (px, py) = chart.backend_coord(&(x, 0.0));
            root.draw(&Text::new(percentile_label(q), (px, py + 6), tick.clone()))?;
        }
        chart
            .draw_series(LineSeries::new(curve, SERIES.stroke_width(2)))?
            .label("ack latency")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 12, y)], SERIES.stroke_width(2)));
        chart
            .draw_series(
                marks.iter().map(|&(_, x, y)| {
                    Circle::new((x, y), 4, AttemptClass::Rejected.color().filled())
                }),
            )?
            .label("p50, p75, p90, p95, p99, p99.9")
            .legend(|(x, y)| Circle::new((x + 6, y), 4, AttemptClass::Rejected.color().filled()));
        chart.draw_series(marks.iter().map(|&(q, x, y)| {
            Text::new(
                format!("{} {}", percentile_label(q), ms_label(y)),
                (x, y),
                TextStyle::from((FONT, 11).into_font()).color(&MUTED).pos(
                    plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Right,
                        plotters::style::text_anchor::VPos::Bottom,
                    ),
                ),
            )
        }))?;
        legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })
}

/// The colours of [`lines`]' series, in order.
const PALETTE: [RGBColor; 4] = [
    SERIES,
    RGBColor(0xc6, 0x28, 0x28),
    ACKED,
    RGBColor(0xef, 0x6c, 0x00),
];

/// How [`lines`] lays out its x axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum XAxis {
    /// Linear, labelled with the value and `unit`.
    Linear(&'static str),
    /// Percentiles on a "nines" axis (p50, p90, p99, p99.9 equally spaced):
    /// x values are percentiles in 0..100.
    Percentile,
}

/// Several named series of `(x, y)` points as lines with markers, y in
/// milliseconds from 0; `id` tags the `<svg>` (`data-chart`) and `title`
/// labels it. Empty series are left out; with none, a "no data" canvas.
/// Used by `hookproof bench` (percentiles of recorded histograms, latency
/// by rate across a saturation search).
pub fn lines(
    id: &'static str,
    title: &str,
    x_axis: XAxis,
    y_desc: &str,
    series: &[(&str, Vec<(f64, f64)>)],
) -> Result<String, ChartError> {
    let x_of = |x: f64| match x_axis {
        XAxis::Linear(_) => x,
        XAxis::Percentile => nines((x / 100.0).min(0.999_99)),
    };
    let series: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .filter(|(_, points)| !points.is_empty())
        .map(|(name, points)| (*name, points.iter().map(|&(x, y)| (x_of(x), y)).collect()))
        .collect();
    render(id, title, (WIDTH, HEIGHT), |root| {
        if series.is_empty() {
            return no_data(root, "nothing measured");
        }
        let all = series.iter().flat_map(|(_, p)| p.iter());
        let (lo, hi) = all
            .clone()
            .fold((f64::MAX, f64::MIN), |(l, h), p| (l.min(p.0), h.max(p.0)));
        let top = all.map(|p| p.1).fold(0.001, f64::max) * 1.2;
        let pad = ((hi - lo) * 0.04).max(0.5);
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .margin_right(24)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d((lo - pad)..(hi + pad), 0.0..top)?;
        let x_desc = match x_axis {
            XAxis::Linear(unit) => unit.to_string(),
            XAxis::Percentile => "percentile".to_string(),
        };
        // On the nines axis only whole nines are labelled (p90, p99, …).
        let x_label = move |v: &f64| match x_axis {
            XAxis::Linear(_) => format!("{v:.0}"),
            XAxis::Percentile if (v - v.round()).abs() < 0.05 && v.round() >= 1.0 => {
                let nines = v.round() as usize;
                let tail = "9".repeat(nines.saturating_sub(2));
                if tail.is_empty() {
                    format!("p{}", 100 - 10usize.pow(2 - nines.min(2) as u32))
                } else {
                    format!("p99.{tail}")
                }
            }
            XAxis::Percentile => String::new(),
        };
        draw_mesh(
            &mut chart,
            &Axes {
                x_desc: &x_desc,
                y_desc,
                x_label: &x_label,
                y_label: &|v| ms_label(*v),
                x_labels: Some(match x_axis {
                    XAxis::Linear(_) => 8,
                    XAxis::Percentile => 40,
                }),
                grid: Grid::Horizontal,
            },
        )?;
        for (i, (name, points)) in series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
                .label(*name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 12, y)], color.stroke_width(2))
                });
            chart.draw_series(
                points
                    .iter()
                    .map(move |&(x, y)| Circle::new((x, y), 3, color.filled())),
            )?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })
}

/// Throughput over time: acks (y) per `bucket` of time since the run
/// started (x, ms), from the instants the acks came
/// ([`crate::history::ack_times`]); series `acks per N ms`.
pub fn throughput(ack_times: &[Duration], bucket: Duration) -> Result<String, ChartError> {
    if bucket.is_zero() {
        return Err(ChartError::ZeroBucket);
    }
    let width = ms(bucket);
    let series = format!("acks per {} ms", ms_label(width));
    let label = format!("throughput: {series}");
    render("throughput", &label, (WIDTH * 2, HEIGHT - 40), |root| {
        if ack_times.is_empty() {
            return no_data(root, "no acks: no throughput to chart");
        }
        let last = ack_times.iter().map(|t| ms(*t)).fold(0.0, f64::max);
        let buckets = (last / width) as usize + 1;
        let mut counts = vec![0u32; buckets];
        for t in ack_times {
            counts[((ms(*t) / width) as usize).min(buckets - 1)] += 1;
        }
        let top = f64::from(*counts.iter().max().expect("buckets > 0")) * 1.3;
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..buckets as f64 * width, 0.0..top)?;
        let y_desc = format!("acks / {} ms", ms_label(width));
        draw_mesh(
            &mut chart,
            &Axes {
                x_desc: "time since the run started (ms)",
                y_desc: &y_desc,
                x_label: &|v| ms_label(*v),
                y_label: &|v| format!("{v:.0}"),
                x_labels: None,
                grid: Grid::Horizontal,
            },
        )?;
        chart
            .draw_series(counts.iter().enumerate().map(|(i, &c)| {
                let x0 = i as f64 * width;
                Rectangle::new(
                    [(x0 + width * 0.08, 0.0), (x0 + width * 0.92, f64::from(c))],
                    ACKED.mix(0.8).filled(),
                )
            }))?
            .label(series.clone())
            .legend(|(x, y)| {
                Rectangle::new([(x, y - 5), (x + 12, y + 5)], ACKED.mix(0.8).filled())
            });
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
}

#[cfg(test)]
mod tests {

    #[test]
    fn lines_draw_every_named_series_and_survive_no_data() {
        let svg = lines(
            "bench-percentiles",
            "latency",
            XAxis::Percentile,
            "ms",
            &[
                ("ack", vec![(50.0, 1.0), (99.0, 5.0), (99.9, 9.0)]),
                ("end to end", vec![(50.0, 3.0), (99.0, 30.0)]),
                ("empty", Vec::new()),
            ],
        )
        .unwrap();
        assert!(svg.starts_with("<svg class=\"chart\" data-chart=\"bench-percentiles\""));
        assert!(
            svg.contains("\nack\n") && svg.contains("\nend to end\n"),
            "{svg}"
        );
        assert!(!svg.contains("\nempty\n"));
        // One marker per point of the two series.
        assert_eq!(svg.matches("<circle").count(), 5, "{svg}");
        let none = lines("x", "t", XAxis::Linear("rate"), "ms", &[]).unwrap();
        assert!(none.contains("nothing measured"));
    }
    use super::*;

    fn attempt(delivery: usize, attempt: u32, started: u64, outcome: AttemptOutcome) -> Attempt {
        Attempt {
            delivery,
            event_id: format!("ev-{delivery}"),
            event_type: "ticket.created".into(),
            ticket_id: None,
            attempt,
            started: Duration::from_millis(started),
            latency: Duration::from_millis(7),
            outcome,
        }
    }

    /// A well-formed single `<svg>` element: starts and ends right, tags
    /// balance, and no script.
    fn assert_svg(svg: &str, chart: &str) {
        assert!(svg.starts_with("<svg "), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"), "{svg}");
        assert_eq!(svg.matches("<svg").count(), 1, "{svg}");
        assert!(svg.contains(&format!("data-chart=\"{chart}\"")), "{svg}");
        assert!(
            svg.contains("xmlns=\"http://www.w3.org/2000/svg\""),
            "{svg}"
        );
        assert!(!svg.contains("<script"), "{svg}");
        for tag in ["text", "g", "polyline", "rect"] {
            let open =
                svg.matches(&format!("<{tag} ")).count() + svg.matches(&format!("<{tag}>")).count();
            let close = svg.matches(&format!("</{tag}>")).count();
            let self_closed = svg
                .split(&format!("<{tag}"))
                .skip(1)
                .filter(|rest| {
                    let end = rest.find('>').unwrap();
                    rest[..end].ends_with('/')
                })
                .count();
            assert_eq!(open, close + self_closed, "unbalanced <{tag}> in {svg}");
        }
    }

    fn latencies() -> Vec<Duration> {
        (1..=500u64)
            .map(|i| Duration::from_micros(i * i * 8))
            .collect()
    }

    #[test]
    fn attempts_are_classified_from_the_attempts_alone() {
        let log = vec![
            attempt(0, 1, 0, AttemptOutcome::Acked { status: 200 }),
            attempt(1, 1, 0, AttemptOutcome::Retryable { status: 503 }),
            attempt(1, 2, 50, AttemptOutcome::Acked { status: 200 }),
            attempt(2, 1, 0, AttemptOutcome::Rejected { status: 401 }),
            attempt(3, 1, 0, AttemptOutcome::Timeout),
            attempt(3, 2, 50, AttemptOutcome::AckLost { status: 200 }),
        ];
        use AttemptClass::*;
        assert_eq!(
            AttemptClass::classify(&log),
            vec![Acked, Retried, Acked, Rejected, Retried, DeadLettered]
        );
    }

    #[test]
    fn the_timeline_has_a_series_per_class_present() {
        let log = vec![
            attempt(0, 1, 0, AttemptOutcome::Acked { status: 200 }),
            attempt(1, 1, 3, AttemptOutcome::Retryable { status: 503 }),
            attempt(1, 2, 60, AttemptOutcome::Acked { status: 200 }),
            attempt(2, 1, 9, AttemptOutcome::Rejected { status: 401 }),
            attempt(
                3,
                1,
                12,
                AttemptOutcome::ConnectionError {
                    error: "reset".into(),
                },
            ),
        ];
        let svg = timeline(&log).unwrap();
        assert_svg(&svg, "timeline");
        for series in [
            "acked (2)",
            "retried (1)",
            "rejected (1)",
            "dead-lettered (1)",
        ] {
            assert!(svg.contains(series), "{series} missing: {svg}");
        }
        assert!(
            svg.contains("#2E7D32") || svg.contains("#2e7d32"),
            "acked is green"
        );
        assert!(svg.contains("delivery #"));
        let only_acks = timeline(&log[..1]).unwrap();
        assert!(only_acks.contains("acked (1)") && !only_acks.contains("rejected"));
    }

    #[test]
    fn the_histogram_shows_acks_and_p50_p99() {
        let svg = latency_histogram(&latencies()).unwrap();
        assert_svg(&svg, "latency-histogram");
        assert!(svg.contains("acks (500)"), "{svg}");
        // Nearest rank: p50 = 250² × 8 µs = 500 ms, p99 = 495² × 8 µs.
        assert!(svg.contains("p50 500 ms"), "{svg}");
        assert!(svg.contains("p99 1960 ms"), "{svg}");
        assert!(svg.matches("<rect").count() >= 22, "bins are drawn: {svg}");
    }

    #[test]
    fn the_percentile_curve_marks_p50_to_p99_9() {
        let svg = percentile_curve(&latencies()).unwrap();
        assert_svg(&svg, "percentile-curve");
        assert!(svg.contains("ack latency"), "{svg}");
        for p in ["p50 500", "p75", "p90", "p95", "p99 1960", "p99.9 2000"] {
            assert!(svg.contains(p), "{p} missing: {svg}");
        }
        assert!(svg.contains("<polyline"), "the curve is a line: {svg}");
    }

    #[test]
    fn throughput_counts_acks_per_bucket() {
        let times: Vec<Duration> = [5u64, 20, 99, 150, 450]
            .iter()
            .map(|&t| Duration::from_millis(t))
            .collect();
        let svg = throughput(&times, Duration::from_millis(100)).unwrap();
        assert_svg(&svg, "throughput");
        assert!(svg.contains("acks per 100 ms"), "{svg}");
        assert!(matches!(
            throughput(&times, Duration::ZERO),
            Err(ChartError::ZeroBucket)
        ));
    }

    #[test]
    fn empty_and_degenerate_input_draws_a_note() {
        for svg in [
            timeline(&[]).unwrap(),
            latency_histogram(&[]).unwrap(),
            percentile_curve(&[]).unwrap(),
            throughput(&[], Duration::from_millis(100)).unwrap(),
        ] {
            assert!(svg.starts_with("<svg ") && svg.contains("no "), "{svg}");
        }
        // One zero latency, one ack at time zero, one attempt.
        let zero = [Duration::ZERO];
        assert_svg(&latency_histogram(&zero).unwrap(), "latency-histogram");
        assert_svg(&percentile_curve(&zero).unwrap(), "percentile-curve");
        assert_svg(
            &throughput(&zero, Duration::from_millis(100)).unwrap(),
            "throughput",
        );
        let mut a = attempt(0, 1, 0, AttemptOutcome::Timeout);
        a.latency = Duration::ZERO;
        assert_svg(&timeline(&[a]).unwrap(), "timeline");
    }

    #[test]
    fn labels_are_escaped_in_the_svg_attributes() {
        let svg = render("throughput", "a \"quoted\" <label>", (10, 10), |_| Ok(())).unwrap();
        assert!(
            svg.contains("aria-label=\"a &quot;quoted&quot; &lt;label&gt;\""),
            "{svg}"
        );
    }
}
