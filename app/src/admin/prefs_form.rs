//! What the preferences pages (Email Preferences, Dialer Preferences) share: a labelled input
//! bound to one field of the page's form signal, a saved secret's input with its "Remove the
//! saved …" box, and the note naming fields the server's environment pins.
//!
//! What must stay true: a secret is never sent to the browser; the page only knows whether one
//! is saved, and says so in the label ("Password (saved; type to replace)"), which tests and
//! screen readers find the input by. A typed secret travels in a [`FormSecret`], which no `Debug`
//! output (a log line, a panic message) shows.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A secret as typed into a form, on its way to the server: serialized as the plain string it
/// is (the form posts it), and `Debug`-printed as `FormSecret(***)`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FormSecret(String);

impl FormSecret {
    /// The typed text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for FormSecret {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl std::fmt::Debug for FormSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FormSecret(***)")
    }
}

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

/// A secret of a preferences form (a password, an auth token) and how the form holds it.
pub struct Secret<F> {
    /// The input's label ("Password").
    pub label: &'static str,
    /// The input's name.
    pub name: &'static str,
    /// What the box removes: " Remove the saved {what}".
    pub what: &'static str,
    /// The typed value; empty keeps the saved one.
    pub get: fn(&F) -> String,
    pub set: fn(&mut F, String),
    /// Sets whether to remove the saved one.
    pub clear: fn(&mut F, bool),
}

/// A password input for `secret`: its label says when one is `saved` (typing replaces it), and
/// then a check box offers to remove it.
pub fn secret_field<F: Send + Sync + 'static>(
    form: RwSignal<F>,
    saved: bool,
    secret: Secret<F>,
) -> impl IntoView {
    let Secret {
        label,
        name,
        what,
        get,
        set,
        clear,
    } = secret;
    view! {
        <label>{if saved { format!("{label} (saved; type to replace)") } else { label.to_string() }}
            <input name=name type="password" autocomplete="new-password" prop:value=move || form.with(get)
                on:input=move |ev| { let v = event_target_value(&ev); form.update(|f| set(f, v)); } />
        </label>
        {saved.then(|| view! {
            <label class="inline"><input type="checkbox" on:change=move |ev| { let on = event_target_checked(&ev); form.update(|f| clear(f, on)); } />{format!(" Remove the saved {what}")}</label>
        })}
    }
}

/// "Set by the server's environment …" when the environment pins any field.
pub fn pinned_note(pinned: Vec<String>) -> impl IntoView {
    (!pinned.is_empty()).then(|| view! {
        <p class="notice" role="note">{format!("Set by the server's environment, which wins over this page: {}.", pinned.join(", "))}</p>
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typed_secret_never_shows_in_debug_output() {
        let s = FormSecret::from("hunter2".to_string());
        assert_eq!(format!("{s:?}"), "FormSecret(***)");
        assert_eq!(s.expose(), "hunter2");
    }
}
