//! The timelines of a partition as one self-contained HTML page, one section per group (a name
//! is unique only within an account and a region), each headed by its account and region: the
//! desired and actual capacity (and the min and max sizes) as step lines over time, every entry
//! as a marker on the time axis (API calls, activities and service actions each in a lane of
//! their own, failures in red) with its details on hover, and the entries as a table below. One
//! legend serves every chart.
//!
//! Nothing is fetched: the CSS, the SVG and a few lines of script are inline, so the page opens
//! from a file, offline, and can be attached to an incident. Every value from the table is
//! escaped ([`escape`]) and none is placed inside the script: an event field can hold any text.
//!
//! Pure: no I/O.

use std::fmt::Write as _;

use super::{Entry, GroupTimeline, Kind, Point, Status, Timeline};
use crate::item::epoch_seconds;

/// The chart's geometry, in SVG units.
const WIDTH: f64 = 1200.0;
const PLOT_LEFT: f64 = 88.0;
const PLOT_RIGHT: f64 = 1180.0;
const PLOT_TOP: f64 = 16.0;
const PLOT_BOTTOM: f64 = 300.0;
/// Where the first marker lane starts, and the height of one row of markers in a lane.
const LANES_TOP: f64 = 340.0;
const LANE_ROW: f64 = 16.0;
const LANE_GAP: f64 = 14.0;
/// Markers closer than this (horizontally) go to the next row of their lane.
const MARKER_SPACING: f64 = 13.0;
const MAX_LANE_ROWS: usize = 4;

/// The colours, shared by the chart and its legend.
const DESIRED_COLOUR: &str = "#1f6feb";
const ACTUAL_COLOUR: &str = "#1a7f37";
const LIMIT_COLOUR: &str = "#8c959f";
const OK_COLOUR: &str = "#57606a";
const FAILED_COLOUR: &str = "#d1242f";

/// What the page is about: the group's name and the time range asked for.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The group's name.
    pub group: &'a str,
    /// `--since`, when given.
    pub since: Option<&'a str>,
    /// `--until`, when given.
    pub until: Option<&'a str>,
}

/// Text made safe to place in HTML, as element content or inside a quoted attribute.
#[must_use]
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page: a heading naming the group (and, for one group, its account and region in the
/// title), the range, then a section per group.
#[must_use]
pub fn page(scope: Scope<'_>, groups: &[GroupTimeline]) -> String {
    let name = escape(scope.group);
    let title = match groups {
        [one] => format!(
            "{name} ({}, {})",
            escape(&one.group.account),
            escape(&one.group.region)
        ),
        _ => name.clone(),
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}: Auto Scaling timeline</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>Auto Scaling group <span class=\"group\">{name}</span></h1>\n\
         <p class=\"range\">{}</p>\n",
        escape(&range_text(scope, groups)),
    );
    if groups.len() > 1 {
        let _ = writeln!(
            out,
            "<p class=\"groups\">{} groups of this name, each in a section of its own: a name \
             is unique only within an account and a region.</p>",
            groups.len()
        );
    }
    if groups.iter().all(|g| g.timeline.entries.is_empty()) {
        out.push_str("<p class=\"empty\">No events in this range.</p>\n");
    } else {
        out.push_str(&legend());
        for (n, g) in groups.iter().enumerate() {
            out.push_str(&section(&format!("g{n}"), g));
        }
    }
    let _ = write!(
        out,
        "<div id=\"tip\" role=\"tooltip\"></div>\n<script>{SCRIPT}</script>\n</body>\n</html>\n"
    );
    out
}

/// One group's section, its element IDs prefixed with `id`: the account and region, its
/// counts, its chart and its table.
fn section(id: &str, g: &GroupTimeline) -> String {
    format!(
        "<section class=\"timeline\" id=\"{id}\">\n<h2>account <span class=\"group\">{}</span>, \
         region <span class=\"group\">{}</span></h2>\n<p class=\"summary\">{}</p>\n{}{}</section>\n",
        escape(&g.group.account),
        escape(&g.group.region),
        escape(&summary(&g.timeline)),
        chart(id, &g.timeline),
        table(id, &g.timeline),
    )
}

/// "since A until B: C to D (UTC)", C and D the first and last event of any group.
fn range_text(scope: Scope<'_>, groups: &[GroupTimeline]) -> String {
    let asked = match (scope.since, scope.until) {
        (None, None) => "all events".to_owned(),
        (Some(s), None) => format!("since {s}"),
        (None, Some(u)) => format!("until {u}"),
        (Some(s), Some(u)) => format!("since {s} until {u}"),
    };
    let entries = || groups.iter().flat_map(|g| &g.timeline.entries);
    let first = entries().map(|e| e.time.as_str()).min();
    let last = entries().map(|e| e.time.as_str()).max();
    match (first, last) {
        (Some(first), Some(last)) => format!("{asked}: {first} to {last} (UTC)"),
        _ => asked,
    }
}

/// "18 events: 7 API calls, 11 activities; 2 failed".
fn summary(timeline: &Timeline) -> String {
    let count = |kind: Kind| timeline.entries.iter().filter(|e| e.kind == kind).count();
    let failed = timeline
        .entries
        .iter()
        .filter(|e| e.status == Status::Failed)
        .count();
    let mut parts = vec![
        format!("{} API calls", count(Kind::Api)),
        format!("{} activities", count(Kind::Activity)),
    ];
    if count(Kind::Service) > 0 {
        parts.push(format!("{} service actions", count(Kind::Service)));
    }
    format!(
        "{} events: {}; {failed} failed",
        timeline.entries.len(),
        parts.join(", ")
    )
}

fn legend() -> String {
    let line = |id: &str, label: &str| {
        let (colour, width, dash, opacity) = stroke(id);
        format!(
            "<span class=\"key\"><svg width=\"28\" height=\"12\" aria-hidden=\"true\"><line x1=\"0\" \
             y1=\"6\" x2=\"28\" y2=\"6\" stroke=\"{colour}\" stroke-width=\"{width}\" \
             stroke-dasharray=\"{dash}\" stroke-opacity=\"{opacity}\"/></svg>{label}</span>"
        )
    };
    let mark = |kind: Kind, colour: &str, label: &str| {
        format!(
            "<span class=\"key\"><svg width=\"16\" height=\"16\" aria-hidden=\"true\">{}</svg>{label}</span>",
            shape(kind, 8.0, 8.0, colour)
        )
    };
    format!(
        "<div class=\"legend\">{}{}{}{}{}{}{}</div>\n",
        line("desired", "desired capacity"),
        line("actual", "actual capacity (in service)"),
        line("min-size", "min / max size"),
        mark(Kind::Api, OK_COLOUR, "API call"),
        mark(Kind::Activity, OK_COLOUR, "activity"),
        mark(Kind::Service, OK_COLOUR, "service action"),
        mark(Kind::Activity, FAILED_COLOUR, "failed"),
    )
}

/// How a series is drawn: colour, width, dashes, opacity. The actual capacity is wide and light
/// under the desired line, so both show where they are equal.
fn stroke(id: &str) -> (&'static str, f64, &'static str, f64) {
    match id {
        "desired" => (DESIRED_COLOUR, 2.0, "none", 1.0),
        "actual" => (ACTUAL_COLOUR, 6.0, "none", 0.5),
        _ => (LIMIT_COLOUR, 1.5, "5 4", 1.0),
    }
}

/// The time and value scales of the chart.
struct Scale {
    t0: f64,
    t1: f64,
    top: i64,
}

impl Scale {
    fn new(timeline: &Timeline) -> Self {
        let c = &timeline.capacity;
        let times = timeline
            .entries
            .iter()
            .map(|e| e.time.as_str())
            .chain(
                [&c.desired, &c.actual, &c.min_size, &c.max_size]
                    .into_iter()
                    .flatten()
                    .map(|p| p.time.as_str()),
            )
            .filter_map(epoch_seconds);
        let (lo, hi) = times.fold((u64::MAX, 0), |(lo, hi), t| (lo.min(t), hi.max(t)));
        let (lo, hi) = if lo > hi {
            (0, 60)
        } else {
            (lo, hi.max(lo + 60))
        };
        #[allow(clippy::cast_precision_loss)]
        let (lo, hi) = (lo as f64, hi as f64);
        let pad = (hi - lo) * 0.02;
        let values = [&c.desired, &c.actual, &c.min_size, &c.max_size]
            .into_iter()
            .flatten()
            .map(|p| p.value);
        Self {
            t0: lo - pad,
            t1: hi + pad,
            top: values.max().unwrap_or(0).max(1) + 1,
        }
    }

    fn x(&self, time: &str) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let t = epoch_seconds(time).map_or(self.t0, |t| t as f64);
        PLOT_LEFT + (t - self.t0) / (self.t1 - self.t0) * (PLOT_RIGHT - PLOT_LEFT)
    }

    fn y(&self, value: i64) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let share = value as f64 / self.top as f64;
        PLOT_BOTTOM - share * (PLOT_BOTTOM - PLOT_TOP)
    }
}

/// The SVG of the section `id`: grid, axes, the four series and the marker lanes.
fn chart(id: &str, timeline: &Timeline) -> String {
    let scale = Scale::new(timeline);
    let (lanes, height) = lanes(id, timeline, &scale);
    let c = &timeline.capacity;
    let mut svg = format!(
        "<svg id=\"{id}-chart\" class=\"chart\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" \
         aria-label=\"capacity and events over time\">\n"
    );
    svg.push_str(&grid(&scale, height));
    for (series_id, series) in [
        ("min-size", &c.min_size),
        ("max-size", &c.max_size),
        ("actual", &c.actual),
        ("desired", &c.desired),
    ] {
        let (colour, width, dash, opacity) = stroke(series_id);
        if let Some(d) = step_path(series, &scale) {
            let _ = writeln!(
                svg,
                "<path id=\"{id}-{series_id}\" class=\"series {series_id}\" d=\"{d}\" fill=\"none\" \
                 stroke=\"{colour}\" stroke-width=\"{width}\" stroke-dasharray=\"{dash}\" \
                 stroke-opacity=\"{opacity}\"/>"
            );
        }
    }
    svg.push_str(&lanes);
    let _ = writeln!(
        svg,
        "<line class=\"guide\" x1=\"0\" x2=\"0\" y1=\"{PLOT_TOP}\" y2=\"{height}\" \
         stroke=\"#0969da\" stroke-width=\"1\" style=\"display:none\"/>\n</svg>"
    );
    svg
}

/// Horizontal grid lines with capacity labels, and time ticks with their labels.
fn grid(scale: &Scale, height: f64) -> String {
    let mut out = String::new();
    let step = (scale.top / 8).max(1);
    for value in (0..=scale.top).step_by(usize::try_from(step).unwrap_or(1)) {
        let y = scale.y(value);
        let _ = writeln!(
            out,
            "<line class=\"grid\" x1=\"{PLOT_LEFT}\" x2=\"{PLOT_RIGHT}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{value}</text>",
            PLOT_LEFT - 8.0,
            y + 4.0
        );
    }
    let _ = writeln!(
        out,
        "<text class=\"axis\" x=\"14\" y=\"{:.1}\" transform=\"rotate(-90 14 {:.1})\" \
         text-anchor=\"middle\">instances</text>",
        f64::midpoint(PLOT_TOP, PLOT_BOTTOM),
        f64::midpoint(PLOT_TOP, PLOT_BOTTOM)
    );
    for (x, label) in time_ticks(scale) {
        let _ = writeln!(
            out,
            "<line class=\"vgrid\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{PLOT_TOP}\" y2=\"{height:.1}\"/>\
             <text class=\"tick\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            PLOT_BOTTOM + 18.0,
            escape(&label)
        );
    }
    out
}

/// Ticks at a round interval (at most about ten), labelled `HH:MM` (`HH:MM:SS` under ten
/// minutes, `MM-DD HH:MM` over two days).
fn time_ticks(scale: &Scale) -> Vec<(f64, String)> {
    const STEPS: [u64; 16] = [
        1, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400,
    ];
    let span = scale.t1 - scale.t0;
    #[allow(clippy::cast_precision_loss)]
    let step = STEPS
        .into_iter()
        .find(|s| span / *s as f64 <= 10.0)
        .unwrap_or_else(|| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let days = (span / 86_400.0 / 10.0).ceil() as u64;
            days.max(1) * 86_400
        });
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let first = (scale.t0.max(0.0) as u64).div_ceil(step) * step;
    let mut ticks = Vec::new();
    let mut t = first;
    #[allow(clippy::cast_precision_loss)]
    while (t as f64) <= scale.t1 {
        let Ok(ts) = jiff::Timestamp::from_second(i64::try_from(t).unwrap_or(0)) else {
            break;
        };
        let dt = jiff::tz::Offset::UTC.to_datetime(ts);
        let label = if span > 2.0 * 86_400.0 {
            format!(
                "{:02}-{:02} {:02}:{:02}",
                dt.month(),
                dt.day(),
                dt.hour(),
                dt.minute()
            )
        } else if span < 600.0 {
            format!("{:02}:{:02}:{:02}", dt.hour(), dt.minute(), dt.second())
        } else {
            format!("{:02}:{:02}", dt.hour(), dt.minute())
        };
        #[allow(clippy::cast_precision_loss)]
        let x = PLOT_LEFT + (t as f64 - scale.t0) / span * (PLOT_RIGHT - PLOT_LEFT);
        ticks.push((x, label));
        t += step;
    }
    ticks
}

/// A step line through the points, held to the right edge of the plot. `None` without points.
fn step_path(points: &[Point], scale: &Scale) -> Option<String> {
    let first = points.first()?;
    let mut d = format!("M{:.1} {:.1}", scale.x(&first.time), scale.y(first.value));
    for p in &points[1..] {
        let _ = write!(d, " H{:.1} V{:.1}", scale.x(&p.time), scale.y(p.value));
    }
    let _ = write!(d, " H{PLOT_RIGHT:.1}");
    Some(d)
}

/// The marker lanes (one per kind that has entries) of the section `id`, and the SVG's total
/// height.
fn lanes(id: &str, timeline: &Timeline, scale: &Scale) -> (String, f64) {
    let mut out = String::new();
    let mut top = LANES_TOP;
    for (kind, label) in [
        (Kind::Api, "API calls"),
        (Kind::Activity, "activities"),
        (Kind::Service, "service actions"),
    ] {
        let entries: Vec<(usize, &Entry)> = timeline
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.kind == kind)
            .collect();
        if entries.is_empty() && kind == Kind::Service {
            continue;
        }
        let mut rows_end: Vec<f64> = Vec::new();
        let mut markers = String::new();
        for (n, entry) in entries {
            let x = scale.x(&entry.time);
            let row = rows_end
                .iter()
                .position(|end| x - end >= MARKER_SPACING)
                .unwrap_or_else(|| {
                    rows_end.push(f64::NEG_INFINITY);
                    rows_end.len() - 1
                })
                .min(MAX_LANE_ROWS - 1);
            rows_end[row] = x;
            #[allow(clippy::cast_precision_loss)]
            let y = top + LANE_ROW * (row as f64 + 0.5);
            markers.push_str(&marker(&format!("{id}-e{n}"), entry, x, y));
        }
        #[allow(clippy::cast_precision_loss)]
        let height = LANE_ROW * rows_end.len().clamp(1, MAX_LANE_ROWS) as f64;
        let _ = writeln!(
            out,
            "<rect class=\"lane\" x=\"{PLOT_LEFT}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{height:.1}\"/>\
             <text class=\"lane-label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{label}</text>",
            PLOT_RIGHT - PLOT_LEFT,
            PLOT_LEFT - 8.0,
            top + LANE_ROW / 2.0 + 4.0,
        );
        out.push_str(&markers);
        top += height + LANE_GAP;
    }
    (out, top)
}

/// One entry's marker, with its details as the SVG title (the tooltip); `row` is the ID of its
/// table row.
fn marker(row: &str, entry: &Entry, x: f64, y: f64) -> String {
    let (status, colour) = match entry.status {
        Status::Ok => ("ok", OK_COLOUR),
        Status::Failed => ("failed", FAILED_COLOUR),
    };
    format!(
        "<g class=\"marker {} {status}\" data-row=\"{row}\" data-x=\"{x:.1}\" tabindex=\"0\">\
         <title>{}</title>{}</g>\n",
        entry.kind.as_str(),
        escape(&tooltip(entry)),
        shape(entry.kind, x, y, colour)
    )
}

/// A circle for an API call, a square for an activity, a triangle for a service action.
fn shape(kind: Kind, x: f64, y: f64, colour: &str) -> String {
    match kind {
        Kind::Api => format!("<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"6\" fill=\"{colour}\"/>"),
        Kind::Activity => format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"11\" height=\"11\" fill=\"{colour}\"/>",
            x - 5.5,
            y - 5.5
        ),
        Kind::Service => format!(
            "<path d=\"M{x:.1} {:.1} L{:.1} {:.1} L{:.1} {:.1} Z\" fill=\"{colour}\"/>",
            y - 6.0,
            x + 6.0,
            y + 5.0,
            x - 6.0,
            y + 5.0
        ),
    }
}

/// The details of an entry, one fact a line.
fn tooltip(entry: &Entry) -> String {
    let mut lines = vec![
        format!("{}  {}", entry.time, entry.what),
        format!("who: {}", entry.who),
    ];
    if entry.status == Status::Failed {
        lines.push("FAILED".to_owned());
    }
    if let Some(cause) = &entry.cause {
        lines.push(format!("cause ({}): {}", cause.class.as_str(), cause.text));
    }
    lines.push(entry.details.clone());
    let capacity = |n: Option<i64>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
    lines.push(format!(
        "desired {}, actual {}",
        capacity(entry.desired),
        capacity(entry.actual)
    ));
    lines.join("\n")
}

/// The entries of the section `id` as a table, failed rows marked.
fn table(id: &str, timeline: &Timeline) -> String {
    let mut out = String::from(
        "<table>\n<thead><tr><th>time</th><th>kind</th><th>what</th><th>who</th><th>status</th>\
         <th>cause</th><th>desired</th><th>actual</th><th>details</th></tr></thead>\n<tbody>\n",
    );
    for (n, e) in timeline.entries.iter().enumerate() {
        let status = match e.status {
            Status::Ok => "ok",
            Status::Failed => "failed",
        };
        let number = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
        let _ = writeln!(
            out,
            "<tr id=\"{id}-e{n}\" class=\"{status}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{status}</td><td title=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&e.time),
            e.kind.as_str(),
            escape(&e.what),
            escape(&e.who),
            escape(e.cause.as_ref().map_or("", |c| c.text.as_str())),
            e.cause.as_ref().map_or("-", |c| c.class.as_str()),
            number(e.desired),
            number(e.actual),
            escape(&e.details),
        );
    }
    out.push_str("</tbody>\n</table>\n");
    out
}

const STYLE: &str = "
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:20px;margin:0 0 4px}
h2{font-size:16px;margin:28px 0 2px}
.group{font-family:ui-monospace,SFMono-Regular,Menlo,monospace}
.range,.summary,.groups{margin:2px 0;color:#57606a}
.legend{display:flex;flex-wrap:wrap;gap:18px;margin:14px 0 6px}
.key{display:inline-flex;align-items:center;gap:6px}
.chart{width:100%;max-width:1200px;height:auto;display:block;border:1px solid #d0d7de;border-radius:6px}
.grid{stroke:#eaeef2;stroke-width:1}
.vgrid{stroke:#f0f3f6;stroke-width:1}
.tick,.axis,.lane-label{font-size:12px;fill:#57606a}
.lane{fill:#f6f8fa}
.marker{cursor:pointer}
.marker:hover>*,.marker:focus>*{stroke:#0969da;stroke-width:2}
#tip{position:absolute;display:none;max-width:560px;padding:8px 10px;background:#1f2328;color:#fff;
 border-radius:6px;font-size:12px;white-space:pre-line;pointer-events:none;z-index:2}
table{border-collapse:collapse;margin-top:18px;font-size:12px;width:100%}
th,td{border-bottom:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
td:first-child{white-space:nowrap;font-family:ui-monospace,SFMono-Regular,Menlo,monospace}
tr.failed td{background:#ffebe9;color:#82071e}
tr.hl td{background:#ddf4ff}
";

/// Hover and focus show a marker's details in a tooltip, a guide line at its time and its table
/// row; a click scrolls to the row. The script reads the page, and holds no data of its own.
const SCRIPT: &str = "
(function () {
  var tip = document.getElementById('tip');
  var markers = document.querySelectorAll('.marker');
  function place(ev) {
    tip.style.left = (ev.pageX + 14) + 'px';
    tip.style.top = (ev.pageY + 14) + 'px';
  }
  markers.forEach(function (m) {
    var title = m.querySelector('title');
    if (title) { m.setAttribute('data-tip', title.textContent); m.removeChild(title); }
    var row = document.getElementById(m.getAttribute('data-row'));
    var guide = m.closest('svg').querySelector('.guide');
    function show(ev) {
      tip.textContent = m.getAttribute('data-tip');
      tip.style.display = 'block';
      if (ev && ev.pageX !== undefined) { place(ev); }
      guide.setAttribute('x1', m.getAttribute('data-x'));
      guide.setAttribute('x2', m.getAttribute('data-x'));
      guide.style.display = '';
      if (row) { row.classList.add('hl'); }
    }
    function hide() {
      tip.style.display = 'none';
      guide.style.display = 'none';
      if (row) { row.classList.remove('hl'); }
    }
    m.addEventListener('mouseenter', show);
    m.addEventListener('mousemove', place);
    m.addEventListener('mouseleave', hide);
    m.addEventListener('focus', show);
    m.addEventListener('blur', hide);
    m.addEventListener('click', function () { if (row) { row.scrollIntoView({block: 'center'}); } });
  });
})();
";

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::timeline::by_group;

    fn story_rows() -> Vec<serde_json::Value> {
        serde_json::from_str(include_str!("../../tests/fixtures/timeline-story.json"))
            .expect("the story is JSON")
    }

    fn story() -> Vec<GroupTimeline> {
        by_group(&story_rows())
    }

    const SCOPE: Scope<'static> = Scope {
        group: "web-asg",
        since: Some("2024-05-01"),
        until: None,
    };

    #[test]
    fn escape_covers_what_html_reads() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("é plain"), "é plain");
    }

    #[test]
    fn the_page_has_the_chart_one_marker_per_entry_and_nothing_from_outside() {
        let t = story();
        let page = page(SCOPE, &t);
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("<span class=\"group\">web-asg</span>"));
        assert!(
            page.contains(
                "<title>web-asg (123456789012, us-east-1): Auto Scaling timeline</title>"
            ),
            "one group: its account and region in the title"
        );
        assert!(page.contains(
            "<h2>account <span class=\"group\">123456789012</span>, region <span \
             class=\"group\">us-east-1</span></h2>"
        ));
        assert!(!page.contains("class=\"groups\""), "one group: no note");
        assert!(
            page.contains("since 2024-05-01: 2024-05-01T09:58:00Z to 2024-05-01T10:38:30Z (UTC)")
        );
        assert_eq!(
            page.matches("<g class=\"marker ").count(),
            t[0].timeline.entries.len()
        );
        assert_eq!(
            page.matches("<g class=\"marker activity failed\"").count(),
            1
        );
        assert_eq!(page.matches("<g class=\"marker api failed\"").count(), 1);
        for id in ["desired", "actual", "min-size", "max-size"] {
            assert!(page.contains(&format!("<path id=\"g0-{id}\"")), "{id}");
        }
        assert_eq!(page.matches("<script>").count(), 1);
        for outside in ["http://", "https://", "src=", "@import", "url("] {
            assert!(!page.contains(outside), "{outside}");
        }
    }

    #[test]
    fn a_field_with_markup_stays_text() {
        let hostile = "<script>window.pwned=1</script><img src=x onerror=\"window.pwned=2\">";
        let rows = [json!({
            "eventKey": "2024-05-01T10:00:00Z#1", "eventTime": "2024-05-01T10:00:00Z",
            "eventID": "1\"><b>", "origin": "api", "eventName": hostile, "userName": hostile,
            "errorCode": hostile, "errorMessage": hostile,
            "requestParameters": {"autoScalingGroupName": "g", "desiredCapacity": 2}
        })];
        let page = page(
            Scope {
                group: "</title><script>alert(1)</script>",
                since: Some("<b>"),
                until: None,
            },
            &by_group(&rows),
        );
        assert_eq!(page.matches("<script").count(), 1, "only the page's own");
        assert!(!page.contains("<img"));
        assert!(!page.contains("<b>"));
        assert!(page.contains("&lt;script&gt;window.pwned=1&lt;/script&gt;"));
        assert!(page.contains("&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
    }

    #[test]
    fn an_empty_timeline_is_a_page_that_says_so() {
        let page = page(SCOPE, &[]);
        assert!(page.contains("No events in this range."));
        assert!(!page.contains("<svg id=\"chart\""));
        assert!(page.ends_with("</html>\n"));
    }

    #[test]
    fn steps_hold_to_the_right_edge_and_ticks_are_round() {
        let t = crate::timeline::build(&story_rows());
        let scale = Scale::new(&t);
        let d = step_path(&t.capacity.desired, &scale).expect("a path");
        assert_eq!(d.matches(" V").count(), 2, "{d}");
        assert!(d.ends_with(&format!(" H{PLOT_RIGHT:.1}")), "{d}");
        let labels: Vec<String> = time_ticks(&scale).into_iter().map(|(_, l)| l).collect();
        assert_eq!(
            labels,
            [
                "10:00", "10:05", "10:10", "10:15", "10:20", "10:25", "10:30", "10:35"
            ]
        );
        assert_eq!(scale.top, 9, "max size 8, plus one");
    }

    #[test]
    fn groups_of_one_name_are_sections_with_their_own_ids() {
        let mut rows = story_rows();
        let mut eu: Vec<serde_json::Value> = story_rows()
            .into_iter()
            .map(|mut row| {
                row["accountId"] = json!("222222222222");
                row["awsRegion"] = json!("eu-west-1");
                row
            })
            .collect();
        eu.truncate(3);
        rows.extend(eu);
        let groups = by_group(&rows);
        let page = page(SCOPE, &groups);
        assert!(page.contains("<title>web-asg: Auto Scaling timeline</title>"));
        assert!(page.contains("<p class=\"groups\">2 groups of this name"));
        let sections: Vec<&str> = page.split("<section ").skip(1).collect();
        assert_eq!(sections.len(), 2);
        assert!(sections[0].starts_with("class=\"timeline\" id=\"g0\""));
        assert!(sections[0].contains(
            "<h2>account <span class=\"group\">123456789012</span>, region <span \
             class=\"group\">us-east-1</span></h2>"
        ));
        assert!(sections[0].contains("18 events"));
        assert!(sections[1].contains(
            "<h2>account <span class=\"group\">222222222222</span>, region <span \
             class=\"group\">eu-west-1</span></h2>"
        ));
        assert!(sections[1].contains("3 events: 1 API calls, 2 activities; 1 failed"));
        assert_eq!(sections[0].matches("<g class=\"marker ").count(), 18);
        assert_eq!(sections[1].matches("<g class=\"marker ").count(), 3);
        for (n, count) in [(0, 18), (1, 3)] {
            assert_eq!(
                page.matches(&format!("data-row=\"g{n}-e")).count(),
                count,
                "each marker names its own section's row"
            );
            assert_eq!(page.matches(&format!("<tr id=\"g{n}-e")).count(), count);
            assert!(page.contains(&format!("<svg id=\"g{n}-chart\" class=\"chart\"")));
            assert!(page.contains(&format!("<path id=\"g{n}-desired\"")));
        }
        assert_eq!(
            page.matches("class=\"guide\"").count(),
            2,
            "a guide per chart"
        );
        assert_eq!(page.matches("<div class=\"legend\"").count(), 1);
    }
}
