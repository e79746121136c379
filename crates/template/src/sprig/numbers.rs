//! Sprig math: integer functions convert with `cast.ToInt64`, float functions with
//! `cast.ToFloat64` and compute in decimal (shopspring/decimal), so `1.2 | mulf 2.4`
//! is 2.88, not 2.8799999999999994.

use super::{to_f64, to_i64, want_int};
use crate::error::FuncError;
use crate::funcs::{Arity, Functions};
use crate::value::Value;

pub(super) fn register(f: &mut Functions) {
    use Arity::{AtLeast, Exact};
    f.register("add1", Exact(1), |a| {
        Ok(Value::Int(to_i64(&a[0]).wrapping_add(1)))
    });
    f.register("add", AtLeast(0), |a| {
        Ok(Value::Int(
            a.iter().map(to_i64).fold(0i64, i64::wrapping_add),
        ))
    });
    f.register("sub", Exact(2), |a| {
        Ok(Value::Int(to_i64(&a[0]).wrapping_sub(to_i64(&a[1]))))
    });
    f.register("mul", AtLeast(1), |a| {
        Ok(Value::Int(
            a.iter().map(to_i64).fold(1i64, i64::wrapping_mul),
        ))
    });
    f.register("div", Exact(2), |a| {
        let d = to_i64(&a[1]);
        if d == 0 {
            return Err(FuncError::msg("runtime error: integer divide by zero"));
        }
        Ok(Value::Int(to_i64(&a[0]).wrapping_div(d)))
    });
    f.register("mod", Exact(2), |a| {
        let d = to_i64(&a[1]);
        if d == 0 {
            return Err(FuncError::msg("runtime error: integer divide by zero"));
        }
        Ok(Value::Int(to_i64(&a[0]).wrapping_rem(d)))
    });
    let max = |a: &[Value]| Ok(Value::Int(a.iter().map(to_i64).max().unwrap_or(0)));
    f.register("max", AtLeast(1), max);
    f.register("biggest", AtLeast(1), max);
    f.register("min", AtLeast(1), |a| {
        Ok(Value::Int(a.iter().map(to_i64).min().unwrap_or(0)))
    });
    f.register("maxf", AtLeast(1), |a| {
        Ok(Value::Float(
            a.iter().map(to_f64).fold(f64::NEG_INFINITY, f64::max),
        ))
    });
    f.register("minf", AtLeast(1), |a| {
        Ok(Value::Float(
            a.iter().map(to_f64).fold(f64::INFINITY, f64::min),
        ))
    });
    f.register("add1f", Exact(1), |a| {
        Ok(Value::Float(dec_op(to_f64(&a[0]), 1.0, Op::Add)))
    });
    f.register("addf", AtLeast(0), |a| {
        Ok(Value::Float(fold(a, 0.0, Op::Add, false)))
    });
    f.register("subf", AtLeast(1), |a| {
        Ok(Value::Float(fold(a, 0.0, Op::Sub, true)))
    });
    f.register("mulf", AtLeast(1), |a| {
        Ok(Value::Float(fold(a, 1.0, Op::Mul, true)))
    });
    f.register("divf", AtLeast(1), |a| {
        let mut acc = to_f64(&a[0]);
        for b in &a[1..] {
            let d = to_f64(b);
            if d == 0.0 {
                return Err(FuncError::msg("decimal division by 0"));
            }
            // decimal.Div rounds to 16 places; f64 division agrees to the last printed digit.
            acc /= d;
        }
        Ok(Value::Float(acc))
    });
    f.register("ceil", Exact(1), |a| Ok(Value::Float(to_f64(&a[0]).ceil())));
    f.register("floor", Exact(1), |a| {
        Ok(Value::Float(to_f64(&a[0]).floor()))
    });
    f.register("round", AtLeast(2), |a| {
        let round_on = a.get(2).map(to_f64).unwrap_or(0.5);
        let pow = 10f64.powf(to_i64(&a[1]) as f64);
        let digit = pow * to_f64(&a[0]);
        let frac = digit.fract();
        let r = if frac >= round_on {
            digit.ceil()
        } else {
            digit.floor()
        };
        Ok(Value::Float(r / pow))
    });
    f.register("int", Exact(1), |a| Ok(Value::Int(to_i64(&a[0]))));
    f.register("int64", Exact(1), |a| Ok(Value::Int(to_i64(&a[0]))));
    f.register("float64", Exact(1), |a| Ok(Value::Float(to_f64(&a[0]))));
    f.register("until", Exact(1), |a| {
        let n = want_int(&a[0], "until")?;
        Ok(ints(until_step(0, n, if n < 0 { -1 } else { 1 })))
    });
    f.register("untilStep", Exact(3), |a| {
        let (start, stop, step) = (
            want_int(&a[0], "untilStep")?,
            want_int(&a[1], "untilStep")?,
            want_int(&a[2], "untilStep")?,
        );
        Ok(ints(until_step(start, stop, step)))
    });
    f.register("seq", AtLeast(0), |a| {
        let p: Vec<i64> = a
            .iter()
            .map(|v| want_int(v, "seq"))
            .collect::<Result<_, _>>()?;
        let v = match p[..] {
            [end] => {
                let inc = if end < 1 { -1 } else { 1 };
                until_step(1, end + inc, inc)
            }
            [start, end] => {
                let step = if end < start { -1 } else { 1 };
                until_step(start, end + step, step)
            }
            [start, step, end] => {
                let inc = if end < start { -1 } else { 1 };
                if end < start && step > 0 {
                    Vec::new()
                } else {
                    until_step(start, end + inc, step)
                }
            }
            _ => Vec::new(),
        };
        let s: Vec<String> = v.iter().map(i64::to_string).collect();
        Ok(Value::from(s.join(" ")))
    });
}

fn ints(v: Vec<i64>) -> Value {
    Value::list(v.into_iter().map(Value::Int).collect())
}

/// Sprig's `untilStep`; bounded so a hostile step cannot allocate without limit.
pub(crate) fn until_step(start: i64, stop: i64, step: i64) -> Vec<i64> {
    const MAX: usize = 1 << 20;
    let mut v = Vec::new();
    let mut i = start;
    if stop < start {
        if step >= 0 {
            return v;
        }
        while i > stop && v.len() < MAX {
            v.push(i);
            i += step;
        }
        return v;
    }
    if step <= 0 {
        return v;
    }
    while i < stop && v.len() < MAX {
        v.push(i);
        i += step;
    }
    v
}

#[derive(Clone, Copy)]
enum Op {
    Add,
    Sub,
    Mul,
}

fn fold(a: &[Value], init: f64, op: Op, first_is_init: bool) -> f64 {
    let (mut acc, rest) = if first_is_init {
        (to_f64(&a[0]), &a[1..])
    } else {
        (init, a)
    };
    for b in rest {
        acc = dec_op(acc, to_f64(b), op);
    }
    acc
}

/// A float as decimal digits (`decimal.NewFromFloat`: the shortest representation).
fn to_dec(f: f64) -> Option<(i128, u32)> {
    let s = format!("{f}");
    if s.contains(['e', 'E', 'i', 'N']) {
        return None;
    }
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let mant: i128 = format!("{int}{frac}").parse().ok()?;
    Some((mant, frac.len() as u32))
}

/// Exact decimal arithmetic on the shortest decimal forms, falling back to f64 when the
/// numbers do not fit.
fn dec_op(a: f64, b: f64, op: Op) -> f64 {
    let fallback = match op {
        Op::Add => a + b,
        Op::Sub => a - b,
        Op::Mul => a * b,
    };
    let (Some((ma, sa)), Some((mb, sb))) = (to_dec(a), to_dec(b)) else {
        return fallback;
    };
    let (mant, scale) = match op {
        Op::Mul => match ma.checked_mul(mb) {
            Some(m) => (m, sa + sb),
            None => return fallback,
        },
        Op::Add | Op::Sub => {
            let scale = sa.max(sb);
            let (Some(xa), Some(xb)) = (
                10i128
                    .checked_pow(scale - sa)
                    .and_then(|p| ma.checked_mul(p)),
                10i128
                    .checked_pow(scale - sb)
                    .and_then(|p| mb.checked_mul(p)),
            ) else {
                return fallback;
            };
            let m = if matches!(op, Op::Add) {
                xa.checked_add(xb)
            } else {
                xa.checked_sub(xb)
            };
            match m {
                Some(m) => (m, scale),
                None => return fallback,
            }
        }
    };
    format!("{mant}e-{scale}").parse().unwrap_or(fallback)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_float_math() {
        assert_eq!(dec_op(1.2, 2.4, Op::Mul), 2.88);
        assert_eq!(dec_op(0.1, 0.2, Op::Add), 0.3);
        assert_eq!(dec_op(4.5, 1.0, Op::Sub), 3.5);
    }
}
