//! The little XML understanding the fake needs: is a config well-formed, what is its root
//! element, is the job disabled, which parameters does it define.

use quick_xml::Reader;
use quick_xml::events::Event;

/// What the fake reads out of a config.xml.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ConfigFacts {
    /// The root element's name (`project`, `com.cloudbees.hudson.plugins.folder.Folder`, ...).
    pub root: String,
    /// `<disabled>true</disabled>` directly under the root.
    pub disabled: bool,
    /// The parameter definitions (name, default value) when the job is parameterized.
    pub parameters: Option<Vec<(String, String)>>,
}

/// Parses `xml` completely; `Err` with a reason when it is not well-formed.
pub(crate) fn facts(xml: &str) -> Result<ConfigFacts, String> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<String> = Vec::new();
    let mut facts = ConfigFacts::default();
    let mut seen_root = false;
    // The text of the element being read, when it is one we care about.
    let mut text = String::new();
    let mut current_param: Option<(String, String)> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("{e} (near byte {})", reader.error_position()))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = e.name().as_ref().to_string();
                if stack.is_empty() {
                    if seen_root {
                        return Err("more than one root element".into());
                    }
                    seen_root = true;
                    facts.root = name.clone();
                }
                let depth = stack.len();
                if name == "parameterDefinitions" && facts.parameters.is_none() {
                    facts.parameters = Some(Vec::new());
                }
                // A child of parameterDefinitions starts a definition.
                if depth >= 1 && stack[depth - 1] == "parameterDefinitions" {
                    current_param = Some((String::new(), String::new()));
                }
                text.clear();
                if matches!(event, Event::Start(_)) {
                    stack.push(name);
                } else {
                    close(&stack, &name, "", &mut facts, &mut current_param);
                }
            }
            Event::End(_) => {
                let name = stack.pop().ok_or("unexpected end tag")?;
                close(&stack, &name, &text, &mut facts, &mut current_param);
                text.clear();
            }
            Event::Text(t) => {
                if stack.is_empty() && t.chars().any(|c| !c.is_whitespace()) {
                    return Err("text outside the root element".into());
                }
                text.push_str(&t);
            }
            Event::CData(t) => text.push_str(&t),
            Event::GeneralRef(r) => {
                let entity = format!("&{};", &*r);
                let resolved = quick_xml::escape::unescape(&entity).map_err(|e| e.to_string())?;
                text.push_str(&resolved);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(format!("<{open}> is never closed"));
    }
    if !seen_root {
        return Err("no root element".into());
    }
    Ok(facts)
}

/// Records what a just-closed element (with its text) tells.
fn close(
    stack: &[String],
    name: &str,
    text: &str,
    facts: &mut ConfigFacts,
    current_param: &mut Option<(String, String)>,
) {
    let depth = stack.len();
    if depth == 1 && name == "disabled" {
        facts.disabled = text.trim() == "true";
    }
    if depth >= 2
        && stack[depth - 2] == "parameterDefinitions"
        && let Some((n, d)) = current_param.as_mut()
    {
        match name {
            "name" => *n = text.to_string(),
            "defaultValue" => *d = text.to_string(),
            _ => {}
        }
    }
    if depth >= 1
        && stack[depth - 1] == "parameterDefinitions"
        && let (Some((n, d)), Some(list)) = (current_param.take(), facts.parameters.as_mut())
        && !n.is_empty()
    {
        list.push((n, d));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_facts() {
        let f = facts("<?xml version='1.1' encoding='UTF-8'?>\n<project><disabled>true</disabled><properties><hudson.model.ParametersDefinitionProperty><parameterDefinitions><hudson.model.StringParameterDefinition><name>TENANT</name><defaultValue>a &amp; b</defaultValue></hudson.model.StringParameterDefinition><hudson.model.BooleanParameterDefinition><name>DRY</name></hudson.model.BooleanParameterDefinition></parameterDefinitions></hudson.model.ParametersDefinitionProperty></properties></project>").unwrap();
        assert_eq!(f.root, "project");
        assert!(f.disabled);
        assert_eq!(
            f.parameters.unwrap(),
            vec![
                ("TENANT".to_string(), "a & b".to_string()),
                ("DRY".to_string(), String::new())
            ]
        );
        let f = facts("<com.cloudbees.hudson.plugins.folder.Folder/>").unwrap();
        assert_eq!(f.root, "com.cloudbees.hudson.plugins.folder.Folder");
        assert_eq!(f.parameters, None);
        for bad in ["", "<a>", "<a></b>", "<a/><b/>", "<a/>text", "x<a/>"] {
            assert!(facts(bad).is_err(), "{bad:?}");
        }
    }
}
