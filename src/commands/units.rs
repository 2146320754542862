//! Value syntaxes runc's flags accept, parsed the way runc's Go libraries parse them, so that
//! engines and scripts written for runc pass the same strings: sizes as docker/go-units'
//! `RAMInBytes` reads them ("100M", "1.5g", "512kb"), durations as Go's `time.ParseDuration`
//! ("5s", "100ms", "1m30s"), integers as `strconv.ParseInt`/`ParseUint` (with their error text).

use std::time::Duration;

/// A memory size with binary multipliers, as go-units' `RAMInBytes`: digits with an optional
/// fraction, an optional space, an optional unit letter (k, m, g, t, p, any case), an optional
/// `i` and an optional `b`. Fractions are truncated after multiplying.
pub fn ram_in_bytes(s: &str) -> Result<i64, String> {
    let invalid = || format!("invalid size: '{s}'");
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, rest) = s.split_at(digits_end);
    // One optional fraction: "1.5" but not "1.", ".5" or "1.2.3".
    let valid_number = match number.split_once('.') {
        None => !number.is_empty(),
        Some((int, frac)) => {
            !int.is_empty() && !frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit())
        }
    };
    if !valid_number {
        return Err(invalid());
    }
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let mut chars = rest.chars().peekable();
    let shift = match chars.peek().map(char::to_ascii_lowercase) {
        Some('k') => 10,
        Some('m') => 20,
        Some('g') => 30,
        Some('t') => 40,
        Some('p') => 50,
        _ => 0,
    };
    if shift != 0 {
        chars.next();
    }
    if chars.peek().is_some_and(|c| c.eq_ignore_ascii_case(&'i')) {
        chars.next();
    }
    if chars.peek().is_some_and(|c| c.eq_ignore_ascii_case(&'b')) {
        chars.next();
    }
    if chars.next().is_some() {
        return Err(invalid());
    }
    let value: f64 = number.parse().map_err(|_| invalid())?;
    let bytes = value * (1u64 << shift) as f64;
    if bytes >= i64::MAX as f64 {
        return Err(invalid());
    }
    Ok(bytes as i64)
}

/// A Go duration ("300ms", "1.5h", "2h45m", "-1s", "0"), in nanoseconds (signed: runc
/// rejects a negative interval with its own message).
pub fn go_duration_nanos(s: &str) -> Result<i128, String> {
    let err = || format!("time: invalid duration {s:?}");
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(err());
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (int, after) = rest.split_at(int_end);
        let (frac, after) = match after.strip_prefix('.') {
            Some(a) => {
                let end = a.find(|c: char| !c.is_ascii_digit()).unwrap_or(a.len());
                a.split_at(end)
            }
            None => ("", after),
        };
        if int.is_empty() && frac.is_empty() {
            return Err(err());
        }
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("time: missing unit in duration {s:?}")),
            _ => return Err(format!("time: unknown unit {unit:?} in duration {s:?}")),
        };
        let int: i128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| err())?
        };
        let mut part = int.checked_mul(scale).ok_or_else(err)?;
        // Fraction digits beyond nanosecond precision are dropped, as Go does.
        let mut unit_of_digit = scale;
        for d in frac.bytes() {
            unit_of_digit /= 10;
            if unit_of_digit == 0 {
                break;
            }
            part += i128::from(d - b'0') * unit_of_digit;
        }
        total = total.checked_add(part).ok_or_else(err)?;
        if total > i128::from(i64::MAX) {
            return Err(err());
        }
        rest = after;
    }
    Ok(if negative { -total } else { total })
}

/// A positive Go duration, for `events --interval`; runc's phrases for bad values.
pub fn interval(s: &str) -> Result<Duration, String> {
    let nanos = go_duration_nanos(s)
        .map_err(|_| format!("invalid value {s:?} for flag -interval: parse error"))?;
    if nanos <= 0 {
        return Err("duration interval must be greater than 0".into());
    }
    Ok(Duration::from_nanos(nanos as u64))
}

/// `strconv.ParseUint(s, 10, 64)` with Go's error text.
pub fn parse_uint(s: &str) -> Result<u64, String> {
    let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits {
        return Err(format!("strconv.ParseUint: parsing {s:?}: invalid syntax"));
    }
    s.parse()
        .map_err(|_| format!("strconv.ParseUint: parsing {s:?}: value out of range"))
}

/// `strconv.ParseInt(s, 10, 64)` with Go's error text.
pub fn parse_int(s: &str) -> Result<i64, String> {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let digits = !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit());
    if !digits {
        return Err(format!("strconv.ParseInt: parsing {s:?}: invalid syntax"));
    }
    s.parse()
        .map_err(|_| format!("strconv.ParseInt: parsing {s:?}: value out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_go_units() {
        let ok = [
            ("0", 0),
            ("1", 1),
            ("100M", 100 << 20),
            ("100m", 100 << 20),
            ("1g", 1 << 30),
            ("1G", 1 << 30),
            ("1.5g", 3 << 29),
            ("100kb", 102_400),
            ("100KiB", 102_400),
            ("7 MB", 7 << 20),
            ("2t", 2 << 40),
            ("1p", 1 << 50),
            ("10b", 10),
            ("10ib", 10),
            ("0.5k", 512),
        ];
        for (s, want) in ok {
            assert_eq!(ram_in_bytes(s), Ok(want), "{s}");
        }
        for bad in [
            "",
            "abc",
            "10X",
            "-5",
            "1.",
            ".5",
            "1.2.3",
            "1kk",
            "1  k",
            "k",
            "1e3",
            "9999999999p",
        ] {
            assert_eq!(
                ram_in_bytes(bad),
                Err(format!("invalid size: '{bad}'")),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn durations_read_like_go() {
        let ms = 1_000_000i128;
        let ok = [
            ("0", 0),
            ("5s", 5_000 * ms),
            ("100ms", 100 * ms),
            ("1m30s", 90_000 * ms),
            ("1.5h", 5_400_000 * ms),
            ("2h45m", 9_900_000 * ms),
            ("300us", 300_000),
            ("300\u{b5}s", 300_000),
            ("300\u{3bc}s", 300_000),
            ("7ns", 7),
            (".5s", 500 * ms),
            ("5.s", 5_000 * ms),
            ("1.0000000001s", 1_000_000_000),
            ("-1s", -1_000 * ms),
            ("+2ms", 2 * ms),
        ];
        for (s, want) in ok {
            assert_eq!(go_duration_nanos(s), Ok(want), "{s}");
        }
        assert!(go_duration_nanos("5").unwrap_err().contains("missing unit"));
        assert!(go_duration_nanos("5d")
            .unwrap_err()
            .contains("unknown unit"));
        for bad in ["", "-", ".s", "s", "1.2.3s", "9999999999999h"] {
            assert!(go_duration_nanos(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn interval_errors_are_runcs() {
        assert_eq!(interval("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(
            interval("5"),
            Err("invalid value \"5\" for flag -interval: parse error".into())
        );
        for zero in ["0s", "0", "-1s"] {
            assert_eq!(
                interval(zero),
                Err("duration interval must be greater than 0".into())
            );
        }
    }

    #[test]
    fn integers_fail_with_strconv_text() {
        assert_eq!(parse_uint("100000"), Ok(100_000));
        assert_eq!(
            parse_uint("-1"),
            Err("strconv.ParseUint: parsing \"-1\": invalid syntax".into())
        );
        assert_eq!(
            parse_uint("+1"),
            Err("strconv.ParseUint: parsing \"+1\": invalid syntax".into())
        );
        assert_eq!(
            parse_uint("99999999999999999999"),
            Err("strconv.ParseUint: parsing \"99999999999999999999\": value out of range".into())
        );
        assert_eq!(parse_int("-1"), Ok(-1));
        assert_eq!(parse_int("+20000"), Ok(20_000));
        assert_eq!(
            parse_int("abc"),
            Err("strconv.ParseInt: parsing \"abc\": invalid syntax".into())
        );
        assert_eq!(
            parse_int("-"),
            Err("strconv.ParseInt: parsing \"-\": invalid syntax".into())
        );
    }
}
