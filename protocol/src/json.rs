//! JSON output with sorted object keys.
//!
//! Phoenix encodes with Jason, and Erlang keeps maps of up to 32 keys sorted, so the keys of a
//! reply come out as `{"response":…,"status":…}` and nested keys are sorted too. This writer sorts
//! keys at every level whatever `serde_json`'s map type is, so a dependency that enables
//! `preserve_order` cannot change our bytes.

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

/// Numbers as Erlang prints them: integers as-is; floats always carry a fractional part
/// (`1.0e20`, not `1e20`).
fn write_number(n: &serde_json::Number, out: &mut String) {
    let text = n.to_string();
    if n.is_f64() {
        if let Some(pos) = text.find(['e', 'E']) {
            let (mantissa, exp) = text.split_at(pos);
            out.push_str(mantissa);
            if !mantissa.contains('.') {
                out.push_str(".0");
            }
            out.push('e');
            out.push_str(exp[1..].trim_start_matches('+'));
            return;
        }
        out.push_str(&text);
        if !text.contains('.') {
            out.push_str(".0");
        }
    } else {
        out.push_str(&text);
    }
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
        assert_eq!(to_string(&json!("a\"b\\c\n\u{1}é/")), "\"a\\\"b\\\\c\\n\\u0001é/\"");
    }

    #[test]
    fn floats_keep_a_fraction() {
        assert_eq!(to_string(&json!(1.5)), "1.5");
        assert_eq!(to_string(&json!(100.0)), "100.0");
        assert_eq!(to_string(&json!(1e20)), "1.0e20");
    }
}
