//! The report schedule: weekly and monthly cron ticks, each fanned out once per period however
//! many workers fire it.

use std::sync::Arc;

use apalis::prelude::{BoxDynError, Data};
use apalis_cron::Tick;

use super::{
    context::Context,
    report::{self, Kind},
    worker::Handled,
};

pub fn weekly_tick(_tick: Tick, ctx: Data<Arc<Context>>) -> Handled {
    Box::pin(async move { tick(&ctx, Kind::Weekly).await })
}

pub fn monthly_tick(_tick: Tick, ctx: Data<Arc<Context>>) -> Handled {
    Box::pin(async move { tick(&ctx, Kind::Monthly).await })
}

/// A schedule tick: the current period's reports, fanned out once however many workers tick.
async fn tick(ctx: &Context, kind: Kind) -> Result<(), BoxDynError> {
    let today = crate::platform::time::today();
    if !acts_on(kind, today) {
        return Ok(());
    }
    let (start, _) = kind.period_of(today);
    report::schedule(&ctx.db, kind, start).await.map_err(|e| Box::new(e) as BoxDynError)
}

/// Whether a tick on `today` schedules its period's reports: every weekly tick does; a monthly
/// one only on the month's last day (`settings::MONTHLY_REPORT_CRON` fires on days 28 to 31).
fn acts_on(kind: Kind, today: chrono::NaiveDate) -> bool {
    kind == Kind::Weekly || today == kind.period_of(today).1
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use chrono::{Datelike, Duration, NaiveDate, TimeZone, Utc};

    use super::acts_on;
    use crate::jobs::report::Kind;

    #[test]
    fn the_monthly_schedule_acts_once_a_month_on_its_last_day() {
        let schedule = cron::Schedule::from_str(crate::platform::settings::MONTHLY_REPORT_CRON).unwrap();
        // 2027 and 2028: 28-, 29- (leap), 30- and 31-day months, and two year ends.
        let from = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
        let acting: Vec<NaiveDate> = schedule
            .after(&from)
            .take_while(|t| t.year() < 2029)
            .map(|t| t.date_naive())
            .filter(|day| acts_on(Kind::Monthly, *day))
            .collect();
        assert_eq!(acting.len(), 24, "once a month: {acting:?}");
        for day in &acting {
            assert_eq!((*day + Duration::days(1)).day(), 1, "{day} is its month's last day");
        }
        let feb = |year, day| NaiveDate::from_ymd_opt(year, 2, day).unwrap();
        assert!(acting.contains(&feb(2027, 28)) && acting.contains(&feb(2028, 29)));
        assert!(!acting.contains(&feb(2028, 28)), "not the 28th of a leap February");
    }
}
