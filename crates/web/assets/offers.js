// Waitlist offers, live: on pages where the patient is signed in, listen on the feed (the
// session cookie signs the WebSocket in) for `waitlist_offer` and show a banner linking to the
// offer's hold page, announced politely, plus a browser notification if one was allowed.
// Reconnection is silent, with a growing delay; the server sends open offers again on
// reconnection, and each offer is shown once per page.

import { announce } from "./announce.js";

const shown = new Set();
let delay = 1000;

function timeLabel(iso, timeZone) {
  try {
    return new Intl.DateTimeFormat("en-GB", {
      weekday: "long", day: "numeric", month: "long", hour: "2-digit", minute: "2-digit", timeZone,
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
  if ("Notification" in window && Notification.permission === "granted") {
    try {
      const note = new Notification("MediBook: a time is free for you", { body: when, tag: offer.offer_id });
      note.addEventListener("click", () => window.location.assign(href));
    } catch {
      // Some browsers allow notifications only from a service worker; the banner remains.
    }
  }
}

function connect() {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  let socket;
  try {
    socket = new WebSocket(`${scheme}//${window.location.host}/api/v1/ws`);
  } catch {
    window.setTimeout(connect, delay);
    return;
  }
  socket.addEventListener("open", () => {
    delay = 1000;
  });
  socket.addEventListener("message", (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (message.type === "waitlist_offer") showOffer(message);
  });
  socket.addEventListener("close", () => {
    window.setTimeout(connect, delay);
    delay = Math.min(delay * 2, 30000);
  });
}

if (document.body?.dataset.signedIn === "true") connect();
