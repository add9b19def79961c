/**
 * Calendar arithmetic in a named time zone with Intl only (no dependency): which local day an
 * instant falls on. The shop's "today" is the shop's time zone's today, not UTC's.
 */
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timezone: string): Intl.DateTimeFormat {
  let f = formatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', {
      timeZone: timezone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    });
    formatters.set(timezone, f);
  }
  return f;
}

/** The local calendar day of `ms` in `timezone`, as "YYYY-MM-DD". */
export function calendarDay(ms: number, timezone: string): string {
  return formatter(timezone).format(new Date(ms));
}
