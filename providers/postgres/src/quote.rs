//! Quoting for the few places where SQL cannot take parameters (DDL: `CREATE ROLE`,
//! `CREATE DATABASE`, `ALTER ... OWNER TO`, `PASSWORD '...'`).
//!
//! Every identifier is validated with [`provisio::validate::pg_identifier`] first (1 to 63
//! bytes, no NUL, no `pg_` prefix) and then *always* quoted, so a name is taken exactly as
//! written — case, spaces, quotes, semicolons and non-ASCII characters included — and can never
//! end the identifier early. Lookups (`WHERE rolname = $1`) use bind parameters instead.

/// `name` as a quoted SQL identifier: wrapped in `"` with every `"` doubled.
///
/// The caller must have validated `name` (no NUL byte: PostgreSQL cannot store one, and the
/// wire protocol would cut the statement there).
pub(crate) fn ident(name: &str) -> String {
    debug_assert!(
        !name.contains('\0'),
        "identifiers are validated before quoting"
    );
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `value` as a SQL string literal, the way libpq's `PQescapeLiteral` writes it: wrapped in
/// `'` with every `'` doubled; when it holds a backslash, every `\` is doubled too and the
/// literal gets the `E` prefix, so it reads the same whatever `standard_conforming_strings`
/// says.
pub(crate) fn literal(value: &str) -> String {
    debug_assert!(!value.contains('\0'), "literals never hold NUL");
    let backslash = value.contains('\\');
    let mut out = String::with_capacity(value.len() + 3);
    if backslash {
        out.push_str(" E");
    }
    out.push('\'');
    for c in value.chars() {
        if c == '\'' || c == '\\' {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_always_quoted() {
        assert_eq!(ident("acme"), "\"acme\"");
        assert_eq!(ident("Acme Corp"), "\"Acme Corp\"");
        assert_eq!(ident("pt-role-1"), "\"pt-role-1\"");
        assert_eq!(
            ident("x\"; DROP TABLE canary; --"),
            "\"x\"\"; DROP TABLE canary; --\""
        );
        assert_eq!(ident("\""), "\"\"\"\"");
        assert_eq!(ident("ünïcödé-ロール"), "\"ünïcödé-ロール\"");
        assert_eq!(ident("a'b\\c"), "\"a'b\\c\"");
    }

    #[test]
    fn quoted_identifier_has_balanced_quotes() {
        for name in ["a", "\"", "\"\"", "a\"b\"c", "\";--", "end\""] {
            let q = ident(name);
            let inner = &q[1..q.len() - 1];
            // Inside, quotes only come in pairs: nothing can close the identifier early.
            assert_eq!(inner.replace("\"\"", "").matches('"').count(), 0, "{q}");
            assert_eq!(inner.replace("\"\"", "\""), name);
        }
    }

    #[test]
    fn literals() {
        assert_eq!(literal("abc"), "'abc'");
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(literal("a\\b"), " E'a\\\\b'");
        assert_eq!(literal("'; DROP TABLE x; --"), "'''; DROP TABLE x; --'");
        assert_eq!(
            literal("SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy"),
            "'SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy'"
        );
    }
}
