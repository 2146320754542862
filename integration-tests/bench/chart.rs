//! The SVG bar chart of the per-container `run` times: per runtime, the median wall time and
//! the median CPU time, with the interquartile range as a whisker.

use std::path::Path;

use plotters::prelude::*;

use crate::metrics::{quantile, Metric};
use crate::report::Subject;

const WALL: RGBColor = RGBColor(0x3b, 0x6e, 0xa8);
const CPU: RGBColor = RGBColor(0xe0, 0x8a, 0x2c);

/// One bar: its value (median) and whisker (25th and 75th percentiles), in ms.
struct Bar {
    median: f64,
    q1: f64,
    q3: f64,
}

fn bar(sub: &Subject, m: Metric) -> Option<Bar> {
    let v = sub.samples.0.get(&m)?;
    Some(Bar {
        median: quantile(v, 0.5)?,
        q1: quantile(v, 0.25)?,
        q3: quantile(v, 0.75)?,
    })
}

pub fn write_svg(path: &Path, subjects: &[Subject], title: &str) -> Result<(), String> {
    let bars: Vec<(&str, Option<Bar>, Option<Bar>)> = subjects
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                bar(s, Metric::RunWall),
                bar(s, Metric::RunCpu),
            )
        })
        .filter(|(_, w, _)| w.is_some())
        .collect();
    if bars.is_empty() {
        return Err("no `run` results to chart".into());
    }
    let top = bars
        .iter()
        .flat_map(|(_, w, c)| [w.as_ref().map(|b| b.q3), c.as_ref().map(|b| b.q3)])
        .flatten()
        .fold(1.0_f64, f64::max)
        * 1.18;
    let err = |e: DrawingAreaErrorKind<_>| format!("svg {}: {e}", path.display());
    let root = SVGBackend::new(path, (760, 440)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..bars.len() as f64, 0.0..top)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .disable_x_axis()
        .y_desc("ms per container (median)")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()
        .map_err(err)?;
    let label = ("sans-serif", 13).into_font();
    for (i, (name, wall, cpu)) in bars.iter().enumerate() {
        let x = i as f64;
        for (b, x0, color) in [(wall, x + 0.12, WALL), (cpu, x + 0.5, CPU)] {
            let Some(b) = b else { continue };
            let x1 = x0 + 0.38;
            let mid = (x0 + x1) / 2.0;
            chart
                .draw_series([Rectangle::new([(x0, 0.0), (x1, b.median)], color.filled())])
                .map_err(err)?;
            chart
                .draw_series([PathElement::new(
                    vec![(mid, b.q1), (mid, b.q3)],
                    BLACK.stroke_width(1),
                )])
                .map_err(err)?;
            chart
                .draw_series([Text::new(
                    format!("{:.1}", b.median),
                    (x0 + 0.02, b.q3.max(b.median) + top * 0.035),
                    label.clone(),
                )])
                .map_err(err)?;
        }
        let (px, py) = chart.backend_coord(&(x + 0.5, 0.0));
        root.draw(&Text::new(
            name.to_string(),
            (px - 4 * name.len() as i32, py + 10),
            ("sans-serif", 15).into_font(),
        ))
        .map_err(err)?;
    }
    let (lx, ly) = chart.backend_coord(&(bars.len() as f64 - 1.3, top * 0.98));
    let legend = [
        ("wall", WALL),
        ("CPU (user+sys)", CPU),
        ("whisker: 25th-75th pct", BLACK),
    ];
    for (k, (text, color)) in legend.iter().enumerate() {
        let y = ly + 18 * k as i32;
        if *color == BLACK {
            root.draw(&PathElement::new(
                vec![(lx + 6, y), (lx + 6, y + 12)],
                BLACK,
            ))
            .map_err(err)?;
        } else {
            root.draw(&Rectangle::new(
                [(lx, y), (lx + 12, y + 12)],
                color.filled(),
            ))
            .map_err(err)?;
        }
        root.draw(&Text::new(text.to_string(), (lx + 18, y), label.clone()))
            .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}
