//! JSON data → Erlang external term format, the bytes `:erlang.term_to_binary/1` gives for the
//! term Phoenix holds after decoding the same JSON.
//!
//! | JSON | term | tag |
//! |---|---|---|
//! | `null`, `true`, `false` | atoms `nil`, `true`, `false` | 100 or 119 ([`AtomEncoding`]) |
//! | integer 0..=255 | small integer | 97 |
//! | integer in i32 | integer | 98 |
//! | other integers (i64/u64) | bignum | 110 |
//! | float | float | 70 |
//! | string | binary | 109 |
//! | `[]` | nil | 106 |
//! | array of integers 0..=255, up to 65535 long | "string" | 107 |
//! | other arrays | list | 108 … 106 |
//! | object | map with binary keys | 116 |
//!
//! Leaves are written by `eetf`. Containers are written here: `eetf::Map` is a `HashMap`, so its
//! entry order (and the token) would change run to run, while Erlang writes a map of up to 32 keys
//! in key order; and eetf writes a list of negative integers as a string. Objects are written
//! with keys sorted bytewise, which equals Erlang for up to 32 keys. A larger Erlang map is a HAMT
//! written in hash order that this module does not reproduce: such a token still verifies in
//! Phoenix, but its bytes differ from the ones Phoenix would sign.
//!
//! JSON integers beyond the 64-bit range reach this module as floats (serde_json's number model).

use super::{AtomEncoding, MaxAge, SignError};
use eetf::{Atom, BigInteger, Binary, FixInteger, Float, Term};
use serde_json::Value;

/// Deepest nesting of data that [`payload`] writes (the reader allows one more level for the
/// payload tuple).
pub const MAX_DEPTH: usize = 128;

const VERSION: u8 = 131;
const SMALL_TUPLE_EXT: u8 = 104;
const NIL_EXT: u8 = 106;
const STRING_EXT: u8 = 107;
const LIST_EXT: u8 = 108;
const MAP_EXT: u8 = 116;
const ATOM_EXT: u8 = 100;

/// `term_to_binary({data, signed_at_ms, max_age})`.
pub fn payload(
    data: &Value,
    signed_at_ms: i64,
    max_age: MaxAge,
    atoms: AtomEncoding,
) -> Result<Vec<u8>, SignError> {
    let mut w = Writer {
        out: Vec::with_capacity(64),
        atoms,
    };
    w.out.extend_from_slice(&[VERSION, SMALL_TUPLE_EXT, 3]);
    w.value(data, 0)?;
    w.integer(i128::from(signed_at_ms));
    match max_age {
        MaxAge::Seconds(s) => w.integer(i128::from(s)),
        MaxAge::SecondsF64(f) => w.float(f).ok_or(SignError::InvalidMaxAge(f))?,
        MaxAge::Infinity => w.atom("infinity"),
    }
    Ok(w.out)
}

/// `term_to_binary(data)` alone (version byte included), for tests and tools.
pub fn term(data: &Value, atoms: AtomEncoding) -> Result<Vec<u8>, SignError> {
    let mut w = Writer {
        out: vec![VERSION],
        atoms,
    };
    w.value(data, 0)?;
    Ok(w.out)
}

struct Writer {
    out: Vec<u8>,
    atoms: AtomEncoding,
}

impl Writer {
    fn value(&mut self, v: &Value, depth: usize) -> Result<(), SignError> {
        if depth >= MAX_DEPTH {
            return Err(SignError::TooDeep { limit: MAX_DEPTH });
        }
        match v {
            Value::Null => self.atom("nil"),
            Value::Bool(true) => self.atom("true"),
            Value::Bool(false) => self.atom("false"),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    self.integer(i128::from(i));
                } else if let Some(u) = n.as_u64() {
                    self.integer(i128::from(u));
                } else if let Some(f) = n.as_f64() {
                    // serde_json numbers are always finite.
                    self.float(f).ok_or(SignError::InvalidMaxAge(f))?;
                }
            }
            Value::String(s) => self.leaf(&Term::from(Binary::from(s.as_bytes()))),
            Value::Array(items) => self.list(items, depth)?,
            Value::Object(map) => {
                let len = u32::try_from(map.len()).map_err(|_| SignError::TooLarge)?;
                self.out.push(MAP_EXT);
                self.out.extend_from_slice(&len.to_be_bytes());
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                for (k, val) in entries {
                    self.leaf(&Term::from(Binary::from(k.as_bytes())));
                    self.value(val, depth + 1)?;
                }
            }
        }
        Ok(())
    }

    fn list(&mut self, items: &[Value], depth: usize) -> Result<(), SignError> {
        if items.is_empty() {
            self.out.push(NIL_EXT);
            return Ok(());
        }
        let as_byte = |v: &Value| v.as_u64().and_then(|u| u8::try_from(u).ok());
        if items.len() <= usize::from(u16::MAX) && items.iter().all(|v| as_byte(v).is_some()) {
            self.out.push(STRING_EXT);
            self.out
                .extend_from_slice(&(items.len() as u16).to_be_bytes());
            self.out.extend(items.iter().filter_map(as_byte));
            return Ok(());
        }
        let len = u32::try_from(items.len()).map_err(|_| SignError::TooLarge)?;
        self.out.push(LIST_EXT);
        self.out.extend_from_slice(&len.to_be_bytes());
        for item in items {
            self.value(item, depth + 1)?;
        }
        self.out.push(NIL_EXT);
        Ok(())
    }

    fn integer(&mut self, i: i128) {
        let term = match i32::try_from(i) {
            Ok(small) => Term::from(FixInteger::from(small)),
            Err(_) => Term::from(BigInteger {
                value: num_bigint::BigInt::from(i),
            }),
        };
        self.leaf(&term);
    }

    fn float(&mut self, f: f64) -> Option<()> {
        let term = Term::from(Float::try_from(f).ok()?);
        self.leaf(&term);
        Some(())
    }

    fn atom(&mut self, name: &str) {
        match self.atoms {
            AtomEncoding::Utf8 => self.leaf(&Term::from(Atom::from(name))),
            AtomEncoding::Latin1 => {
                // Only our own ASCII names reach here, so the u16 length always fits.
                self.out.push(ATOM_EXT);
                self.out
                    .extend_from_slice(&(name.len() as u16).to_be_bytes());
                self.out.extend_from_slice(name.as_bytes());
            }
        }
    }

    /// Writes a leaf term with eetf, minus the version byte eetf puts in front.
    fn leaf(&mut self, term: &Term) {
        let start = self.out.len();
        // Writing to a Vec cannot fail, and leaves here are never too long for their tag.
        if term.encode(&mut self.out).is_ok() && self.out.get(start) == Some(&VERSION) {
            self.out.remove(start);
        }
    }
}
