//! Values across the wasm boundary: serde types as plain JS objects (through JSON, so
//! what the page sees is exactly the JSON the CLI prints), and errors as JS `Error`s.

use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsError, JsValue};

/// A JS `Error` with `message`.
pub(crate) fn error(message: String) -> JsError {
    JsError::new(&message)
}

/// `value` as a plain JS object.
pub(crate) fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsError> {
    let text = serde_json::to_string(value).map_err(|e| error(format!("encoding a result: {e}")))?;
    js_sys::JSON::parse(&text).map_err(|_| error("encoding a result: JSON.parse refused it".into()))
}

/// A JS value (`what`, for the error) as `T`: strictly, through JSON.
pub(crate) fn from_js<T: DeserializeOwned>(value: &JsValue, what: &str) -> Result<T, JsError> {
    let text = js_sys::JSON::stringify(value)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| error(format!("{what}: not a JSON value")))?;
    serde_json::from_str(&text).map_err(|e| error(format!("{what}: {e}")))
}

/// A JS object with these properties.
pub(crate) fn object(fields: &[(&str, JsValue)]) -> Result<JsValue, JsError> {
    let object = js_sys::Object::new();
    for (name, value) in fields {
        js_sys::Reflect::set(&object, &(*name).into(), value).map_err(|_| error(format!("setting {name}")))?;
    }
    Ok(object.into())
}
