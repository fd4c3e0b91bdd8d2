//! Decoded terms → JSON: a total, documented mapping (what [`super::verify`] returns).
//!
//! It follows what Jason would print for the term, and gives a form to what Jason refuses:
//!
//! | term | JSON |
//! |---|---|
//! | `nil`, `true`, `false` | `null`, `true`, `false` |
//! | any other atom | its name as a string (`:admin` → `"admin"`, as Jason does) |
//! | integer | number; beyond the 64-bit range, a float (precision lost), or its decimal string if even that overflows |
//! | float | number |
//! | binary | string (invalid UTF-8 replaced by U+FFFD) |
//! | bit binary | its bytes as a string, like a binary |
//! | list, "string" (tag 107) | array (a charlist stays an array of integers, as Jason prints it) |
//! | improper list `[a, b \| t]` | array `[a, b, t]` |
//! | tuple | array |
//! | map | object; keys: binaries and atoms as text, numbers as printed, anything else as its compact JSON |
//! | pid, port, reference | string in Erlang notation (e.g. `"<node@host.1.2>"` from eetf) |
//!
//! If two keys map to the same text, the one whose value prints last in sorted order wins, so the
//! result does not depend on hash order.

use eetf::Term;
use num_traits::ToPrimitive;
use serde_json::{Map, Number, Value};

/// Maps a decoded term to JSON (see the module docs).
pub fn term_to_json(t: &Term) -> Value {
    match t {
        Term::Atom(a) => match a.name.as_str() {
            "nil" => Value::Null,
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            name => Value::String(name.to_owned()),
        },
        Term::FixInteger(i) => Value::from(i.value),
        Term::BigInteger(b) => {
            if let Some(i) = b.value.to_i64() {
                Value::from(i)
            } else if let Some(u) = b.value.to_u64() {
                Value::from(u)
            } else {
                match b.value.to_f64().and_then(Number::from_f64) {
                    Some(n) => Value::Number(n),
                    None => Value::String(b.value.to_string()),
                }
            }
        }
        Term::Float(f) => Number::from_f64(f.value).map_or(Value::Null, Value::Number),
        Term::Binary(b) => Value::String(String::from_utf8_lossy(&b.bytes).into_owned()),
        Term::BitBinary(b) => Value::String(String::from_utf8_lossy(&b.bytes).into_owned()),
        Term::ByteList(l) => Value::Array(l.bytes.iter().map(|&b| Value::from(b)).collect()),
        Term::List(l) => Value::Array(l.elements.iter().map(term_to_json).collect()),
        Term::ImproperList(l) => {
            let mut items: Vec<Value> = l.elements.iter().map(term_to_json).collect();
            items.push(term_to_json(&l.last));
            Value::Array(items)
        }
        Term::Tuple(t) => Value::Array(t.elements.iter().map(term_to_json).collect()),
        Term::Map(m) => {
            let mut entries: Vec<(String, Value)> = m
                .map
                .iter()
                .map(|(k, v)| (key_text(k), term_to_json(v)))
                .collect();
            entries.sort_by(|a, b| {
                a.0.cmp(&b.0)
                    .then_with(|| crate::json::to_string(&a.1).cmp(&crate::json::to_string(&b.1)))
            });
            let mut out = Map::new();
            for (k, v) in entries {
                out.insert(k, v);
            }
            Value::Object(out)
        }
        Term::Pid(p) => Value::String(p.to_string()),
        Term::Port(p) => Value::String(p.to_string()),
        Term::Reference(r) => Value::String(r.to_string()),
        // The reader refuses funs; should one be built by hand, it prints as text.
        Term::ExternalFun(f) => Value::String(f.to_string()),
        Term::InternalFun(f) => Value::String(f.to_string()),
    }
}

fn key_text(k: &Term) -> String {
    match term_to_json(k) {
        Value::String(s) => s,
        // Atoms nil/true/false as keys print their names, as Jason does for atom keys.
        Value::Null => "nil".to_owned(),
        other => crate::json::to_string(&other),
    }
}
