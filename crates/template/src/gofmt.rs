//! Go's `fmt` package as templates see it: `%v` printing of values, `Sprint`, `Sprintln`
//! and `Sprintf` with the verbs and flags templates use.

use crate::value::Value;
use std::fmt::Write as _;

/// Appends `v` as Go's `fmt.Sprint` prints it (`%v`).
pub(crate) fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Nil => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => out.push_str(&format_float(*f, 'g', None)),
        Value::String(s) => out.push_str(s),
        Value::List(l) => {
            out.push('[');
            for (i, item) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Time(t) => out.push_str(&time_string(t)),
        Value::Map(m)
            if m.method("String")
                .is_some_and(|s| s.arity == crate::Arity::Exact(0)) =>
        {
            match m.method("String").map(|s| (s.body)(m, &[])) {
                Some(Ok(Value::String(s))) => out.push_str(&s),
                Some(Ok(other)) => write_value(out, &other),
                _ => out.push_str("%!v(PANIC=String method)"),
            }
        }
        Value::Map(m) => {
            out.push_str("map[");
            for (i, (k, item)) in m.read().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_value(out, item);
            }
            out.push(']');
        }
    }
}

/// Go's `time.Time.String()`: `2006-01-02 15:04:05.999999999 -0700 MST`.
pub(crate) fn time_string(t: &chrono::DateTime<chrono::FixedOffset>) -> String {
    let mut s = t.format("%Y-%m-%d %H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    let off = t.format("%z").to_string();
    let zone = if t.offset().local_minus_utc() == 0 {
        "UTC".to_string()
    } else {
        off.clone()
    };
    format!("{s} {off} {zone}")
}

/// `fmt.Sprint(v)`.
pub(crate) fn to_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        _ => {
            let mut s = String::new();
            write_value(&mut s, v);
            s
        }
    }
}

/// `fmt.Sprint(args...)`: a space between operands when neither is a string.
pub(crate) fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Value::String(_)) && !matches!(args[i - 1], Value::String(_)) {
            out.push(' ');
        }
        write_value(&mut out, a);
    }
    out
}

/// `fmt.Sprintln(args...)`: always a space between operands, then a newline.
pub(crate) fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_value(&mut out, a);
    }
    out.push('\n');
    out
}

/// Decimal digits and decimal-point position of a finite, non-negative float, as Go's
/// `strconv` decimal type: value = 0.d1d2d3… × 10^dp, with trailing zeros removed.
fn digits(f: f64, sig: Option<usize>) -> (Vec<u8>, i32) {
    if f == 0.0 {
        return (Vec::new(), 0);
    }
    // Rust's `{:e}` gives the shortest round-tripping digits, `{:.N e}` correctly rounded ones.
    let s = match sig {
        None => format!("{f:e}"),
        Some(n) => format!("{:.*e}", n.saturating_sub(1), f),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    while d.last() == Some(&b'0') {
        d.pop();
    }
    (d, exp + 1)
}

fn fmt_e(out: &mut String, d: &[u8], dp: i32, prec: usize, e: char) {
    out.push(d.first().map_or('0', |c| *c as char));
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(d.get(i).map_or('0', |c| *c as char));
        }
    }
    let exp = if d.is_empty() { 0 } else { dp - 1 };
    out.push(e);
    out.push(if exp < 0 { '-' } else { '+' });
    let exp = exp.unsigned_abs();
    if exp < 10 {
        out.push('0');
    }
    let _ = write!(out, "{exp}");
}

fn fmt_f(out: &mut String, d: &[u8], dp: i32, prec: usize) {
    if dp > 0 {
        for i in 0..dp as usize {
            out.push(d.get(i).map_or('0', |c| *c as char));
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 0..prec as i32 {
            let j = dp + i;
            out.push(if j < 0 {
                '0'
            } else {
                d.get(j as usize).map_or('0', |c| *c as char)
            });
        }
    }
}

/// Go's `strconv.FormatFloat(f, verb, prec, 64)` for verbs e, E, f, g, G; `prec` None is -1.
pub(crate) fn format_float(f: f64, verb: char, prec: Option<usize>) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let mut out = String::new();
    if f.is_sign_negative() {
        out.push('-');
    }
    let a = f.abs();
    match verb {
        'e' | 'E' => {
            let (d, dp) = match prec {
                None => digits(a, None),
                Some(p) => digits(a, Some(p + 1)),
            };
            let p = prec.unwrap_or(d.len().saturating_sub(1));
            fmt_e(&mut out, &d, dp, p, verb);
        }
        'f' | 'F' => match prec {
            Some(p) => {
                let _ = write!(out, "{a:.p$}");
            }
            None => {
                let (d, dp) = digits(a, None);
                fmt_f(&mut out, &d, dp, (d.len() as i32 - dp).max(0) as usize);
            }
        },
        _ => {
            let shortest = prec.is_none();
            let p = prec.map(|p| p.max(1));
            let (d, dp) = digits(a, p);
            let nd = d.len() as i32;
            let mut prec = p.map_or(nd, |p| p as i32);
            let mut eprec = prec;
            if eprec > nd && nd >= dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = dp - 1;
            let e = if verb == 'G' { 'E' } else { 'e' };
            if exp < -4 || exp >= eprec {
                if prec > nd {
                    prec = nd;
                }
                fmt_e(&mut out, &d, dp, (prec - 1).max(0) as usize, e);
            } else {
                if prec > dp {
                    prec = nd;
                }
                fmt_f(&mut out, &d, dp, (prec - dp).max(0) as usize);
            }
        }
    }
    out
}

/// Go's `strconv.Quote`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                if (c as u32) < 0x10000 {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                } else {
                    let _ = write!(out, "\\U{:08x}", c as u32);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.CanBackquote`.
fn can_backquote(s: &str) -> bool {
    s.chars()
        .all(|c| c != '`' && c != '\u{FEFF}' && (c == '\t' || !c.is_control()))
}

#[derive(Default, Clone, Copy)]
struct Flags {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

fn pad(out: &mut String, s: &str, f: &Flags) {
    let len = s.chars().count();
    let w = f.width.unwrap_or(0);
    if len >= w {
        out.push_str(s);
    } else if f.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', w - len));
    } else if f.zero {
        // Zero padding goes after the sign.
        let (sign, rest) = match s.as_bytes().first() {
            Some(b'-' | b'+' | b' ') => s.split_at(1),
            _ => ("", s),
        };
        out.push_str(sign);
        out.extend(std::iter::repeat_n('0', w - len));
        out.push_str(rest);
    } else {
        out.extend(std::iter::repeat_n(' ', w - len));
        out.push_str(s);
    }
}

fn bad_verb(out: &mut String, verb: char, v: &Value) {
    match v {
        Value::Nil => {
            let _ = write!(out, "%!{verb}(<nil>)");
        }
        _ => {
            let _ = write!(out, "%!{verb}({}=", v.go_type());
            write_value(out, v);
            out.push(')');
        }
    }
}

fn fmt_int(out: &mut String, i: i64, verb: char, f: &Flags) {
    let mag = i.unsigned_abs();
    let mut digits = match verb {
        'b' => format!("{mag:b}"),
        'o' | 'O' => format!("{mag:o}"),
        'x' => format!("{mag:x}"),
        'X' => format!("{mag:X}"),
        'c' => {
            let c = char::from_u32(i as u32).unwrap_or('\u{FFFD}');
            return pad(out, &c.to_string(), f);
        }
        'q' => {
            let c = char::from_u32(i as u32).unwrap_or('\u{FFFD}');
            let q = quote(&c.to_string());
            return pad(out, &format!("'{}'", &q[1..q.len() - 1]), f);
        }
        'U' => return pad(out, &format!("U+{mag:04X}"), f),
        _ => mag.to_string(),
    };
    if let Some(p) = f.prec {
        if p == 0 && i == 0 {
            digits.clear();
        }
        while digits.len() < p {
            digits.insert(0, '0');
        }
    }
    let prefix = match (verb, f.sharp) {
        ('x', true) => "0x",
        ('X', true) => "0X",
        ('o', true) if !digits.starts_with('0') => "0",
        ('b', true) => "0b",
        ('O', _) => "0o",
        _ => "",
    };
    let sign = if i < 0 {
        "-"
    } else if f.plus {
        "+"
    } else if f.space {
        " "
    } else {
        ""
    };
    let s = format!("{sign}{prefix}{digits}");
    let mut f2 = *f;
    if f.prec.is_some() {
        f2.zero = false;
    }
    pad(out, &s, &f2);
}

fn fmt_float(out: &mut String, x: f64, verb: char, f: &Flags) {
    let verb2 = if verb == 'v' { 'g' } else { verb };
    let prec = match verb2 {
        'e' | 'E' | 'f' | 'F' => Some(f.prec.unwrap_or(6)),
        _ => f.prec,
    };
    let mut s = format_float(x, verb2, prec);
    if f.plus && !s.starts_with('-') {
        s.insert(0, '+');
    } else if f.space && !s.starts_with('-') {
        s.insert(0, ' ');
    }
    pad(out, &s, f);
}

fn fmt_string(out: &mut String, s: &str, verb: char, f: &Flags) {
    let s: String = match f.prec {
        Some(p) if verb == 's' || verb == 'v' => s.chars().take(p).collect(),
        _ => s.to_string(),
    };
    match verb {
        'q' if f.sharp && can_backquote(&s) => pad(out, &format!("`{s}`"), f),
        'q' => pad(out, &quote(&s), f),
        'x' | 'X' => {
            let mut h = String::new();
            for (i, b) in s.bytes().enumerate() {
                if f.space && i > 0 {
                    h.push(' ');
                }
                if verb == 'x' {
                    let _ = write!(h, "{b:02x}");
                } else {
                    let _ = write!(h, "{b:02X}");
                }
            }
            pad(out, &h, f);
        }
        _ => pad(out, &s, f),
    }
}

fn fmt_arg(out: &mut String, v: &Value, verb: char, f: &Flags) {
    match (v, verb) {
        (Value::Nil, 'v' | 's') if verb == 'v' => pad(out, "<nil>", f),
        (Value::Bool(b), 'v' | 't') => pad(out, if *b { "true" } else { "false" }, f),
        (Value::Int(i), 'v' | 'd' | 'b' | 'o' | 'O' | 'x' | 'X' | 'c' | 'q' | 'U') => {
            fmt_int(out, *i, if verb == 'v' { 'd' } else { verb }, f)
        }
        (Value::Float(x), 'v' | 'e' | 'E' | 'f' | 'F' | 'g' | 'G') => fmt_float(out, *x, verb, f),
        (Value::String(s), 'v' | 's' | 'q' | 'x' | 'X') => fmt_string(out, s, verb, f),
        (Value::List(l), _) if verb != 'T' => {
            out.push('[');
            for (i, item) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                fmt_arg(out, item, verb, f);
            }
            out.push(']');
        }
        (Value::Map(m), _) if verb != 'T' => {
            out.push_str("map[");
            for (i, (k, item)) in m.read().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                fmt_string(out, k, verb, &Flags::default());
                out.push(':');
                fmt_arg(out, item, verb, f);
            }
            out.push(']');
        }
        (Value::Time(t), 'v' | 's') => pad(out, &time_string(t), f),
        (_, 'T') => pad(out, v.go_type(), f),
        _ => bad_verb(out, verb, v),
    }
}

/// `fmt.Sprintf(format, args...)`, including Go's `%!verb(type=value)`, `%!v(MISSING)` and
/// `%!(EXTRA …)` markers.
pub(crate) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut argi = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut f = Flags::default();
        while let Some(&c) = chars.peek() {
            match c {
                '+' => f.plus = true,
                '-' => f.minus = true,
                '#' => f.sharp = true,
                ' ' => f.space = true,
                '0' => f.zero = !f.minus,
                _ => break,
            }
            chars.next();
        }
        // Width: digits or `*`.
        if chars.peek() == Some(&'*') {
            chars.next();
            if let Some(Value::Int(w)) = args.get(argi) {
                if *w < 0 {
                    f.minus = true;
                }
                f.width = Some(w.unsigned_abs() as usize);
            } else {
                out.push_str("%!(BADWIDTH)");
            }
            argi += 1;
        } else {
            let mut w = String::new();
            while let Some(c) = chars.peek().filter(|c| c.is_ascii_digit()) {
                w.push(*c);
                chars.next();
            }
            f.width = w.parse().ok();
        }
        if chars.peek() == Some(&'.') {
            chars.next();
            if chars.peek() == Some(&'*') {
                chars.next();
                if let Some(Value::Int(p)) = args.get(argi) {
                    f.prec = (*p >= 0).then_some(*p as usize);
                } else {
                    out.push_str("%!(BADPREC)");
                }
                argi += 1;
            } else {
                let mut p = String::new();
                while let Some(c) = chars.peek().filter(|c| c.is_ascii_digit()) {
                    p.push(*c);
                    chars.next();
                }
                f.prec = Some(p.parse().unwrap_or(0));
            }
        }
        if f.minus {
            f.zero = false;
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.get(argi) {
            None => {
                let _ = write!(out, "%!{verb}(MISSING)");
            }
            Some(v) => {
                fmt_arg(&mut out, v, verb, &f);
                argi += 1;
            }
        }
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, a) in args[argi..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            match a {
                Value::Nil => out.push_str("<nil>"),
                _ => {
                    out.push_str(a.go_type());
                    out.push('=');
                    write_value(&mut out, a);
                }
            }
        }
        out.push(')');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_go() {
        let cases = [
            (1.0, "1"),
            (1.5, "1.5"),
            (1e6, "1e+06"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
            (0.0, "0"),
        ];
        for (f, want) in cases {
            assert_eq!(format_float(f, 'g', None), want, "{f}");
        }
        assert_eq!(format_float(1.23456, 'f', Some(2)), "1.23");
        assert_eq!(format_float(1234.5678, 'e', Some(3)), "1.235e+03");
        assert_eq!(format_float(100000.0, 'g', Some(3)), "1e+05");
    }

    #[test]
    fn printf_verbs() {
        let a = |v: Value| vec![v];
        assert_eq!(
            sprintf(
                "%05d|%-4d|%x",
                &[Value::Int(42), Value::Int(7), Value::Int(255)]
            ),
            "00042|7   |ff"
        );
        assert_eq!(sprintf("%q", &a(Value::from("a\"b"))), "\"a\\\"b\"");
        assert_eq!(sprintf("%d", &a(Value::from("x"))), "%!d(string=x)");
        assert_eq!(sprintf("%d %d", &a(Value::Int(1))), "1 %!d(MISSING)");
        assert_eq!(
            sprintf("%d", &[Value::Int(1), Value::Int(2)]),
            "1%!(EXTRA int=2)"
        );
        assert_eq!(sprintf("%6.2f", &a(Value::Float(1.23456))), "  1.23");
        assert_eq!(
            sprint(&[
                Value::Int(1),
                Value::Int(2),
                Value::from("a"),
                Value::Int(3)
            ]),
            "1 2a3"
        );
    }
}
