//! Reading what a client sent: JSON bodies and query strings into typed values, with
//! refusals that name the field at fault (`room_id: invalid type: string "x", expected i64`).

use serde::de::DeserializeOwned;

/// Why an input was refused; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

pub(crate) fn invalid(message: impl Into<String>) -> InvalidInput {
    InvalidInput(message.into())
}

/// Parses a JSON body: one JSON object, nothing after it.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, InvalidInput> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return Err(invalid("a JSON body is required")),
        // Every body is an object; serde would also read a struct from an array of its
        // fields in order (`[1, "hi", null]`), which no client means.
        Some(b'{') => {}
        Some(_) => return Err(invalid("malformed JSON body: expected a JSON object")),
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    let value =
        serde_path_to_error::deserialize(&mut *deserializer).map_err(|e| naming_the_field(e, "malformed JSON body"))?;
    // One JSON value: `{"a":1} {"a":2}` or `{…} trailing` is malformed, not its first value.
    deserializer.end().map_err(|inner| invalid(format!("malformed JSON body: {inner}")))?;
    Ok(value)
}

/// Parses a query string (`a=1&b=x`) into `T`; the error names the parameter.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, InvalidInput> {
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|e| naming_the_field(e, "invalid query"))
}

/// A refusal that names the field at fault (`room_id: …`), or says `whole: …` when the
/// fault is not in one field (`?` is the path of a place serde could not name).
fn naming_the_field<E: std::fmt::Display>(err: serde_path_to_error::Error<E>, whole: &str) -> InvalidInput {
    let path = err.path().to_string();
    let inner = err.into_inner();
    match path.as_str() {
        "." | "?" | "" => invalid(format!("{whole}: {inner}")),
        _ => invalid(format!("{path}: {inner}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        room_id: i64,
    }

    #[test]
    fn refusals_name_the_field() {
        assert!(parse_json::<Body>(br#"{"room_id": "x"}"#).unwrap_err().0.starts_with("room_id: "));
        assert!(parse_json::<Body>(b"[1]").unwrap_err().0.contains("expected a JSON object"));
        assert!(parse_json::<Body>(br#"{"room_id": 1} {}"#).is_err());
        assert!(parse_query::<Body>("room_id=x").unwrap_err().0.starts_with("room_id: "));
        assert_eq!(parse_query::<Body>("room_id=7").unwrap().room_id, 7);
    }
}
