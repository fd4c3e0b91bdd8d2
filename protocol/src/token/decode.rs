//! A bounded reader of Erlang external term format into [`eetf::Term`], and the payload shapes
//! `Plug.Crypto.verify` accepts.
//!
//! eetf's own decoder panics on some input (tags 68 and 82, a bit binary with 0 tail bits), sizes
//! buffers from lengths it has not checked, recurses without limit, and reads latin-1 atoms as
//! UTF-8. A token's payload is only read after its MAC checks out, but "never panic on input"
//! still holds here: every length is checked against the bytes left, nesting is capped at
//! [`MAX_DEPTH`], and executable terms (funs) are refused as `non_executable_binary_to_term` does.
//!
//! A validly signed token is no proof of good intent (anyone holding a leaked or default key can
//! sign one), so reading is also held to a [`Budget`]: decompressed size, bytes of binaries,
//! bignums and atoms, list and tuple length, and the number of terms. Over budget is an error
//! found before the expensive work (inflating, allocating, converting a bignum), so a hostile
//! token costs microseconds, not the 15 s a 4 MiB bignum took to print.
//!
//! Accepted tags: 70, 77, 88, 89, 90, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109,
//! 110, 111, 114, 115, 116, 118, 119, 120, and 80 (zlib-compressed) right after the version byte.

use eetf::{
    Atom, BigInteger, Binary, BitBinary, ByteList, FixInteger, Float, ImproperList, List, Map, Pid,
    Port, Reference, Term, Tuple,
};
use num_bigint::{BigInt, Sign};
use std::collections::HashMap;
use std::io::Read;

/// Deepest nesting read (data nesting plus the payload tuple).
pub const MAX_DEPTH: usize = super::encode::MAX_DEPTH + 1;

/// Largest decompressed size accepted for a compressed (tag 80) term by default.
pub const MAX_UNCOMPRESSED: usize = 256 * 1024;

/// Limits on what one [`binary_to_term_with`] may read. The defaults are far above any token
/// Phoenix apps sign (a user id, a map of a few claims) and far below what hurts a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Largest decompressed size of a compressed (tag 80) term.
    pub max_uncompressed: usize,
    /// Largest sum of the bytes of binaries, bit binaries, byte lists, atoms and bignums.
    pub max_bytes: usize,
    /// Largest bignum, in bytes of magnitude (1,024 bytes is a 2,466-digit integer).
    pub max_bignum_bytes: usize,
    /// Largest element count of one list, tuple or map.
    pub max_len: usize,
    /// Largest number of terms in total.
    pub max_terms: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            max_uncompressed: MAX_UNCOMPRESSED,
            max_bytes: 256 * 1024,
            max_bignum_bytes: 1024,
            max_len: 65_536,
            max_terms: 100_000,
        }
    }
}

/// A decoded token payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    /// The signed data.
    pub data: Term,
    /// signed_at as written (Plug.Crypto writes integer milliseconds).
    pub signed: Term,
    /// The embedded max_age; None for the legacy shapes, which mean 86400.
    pub max_age: Option<Term>,
}

/// Reads a payload: `{data, signed, max_age}`, legacy `{data, signed}`, or legacy
/// `%{data: data, signed: signed}` (atom keys). None when unreadable or of another shape.
pub fn payload(bytes: &[u8]) -> Option<Payload> {
    match binary_to_term(bytes).ok()? {
        Term::Tuple(t) => {
            let mut it = t.elements.into_iter();
            match (it.next(), it.next(), it.next(), it.next()) {
                (Some(data), Some(signed), Some(max_age), None) => Some(Payload {
                    data,
                    signed,
                    max_age: Some(max_age),
                }),
                (Some(data), Some(signed), None, None) => Some(Payload {
                    data,
                    signed,
                    max_age: None,
                }),
                _ => None,
            }
        }
        Term::Map(mut m) => {
            let data = m.map.remove(&Term::from(Atom::from("data")))?;
            let signed = m.map.remove(&Term::from(Atom::from("signed")))?;
            Some(Payload {
                data,
                signed,
                max_age: None,
            })
        }
        _ => None,
    }
}

/// Why bytes are not a readable term.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TermError {
    /// The first byte is not 131.
    #[error("not external term format (version byte {0}, expected 131)")]
    Version(u8),
    /// The input ends inside a term.
    #[error("term truncated at byte {0}")]
    Truncated(usize),
    /// Bytes left over after the term.
    #[error("{0} trailing bytes after the term")]
    Trailing(usize),
    /// A tag this reader does not accept.
    #[error("unsupported tag {tag} at byte {at}")]
    Tag {
        /// The tag.
        tag: u8,
        /// Its offset.
        at: usize,
    },
    /// A fun, refused as `Plug.Crypto.non_executable_binary_to_term` does.
    #[error("executable term (fun) refused")]
    Executable,
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("term nests deeper than {MAX_DEPTH}")]
    TooDeep,
    /// A malformed value (bad sign byte, bad UTF-8 atom, non-finite float, bad bit count, …).
    #[error("malformed term: {0}")]
    Malformed(&'static str),
    /// Over one of the [`Budget`]'s limits (named here).
    #[error("term over budget: {0}")]
    OverBudget(&'static str),
}

/// `:erlang.binary_to_term/1` for the tags above (no trailing bytes allowed), within the
/// default [`Budget`].
pub fn binary_to_term(bytes: &[u8]) -> Result<Term, TermError> {
    binary_to_term_with(bytes, &Budget::default())
}

/// [`binary_to_term`] within `budget`.
pub fn binary_to_term_with(bytes: &[u8], budget: &Budget) -> Result<Term, TermError> {
    let version = *bytes.first().ok_or(TermError::Truncated(0))?;
    if version != 131 {
        return Err(TermError::Version(version));
    }
    if bytes.get(1) == Some(&80) {
        let mut r = Reader::new(bytes, budget);
        r.pos = 2;
        let size = r.u32()? as usize;
        if size > budget.max_uncompressed {
            return Err(TermError::OverBudget("decompressed size"));
        }
        let inflated = inflate(&bytes[6..], size)?;
        return read_all(&inflated, budget);
    }
    read_all(&bytes[1..], budget)
}

fn inflate(data: &[u8], size: usize) -> Result<Vec<u8>, TermError> {
    let decoder =
        libflate::zlib::Decoder::new(data).map_err(|_| TermError::Malformed("bad zlib header"))?;
    let mut out = Vec::with_capacity(size.min(64 * 1024));
    decoder
        .take(size as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| TermError::Malformed("bad zlib data"))?;
    if out.len() != size {
        return Err(TermError::Malformed("compressed size mismatch"));
    }
    Ok(out)
}

fn read_all(buf: &[u8], budget: &Budget) -> Result<Term, TermError> {
    let mut r = Reader::new(buf, budget);
    let t = r.term(0)?;
    match buf.len() - r.pos {
        0 => Ok(t),
        n => Err(TermError::Trailing(n)),
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    budget: &'a Budget,
    /// Terms read so far.
    terms: usize,
    /// Binary, atom and bignum bytes read so far.
    bytes: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], budget: &'a Budget) -> Self {
        Reader {
            buf,
            pos: 0,
            budget,
            terms: 0,
            bytes: 0,
        }
    }

    /// Takes `n` bytes that become part of the value (a binary's contents, an atom's name).
    fn take_data(&mut self, n: usize) -> Result<&'a [u8], TermError> {
        self.bytes = self.bytes.saturating_add(n);
        if self.bytes > self.budget.max_bytes {
            return Err(TermError::OverBudget("binary bytes"));
        }
        self.take(n)
    }

    /// An element count: within the budget and the bytes left (each item at least
    /// `per_item` bytes long).
    fn len(&mut self, n: usize, per_item: usize) -> Result<usize, TermError> {
        if n > self.budget.max_len {
            return Err(TermError::OverBudget("list length"));
        }
        self.count(n, per_item)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], TermError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(TermError::Truncated(self.pos))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, TermError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, TermError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, TermError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, TermError> {
        let hi = u64::from(self.u32()?);
        Ok(hi << 32 | u64::from(self.u32()?))
    }

    /// A count of items each at least one byte long, so it cannot exceed the bytes left.
    fn count(&mut self, n: usize, per_item: usize) -> Result<usize, TermError> {
        let left = self.buf.len() - self.pos;
        if n.saturating_mul(per_item) > left {
            return Err(TermError::Truncated(self.pos));
        }
        Ok(n)
    }

    fn term(&mut self, depth: usize) -> Result<Term, TermError> {
        if depth > MAX_DEPTH {
            return Err(TermError::TooDeep);
        }
        self.terms += 1;
        if self.terms > self.budget.max_terms {
            return Err(TermError::OverBudget("term count"));
        }
        let at = self.pos;
        let tag = self.u8()?;
        Ok(match tag {
            97 => Term::from(FixInteger::from(i32::from(self.u8()?))),
            98 => Term::from(FixInteger::from(self.u32()? as i32)),
            110 | 111 => {
                let n = if tag == 110 {
                    usize::from(self.u8()?)
                } else {
                    self.u32()? as usize
                };
                let sign = match self.u8()? {
                    0 => Sign::Plus,
                    1 => Sign::Minus,
                    _ => return Err(TermError::Malformed("bignum sign byte must be 0 or 1")),
                };
                if n > self.budget.max_bignum_bytes {
                    return Err(TermError::OverBudget("bignum bytes"));
                }
                let digits = self.take_data(n)?;
                let value = BigInt::from_bytes_le(sign, digits);
                // Erlang reads small values in big format too; keep them as fix integers.
                match i32::try_from(&value) {
                    Ok(i) => Term::from(FixInteger::from(i)),
                    Err(_) => Term::from(BigInteger { value }),
                }
            }
            70 => {
                let b = self.take(8)?;
                let f = f64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
                Term::from(
                    Float::try_from(f).map_err(|_| TermError::Malformed("non-finite float"))?,
                )
            }
            99 => {
                let raw = self.take(31)?;
                let text =
                    std::str::from_utf8(raw).map_err(|_| TermError::Malformed("FLOAT_EXT text"))?;
                let f: f64 = text
                    .trim_end_matches('\0')
                    .trim()
                    .parse()
                    .map_err(|_| TermError::Malformed("FLOAT_EXT text"))?;
                Term::from(
                    Float::try_from(f).map_err(|_| TermError::Malformed("non-finite float"))?,
                )
            }
            100 | 115 | 118 | 119 => Term::from(self.atom_body(tag)?),
            109 => {
                let n = self.u32()? as usize;
                Term::from(Binary::from(self.take_data(n)?))
            }
            77 => {
                let n = self.u32()? as usize;
                let bits = self.u8()?;
                let bytes = self.take_data(n)?;
                if n == 0 || !(1..=8).contains(&bits) {
                    return Err(TermError::Malformed("bit binary tail bits must be 1..=8"));
                }
                let mut bytes = bytes.to_vec();
                // eetf keeps the tail bits right-aligned in the last byte.
                if let Some(last) = bytes.last_mut() {
                    *last >>= 8 - bits;
                }
                Term::from(BitBinary::from((bytes, bits)))
            }
            106 => Term::from(List::nil()),
            107 => {
                let n = usize::from(self.u16()?);
                Term::from(ByteList::from(self.take_data(n)?.to_vec()))
            }
            108 => {
                let n = self.u32()? as usize;
                let n = self.len(n, 1)?;
                let mut elements = Vec::with_capacity(n);
                for _ in 0..n {
                    elements.push(self.term(depth + 1)?);
                }
                match self.term(depth + 1)? {
                    Term::List(tail) if tail.is_nil() => Term::from(List::from(elements)),
                    last => Term::from(ImproperList::from((elements, last))),
                }
            }
            104 | 105 => {
                let n = if tag == 104 {
                    usize::from(self.u8()?)
                } else {
                    self.u32()? as usize
                };
                let n = self.len(n, 1)?;
                let mut elements = Vec::with_capacity(n);
                for _ in 0..n {
                    elements.push(self.term(depth + 1)?);
                }
                Term::from(Tuple::from(elements))
            }
            116 => {
                let n = self.u32()? as usize;
                let n = self.len(n, 2)?;
                let mut map = HashMap::with_capacity(n);
                for _ in 0..n {
                    let k = self.term(depth + 1)?;
                    let v = self.term(depth + 1)?;
                    map.insert(k, v);
                }
                Term::from(Map::from(map))
            }
            88 | 103 => {
                let node = self.node(depth)?;
                let id = self.u32()?;
                let serial = self.u32()?;
                let creation = if tag == 88 {
                    self.u32()?
                } else {
                    u32::from(self.u8()?)
                };
                Term::from(Pid {
                    node,
                    id,
                    serial,
                    creation,
                })
            }
            89 | 102 | 120 => {
                let node = self.node(depth)?;
                let id = if tag == 120 {
                    self.u64()?
                } else {
                    u64::from(self.u32()?)
                };
                let creation = if tag == 102 {
                    u32::from(self.u8()?)
                } else {
                    self.u32()?
                };
                Term::from(Port { node, id, creation })
            }
            101 => {
                let node = self.node(depth)?;
                let id = vec![self.u32()?];
                let creation = u32::from(self.u8()?);
                Term::from(Reference { node, id, creation })
            }
            90 | 114 => {
                let n = usize::from(self.u16()?);
                let node = self.node(depth)?;
                let creation = if tag == 90 {
                    self.u32()?
                } else {
                    u32::from(self.u8()?)
                };
                let n = self.count(n, 4)?;
                let mut id = Vec::with_capacity(n);
                for _ in 0..n {
                    id.push(self.u32()?);
                }
                Term::from(Reference { node, id, creation })
            }
            112 | 113 | 117 => return Err(TermError::Executable),
            other => return Err(TermError::Tag { tag: other, at }),
        })
    }

    fn node(&mut self, depth: usize) -> Result<Atom, TermError> {
        match self.term(depth + 1)? {
            Term::Atom(a) => Ok(a),
            _ => Err(TermError::Malformed("node name must be an atom")),
        }
    }

    fn atom_body(&mut self, tag: u8) -> Result<Atom, TermError> {
        let n = if tag == 115 || tag == 119 {
            usize::from(self.u8()?)
        } else {
            usize::from(self.u16()?)
        };
        let raw = self.take_data(n)?;
        let name = if tag == 100 || tag == 115 {
            // Latin-1: every byte is the code point of the same value.
            raw.iter().map(|&b| char::from(b)).collect()
        } else {
            std::str::from_utf8(raw)
                .map_err(|_| TermError::Malformed("atom is not UTF-8"))?
                .to_owned()
        };
        Ok(Atom { name })
    }
}
