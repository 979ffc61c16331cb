//! The GVariant text form of `org.systemd.property.NAME` annotation values, as
//! runc documents them (`uint64 123`, `true`, `'string'`, `@as ['a', 'b']`):
//! the subset a unit property takes, parsed into a [`PropValue`].

use super::properties::PropValue;

/// Parse one GVariant text value.
pub fn parse(text: &str) -> Result<PropValue, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty value".into());
    }
    let (ty, rest) = split_type(t);
    match ty {
        Some(ty) => typed(ty, rest.trim()),
        None => untyped(t),
    }
}

/// `uint64 123` / `@t 123` -> (Some("t"), "123"); anything else -> (None, t).
fn split_type(t: &str) -> (Option<&'static str>, &str) {
    const WORDS: [(&str, &str); 10] = [
        ("boolean", "b"),
        ("byte", "y"),
        ("int16", "n"),
        ("uint16", "q"),
        ("int32", "i"),
        ("uint32", "u"),
        ("int64", "x"),
        ("uint64", "t"),
        ("double", "d"),
        ("string", "s"),
    ];
    for (word, code) in WORDS {
        if let Some(rest) = t.strip_prefix(word) {
            if rest.starts_with(char::is_whitespace) {
                return (Some(code), rest);
            }
        }
    }
    if let Some(rest) = t.strip_prefix('@') {
        for code in [
            "as", "ay", "au", "b", "y", "n", "q", "i", "u", "x", "t", "d", "s",
        ] {
            if let Some(after) = rest.strip_prefix(code) {
                if after.is_empty() || after.starts_with(char::is_whitespace) {
                    return (Some(code), after);
                }
            }
        }
    }
    (None, t)
}

fn number<T: std::str::FromStr>(s: &str, ty: &str) -> Result<T, String> {
    let parsed = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16)
            .ok()
            .and_then(|n| n.to_string().parse().ok())
    } else {
        s.parse().ok()
    };
    parsed.ok_or_else(|| format!("{s:?} is not a valid {ty}"))
}

fn typed(ty: &str, v: &str) -> Result<PropValue, String> {
    Ok(match ty {
        "b" => PropValue::Bool(boolean(v)?),
        "y" => PropValue::Byte(number(v, "byte")?),
        "n" => PropValue::I16(number(v, "int16")?),
        "q" => PropValue::U16(number(v, "uint16")?),
        "i" => PropValue::I32(number(v, "int32")?),
        "u" => PropValue::U32(number(v, "uint32")?),
        "x" => PropValue::I64(number(v, "int64")?),
        "t" => PropValue::U64(number(v, "uint64")?),
        "d" => PropValue::F64(number(v, "double")?),
        "s" => PropValue::Str(string(v)?),
        "as" => PropValue::StrList(list(v, string)?),
        "au" => PropValue::U32List(list(v, |s| number(s, "uint32"))?),
        "ay" => PropValue::Bytes(list(v, |s| number(s, "byte"))?),
        _ => return Err(format!("type @{ty} is not supported")),
    })
}

fn untyped(t: &str) -> Result<PropValue, String> {
    if t == "true" || t == "false" {
        return Ok(PropValue::Bool(t == "true"));
    }
    if t.starts_with('\'') || t.starts_with('"') {
        return Ok(PropValue::Str(string(t)?));
    }
    if t.starts_with('[') {
        return Ok(PropValue::StrList(list(t, string)?));
    }
    if t.contains(['.', 'e', 'E']) && !t.starts_with("0x") {
        return Ok(PropValue::F64(number(t, "double")?));
    }
    // GVariant's untyped integer is an int32.
    Ok(PropValue::I32(number(t, "int32")?))
}

fn boolean(v: &str) -> Result<bool, String> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!("{other:?} is not a boolean (true or false)")),
    }
}

/// A quoted string ('…' or "…") with GVariant's backslash escapes.
fn string(v: &str) -> Result<String, String> {
    let v = v.trim();
    let quote = v.chars().next().filter(|c| *c == '\'' || *c == '"');
    let Some(q) = quote else {
        return Err(format!("{v:?} is not a quoted string"));
    };
    let inner = &v[1..];
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => return Err(format!("{v:?} ends in a backslash")),
            },
            c if c == q => {
                if chars.as_str().trim().is_empty() {
                    return Ok(out);
                }
                return Err(format!("{v:?}: text after the closing quote"));
            }
            c => out.push(c),
        }
    }
    Err(format!("{v:?} has no closing quote"))
}

/// `[a, b, …]` with each element parsed by `item` (quotes respected).
fn list<T>(v: &str, item: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    let v = v.trim();
    let inner = v
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(|| format!("{v:?} is not a list [ … ]"))?;
    let mut parts = Vec::new();
    let (mut cur, mut quote) = (String::new(), None);
    let mut escaped = false;
    for c in inner.chars() {
        match (quote, c) {
            (Some(_), '\\') if !escaped => {
                escaped = true;
                cur.push(c);
                continue;
            }
            (Some(q), c) if c == q && !escaped => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None, ',') => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        escaped = false;
        cur.push(c);
    }
    if quote.is_some() {
        return Err(format!("{v:?} has an unclosed quote"));
    }
    if !cur.trim().is_empty() || !parts.is_empty() {
        parts.push(cur);
    }
    parts.iter().map(|p| item(p.trim())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_and_untyped_values() {
        assert_eq!(parse("uint64 123").unwrap(), PropValue::U64(123));
        assert_eq!(parse("@t 123").unwrap(), PropValue::U64(123));
        assert_eq!(parse("int64 -5").unwrap(), PropValue::I64(-5));
        assert_eq!(parse("uint32 0x10").unwrap(), PropValue::U32(16));
        assert_eq!(parse("true").unwrap(), PropValue::Bool(true));
        assert_eq!(parse("boolean false").unwrap(), PropValue::Bool(false));
        assert_eq!(parse("42").unwrap(), PropValue::I32(42));
        assert_eq!(parse("1.5").unwrap(), PropValue::F64(1.5));
        assert!(parse("'it''s'").is_err());
        assert_eq!(parse("'a b'").unwrap(), PropValue::Str("a b".into()));
        assert_eq!(parse("\"x\\\"y\"").unwrap(), PropValue::Str("x\"y".into()));
        assert_eq!(
            parse("@as ['a', 'b,c']").unwrap(),
            PropValue::StrList(vec!["a".into(), "b,c".into()])
        );
        assert_eq!(
            parse("['x']").unwrap(),
            PropValue::StrList(vec!["x".into()])
        );
        assert_eq!(parse("@as []").unwrap(), PropValue::StrList(vec![]));
        assert_eq!(parse("@au [1, 2]").unwrap(), PropValue::U32List(vec![1, 2]));
    }

    #[test]
    fn bad_values_say_why() {
        assert!(parse("").is_err());
        assert!(parse("uint64 -1")
            .unwrap_err()
            .contains("not a valid uint64"));
        assert!(parse("byte 300").is_err());
        assert!(parse("'open").unwrap_err().contains("no closing quote"));
        assert!(parse("banana").is_err());
        assert!(parse("@v 1").is_err());
    }
}
