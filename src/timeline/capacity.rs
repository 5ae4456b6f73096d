//! Following a group's capacity through its timeline, one entry at a time: the desired capacity
//! (and the min and max sizes) that API calls set and that causes state, and the actual capacity
//! (in-service instances) that successful launches and terminations move, anchored wherever a
//! cause states it ("increasing the capacity from 4 to 6": there were 4).
//!
//! Each series is a list of [`Point`]s, "from this time on, the value is v", sorted by time. A
//! series whose first value comes from a stated "from" starts at the beginning of the timeline:
//! that is what the group had before the first change we know of.
//!
//! Pure: no I/O.

use std::collections::HashSet;

use serde::Serialize;

use super::cause::{Cause, Change};
use crate::item::epoch_seconds;

/// From `time` on, the value is `value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Point {
    /// When (`eventTime` form).
    pub time: String,
    /// The value.
    pub value: i64,
}

/// The four series of a timeline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Capacity {
    /// The desired capacity.
    pub desired: Vec<Point>,
    /// The in-service instances.
    pub actual: Vec<Point>,
    /// The group's minimum size.
    pub min_size: Vec<Point>,
    /// The group's maximum size.
    pub max_size: Vec<Point>,
}

/// What one entry does to the capacity.
#[derive(Debug, Default)]
pub(crate) struct Effect<'a> {
    /// The entry's time.
    pub time: &'a str,
    /// Sizes set by a successful API call: (desired, min, max).
    pub set: (Option<i64>, Option<i64>, Option<i64>),
    /// The activity's cause.
    pub cause: Option<&'a Cause>,
    /// +1 for a successful launch, -1 for a successful termination or detach.
    pub step: i64,
}

/// One series being built: the current value, its points, and the "from" it started with.
#[derive(Debug, Default)]
struct Series {
    now: Option<i64>,
    points: Vec<Point>,
    /// A value known to hold before the first point.
    before: Option<i64>,
}

impl Series {
    fn set(&mut self, time: &str, value: i64) {
        if self.now == Some(value) {
            return;
        }
        self.now = Some(value);
        self.points.push(Point {
            time: time.to_owned(),
            value,
        });
    }

    /// A stated change: the value was `from` before `at`.
    fn change(&mut self, change: &Change) {
        if self.points.is_empty() && self.before.is_none() {
            self.before = Some(change.from);
        }
        self.set(&change.at, change.to);
    }

    fn finish(mut self, start: &str) -> Vec<Point> {
        // Stable: points of the same time keep their order.
        self.points.sort_by(|a, b| a.time.cmp(&b.time));
        if let Some(before) = self.before {
            self.points.insert(
                0,
                Point {
                    time: start.to_owned(),
                    value: before,
                },
            );
        }
        self.points
    }
}

/// Follows the capacity through the entries given in order.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    desired: Series,
    actual: Series,
    min: Series,
    max: Series,
    /// The stated changes already applied, by (time, from, to): one cause is repeated on every
    /// activity of a batch.
    seen: HashSet<(String, i64, i64)>,
    /// The desired capacities API calls set, with their times: the cause of the activities that
    /// follow repeats the change ("a user request explicitly set group desired capacity").
    calls: Vec<(String, i64)>,
}

impl Tracker {
    /// Applies one entry; returns the (desired, actual) capacity after it, when known.
    pub fn apply(&mut self, e: &Effect<'_>) -> (Option<i64>, Option<i64>) {
        let (desired, min, max) = e.set;
        if let Some(min) = min {
            self.min.set(e.time, min);
        }
        if let Some(max) = max {
            self.max.set(e.time, max);
        }
        if let Some(d) = desired {
            self.calls.push((e.time.to_owned(), d));
            self.desired.set(e.time, d);
        } else if let Some(now) = self.desired.now {
            // AWS moves the desired capacity into new limits.
            let bounded = now.max(min.unwrap_or(now)).min(max.unwrap_or(now));
            self.desired.set(e.time, bounded);
        }
        if let Some(cause) = e.cause {
            self.apply_cause(cause);
        }
        if e.step != 0
            && let Some(now) = self.actual.now
        {
            self.actual.set(e.time, (now + e.step).max(0));
        }
        (self.desired.now, self.actual.now)
    }

    fn apply_cause(&mut self, cause: &Cause) {
        if let Some(limits) = &cause.limits {
            if let Some(min) = limits.min {
                self.min.set(&limits.at, min);
            }
            if let Some(max) = limits.max {
                self.max.set(&limits.at, max);
            }
        }
        if let Some(change) = &cause.desired {
            let made_by_a_call = self
                .calls
                .iter()
                .any(|(at, to)| *to == change.to && same_moment(at, &change.at));
            if !made_by_a_call && self.first_time(change) {
                self.desired.change(change);
            }
        }
        if let Some(change) = &cause.capacity
            && self.first_time(change)
        {
            // The anchor: the group had `from` in service when this batch began.
            if self.actual.points.is_empty() && self.actual.before.is_none() {
                self.actual.before = Some(change.from);
                self.actual.now = Some(change.from);
            } else {
                self.actual.set(&change.at, change.from);
            }
        }
    }

    fn first_time(&mut self, change: &Change) -> bool {
        self.seen
            .insert((change.at.clone(), change.from, change.to))
    }

    /// The series, each starting at `start` with a value stated before its first change.
    #[must_use]
    pub fn finish(self, start: &str) -> Capacity {
        Capacity {
            desired: self.desired.finish(start),
            actual: self.actual.finish(start),
            min_size: self.min.finish(start),
            max_size: self.max.finish(start),
        }
    }
}

/// How far apart a call's `eventTime` and the time a cause gives its change may be.
const SAME_MOMENT_SECONDS: u64 = 2;

/// Whether two times are the same moment, give or take [`SAME_MOMENT_SECONDS`].
pub(crate) fn same_moment(a: &str, b: &str) -> bool {
    a == b
        || matches!(
            (epoch_seconds(a), epoch_seconds(b)),
            (Some(x), Some(y)) if x.abs_diff(y) <= SAME_MOMENT_SECONDS
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::cause::parse;

    fn at(time: &str) -> Effect<'_> {
        Effect {
            time,
            ..Effect::default()
        }
    }

    fn points(series: &[Point]) -> Vec<(&str, i64)> {
        series.iter().map(|p| (&p.time[17..19], p.value)).collect()
    }

    #[test]
    fn a_batch_anchors_once_and_each_launch_adds_one() {
        let cause = parse(
            "At 2024-05-01T10:00:01Z a monitor alarm A in state ALARM triggered policy P changing the desired \
             capacity from 4 to 6.  At 2024-05-01T10:00:02Z an instance was started in response to a difference \
             between desired and actual capacity, increasing the capacity from 4 to 6.",
        )
        .expect("cause");
        let mut t = Tracker::default();
        // A failed launch: the anchor, no step.
        let failed = Effect {
            cause: Some(&cause),
            ..at("2024-05-01T10:00:03Z")
        };
        assert_eq!(t.apply(&failed), (Some(6), Some(4)));
        let launched = Effect {
            cause: Some(&cause),
            step: 1,
            ..at("2024-05-01T10:00:04Z")
        };
        assert_eq!(t.apply(&launched), (Some(6), Some(5)));
        let c = t.finish("2024-05-01T10:00:00Z");
        assert_eq!(points(&c.desired), [("00", 4), ("01", 6)]);
        assert_eq!(points(&c.actual), [("00", 4), ("04", 5)]);
    }

    #[test]
    fn a_call_and_the_cause_that_repeats_it_are_one_change() {
        let mut t = Tracker::default();
        let call = Effect {
            set: (Some(3), None, None),
            ..at("2024-05-01T10:00:01Z")
        };
        assert_eq!(t.apply(&call), (Some(3), None));
        let cause = parse(
            "At 2024-05-01T10:00:01Z a user request explicitly set group desired capacity changing the desired \
             capacity from 6 to 3.  At 2024-05-01T10:00:02Z an instance was taken out of service in response to a \
             difference between desired and actual capacity, shrinking the capacity from 6 to 3.",
        )
        .expect("cause");
        let gone = Effect {
            cause: Some(&cause),
            step: -1,
            ..at("2024-05-01T10:00:03Z")
        };
        assert_eq!(t.apply(&gone), (Some(3), Some(5)));
        assert_eq!(
            t.apply(&Effect {
                step: -1,
                ..at("2024-05-01T10:00:04Z")
            }),
            (Some(3), Some(4))
        );
        let c = t.finish("2024-05-01T10:00:00Z");
        assert_eq!(points(&c.desired), [("01", 3)]);
        assert_eq!(points(&c.actual), [("00", 6), ("03", 5), ("04", 4)]);
    }

    #[test]
    fn new_limits_move_the_desired_capacity_and_are_series_too() {
        let mut t = Tracker::default();
        t.apply(&Effect {
            set: (Some(5), Some(1), Some(10)),
            ..at("2024-05-01T10:00:01Z")
        });
        let (desired, _) = t.apply(&Effect {
            set: (None, Some(2), Some(4)),
            ..at("2024-05-01T10:00:02Z")
        });
        assert_eq!(desired, Some(4));
        let c = t.finish("2024-05-01T10:00:00Z");
        assert_eq!(points(&c.desired), [("01", 5), ("02", 4)]);
        assert_eq!(points(&c.min_size), [("01", 1), ("02", 2)]);
        assert_eq!(points(&c.max_size), [("01", 10), ("02", 4)]);
    }

    #[test]
    fn the_actual_capacity_is_unknown_until_a_cause_states_it() {
        let mut t = Tracker::default();
        assert_eq!(
            t.apply(&Effect {
                step: -1,
                ..at("2024-05-01T10:00:01Z")
            }),
            (None, None)
        );
        assert_eq!(t.finish("2024-05-01T10:00:00Z"), Capacity::default());
    }
}
