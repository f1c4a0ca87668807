//! Polling: run a closure every so often while a component is mounted, in the browser only.
//!
//! What must stay true: one interval per component, started after hydration (an Effect never
//! runs on the server) and cleared when the component unmounts, so leaving a page stops its
//! requests.

use leptos::prelude::*;

/// Calls `tick` every `period` while the calling component is mounted.
pub fn every(period: std::time::Duration, tick: impl Fn() + Clone + 'static) {
    let ticker = StoredValue::new(None::<IntervalHandle>);
    Effect::new(move |_| {
        if ticker.get_value().is_none()
            && let Ok(h) = set_interval_with_handle(tick.clone(), period)
        {
            ticker.set_value(Some(h));
        }
    });
    on_cleanup(move || {
        if let Some(h) = ticker.get_value() {
            h.clear();
        }
    });
}
