//! The shared pieces of a page: how it shows a resource while it loads and once it has loaded
//! ([`Loaded`], and [`LoadedTransition`] for pages that refresh in place), how it shows an
//! [`AppError`] ([`ErrorAlert`]), how a wide table scrolls ([`TableWrap`]), how it reads the id in
//! its URL ([`url_id`]), and how a group of check boxes keeps its list of chosen items
//! ([`toggle`]).
//!
//! What must stay true: the markup is the one every page had before these existed, byte for
//! byte: `<p>"Loading…"</p>` while loading (unless the page passes its own `fallback`) and
//! `<p class="error" role="alert">` with the error's text. Tests and screen readers rely on the
//! `role="alert"`; a page that shows an error another way says why. A malformed id in a URL
//! reads "Not found.", the same as an id of nothing.

use std::sync::Arc;

use leptos::prelude::*;
use uuid::Uuid;

use crate::error::AppError;

/// What a page shows while its resource loads, unless it passes its own `fallback`.
fn loading() -> impl IntoView {
    view! { <p>"Loading…"</p> }
}

/// The resolved resource: `children` of the value, or the error.
fn outcome<T, V, F>(
    resource: Resource<Result<T, AppError>>,
    children: F,
) -> impl Fn() -> Suspend<AnyView> + Send + Sync + 'static
where
    T: Clone + Send + Sync + 'static,
    V: IntoView + 'static,
    F: Fn(T) -> V + Send + Sync + 'static,
{
    let children = Arc::new(children);
    move || {
        let children = Arc::clone(&children);
        Suspend::new(async move {
            match resource.await {
                Ok(value) => children(value).into_any(),
                Err(error) => view! { <ErrorAlert error /> }.into_any(),
            }
        })
    }
}

/// A resource in a `<Suspense>`: the fallback while it loads, then `children` of its value, or
/// an [`ErrorAlert`]. Use as `<Loaded resource=r let:value>…</Loaded>`.
#[component]
pub fn Loaded<T, V, F>(
    /// The resource the content comes from.
    resource: Resource<Result<T, AppError>>,
    /// What shows while it loads; `<p>"Loading…"</p>` if not given.
    #[prop(optional, into)]
    fallback: Option<ViewFnOnce>,
    /// The content, from the loaded value.
    children: F,
) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    V: IntoView + 'static,
    F: Fn(T) -> V + Send + Sync + 'static,
{
    let fallback = fallback.unwrap_or_else(|| loading.into());
    view! { <Suspense fallback>{outcome(resource, children)}</Suspense> }
}

/// [`Loaded`] in a `<Transition>`: while the resource reloads, the previous content stays
/// instead of the fallback (pages that refresh or filter in place).
#[component]
pub fn LoadedTransition<T, V, F>(
    /// The resource the content comes from.
    resource: Resource<Result<T, AppError>>,
    /// What shows while it first loads; `<p>"Loading…"</p>` if not given.
    #[prop(optional, into)]
    fallback: Option<ViewFnOnce>,
    /// The content, from the loaded value.
    children: F,
) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    V: IntoView + 'static,
    F: Fn(T) -> V + Send + Sync + 'static,
{
    let fallback = fallback.unwrap_or_else(|| loading.into());
    view! { <Transition fallback>{outcome(resource, children)}</Transition> }
}

/// A table that scrolls sideways on a narrow screen. The scrolling box is a named, focusable
/// region, so a keyboard user can reach and scroll it and a screen reader announces what it holds
/// (WCAG 2.1.1; axe-core's `scrollable-region-focusable`).
#[component]
pub fn TableWrap(
    /// What the table lists, e.g. "Recipients".
    label: &'static str,
    children: Children,
) -> impl IntoView {
    view! {
        <div class="table-wrap" tabindex="0" role="region" aria-label=label>
            {children()}
        </div>
    }
}

/// An error as a page shows it: its sentence, announced to screen readers.
#[component]
pub fn ErrorAlert(error: AppError) -> impl IntoView {
    view! { <p class="error" role="alert">{error.to_string()}</p> }
}

/// The id a page's URL names (`/admin/people/:id`); a malformed one is [`AppError::NotFound`],
/// as the server answers for an id of nothing, so the page shows the same "Not found.".
pub fn url_id(raw: &str) -> Result<Uuid, AppError> {
    raw.parse().map_err(|_| AppError::NotFound)
}

/// Ticks (`on`) or unticks `item` in the list a group of check boxes chooses: afterwards it is in
/// the list exactly once, or not at all.
pub fn toggle<T: PartialEq>(items: &mut Vec<T>, item: T, on: bool) {
    items.retain(|x| *x != item);
    if on {
        items.push(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_id_in_the_url_is_not_found() {
        let id = "6f0c1a52-8f9e-4f8a-9d59-2b1c6d1f0a11";
        assert_eq!(url_id(id).map(|u| u.to_string()).as_deref(), Ok(id));
        assert_eq!(url_id("not-an-id"), Err(AppError::NotFound));
        assert_eq!(url_id(""), Err(AppError::NotFound));
    }

    #[test]
    fn a_ticked_item_is_chosen_once_and_an_unticked_one_not_at_all() {
        let mut chosen = vec!["email", "inbox"];
        toggle(&mut chosen, "phone", true);
        toggle(&mut chosen, "phone", true);
        assert_eq!(chosen, ["email", "inbox", "phone"]);
        toggle(&mut chosen, "email", false);
        toggle(&mut chosen, "email", false);
        assert_eq!(chosen, ["inbox", "phone"]);
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn an_error_is_a_paragraph_announced_as_an_alert() {
        let html = view! { <ErrorAlert error=AppError::NotFound /> }.to_html();
        // Leptos writes `class` after the other attributes.
        assert_eq!(html, r#"<p role="alert" class="error">Not found.</p>"#);
    }
}
