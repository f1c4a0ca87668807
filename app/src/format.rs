//! How stored values are shown to people. Storage keeps canonical forms (E.164 phones); pages
//! show what a district or a parent recognises.

/// A North American E.164 number as `(612) 555-0102`; any other number as stored.
pub fn phone(e164: &str) -> String {
    match e164.strip_prefix("+1") {
        Some(n) if n.len() == 10 && n.bytes().all(|b| b.is_ascii_digit()) => {
            format!("({}) {}-{}", &n[..3], &n[3..6], &n[6..])
        }
        _ => e164.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn north_american_numbers_read_as_people_write_them_and_others_stay_as_stored() {
        assert_eq!(phone("+16125550102"), "(612) 555-0102");
        assert_eq!(phone("+442079460958"), "+442079460958");
    }
}
