//! Turning IDL names into Rust names.

/// Rust keywords (strict and reserved) that need `r#` as identifiers.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "static", "struct", "super", "trait", "true", "type", "unsafe", "use",
    "where", "while", "abstract", "become", "box", "do", "final", "macro", "override", "priv",
    "try", "typeof", "unsized", "virtual", "yield",
];

/// Words that cannot be raw identifiers either.
const NOT_RAW: &[&str] = &["self", "Self", "super", "crate", "_"];

fn words(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    for i in 0..chars.len() {
        let c = chars[i];
        if c == '_' || !c.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if c.is_ascii_uppercase() && !cur.is_empty() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let digit_run = prev.is_ascii_digit() && cur.chars().any(|c| c.is_ascii_alphabetic());
            if prev.is_ascii_lowercase() || (prev.is_ascii_uppercase() && next_lower) || digit_run {
                out.push(std::mem::take(&mut cur));
            }
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `nvldbentry` → `Nvldbentry`, `ubik_debug` → `UbikDebug`, `AFSFid` → `AfsFid`.
pub(crate) fn camel(s: &str) -> String {
    let mut out = String::new();
    for w in words(s) {
        let mut cs = w.chars();
        if let Some(f) = cs.next() {
            out.push(f.to_ascii_uppercase());
            out.extend(cs.map(|c| c.to_ascii_lowercase()));
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'T');
    }
    out
}

/// `nServers` → `n_servers`, `GetEntryByNameN` → `get_entry_by_name_n`.
pub(crate) fn snake(s: &str) -> String {
    let w: Vec<String> = words(s)
        .into_iter()
        .map(|w| w.to_ascii_lowercase())
        .collect();
    let mut out = w.join("_");
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// `GetEntryByNameN` → `GET_ENTRY_BY_NAME_N`.
pub(crate) fn screaming(s: &str) -> String {
    snake(s).to_ascii_uppercase()
}

/// The identifier as Rust source: `r#type` for keywords, `self_` for the unusable ones.
pub(crate) fn ident(s: &str) -> String {
    if NOT_RAW.contains(&s) {
        format!("{s}_")
    } else if KEYWORDS.contains(&s) {
        format!("r#{s}")
    } else {
        s.to_string()
    }
}

/// Whether `s` is usable verbatim as a Rust identifier (ASCII, not a keyword).
pub(crate) fn is_plain_ident(s: &str) -> bool {
    !s.is_empty()
        && s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s != "_"
        && !KEYWORDS.contains(&s)
        && !NOT_RAW.contains(&s)
}

/// Enum variant names with a prefix shared by all members removed (`RXGK_LEVEL_CLEAR`,
/// `RXGK_LEVEL_AUTH` → `Clear`, `Auth`), if every name keeps a valid start.
pub(crate) fn strip_common_prefix(members: &[(String, String, i64)]) -> Vec<String> {
    let all: Vec<String> = members.iter().map(|m| m.1.clone()).collect();
    if members.len() < 2 {
        return all;
    }
    // Split the original IDL names on '_' and find the shared leading words.
    let split: Vec<Vec<&str>> = members.iter().map(|m| m.0.split('_').collect()).collect();
    let mut k = 0;
    'outer: while let Some(w) = split[0].get(k) {
        for s in &split {
            if s.get(k) != Some(w) || s.len() <= k + 1 {
                break 'outer;
            }
        }
        k += 1;
    }
    if k == 0 {
        return all;
    }
    let out: Vec<String> = split.iter().map(|s| camel(&s[k..].join("_"))).collect();
    let unique: std::collections::HashSet<&String> = out.iter().collect();
    let digit = split
        .iter()
        .any(|s| s[k].starts_with(|c: char| c.is_ascii_digit()));
    if unique.len() != out.len() || digit {
        return all;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(camel("nvldbentry"), "Nvldbentry");
        assert_eq!(camel("ubik_debug"), "UbikDebug");
        assert_eq!(camel("AFSFid"), "AfsFid");
        assert_eq!(camel("VldbListByAttributes"), "VldbListByAttributes");
        assert_eq!(camel("RXGK_Level"), "RxgkLevel");
        assert_eq!(snake("nServers"), "n_servers");
        assert_eq!(snake("GetEntryByNameN"), "get_entry_by_name_n");
        assert_eq!(snake("ListAttributesN2"), "list_attributes_n2");
        assert_eq!(snake("IDToName"), "id_to_name");
        assert_eq!(snake("XSDebug"), "xs_debug");
        assert_eq!(snake("GetCPS2"), "get_cps2");
        assert_eq!(snake("spares3"), "spares3");
        assert_eq!(snake("Length_hi"), "length_hi");
        assert_eq!(screaming("GetEntryByNameN"), "GET_ENTRY_BY_NAME_N");
        assert_eq!(ident("type"), "r#type");
        assert_eq!(ident("self"), "self_");
    }
}
