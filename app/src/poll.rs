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

/// Bumps `refresh` every `period` while `under_way()` holds: a page showing something that is
/// still changing (a send in progress) refreshes itself, and stops asking once it is done.
pub fn refresh_while(
    period: std::time::Duration,
    refresh: RwSignal<u32>,
    under_way: impl Fn() -> bool + Clone + 'static,
) {
    every(period, move || {
        if under_way() {
            refresh.update(|n| *n += 1);
        }
    });
}
