//! The wall clock, in seconds since the Unix epoch. `SystemTime::now` panics on
//! wasm32-unknown-unknown, so the browser build asks JavaScript's `Date`.

#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(target_arch = "wasm32")]
pub(crate) fn now_secs() -> u64 {
    (js_sys::Date::now() / 1000.0) as u64
}
