//! A small chart on the dataset page: a numeric column summed over a date (by month) or
//! over a category column, computed on the server through the same access gate as the SQL
//! API, and drawn as SVG with presentation attributes only (the CSP admits no inline
//! style or script). Its numbers are also given as a table for screen readers.

use std::collections::HashMap;
use std::sync::Mutex;

use arrow_array::Array as _;
use gongshu_app::data::ResourceView;
use gongshu_core::authz::Principal;

use crate::AppState;

/// One bar or point: its label and value.
#[derive(Debug, Clone)]
pub(crate) struct Point {
    pub(crate) label: String,
    pub(crate) value: f64,
}

#[derive(Debug, Clone)]
pub(crate) struct Chart {
    /// E.g. "注册资本（合计）按 成立日期（月）".
    pub(crate) title: String,
    pub(crate) points: Vec<Point>,
    /// The SVG markup, escaped where it carries data.
    pub(crate) svg: String,
}

/// Charts by the table version and view they were computed on, so a page view does not
/// scan the table again; a new version or another view is another key.
#[derive(Default, Debug)]
pub(crate) struct ChartCache {
    charts: Mutex<HashMap<String, Option<Chart>>>,
}

const MAX_CACHED: usize = 2000;
const MAX_BARS: usize = 12;
const MAX_MONTHS: usize = 60;

/// Column names that say "this is a category" (region, type, state, industry …).
const CATEGORY_HINTS: &[&str] = &[
    "类型", "类别", "分类", "区", "县", "市", "状态", "性质", "行业", "等级", "级别", "科室",
    "机关", "领域", "方式", "种类", "品种",
];

fn is_numeric(t: &str) -> bool {
    t == "integer" || t == "number" || t.starts_with("decimal")
}

/// Double quotes for an SQL identifier taken from the table's own column names.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// What to chart, as SQL over the table, and the chart's title; none when the table
/// has nothing that makes a sensible chart.
fn plan(r: &ResourceView, zh: bool) -> Option<(String, String, bool)> {
    let numeric = r
        .columns
        .iter()
        .find(|c| is_numeric(&c.column_type) && !c.name.starts_with('_'))?;
    let table = &r.table_name;
    let n = ident(&numeric.name);
    if let Some(date) = r
        .columns
        .iter()
        .find(|c| c.column_type == "date" || c.column_type == "datetime")
    {
        let d = ident(&date.name);
        let sql = format!(
            "SELECT to_char(date_trunc('month', CAST({d} AS TIMESTAMP)), '%Y-%m') AS k, \
             SUM(CAST({n} AS DOUBLE)) AS v FROM {table} WHERE {d} IS NOT NULL \
             GROUP BY 1 ORDER BY 1 DESC LIMIT {MAX_MONTHS}"
        );
        let title = if zh {
            format!("{}（合计）按{}（月）", numeric.name, date.name)
        } else {
            format!("{} (sum) by month of {}", numeric.name, date.name)
        };
        return Some((sql, title, true));
    }
    let category = r
        .columns
        .iter()
        .find(|c| c.column_type == "text" && CATEGORY_HINTS.iter().any(|h| c.name.contains(h)))?;
    let c = ident(&category.name);
    let sql = format!(
        "SELECT CAST({c} AS VARCHAR) AS k, SUM(CAST({n} AS DOUBLE)) AS v FROM {table} \
         WHERE {c} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC NULLS LAST LIMIT {MAX_BARS}"
    );
    let title = if zh {
        format!(
            "{}（合计）按{}，前{MAX_BARS}项",
            numeric.name, category.name
        )
    } else {
        format!(
            "{} (sum) by {}, top {MAX_BARS}",
            numeric.name, category.name
        )
    };
    Some((sql, title, false))
}

fn points(result: &gongshu_data::query::SqlResult) -> Vec<Point> {
    let options = arrow_cast::display::FormatOptions::default().with_null("");
    let mut out = Vec::new();
    for b in &result.batches {
        if b.num_columns() < 2 {
            continue;
        }
        let (Ok(labels), Ok(values)) = (
            arrow_cast::display::ArrayFormatter::try_new(b.column(0).as_ref(), &options),
            arrow_cast::cast(b.column(1), &arrow_schema::DataType::Float64),
        ) else {
            continue;
        };
        let Some(values) = values
            .as_any()
            .downcast_ref::<arrow_array::Float64Array>()
            .cloned()
        else {
            continue;
        };
        for row in 0..b.num_rows() {
            if values.is_null(row) || !values.value(row).is_finite() {
                continue;
            }
            out.push(Point {
                label: labels.value(row).to_string(),
                value: values.value(row),
            });
        }
    }
    out
}

/// A compact number for an axis label: 12345678 → 1234.6万.
fn short(v: f64, zh: bool) -> String {
    let a = v.abs();
    if zh && a >= 1e8 {
        format!("{:.1}亿", v / 1e8)
    } else if zh && a >= 1e4 {
        format!("{:.1}万", v / 1e4)
    } else if !zh && a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if !zh && a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Vertical bars in time order, or horizontal bars for categories, largest first.
pub(crate) fn draw(title: &str, points: &[Point], over_time: bool, zh: bool) -> String {
    let max = points.iter().map(|p| p.value).fold(0.0_f64, f64::max);
    let scale = |v: f64| if max > 0.0 { v.max(0.0) / max } else { 0.0 };
    let mut svg = String::new();
    if over_time {
        let (w, h, left, bottom) = (720.0, 260.0, 64.0, 40.0);
        let step = (w - left - 8.0) / points.len().max(1) as f64;
        svg.push_str(&format!(
            "<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\" \
             xmlns=\"http://www.w3.org/2000/svg\">",
            escape(title)
        ));
        svg.push_str(&format!(
            "<line x1=\"{left}\" y1=\"{y}\" x2=\"{w}\" y2=\"{y}\" stroke=\"#555\"/>\
             <text x=\"{lx}\" y=\"16\" font-size=\"12\" text-anchor=\"end\" fill=\"#333\">{}</text>",
            escape(&short(max, zh)),
            y = h - bottom,
            lx = left - 6.0
        ));
        for (i, p) in points.iter().enumerate() {
            let bh = scale(p.value) * (h - bottom - 16.0);
            let x = left + i as f64 * step;
            svg.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"{bh:.1}\" fill=\"#0b4f8a\"><title>{} {}</title></rect>",
                escape(&p.label),
                escape(&short(p.value, zh)),
                y = h - bottom - bh,
                bw = (step * 0.8).max(1.0),
            ));
            // Label every few bars so the labels do not collide.
            let every = (points.len() / 8).max(1);
            if i % every == 0 {
                svg.push_str(&format!(
                    "<text x=\"{x:.1}\" y=\"{y}\" font-size=\"12\" fill=\"#333\">{}</text>",
                    escape(&p.label),
                    y = h - bottom + 16.0
                ));
            }
        }
    } else {
        let (w, row, left) = (720.0, 26.0, 220.0);
        let h = row * points.len() as f64 + 8.0;
        svg.push_str(&format!(
            "<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\" \
             xmlns=\"http://www.w3.org/2000/svg\">",
            escape(title)
        ));
        for (i, p) in points.iter().enumerate() {
            let y = 4.0 + i as f64 * row;
            let bw = scale(p.value) * (w - left - 90.0);
            let label: String = p.label.chars().take(14).collect();
            svg.push_str(&format!(
                "<text x=\"{lx}\" y=\"{ty:.1}\" font-size=\"13\" text-anchor=\"end\" fill=\"#333\">{}</text>\
                 <rect x=\"{left}\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"{bh:.1}\" fill=\"#0b4f8a\"/>\
                 <text x=\"{vx:.1}\" y=\"{ty:.1}\" font-size=\"13\" fill=\"#333\">{}</text>",
                escape(&label),
                escape(&short(p.value, zh)),
                lx = left - 8.0,
                ty = y + row * 0.65,
                bh = row * 0.7,
                vx = left + bw + 6.0,
            ));
        }
    }
    svg.push_str("</svg>");
    svg
}

impl ChartCache {
    /// The chart of a table the caller may read, or none. Errors (a query the table
    /// cannot answer, a caller the SQL gate refuses) simply mean no chart.
    pub(crate) async fn chart(
        &self,
        s: &AppState,
        caller: Option<&Principal>,
        r: &ResourceView,
        zh: bool,
    ) -> Option<Chart> {
        let (sql, title, over_time) = plan(r, zh)?;
        let readable = s
            .app
            .readable(caller, &r.id, gongshu_core::access::AccessMode::Sql)
            .await
            .ok()?;
        // The view this caller gets (raw, open, de-identified) is part of the key.
        let key = format!("{}|{}|{zh}", readable.table().path, title);
        if let Some(hit) = self.lock().get(&key) {
            return hit.clone();
        }
        let chart = match s.app.sql(caller, &sql).await {
            Ok((_, result)) => {
                let mut points = points(&result);
                if over_time {
                    points.reverse();
                }
                (points.len() >= 2).then(|| Chart {
                    svg: draw(&title, &points, over_time, zh),
                    title,
                    points,
                })
            }
            Err(e) => {
                tracing::debug!(resource = %r.id, error = %e.message_en, "no chart");
                None
            }
        };
        let mut charts = self.lock();
        if charts.len() >= MAX_CACHED {
            charts.clear();
        }
        charts.insert(key, chart.clone());
        chart
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<Chart>>> {
        self.charts.lock().unwrap_or_else(|e| e.into_inner())
    }
}
