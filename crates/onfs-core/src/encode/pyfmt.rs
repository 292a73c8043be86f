//! Values printed as Python's `str()` prints them, which is what the original sends for entity
//! keys and String features.

use std::fmt::Write;

/// Python `repr(float)` / `str(float)`: the shortest text that reads back to the same double,
/// fixed notation for exponents -4..16, else `d.ddde+XX`; `nan`, `inf`, `-inf`, `-0.0`.
pub fn write_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("nan");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "inf" } else { "-inf" });
        return;
    }
    if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0.0" } else { "0.0" });
        return;
    }
    // Rust's `{:e}` gives the fewest digits that read back to `v`, e.g. "-1.2345e-5", "1e16";
    // when several strings of that length read back, Python prints the one closest to `v`:
    // the correctly rounded one at that precision (ties to even).
    let mut sci = String::with_capacity(32);
    let _ = write!(sci, "{v:e}");
    let precision = sci.split_once('e').map_or(0, |(m, _)| {
        m.bytes()
            .filter(u8::is_ascii_digit)
            .count()
            .saturating_sub(1)
    });
    let mut rounded = String::with_capacity(32);
    let _ = write!(rounded, "{v:.precision$e}");
    if rounded != sci && rounded.parse::<f64>() == Ok(v) {
        sci = rounded;
    }
    let (mantissa, exp) = sci
        .split_once('e')
        .expect("LowerExp always has an exponent");
    let exp: i32 = exp.parse().expect("LowerExp exponent is an integer");
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if negative {
        out.push('-');
    }
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
}

/// Python `str(Decimal)` of an unscaled integer and a scale, as Spark hands decimals to Python.
pub fn write_decimal(out: &mut String, unscaled: i128, scale: i8) {
    if scale <= 0 {
        let _ = write!(out, "{unscaled}");
        if scale < 0 {
            // Decimal('1E+3') prints as 1E+3; a negative scale is rare in Parquet: print exactly.
            let _ = write!(out, "E+{}", -(scale as i32));
        }
        return;
    }
    let scale = scale as usize;
    let digits = unscaled.unsigned_abs().to_string();
    if unscaled < 0 {
        out.push('-');
    }
    // Python switches to exponent notation when the adjusted exponent is below -6.
    let adjusted = digits.len() as i64 - 1 - scale as i64;
    if adjusted < -6 {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "E{adjusted}");
        return;
    }
    if digits.len() > scale {
        out.push_str(&digits[..digits.len() - scale]);
        out.push('.');
        out.push_str(&digits[digits.len() - scale..]);
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', scale - digits.len()));
        out.push_str(&digits);
    }
}

pub fn write_bool(out: &mut String, v: bool) {
    out.push_str(if v { "True" } else { "False" });
}

/// ISO date of a day count since 1970-01-01 (proleptic Gregorian), as Python's `str(date)`.
pub fn write_date(out: &mut String, days: i64) {
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    let _ = write!(out, "{y:04}-{m:02}-{d:02}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: f64) -> String {
        let mut s = String::new();
        write_float(&mut s, v);
        s
    }

    #[test]
    fn floats_as_python_repr() {
        let cases = [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (123456789012345.6, "123456789012345.6"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e100, "1e+100"),
            (f64::NAN, "nan"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (-0.0, "-0.0"),
            (0.1f32 as f64, "0.10000000149011612"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (-160.1f32 as f64, "-160.10000610351562"),
        ];
        for (v, want) in cases {
            assert_eq!(f(v), want, "{v:e}");
        }
    }

    #[test]
    fn decimals_as_python_str() {
        let d = |u, s| {
            let mut out = String::new();
            write_decimal(&mut out, u, s);
            out
        };
        assert_eq!(d(1250, 2), "12.50");
        assert_eq!(d(-5, 3), "-0.005");
        assert_eq!(d(42, 0), "42");
        assert_eq!(d(1, 8), "1E-8");
    }

    #[test]
    fn dates_iso() {
        let d = |days| {
            let mut out = String::new();
            write_date(&mut out, days);
            out
        };
        assert_eq!(d(0), "1970-01-01");
        assert_eq!(d(20_757), "2026-10-31");
        assert_eq!(d(-1), "1969-12-31");
        assert_eq!(d(11_016), "2000-02-29");
    }
}
