//! Checks of a GraphQL document that run before async-graphql sees it, each linear in the size of
//! the document: its size, a lexical pass counting tokens and bracket nesting (so the parser never
//! recurses deeply or works on a huge input), and, once parsed, the size of every operation with
//! its fragments expanded, computed once per fragment (async-graphql's own depth, complexity and
//! recursion checks expand fragments afresh at every spread, which a document that doubles its
//! size with each fragment would make exponential).

use std::collections::HashMap;

use async_graphql::parser::Positioned;
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

use crate::config::LimitsSettings;

/// Why a document was refused; the message names the limit's setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exceeded(pub String);

/// The document's size, token count and bracket nesting, before parsing.
pub(crate) fn check_text(query: &str, limits: &LimitsSettings) -> Result<(), Exceeded> {
    if query.len() > limits.document_bytes {
        return Err(Exceeded(format!(
            "the GraphQL document is {} bytes; at most {} are accepted (limits.document_bytes)",
            query.len(),
            limits.document_bytes
        )));
    }
    let max_nesting = limits
        .depth
        .max(limits.introspection_depth)
        .max(limits.recursive_depth)
        + 32;
    let mut tokens = 0usize;
    let mut nesting = 0usize;
    let bytes = query.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let (token, next) = lex(bytes, i);
        i = next;
        match token {
            Lexeme::Ignored => continue,
            Lexeme::Open => {
                nesting += 1;
                if nesting > max_nesting {
                    return Err(Exceeded(format!(
                        "the GraphQL document nests brackets more than {max_nesting} deep \
                         (limits.depth)"
                    )));
                }
            }
            Lexeme::Close => nesting = nesting.saturating_sub(1),
            Lexeme::Other => {}
        }
        tokens += 1;
        if tokens > limits.tokens {
            return Err(Exceeded(format!(
                "the GraphQL document has more than {} tokens (limits.tokens)",
                limits.tokens
            )));
        }
    }
    Ok(())
}

/// What the lexical pass tells apart.
enum Lexeme {
    /// White space, line terminators, commas, a byte-order mark's bytes, comments: not tokens.
    Ignored,
    /// `{`, `[` or `(`.
    Open,
    /// `}`, `]` or `)`.
    Close,
    /// Any other token: a name, number, string, spread or punctuator.
    Other,
}

/// The lexeme starting at `i`, and where the next one starts.
fn lex(bytes: &[u8], mut i: usize) -> (Lexeme, usize) {
    let at = |i: usize| bytes.get(i).copied();
    let lexeme = match bytes[i] {
        b' ' | b'\t' | b'\n' | b'\r' | b',' | 0xEF | 0xBB | 0xBF => {
            return (Lexeme::Ignored, i + 1);
        }
        b'#' => {
            while at(i).is_some_and(|b| b != b'\n' && b != b'\r') {
                i += 1;
            }
            return (Lexeme::Ignored, i);
        }
        b'"' if bytes[i..].starts_with(b"\"\"\"") => {
            i += 3;
            while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                i += if bytes[i..].starts_with(b"\\\"\"\"") {
                    4
                } else {
                    1
                };
            }
            i += 3;
            Lexeme::Other
        }
        b'"' => {
            i += 1;
            while at(i).is_some_and(|b| b != b'"' && b != b'\n') {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            Lexeme::Other
        }
        b'.' if bytes[i..].starts_with(b"...") => {
            i += 3;
            Lexeme::Other
        }
        b'{' | b'[' | b'(' => {
            i += 1;
            Lexeme::Open
        }
        b'}' | b']' | b')' => {
            i += 1;
            Lexeme::Close
        }
        b'_' | b'a'..=b'z' | b'A'..=b'Z' => {
            i += 1;
            while at(i).is_some_and(|b| b == b'_' || b.is_ascii_alphanumeric()) {
                i += 1;
            }
            Lexeme::Other
        }
        b'0'..=b'9' | b'-' => {
            i += 1;
            while at(i)
                .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'))
            {
                i += 1;
            }
            Lexeme::Other
        }
        _ => {
            i += 1;
            Lexeme::Other
        }
    };
    (lexeme, i)
}

/// Every operation's and fragment's selections with fragments expanded (each field, alias and
/// spread counts one) must stay within `limits.complexity`, and no fragment may spread itself.
pub(crate) fn check_expansion(
    doc: &ExecutableDocument,
    limits: &LimitsSettings,
) -> Result<(), Exceeded> {
    let mut sizes: HashMap<&str, Option<usize>> = HashMap::new();
    let too_many = |n: usize| {
        Exceeded(format!(
            "the operation selects {n} or more fields counting aliases, repetitions and fragment \
             expansions; at most {} are accepted (limits.complexity)",
            limits.complexity
        ))
    };
    for name in doc.fragments.keys() {
        let n = fragment_size(doc, name.as_str(), &mut sizes)?;
        if n > limits.complexity {
            return Err(too_many(n));
        }
    }
    for (_, operation) in doc.operations.iter() {
        let n = set_size(doc, &operation.node.selection_set, &mut sizes)?;
        if n > limits.complexity {
            return Err(too_many(n));
        }
    }
    Ok(())
}

fn fragment_size<'a>(
    doc: &'a ExecutableDocument,
    name: &'a str,
    sizes: &mut HashMap<&'a str, Option<usize>>,
) -> Result<usize, Exceeded> {
    match sizes.get(name) {
        Some(Some(n)) => return Ok(*n),
        Some(None) => {
            return Err(Exceeded(format!(
                "fragment {name} spreads itself (limits.recursive_depth)"
            )));
        }
        None => {}
    }
    let Some((key, fragment)) = doc.fragments.get_key_value(name) else {
        // An unknown fragment is reported by validation.
        return Ok(0);
    };
    sizes.insert(key.as_str(), None);
    let n = set_size(doc, &fragment.node.selection_set, sizes)?;
    sizes.insert(key.as_str(), Some(n));
    Ok(n)
}

fn set_size<'a>(
    doc: &'a ExecutableDocument,
    set: &'a Positioned<SelectionSet>,
    sizes: &mut HashMap<&'a str, Option<usize>>,
) -> Result<usize, Exceeded> {
    let mut total = 0usize;
    for item in &set.node.items {
        let n = match &item.node {
            Selection::Field(field) => {
                1usize.saturating_add(set_size(doc, &field.node.selection_set, sizes)?)
            }
            Selection::FragmentSpread(spread) => 1usize.saturating_add(fragment_size(
                doc,
                spread.node.fragment_name.node.as_str(),
                sizes,
            )?),
            Selection::InlineFragment(inline) => set_size(doc, &inline.node.selection_set, sizes)?,
        };
        total = total.saturating_add(n);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> LimitsSettings {
        LimitsSettings {
            tokens: 50,
            document_bytes: 1000,
            complexity: 100,
            ..LimitsSettings::default()
        }
    }

    #[test]
    fn counts_tokens_not_ignored_characters() {
        let query =
            "# a comment with many words , , ,\n{ a(x: \"a long string, with words\") { b c } }";
        assert_eq!(check_text(query, &limits()), Ok(()));
        let many = format!("{{ {} }}", "a ".repeat(60));
        assert!(check_text(&many, &limits()).is_err());
        let block = format!("{{ a(x: \"\"\"{}\\\"\"\" \"\"\") }}", "w ".repeat(200));
        assert_eq!(check_text(&block, &limits()), Ok(()));
    }

    #[test]
    fn refuses_large_and_deeply_nested_documents() {
        assert!(check_text(&" ".repeat(1001), &limits()).is_err());
        let deep = format!("{}{}", "{a".repeat(80), "}".repeat(80));
        let big = LimitsSettings {
            tokens: 10_000,
            ..limits()
        };
        let error = check_text(&deep, &big).expect_err("refused");
        assert!(error.0.contains("nests"), "{error:?}");
    }

    #[test]
    fn expands_fragments_once_each_and_refuses_bombs_and_cycles() {
        let mut bomb = String::from("query { ...F30 } fragment F0 on Query { me { role } }");
        for i in 1..=30 {
            bomb.push_str(&format!(
                " fragment F{i} on Query {{ ...F{p} ...F{p} }}",
                p = i - 1
            ));
        }
        let doc = async_graphql::parser::parse_query(&bomb).expect("parses");
        assert!(check_expansion(&doc, &limits()).is_err());

        let cycle = "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }";
        let doc = async_graphql::parser::parse_query(cycle).expect("parses");
        let error = check_expansion(&doc, &limits()).expect_err("refused");
        assert!(error.0.contains("spreads itself"), "{error:?}");

        let fine = "query { ...A ...A } fragment A on Query { me { role } }";
        let doc = async_graphql::parser::parse_query(fine).expect("parses");
        assert_eq!(check_expansion(&doc, &limits()), Ok(()));
    }
}
