//! Strict reading of custom-resource properties.
//!
//! CloudFormation sends every scalar as a string (numbers and booleans included) and lists as
//! lists of strings. [`Props`] reads them by name, parses the scalars, and at the end refuses any
//! property that nobody asked for, naming it.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Properties every custom resource may carry, whatever its type.
const ALWAYS_ALLOWED: &[&str] = &["ServiceToken", "ServiceTimeout"];

pub struct Props<'a> {
    map: Map<String, Value>,
    allowed: &'a [&'a str],
}

impl<'a> Props<'a> {
    /// Wrap raw properties. `allowed` lists every property name the resource type accepts.
    pub fn new(raw: &Value, allowed: &'a [&'a str]) -> Result<Self> {
        let map = match raw {
            Value::Object(m) => m.clone(),
            Value::Null => Map::new(),
            other => {
                return Err(Error::invalid(
                    "ResourceProperties",
                    format!("expected an object, got {}", type_name(other)),
                ))
            }
        };
        Ok(Props { map, allowed })
    }

    /// Refuse properties that are not allowed. Call once, before using the values.
    pub fn check_unknown(&self) -> Result<()> {
        let unknown: Vec<String> = self
            .map
            .keys()
            .filter(|k| {
                !self.allowed.contains(&k.as_str()) && !ALWAYS_ALLOWED.contains(&k.as_str())
            })
            .cloned()
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(Error::UnknownProperties {
                unknown,
                allowed: self.allowed.iter().map(|s| s.to_string()).collect(),
            })
        }
    }

    fn get(&self, name: &str) -> Option<&Value> {
        debug_assert!(
            self.allowed.contains(&name) || ALWAYS_ALLOWED.contains(&name),
            "{name} read but not declared"
        );
        match self.map.get(name) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    /// An optional string; an empty string counts as absent (templates use '' for "not set").
    pub fn opt_str(&self, name: &str) -> Result<Option<String>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(other) => Err(Error::invalid(
                name,
                format!("expected a string, got {}", type_name(other)),
            )),
        }
    }

    pub fn req_str(&self, name: &str) -> Result<String> {
        self.opt_str(name)?
            .ok_or_else(|| Error::invalid(name, "is required"))
    }

    /// `true`/`false` in any case, as CloudFormation sends booleans as strings.
    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>> {
        match self.opt_str(name)? {
            None => Ok(None),
            Some(s) => match s.to_ascii_lowercase().as_str() {
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                _ => Err(Error::invalid(name, format!("'{s}' is not true or false"))),
            },
        }
    }

    pub fn opt_u64(&self, name: &str) -> Result<Option<u64>> {
        match self.opt_str(name)? {
            None => Ok(None),
            Some(s) => s
                .parse::<u64>()
                .map(Some)
                .map_err(|_| Error::invalid(name, format!("'{s}' is not a whole number"))),
        }
    }

    /// A list of strings. A single comma-separated string is accepted too, since
    /// `!Join` and parameters of type CommaDelimitedList often arrive that way.
    pub fn opt_list(&self, name: &str) -> Result<Vec<String>> {
        let items: Vec<String> = match self.get(name) {
            None => return Ok(Vec::new()),
            Some(Value::String(s)) => s.split(',').map(|p| p.trim().to_string()).collect(),
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) => out.push(s.trim().to_string()),
                        Value::Number(n) => out.push(n.to_string()),
                        other => {
                            return Err(Error::invalid(
                                name,
                                format!("item {i} should be a string, got {}", type_name(other)),
                            ))
                        }
                    }
                }
                out
            }
            Some(other) => {
                return Err(Error::invalid(
                    name,
                    format!("expected a list of strings, got {}", type_name(other)),
                ))
            }
        };
        Ok(items.into_iter().filter(|s| !s.is_empty()).collect())
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ALLOWED: &[&str] = &["A", "B", "L", "N"];

    #[test]
    fn scalars_parse_from_strings() {
        let raw = json!({"A": "true", "B": "False", "N": "42", "ServiceToken": "arn"});
        let p = Props::new(&raw, ALLOWED).unwrap();
        p.check_unknown().unwrap();
        assert_eq!(p.opt_bool("A").unwrap(), Some(true));
        assert_eq!(p.opt_bool("B").unwrap(), Some(false));
        assert_eq!(p.opt_u64("N").unwrap(), Some(42));
        assert_eq!(p.opt_str("L").unwrap(), None);
    }

    #[test]
    fn malformed_scalars_name_the_property() {
        let raw = json!({"A": "yes", "N": "4x"});
        let p = Props::new(&raw, ALLOWED).unwrap();
        assert_eq!(
            p.opt_bool("A").unwrap_err().to_string(),
            "property A: 'yes' is not true or false"
        );
        assert!(p
            .opt_u64("N")
            .unwrap_err()
            .to_string()
            .contains("not a whole number"));
    }

    #[test]
    fn lists_accept_arrays_and_comma_strings() {
        let p = Props::new(&json!({"L": ["a", " b ", ""]}), ALLOWED).unwrap();
        assert_eq!(p.opt_list("L").unwrap(), vec!["a", "b"]);
        let p = Props::new(&json!({"L": "a, b,c"}), ALLOWED).unwrap();
        assert_eq!(p.opt_list("L").unwrap(), vec!["a", "b", "c"]);
        let p = Props::new(&json!({"L": [{"x": 1}]}), ALLOWED).unwrap();
        assert!(p.opt_list("L").is_err());
    }

    #[test]
    fn unknown_properties_are_refused_by_name() {
        let p = Props::new(&json!({"A": "x", "Zed": "1", "Colour": "red"}), ALLOWED).unwrap();
        let err = p.check_unknown().unwrap_err();
        assert!(err
            .to_string()
            .starts_with("unknown properties: Colour, Zed;"));
    }

    #[test]
    fn required_and_blank() {
        let p = Props::new(&json!({"A": "  "}), ALLOWED).unwrap();
        assert_eq!(
            p.req_str("A").unwrap_err().to_string(),
            "property A: is required"
        );
        assert!(Props::new(&json!([1]), ALLOWED).is_err());
    }
}
