//! The dashboard's SVG charts, drawn with plotters (which escapes labels).

use plotters::prelude::*;

use venturalitica_vocab::results::Status;

use crate::model::{Energy, Point};

/// Bars drawn at most: more cells are summed into buckets.
const MAX_BARS: usize = 400;

const CPU: RGBColor = RGBColor(25, 118, 210);
const RAM: RGBColor = RGBColor(245, 124, 0);
const GPU: RGBColor = RGBColor(123, 31, 162);
const CO2: RGBColor = RGBColor(46, 125, 50);

/// Energy per cell (or per bucket of cells), stacked by component, with
/// cumulative CO2e on a second axis.
pub fn energy_bars(energies: &[&Energy], title: &str) -> Option<String> {
    if energies.is_empty() {
        return None;
    }
    let per_bar = energies.len().div_ceil(MAX_BARS);
    let buckets: Vec<Energy> = energies
        .chunks(per_bar)
        .map(|chunk| {
            let mut sum = Energy::default();
            for e in chunk {
                sum.add(e);
            }
            sum
        })
        .collect();
    let top = buckets
        .iter()
        .map(|b| b.cpu_j + b.ram_j + b.gpu_j)
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let total_co2: f64 = buckets.iter().map(|b| b.co2e_g).sum::<f64>().max(1e-12);
    let n = buckets.len();
    let x_desc = if per_bar == 1 {
        "cell (in order)".to_string()
    } else {
        format!("cells, {per_bar} per bar")
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 320)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 15))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .right_y_label_area_size(70)
            .build_cartesian_2d(0f64..n as f64, 0f64..top * 1.08)
            .ok()?
            .set_secondary_coord(0f64..n as f64, 0f64..total_co2 * 1.08);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc(x_desc)
            .y_desc("joules")
            .x_labels(8)
            .x_label_formatter(&|x| format!("{}", (*x as usize) * per_bar + 1))
            .draw()
            .ok()?;
        chart
            .configure_secondary_axes()
            .y_desc("cumulative gCO2e")
            .draw()
            .ok()?;
        for (name, colour, part) in [("CPU", CPU, 0usize), ("RAM", RAM, 1), ("GPU", GPU, 2)] {
            let bars = buckets.iter().enumerate().filter_map(|(i, b)| {
                let parts = [b.cpu_j, b.ram_j, b.gpu_j];
                let base: f64 = parts[..part].iter().sum();
                (parts[part] > 0.0).then(|| {
                    Rectangle::new(
                        [(i as f64 + 0.1, base), (i as f64 + 0.9, base + parts[part])],
                        colour.mix(0.85).filled(),
                    )
                })
            });
            chart
                .draw_series(bars)
                .ok()?
                .label(name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled())
                });
        }
        let mut running = 0.0;
        let cumulative: Vec<(f64, f64)> = buckets
            .iter()
            .enumerate()
            .map(|(i, b)| {
                running += b.co2e_g;
                (i as f64 + 0.5, running)
            })
            .collect();
        chart
            .draw_secondary_series(LineSeries::new(cumulative, CO2.stroke_width(2)))
            .ok()?
            .label("cumulative CO2e")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 12, y)], CO2.stroke_width(2)));
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.3))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .ok()?;
        root.present().ok()?;
    }
    Some(svg)
}

/// A small chart of a control's values over its evaluations, with the
/// threshold as a dashed line, each value's interval as a bar, failed points
/// in red; a drift control over several features also draws one thin line
/// per feature (the table names them under the chart).
pub fn history(points: &[Point], threshold: f64) -> Option<String> {
    let values: Vec<(f64, f64)> = points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.value.map(|v| (i as f64, v)))
        .collect();
    if values.is_empty() {
        return None;
    }
    let mut features: Vec<(&str, Vec<(f64, f64)>)> = Vec::new();
    for (i, p) in points.iter().enumerate() {
        for (name, v) in &p.features {
            match features.iter_mut().find(|(n, _)| n == name) {
                Some((_, line)) => line.push((i as f64, *v)),
                None => features.push((name.as_str(), vec![(i as f64, *v)])),
            }
        }
    }
    let every = values
        .iter()
        .map(|v| v.1)
        .chain(
            points
                .iter()
                .flat_map(|p| p.interval.map(|(a, b)| [a, b]).into_iter().flatten()),
        )
        .chain(features.iter().flat_map(|(_, l)| l.iter().map(|v| v.1)))
        .filter(|v| v.is_finite());
    let (lo, hi) = every.fold((threshold, threshold), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let pad = ((hi - lo) * 0.15).max(0.01);
    let n = points.len().max(2) as f64 - 1.0;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (220, 56)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let mut chart = ChartBuilder::on(&root)
            .margin(4)
            .build_cartesian_2d(-0.2f64..n + 0.2, (lo - pad)..(hi + pad))
            .ok()?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(-0.2, threshold), (n + 0.2, threshold)],
                BLACK.mix(0.5).stroke_width(1),
            )))
            .ok()?;
        for (k, (_, line)) in features.iter().enumerate() {
            let colour = Palette99::pick(k).mix(0.6);
            chart
                .draw_series(LineSeries::new(
                    line.iter().copied(),
                    colour.stroke_width(1),
                ))
                .ok()?;
        }
        let bars = points.iter().enumerate().filter_map(|(i, p)| {
            let (a, b) = p.interval?;
            Some(PathElement::new(
                vec![(i as f64, a), (i as f64, b)],
                CPU.mix(0.5).stroke_width(2),
            ))
        });
        chart.draw_series(bars).ok()?;
        chart
            .draw_series(LineSeries::new(values.iter().copied(), CPU.stroke_width(1)))
            .ok()?;
        let dots = points.iter().enumerate().filter_map(|(i, p)| {
            let colour = match p.status {
                Status::Pass => RGBColor(46, 125, 50),
                Status::Inconclusive => RGBColor(239, 108, 0),
                _ => RGBColor(198, 40, 40),
            };
            p.value
                .map(|v| Circle::new((i as f64, v), 3, colour.filled()))
        });
        chart.draw_series(dots).ok()?;
        root.present().ok()?;
    }
    Some(svg)
}
