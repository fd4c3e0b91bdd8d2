//! Building and reading Erlang terms the way Elixir code expects them.
//!
//! Every term built here must reach the node exactly (tested against a real `erl` in
//! `tests/conformance/erlang_rpc.rs`). eetf 0.11 writes any list whose elements are all
//! `FixInteger < 256` as STRING_EXT, casting each to a byte without checking that it is ≥ 0, so
//! `[-1]` arrived as `[255]`. [`list`] therefore never hands eetf a `List`: a non-empty list is
//! written as LIST_EXT elements followed by a NIL_EXT tail (what `term_to_binary` writes for a
//! list that is not a byte string), which the node decodes as the same proper list.

use eetf::{Atom, BigInteger, Binary, FixInteger, ImproperList, List, Map, Term, Tuple};
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

/// A proper list, written as LIST_EXT … NIL_EXT (never STRING_EXT; see the module docs).
pub fn list(elements: Vec<Term>) -> Term {
    if elements.is_empty() {
        return List::nil().into();
    }
    ImproperList {
        elements,
        last: Box::new(List::nil().into()),
    }
    .into()
}

/// A JSON value as Elixir would see it after Jason decoding (string keys, binaries, nil).
pub fn from_json(v: &Value) -> Term {
    match v {
        Value::Null => atom("nil"),
        Value::Bool(b) => atom(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => int(i),
            // Beyond i64: still an integer, as Jason decodes it.
            (None, Some(u)) => BigInteger::from(u).into(),
            // JSON numbers are finite, so Float::try_from cannot fail here.
            (None, None) => eetf::Float::try_from(n.as_f64().unwrap_or(0.0))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(t: &Term) -> Vec<u8> {
        let mut out = Vec::new();
        t.encode(&mut out).expect("encode");
        out
    }

    #[test]
    fn lists_of_small_integers_are_never_strings() {
        // 131 = version, 108 = LIST_EXT, 98 = INTEGER_EXT, 106 = NIL_EXT.
        assert_eq!(
            bytes(&list(vec![int(-1)])),
            [131, 108, 0, 0, 0, 1, 98, 255, 255, 255, 255, 106]
        );
        assert_eq!(bytes(&list(vec![])), [131, 106]);
        let nested = list(vec![list(vec![]), list(vec![int(1)])]);
        assert_eq!(
            bytes(&nested),
            [131, 108, 0, 0, 0, 2, 106, 108, 0, 0, 0, 1, 97, 1, 106, 106]
        );
    }

    #[test]
    fn json_numbers_keep_their_kind() {
        assert!(matches!(
            from_json(&serde_json::json!(u64::MAX)),
            Term::BigInteger(_)
        ));
        assert!(matches!(
            from_json(&serde_json::json!(1i64 << 40)),
            Term::BigInteger(_)
        ));
        assert!(matches!(
            from_json(&serde_json::json!(-7)),
            Term::FixInteger(_)
        ));
        assert!(matches!(from_json(&serde_json::json!(1.0)), Term::Float(_)));
    }
}
