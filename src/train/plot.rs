//! Accuracy curves and the grid's heat maps as SVG (plotters, SVG backend only).

use std::path::Path;

use plotters::prelude::*;

use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::grid::HeatMap;
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
    write_svg(path, (900, 560), |root| draw(root, title, curves))
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// Draws into memory, then writes atomically: a failed write leaves no half an SVG.
fn write_svg(
    path: &Path,
    size: (u32, u32),
    paint: impl FnOnce(&Area<'_>) -> std::result::Result<(), String>,
) -> Result<()> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        paint(&root).map_err(|e| Error::Io {
            path: path.display().to_string(),
            message: e,
        })?;
    }
    crate::output::write_atomic(path, svg.as_bytes())
}

/// Writes the grid's heat maps (one panel per heterogeneity, stacked): a cell per rule and
/// attack coloured and labelled by mean final accuracy (red 0 to green 1), a "worst" column
/// (the minimum over attacks), and beside it the rule's aggregation time in ms per update. A
/// cell over fewer seeds than the spec's is labelled with its count (`0.812 (2/5)`), and a
/// worst case over such cells or over attacks not yet run with a `*`: partial.
pub fn plot_heat_maps(path: &Path, title: &str, maps: &[HeatMap]) -> Result<()> {
    const CELL_W: i32 = 86;
    const CELL_H: i32 = 26;
    const LABEL_W: i32 = 150;
    const TIME_W: i32 = 110;
    let cols = maps.first().map_or(0, |m| m.attacks.len()) as i32 + 1;
    let panel_h = |m: &HeatMap| 70 + CELL_H * m.rules.len() as i32;
    let width = (LABEL_W + CELL_W * cols + TIME_W + 20) as u32;
    let height = (40 + maps.iter().map(panel_h).sum::<i32>()) as u32;
    write_svg(path, (width, height), |root| {
        let e = |e: DrawingAreaErrorKind<std::io::Error>| e.to_string();
        root.fill(&WHITE).map_err(e)?;
        let text = |s: &str, at: (i32, i32), size: i32, anchor: Pos| -> std::result::Result<(), String> {
            let style = TextStyle::from(("sans-serif", size).into_font()).pos(anchor);
            root.draw(&Text::new(s.to_string(), at, style)).map_err(e)
        };
        let left = Pos::new(HPos::Left, VPos::Center);
        let center = Pos::new(HPos::Center, VPos::Center);
        text(title, (10, 18), 18, left)?;
        let mut y = 40;
        for m in maps {
            text(&format!("heterogeneity: {}", m.hetero), (10, y + 12), 15, left)?;
            let top = y + 44;
            let headers = m.attacks.iter().map(String::as_str).chain(["worst"]);
            for (j, h) in headers.enumerate() {
                let x = LABEL_W + CELL_W * j as i32 + CELL_W / 2;
                text(h, (x, top - 10), 10, center)?;
            }
            text(
                "agg ms/update",
                (LABEL_W + CELL_W * cols + TIME_W / 2, top - 10),
                10,
                center,
            )?;
            for (i, rule) in m.rules.iter().enumerate() {
                let ry = top + CELL_H * i as i32;
                text(rule, (8, ry + CELL_H / 2), 12, left)?;
                let partial = m.seeds_run[i].iter().any(|&k| k < m.seeds);
                let values = m.accuracy[i].iter().copied().chain([m.worst[i]]);
                for (j, a) in values.enumerate() {
                    let run = m.seeds_run[i].get(j).copied();
                    let x = LABEL_W + CELL_W * j as i32;
                    let fill = if a.is_finite() {
                        let t = a.clamp(0.0, 1.0);
                        RGBColor((255.0 * (1.0 - t)) as u8, (200.0 * t + 40.0) as u8, 70)
                    } else {
                        RGBColor(200, 200, 200)
                    };
                    let rect = Rectangle::new([(x, ry), (x + CELL_W - 2, ry + CELL_H - 2)], fill.filled());
                    root.draw(&rect).map_err(e)?;
                    let label = match run {
                        _ if !a.is_finite() => "-".into(),
                        Some(k) if k < m.seeds => format!("{a:.3} ({k}/{})", m.seeds),
                        None if partial => format!("{a:.3}*"),
                        _ => format!("{a:.3}"),
                    };
                    text(&label, (x + CELL_W / 2, ry + CELL_H / 2), 12, center)?;
                }
                let ms = 1e3 * m.seconds_per_update[i];
                let tx = LABEL_W + CELL_W * cols + TIME_W / 2;
                text(&format!("{ms:.4}"), (tx, ry + CELL_H / 2), 12, center)?;
            }
            y += panel_h(m);
        }
        root.present().map_err(e)
    })
}

fn draw(root: &Area<'_>, title: &str, curves: &[Curve]) -> std::result::Result<(), String> {
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
