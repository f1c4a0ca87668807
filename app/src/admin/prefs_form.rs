//! What the preferences pages (Email Preferences, Dialer Preferences) share: a labelled input
//! bound to one field of the page's form signal, and the note naming fields the server's
//! environment pins.

use leptos::prelude::*;

/// A labelled `<input>` showing `get` of the form and writing edits back with `set`.
pub fn field<F: Send + Sync + 'static>(
    form: RwSignal<F>,
    label: &'static str,
    name: &'static str,
    kind: &'static str,
    get: fn(&F) -> String,
    set: fn(&mut F, String),
) -> impl IntoView {
    view! {
        <label>{label}
            <input name=name type=kind prop:value=move || form.with(get)
                on:input=move |ev| { let v = event_target_value(&ev); form.update(|f| set(f, v)); } />
        </label>
    }
}

/// "Set by the server's environment …" when the environment pins any field.
pub fn pinned_note(pinned: Vec<String>) -> impl IntoView {
    (!pinned.is_empty()).then(|| view! {
        <p class="notice" role="note">{format!("Set by the server's environment, which wins over this page: {}.", pinned.join(", "))}</p>
    })
}
