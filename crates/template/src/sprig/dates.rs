//! Sprig date functions over Go layouts ("2006-01-02 15:04:05"). Go's `time.Local` is taken
//! to be UTC (what controllers in containers run with); named zones other than UTC/Local
//! fall back to UTC, as Sprig does when a zone fails to load — a documented deviation until
//! a time-zone database is wired in.

use super::want_str;
use crate::error::FuncError;
use crate::funcs::{Arity, Functions};
use crate::value::Value;
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};

type Time = DateTime<FixedOffset>;

fn utc() -> FixedOffset {
    FixedOffset::east_opt(0).unwrap_or_else(|| unreachable!("0 is a valid offset"))
}

fn now() -> Time {
    Utc::now().with_timezone(&utc())
}

/// Sprig's `date` argument: a time, or Unix seconds as an integer; anything else is now.
fn time_arg(v: &Value) -> Time {
    match v {
        Value::Time(t) => *t,
        Value::Int(secs) => utc().timestamp_opt(*secs, 0).single().unwrap_or_else(now),
        _ => now(),
    }
}

fn zone(name: &str) -> FixedOffset {
    // Only fixed zones are known without a tz database; see the module docs.
    let _ = name;
    utc()
}

pub(super) fn register(f: &mut Functions) {
    use Arity::Exact;
    f.register("now", Exact(0), |_| Ok(Value::Time(now())));
    f.register("date", Exact(2), |a| {
        Ok(Value::from(format_go(
            &time_arg(&a[1]),
            want_str(&a[0], "date")?,
        )))
    });
    for name in ["dateInZone", "date_in_zone"] {
        f.register(name, Exact(3), |a| {
            let t = time_arg(&a[1]).with_timezone(&zone(want_str(&a[2], "dateInZone")?));
            Ok(Value::from(format_go(&t, want_str(&a[0], "dateInZone")?)))
        });
    }
    f.register("htmlDate", Exact(1), |a| {
        Ok(Value::from(format_go(&time_arg(&a[0]), "2006-01-02")))
    });
    f.register("htmlDateInZone", Exact(2), |a| {
        let t = time_arg(&a[0]).with_timezone(&zone(want_str(&a[1], "htmlDateInZone")?));
        Ok(Value::from(format_go(&t, "2006-01-02")))
    });
    for name in ["dateModify", "date_modify"] {
        f.register(name, Exact(2), |a| {
            let t = time_arg(&a[1]);
            Ok(Value::Time(
                match parse_duration(want_str(&a[0], "dateModify")?) {
                    Some(ns) => t + chrono::Duration::nanoseconds(ns),
                    None => t,
                },
            ))
        });
    }
    for name in ["mustDateModify", "must_date_modify"] {
        f.register(name, Exact(2), |a| {
            let m = want_str(&a[0], "mustDateModify")?;
            let ns = parse_duration(m).ok_or_else(|| {
                FuncError::msg(format!("time: invalid duration {}", crate::gofmt::quote(m)))
            })?;
            Ok(Value::Time(
                time_arg(&a[1]) + chrono::Duration::nanoseconds(ns),
            ))
        });
    }
    f.register("ago", Exact(1), |a| {
        let secs = (now() - time_arg(&a[0])).num_seconds();
        Ok(Value::from(duration_string(
            i128::from(secs) * 1_000_000_000,
        )))
    });
    f.register("unixEpoch", Exact(1), |a| {
        Ok(Value::from(time_arg(&a[0]).timestamp().to_string()))
    });
    f.register("toDate", Exact(2), |a| {
        Ok(
            parse_go(want_str(&a[0], "toDate")?, want_str(&a[1], "toDate")?)
                .map(Value::Time)
                .unwrap_or_else(|_| {
                    Value::Time(
                        DateTime::UNIX_EPOCH.with_timezone(&utc())
                            - chrono::Duration::seconds(62_135_596_800),
                    )
                }),
        )
    });
    f.register("mustToDate", Exact(2), |a| {
        parse_go(
            want_str(&a[0], "mustToDate")?,
            want_str(&a[1], "mustToDate")?,
        )
        .map(Value::Time)
        .map_err(FuncError::msg)
    });
    f.register("duration", Exact(1), |a| {
        let secs = match &a[0] {
            Value::String(s) => s.parse::<i64>().unwrap_or(0),
            Value::Int(i) => *i,
            _ => 0,
        };
        Ok(Value::from(duration_string(
            i128::from(secs) * 1_000_000_000,
        )))
    });
    f.register("durationRound", Exact(1), |a| {
        let ns: i128 = match &a[0] {
            Value::String(s) => parse_duration(s).map(i128::from).unwrap_or(0),
            Value::Int(i) => i128::from(*i),
            Value::Time(t) => i128::from((now() - *t).num_nanoseconds().unwrap_or(i64::MAX)),
            _ => 0,
        };
        Ok(Value::from(duration_round(ns.unsigned_abs())))
    });
}

fn duration_round(u: u128) -> String {
    const SECOND: u128 = 1_000_000_000;
    const MINUTE: u128 = 60 * SECOND;
    const HOUR: u128 = 60 * MINUTE;
    const DAY: u128 = 24 * HOUR;
    const MONTH: u128 = 30 * DAY;
    const YEAR: u128 = 365 * DAY;
    for (unit, suffix) in [
        (YEAR, "y"),
        (MONTH, "mo"),
        (DAY, "d"),
        (HOUR, "h"),
        (MINUTE, "m"),
        (SECOND, "s"),
    ] {
        if u > unit {
            return format!("{}{suffix}", u / unit);
        }
    }
    "0s".into()
}

/// Go's `time.ParseDuration`, in nanoseconds.
pub(crate) fn parse_duration(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += n * mult;
    }
    let ns = total.round() as i64;
    Some(if neg { -ns } else { ns })
}

/// Go's `time.Duration.String()`.
pub(crate) fn duration_string(ns: i128) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let sign = if neg { "-" } else { "" };
    let frac = |v: u128, digits: u32| {
        let p = 10u128.pow(digits);
        let (int, fr) = (v / p, v % p);
        if fr == 0 {
            int.to_string()
        } else {
            let f = format!("{fr:0width$}", width = digits as usize);
            format!("{int}.{}", f.trim_end_matches('0'))
        }
    };
    if u < 1_000_000_000 {
        let (v, unit, d) = if u < 1_000 {
            (u, "ns", 0)
        } else if u < 1_000_000 {
            (u, "µs", 3)
        } else {
            (u, "ms", 6)
        };
        return format!("{sign}{}{unit}", frac(v, d));
    }
    let secs_ns = u % 60_000_000_000;
    let mins = u / 60_000_000_000;
    let mut out = sign.to_string();
    if mins >= 60 {
        out.push_str(&format!("{}h{}m", mins / 60, mins % 60));
    } else if mins > 0 {
        out.push_str(&format!("{mins}m"));
    }
    out.push_str(&format!("{}s", frac(secs_ns, 9)));
    out
}

/// One element of a Go layout.
enum Chunk<'a> {
    Lit(&'a str),
    Std(&'static str),
    /// Fractional seconds: digits, and whether trailing zeros are trimmed (`.999`).
    Frac(char, usize, bool),
}

fn chunks(layout: &str) -> Vec<Chunk<'_>> {
    const STD: [&str; 36] = [
        "January",
        "Jan",
        "Monday",
        "Mon",
        "MST",
        "2006",
        "-07:00:00",
        "-070000",
        "-07:00",
        "-0700",
        "-07",
        "Z07:00:00",
        "Z070000",
        "Z07:00",
        "Z0700",
        "Z07",
        "002",
        "__2",
        "_2",
        "01",
        "02",
        "03",
        "04",
        "05",
        "06",
        "15",
        "1",
        "2",
        "3",
        "4",
        "5",
        "PM",
        "pm",
        "",
        "",
        "",
    ];
    let mut out = Vec::new();
    let mut lit_start = 0;
    let mut i = 0;
    let b = layout.as_bytes();
    'outer: while i < layout.len() {
        if matches!(b[i], b'.' | b',') && i + 1 < b.len() && matches!(b[i + 1], b'0' | b'9') {
            let d = b[i + 1];
            let mut j = i + 1;
            while j < b.len() && b[j] == d {
                j += 1;
            }
            if !(j < b.len() && b[j].is_ascii_digit()) {
                if lit_start < i {
                    out.push(Chunk::Lit(&layout[lit_start..i]));
                }
                out.push(Chunk::Frac(b[i] as char, j - i - 1, d == b'9'));
                i = j;
                lit_start = i;
                continue;
            }
        }
        for s in STD.iter().filter(|s| !s.is_empty()) {
            if layout[i..].starts_with(s) {
                // "Jan"/"Mon" etc. are not tokens when followed by a lower-case letter.
                let next = layout[i + s.len()..].chars().next();
                if matches!(*s, "Jan" | "Mon" | "MST") && next.is_some_and(char::is_lowercase) {
                    continue;
                }
                if lit_start < i {
                    out.push(Chunk::Lit(&layout[lit_start..i]));
                }
                out.push(Chunk::Std(s));
                i += s.len();
                lit_start = i;
                continue 'outer;
            }
        }
        i += layout[i..].chars().next().map_or(1, char::len_utf8);
    }
    if lit_start < layout.len() {
        out.push(Chunk::Lit(&layout[lit_start..]));
    }
    out
}

/// Go's `Time.Format(layout)`.
pub(crate) fn format_go(t: &Time, layout: &str) -> String {
    let mut o = String::new();
    let off = t.offset().local_minus_utc();
    let zone = |sep: &str, secs: bool, z: bool| {
        if z && off == 0 {
            return "Z".to_string();
        }
        let sign = if off < 0 { '-' } else { '+' };
        let a = off.unsigned_abs();
        let mut s = format!("{sign}{:02}{sep}{:02}", a / 3600, a / 60 % 60);
        if secs {
            s.push_str(&format!("{sep}{:02}", a % 60));
        }
        s
    };
    for c in chunks(layout) {
        match c {
            Chunk::Lit(l) => o.push_str(l),
            Chunk::Frac(sep, n, trim) => {
                let nanos = format!("{:09}", t.nanosecond() % 1_000_000_000);
                let digits = &nanos[..n.min(9)];
                let digits = if trim {
                    digits.trim_end_matches('0')
                } else {
                    digits
                };
                if !digits.is_empty() {
                    o.push(sep);
                    o.push_str(digits);
                }
            }
            Chunk::Std(s) => o.push_str(&match s {
                "January" => t.format("%B").to_string(),
                "Jan" => t.format("%b").to_string(),
                "Monday" => t.format("%A").to_string(),
                "Mon" => t.format("%a").to_string(),
                "MST" => {
                    if off == 0 {
                        "UTC".into()
                    } else {
                        zone("", false, false)
                    }
                }
                "2006" => format!("{:04}", t.year()),
                "06" => format!("{:02}", t.year().rem_euclid(100)),
                "01" => format!("{:02}", t.month()),
                "1" => t.month().to_string(),
                "02" => format!("{:02}", t.day()),
                "2" => t.day().to_string(),
                "_2" => format!("{:>2}", t.day()),
                "002" => format!("{:03}", t.ordinal()),
                "__2" => format!("{:>3}", t.ordinal()),
                "15" => format!("{:02}", t.hour()),
                "03" => format!("{:02}", t.hour12().1),
                "3" => t.hour12().1.to_string(),
                "04" => format!("{:02}", t.minute()),
                "4" => t.minute().to_string(),
                "05" => format!("{:02}", t.second()),
                "5" => t.second().to_string(),
                "PM" => if t.hour() >= 12 { "PM" } else { "AM" }.into(),
                "pm" => if t.hour() >= 12 { "pm" } else { "am" }.into(),
                "-0700" => zone("", false, false),
                "-07:00" => zone(":", false, false),
                "-07" => zone("", false, false)[..3].to_string(),
                "-070000" => zone("", true, false),
                "-07:00:00" => zone(":", true, false),
                "Z0700" => zone("", false, true),
                "Z07:00" => zone(":", false, true),
                "Z07" => {
                    let z = zone("", false, true);
                    z.get(..3).unwrap_or(&z).to_string()
                }
                "Z070000" => zone("", true, true),
                "Z07:00:00" => zone(":", true, true),
                other => other.to_string(),
            }),
        }
    }
    o
}

/// Go's `time.ParseInLocation(layout, value, time.Local)` via chrono's parser.
pub(crate) fn parse_go(layout: &str, value: &str) -> Result<Time, String> {
    let mut f = String::new();
    let mut has_zone = false;
    let mut has_time = false;
    for c in chunks(layout) {
        match c {
            Chunk::Lit(l) => f.push_str(&l.replace('%', "%%")),
            Chunk::Frac(..) => f.push_str("%.f"),
            Chunk::Std(s) => {
                has_zone |= s.starts_with('-') || s.starts_with('Z');
                has_time |= matches!(s, "15" | "03" | "3" | "04" | "4" | "05" | "5");
                f.push_str(match s {
                    "January" => "%B",
                    "Jan" => "%b",
                    "Monday" => "%A",
                    "Mon" => "%a",
                    "MST" => "%Z",
                    "2006" => "%Y",
                    "06" => "%y",
                    "01" | "1" => "%m",
                    "02" | "2" => "%d",
                    "_2" => "%e",
                    "002" | "__2" => "%j",
                    "15" => "%H",
                    "03" | "3" => "%I",
                    "04" | "4" => "%M",
                    "05" | "5" => "%S",
                    "PM" => "%p",
                    "pm" => "%P",
                    "-0700" | "Z0700" => "%z",
                    "-07:00" | "Z07:00" => "%:z",
                    "-07" | "Z07" => "%#z",
                    _ => "%::z",
                });
            }
        }
    }
    let bad = |e: chrono::ParseError| {
        format!(
            "parsing time {} as {}: {e}",
            crate::gofmt::quote(value),
            crate::gofmt::quote(layout)
        )
    };
    if has_zone {
        return DateTime::parse_from_str(value, &f).map_err(bad);
    }
    let naive = if has_time {
        NaiveDateTime::parse_from_str(value, &f).map_err(bad)?
    } else {
        NaiveDate::parse_from_str(value, &f)
            .map_err(bad)?
            .and_time(chrono::NaiveTime::MIN)
    };
    Ok(utc().from_utc_datetime(&naive))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_layouts_and_durations() {
        let t = utc()
            .timestamp_opt(1_560_458_379, 0)
            .single()
            .expect("valid");
        assert_eq!(
            format_go(&t, "02 Jan 06 15:04 -0700"),
            "13 Jun 19 20:39 +0000"
        );
        assert_eq!(
            format_go(&t, "2006-01-02T15:04:05Z07:00"),
            "2019-06-13T20:39:39Z"
        );
        assert_eq!(
            format_go(&t, "Monday, January 2 3:04PM"),
            "Thursday, June 13 8:39PM"
        );
        assert_eq!(duration_string(61_000_000_000), "1m1s");
        assert_eq!(duration_string(93_784_000_000_000), "26h3m4s");
        assert_eq!(duration_string(1_500_000), "1.5ms");
        assert_eq!(parse_duration("2h5s"), Some(7_205_000_000_000));
        assert_eq!(duration_round(7_205_000_000_000), "2h");
        let d = parse_go("2006-01-02", "2017-12-31").expect("parses");
        assert_eq!(format_go(&d, "02/01/2006"), "31/12/2017");
    }
}
