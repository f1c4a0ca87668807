//! When a phone job may be called: inside the message's dial window and the district's calling
//! hours, both read as wall-clock times in the district's time zone.
//!
//! What must stay true: [`when_to_call`] answers [`CallTime::Now`] only for an instant inside
//! both windows; otherwise it names the next instant that is (never a past one), or says the two
//! windows never overlap.

use chrono::{DateTime, Days, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::domain::DialWindow;

/// The answer for one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallTime {
    /// Both windows are open: place the call now.
    Now,
    /// The next opening.
    WaitUntil(DateTime<Utc>),
    /// The message's dial window lies wholly outside the calling hours.
    Never,
}

/// The window a message's calls may be placed in: its own dial window narrowed to the calling
/// hours; `None` when they do not overlap.
pub fn effective(calling_hours: DialWindow, message: Option<DialWindow>) -> Option<DialWindow> {
    let Some(m) = message else {
        return Some(calling_hours);
    };
    DialWindow::new(
        m.from().max(calling_hours.from()),
        m.until().min(calling_hours.until()),
    )
    .ok()
}

/// Whether a job may be called at `now`, and if not, when.
pub fn when_to_call(
    now: DateTime<Utc>,
    tz: Tz,
    calling_hours: DialWindow,
    message: Option<DialWindow>,
) -> CallTime {
    let Some(w) = effective(calling_hours, message) else {
        return CallTime::Never;
    };
    let local = now.with_timezone(&tz);
    let today = local.date_naive();
    if w.contains(local.time()) {
        return CallTime::Now;
    }
    let day = if local.time() < w.from() {
        today
    } else {
        today.checked_add_days(Days::new(1)).unwrap_or(today)
    };
    CallTime::WaitUntil(opening(tz, day, w).max(now))
}

/// The instant the window opens on `day`. A local time skipped by a daylight-saving change opens
/// at the first instant after the gap.
fn opening(tz: Tz, day: NaiveDate, w: DialWindow) -> DateTime<Utc> {
    let mut at: NaiveDateTime = day.and_time(w.from());
    for _ in 0..4 {
        if let Some(t) = tz.from_local_datetime(&at).earliest() {
            return t.with_timezone(&Utc);
        }
        at += chrono::TimeDelta::minutes(30);
    }
    Utc.from_utc_datetime(&at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveTime;
    use chrono_tz::America::Chicago;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn hours() -> DialWindow {
        DialWindow::new(t(8, 0), t(21, 0)).unwrap()
    }

    /// A UTC instant for a Chicago wall-clock time.
    fn chicago(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Chicago
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_job_at_20_59_district_time_is_called_now() {
        let now = chicago(2026, 11, 23, 20, 59);
        assert_eq!(when_to_call(now, Chicago, hours(), None), CallTime::Now);
    }

    #[test]
    fn a_job_at_21_01_district_time_waits_for_eight_the_next_morning() {
        let now = chicago(2026, 11, 23, 21, 1);
        assert_eq!(
            when_to_call(now, Chicago, hours(), None),
            CallTime::WaitUntil(chicago(2026, 11, 24, 8, 0))
        );
    }

    #[test]
    fn the_window_is_read_in_the_district_time_zone_not_utc() {
        // 20:59 in Chicago is 02:59 UTC the next day: outside 08:00-21:00 if read as UTC.
        let now = chicago(2026, 11, 23, 20, 59);
        assert_eq!(now.format("%H:%M").to_string(), "02:59");
        assert_eq!(when_to_call(now, Chicago, hours(), None), CallTime::Now);
    }

    #[test]
    fn an_early_job_waits_for_the_message_window_that_day() {
        let message = DialWindow::new(t(17, 0), t(19, 30)).unwrap();
        let now = chicago(2026, 11, 23, 9, 15);
        assert_eq!(
            when_to_call(now, Chicago, hours(), Some(message)),
            CallTime::WaitUntil(chicago(2026, 11, 23, 17, 0))
        );
    }

    #[test]
    fn the_calling_hours_narrow_a_wider_message_window() {
        let message = DialWindow::new(t(6, 0), t(23, 0)).unwrap();
        assert_eq!(
            when_to_call(chicago(2026, 11, 23, 7, 0), Chicago, hours(), Some(message)),
            CallTime::WaitUntil(chicago(2026, 11, 23, 8, 0))
        );
        assert_eq!(
            when_to_call(
                chicago(2026, 11, 23, 22, 0),
                Chicago,
                hours(),
                Some(message)
            ),
            CallTime::WaitUntil(chicago(2026, 11, 24, 8, 0))
        );
    }

    #[test]
    fn a_message_window_outside_the_calling_hours_is_never_open() {
        let message = DialWindow::new(t(6, 0), t(7, 30)).unwrap();
        assert_eq!(
            when_to_call(
                chicago(2026, 11, 23, 6, 30),
                Chicago,
                hours(),
                Some(message)
            ),
            CallTime::Never
        );
    }

    #[test]
    fn an_opening_skipped_by_daylight_saving_falls_just_after_the_gap() {
        // 2027-03-14 02:00-03:00 does not exist in Chicago.
        let w = DialWindow::new(t(2, 30), t(5, 0)).unwrap();
        let now = chicago(2027, 3, 14, 1, 0);
        assert_eq!(
            when_to_call(
                now,
                Chicago,
                DialWindow::new(t(0, 0), t(23, 0)).unwrap(),
                Some(w)
            ),
            CallTime::WaitUntil(chicago(2027, 3, 14, 3, 0))
        );
    }
}
