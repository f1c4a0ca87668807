//! How stored values are shown to people (storage keeps canonical forms, E.164 phones, UTC
//! instants; pages show what a district or a parent recognises), and how values are put into
//! links.
//!
//! What must stay true: each kind of value reads one way on every page. A moment is `when`
//! (`Nov 23, 2026 3:05 PM`, in the district's time zone), a date `day`, a phone [`phone`], a
//! contact method [`contact`]; a page that needs another form says why. (The time formats run
//! on the server only, where the district's time zone is known.)

/// A North American E.164 number as `(612) 555-0102`; any other number as stored.
pub fn phone(e164: &str) -> String {
    match e164.strip_prefix("+1") {
        Some(n) if n.len() == 10 && n.bytes().all(|b| b.is_ascii_digit()) => {
            format!("({}) {}-{}", &n[..3], &n[3..6], &n[6..])
        }
        _ => e164.to_string(),
    }
}

/// A contact method as people read it: its email address, or else its phone number as
/// [`phone`] writes it.
pub fn contact(email: Option<&str>, phone_e164: Option<&str>) -> String {
    match (email, phone_e164) {
        (Some(e), _) => e.to_string(),
        (None, Some(p)) => phone(p),
        (None, None) => String::new(),
    }
}

/// A moment, in the district's time zone: `Nov 23, 2026 3:05 PM`.
#[cfg(feature = "ssr")]
pub fn when(t: chrono::DateTime<chrono::Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz)
        .format("%b %-d, %Y %-I:%M %p")
        .to_string()
}

/// The date of a moment, in the district's time zone: `Nov 23, 2026`.
#[cfg(feature = "ssr")]
pub fn day(t: chrono::DateTime<chrono::Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz).format("%b %-d, %Y").to_string()
}

/// A date as a report's title names it: `Monday, November 23, 2026`.
#[cfg(feature = "ssr")]
pub fn long_day(t: chrono::DateTime<chrono::Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz).format("%A, %B %-d, %Y").to_string()
}

/// The time of day of a moment, for a list of one day's moments: `3:05 PM`.
#[cfg(feature = "ssr")]
pub fn time_of_day(t: chrono::DateTime<chrono::Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz).format("%-I:%M %p").to_string()
}

/// Percent-encodes a value for a link's query string (letters, digits and `-._~` stay).
pub fn query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn north_american_numbers_read_as_people_write_them_and_others_stay_as_stored() {
        assert_eq!(phone("+16125550102"), "(612) 555-0102");
        assert_eq!(phone("+442079460958"), "+442079460958");
    }

    #[test]
    fn a_contact_method_reads_as_its_address_or_its_phone() {
        assert_eq!(contact(Some("pat@home.example"), None), "pat@home.example");
        assert_eq!(contact(None, Some("+16125550100")), "(612) 555-0100");
        assert_eq!(contact(None, None), "");
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn a_moment_reads_one_way_in_the_districts_time_zone() {
        use chrono::TimeZone;
        let t = chrono::Utc
            .with_ymd_and_hms(2026, 11, 23, 21, 5, 0)
            .single()
            .expect("a valid instant");
        let tz = chrono_tz::America::Chicago;
        assert_eq!(when(t, tz), "Nov 23, 2026 3:05 PM");
        assert_eq!(day(t, tz), "Nov 23, 2026");
        assert_eq!(long_day(t, tz), "Monday, November 23, 2026");
        assert_eq!(time_of_day(t, tz), "3:05 PM");
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(query_value("O'Brien & co"), "O%27Brien%20%26%20co");
        assert_eq!(query_value("a@b.org,c@d.org"), "a%40b.org%2Cc%40d.org");
    }
}
