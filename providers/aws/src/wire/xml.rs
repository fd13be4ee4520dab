//! XML answers as a small element tree, and escaping for the XML provisio sends.
//!
//! EC2, RDS, S3 and Route 53 answer in XML documents of a few kilobytes; provisio reads a handful of fields
//! from each, so the whole answer is parsed into a tree of [`Element`]s (local names, text,
//! children) and read by name. Namespaces are dropped (EC2 puts every element in its API
//! version's namespace). Parsing is bounded: at most [`MAX_DEPTH`] levels and
//! [`MAX_ELEMENTS`] elements, so a hostile or broken answer fails instead of exhausting memory.

use quick_xml::Reader;
use quick_xml::events::Event;

/// The deepest nesting accepted (EC2's deepest answer provisio reads has 7 levels).
pub(crate) const MAX_DEPTH: usize = 64;
/// The most elements accepted in one answer (a page of 1,000 instances has about 60,000).
pub(crate) const MAX_ELEMENTS: usize = 1_000_000;

/// One element: its local name, its text (the concatenation of its own text nodes, unescaped)
/// and its child elements in document order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Element {
    /// The local name (without a namespace prefix).
    pub name: String,
    /// The element's own text, unescaped.
    pub text: String,
    /// The child elements, in order.
    pub children: Vec<Element>,
}

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child named `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The element at `path` below this one (each step the first child of that name).
    pub fn at(&self, path: &[&str]) -> Option<&Element> {
        path.iter().try_fold(self, |e, name| e.child(name))
    }

    /// The text of the element at `path`, if it is there and not empty.
    pub fn text_at(&self, path: &[&str]) -> Option<&str> {
        self.at(path)
            .map(|e| e.text.trim())
            .filter(|t| !t.is_empty())
    }

    /// The members of the list at `path`: the children named `member` of the element there
    /// (nothing when the list is absent, as AWS leaves out empty lists).
    pub fn list<'a>(
        &'a self,
        path: &[&str],
        member: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.at(path)
            .into_iter()
            .flat_map(move |e| e.children_named(member))
    }

    /// The text of the element at `path` exactly as sent (an S3 key may begin or end with a
    /// space).
    pub fn raw_at(&self, path: &[&str]) -> Option<&str> {
        self.at(path).map(|e| e.text.as_str())
    }

    /// The first element named `name` at any depth, this one included (depth first).
    pub fn find(&self, name: &str) -> Option<&Element> {
        if self.name == name {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(name))
    }
}

/// `text` escaped for an XML element or attribute value.
pub(crate) fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(text)
}

/// Parses a whole document into its root element. The error says what is wrong and where
/// (byte offset); it never quotes the document.
pub(crate) fn parse(body: &[u8]) -> Result<Element, String> {
    let mut reader = Reader::from_reader(body);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    let at = |reader: &Reader<&[u8]>| reader.buffer_position();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("not well-formed XML near byte {}: {e}", at(&reader)))?;
        match event {
            Event::Start(start) | Event::Empty(start) if root.is_some() && stack.is_empty() => {
                let _ = start;
                return Err("not well-formed XML: more than one root element".to_string());
            }
            Event::Start(start) => {
                count += 1;
                if stack.len() >= MAX_DEPTH || count > MAX_ELEMENTS {
                    return Err(format!(
                        "the answer is larger than provisio reads ({MAX_DEPTH} levels, {MAX_ELEMENTS} elements)"
                    ));
                }
                stack.push(Element {
                    name: start.local_name().as_ref().to_string(),
                    ..Element::default()
                });
            }
            Event::Empty(start) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(format!(
                        "the answer is larger than provisio reads ({MAX_ELEMENTS} elements)"
                    ));
                }
                let element = Element {
                    name: start.local_name().as_ref().to_string(),
                    ..Element::default()
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => root = Some(element),
                }
            }
            Event::End(_) => {
                let element = stack
                    .pop()
                    .ok_or_else(|| format!("unexpected end tag near byte {}", at(&reader)))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => root = Some(element),
                }
            }
            Event::Text(text) => {
                let text: &str = &text;
                match stack.last_mut() {
                    Some(open) => open.text.push_str(text),
                    None if text.trim().is_empty() => {}
                    None => return Err("not well-formed XML: text outside the root".to_string()),
                }
            }
            Event::CData(text) => {
                if let Some(open) = stack.last_mut() {
                    open.text.push_str(&text);
                }
            }
            Event::GeneralRef(entity) => {
                let name: &str = &entity;
                let resolved = quick_xml::escape::unescape(&format!("&{name};"))
                    .map_err(|e| format!("unknown entity near byte {}: {e}", at(&reader)))?
                    .into_owned();
                if let Some(open) = stack.last_mut() {
                    open.text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(format!(
            "not well-formed XML: <{}> is never closed",
            open.name
        ));
    }
    root.ok_or_else(|| "not well-formed XML: no root element".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_text_lists_and_entities() {
        let doc = br#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <reservationSet>
    <item><instancesSet><item>
      <instanceId>i-1</instanceId>
      <tagSet><item><key>Name</key><value>a &amp; b</value></item><item><key>x</key><value/></item></tagSet>
    </item></instancesSet></item>
  </reservationSet>
  <nextToken><![CDATA[tok<1>]]></nextToken>
</DescribeInstancesResponse>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "DescribeInstancesResponse");
        let inst = root
            .list(&["reservationSet"], "item")
            .flat_map(|r| r.list(&["instancesSet"], "item"))
            .next()
            .unwrap();
        assert_eq!(inst.text_at(&["instanceId"]), Some("i-1"));
        let tags: Vec<_> = inst
            .list(&["tagSet"], "item")
            .map(|t| (t.text_at(&["key"]), t.text_at(&["value"])))
            .collect();
        assert_eq!(tags, vec![(Some("Name"), Some("a & b")), (Some("x"), None)]);
        assert_eq!(root.text_at(&["nextToken"]), Some("tok<1>"));
        assert_eq!(root.list(&["absent"], "item").count(), 0);
        assert_eq!(root.find("key").map(|k| k.text.as_str()), Some("Name"));
    }

    #[test]
    fn namespace_prefixes_are_dropped() {
        let root = parse(br#"<a:Root xmlns:a="urn:x"><a:Code>X</a:Code></a:Root>"#).unwrap();
        assert_eq!(root.name, "Root");
        assert_eq!(root.text_at(&["Code"]), Some("X"));
    }

    #[test]
    fn broken_documents_are_errors_not_panics() {
        for bad in [
            &b""[..],
            b"<a>",
            b"<a></b>",
            b"<a/><b/>",
            b"text",
            b"<a>&nosuch;</a>",
            b"<a>\xff\xfe</a>",
            b"</a>",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert!(parse(deep.as_bytes()).unwrap_err().contains("larger"));
        let fine = "<a>".repeat(MAX_DEPTH) + &"</a>".repeat(MAX_DEPTH);
        assert!(parse(fine.as_bytes()).is_ok());
    }
}
