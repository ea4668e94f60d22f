//! The wall clock, in seconds since the Unix epoch, and pauses. `SystemTime::now` panics
//! on wasm32-unknown-unknown and tokio's timer is native, so the browser build asks
//! JavaScript's `Date` and `setTimeout`.

#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(target_arch = "wasm32")]
pub(crate) fn now_secs() -> u64 {
    (js_sys::Date::now() / 1000.0) as u64
}

/// Resolves after `pause`.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) async fn sleep(pause: std::time::Duration) {
    tokio::time::sleep(pause).await;
}

/// Resolves after `pause`, through the global `setTimeout` (a page or a worker).
#[cfg(target_arch = "wasm32")]
pub(crate) async fn sleep(pause: std::time::Duration) {
    use wasm_bindgen::JsCast;
    let ms = pause.as_secs_f64() * 1e3;
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        let set_timeout = js_sys::Reflect::get(&js_sys::global(), &"setTimeout".into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        // Without timers at all, never time out rather than spin.
        if let Some(set_timeout) = set_timeout {
            let _ = set_timeout.call2(&wasm_bindgen::JsValue::NULL, &resolve, &ms.into());
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}
