//! The shared pieces of page markup: how a page shows a resource while it loads and once it has
//! loaded ([`Loaded`], and [`LoadedTransition`] for pages that refresh in place), and how it
//! shows an [`AppError`] ([`ErrorAlert`]).
//!
//! What must stay true: the markup is the one every page had before these existed, byte for
//! byte: `<p>"Loading…"</p>` while loading (unless the page passes its own `fallback`) and
//! `<p class="error" role="alert">` with the error's text. Tests and screen readers rely on the
//! `role="alert"`; a page that shows an error another way says why.

use std::sync::Arc;

use leptos::prelude::*;

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

/// An error as a page shows it: its sentence, announced to screen readers.
#[component]
pub fn ErrorAlert(error: AppError) -> impl IntoView {
    view! { <p class="error" role="alert">{error.to_string()}</p> }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_a_paragraph_announced_as_an_alert() {
        let html = view! { <ErrorAlert error=AppError::NotFound /> }.to_html();
        // Leptos writes `class` after the other attributes.
        assert_eq!(html, r#"<p role="alert" class="error">Not found.</p>"#);
    }
}
