//! `asg-trail timeline` (the real CLI) against DynamoDB Local, seeded with the scripted story of
//! `tests/fixtures/timeline-story.json` (items as the table stores them): an alarm scales out
//! 4 → 6 and one launch fails for lack of capacity, a person (SSO) scales in to 3 after a refused
//! attempt, and an instance refresh replaces the three instances.
//!
//! The table, JSON and CSV must tell that story end to end; the HTML page is then opened in a
//! real headless Chromium (Debian's, installed by `infra/setup.sh`; the test fails without it):
//! the chart drawn, one marker per entry, failures red, a field holding markup inert, and a
//! screenshot whose pixels show the lines and the red markers.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::e2e::{describe, run_cli, seed};
use crate::stack;

const GROUP: &str = "web-asg";
const STORY: &str = include_str!("../fixtures/timeline-story.json");
const ALARM: &str = "alarm TargetTracking-web-asg-AlarmHigh-3f1c9a2e-7d4b-4e8a-9c1f-2b6d8e0a4c71 \
                     (policy cpu50-target-tracking)";
const REFRESH: &str = "instance refresh 8d1c7e4a-2f3b-4c5d-9e6f-0a1b2c3d4e5f by deploy-bot";
/// Text an attacker could put in an event field (here the error message of a call).
const HOSTILE: &str = "<script>window.pwned=1</script><img src=x onerror=\"window.pwned=2\">";

fn story() -> Vec<Value> {
    serde_json::from_str(STORY).expect("the story is JSON")
}

/// A fresh table with the story, plus an event of another group and, when asked, a failed call
/// whose error message holds markup.
async fn seeded(hostile: bool) -> String {
    let table = stack::fresh_table().await;
    let mut items = story();
    let mut other = items[4].clone();
    other["groupName"] = json!("api-asg");
    other["groupNames"] = json!(["api-asg"]);
    items.push(other);
    if hostile {
        let mut call = items[4].clone();
        call["eventTime"] = json!("2024-05-01T10:20:00Z");
        call["eventKey"] = json!("2024-05-01T10:20:00Z#hostile");
        call["eventID"] = json!("hostile");
        call["errorMessage"] = json!(HOSTILE);
        items.push(call);
    }
    seed(&table, &items).await;
    table
}

fn timeline(table: &str, extra: &[&str]) -> String {
    let mut args = vec!["timeline", "--table", table, "--group", GROUP];
    args.extend(extra);
    let out = run_cli(&args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[tokio::test]
async fn the_story_reads_right_as_json_csv_and_table() {
    let table = seeded(false).await;
    let doc: Value = serde_json::from_str(&timeline(&table, &["--output", "json"])).expect("JSON");
    assert_eq!(doc["group"], GROUP);
    let groups = doc["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 1, "one account, one region");
    let story = &groups[0];
    assert_eq!(
        (&story["account"], &story["region"]),
        (&json!("123456789012"), &json!("us-east-1"))
    );
    let entries = story["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 18, "the other group's event is not there");
    let field = |e: &Value, name: &str| e[name].as_str().unwrap_or("-").to_owned();
    let times: Vec<String> = entries.iter().map(|e| field(e, "time")).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "oldest first: {times:?}"
    );
    // (what, who, status, cause class, desired, actual) at the turns of the story.
    let row = |n: usize| {
        let e = &entries[n];
        (
            field(e, "what"),
            field(e, "who"),
            field(e, "status"),
            e["cause"]["class"].as_str().unwrap_or("-").to_owned(),
            e["desired"].as_i64(),
            e["actual"].as_i64(),
        )
    };
    let r = |what: &str, who: &str, status: &str, class: &str, d: i64, a: i64| {
        (
            what.into(),
            who.into(),
            status.into(),
            class.into(),
            Some(d),
            Some(a),
        )
    };
    let launch = "EC2 Instance Launch Successful";
    let terminate = "EC2 Instance Terminate Successful";
    assert_eq!(
        row(1),
        r(
            "EC2 Instance Launch Unsuccessful",
            ALARM,
            "failed",
            "alarm",
            6,
            4
        )
    );
    assert_eq!(row(2), r(launch, ALARM, "ok", "alarm", 6, 5));
    assert_eq!(
        row(3),
        r(launch, "desired capacity", "ok", "capacity", 6, 6)
    );
    let alice = "alice@example.com";
    assert_eq!(row(4), r("SetDesiredCapacity", alice, "failed", "-", 6, 6));
    assert_eq!(row(5), r("SetDesiredCapacity", alice, "ok", "-", 3, 6));
    let by_alice = "user request by alice@example.com";
    assert_eq!(row(8), r(terminate, by_alice, "ok", "user-request", 3, 3));
    assert_eq!(
        row(11),
        r(terminate, REFRESH, "ok", "instance-refresh", 3, 2)
    );
    assert_eq!(row(12), r(launch, REFRESH, "ok", "instance-refresh", 3, 3));
    assert!(
        field(&entries[1], "details").contains("InsufficientInstanceCapacity"),
        "{}",
        entries[1]
    );
    let steps = |name: &str| -> Vec<(String, i64)> {
        story["capacity"][name]
            .as_array()
            .expect("series")
            .iter()
            .map(|p| {
                (
                    field(p, "time")[11..19].to_owned(),
                    p["value"].as_i64().unwrap_or(-1),
                )
            })
            .collect()
    };
    let s = |t: &str, v: i64| (t.to_owned(), v);
    assert_eq!(
        steps("desired"),
        [s("09:58:00", 4), s("10:00:00", 6), s("10:15:30", 3)]
    );
    assert_eq!(steps("actual").len(), 12);
    assert_eq!(steps("actual").last(), Some(&s("10:37:29", 3)));

    let csv_text = timeline(&table, &["--output", "csv"]);
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let records: Vec<csv::StringRecord> = reader
        .records()
        .collect::<Result<_, _>>()
        .expect("CSV rows");
    assert_eq!(records.len(), 18);
    assert!(
        records
            .iter()
            .all(|r| (&r[0], &r[1]) == ("123456789012", "us-east-1")),
        "account and region on every row"
    );
    let failed: Vec<&str> = records
        .iter()
        .filter(|r| &r[6] == "failed")
        .map(|r| &r[4])
        .collect();
    assert_eq!(
        failed,
        ["EC2 Instance Launch Unsuccessful", "SetDesiredCapacity"]
    );
    assert_eq!(&records[6][5], by_alice);
    assert_eq!((&records[6][8], &records[6][9]), ("3", "5"));

    let text = timeline(&table, &[]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 20, "{text}");
    assert_eq!(
        lines[0], "web-asg (account 123456789012, region us-east-1): 18 entries",
        "one group: still named by account and region"
    );
    assert!(lines[1].starts_with("TIME "), "{}", lines[1]);
    assert!(
        lines[3].contains("FAILED") && lines[3].contains("InsufficientInstanceCapacity"),
        "{}",
        lines[3]
    );
}

#[tokio::test]
async fn since_until_and_out_read_like_query() {
    let table = seeded(false).await;
    let window = [
        "--since",
        "2024-05-01T10:15:00Z",
        "--until",
        "2024-05-01T10:16:05Z",
        "--output",
        "csv",
    ];
    let csv_text = timeline(&table, &window);
    let whats: Vec<String> = csv::Reader::from_reader(csv_text.as_bytes())
        .records()
        .map(|r| r.expect("row")[4].to_owned())
        .collect();
    assert_eq!(
        whats,
        [
            "SetDesiredCapacity",
            "SetDesiredCapacity",
            "EC2 Instance Terminate Successful",
            "EC2 Instance Terminate Successful"
        ]
    );
    let dir = out_dir("out");
    let file = dir.join("timeline.csv");
    let mut args = window.to_vec();
    let path = file.to_string_lossy().into_owned();
    args.extend(["--out", path.as_str()]);
    assert_eq!(timeline(&table, &args), "", "nothing on stdout with --out");
    assert_eq!(std::fs::read_to_string(&file).expect("the file"), csv_text);
    // A day given to --until covers the day; a range with nothing in it is an empty timeline.
    assert_eq!(
        timeline(&table, &["--until", "2024-05-01", "--output", "csv"])
            .lines()
            .count(),
        19
    );
    assert_eq!(
        timeline(&table, &["--until", "2024-04-30", "--output", "csv"])
            .lines()
            .count(),
        1
    );
}

/// A folder of its own under the target directory's test area.
fn out_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("timeline")
        .join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the output folder");
    dir
}

/// Reads the page in the browser after its scripts ran: the chart's paths, the markers, the
/// tooltip on hover, and whether anything from a field ran.
const PROBE: &str = r"<script>
(function () {
  function path(id) {
    var p = document.getElementById(id);
    if (!p) { return null; }
    var b = p.getBBox();
    return {length: p.getTotalLength(), width: b.width, height: b.height};
  }
  var markers = Array.prototype.slice.call(document.querySelectorAll('#g0-chart .marker'));
  var failed = markers.filter(function (m) { return m.classList.contains('failed'); });
  var fill = function (m) { return getComputedStyle(m.lastElementChild).fill; };
  var tip = document.getElementById('tip');
  var launch = document.querySelector('#g0-chart .marker.activity.failed');
  launch.dispatchEvent(new MouseEvent('mouseenter', {clientX: 200, clientY: 200}));
  var hover = {display: getComputedStyle(tip).display, text: tip.textContent,
               row: document.querySelector('tr.hl') ? document.querySelector('tr.hl').id : null};
  launch.dispatchEvent(new MouseEvent('mouseleave'));
  var out = {
    desired: path('g0-desired'), actual: path('g0-actual'),
    markers: markers.length,
    failedFills: failed.map(fill),
    okFills: markers.filter(function (m) { return !m.classList.contains('failed'); }).map(fill),
    tips: markers.map(function (m) { return m.getAttribute('data-tip'); }),
    rows: document.querySelectorAll('tbody tr').length,
    heading: document.querySelector('h1').textContent,
    section: document.querySelector('#g0 h2').textContent,
    title: document.title,
    range: document.querySelector('.range').textContent,
    legend: document.querySelectorAll('.legend .key').length,
    hover: hover,
    pwned: window.pwned === undefined ? null : window.pwned,
    scripts: document.scripts.length,
    images: document.images.length
  };
  var pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>";

/// The browser: `$CHROMIUM`, else Debian's `/usr/bin/chromium`. Missing is a failure, never a
/// skip.
fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        path.is_file(),
        "{} is missing: run infra/setup.sh (it installs Debian's chromium); these tests never skip",
        path.display()
    );
    path
}

/// The window the page is tested in.
const WINDOW: &str = "1400,1100";

/// Runs headless Chromium on `page` in a `window` (`WIDTH,HEIGHT`) with `args`, in a fresh
/// profile, and returns its stdout.
pub(crate) fn run_chromium(page: &Path, profile: &Path, window: &str, args: &[&str]) -> String {
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--window-size={window}"))
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait for chromium").is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s on {}", page.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.join().expect("stdout reader")
}

/// What `probe` (a script) found in the DOM of `html` after the page's scripts and the probe ran
/// in the browser (the page is written under `dir`).
fn probed(html: &str, probe: &str, dir: &Path) -> Value {
    let page = dir.join("probed.html");
    std::fs::write(&page, html.replace("</body>", &format!("{probe}\n</body>"))).expect("write");
    probe_result(&run_chromium(
        &page,
        &dir.join("profile-dom"),
        WINDOW,
        &["--dump-dom"],
    ))
}

/// The probe's JSON out of the serialized DOM (text content: `&`, `<`, `>` escaped).
fn probe_result(dom: &str) -> Value {
    let start = dom.find("<pre id=\"probe\">").expect("the probe ran") + "<pre id=\"probe\">".len();
    let end = start + dom[start..].find("</pre>").expect("end of the probe");
    let text = dom[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("probe output is not JSON ({e}): {text}"))
}

/// Pixels of the screenshot within `tolerance` of `rgb`, per channel.
fn pixels_like(png_path: &Path, rgb: [u8; 3], tolerance: u8) -> usize {
    let file = std::fs::File::open(png_path).expect("the screenshot");
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("a PNG of a sane size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let channels = info.color_type.samples();
    assert!(channels >= 3, "colour screenshot: {:?}", info.color_type);
    buf[..info.buffer_size()]
        .chunks(channels)
        .filter(|p| (0..3).all(|i| p[i].abs_diff(rgb[i]) <= tolerance))
        .count()
}

#[tokio::test]
async fn the_page_draws_the_story_in_a_real_browser() {
    chromium();
    let table = seeded(true).await;
    let dir = out_dir("html");
    let page = dir.join("timeline.html");
    let page_arg = page.to_string_lossy().into_owned();
    let since = "2024-05-01";
    assert_eq!(
        timeline(
            &table,
            &["--since", since, "--output", "html", "--out", &page_arg]
        ),
        ""
    );
    let html = std::fs::read_to_string(&page).expect("the page");
    assert!(html.contains("&lt;script&gt;window.pwned=1&lt;/script&gt;"));

    let r = probed(&html, PROBE, &dir);
    let entries = 19;
    assert_eq!(r["markers"], entries, "one marker per entry: {r}");
    assert_eq!(r["rows"], entries, "{r}");
    for id in ["desired", "actual"] {
        let p = &r[id];
        assert!(p["length"].as_f64().unwrap_or(0.0) > 1000.0, "{id}: {p}");
        assert!(p["width"].as_f64().unwrap_or(0.0) > 1000.0, "{id}: {p}");
        assert!(p["height"].as_f64().unwrap_or(0.0) > 50.0, "{id}: {p}");
    }
    let red = "rgb(209, 36, 47)";
    assert_eq!(r["failedFills"], json!([red, red, red]), "{r}");
    assert!(
        r["okFills"]
            .as_array()
            .is_some_and(|f| f.len() == 16 && f.iter().all(|c| c != red)),
        "{r}"
    );
    assert!(
        r["heading"].as_str().is_some_and(|h| h.contains(GROUP)),
        "{r}"
    );
    assert_eq!(
        r["section"], "account 123456789012, region us-east-1",
        "{r}"
    );
    assert_eq!(
        r["title"], "web-asg (123456789012, us-east-1): Auto Scaling timeline",
        "{r}"
    );
    assert!(
        r["range"]
            .as_str()
            .is_some_and(|h| h.starts_with("since 2024-05-01: 2024-05-01T09:58:00Z")),
        "{r}"
    );
    assert_eq!(r["legend"], 7, "{r}");
    // Hovering the failed launch shows its details and its row.
    assert_eq!(r["hover"]["display"], "block", "{r}");
    let hover_text = r["hover"]["text"].as_str().unwrap_or_default();
    assert!(
        hover_text.contains("EC2 Instance Launch Unsuccessful")
            && hover_text.contains("FAILED")
            && hover_text.contains("InsufficientInstanceCapacity")
            && hover_text.contains(ALARM),
        "{hover_text}"
    );
    assert_eq!(r["hover"]["row"], "g0-e1", "{r}");
    // The markup in the error message is text in the tooltip, and nothing of it ran.
    assert!(
        r["tips"].as_array().is_some_and(|t| t
            .iter()
            .any(|t| t.as_str().is_some_and(|t| t.contains(HOSTILE)))),
        "{r}"
    );
    assert_eq!(r["pwned"], Value::Null, "{r}");
    assert_eq!(r["scripts"], 2, "the page's and the probe's: {r}");
    assert_eq!(r["images"], 0, "{r}");

    // What people see: the lines and the red markers are on the screenshot.
    let shot = dir.join("timeline.png");
    run_chromium(
        &page,
        &dir.join("profile-shot"),
        WINDOW,
        &[&format!("--screenshot={}", shot.display())],
    );
    eprintln!(
        "[timeline] page {} screenshot {}",
        page.display(),
        shot.display()
    );
    let blue = pixels_like(&shot, [0x1f, 0x6f, 0xeb], 40);
    let green = pixels_like(&shot, [140, 191, 155], 30);
    let failed_red = pixels_like(&shot, [0xd1, 0x24, 0x2f], 30);
    assert!(blue > 1500, "desired line pixels: {blue}");
    assert!(green > 1500, "actual line pixels: {green}");
    assert!(failed_red > 3 * 60, "red marker pixels: {failed_red}");
}

/// Two groups named `web-asg`: 111111111111/us-east-1 (desired 10, max 20) and
/// 222222222222/eu-west-1 (desired 2, max 4), their events interleaved in time; at 10:05:00
/// alice scales us-east-1 out while eu-west-1 scales in for a user request of its own.
pub(crate) const TWO_GROUPS: &str = include_str!("../fixtures/two-groups.json");

pub(crate) fn two_groups() -> Vec<Value> {
    serde_json::from_str(TWO_GROUPS).expect("the fixture is JSON")
}

/// A fresh table with the two groups and `extra` items.
async fn seeded_groups(extra: &[Value]) -> String {
    let table = stack::fresh_table().await;
    let mut items = two_groups();
    items.extend_from_slice(extra);
    seed(&table, &items).await;
    table
}

/// `timeline --output json` with `extra`, parsed; and what it said on stderr.
fn timeline_json(table: &str, extra: &[&str]) -> (Value, String) {
    let mut args = vec![
        "timeline", "--table", table, "--group", GROUP, "--output", "json",
    ];
    args.extend(extra);
    let out = run_cli(&args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let doc = serde_json::from_slice(&out.stdout).expect("one JSON document");
    (doc, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A group's story in brief: (account, region, entries, desired values, max sizes).
type Story = (String, String, usize, Vec<i64>, Vec<i64>);

/// Per group of a JSON document, its [`Story`].
fn group_stories(doc: &Value) -> Vec<Story> {
    let values = |series: &Value| -> Vec<i64> {
        series
            .as_array()
            .expect("a series")
            .iter()
            .map(|p| p["value"].as_i64().expect("a value"))
            .collect()
    };
    doc["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| {
            (
                g["account"].as_str().expect("account").to_owned(),
                g["region"].as_str().expect("region").to_owned(),
                g["entries"].as_array().expect("entries").len(),
                values(&g["capacity"]["desired"]),
                values(&g["capacity"]["maxSize"]),
            )
        })
        .collect()
}

fn story_of(account: &str, region: &str, entries: usize, desired: &[i64], max: &[i64]) -> Story {
    (
        account.into(),
        region.into(),
        entries,
        desired.to_vec(),
        max.to_vec(),
    )
}

/// (time, who) of each activity of a JSON document's group `n`.
fn activity_causes(doc: &Value, n: usize) -> Vec<(String, String)> {
    doc["groups"][n]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["kind"] == "activity")
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (s("time")[11..19].to_owned(), s("who"))
        })
        .collect()
}

#[tokio::test]
async fn groups_of_one_name_are_never_merged_in_any_format() {
    let table = seeded_groups(&[]).await;
    let (doc, stderr) = timeline_json(&table, &[]);
    let us = story_of("111111111111", "us-east-1", 5, &[10, 12, 10], &[20]);
    let eu = story_of("222222222222", "eu-west-1", 4, &[2, 1, 3], &[4]);
    assert_eq!(group_stories(&doc), [us, eu], "{doc}");
    assert!(
        stderr.contains("group web-asg names 2 groups") && stderr.contains("--region"),
        "{stderr}"
    );
    // Every entry's capacity is its own group's: eu-west-1 never above its max of 4.
    for (n, max) in [(0, 20), (1, 4)] {
        for e in doc["groups"][n]["entries"].as_array().expect("entries") {
            assert!(e["desired"].as_i64().unwrap_or(0) <= max, "group {n}: {e}");
        }
    }
    // A cause is read against the group's own calls only.
    let alice = "user request by alice@example.com";
    let c = |t: &str, who: &str| (t.to_owned(), who.to_owned());
    assert_eq!(
        activity_causes(&doc, 0),
        [c("10:06:10", alice), c("10:06:20", alice)]
    );
    assert_eq!(
        activity_causes(&doc, 1),
        [
            c("10:05:40", "user request"),
            c("10:11:00", "user request by bob")
        ]
    );

    let csv_text = timeline(&table, &["--output", "csv"]);
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header = reader.headers().expect("a header").clone();
    assert_eq!(
        (&header[0], &header[1], &header[2]),
        ("account", "region", "time")
    );
    let rows: Vec<(String, String, String)> = reader
        .records()
        .map(|r| {
            let r = r.expect("a row");
            (r[0].to_owned(), r[1].to_owned(), r[8].to_owned())
        })
        .collect();
    let place = |r: &(String, String, String)| format!("{}/{}", r.0, r.1);
    let places: Vec<String> = rows.iter().map(place).collect();
    let (us, eu) = ("111111111111/us-east-1", "222222222222/eu-west-1");
    assert_eq!(places, [us, us, us, us, us, eu, eu, eu, eu], "{csv_text}");
    let eu_desired: Vec<&str> = rows[5..].iter().map(|r| r.2.as_str()).collect();
    assert_eq!(eu_desired, ["2", "1", "3", "3"], "{csv_text}");

    let text = timeline(&table, &[]);
    let headings: Vec<&str> = text.lines().filter(|l| l.starts_with("web-asg ")).collect();
    assert_eq!(
        headings,
        [
            "web-asg (account 111111111111, region us-east-1): 5 entries",
            "web-asg (account 222222222222, region eu-west-1): 4 entries"
        ],
        "{text}"
    );
    let eu_section = &text[text.find(headings[1]).expect("the second section")..];
    assert!(!eu_section.contains("alice"), "{text}");
}

#[tokio::test]
async fn account_and_region_tell_one_group_s_story() {
    // An item that names no region: a group of its own (region `-`).
    let mut bare = two_groups()[0].clone();
    bare.as_object_mut().expect("object").remove("awsRegion");
    bare["eventTime"] = json!("2024-06-01T10:30:00Z");
    bare["eventID"] = json!("no-region");
    bare["eventKey"] = json!("2024-06-01T10:30:00Z#no-region");
    bare["requestParameters"] = json!({"autoScalingGroupName": GROUP, "desiredCapacity": 7});
    let table = seeded_groups(&[bare]).await;
    let eu_only = ["--account", "222222222222", "--region", "eu-west-1"];
    let (doc, stderr) = timeline_json(&table, &eu_only);
    assert_eq!(
        group_stories(&doc),
        [story_of("222222222222", "eu-west-1", 4, &[2, 1, 3], &[4])]
    );
    assert!(!stderr.contains("names"), "{stderr}");
    let (doc, _) = timeline_json(&table, &["--region", "us-east-1"]);
    assert_eq!(
        group_stories(&doc),
        [story_of(
            "111111111111",
            "us-east-1",
            5,
            &[10, 12, 10],
            &[20]
        )]
    );
    let (doc, _) = timeline_json(&table, &["--account", "111111111111"]);
    let places: Vec<(String, String)> = group_stories(&doc)
        .into_iter()
        .map(|g| (g.0, g.1))
        .collect();
    let p = |a: &str, r: &str| (a.to_owned(), r.to_owned());
    assert_eq!(
        places,
        [p("111111111111", "-"), p("111111111111", "us-east-1")]
    );
    let (doc, _) = timeline_json(&table, &["--account", "111111111111", "--region", "-"]);
    assert_eq!(
        group_stories(&doc),
        [story_of("111111111111", "-", 1, &[7], &[])]
    );
    let (doc, stderr) = timeline_json(&table, &["--account", "999999999999"]);
    assert_eq!(doc["groups"], json!([]));
    assert!(
        stderr.contains("no events for group web-asg in account 999999999999"),
        "{stderr}"
    );
    // The page of one group names its account and region in its title.
    let page = timeline(&table, &[&eu_only[..], &["--output", "html"]].concat());
    assert!(
        page.contains("<title>web-asg (222222222222, eu-west-1): Auto Scaling timeline</title>"),
        "{page}"
    );
    assert_eq!(page.matches("<section ").count(), 1);
}

/// Hovers a marker of the second group's chart and reads what lit up.
const PROBE_GROUPS: &str = r"<script>
(function () {
  var marker = document.querySelector('#g1-chart .marker');
  marker.dispatchEvent(new MouseEvent('mouseenter', {clientX: 200, clientY: 200}));
  var shown = function (id) {
    return document.querySelector('#' + id + '-chart .guide').style.display !== 'none';
  };
  var out = {
    sections: Array.prototype.map.call(document.querySelectorAll('section h2'),
                                       function (h) { return h.textContent; }),
    markers: [document.querySelectorAll('#g0-chart .marker').length,
              document.querySelectorAll('#g1-chart .marker').length],
    rows: [document.querySelectorAll('#g0 tbody tr').length,
           document.querySelectorAll('#g1 tbody tr').length],
    highlighted: Array.prototype.map.call(document.querySelectorAll('tr.hl'),
                                          function (r) { return r.id; }),
    guides: [shown('g0'), shown('g1')],
    tip: document.getElementById('tip').textContent,
    title: document.title
  };
  var pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>";

#[tokio::test]
async fn the_page_of_two_groups_has_a_working_chart_each() {
    chromium();
    let table = seeded_groups(&[]).await;
    let html = timeline(&table, &["--output", "html"]);
    let r = probed(&html, PROBE_GROUPS, &out_dir("groups"));
    assert_eq!(
        r["sections"],
        json!([
            "account 111111111111, region us-east-1",
            "account 222222222222, region eu-west-1"
        ]),
        "{r}"
    );
    assert_eq!(r["markers"], json!([5, 4]), "{r}");
    assert_eq!(r["rows"], json!([5, 4]), "{r}");
    assert_eq!(
        r["highlighted"],
        json!(["g1-e0"]),
        "the hovered group's row: {r}"
    );
    assert_eq!(
        r["guides"],
        json!([false, true]),
        "the hovered chart's guide: {r}"
    );
    assert!(
        r["tip"]
            .as_str()
            .is_some_and(|t| t.contains("UpdateAutoScalingGroup")),
        "{r}"
    );
    assert_eq!(r["title"], "web-asg: Auto Scaling timeline", "{r}");
}
