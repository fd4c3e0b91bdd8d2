//! Query-string decoding as Plug does it: `a=1` is a string, `a[]=1&a[]=2` a list, `a[b]=1` a map.

use serde_json::{Map, Value};

/// Deepest `a[b][c]…` nesting decoded into maps; the rest of a deeper key stays a literal key.
/// Unbounded, a ~60 KB query of `[b]`s nests 20 000 levels and overflows the stack (the whole
/// server aborts) when the params are built or dropped.
const MAX_DEPTH: usize = 32;

/// Decodes a query string into string-keyed params.
pub(crate) fn decode_query(query: Option<&str>) -> Map<String, Value> {
    let mut params = Map::new();
    let Some(query) = query else { return params };
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        insert(&mut params, &key, Value::String(value.into_owned()), 0);
    }
    params
}

fn insert(params: &mut Map<String, Value>, key: &str, value: Value, depth: usize) {
    let Some(open) = key.find('[').filter(|_| depth < MAX_DEPTH) else {
        params.insert(key.to_owned(), value);
        return;
    };
    let (base, rest) = key.split_at(open);
    if base.is_empty() {
        params.insert(key.to_owned(), value);
        return;
    }
    let Some(close) = rest.find(']') else {
        params.insert(key.to_owned(), value);
        return;
    };
    let inner = &rest[1..close];
    let tail = &rest[close + 1..];
    if inner.is_empty() {
        let entry = params
            .entry(base.to_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        match entry {
            Value::Array(list) => list.push(value),
            other => *other = Value::Array(vec![value]),
        }
    } else {
        let entry = params
            .entry(base.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        if let Value::Object(map) = entry {
            insert(map, &format!("{inner}{tail}"), value, depth + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_like_plug() {
        let p = decode_query(Some("vsn=2.0.0&token=a%2Bb&l[]=1&l[]=2&m[k]=v"));
        assert_eq!(
            Value::Object(p),
            json!({"vsn": "2.0.0", "token": "a+b", "l": ["1", "2"], "m": {"k": "v"}})
        );
        assert_eq!(
            Value::Object(decode_query(Some("vsn[]=2.0.0"))),
            json!({"vsn": ["2.0.0"]})
        );
        assert!(decode_query(None).is_empty());
    }

    #[test]
    fn deep_nesting_is_capped_instead_of_overflowing_the_stack() {
        let query = format!("a{}=1", "[b]".repeat(20_000));
        let params = decode_query(Some(&query));
        let mut depth = 0;
        let mut v = &params["a"];
        while let Some(inner) = v.get("b") {
            depth += 1;
            v = inner;
        }
        assert_eq!(depth, MAX_DEPTH - 1);
        let rest = v.as_object().and_then(|m| m.keys().next()).unwrap();
        assert_eq!(rest.len(), "b".len() + "[b]".len() * (20_000 - MAX_DEPTH));
    }
}
