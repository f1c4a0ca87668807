//! How stored values are shown to people (storage keeps canonical forms, E.164 phones; pages
//! show what a district or a parent recognises), and how values are put into links.

/// A North American E.164 number as `(612) 555-0102`; any other number as stored.
pub fn phone(e164: &str) -> String {
    match e164.strip_prefix("+1") {
        Some(n) if n.len() == 10 && n.bytes().all(|b| b.is_ascii_digit()) => {
            format!("({}) {}-{}", &n[..3], &n[3..6], &n[6..])
        }
        _ => e164.to_string(),
    }
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
    fn query_values_are_percent_encoded() {
        assert_eq!(query_value("O'Brien & co"), "O%27Brien%20%26%20co");
        assert_eq!(query_value("a@b.org,c@d.org"), "a%40b.org%2Cc%40d.org");
    }
}
