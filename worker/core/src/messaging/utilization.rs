//! The Utilization Report: how many emails or phone calls the district delivered, by day and by
//! school, for a date range, as CSV or HTML.
//!
//! What must stay true:
//! - The counts are the messages' own tallies (`message_tally`: attempted, delivered, failed),
//!   so they agree with each message's Delivery Report exactly. A message counts on the day its
//!   delivery started, in the district's time zone, under its calendar's school, or under
//!   "District-wide" when it went to every school.
//! - Test sends to oneself are not counted.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgPool;

use crate::domain::Device;

/// What a day at a school, or any total, adds up to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Messages that had jobs on the device.
    pub messages: i64,
    /// Jobs fan-out made on the device (the tallies' totals).
    pub attempted: i64,
    /// Jobs delivered.
    pub delivered: i64,
    /// Jobs that failed for good.
    pub failed: i64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Self) {
        self.messages += o.messages;
        self.attempted += o.attempted;
        self.delivered += o.delivered;
        self.failed += o.failed;
    }
}

/// One day at one school.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The day delivery started, in the district's time zone.
    pub day: NaiveDate,
    /// The school of the message's calendar, or [`DISTRICT_WIDE`].
    pub school: String,
    /// What the day at the school adds up to.
    pub counts: Counts,
}

/// The school name district-wide messages are listed under.
pub const DISTRICT_WIDE: &str = "District-wide";

/// Every day × school with messages on `device` whose delivery started in `[from, until)`, by
/// day then school; days in the time zone named `tz`.
pub async fn rows(
    pool: &PgPool,
    device: Device,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    tz: &str,
) -> Result<Vec<Row>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"select (m.start_at at time zone $4)::date as "day!",
                  case when m.all_schools then $5 else s.name end as "school!",
                  count(*) as "messages!", sum(t.total)::bigint as "attempted!",
                  sum(t.sent)::bigint as "delivered!", sum(t.failed)::bigint as "failed!"
           from message m
           join message_tally t on t.message_id = m.id and t.device = $1
           join calendar c on c.id = m.calendar_id
           join school s on s.id = c.school_id
           where m.start_at >= $2 and m.start_at < $3 and not m.is_test
           group by 1, 2
           order by 1, 2"#,
        device as Device,
        from,
        until,
        tz,
        DISTRICT_WIDE,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Row {
            day: r.day,
            school: r.school,
            counts: Counts {
                messages: r.messages,
                attempted: r.attempted,
                delivered: r.delivered,
                failed: r.failed,
            },
        })
        .collect())
}

/// The totals by day, by school, and overall.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// Per day, in date order.
    pub by_day: Vec<(NaiveDate, Counts)>,
    /// Per school, in name order.
    pub by_school: Vec<(String, Counts)>,
    /// Over the whole range.
    pub all: Counts,
}

/// Adds `rows` up by day, by school and overall.
pub fn totals(rows: &[Row]) -> Totals {
    let mut by_day = std::collections::BTreeMap::<NaiveDate, Counts>::new();
    let mut by_school = std::collections::BTreeMap::<&str, Counts>::new();
    let mut all = Counts::default();
    for r in rows {
        *by_day.entry(r.day).or_default() += r.counts;
        *by_school.entry(&r.school).or_default() += r.counts;
        all += r.counts;
    }
    Totals {
        by_day: by_day.into_iter().collect(),
        by_school: by_school
            .into_iter()
            .map(|(s, c)| (s.to_string(), c))
            .collect(),
        all,
    }
}

/// The CSV extract: one line per day and school, then nothing else (a spreadsheet sums).
pub fn csv(device: Device, rows: &[Row]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let delivered = match device {
        Device::Phone => "Calls completed",
        _ => "Delivered",
    };
    let _ = w.write_record([
        "Date",
        "School",
        "Messages",
        "Attempted",
        delivered,
        "Failed",
    ]);
    for r in rows {
        let _ = w.write_record([
            r.day.to_string(),
            // School names come from the roster: never a formula.
            super::delivery_report::text_cell(&r.school),
            r.counts.messages.to_string(),
            r.counts.attempted.to_string(),
            r.counts.delivered.to_string(),
            r.counts.failed.to_string(),
        ]);
    }
    w.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(day: u32, school: &str, delivered: i64) -> Row {
        Row {
            day: NaiveDate::from_ymd_opt(2026, 11, day).unwrap_or_default(),
            school: school.into(),
            counts: Counts {
                messages: 1,
                attempted: delivered + 1,
                delivered,
                failed: 1,
            },
        }
    }

    #[test]
    fn totals_add_up_by_day_by_school_and_overall() {
        let rows = [
            row(2, "Lincoln", 10),
            row(2, "Riverside", 5),
            row(3, "Lincoln", 7),
        ];
        let t = totals(&rows);
        assert_eq!(
            t.by_day
                .iter()
                .map(|(d, c)| (d.to_string(), c.delivered))
                .collect::<Vec<_>>(),
            [
                ("2026-11-02".to_string(), 15),
                ("2026-11-03".to_string(), 7)
            ]
        );
        assert_eq!(
            t.by_school
                .iter()
                .map(|(s, c)| (s.as_str(), c.delivered))
                .collect::<Vec<_>>(),
            [("Lincoln", 17), ("Riverside", 5)]
        );
        assert_eq!(
            t.all,
            Counts {
                messages: 3,
                attempted: 25,
                delivered: 22,
                failed: 3
            }
        );
    }

    #[test]
    fn a_school_name_that_starts_like_a_formula_is_quoted_as_text() {
        let text =
            String::from_utf8(csv(Device::Email, &[row(2, "=HYPERLINK(\"x\")", 1)])).unwrap();
        assert!(text.contains("'=HYPERLINK"), "{text}");
        assert!(!text.contains(",=HYPERLINK"), "{text}");
    }

    #[test]
    fn the_csv_has_one_line_per_day_and_school() {
        let text = String::from_utf8(csv(Device::Phone, &[row(2, "Lincoln, North", 10)])).unwrap();
        assert_eq!(
            text,
            "Date,School,Messages,Attempted,Calls completed,Failed\n2026-11-02,\"Lincoln, North\",1,11,10,1\n"
        );
    }
}
