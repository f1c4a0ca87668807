//! The pages that ship in their own WASM chunk. `cargo leptos build --split` cuts the bundle at
//! each [`LazyRoute`] here, so the browser first downloads only the shell, the portal's notices
//! and what every page shares, and fetches a page's code the first time someone opens it (a
//! parent reading a notice never downloads Compose). The server renders every page the same way
//! with or without the split, and a build without `--split` keeps the whole app in one file.
//!
//! What must stay true: a parent's visit to `/portal` needs nothing from here (sign-in, the
//! notices, the document shell and the landing redirect stay in the main chunk: a parent's first
//! visit is those two pages), and every admin tool is here, so the
//! main chunk grows only with what all pages share. `end2end/tests/page_code.spec.ts` checks both
//! ends; `./herald.sh bench bundle` prints each chunk's size. Lazy routes need the asynchronous
//! hydration of [`crate::hydrate`].

use leptos::prelude::*;
use leptos_router::{LazyRoute, lazy_route};

/// A unit struct that renders `$page` as a lazily loaded route.
macro_rules! lazy_page {
    ($($(#[$doc:meta])* $name:ident => $page:path;)*) => {$(
        $(#[$doc])*
        pub struct $name;

        #[lazy_route]
        impl LazyRoute for $name {
            fn data() -> Self {
                Self
            }

            fn view(_this: Self) -> AnyView {
                $page().into_any()
            }
        }
    )*};
}

lazy_page! {
    /// The admin shell: outline navigation and Campus Toolbar, around every tool.
    AdminShell => crate::admin::AdminShell;
    /// The admin overview.
    Overview => crate::admin::Overview;
    /// People (search and one person).
    People => crate::admin::people::PeoplePage;
    /// OneRoster import.
    Import => crate::admin::import::ImportPage;
    /// Compose.
    Compose => crate::admin::compose::ComposePage;
    /// Sent Messages.
    SentMessages => crate::admin::messages::SentMessagesPage;
    /// One message.
    Message => crate::admin::messages::MessagePage;
    /// A message's Delivery Report.
    DeliveryReport => crate::admin::delivery_report::DeliveryReportPage;
    /// Email Preferences.
    EmailPrefs => crate::admin::email_prefs::EmailPrefsPage;
    /// Dialer Preferences.
    DialerPrefs => crate::admin::dialer_prefs::DialerPrefsPage;
    /// Dialer Activity (the filter form).
    DialerActivity => crate::admin::dialer_activity::DialerActivityPage;
    /// Dialer Activity (the report).
    DialerActivityReport => crate::admin::dialer_activity::DialerActivityReport;
    /// Utilization.
    Utilization => crate::admin::utilization::UtilizationPage;
    /// The portal's contact preferences.
    PortalPreferences => crate::portal::preferences::PreferencesPage;
}
