//! What the provider needs to know about a config.xml: whether it is well-formed, its root
//! element, and whether two configs mean the same to Jenkins.
//!
//! Jenkins re-serializes a job's configuration when it saves it (XStream): the declaration
//! becomes `<?xml version='1.1' encoding='UTF-8'?>`, elements gain `plugin="name@version"`
//! attributes, indentation and quoting change, comments disappear. Comparing bytes would then
//! report every `ensure_job` as an update; so two configs are *equivalent* when they are
//! byte-for-byte equal, or when their canonical forms are equal: the same elements in the same
//! order with the same attributes (in any order, quoting and escaping resolved, `plugin`
//! ignored) and the same text, where whitespace-only text between elements, comments,
//! processing instructions, the declaration and the doctype do not count, `<a/>` equals
//! `<a></a>`, and CDATA equals the escaped text it stands for.

use provisio::{Error, Result};
use quick_xml::Reader;
use quick_xml::events::Event;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Start(String, Vec<(String, String)>),
    End,
    Text(String),
}

fn malformed(why: impl std::fmt::Display) -> Error {
    Error::invalid_field("job config_xml", format!("malformed XML: {why}"))
}

/// The canonical token stream of a document, checking that it is well-formed.
fn canonical(xml: &str) -> Result<(String, Vec<Token>)> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut tokens = Vec::new();
    let mut depth = 0usize;
    let mut root: Option<String> = None;
    let mut text = String::new();
    let flush = |text: &mut String, tokens: &mut Vec<Token>| {
        if !text.trim().is_empty() {
            tokens.push(Token::Text(text.replace("\r\n", "\n")));
        }
        text.clear();
    };
    loop {
        let event = reader
            .read_event()
            .map_err(|e| malformed(format!("{e} near byte {}", reader.error_position())))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if depth == 0 && root.is_some() {
                    return Err(malformed("more than one root element"));
                }
                flush(&mut text, &mut tokens);
                let name = e.name().as_ref().to_string();
                let mut attrs = Vec::new();
                for a in e.attributes() {
                    let a = a.map_err(malformed)?;
                    let key = a.key.as_ref().to_string();
                    let value = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(malformed)?
                        .into_owned();
                    if key != "plugin" {
                        attrs.push((key, value));
                    }
                }
                attrs.sort();
                if root.is_none() {
                    root = Some(name.clone());
                }
                tokens.push(Token::Start(name, attrs));
                if matches!(event, Event::Empty(_)) {
                    tokens.push(Token::End);
                } else {
                    depth += 1;
                }
            }
            Event::End(_) => {
                flush(&mut text, &mut tokens);
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| malformed("an end tag without a start tag"))?;
                tokens.push(Token::End);
            }
            Event::Text(t) => {
                if depth == 0 && !t.trim().is_empty() {
                    return Err(malformed("text outside the root element"));
                }
                text.push_str(&t);
            }
            Event::CData(t) => text.push_str(&t),
            Event::GeneralRef(r) => {
                let entity = format!("&{};", &*r);
                text.push_str(&quick_xml::escape::unescape(&entity).map_err(malformed)?);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if depth != 0 {
        return Err(malformed("an element is never closed"));
    }
    let root = root.ok_or_else(|| malformed("no root element"))?;
    Ok((root, tokens))
}

/// Checks that `xml` is a well-formed document and returns its root element's name
/// (`project`, `flow-definition`, `com.cloudbees.hudson.plugins.folder.Folder`, ...).
pub(crate) fn root_element(xml: &str) -> Result<String> {
    canonical(xml).map(|(root, _)| root)
}

/// Whether two configurations mean the same (see the module documentation).
pub(crate) fn equivalent(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (canonical(a), canonical(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_and_malformed_documents() {
        assert_eq!(
            root_element("<?xml version='1.1'?>\n<project/>").unwrap(),
            "project"
        );
        for bad in ["", "<a>", "<a></b>", "<a/><b/>", "<a/>x", "<a x=1/>"] {
            let e = root_element(bad).unwrap_err();
            assert!(e.message().contains("config_xml"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn equivalence_ignores_what_jenkins_rewrites() {
        let mine = "<project>\n  <description>a &amp; b</description>\n  <!-- mine -->\n  <builders/>\n  <scm class=\"hudson.scm.NullSCM\"/>\n</project>";
        let saved = "<?xml version='1.1' encoding='UTF-8'?>\r\n<project>\r\n    <description><![CDATA[a & b]]></description>\r\n    <builders></builders>\r\n    <scm class='hudson.scm.NullSCM' plugin=\"scm-api@1.0\"/>\r\n</project>\r\n";
        assert!(equivalent(mine, saved));
        assert!(!equivalent(mine, &mine.replace("a &amp; b", "a &amp; c")));
        assert!(!equivalent(mine, &mine.replace("<builders/>", "")));
        assert!(!equivalent(
            "<project><a/><b/></project>",
            "<project><b/><a/></project>"
        ));
        assert!(!equivalent(
            "<project><d> x</d></project>",
            "<project><d>x</d></project>"
        ));
        assert!(equivalent("not xml", "not xml"));
        assert!(!equivalent("not xml", "<project/>"));
    }
}
