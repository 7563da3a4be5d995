//! Span-aware access to a parsed policy document, so every error can say
//! where in the file it is.

use std::path::Path;

use marked_yaml::{LoaderOptions, Node};

use crate::error::{Location, PolicyError, PolicyErrorKind};

/// A key written twice in one mapping. PyYAML, which the SDK reads
/// policies with, keeps the last value; so do we, and say so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateKey {
    pub key: String,
    pub first: Location,
    pub last: Location,
}

/// Every key written twice in one mapping, in document order.
pub(crate) fn duplicate_keys(text: &str) -> Vec<DuplicateKey> {
    use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
    use yaml_rust2::scanner::Marker;

    /// Where the walk is: in a mapping (waiting for a key or a value), or a
    /// sequence.
    enum Frame {
        Mapping {
            keys: std::collections::HashMap<String, Location>,
            want_key: bool,
        },
        Sequence,
    }

    #[derive(Default)]
    struct Walk {
        stack: Vec<Frame>,
        found: Vec<DuplicateKey>,
    }

    impl Walk {
        /// A complete node (scalar, or a collection that just ended) was read.
        fn node(&mut self, scalar: Option<(&str, Location)>) {
            if let Some(Frame::Mapping { keys, want_key }) = self.stack.last_mut() {
                if *want_key {
                    if let Some((key, at)) = scalar {
                        if let Some(&first) = keys.get(key) {
                            self.found.push(DuplicateKey {
                                key: key.to_string(),
                                first,
                                last: at,
                            });
                        }
                        keys.insert(key.to_string(), at);
                    }
                }
                *want_key = !*want_key;
            }
        }
    }

    impl MarkedEventReceiver for Walk {
        fn on_event(&mut self, ev: Event, mark: Marker) {
            let at = Location {
                line: mark.line(),
                column: mark.col() + 1,
            };
            match ev {
                Event::Scalar(value, ..) => self.node(Some((&value, at))),
                Event::Alias(_) => self.node(None),
                Event::MappingStart(..) => self.stack.push(Frame::Mapping {
                    keys: std::collections::HashMap::new(),
                    want_key: true,
                }),
                Event::SequenceStart(..) => self.stack.push(Frame::Sequence),
                Event::MappingEnd | Event::SequenceEnd => {
                    self.stack.pop();
                    self.node(None);
                }
                _ => {}
            }
        }
    }

    let mut walk = Walk::default();
    // A syntax error is reported by the real parse; here it only ends the walk.
    let _ = Parser::new_from_str(text).load(&mut walk, false);
    walk.found
}

/// Parses YAML (or JSON) text; the top level may be a mapping or a list.
/// Duplicate keys keep their last value ([`duplicate_keys`] lists them).
pub(crate) fn parse(path: &Path, text: &str) -> Result<Node, PolicyError> {
    let opts = LoaderOptions::default;
    let first = marked_yaml::parse_yaml_with_options(0, text, opts().toplevel_mapping());
    let result = match first {
        Err(marked_yaml::LoadError::TopLevelMustBeMapping(_)) => {
            marked_yaml::parse_yaml_with_options(0, text, opts().toplevel_sequence())
        }
        other => other,
    };
    result.map_err(|e| {
        let (location, message) = describe(&e);
        PolicyError {
            path: path.to_path_buf(),
            location,
            kind: Box::new(PolicyErrorKind::Syntax(message)),
        }
    })
}

fn describe(e: &marked_yaml::LoadError) -> (Option<Location>, String) {
    use marked_yaml::LoadError::*;
    let at = |m: &marked_yaml::Marker| {
        Some(Location {
            line: m.line(),
            column: m.column(),
        })
    };
    // The library's Display starts with "line:col: "; keep only the message.
    let text = e.to_string();
    let message = text
        .split_once(": ")
        .map(|(_, m)| m.to_string())
        .unwrap_or(text.clone());
    match e {
        TopLevelMustBeMapping(m)
        | TopLevelMustBeSequence(m)
        | UnexpectedAnchor(m)
        | MappingKeyMustBeScalar(m)
        | UnexpectedTag(m)
        | ScanError(m, _) => (at(m), message),
        DuplicateKey(inner) => (inner.key.span().start().and_then(at), text),
        #[allow(unreachable_patterns)]
        _ => (None, text),
    }
}

/// The start of a node, if the parser recorded one.
pub(crate) fn location(node: &Node) -> Location {
    node.span()
        .start()
        .map(|m| Location {
            line: m.line(),
            column: m.column(),
        })
        .unwrap_or(Location { line: 1, column: 1 })
}

/// A node plus the file it came from, for building located errors.
#[derive(Clone, Copy)]
pub(crate) struct At<'a> {
    pub path: &'a Path,
    pub node: &'a Node,
}

impl<'a> At<'a> {
    pub fn error(&self, kind: PolicyErrorKind) -> PolicyError {
        PolicyError {
            path: self.path.to_path_buf(),
            location: Some(location(self.node)),
            kind: Box::new(kind),
        }
    }

    pub fn with(&self, node: &'a Node) -> At<'a> {
        At {
            path: self.path,
            node,
        }
    }

    /// A mapping's child, if present.
    pub fn get(&self, key: &str) -> Option<At<'a>> {
        self.node
            .as_mapping()
            .and_then(|m| m.get_node(key))
            .map(|n| self.with(n))
    }

    /// A mapping's child that must be present.
    pub fn require(&self, key: &'static str, context: &str) -> Result<At<'a>, PolicyError> {
        self.get(key).ok_or_else(|| {
            self.error(PolicyErrorKind::MissingField {
                field: key,
                context: context.to_string(),
            })
        })
    }

    /// The node as a list; a missing list is an empty one only if the
    /// caller allows it.
    pub fn items(&self, what: &str) -> Result<Vec<At<'a>>, PolicyError> {
        match self.node.as_sequence() {
            Some(seq) => Ok(seq.iter().map(|n| self.with(n)).collect()),
            None => Err(self.error(PolicyErrorKind::WrongType {
                what: what.to_string(),
                expected: "a list",
            })),
        }
    }

    /// The node as a scalar string.
    pub fn scalar(&self, what: &str) -> Result<&'a str, PolicyError> {
        match self.node.as_scalar() {
            Some(s) => Ok(s.as_str()),
            None => Err(self.error(PolicyErrorKind::WrongType {
                what: what.to_string(),
                expected: "a single value",
            })),
        }
    }

    /// An optional scalar child.
    pub fn scalar_of(&self, key: &str) -> Result<Option<&'a str>, PolicyError> {
        self.get(key).map(|n| n.scalar(key)).transpose()
    }

    /// Keys of a mapping, for messages.
    pub fn keys(&self) -> Vec<String> {
        self.node
            .as_mapping()
            .map(|m| m.keys().map(|k| k.as_str().to_string()).collect())
            .unwrap_or_default()
    }
}
