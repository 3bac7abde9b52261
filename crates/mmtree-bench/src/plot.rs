//! SVG plots of a run's JSON (the document `--json` writes), for docs/BENCHMARKS.md.
//!
//! [`write_plots`] writes `throughput.svg` (one small panel per workload, a bar per store) and,
//! when some store carries a `w7` series, `w7.svg` (gets/s over time under a memory cap).
//!
//! Drawn with `plotters` restricted to its SVG backend (`default-features = false`): without its
//! `ttf`/`ab_glyph` features it loads no font and links no native library, and it writes text as
//! SVG `<text>` elements positioned by SVG's own anchors, so it works on a machine with no fonts.
//! Layout that depends on text width uses a fixed per-character estimate instead.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::Value;

/// Total width of both figures, in pixels.
const WIDTH: u32 = 960;
const MMTREE_COLOUR: RGBColor = RGBColor(0xd9, 0x5f, 0x02);
/// Peers that have a fixed colour, so a peer keeps its colour from one run to the next.
const PEER_COLOURS: [(&str, RGBColor); 4] = [
    ("lmdb", RGBColor(0x1f, 0x77, 0xb4)),
    ("redb", RGBColor(0x2c, 0xa0, 0x2c)),
    ("sqlite", RGBColor(0x94, 0x67, 0xbd)),
    ("rocksdb", RGBColor(0x8c, 0x56, 0x4b)),
];
/// Colours for stores not named above, in the order they appear.
const OTHER_COLOURS: [RGBColor; 4] = [
    RGBColor(0x17, 0xbe, 0xcf),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0xe3, 0x77, 0xc2),
];
const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);
const GREY: RGBColor = RGBColor(0x66, 0x66, 0x66);
const RULE: RGBColor = RGBColor(0xdd, 0xdd, 0xdd);

/// Writes the plots of `doc` (a run's JSON) into `dir`, creating it if needed, and returns the
/// files written: always `throughput.svg`, and `w7.svg` when some store has a `w7` series.
/// Missing fields, nulls and non-finite numbers are skipped, never fatal.
pub fn write_plots(doc: &Value, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let run = Run::from_json(doc);
    let mut written = Vec::new();

    let path = dir.join("throughput.svg");
    std::fs::write(&path, throughput_svg(&run)?)
        .with_context(|| format!("writing {}", path.display()))?;
    written.push(path);

    if run.stores.iter().any(|s| s.w7.is_some()) {
        let path = dir.join("w7.svg");
        std::fs::write(&path, w7_svg(&run)?)
            .with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// The parts of the JSON document the plots use.
struct Run {
    records: Option<f64>,
    key_bytes: Option<f64>,
    value_bytes: Option<f64>,
    scale: Option<String>,
    machine: Option<String>,
    stores: Vec<Store>,
}

struct Store {
    name: String,
    colour: RGBColor,
    results: Vec<Row>,
    w7: Option<W7>,
}

struct Row {
    workload: String,
    unit: Option<String>,
    value: Option<f64>,
    higher_is_better: Option<bool>,
}

struct W7 {
    interval_s: f64,
    cap_bytes: Option<f64>,
    file_bytes: Option<f64>,
    method: Option<String>,
    /// `None` where the sample is missing or not a finite number.
    gets_per_s: Vec<Option<f64>>,
}

/// A finite number, or `None`.
fn num(v: &Value) -> Option<f64> {
    v.as_f64().filter(|x| x.is_finite())
}

/// A non-empty string, or `None`.
fn text(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

impl Run {
    fn from_json(doc: &Value) -> Run {
        let empty = Vec::new();
        let raw_stores = doc["stores"].as_array().unwrap_or(&empty);
        let mut others = 0;
        let stores = raw_stores
            .iter()
            .filter(|s| s.is_object())
            .enumerate()
            .map(|(i, s)| {
                let name = text(&s["name"]).unwrap_or_else(|| format!("store {}", i + 1));
                let lower = name.to_ascii_lowercase();
                let colour = if lower == "mmtree" {
                    MMTREE_COLOUR
                } else if let Some((_, c)) = PEER_COLOURS.iter().find(|(n, _)| *n == lower) {
                    *c
                } else {
                    others += 1;
                    OTHER_COLOURS[(others - 1) % OTHER_COLOURS.len()]
                };
                let results = s["results"]
                    .as_array()
                    .unwrap_or(&empty)
                    .iter()
                    .filter_map(|r| {
                        Some(Row {
                            workload: text(&r["workload"])?,
                            unit: text(&r["unit"]),
                            value: num(&r["value"]),
                            higher_is_better: r["higher_is_better"].as_bool(),
                        })
                    })
                    .collect();
                let w7 = s.get("w7").filter(|w| w.is_object()).map(|w| W7 {
                    interval_s: num(&w["interval_s"]).filter(|x| *x > 0.0).unwrap_or(1.0),
                    cap_bytes: num(&w["cap_bytes"]),
                    file_bytes: num(&w["file_bytes"]),
                    method: text(&w["method"]),
                    gets_per_s: w["gets_per_s"]
                        .as_array()
                        .unwrap_or(&empty)
                        .iter()
                        .map(num)
                        .collect(),
                });
                Store {
                    name,
                    colour,
                    results,
                    w7,
                }
            })
            .collect();
        Run {
            records: num(&doc["records"]),
            key_bytes: num(&doc["key_bytes"]),
            value_bytes: num(&doc["value_bytes"]),
            scale: text(&doc["scale"]),
            machine: text(&doc["machine"]),
            stores,
        }
    }

    /// The workloads to plot: the first store's in its order, then any only later stores have.
    fn workloads(&self) -> Vec<&str> {
        let mut seen: Vec<&str> = Vec::new();
        for row in self.stores.iter().flat_map(|s| &s.results) {
            if !seen.contains(&row.workload.as_str()) {
                seen.push(&row.workload);
            }
        }
        seen
    }

    /// "N records, K-byte keys, V-byte values", from whichever of them the document has.
    fn shape(&self) -> String {
        let mut parts = Vec::new();
        if let Some(n) = self.records {
            parts.push(format!("{} records", thousands(n)));
        }
        if let Some(k) = self.key_bytes {
            parts.push(format!("{}-byte keys", thousands(k)));
        }
        if let Some(v) = self.value_bytes {
            parts.push(format!("{}-byte values", thousands(v)));
        }
        parts.join(", ")
    }
}

/// `v` to three significant digits with a k/M/G suffix: 2.42 M, 354 k, 625, 12.5, 0.5.
fn human(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    if v == 0.0 {
        return "0".into();
    }
    if !(1e-3..1e15).contains(&v.abs()) {
        return format!("{v:.2e}");
    }
    let sign = if v < 0.0 { "-" } else { "" };
    let mut a = v.abs();
    let mut suffix = "";
    for s in [" k", " M", " G", " T"] {
        // Rounds up to 1000 at three digits: 999,999 is 1 M, not 1000 k.
        if a < 999.5 {
            break;
        }
        a /= 1000.0;
        suffix = s;
    }
    let decimals = if a >= 99.95 {
        0
    } else if a >= 9.995 {
        1
    } else {
        // 2 decimals from 1 up; more below 1 so small figures keep three digits (at most 6).
        (2 - a.log10().floor() as i32).clamp(2, 6) as usize
    };
    let mut s = format!("{a:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{sign}{s}{suffix}")
}

/// A whole number with thousands separators (10,000,000); non-integers are rounded.
fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 && digits != "0" {
        out.insert(0, '-');
    }
    out
}

/// Bytes in binary units: 512 MiB, 2 GiB.
fn bytes(v: f64) -> String {
    let mut a = v;
    let mut unit = "B";
    for u in ["KiB", "MiB", "GiB", "TiB"] {
        if a.abs() < 1024.0 {
            break;
        }
        a /= 1024.0;
        unit = u;
    }
    // Three significant digits: 798 MiB, 3.12 GiB.
    let decimals = if a.abs() >= 100.0 {
        0
    } else if a.abs() >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{a:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    format!("{s} {unit}")
}

/// At most `max` characters of `s`, with an ellipsis if cut.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// Estimated width in pixels of `s` at `px` pixels (an average sans-serif glyph is ~0.56 em).
fn text_width(s: &str, px: f64) -> i32 {
    (s.chars().count() as f64 * px * 0.56).ceil() as i32
}

/// The font size, at most `max_px` and at least 8, at which `s` fits in `width` pixels.
fn fit(s: &str, width: f64, max_px: f64) -> f64 {
    (width / (s.chars().count().max(1) as f64 * 0.56)).clamp(8.0, max_px)
}

/// A text style of `px` pixels (plotters' SVG backend divides the size it is given by 1.24).
fn font(px: f64, colour: RGBColor) -> TextStyle<'static> {
    ("sans-serif", px * 1.24).into_font().color(&colour)
}

fn bold(px: f64, colour: RGBColor) -> TextStyle<'static> {
    ("sans-serif", px * 1.24, FontStyle::Bold)
        .into_font()
        .color(&colour)
}

fn anchored(style: TextStyle<'static>, h: HPos, v: VPos) -> TextStyle<'static> {
    style.pos(Pos::new(h, v))
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Draws the store legend in one or more rows from (x0, y0), within `width`; returns its height.
fn legend(area: &Area, stores: &[Store], x0: i32, y0: i32, width: i32) -> Result<i32> {
    let style = anchored(font(12.0, INK), HPos::Left, VPos::Center);
    let (mut x, mut y) = (x0, y0);
    for s in stores {
        let name = clip(&s.name, 24);
        let w = 12 + 6 + text_width(&name, 12.0) + 18;
        if x > x0 && x + w > x0 + width {
            x = x0;
            y += 20;
        }
        area.draw(&Rectangle::new(
            [(x, y), (x + 12, y + 12)],
            s.colour.filled(),
        ))?;
        area.draw_text(&name, &style, (x + 18, y + 6))?;
        x += w;
    }
    Ok(y + 12 - y0)
}

/// Height of the legend `legend` would draw, without drawing it.
fn legend_height(stores: &[Store], width: i32) -> i32 {
    let (mut x, mut rows) = (0, 1);
    for s in stores {
        let w = 12 + 6 + text_width(&clip(&s.name, 24), 12.0) + 18;
        if x > 0 && x + w > width {
            x = 0;
            rows += 1;
        }
        x += w;
    }
    12 + (rows - 1) * 20
}

const BAR_PITCH: i32 = 22;
const BAR_HEIGHT: i32 = 15;
const PANEL_HEAD: i32 = 44;

fn throughput_svg(run: &Run) -> Result<String> {
    let workloads = run.workloads();
    let n_stores = run.stores.len().max(1) as i32;
    let cols = if workloads.len() > 1 { 2 } else { 1 };
    let rows = workloads.len().div_ceil(cols).max(1) as i32;
    let margin = 16;
    let inner = WIDTH as i32 - 2 * margin;
    let header = 58 + legend_height(&run.stores, inner) + 14;
    let panel_h = PANEL_HEAD + n_stores * BAR_PITCH + 12;
    let height = header + rows * panel_h + margin;

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height as u32)).into_drawing_area();
        root.fill(&WHITE)?;
        let shape = run.shape();
        let title = if shape.is_empty() {
            "mmtree vs peers".to_string()
        } else {
            format!("mmtree vs peers: {shape}")
        };
        root.draw_text(
            &title,
            &anchored(
                bold(fit(&title, f64::from(inner), 16.0), INK),
                HPos::Left,
                VPos::Top,
            ),
            (margin, 12),
        )?;
        let mut notes = Vec::new();
        if let Some(scale) = &run.scale {
            notes.push(format!("scale {scale}"));
        }
        if let Some(machine) = &run.machine {
            notes.push(clip(machine, 140));
        }
        notes.push("each panel has its own scale".into());
        let notes = notes.join(" · ");
        root.draw_text(
            &notes,
            &anchored(
                font(fit(&notes, f64::from(inner), 12.0), GREY),
                HPos::Left,
                VPos::Top,
            ),
            (margin, 36),
        )?;
        legend(&root, &run.stores, margin, 58, inner)?;

        if workloads.is_empty() {
            root.draw_text(
                "no results in this run",
                &anchored(font(13.0, GREY), HPos::Left, VPos::Top),
                (margin, header),
            )?;
        } else {
            let body = root.margin(header, margin, margin, margin);
            let panels = body.split_evenly((rows as usize, cols));
            for (panel, workload) in panels.iter().zip(&workloads) {
                bar_panel(&panel.margin(0, 8, 0, 8), run, workload)?;
            }
        }
        root.present()?;
    }
    Ok(svg)
}

/// One workload: a horizontal bar per store, its value printed after the bar.
fn bar_panel(area: &Area, run: &Run, workload: &str) -> Result<()> {
    let (w, h) = area.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    let rows: Vec<Option<&Row>> = run
        .stores
        .iter()
        .map(|s| s.results.iter().find(|r| r.workload == workload))
        .collect();
    let unit = rows.iter().flatten().find_map(|r| r.unit.clone());
    let higher = rows.iter().flatten().find_map(|r| r.higher_is_better);

    area.draw(&Rectangle::new([(0, 0), (w - 1, h - 8)], RULE))?;
    let title = match &unit {
        Some(u) => format!("{workload} ({u})"),
        None => workload.to_string(),
    };
    // Shrinks a long title to fit the panel rather than letting it run into the next one.
    let px = fit(&title, f64::from(w - 20), 13.0);
    area.draw_text(
        &title,
        &anchored(bold(px, INK), HPos::Left, VPos::Top),
        (10, 8),
    )?;
    if let Some(higher) = higher {
        let note = if higher {
            "higher is better"
        } else {
            "lower is better"
        };
        area.draw_text(
            note,
            &anchored(font(11.0, GREY), HPos::Left, VPos::Top),
            (10, 26),
        )?;
    }

    let names: Vec<String> = run.stores.iter().map(|s| clip(&s.name, 16)).collect();
    let name_w = names
        .iter()
        .map(|n| text_width(n, 12.0))
        .max()
        .unwrap_or(0)
        .clamp(30, 120)
        + 18;
    let room = (w - name_w - 10 - 62).max(10);
    let values: Vec<Option<f64>> = rows.iter().map(|r| r.and_then(|r| r.value)).collect();
    let max = values.iter().flatten().fold(0.0_f64, |m, v| m.max(*v));
    let best = match higher {
        Some(true) => values.iter().flatten().copied().reduce(f64::max),
        Some(false) => values.iter().flatten().copied().reduce(f64::min),
        None => None,
    };

    let name_style = anchored(font(12.0, INK), HPos::Right, VPos::Center);
    let value_style = anchored(font(11.0, INK), HPos::Left, VPos::Center);
    let best_style = anchored(bold(11.0, INK), HPos::Left, VPos::Center);
    let missing_style = anchored(font(11.0, GREY), HPos::Left, VPos::Center);
    let top = PANEL_HEAD;
    for (i, (store, value)) in run.stores.iter().zip(&values).enumerate() {
        let y = top + i as i32 * BAR_PITCH;
        let mid = y + BAR_HEIGHT / 2;
        area.draw_text(&names[i], &name_style, (name_w - 8, mid))?;
        match value {
            Some(v) => {
                let len = if max > 0.0 && *v > 0.0 {
                    ((v / max) * f64::from(room)).round() as i32
                } else {
                    0
                };
                if len > 0 {
                    area.draw(&Rectangle::new(
                        [(name_w, y), (name_w + len, y + BAR_HEIGHT)],
                        store.colour.filled(),
                    ))?;
                }
                let style = if best == Some(*v) && run.stores.len() > 1 {
                    &best_style
                } else {
                    &value_style
                };
                area.draw_text(&human(*v), style, (name_w + len + 5, mid))?;
            }
            None => area.draw_text("n/a", &missing_style, (name_w + 5, mid))?,
        }
    }
    let bottom = top + run.stores.len() as i32 * BAR_PITCH - (BAR_PITCH - BAR_HEIGHT);
    area.draw(&PathElement::new(
        vec![(name_w, top - 3), (name_w, bottom + 3)],
        GREY,
    ))?;
    Ok(())
}

/// How the cap compares with the file: " with memory capped at 512 MiB for a 2 GiB file (4.0x
/// the cap)", or as much of it as the series has.
fn cap_and_file(w: &W7) -> String {
    match (w.cap_bytes, w.file_bytes) {
        (Some(cap), Some(file)) if cap > 0.0 => format!(
            " with memory capped at {} for a {} file ({:.1}x the cap)",
            bytes(cap),
            bytes(file),
            file / cap
        ),
        (Some(cap), Some(file)) => format!(", memory cap {}, file {}", bytes(cap), bytes(file)),
        (Some(cap), None) => format!(" with memory capped at {}", bytes(cap)),
        (None, Some(file)) => format!(", file {}", bytes(file)),
        (None, None) => String::new(),
    }
}

fn w7_svg(run: &Run) -> Result<String> {
    let series: Vec<(&Store, &W7)> = run
        .stores
        .iter()
        .filter_map(|s| Some((s, s.w7.as_ref()?)))
        .collect();
    // The cap follows each store's file size unless given, so it can differ per store: the
    // title states it when all agree, else each store's legend entry does.
    let sizes = |w: &W7| {
        (
            w.cap_bytes.map(f64::to_bits),
            w.file_bytes.map(f64::to_bits),
        )
    };
    let uniform = series.windows(2).all(|p| sizes(p[0].1) == sizes(p[1].1));
    let mut title = "W7: random gets/s".to_string();
    match series.first() {
        Some((_, w)) if uniform => title.push_str(&cap_and_file(w)),
        Some(_) => title.push_str(" with memory capped below the file size (sizes at right)"),
        None => {}
    }
    // The method can differ per store (a reader that failed says so in it): list each once.
    let mut methods: Vec<&str> = Vec::new();
    for (_, w) in &series {
        if let Some(m) = w.method.as_deref().filter(|m| !methods.contains(m)) {
            methods.push(m);
        }
    }
    let mut subtitle = Vec::new();
    if !methods.is_empty() {
        subtitle.push(format!("method: {}", methods.join("; ")));
    }
    let shape = run.shape();
    if !shape.is_empty() {
        subtitle.push(shape);
    }
    let subtitle = clip(&subtitle.join(" · "), 200);

    // Points per store, split where a sample is missing so a gap shows as a gap.
    let runs: Vec<Vec<Vec<(f64, f64)>>> = series
        .iter()
        .map(|(_, w)| {
            let mut parts = vec![Vec::new()];
            for (i, v) in w.gets_per_s.iter().enumerate() {
                match v {
                    Some(v) => parts
                        .last_mut()
                        .expect("never empty")
                        .push((i as f64 * w.interval_s, *v)),
                    None if parts.last().is_some_and(|p| !p.is_empty()) => parts.push(Vec::new()),
                    None => {}
                }
            }
            parts.retain(|p| !p.is_empty());
            parts
        })
        .collect();
    let points = || runs.iter().flatten().flatten();
    let x_max = points().map(|p| p.0).fold(0.0_f64, f64::max);
    let y_max = points().map(|p| p.1).fold(0.0_f64, f64::max);
    let x_max = if x_max > 0.0 { x_max } else { 1.0 };
    let y_max = if y_max > 0.0 { y_max * 1.08 } else { 1.0 };

    let height = 500u32;
    let legend_w = 180;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let line = f64::from(WIDTH - 32);
        root.draw_text(
            &title,
            &anchored(bold(fit(&title, line, 15.0), INK), HPos::Left, VPos::Top),
            (16, 12),
        )?;
        root.draw_text(
            &subtitle,
            &anchored(
                font(fit(&subtitle, line, 12.0), GREY),
                HPos::Left,
                VPos::Top,
            ),
            (16, 34),
        )?;
        let body = root.margin(52, 8, 8, 8);
        let (plot_area, legend_area) = body.split_horizontally(WIDTH as i32 - 16 - legend_w);
        let mut chart = ChartBuilder::on(&plot_area)
            .margin(10)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
        chart
            .configure_mesh()
            .x_desc("seconds")
            .y_desc("gets/s")
            .x_labels(12)
            .y_labels(8)
            .x_label_formatter(&|v| human(*v))
            .y_label_formatter(&|v| human(*v))
            .label_style(font(11.0, INK))
            .axis_desc_style(font(12.0, INK))
            .light_line_style(WHITE)
            .bold_line_style(RULE)
            .axis_style(GREY)
            .draw()?;
        for ((store, _), parts) in series.iter().zip(&runs) {
            let width = if store.name == "mmtree" { 3 } else { 2 };
            let style = store.colour.stroke_width(width);
            for part in parts {
                if part.len() == 1 {
                    chart.draw_series(std::iter::once(Circle::new(
                        part[0],
                        3,
                        store.colour.filled(),
                    )))?;
                } else {
                    chart.draw_series(LineSeries::new(part.iter().copied(), style))?;
                }
            }
        }

        // Legend beside the plot, so it never covers a line; with each store's median.
        let name_style = anchored(font(12.0, INK), HPos::Left, VPos::Center);
        let note_style = anchored(font(10.0, GREY), HPos::Left, VPos::Center);
        let pitch = if uniform { 38 } else { 52 };
        for (i, ((store, w), parts)) in series.iter().zip(&runs).enumerate() {
            let y = 24 + i as i32 * pitch;
            legend_area.draw(&PathElement::new(
                vec![(8, y), (30, y)],
                store.colour.stroke_width(3),
            ))?;
            legend_area.draw_text(&clip(&store.name, 18), &name_style, (38, y))?;
            let mut samples: Vec<f64> = parts.iter().flatten().map(|p| p.1).collect();
            let mut notes = vec![if samples.is_empty() {
                "no samples".to_string()
            } else {
                samples.sort_by(f64::total_cmp);
                format!("median {} gets/s", human(samples[samples.len() / 2]))
            }];
            if !uniform {
                notes.push(format!(
                    "cap {}, file {}",
                    w.cap_bytes.map_or("?".into(), bytes),
                    w.file_bytes.map_or("?".into(), bytes)
                ));
            }
            for (j, note) in notes.iter().enumerate() {
                legend_area.draw_text(note, &note_style, (38, y + 15 + 13 * j as i32))?;
            }
        }
        root.present()?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        let results = |scale: f64| {
            json!([
                { "workload": "sorted bulk load", "unit": "records/s", "value": 2_420_000.0 * scale, "higher_is_better": true },
                { "workload": "random gets", "unit": "gets/s", "value": 354_000.0 * scale, "higher_is_better": true },
                { "workload": "single-put commit p50", "unit": "µs", "value": 625.0 * scale, "higher_is_better": false },
                { "workload": "file size", "unit": "MiB", "value": 1234.5 * scale, "higher_is_better": false },
                { "workload": "page faults", "unit": "count", "value": 42.0 * scale, "higher_is_better": false },
            ])
        };
        let w7 = |base: f64| {
            json!({ "interval_s": 1.0, "cap_bytes": 536870912u64, "file_bytes": 2147483648u64,
                    "method": "cgroup v1",
                    "gets_per_s": (0..30).map(|i| base + 100.0 * f64::from(i)).collect::<Vec<_>>() })
        };
        json!({
            "records": 10_000_000, "key_bytes": 16, "value_bytes": 100, "scale": "10m",
            "machine": "2 cores <test> & friends",
            "stores": [
                { "name": "mmtree", "results": results(1.0), "w7": w7(12_000.0) },
                { "name": "lmdb", "results": results(0.8), "w7": w7(9_000.0) },
                { "name": "redb", "results": results(0.3) },
            ]
        })
    }

    fn check_svg(path: &Path) -> String {
        let svg = std::fs::read_to_string(path).unwrap();
        let trimmed = svg.trim();
        assert!(
            trimmed.starts_with("<svg") || trimmed.starts_with("<?xml"),
            "{}",
            path.display()
        );
        assert!(trimmed.ends_with("</svg>"), "{}", path.display());
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        // The machine text has '<' and '&': they must come out escaped.
        assert!(!svg.contains("<test>") && !svg.contains(" & "));
        svg
    }

    #[test]
    fn plot_sample_run() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("plots");
        let written = write_plots(&sample(), &out).unwrap();
        assert_eq!(
            written,
            vec![out.join("throughput.svg"), out.join("w7.svg")]
        );

        let svg = check_svg(&written[0]);
        for name in ["mmtree", "lmdb", "redb"] {
            assert!(svg.contains(name), "throughput.svg lacks {name}");
        }
        for title in [
            "sorted bulk load (records/s)",
            "random gets (gets/s)",
            "single-put commit p50 (µs)",
            "file size (MiB)",
            "higher is better",
            "lower is better",
            "10,000,000 records, 16-byte keys, 100-byte values",
            "2.42 M",
            "354 k",
            "625",
        ] {
            assert!(svg.contains(title), "throughput.svg lacks {title}");
        }
        assert!(svg.contains("&lt;test&gt; &amp; friends"));

        let svg = check_svg(&written[1]);
        for want in [
            "mmtree",
            "lmdb",
            "512 MiB",
            "2 GiB",
            "method: cgroup v1",
            "seconds",
        ] {
            assert!(svg.contains(want), "w7.svg lacks {want}");
        }
        assert!(!svg.contains("redb"), "redb has no w7 series");
    }

    #[test]
    fn plot_odd_docs() {
        let dir = tempfile::tempdir().unwrap();
        let odd = [
            json!({}),
            json!(null),
            json!({ "stores": [] }),
            json!({ "stores": "nope", "records": "many" }),
            json!({ "stores": [
                null,
                { "results": [ { "workload": "x", "value": f64::NAN } ] },
                { "name": "zero", "results": [
                    { "workload": "x", "unit": "ops/s", "value": 0.0 },
                    { "workload": "y", "value": -5.0, "higher_is_better": false },
                    { "value": 1.0 },
                    "garbage" ],
                  "w7": { "interval_s": 0.0, "cap_bytes": 0, "gets_per_s": [null, f64::NAN, 0.0, "x"] } },
                { "name": "a<b&\"c\"", "results": [ { "workload": "x", "value": 1e300 } ],
                  "w7": { "gets_per_s": [] } },
                { "name": "w7 only", "w7": {} },
            ] }),
        ];
        for (i, doc) in odd.iter().enumerate() {
            let out = dir.path().join(i.to_string());
            let written = write_plots(doc, &out).unwrap();
            for path in &written {
                check_svg(path);
            }
        }
        let svg = std::fs::read_to_string(dir.path().join("4/throughput.svg")).unwrap();
        assert!(svg.contains("a&lt;b&amp;"));
        assert!(svg.contains("n/a"));
        // Caps that differ per store go in the legend, not the title.
        let svg = std::fs::read_to_string(dir.path().join("4/w7.svg")).unwrap();
        assert!(svg.contains("sizes at right") && svg.contains("cap 0 B, file ?"));
        assert!(!dir.path().join("0/w7.svg").exists());
    }

    #[test]
    fn plot_human_numbers() {
        assert_eq!(human(2_420_000.0), "2.42 M");
        assert_eq!(human(354_000.0), "354 k");
        assert_eq!(human(625.0), "625");
        assert_eq!(human(999_999.0), "1 M");
        assert_eq!(human(12.34), "12.3");
        assert_eq!(human(1.5), "1.5");
        assert_eq!(human(0.01234), "0.0123");
        assert_eq!(human(0.0), "0");
        assert_eq!(human(-1500.0), "-1.5 k");
        assert_eq!(human(f64::NAN), "n/a");
        assert_eq!(human(1e300), "1.00e300");
        assert_eq!(thousands(10_000_000.0), "10,000,000");
        assert_eq!(thousands(100.0), "100");
        assert_eq!(bytes(536_870_912.0), "512 MiB");
        assert_eq!(bytes(2_147_483_648.0), "2 GiB");
        assert_eq!(bytes(836_900_000.0), "798 MiB");
        assert_eq!(bytes(100.0), "100 B");
    }
}
