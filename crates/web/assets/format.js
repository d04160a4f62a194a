// Dates, times and money written exactly as the server writes them (crates/web/src/pages/
// format.rs), so what a script adds to a page reads like what the page came with. Times are
// always written in a given IANA zone (the doctor's), never in the device's own.

const WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = [
  "January", "February", "March", "April", "May", "June",
  "July", "August", "September", "October", "November", "December",
];

const formatters = new Map();

function formatter(timeZone) {
  let format = formatters.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat("en-GB", {
      timeZone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    });
    formatters.set(timeZone, format);
  }
  return format;
}

/** The wall clock of `instant` (an RFC 3339 string or a Date) in `timeZone`, as numbers. */
export function wallClock(instant, timeZone) {
  const date = instant instanceof Date ? instant : new Date(instant);
  const parts = {};
  for (const part of formatter(timeZone).formatToParts(date)) {
    parts[part.type] = part.value;
  }
  const year = Number(parts.year);
  const month = Number(parts.month);
  const day = Number(parts.day);
  const weekday = new Date(Date.UTC(year, month - 1, day)).getUTCDay();
  return { year, month, day, weekday, hour: parts.hour, minute: parts.minute };
}

/** "09:30". */
export function clockTime(instant, timeZone) {
  const t = wallClock(instant, timeZone);
  return `${t.hour}:${t.minute}`;
}

/** "2027-03-02": the calendar date of `instant` in `timeZone`. */
export function dateInZone(instant, timeZone) {
  const t = wallClock(instant, timeZone);
  return `${t.year}-${String(t.month).padStart(2, "0")}-${String(t.day).padStart(2, "0")}`;
}

/** "Tuesday 2 March 2027". */
export function longDate(instant, timeZone) {
  const t = wallClock(instant, timeZone);
  return `${WEEKDAYS[t.weekday]} ${t.day} ${MONTHS[t.month - 1]} ${t.year}`;
}

/** A slot's accessible name: "Tuesday 2 March 2027, 09:30 to 09:50". */
export function slotLabel(start, end, timeZone) {
  return `${longDate(start, timeZone)}, ${clockTime(start, timeZone)} to ${clockTime(end, timeZone)}`;
}

/** "Tue 2 Mar, 09:30". */
export function shortMoment(instant, timeZone) {
  const t = wallClock(instant, timeZone);
  const weekday = WEEKDAYS[t.weekday].slice(0, 3);
  const month = MONTHS[t.month - 1].slice(0, 3);
  return `${weekday} ${t.day} ${month}, ${t.hour}:${t.minute}`;
}

/** "€65.00", "£55.00", "$80.00", or "65.00 CHF". */
export function fee({ amount_minor: minor, currency }) {
  const amount = `${Math.trunc(minor / 100)}.${String(Math.abs(minor % 100)).padStart(2, "0")}`;
  const symbols = { EUR: "€", GBP: "£", USD: "$" };
  return symbols[currency] ? `${symbols[currency]}${amount}` : `${amount} ${currency}`;
}

/** "1 doctor", "3 doctors". */
export function countOf(count, noun) {
  return count === 1 ? `1 ${noun}` : `${count} ${noun}s`;
}

/** "Dr. Anna Schmidt" → "AS". */
export function initials(name) {
  return name
    .split(/\s+/)
    .filter((word) => word && !word.endsWith("."))
    .map((word) => word[0])
    .filter((c) => /\p{L}/u.test(c))
    .map((c) => c.toUpperCase())
    .slice(0, 2)
    .join("");
}
