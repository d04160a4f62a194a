// Waitlist offers, live: on pages where the patient is signed in, listen on the browser's one
// live feed (feed.js; the session cookie signs the socket in) for `waitlist_offer` and show a
// banner linking to the offer's hold page, announced politely — in every open tab — plus, while
// the page is hidden, a browser notification if the patient opted in on the waitlist page
// (`[data-notify-optin]`). The server sends open offers again on reconnection, and each offer
// is shown once per page.

import { announce } from "./announce.js";
import { openFeed } from "./feed.js";

const shown = new Set();

function timeLabel(iso, timeZone) {
  try {
    return new Intl.DateTimeFormat("en-GB", {
      weekday: "long", day: "numeric", month: "long", hour: "2-digit", minute: "2-digit",
      hourCycle: "h23", timeZone,
    }).format(new Date(iso));
  } catch {
    return new Date(iso).toLocaleString();
  }
}

/** The offer's doctor (name and time zone), or null if the catalogue cannot be reached. */
async function doctorOf(offer) {
  try {
    const response = await fetch(`/api/v1/doctors/${encodeURIComponent(offer.doctor_id)}`, {
      headers: { accept: "application/json" },
    });
    return response.ok ? await response.json() : null;
  } catch {
    return null;
  }
}

async function showOffer(offer) {
  if (shown.has(offer.offer_id)) return;
  shown.add(offer.offer_id);
  const main = document.getElementById("main");
  if (!main) return;
  const href = `/holds/${offer.hold_id}`;
  // Times are said in the doctor's zone, as on every page; the device's only if that fails.
  const doctor = await doctorOf(offer);
  const when = doctor
    ? `${timeLabel(offer.start, doctor.time_zone)} (${doctor.time_zone}) with ${doctor.name}`
    : timeLabel(offer.start);
  const banner = document.createElement("div");
  banner.className = "notice offer-banner";
  const text = document.createElement("p");
  text.append(`A time on your waitlist is free for you: ${when}. `);
  const link = document.createElement("a");
  link.href = href;
  link.textContent = "Take this slot";
  text.append(link);
  banner.append(text);
  main.prepend(banner);
  announce(`A waitlist time is free for you: ${when}.`);
  // A notification only when the patient cannot see the page (another tab, a minimised
  // window), and only if they allowed it on the waitlist page.
  if (
    document.visibilityState === "hidden" &&
    "Notification" in window &&
    Notification.permission === "granted"
  ) {
    try {
      const note = new Notification("MediBook: a time is free for you", { body: when, tag: offer.offer_id });
      note.addEventListener("click", () => window.location.assign(href));
    } catch {
      // Some browsers allow notifications only from a service worker; the banner remains.
    }
  }
}

/** The opt-in for browser notifications (on the waitlist page): asks once, on a click. */
function wireOptIn() {
  const button = document.querySelector("[data-notify-optin]");
  if (!button || !("Notification" in window)) return;
  const status = document.querySelector("[data-notify-status]");
  const show = () => {
    const permission = Notification.permission;
    button.hidden = permission !== "default";
    if (status) {
      status.hidden = permission === "default";
      status.textContent = permission === "granted"
        ? "This browser will notify you of an offer while MediBook is in the background."
        : "Notifications are blocked for MediBook in this browser; offers still show on the page.";
    }
  };
  button.addEventListener("click", async () => {
    try {
      await Notification.requestPermission();
    } catch {
      // Older browsers take a callback; the state is read again below either way.
    }
    show();
  });
  show();
}

if (document.body?.dataset.signedIn === "true") {
  openFeed().listen((message) => {
    if (message?.type === "waitlist_offer") showOffer(message);
  });
  wireOptIn();
}
