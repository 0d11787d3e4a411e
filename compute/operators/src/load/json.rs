//! JSON records (`JSON 'auto'`, `'auto ignorecase'` or a JSONPaths file) as input
//! fields.

use super::convert::{Input, Rejection, RowConverter, RowError};
use super::spec::{JsonPaths, JsonStep, LoadFormat, LoadSpec};

/// The JSON key of each input field under `'auto'` (lower-cased for
/// `'auto ignorecase'`).
pub(super) fn keys(spec: &LoadSpec) -> Vec<String> {
    let mut keys = vec![String::new(); spec.input_fields];
    let ignore_case = matches!(
        spec.format,
        LoadFormat::Json(JsonPaths::Auto { ignore_case: true })
    );
    for c in &spec.columns {
        if let Some(i) = c.input
            && let Some(k) = keys.get_mut(i)
        {
            *k = if ignore_case {
                c.name.to_lowercase()
            } else {
                c.name.clone()
            };
        }
    }
    keys
}

/// Fills `converter`'s next row from the JSON record `text` (`keys` from [`keys`]).
pub(super) fn row(
    spec: &LoadSpec,
    text: &str,
    keys: &[String],
    converter: &mut RowConverter,
) -> Result<(), Rejection> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        (
            None,
            String::new(),
            e.column(),
            1216,
            format!("Invalid JSON: {e}"),
        )
    })?;
    let serde_json::Value::Object(object) = &value else {
        return Err((
            None,
            String::new(),
            0,
            1216,
            "Invalid JSONPath format: a record must be a JSON object".into(),
        ));
    };
    let fields: Vec<Option<String>> = match &spec.format {
        LoadFormat::Json(JsonPaths::Paths(paths)) => paths
            .iter()
            .map(|steps| json_text(walk(&value, steps)))
            .collect(),
        LoadFormat::Json(JsonPaths::Auto { ignore_case }) => keys
            .iter()
            .map(|k| {
                let found = if *ignore_case {
                    object
                        .iter()
                        .find(|(key, _)| key.to_lowercase() == *k)
                        .map(|(_, v)| v)
                } else {
                    object.get(k)
                };
                json_text(found)
            })
            .collect(),
        _ => vec![],
    };
    converter
        .push_row(|i| {
            Some(Input {
                text: fields.get(i).and_then(|f| f.as_deref()),
                checks: false,
                raw: fields.get(i).and_then(|f| f.as_deref()).unwrap_or(""),
            })
        })
        .map_err(|RowError { column, error }| {
            let raw = spec
                .columns
                .get(column)
                .and_then(|c| c.input)
                .and_then(|i| fields.get(i).cloned().flatten())
                .unwrap_or_default();
            (Some(column), raw, 0, error.code, error.reason)
        })
}

fn walk<'a>(value: &'a serde_json::Value, steps: &[JsonStep]) -> Option<&'a serde_json::Value> {
    steps.iter().try_fold(value, |v, step| match step {
        JsonStep::Key(k) => v.get(k),
        JsonStep::Index(i) => v.get(*i),
    })
}

/// A JSON value as field text: strings as they are, other values as JSON.
fn json_text(value: Option<&serde_json::Value>) -> Option<String> {
    match value? {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}
