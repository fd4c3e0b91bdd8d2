//! A YAML document as a tree whose every node knows its line (saphyr-parser's events, folded
//! into [`Node`]s), so that a scenario file's errors can name the line of the offending value.
//! Mapping order is kept, so that a frame written as a flow mapping is sent in the order written.

use saphyr_parser::{Event, Parser, ScalarStyle};

/// A node of the tree.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The 1-based line where the node starts.
    pub line: usize,
    /// The YAML tag (`!any`, `!binary`…) without the leading `!`, if one was written.
    pub tag: Option<String>,
    /// The value.
    pub kind: Kind,
}

/// What a node holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// A scalar; `plain` is false when it was quoted or a block scalar (then it is a string
    /// whatever it looks like).
    Scalar {
        /// The text.
        value: String,
        /// Written without quotes.
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in the order written.
    Map(Vec<(Node, Node)>),
}

/// A YAML syntax error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// The 1-based line.
    pub line: usize,
    /// What the parser expected.
    pub message: String,
}

impl Node {
    /// The scalar text, if this is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// True for a plain `null`, `~` or empty scalar.
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { value, plain: true } if value.is_empty() || value == "null" || value == "~")
    }

    /// A short description of the node's kind, for "expected …, found …".
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            Kind::Scalar { .. } if self.is_null() => "null",
            Kind::Scalar { .. } => "a scalar",
            Kind::Seq(_) => "a sequence",
            Kind::Map(_) => "a mapping",
        }
    }
}

fn tag_of(tag: Option<std::borrow::Cow<'_, saphyr_parser::Tag>>) -> Option<String> {
    tag.map(|t| {
        if t.handle == "!" {
            t.suffix.clone()
        } else {
            format!("{}{}", t.handle, t.suffix)
        }
    })
}

enum Open {
    Seq(usize, Option<String>, Vec<Node>),
    Map(usize, Option<String>, Vec<Node>),
}

/// Parses one YAML document. An empty document is an empty mapping.
pub fn parse(src: &str) -> Result<Node, SyntaxError> {
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Node> = None;
    for item in Parser::new_from_str(src) {
        let (event, span) = item.map_err(|e| {
            let open = match stack.last() {
                Some(Open::Seq(l, ..)) => format!(" (in the sequence opened on line {l})"),
                Some(Open::Map(l, ..)) => format!(" (in the mapping opened on line {l})"),
                None => String::new(),
            };
            SyntaxError {
                line: e.marker().line(),
                message: format!("{}{open}", e.info()),
            }
        })?;
        let line = span.start.line();
        let done = match event {
            Event::Scalar(value, style, _, tag) => Some(Node {
                line,
                tag: tag_of(tag),
                kind: Kind::Scalar {
                    value: value.into_owned(),
                    plain: style == ScalarStyle::Plain,
                },
            }),
            Event::SequenceStart(_, tag) => {
                stack.push(Open::Seq(line, tag_of(tag), Vec::new()));
                None
            }
            Event::MappingStart(_, tag) => {
                stack.push(Open::Map(line, tag_of(tag), Vec::new()));
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Open::Seq(line, tag, items)) => Some(Node {
                    line,
                    tag,
                    kind: Kind::Seq(items),
                }),
                Some(Open::Map(line, tag, items)) => {
                    let mut pairs = Vec::with_capacity(items.len() / 2);
                    let mut it = items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                    Some(Node {
                        line,
                        tag,
                        kind: Kind::Map(pairs),
                    })
                }
                None => None,
            },
            Event::Alias(_) => {
                return Err(SyntaxError {
                    line,
                    message: "anchors and aliases (`*name`) are not supported in scenario files"
                        .into(),
                })
            }
            Event::DocumentStart(_) if root.is_some() => {
                return Err(SyntaxError {
                    line,
                    message: "one scenario per file: a second document (`---`) is not supported"
                        .into(),
                })
            }
            _ => None,
        };
        if let Some(node) = done {
            match stack.last_mut() {
                Some(Open::Seq(_, _, items) | Open::Map(_, _, items)) => items.push(node),
                None => root = Some(node),
            }
        }
    }
    Ok(root.unwrap_or(Node {
        line: 1,
        tag: None,
        kind: Kind::Map(Vec::new()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_tags_and_order_are_kept() {
        let n = parse("a: 1\nsteps:\n  - send c1: [null, \"1\", !any]\n  - {z: 1, a: 2}\n")
            .expect("parse");
        let Kind::Map(top) = &n.kind else {
            panic!("map")
        };
        let Kind::Seq(steps) = &top[1].1.kind else {
            panic!("seq")
        };
        assert_eq!(steps[0].line, 3);
        let Kind::Map(step) = &steps[0].kind else {
            panic!("map")
        };
        let Kind::Seq(frame) = &step[0].1.kind else {
            panic!("seq")
        };
        assert!(frame[0].is_null());
        assert!(!frame[1].is_null());
        assert_eq!(frame[2].tag.as_deref(), Some("any"));
        let Kind::Map(zm) = &steps[1].kind else {
            panic!("map")
        };
        assert_eq!(zm[0].0.as_str(), Some("z"));
        assert_eq!(steps[1].line, 4);
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let e = parse("a: 1\nb: [1, 2\nc: 3\n").expect_err("unterminated");
        assert!(e.line >= 2, "{e:?}");
    }
}
