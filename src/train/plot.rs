//! Accuracy curves as SVG (plotters, SVG backend only).

use std::path::Path;

use plotters::prelude::*;

use crate::error::{Error, Result};

/// One labelled curve: (iteration, accuracy) points.
#[derive(Clone, Debug)]
pub struct Curve {
    /// Legend text.
    pub label: String,
    /// Points in iteration order.
    pub points: Vec<(f64, f64)>,
}

/// Writes test accuracy against server updates, one line per curve, to an SVG file.
pub fn plot_accuracy(path: &Path, title: &str, curves: &[Curve]) -> Result<()> {
    let err = |e: String| Error::Io {
        path: path.display().to_string(),
        message: e,
    };
    // Drawn into memory, then written atomically: a failed write leaves no half an SVG.
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 560)).into_drawing_area();
        draw(&root, title, curves).map_err(err)?;
    }
    crate::output::write_atomic(path, svg.as_bytes())
}

fn draw(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    title: &str,
    curves: &[Curve],
) -> std::result::Result<(), String> {
    let x_max = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..x_max, 0.0..1.0)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("server updates")
        .y_desc("test accuracy")
        .draw()
        .map_err(|e| e.to_string())?;
    for (k, c) in curves.iter().enumerate() {
        let color = Palette99::pick(k).to_rgba();
        let pts: Vec<(f64, f64)> = c
            .points
            .iter()
            .map(|&(x, y)| (x, if y.is_finite() { y } else { 0.0 }))
            .collect();
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(c.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}
