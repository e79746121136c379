//! AppProject `syncWindows`: when automated syncs may run. A window opens at each time
//! its cron `schedule` names (five fields, as robfig/cron's parser with minute, hour,
//! day of month, month and day of week reads them) and stays open for `duration`;
//! it applies to the Applications its `applications`, `clusters` and `namespaces`
//! globs match. An active `deny` window blocks (unless `manualSync` and the sync is
//! manual); otherwise an active `allow` window permits, and allow windows that all
//! are inactive block — Argo CD's `SyncWindows.CanSync`, including `syncOverrun`.
//! Times are Unix seconds; a window's `timeZone` shifts its schedule by that zone's
//! offset now, as Argo CD does.

use serde::{Deserialize, Serialize};

use super::application::{ApplicationDestination, Extra};
use crate::glob::gobwas_match;

/// One `syncWindows[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncWindow {
    /// `allow` or `deny`.
    #[serde(default)]
    pub kind: String,
    /// When the window opens, in cron form.
    #[serde(default)]
    pub schedule: String,
    /// How long it stays open (a Go duration).
    #[serde(default)]
    pub duration: String,
    /// Application name globs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applications: Vec<String>,
    /// Destination namespace globs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Destination cluster name or server globs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<String>,
    /// Manual syncs may run while the window blocks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub manual_sync: bool,
    /// The zone of `schedule` (IANA name; UTC when empty or unknown).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub time_zone: String,
    /// Applications, clusters and namespaces must all match (instead of any).
    #[serde(
        default,
        rename = "andOperator",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub and_operator: bool,
    /// Free text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// A sync that began while allowed may go on when the window changes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sync_overrun: bool,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Extra,
}

impl SyncWindow {
    /// Whether the window applies to the Application `name` deploying to
    /// `destination`: Argo CD's `Matches`, its OR/AND walk over applications, then
    /// clusters (name or server), then namespaces.
    pub fn matches(&self, name: &str, destination: &ApplicationDestination) -> bool {
        let glob = |pattern: &str, text: &str| gobwas_match(pattern, text, false);
        let mut matched = false;
        let mut is_set = false;
        if !self.applications.is_empty() {
            is_set = true;
            matched = self.applications.iter().any(|a| glob(a, name));
        }
        if self.and_operator && !matched && is_set {
            return false;
        } else if !self.and_operator && matched {
            return true;
        }
        if !self.clusters.is_empty() {
            is_set = true;
            matched = self.clusters.iter().any(|c| {
                (!destination.name.is_empty() && glob(c, &destination.name))
                    || (!destination.server.is_empty() && glob(c, &destination.server))
            });
        }
        if is_set && self.and_operator && !matched {
            return false;
        } else if !self.and_operator && matched {
            return true;
        }
        if !self.namespaces.is_empty() {
            matched = self
                .namespaces
                .iter()
                .any(|n| glob(n, &destination.namespace));
        }
        matched
    }

    /// Whether the window is open at `at`, its schedule shifted by its zone's offset at
    /// `now`.
    fn active_at(&self, at: i64, now: i64) -> Result<bool, String> {
        let schedule = Schedule::parse(&self.schedule)
            .map_err(|e| format!("cannot parse schedule '{}': {e}", self.schedule))?;
        let duration = crate::flux::parse_duration(self.duration.trim(), true)
            .ok_or_else(|| {
                format!(
                    "cannot parse duration '{}': time: invalid duration \"{}\"",
                    self.duration, self.duration
                )
            })?
            .as_secs() as i64;
        let shifted = at + zone_offset(&self.time_zone, now);
        Ok(schedule
            .next_after(shifted - duration)
            .is_some_and(|next| next < shifted))
    }
}

/// The offset from UTC, in seconds, of the zone named `name` at `now` (Go's
/// `time.LoadLocation`: empty is UTC, `Local` the host's zone; an unknown name is UTC,
/// as Argo CD falls back).
fn zone_offset(name: &str, now: i64) -> i64 {
    let zone = match name {
        "" | "UTC" => return 0,
        "Local" => jiff::tz::TimeZone::system(),
        name => match jiff::tz::TimeZone::get(name) {
            Ok(zone) => zone,
            Err(_) => return 0,
        },
    };
    jiff::Timestamp::from_second(now)
        .map(|t| i64::from(zone.to_offset(t).seconds()))
        .unwrap_or(0)
}

/// Whether the windows that match an Application let it sync at `now` — Argo CD's
/// `CanSync`: `manual` says whether the sync was asked for by hand, `started` when the
/// operation it continues began (for `syncOverrun`). Invalid windows are an error,
/// which blocks.
pub fn can_sync(
    windows: &[&SyncWindow],
    manual: bool,
    started: Option<i64>,
    now: i64,
) -> Result<bool, String> {
    if windows.is_empty() {
        return Ok(true);
    }
    let invalid = |e: String| format!("invalid sync windows: {e}");
    let state = State::at(windows, now, now).map_err(invalid)?;
    if state.permits(manual) {
        return Ok(true);
    }
    // Blocked by the open deny windows, else by the closed allow windows: a sync that
    // began while allowed may go on if every one of them lets it overrun.
    let blocking = if state.active_denies.is_empty() {
        &state.inactive_allows
    } else {
        &state.active_denies
    };
    match started {
        Some(started) if blocking.iter().all(|w| w.sync_overrun) => {
            Ok(State::at(windows, started, now)
                .map_err(invalid)?
                .permits(manual))
        }
        _ => Ok(false),
    }
}

/// The windows' state at one time.
struct State<'a> {
    active_denies: Vec<&'a SyncWindow>,
    any_active_allow: bool,
    inactive_allows: Vec<&'a SyncWindow>,
}

impl<'a> State<'a> {
    fn at(windows: &[&'a SyncWindow], at: i64, now: i64) -> Result<State<'a>, String> {
        let mut state = State {
            active_denies: Vec::new(),
            any_active_allow: false,
            inactive_allows: Vec::new(),
        };
        for window in windows {
            let active = window.active_at(at, now)?;
            match (window.kind.as_str(), active) {
                ("deny", true) => state.active_denies.push(window),
                ("allow", true) => state.any_active_allow = true,
                ("allow", false) => state.inactive_allows.push(window),
                _ => {}
            }
        }
        Ok(state)
    }

    /// Argo CD's `canSyncAtTime`.
    fn permits(&self, manual: bool) -> bool {
        if !self.active_denies.is_empty() {
            return manual && self.active_denies.iter().all(|w| w.manual_sync);
        }
        if self.any_active_allow {
            return true;
        }
        self.inactive_allows.is_empty()
            || (manual && self.inactive_allows.iter().all(|w| w.manual_sync))
    }
}

/// A five-field cron schedule as robfig/cron v3 reads it (`*`, `?`, lists, ranges,
/// steps, month and weekday names; no descriptors, no seconds field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    minute: u64,
    hour: u64,
    day_of_month: u64,
    month: u64,
    day_of_week: u64,
}

/// Set on a field written `*` or `?` (robfig's `starBit`): then day of month and day of
/// week must both match, otherwise either may.
const STAR: u64 = 1 << 63;

struct Bounds {
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTES: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DAYS_OF_MONTH: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
const DAYS_OF_WEEK: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

impl Schedule {
    /// Parses `spec`, with robfig's messages for what it refuses.
    pub fn parse(spec: &str) -> Result<Schedule, String> {
        if spec.is_empty() {
            return Err("empty spec string".into());
        }
        if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
            return Err("a time zone in the schedule is not supported; use timeZone".into());
        }
        if spec.starts_with('@') {
            return Err(format!("parser does not accept descriptors: {spec}"));
        }
        let fields: Vec<&str> = spec.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "expected exactly 5 fields, found {}: [{}]",
                fields.len(),
                fields.join(" ")
            ));
        }
        Ok(Schedule {
            minute: field(fields[0], &MINUTES)?,
            hour: field(fields[1], &HOURS)?,
            day_of_month: field(fields[2], &DAYS_OF_MONTH)?,
            month: field(fields[3], &MONTHS)?,
            day_of_week: field(fields[4], &DAYS_OF_WEEK)?,
        })
    }

    /// The first time after `after` (Unix seconds, read as UTC) the schedule names, at
    /// whole minutes; none within five years (robfig's limit).
    pub fn next_after(&self, after: i64) -> Option<i64> {
        // The upcoming whole second, then the next whole minute at or after it.
        let mut t = after + 1;
        t += (60 - t.rem_euclid(60)) % 60;
        let limit_year = civil(t).0 + 5;
        let bit = |set: u64, n: u32| set & (1 << n) != 0;
        loop {
            let (year, month, day, hour, minute) = civil(t);
            if year > limit_year {
                return None;
            }
            if !bit(self.month, month) {
                t = unix(year, month, 1, 0, 0) + i64::from(days_in(year, month)) * 86_400;
                continue;
            }
            if !self.day_matches(year, month, day) {
                t = unix(year, month, day, 0, 0) + 86_400;
                continue;
            }
            if !bit(self.hour, hour) {
                t = unix(year, month, day, hour, 0) + 3_600;
                continue;
            }
            if !bit(self.minute, minute) {
                t += 60;
                continue;
            }
            return Some(t);
        }
    }

    fn day_matches(&self, year: i64, month: u32, day: u32) -> bool {
        let dom = self.day_of_month & (1 << day) != 0;
        let dow = self.day_of_week & (1 << weekday(year, month, day)) != 0;
        if self.day_of_month & STAR != 0 || self.day_of_week & STAR != 0 {
            dom && dow
        } else {
            dom || dow
        }
    }
}

/// One comma-separated field as a bit set.
fn field(text: &str, bounds: &Bounds) -> Result<u64, String> {
    text.split(',')
        .try_fold(0u64, |bits, range| Ok(bits | range_bits(range, bounds)?))
}

/// robfig's `getRange`: `*`/`?`, `n`, `a-b`, each optionally `/step` (`n/step` runs to
/// the field's maximum).
fn range_bits(expr: &str, bounds: &Bounds) -> Result<u64, String> {
    let mut range_and_step = expr.split('/');
    let range = range_and_step.next().unwrap_or_default();
    let step = range_and_step.next();
    if range_and_step.next().is_some() {
        return Err(format!("too many slashes: {expr}"));
    }
    let low_and_high: Vec<&str> = range.split('-').collect();
    let single = low_and_high.len() == 1;
    let (mut start, mut end, mut extra) = if low_and_high[0] == "*" || low_and_high[0] == "?" {
        (bounds.min, bounds.max, STAR)
    } else {
        let start = int_or_name(low_and_high[0], bounds)?;
        let end = match low_and_high.len() {
            1 => start,
            2 => int_or_name(low_and_high[1], bounds)?,
            _ => return Err(format!("too many hyphens: {expr}")),
        };
        (start, end, 0)
    };
    let step = match step {
        None => 1,
        Some(step) => {
            let step = positive_int(step)?;
            if single {
                end = bounds.max;
            }
            if step > 1 {
                extra = 0;
            }
            step
        }
    };
    if start < bounds.min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            bounds.min
        ));
    }
    if end > bounds.max {
        return Err(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            bounds.max
        ));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expr}"));
    }
    let mut bits = extra;
    while start <= end {
        bits |= 1 << start;
        start += step;
    }
    Ok(bits)
}

fn int_or_name(expr: &str, bounds: &Bounds) -> Result<u32, String> {
    let lower = expr.to_ascii_lowercase();
    if let Some(i) = bounds.names.iter().position(|n| *n == lower) {
        return Ok(i as u32 + bounds.min);
    }
    positive_int(expr)
}

/// robfig's `mustParseInt` (with Go's `strconv.Atoi` wording).
fn positive_int(expr: &str) -> Result<u32, String> {
    let number: i64 = expr.parse().map_err(|_| {
        format!("failed to parse int from {expr}: strconv.Atoi: parsing \"{expr}\": invalid syntax")
    })?;
    if number < 0 {
        return Err(format!("negative number ({number}) not allowed: {expr}"));
    }
    u32::try_from(number.min(i64::from(u32::MAX)))
        .map_err(|_| format!("failed to parse int from {expr}"))
}

/// `(year, month, day, hour, minute)` of Unix seconds in UTC.
fn civil(t: i64) -> (i64, u32, u32, u32, u32) {
    let days = t.div_euclid(86_400);
    let seconds = t.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        (seconds / 3_600) as u32,
        (seconds % 3_600 / 60) as u32,
    )
}

/// Unix seconds of a UTC civil time.
fn unix(year: i64, month: u32, day: u32, hour: u32, minute: u32) -> i64 {
    let y = year - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + i64::from(hour) * 3_600 + i64::from(minute) * 60
}

fn days_in(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// 0 for Sunday.
fn weekday(year: i64, month: u32, day: u32) -> u32 {
    // 1970-01-01 was a Thursday.
    ((unix(year, month, day, 0, 0).div_euclid(86_400) + 4).rem_euclid(7)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        text.parse::<jiff::Timestamp>().unwrap().as_second()
    }

    fn window(kind: &str, schedule: &str, duration: &str) -> SyncWindow {
        SyncWindow {
            kind: kind.into(),
            schedule: schedule.into(),
            duration: duration.into(),
            applications: vec!["*".into()],
            ..SyncWindow::default()
        }
    }

    /// Next times as robfig/cron v3.0.1 computes them (its `TestNext` cases that fit
    /// five fields, and more), printed by a Go program calling `Parser.Parse` and
    /// `Schedule.Next` with Argo CD's parser options.
    #[test]
    fn next_times_are_robfig_crons() {
        for (after, spec, expected) in [
            (
                "2012-07-09T14:45:00Z",
                "0-59/15 * * * *",
                Some("2012-07-09T15:00:00Z"),
            ),
            (
                "2012-07-09T14:59:59Z",
                "0-59/15 * * * *",
                Some("2012-07-09T15:00:00Z"),
            ),
            (
                "2012-07-09T15:00:00Z",
                "0-59/15 * * * *",
                Some("2012-07-09T15:15:00Z"),
            ),
            (
                "2012-07-09T15:45:00Z",
                "20-35/15 * * * *",
                Some("2012-07-09T16:20:00Z"),
            ),
            (
                "2012-07-09T23:46:00Z",
                "*/15 * * * *",
                Some("2012-07-10T00:00:00Z"),
            ),
            (
                "2012-07-09T23:45:00Z",
                "20-35/15 * * * *",
                Some("2012-07-10T00:20:00Z"),
            ),
            (
                "2012-07-09T23:35:51Z",
                "20-35/15 * 1/1 * *",
                Some("2012-07-10T00:20:00Z"),
            ),
            (
                "2012-07-09T23:35:51Z",
                "20-35/15 10-12 * * *",
                Some("2012-07-10T10:20:00Z"),
            ),
            (
                "2012-07-09T23:35:51Z",
                "20-35/15 1/2 */2 * *",
                Some("2012-07-11T01:20:00Z"),
            ),
            (
                "2012-07-09T23:35:51Z",
                "20-35/15 * 9-20 jul *",
                Some("2012-07-10T00:20:00Z"),
            ),
            (
                "2012-07-09T23:35:51Z",
                "20-35/15 * 9-20 aug *",
                Some("2012-08-09T00:20:00Z"),
            ),
            (
                "2012-07-09T23:35:51Z",
                "15/35 20-23 9-20 aug *",
                Some("2012-08-09T20:15:00Z"),
            ),
            (
                "2012-07-09T23:35:00Z",
                "0 0 * jul mon",
                Some("2012-07-16T00:00:00Z"),
            ),
            (
                "2012-07-09T23:35:00Z",
                "0 0 12 * mon",
                Some("2012-07-12T00:00:00Z"),
            ),
            (
                "2012-07-09T23:35:00Z",
                "0 0 12 * *",
                Some("2012-07-12T00:00:00Z"),
            ),
            (
                "2012-07-09T23:35:00Z",
                "0 0 29 feb *",
                Some("2016-02-29T00:00:00Z"),
            ),
            (
                "2012-07-09T23:35:00Z",
                "0 0 31 * *",
                Some("2012-07-31T00:00:00Z"),
            ),
            ("2012-07-09T23:35:00Z", "0 0 30 feb *", None),
            (
                "2026-11-28T10:30:00Z",
                "0 9 * * 1-5",
                Some("2026-11-30T09:00:00Z"),
            ),
            (
                "2026-11-28T10:30:00Z",
                "*/7 */5 * * sun",
                Some("2026-11-29T00:00:00Z"),
            ),
            (
                "2026-12-31T23:59:30Z",
                "* * * * *",
                Some("2027-01-01T00:00:00Z"),
            ),
            (
                "2026-11-28T10:30:00Z",
                "0 0 1 */3 ?",
                Some("2027-01-01T00:00:00Z"),
            ),
            (
                "2024-02-28T23:00:00Z",
                "0 12 29 2 *",
                Some("2024-02-29T12:00:00Z"),
            ),
            (
                "2026-11-28T10:30:00Z",
                "0 0 13 * fri",
                Some("2026-12-04T00:00:00Z"),
            ),
            (
                "2026-11-28T10:30:00Z",
                "59 23 31 dec *",
                Some("2026-12-31T23:59:00Z"),
            ),
            (
                "2026-11-28T10:30:00Z",
                "0 9 * JAN-Mar Mon-FRI",
                Some("2027-01-01T09:00:00Z"),
            ),
        ] {
            let next = Schedule::parse(spec).unwrap().next_after(at(after));
            assert_eq!(next, expected.map(at), "{spec} after {after}");
        }
    }

    /// robfig's refusals, with its messages (the same Go program).
    #[test]
    fn bad_schedules_are_refused_with_robfigs_reasons() {
        for (spec, message) in [
            ("", "empty spec string"),
            ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
            ("@daily", "parser does not accept descriptors: @daily"),
            ("60 * * * *", "end of range (60) above maximum (59): 60"),
            (
                "* 5-2 * * *",
                "beginning of range (5) beyond end of range (2): 5-2",
            ),
            ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
            ("* * * * 7", "end of range (7) above maximum (6): 7"),
            (
                "*/0 * * * *",
                "step of range should be a positive number: */0",
            ),
            ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
            ("*/1/2 * * * *", "too many slashes: */1/2"),
            (
                "x * * * *",
                r#"failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax"#,
            ),
            (
                "-1 * * * *",
                r#"failed to parse int from : strconv.Atoi: parsing "": invalid syntax"#,
            ),
        ] {
            assert_eq!(Schedule::parse(spec), Err(message.to_string()), "{spec:?}");
        }
    }

    /// Argo CD's matching (types_test.go `TestSyncWindows_Matches` shapes): any of the
    /// lists by default, all of the set ones with `andOperator`.
    #[test]
    fn windows_match_by_application_cluster_or_namespace() {
        let destination = ApplicationDestination {
            server: "https://east.example.com".into(),
            name: String::new(),
            namespace: "payments".into(),
            ..ApplicationDestination::default()
        };
        let with = |apps: &[&str], clusters: &[&str], namespaces: &[&str], and: bool| SyncWindow {
            applications: apps.iter().map(|s| s.to_string()).collect(),
            clusters: clusters.iter().map(|s| s.to_string()).collect(),
            namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
            and_operator: and,
            ..SyncWindow::default()
        };
        let cases = [
            (with(&["web-*"], &[], &[], false), true),
            (with(&["api"], &[], &[], false), false),
            (with(&["api"], &["https://east.*"], &[], false), true),
            (with(&[], &[], &["pay*"], false), true),
            (with(&["api"], &[], &["other"], false), false),
            (with(&["web-*"], &["https://west.*"], &[], true), false),
            (with(&["web-*"], &["https://east.*"], &[], true), true),
            (
                with(&["web-*"], &["https://east.*"], &["other"], true),
                false,
            ),
            (with(&["web-*"], &[], &["payments"], true), true),
            (with(&[], &[], &[], false), false),
        ];
        for (i, (window, expected)) in cases.iter().enumerate() {
            assert_eq!(
                window.matches("web-east", &destination),
                *expected,
                "case {i}"
            );
        }
    }

    /// Argo CD's `CanSync` table: deny beats allow, manualSync lets manual syncs
    /// through, inactive allows block, syncOverrun lets a sync that began while
    /// allowed go on.
    #[test]
    fn deny_beats_allow_and_inactive_allows_block() {
        let now = at("2026-11-28T10:30:00Z");
        let open_deny = window("deny", "0 10 * * *", "1h");
        let closed_deny = window("deny", "0 12 * * *", "1h");
        let open_allow = window("allow", "0 10 * * *", "1h");
        let closed_allow = window("allow", "0 12 * * *", "1h");
        let can = |windows: &[&SyncWindow], manual: bool, started: Option<i64>| {
            can_sync(windows, manual, started, now).unwrap()
        };
        assert!(can(&[], false, None));
        assert!(!can(&[&open_deny], false, None));
        assert!(can(&[&closed_deny], false, None));
        assert!(!can(&[&open_deny, &open_allow], false, None), "deny wins");
        assert!(can(&[&open_allow, &closed_allow], false, None));
        assert!(
            !can(&[&closed_allow], false, None),
            "outside every allow window"
        );
        let manual_deny = SyncWindow {
            manual_sync: true,
            ..open_deny.clone()
        };
        assert!(can(&[&manual_deny], true, None));
        assert!(!can(&[&manual_deny], false, None));
        assert!(
            !can(&[&manual_deny, &open_deny], true, None),
            "all must allow manual"
        );
        // Overrun: the deny window opened at 10:00; a sync begun at 09:50 goes on.
        let overrun_deny = SyncWindow {
            sync_overrun: true,
            ..open_deny.clone()
        };
        let before = Some(at("2026-11-28T09:50:00Z"));
        let inside = Some(at("2026-11-28T10:10:00Z"));
        assert!(can(&[&overrun_deny], false, before));
        assert!(!can(&[&overrun_deny], false, inside));
        assert!(
            !can(&[&open_deny], false, before),
            "no overrun without syncOverrun"
        );
        // An allow window open from 09:30 to 10:30, a sync begun inside it at 10:00.
        let overrun_allow = SyncWindow {
            sync_overrun: true,
            ..window("allow", "30 9 * * *", "1h")
        };
        let later = at("2026-11-28T11:00:00Z");
        let began = Some(at("2026-11-28T10:00:00Z"));
        assert!(
            can_sync(&[&overrun_allow], false, began, later).unwrap(),
            "began while allowed"
        );
        assert!(!can_sync(&[&overrun_allow], false, None, later).unwrap());
        let plain_allow = window("allow", "30 9 * * *", "1h");
        assert!(!can_sync(&[&plain_allow], false, began, later).unwrap());
        // Invalid windows block, with the reason.
        let broken = window("deny", "0 25 * * *", "1h");
        assert_eq!(
            can_sync(&[&broken], false, None, now),
            Err("invalid sync windows: cannot parse schedule '0 25 * * *': end of range (25) above maximum (23): 25".into())
        );
        let broken = window("allow", "0 10 * * *", "an hour");
        assert!(
            can_sync(&[&broken], false, None, now)
                .unwrap_err()
                .contains("cannot parse duration 'an hour'")
        );
    }

    /// A window's schedule is read in its `timeZone` (the zone's offset now): 09:00 in
    /// Berlin is 08:00 UTC in winter.
    #[test]
    fn a_time_zone_shifts_the_schedule() {
        let berlin = SyncWindow {
            time_zone: "Europe/Berlin".into(),
            ..window("deny", "0 9 * * *", "30m")
        };
        let winter = |t: &str| berlin.active_at(at(t), at(t)).unwrap();
        assert!(winter("2026-11-28T08:10:00Z"));
        assert!(!winter("2026-11-28T09:10:00Z"));
        let unknown = SyncWindow {
            time_zone: "Mars/Olympus".into(),
            ..berlin.clone()
        };
        let t = at("2026-11-28T09:10:00Z");
        assert!(unknown.active_at(t, t).unwrap(), "an unknown zone is UTC");
    }

    #[test]
    fn civil_time_round_trips() {
        for t in [0, 951_782_400, 1_709_164_800, 4_107_542_399, -86_400] {
            let (y, mo, d, h, mi) = civil(t);
            assert_eq!(unix(y, mo, d, h, mi), t - t.rem_euclid(60));
        }
        assert_eq!(weekday(2026, 11, 28), 6, "a Saturday");
    }
}
