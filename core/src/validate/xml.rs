//! Well-formedness of XML documents (a CI job's `config.xml`), checked without an XML library.

use crate::Result;

/// Checks that `value` is a well-formed XML document (what Jenkins' XStream needs before it
/// can even look at a job's config): balanced, properly nested elements with one root, quoted
/// attributes without duplicates, known entities, comments, CDATA and processing
/// instructions. It does not check what the document means.
///
/// ```
/// use provisio::validate;
/// validate::xml_document("config_xml", "<project><d>a &amp; b</d></project>").unwrap();
/// let e = validate::xml_document("config_xml", "<project>").unwrap_err();
/// assert!(e.to_string().contains("invalid config_xml: malformed XML"));
/// ```
pub fn xml_document(field: &str, value: &str) -> Result<()> {
    xml_well_formed(value).or_else(|why| super::fail(field, format!("malformed XML: {why}")))
}

fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == ':'
}
fn is_name_char(c: char) -> bool {
    is_name_start(c) || c.is_ascii_digit() || c == '-' || c == '.' || c.is_alphanumeric()
}

fn xml_well_formed(xml: &str) -> std::result::Result<(), String> {
    let s = xml.strip_prefix('\u{feff}').unwrap_or(xml);
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut stack: Vec<String> = Vec::new();
    let mut seen_root = false;
    let at = |i: usize, pat: &str| {
        let p: Vec<char> = pat.chars().collect();
        b.len() >= i + p.len() && b[i..i + p.len()] == p[..]
    };
    let find = |from: usize, pat: &str| -> Option<usize> {
        let p: Vec<char> = pat.chars().collect();
        (from..=b.len().saturating_sub(p.len())).find(|&j| b[j..j + p.len()] == p[..])
    };
    let check_entities = |text: &[char]| -> std::result::Result<(), String> {
        let mut k = 0;
        while k < text.len() {
            match text[k] {
                '&' => {
                    let end = text[k..]
                        .iter()
                        .position(|&c| c == ';')
                        .ok_or("unterminated entity reference")?;
                    let name: String = text[k + 1..k + end].iter().collect();
                    let ok = matches!(name.as_str(), "amp" | "lt" | "gt" | "quot" | "apos")
                        || name
                            .strip_prefix("#x")
                            .is_some_and(|h| !h.is_empty() && u32::from_str_radix(h, 16).is_ok())
                        || name
                            .strip_prefix('#')
                            .is_some_and(|d| !d.is_empty() && d.parse::<u32>().is_ok());
                    if !ok {
                        return Err(format!("unknown entity &{name};"));
                    }
                    k += end + 1;
                }
                '<' => return Err("'<' in text or attribute value".into()),
                _ => k += 1,
            }
        }
        Ok(())
    };
    while i < b.len() {
        if b[i] != '<' {
            let end = find(i, "<").unwrap_or(b.len());
            let text = &b[i..end];
            if stack.is_empty() && text.iter().any(|c| !c.is_whitespace()) {
                return Err("text outside the root element".into());
            }
            check_entities(text)?;
            i = end;
            continue;
        }
        if at(i, "<!--") {
            let end = find(i + 4, "-->").ok_or("unterminated comment")?;
            i = end + 3;
        } else if at(i, "<![CDATA[") {
            if stack.is_empty() {
                return Err("CDATA outside the root element".into());
            }
            let end = find(i + 9, "]]>").ok_or("unterminated CDATA section")?;
            i = end + 3;
        } else if at(i, "<?") {
            let end = find(i + 2, "?>").ok_or("unterminated processing instruction")?;
            let target: String = b[i + 2..end]
                .iter()
                .take_while(|c| !c.is_whitespace())
                .collect();
            if target.eq_ignore_ascii_case("xml") && (i != 0 || seen_root) {
                return Err("XML declaration not at the start".into());
            }
            i = end + 2;
        } else if at(i, "<!DOCTYPE") {
            if seen_root {
                return Err("DOCTYPE after the root element".into());
            }
            let end = find(i, ">").ok_or("unterminated DOCTYPE")?;
            i = end + 1;
        } else if at(i, "</") {
            let mut j = i + 2;
            let start = j;
            while j < b.len() && is_name_char(b[j]) {
                j += 1;
            }
            let name: String = b[start..j].iter().collect();
            while j < b.len() && b[j].is_whitespace() {
                j += 1;
            }
            if j >= b.len() || b[j] != '>' {
                return Err(format!("malformed end tag </{name}"));
            }
            match stack.pop() {
                Some(open) if open == name => {}
                Some(open) => return Err(format!("</{name}> closes <{open}>")),
                None => return Err(format!("</{name}> without a start tag")),
            }
            i = j + 1;
        } else {
            let mut j = i + 1;
            if j >= b.len() || !is_name_start(b[j]) {
                return Err("'<' not followed by a tag name".into());
            }
            let start = j;
            while j < b.len() && is_name_char(b[j]) {
                j += 1;
            }
            let name: String = b[start..j].iter().collect();
            if stack.is_empty() && seen_root {
                return Err(format!("second root element <{name}>"));
            }
            let mut attrs: Vec<String> = Vec::new();
            loop {
                let ws = j < b.len() && b[j].is_whitespace();
                while j < b.len() && b[j].is_whitespace() {
                    j += 1;
                }
                if j >= b.len() {
                    return Err(format!("unterminated start tag <{name}"));
                }
                if b[j] == '>' {
                    stack.push(name.clone());
                    j += 1;
                    break;
                }
                if at(j, "/>") {
                    j += 2;
                    break;
                }
                if !ws || !is_name_start(b[j]) {
                    return Err(format!("malformed attribute in <{name}>"));
                }
                let astart = j;
                while j < b.len() && is_name_char(b[j]) {
                    j += 1;
                }
                let aname: String = b[astart..j].iter().collect();
                if attrs.contains(&aname) {
                    return Err(format!("duplicate attribute {aname} in <{name}>"));
                }
                attrs.push(aname.clone());
                while j < b.len() && b[j].is_whitespace() {
                    j += 1;
                }
                if j >= b.len() || b[j] != '=' {
                    return Err(format!("attribute {aname} in <{name}> has no value"));
                }
                j += 1;
                while j < b.len() && b[j].is_whitespace() {
                    j += 1;
                }
                let quote = *b.get(j).ok_or("unterminated attribute")?;
                if quote != '"' && quote != '\'' {
                    return Err(format!("attribute {aname} in <{name}> is not quoted"));
                }
                let vend = (j + 1..b.len())
                    .find(|&k| b[k] == quote)
                    .ok_or("unterminated attribute value")?;
                check_entities(&b[j + 1..vend])?;
                j = vend + 1;
            }
            seen_root = true;
            i = j;
        }
    }
    if let Some(open) = stack.pop() {
        return Err(format!("<{open}> is never closed"));
    }
    if !seen_root {
        return Err("no root element".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    const JOB: &str = "<?xml version='1.1' encoding='UTF-8'?>\n<project>\n  <description>a &amp; b</description>\n  <!-- c -->\n  <builders><hudson.tasks.Shell><command><![CDATA[echo <hi>]]></command></hudson.tasks.Shell></builders>\n  <disabled a=\"1\" b='2'/>\n</project>\n";

    #[test]
    fn xml_checks() {
        assert!(xml_document("x", JOB).is_ok());
        assert!(xml_document("x", "<a/>").is_ok());
        for bad in [
            "",
            "plain text",
            "<a>",
            "<a></b>",
            "<a/><b/>",
            "<a x=1/>",
            "<a x='1' x='2'/>",
            "<a>&nbsp;</a>",
            "<a>x < y</a>",
            "<a><!-- unterminated </a>",
            "<a/>trailing",
            "<a></a><?xml version='1.0'?>",
        ] {
            let e = xml_document("job config_xml", bad).unwrap_err();
            assert_eq!(e.kind(), &ErrorKind::InvalidInput, "{bad:?}");
            assert!(
                e.to_string()
                    .contains("invalid job config_xml: malformed XML"),
                "{e}"
            );
        }
    }
}
