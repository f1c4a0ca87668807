//! The fixed lists the browser must hold without asking the server: the choices of select boxes,
//! check boxes and filters, each as (value, label).
//!
//! What must stay true: every list says exactly what `herald_core` says, value for value and
//! label for label, so a page that offers a choice and a page that shows the stored value use the
//! same words (a filter's "High Priority" once disagreed with the Type column's "Priority"). The
//! WASM bundle cannot link `herald_core`, so each list is pinned by a server-side test below.

/// The eight message types (contact reasons), in the order the compose form offers them.
pub const REASONS: [(&str, &str); 8] = [
    ("general", "General"),
    ("priority", "Priority"),
    ("emergency", "Emergency"),
    ("attendance", "Attendance"),
    ("behavior", "Behavior Messenger"),
    ("food_service", "Food Service"),
    ("teacher", "Teacher"),
    ("staff", "Staff"),
];

/// The devices a message can go out on.
pub const DEVICES: [(&str, &str); 3] = [
    ("email", "Email"),
    ("inbox", "Portal inbox"),
    ("phone", "Phone"),
];

/// The Delivery Report's status filter, as `StatusFilter` names them.
pub const STATUSES: [(&str, &str); 6] = [
    ("sent", "Sent"),
    ("failed", "Failed"),
    ("canceled", "Canceled"),
    ("queued", "Queued"),
    ("in_progress", "In progress"),
    ("retrying", "Retrying"),
];

/// How the SMTP connection is secured, on Email Preferences.
pub const TLS_MODES: [(&str, &str); 3] = [
    ("none", "None (trusted relay)"),
    ("starttls", "STARTTLS (port 587)"),
    ("tls", "TLS (port 465)"),
];

/// The `{{merge_field}}` names a message may use.
pub const MERGE_FIELDS: [&str; 6] = [
    "student",
    "guardian",
    "school",
    "calendar",
    "sender",
    "portal_url",
];

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use herald_core::domain::{ContactReason, Device};
    use herald_core::messaging::delivery_report::StatusFilter;
    use herald_core::messaging::email_preferences::TlsMode;
    use herald_core::messaging::template::MergeField;

    fn sorted<T: Ord + Clone>(items: &[T]) -> Vec<T> {
        let mut v = items.to_vec();
        v.sort();
        v
    }

    #[test]
    fn the_message_types_are_the_cores_contact_reasons_with_their_labels() {
        let core: Vec<(&str, &str)> = ContactReason::ALL
            .iter()
            .map(|r| (r.as_str(), r.label()))
            .collect();
        assert_eq!(sorted(&super::REASONS), sorted(&core));
    }

    #[test]
    fn the_devices_are_the_cores_devices_with_their_labels() {
        let core: Vec<(&str, &str)> = Device::ALL
            .iter()
            .map(|d| (d.as_str(), d.label()))
            .collect();
        assert_eq!(super::DEVICES.to_vec(), core);
    }

    #[test]
    fn the_status_choices_are_the_reports_filters() {
        let core: Vec<(&str, &str)> = StatusFilter::ALL
            .iter()
            .map(|f| (f.as_str(), f.label()))
            .collect();
        assert_eq!(super::STATUSES.to_vec(), core);
    }

    #[test]
    fn the_tls_modes_offered_are_the_cores_modes() {
        let offered: Vec<&str> = super::TLS_MODES.iter().map(|(v, _)| *v).collect();
        let core: Vec<&str> = TlsMode::ALL.iter().map(|m| m.as_str()).collect();
        assert_eq!(offered, core);
    }

    #[test]
    fn the_merge_fields_offered_are_the_templates_fields() {
        let core: Vec<&str> = MergeField::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(super::MERGE_FIELDS.to_vec(), core);
    }
}
