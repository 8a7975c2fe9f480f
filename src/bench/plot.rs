//! The SVG chart of `byzagg bench --plot`: one panel per row count n, the time of each job
//! over the read pass (log scale) against the dimension d (log scale), one line per job and
//! backend. Drawn with plotters' SVG backend, which needs no font files.

use std::path::Path;

use plotters::prelude::*;

use super::Record;
use crate::error::{Error, Result};

/// Draws `records` into the SVG file `path`.
pub fn plot_svg(records: &[Record], path: &Path) -> Result<()> {
    // Drawn into memory, then written atomically: a failed write leaves no half an SVG.
    let mut svg = String::new();
    draw(records, &mut svg).map_err(|message| Error::Io {
        path: path.display().to_string(),
        message,
    })?;
    crate::output::write_atomic(path, svg.as_bytes())
}

fn draw(records: &[Record], svg: &mut String) -> std::result::Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let mut ns: Vec<usize> = records.iter().map(|r| r.n).collect();
    ns.sort_unstable();
    ns.dedup();
    let mut series: Vec<(String, String)> = Vec::new();
    for r in records {
        let key = (r.rule.clone(), r.backend.clone());
        if !series.contains(&key) {
            series.push(key);
        }
    }
    let finite = || records.iter().filter(|r| r.ratio.is_finite() && r.ratio > 0.0);
    let (dmin, dmax) = finite().fold((f64::MAX, 0.0f64), |(lo, hi), r| {
        (lo.min(r.d as f64), hi.max(r.d as f64))
    });
    let (ymin, ymax) = finite().fold((f64::MAX, 0.0f64), |(lo, hi), r| {
        (lo.min(r.ratio), hi.max(r.ratio))
    });
    if ns.is_empty() || dmax == 0.0 {
        return Err("nothing to plot".into());
    }
    let (dmin, dmax) = (dmin / 1.5, dmax * 1.5);
    let (ymin, ymax) = ((ymin / 1.5).min(0.8), ymax * 1.5);

    let cols = ns.len().min(2);
    let rows = ns.len().div_ceil(cols);
    let root = SVGBackend::with_string(svg, (640 * cols as u32, 480 * rows as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let title = format!(
        "byzagg bench: time / read pass ({})",
        if records.iter().any(|r| r.weighted) {
            "weighted"
        } else {
            "uniform weights"
        }
    );
    let root = root.titled(&title, ("sans-serif", 22)).map_err(|e| err(&e))?;
    for (panel, &n) in root.split_evenly((rows, cols)).iter().zip(&ns) {
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("n = {n}"), ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d((dmin..dmax).log_scale(), (ymin..ymax).log_scale())
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("d")
            .y_desc("seconds / read pass")
            .x_label_formatter(&|d| format!("{d:.0e}"))
            .draw()
            .map_err(|e| err(&e))?;
        for (i, (rule, backend)) in series.iter().enumerate() {
            let points: Vec<(f64, f64)> = finite()
                .filter(|r| r.n == n && &r.rule == rule && &r.backend == backend)
                .map(|r| (r.d as f64, r.ratio))
                .collect();
            if points.is_empty() {
                continue;
            }
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(|e| err(&e))?
                .label(format!("{rule} ({backend})"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(|e| err(&e))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
