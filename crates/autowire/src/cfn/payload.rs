//! The invocation's payload as Lambda hands it over: raw JSON text, parsed here so that an event
//! nested deeper than serde_json's recursion limit (128) is still answered FAILED when it names
//! a usable ResponseURL, instead of failing before the runtime sees it.

use serde_json::value::RawValue;

use super::*;

/// Why the payload is not a JSON value the runtime can work with.
pub(super) enum Unparsed {
    /// Deeper than serde_json's limit; `head` holds the answer's fields read without recursing
    /// (a shallow object: ResponseURL, StackId, RequestId, LogicalResourceId, RequestType,
    /// PhysicalResourceId), `None` when even they could not be read.
    TooDeep { head: Option<Value> },
    /// Not JSON at all (Lambda never sends that, but say so rather than guess).
    NotJson(String),
}

/// The payload as a JSON value, or why not.
pub(super) fn parse(text: &str) -> std::result::Result<Value, Unparsed> {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => Ok(v),
        Err(e) if e.to_string().starts_with("recursion limit exceeded") => {
            Err(Unparsed::TooDeep { head: head(text) })
        }
        Err(e) => Err(Unparsed::NotJson(e.to_string())),
    }
}

/// The top-level members of an object as raw text; serde_json skips raw values iteratively, so
/// this never recurses, however deep the members are.
fn members(text: &str) -> Option<BTreeMap<String, Box<RawValue>>> {
    serde_json::from_str(text).ok()
}

const HEAD_FIELDS: [&str; 6] = [
    "ResponseURL",
    "StackId",
    "RequestId",
    "LogicalResourceId",
    "RequestType",
    "PhysicalResourceId",
];

/// The answer's fields of a request (or of the request a continuation carries), as a shallow
/// object: only the string members among [`HEAD_FIELDS`].
fn head(text: &str) -> Option<Value> {
    let mut top = members(text)?;
    if let Some(cont) = top.remove(CONTINUATION_KEY) {
        let request = members(cont.get())?.remove("request")?;
        return head(request.get());
    }
    let fields: serde_json::Map<String, Value> = HEAD_FIELDS
        .iter()
        .filter_map(|k| {
            let s = serde_json::from_str::<String>(top.get(*k)?.get()).ok()?;
            Some((k.to_string(), Value::String(s)))
        })
        .collect();
    Some(Value::Object(fields))
}
