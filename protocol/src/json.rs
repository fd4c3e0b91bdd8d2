//! JSON output with sorted object keys.
//!
//! Phoenix encodes with Jason, and Erlang keeps maps of up to 32 keys sorted, so the keys of a
//! reply come out as `{"response":…,"status":…}` and nested keys are sorted too. This writer sorts
//! keys at every level whatever `serde_json`'s map type is, so a dependency that enables
//! `preserve_order` cannot change our bytes.
//!
//! Known difference: an Erlang map of more than 32 keys is a HAMT, and Jason writes it in hash
//! order; this writer still sorts it, so such objects differ from Phoenix's bytes (same content).

use serde_json::Value;

/// Compact JSON text of `v`, keys sorted bytewise at every level.
pub fn to_string(v: &Value) -> String {
    let mut out = String::new();
    write_value(v, &mut out);
    out
}

/// Appends the compact, key-sorted JSON text of `v` to `out`.
pub fn write_value(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, val)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(k, out);
                out.push(':');
                write_value(val, out);
            }
            out.push('}');
        }
    }
}

/// Appends `s` as a JSON string literal (escaping as Jason's default `:json` mode does).
pub fn write_str(s: &str, out: &mut String) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0x08 => Some("\\b"),
            0x0c => Some("\\f"),
            0..=0x1f => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => out.push_str(&format!("\\u{b:04X}")),
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Numbers as Jason prints them: integers as-is; floats as `:io_lib_format.fwrite_g/1`
/// (= `float_to_list(F, [:short])`): the shortest round-trip digits, in plain notation unless
/// scientific is shorter (`100.0`, `1.0e3`, `0.0001`, `1.0e-5`), and never plain for integral
/// values of 2^53 or more (`9.007199254740992e15`).
fn write_number(n: &serde_json::Number, out: &mut String) {
    match n.as_f64() {
        Some(f) if n.is_f64() => write_erlang_float(f, &n.to_string(), out),
        _ => out.push_str(&n.to_string()),
    }
}

/// `shortest` is any decimal rendering of `f` with its shortest round-trip digits (serde_json's).
fn write_erlang_float(f: f64, shortest: &str, out: &mut String) {
    if f == 0.0 {
        out.push_str(if f.is_sign_negative() { "-0.0" } else { "0.0" });
        return;
    }
    let (digits, place) = match digits_and_place(shortest) {
        Some(dp) => dp,
        None => {
            out.push_str(shortest);
            return;
        }
    };
    if f < 0.0 {
        out.push('-');
    }
    let len = digits.len() as i64;
    let sci = {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { "0" } else { rest };
        format!("{first}.{rest}e{}", place - 1)
    };
    let fixed = if place > 0 && place < len {
        let (int, frac) = digits.split_at(place as usize);
        Some(format!("{int}.{frac}"))
    } else if place >= len {
        let fixed = format!("{digits}{}.0", "0".repeat((place - len) as usize));
        (f.abs() < 9_007_199_254_740_992.0 && fixed.len() <= sci.len()).then_some(fixed)
    } else {
        let fixed = format!("0.{}{digits}", "0".repeat((-place) as usize));
        (fixed.len() <= sci.len()).then_some(fixed)
    };
    out.push_str(fixed.as_deref().unwrap_or(&sci));
}

/// Significant digits (no leading/trailing zeros) and the decimal point position `place`, such
/// that the value is `0.DIGITS × 10^place`. Accepts `123.45`, `1e20`, `1.5e-7`, `-0.001`.
fn digits_and_place(text: &str) -> Option<(String, i64)> {
    let text = text.trim_start_matches('-');
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(pos) => (
            &text[..pos],
            text[pos + 1..]
                .trim_start_matches('+')
                .parse::<i64>()
                .ok()?,
        ),
        None => (text, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all: String = int.chars().chain(frac.chars()).collect();
    if !all.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let leading = all.len() - all.trim_start_matches('0').len();
    let digits = all.trim_start_matches('0').trim_end_matches('0').to_owned();
    if digits.is_empty() {
        return None;
    }
    let place = int.len() as i64 - leading as i64 + exp;
    Some((digits, place))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_at_every_level() {
        let v = json!({"status":"ok","response":{"s":"x","arr":[1,2],"error":false}});
        assert_eq!(
            to_string(&v),
            r#"{"response":{"arr":[1,2],"error":false,"s":"x"},"status":"ok"}"#
        );
    }

    #[test]
    fn escapes_like_jason() {
        assert_eq!(
            to_string(&json!("a\"b\\c\n\u{1}é/")),
            "\"a\\\"b\\\\c\\n\\u0001é/\""
        );
    }

    #[test]
    fn floats_keep_a_fraction() {
        assert_eq!(to_string(&json!(1.5)), "1.5");
        assert_eq!(to_string(&json!(100.0)), "100.0");
        assert_eq!(to_string(&json!(1e20)), "1.0e20");
    }

    #[test]
    fn floats_print_like_erlang_short() {
        // Expected strings from float_to_list(F, [short]) on OTP 25.
        for (f, erl) in [
            (1000.0, "1.0e3"),
            (1230.0, "1230.0"),
            (1.0e15, "1.0e15"),
            (999_999_999_999_999.0, "999999999999999.0"),
            (9_007_199_254_740_992.0, "9.007199254740992e15"),
            (1_234_567_890_123_456.0, "1234567890123456.0"),
            (0.0001, "0.0001"),
            (0.00012, "1.2e-4"),
            (1.0e-5, "1.0e-5"),
            (0.15000000000000002, "0.15000000000000002"),
            (-0.0, "-0.0"),
            (-1.5e300, "-1.5e300"),
            (5.0e-324, "5.0e-324"),
        ] {
            assert_eq!(to_string(&json!(f)), erl, "{f:e}");
        }
    }
}
