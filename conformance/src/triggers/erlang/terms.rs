//! Building and reading Erlang terms the way Elixir code expects them.

use eetf::{Atom, BigInteger, Binary, FixInteger, List, Map, Term, Tuple};
use serde_json::Value;

/// An atom (`nil`, `ok`, `'Elixir.Mod'`).
pub fn atom(s: &str) -> Term {
    Atom::from(s).into()
}

/// An Elixir string: an Erlang binary, not a charlist.
pub fn binary(s: &str) -> Term {
    Binary::from(s.as_bytes().to_vec()).into()
}

/// An integer: `FixInteger` holds i32 only.
pub fn int(i: i64) -> Term {
    match i32::try_from(i) {
        Ok(small) => FixInteger::from(small).into(),
        Err(_) => BigInteger::from(i).into(),
    }
}

/// A tuple.
pub fn tuple(elements: Vec<Term>) -> Term {
    Tuple::from(elements).into()
}

/// A proper list.
pub fn list(elements: Vec<Term>) -> Term {
    List::from(elements).into()
}

/// A JSON value as Elixir would see it after Jason decoding (string keys, binaries, nil).
pub fn from_json(v: &Value) -> Term {
    match v {
        Value::Null => atom("nil"),
        Value::Bool(b) => atom(if *b { "true" } else { "false" }),
        Value::Number(n) => match n.as_i64() {
            Some(i) => int(i),
            None => eetf::Float::try_from(n.as_f64().unwrap_or(0.0))
                .map(Term::from)
                .unwrap_or_else(|_| int(0)),
        },
        Value::String(s) => binary(s),
        Value::Array(a) => list(a.iter().map(from_json).collect()),
        Value::Object(o) => {
            let map: std::collections::HashMap<Term, Term> =
                o.iter().map(|(k, v)| (binary(k), from_json(v))).collect();
            Map::from(map).into()
        }
    }
}

/// The bytes of a binary (or byte list) term.
pub fn as_bytes(t: &Term) -> Option<Vec<u8>> {
    match t {
        Term::Binary(b) => Some(b.bytes.clone()),
        Term::ByteList(b) => Some(b.bytes.clone()),
        _ => None,
    }
}

/// True when `t` is the atom `name`.
pub fn is_atom(t: &Term, name: &str) -> bool {
    matches!(t, Term::Atom(a) if a.name == name)
}
