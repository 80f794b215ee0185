//! Lambda event filtering: EventBridge pattern syntax over a Kinesis record's metadata
//! (`partitionKey`, `sequenceNumber`, …) and over `data` when it is JSON.
//!
//! A pattern is a JSON object. Each key names a field; its value is either a nested
//! object (the field must be an object that matches it) or an array of alternatives (OR).
//! An alternative is a literal (exact, case-sensitive; numbers compare by their JSON
//! text), or one of `{"prefix": s}`, `{"suffix": s}`, `{"equals-ignore-case": s}`,
//! `{"anything-but": literal | [literals] | {"prefix": s} | {"suffix": s}}`,
//! `{"numeric": [op, n (, op, n)]}` with `=`, `<`, `<=`, `>`, `>=`, and
//! `{"exists": bool}`. All keys of a pattern must match (AND); an event array matches if
//! any element does. A mapping's filters are ORed.

use serde_json::{Map, Value};
use thiserror::Error;

/// Lambda allows up to 5 filters per mapping...
pub const MAX_FILTERS: usize = 5;
/// ...each pattern at most 4096 characters.
pub const MAX_PATTERN_CHARS: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("`{field}` {message}")]
pub struct PatternError {
    pub field: String,
    pub message: String,
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    fields: Vec<(String, Node)>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Object(Pattern),
    AnyOf(Vec<Matcher>),
}

#[derive(Debug, Clone, PartialEq)]
enum Matcher {
    Literal(Value),
    Prefix(String),
    Suffix(String),
    EqualsIgnoreCase(String),
    AnythingBut(Vec<Value>),
    AnythingButPrefix(String),
    AnythingButSuffix(String),
    Numeric(Vec<(NumericOp, f64)>),
    Exists(bool),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum NumericOp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Pattern {
    /// Parses and checks a pattern; errors name the offending path under `field`.
    pub fn parse(field: &str, text: &str) -> Result<Pattern, PatternError> {
        let chars = text.chars().count();
        if chars > MAX_PATTERN_CHARS {
            return Err(error(
                field,
                format!("must be at most {MAX_PATTERN_CHARS} characters, got {chars}"),
            ));
        }
        let value: Value = serde_json::from_str(text)
            .map_err(|err| error(field, format!("is not valid JSON: {err}")))?;
        match value {
            Value::Object(object) => compile_object(field, &object),
            _ => Err(error(field, "must be a JSON object")),
        }
    }

    /// Whether `event` (the record's filterable view) matches.
    pub fn matches(&self, event: &Value) -> bool {
        let Value::Object(object) = event else {
            return false;
        };
        self.fields
            .iter()
            .all(|(name, node)| match (node, object.get(name)) {
                (Node::Object(inner), Some(value)) => inner.matches(value),
                (Node::Object(_), None) => false,
                (Node::AnyOf(matchers), value) => matchers.iter().any(|m| m.matches(value)),
            })
    }
}

fn error(field: &str, message: impl Into<String>) -> PatternError {
    PatternError {
        field: field.to_string(),
        message: message.into(),
    }
}

fn compile_object(path: &str, object: &Map<String, Value>) -> Result<Pattern, PatternError> {
    if object.is_empty() {
        return Err(error(path, "must not be an empty object"));
    }
    let mut fields = Vec::with_capacity(object.len());
    for (name, value) in object {
        let child = format!("{path}.{name}");
        let node = match value {
            Value::Object(inner) => Node::Object(compile_object(&child, inner)?),
            Value::Array(alternatives) => {
                if alternatives.is_empty() {
                    return Err(error(&child, "must list at least one value"));
                }
                Node::AnyOf(
                    alternatives
                        .iter()
                        .enumerate()
                        .map(|(i, alt)| compile_matcher(&format!("{child}[{i}]"), alt))
                        .collect::<Result<_, _>>()?,
                )
            }
            _ => return Err(error(&child, "must be an array of values or an object")),
        };
        fields.push((name.clone(), node));
    }
    Ok(Pattern { fields })
}

fn compile_matcher(path: &str, value: &Value) -> Result<Matcher, PatternError> {
    let Value::Object(object) = value else {
        return Ok(Matcher::Literal(value.clone()));
    };
    if object.len() != 1 {
        return Err(error(path, "must have exactly one operator"));
    }
    let (op, arg) = object.iter().next().expect("one entry");
    let string_arg = |what: &str| {
        arg.as_str()
            .map(str::to_string)
            .ok_or_else(|| error(path, format!("`{what}` takes a string")))
    };
    Ok(match op.as_str() {
        "prefix" => Matcher::Prefix(string_arg("prefix")?),
        "suffix" => Matcher::Suffix(string_arg("suffix")?),
        "equals-ignore-case" => Matcher::EqualsIgnoreCase(string_arg("equals-ignore-case")?.to_lowercase()),
        "exists" => Matcher::Exists(arg.as_bool().ok_or_else(|| error(path, "`exists` takes true or false"))?),
        "anything-but" => match arg {
            Value::Array(values) if values.iter().all(|v| !v.is_object() && !v.is_array()) => {
                Matcher::AnythingBut(values.clone())
            }
            Value::Object(inner) if inner.len() == 1 => match inner.iter().next().expect("one") {
                (kind, Value::String(s)) if kind == "prefix" => Matcher::AnythingButPrefix(s.clone()),
                (kind, Value::String(s)) if kind == "suffix" => Matcher::AnythingButSuffix(s.clone()),
                _ => return Err(error(path, "`anything-but` takes a value, a list of values, {\"prefix\": s} or {\"suffix\": s}")),
            },
            Value::Object(_) | Value::Array(_) => {
                return Err(error(path, "`anything-but` takes a value, a list of values, {\"prefix\": s} or {\"suffix\": s}"))
            }
            literal => Matcher::AnythingBut(vec![literal.clone()]),
        },
        "numeric" => Matcher::Numeric(compile_numeric(path, arg)?),
        other => return Err(error(path, format!("unknown operator `{other}`"))),
    })
}

fn compile_numeric(path: &str, arg: &Value) -> Result<Vec<(NumericOp, f64)>, PatternError> {
    let bad = || {
        error(
            path,
            "`numeric` takes [op, number] or [op, number, op, number] with ops =, <, <=, >, >=",
        )
    };
    let items = arg.as_array().ok_or_else(bad)?;
    if items.is_empty() || items.len() > 4 || items.len() % 2 != 0 {
        return Err(bad());
    }
    items
        .chunks(2)
        .map(|pair| {
            let op = match pair[0].as_str() {
                Some("=") => NumericOp::Eq,
                Some("<") => NumericOp::Lt,
                Some("<=") => NumericOp::Le,
                Some(">") => NumericOp::Gt,
                Some(">=") => NumericOp::Ge,
                _ => return Err(bad()),
            };
            Ok((op, pair[1].as_f64().ok_or_else(bad)?))
        })
        .collect()
}

impl Matcher {
    fn matches(&self, value: Option<&Value>) -> bool {
        match (self, value) {
            // As in EventBridge, `exists` looks at leaves: an object is not a leaf.
            (Matcher::Exists(expected), value) => {
                value.is_some_and(|v| !v.is_object()) == *expected
            }
            (_, None) => false,
            (_, Some(Value::Array(items))) => items.iter().any(|item| self.matches_one(item)),
            (_, Some(value)) => self.matches_one(value),
        }
    }

    fn matches_one(&self, value: &Value) -> bool {
        match self {
            Matcher::Literal(expected) => literal_eq(expected, value),
            Matcher::Prefix(prefix) => value
                .as_str()
                .is_some_and(|s| s.starts_with(prefix.as_str())),
            Matcher::Suffix(suffix) => value.as_str().is_some_and(|s| s.ends_with(suffix.as_str())),
            Matcher::EqualsIgnoreCase(lower) => {
                value.as_str().is_some_and(|s| s.to_lowercase() == *lower)
            }
            Matcher::AnythingBut(excluded) => !excluded.iter().any(|e| literal_eq(e, value)),
            Matcher::AnythingButPrefix(prefix) => value
                .as_str()
                .is_some_and(|s| !s.starts_with(prefix.as_str())),
            Matcher::AnythingButSuffix(suffix) => value
                .as_str()
                .is_some_and(|s| !s.ends_with(suffix.as_str())),
            Matcher::Numeric(conditions) => value.as_f64().is_some_and(|n| {
                conditions.iter().all(|(op, bound)| match op {
                    NumericOp::Eq => n == *bound,
                    NumericOp::Lt => n < *bound,
                    NumericOp::Le => n <= *bound,
                    NumericOp::Gt => n > *bound,
                    NumericOp::Ge => n >= *bound,
                })
            }),
            Matcher::Exists(_) => unreachable!("handled in matches"),
        }
    }
}

/// Literals match exactly and case-sensitively; numbers by their JSON text, so `5` does
/// not match `5.0` (use `numeric` for that).
fn literal_eq(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Number(a), Value::Number(b)) => a.to_string() == b.to_string(),
        (a, b) => a == b,
    }
}

/// A mapping's filters: a record passes if any filter matches (no filters: all pass).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FilterSet {
    patterns: Vec<Pattern>,
}

impl FilterSet {
    /// Parses Lambda's `FilterCriteria.Filters[].Pattern` strings.
    pub fn parse(patterns: &[String]) -> Result<FilterSet, PatternError> {
        if patterns.len() > MAX_FILTERS {
            return Err(error(
                "FilterCriteria.Filters",
                format!(
                    "must hold at most {MAX_FILTERS} filters, got {}",
                    patterns.len()
                ),
            ));
        }
        let patterns = patterns
            .iter()
            .enumerate()
            .map(|(i, text)| Pattern::parse(&format!("FilterCriteria.Filters[{i}].Pattern"), text))
            .collect::<Result<_, _>>()?;
        Ok(FilterSet { patterns })
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    pub fn matches(&self, event: &Value) -> bool {
        self.patterns.is_empty() || self.patterns.iter().any(|p| p.matches(event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn matches(pattern: &str, event: Value) -> bool {
        Pattern::parse("p", pattern).unwrap().matches(&event)
    }

    #[test]
    fn literals_are_exact_and_arrays_are_or() {
        assert!(matches(
            r#"{"partitionKey": ["a", "b"]}"#,
            json!({"partitionKey": "b"})
        ));
        assert!(!matches(
            r#"{"partitionKey": ["a"]}"#,
            json!({"partitionKey": "A"})
        ));
        assert!(!matches(r#"{"partitionKey": ["a"]}"#, json!({})));
        assert!(matches(
            r#"{"data": {"n": [5]}}"#,
            json!({"data": {"n": 5}})
        ));
        assert!(
            !matches(r#"{"data": {"n": [5]}}"#, json!({"data": {"n": 5.0}})),
            "numbers compare as text"
        );
        assert!(!matches(
            r#"{"data": {"n": ["5"]}}"#,
            json!({"data": {"n": 5}})
        ));
        assert!(
            matches(
                r#"{"data": {"tags": ["x"]}}"#,
                json!({"data": {"tags": ["w", "x"]}})
            ),
            "event arrays are OR"
        );
        assert!(matches(
            r#"{"data": {"v": [null]}}"#,
            json!({"data": {"v": null}})
        ));
    }

    #[test]
    fn keys_are_and_and_nesting_requires_objects() {
        let p =
            r#"{"partitionKey": ["k"], "data": {"kind": ["order"], "meta": {"region": ["eu"]}}}"#;
        assert!(matches(
            p,
            json!({"partitionKey": "k", "data": {"kind": "order", "meta": {"region": "eu"}}})
        ));
        assert!(!matches(
            p,
            json!({"partitionKey": "k", "data": {"kind": "order", "meta": {"region": "us"}}})
        ));
        assert!(!matches(
            p,
            json!({"partitionKey": "k", "data": {"kind": "order", "meta": "eu"}})
        ));
        assert!(!matches(p, json!({"partitionKey": "k"})));
    }

    #[test]
    fn operators() {
        let e = json!({"data": {"s": "Hello-World", "n": 42, "t": "x"}});
        assert!(matches(
            r#"{"data": {"s": [{"prefix": "Hello"}]}}"#,
            e.clone()
        ));
        assert!(!matches(
            r#"{"data": {"s": [{"prefix": "hello"}]}}"#,
            e.clone()
        ));
        assert!(matches(
            r#"{"data": {"s": [{"suffix": "World"}]}}"#,
            e.clone()
        ));
        assert!(matches(
            r#"{"data": {"s": [{"equals-ignore-case": "hello-world"}]}}"#,
            e.clone()
        ));
        assert!(matches(
            r#"{"data": {"t": [{"anything-but": ["y", "z"]}]}}"#,
            e.clone()
        ));
        assert!(!matches(
            r#"{"data": {"t": [{"anything-but": "x"}]}}"#,
            e.clone()
        ));
        assert!(matches(
            r#"{"data": {"s": [{"anything-but": {"prefix": "Bye"}}]}}"#,
            e.clone()
        ));
        assert!(!matches(
            r#"{"data": {"s": [{"anything-but": {"suffix": "World"}}]}}"#,
            e.clone()
        ));
        assert!(matches(
            r#"{"data": {"n": [{"numeric": [">", 40, "<=", 42]}]}}"#,
            e.clone()
        ));
        assert!(!matches(
            r#"{"data": {"n": [{"numeric": ["<", 42]}]}}"#,
            e.clone()
        ));
        assert!(matches(
            r#"{"data": {"n": [{"numeric": ["=", 42.0]}]}}"#,
            e.clone()
        ));
        assert!(
            !matches(r#"{"data": {"s": [{"numeric": [">", 0]}]}}"#, e.clone()),
            "strings are not numbers"
        );
        assert!(matches(
            r#"{"data": {"missing": [{"exists": false}]}}"#,
            e.clone()
        ));
        assert!(!matches(
            r#"{"data": {"missing": [{"exists": true}]}}"#,
            e.clone()
        ));
        assert!(matches(r#"{"data": {"n": [{"exists": true}]}}"#, e.clone()));
        assert!(!matches(r#"{"data": {"n": [{"exists": false}]}}"#, e));
    }

    #[test]
    fn bad_patterns_name_the_path() {
        for (text, fragment) in [
            ("[1]", "must be a JSON object"),
            ("{", "not valid JSON"),
            ("{}", "empty object"),
            (r#"{"a": 1}"#, "`p.a` must be an array"),
            (r#"{"a": []}"#, "`p.a` must list at least one value"),
            (
                r#"{"a": [{"wildcard": "x"}]}"#,
                "`p.a[0]` unknown operator `wildcard`",
            ),
            (r#"{"a": [{"numeric": [">"]}]}"#, "`numeric` takes"),
            (r#"{"a": [{"numeric": ["~", 1]}]}"#, "`numeric` takes"),
            (r#"{"a": [{"prefix": 1}]}"#, "`prefix` takes a string"),
            (
                r#"{"a": [{"prefix": "x", "suffix": "y"}]}"#,
                "exactly one operator",
            ),
        ] {
            let err = Pattern::parse("p", text).unwrap_err().to_string();
            assert!(err.contains(fragment), "{text}: {err}");
        }
        let long = format!(r#"{{"a": ["{}"]}}"#, "x".repeat(5000));
        assert!(Pattern::parse("p", &long)
            .unwrap_err()
            .to_string()
            .contains("4096"));
        let six: Vec<String> = (0..6).map(|_| r#"{"a": ["x"]}"#.to_string()).collect();
        assert!(FilterSet::parse(&six)
            .unwrap_err()
            .to_string()
            .contains("at most 5"));
    }

    #[test]
    fn filter_sets_are_or_and_empty_passes_all() {
        let set = FilterSet::parse(&[r#"{"a": ["1"]}"#.into(), r#"{"b": ["2"]}"#.into()]).unwrap();
        assert!(set.matches(&json!({"b": "2"})));
        assert!(!set.matches(&json!({"c": "3"})));
        assert!(FilterSet::default().matches(&json!({})));
    }
}
