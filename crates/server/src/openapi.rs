//! The OpenAPI document, served at `/v1/openapi.json`. Written by hand and checked by a
//! test against the router's routes, so it cannot drift silently.

/// OpenAPI 3.1 description of the API.
pub const DOCUMENT: &str = include_str!("openapi.json");
