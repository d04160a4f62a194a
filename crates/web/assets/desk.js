// The front desk's day kept live (templates/desk.html).
//
// Listens on the browser's one live feed (feed.js), subscribed to every doctor of the clinic,
// and when a slot is booked or freed (a new booking, a cancellation, a move) — or the feed comes
// back after a lost connection — fetches the day again (without the patient search, whose runs
// are audited) and swaps it in (`#desk-live`), so the desk sees the change without a reload.
// Holds are ignored: they are not visits yet. Check-ins made at another desk show with the next
// change or reload (each read of the day is audited, so nothing polls).
// `data-live="subscribed"` on `#desk-live` says the feed is open (tests wait for it).

import { announce } from "./announce.js";
import { openFeed } from "./feed.js";

const REFRESH_AFTER_MS = 250;

class LiveDay {
  constructor(root) {
    this.root = root;
    this.doctorIds = (root.dataset.doctorIds ?? "").split(" ").filter(Boolean);
    this.feed = null;
    this.refreshTimer = undefined;
    this.changes = 0;
  }

  start() {
    if (this.doctorIds.length === 0) return;
    this.connect();
  }

  connect() {
    this.feed = openFeed();
    this.feed.listen((message) => this.receive(message));
  }

  receive(message) {
    if (message?.type === "_open") {
      this.feed.subscribe(this.doctorIds, null);
      // After a lost connection, what changed meanwhile is read again.
      if (this.root.dataset.live === "reconnecting") this.soon();
    } else if (message?.type === "_closed") {
      this.root.dataset.live = "reconnecting";
    } else if (message?.type === "subscribed") {
      this.root.dataset.live = "subscribed";
    } else if (message?.type === "resync") {
      this.soon();
    } else if (message?.type === "slot" && (message.status === "booked" || message.status === "available")) {
      if (!this.doctorIds.includes(message.doctor_id)) return;
      this.changes += 1;
      this.soon();
    }
  }

  soon() {
    window.clearTimeout(this.refreshTimer);
    this.refreshTimer = window.setTimeout(() => this.refresh(true), REFRESH_AFTER_MS);
  }

  async refresh(changed) {
    let response;
    try {
      // The day only: without the patient search (whose every run is audited).
      const url = new URL(window.location.href);
      url.searchParams.delete("q");
      url.searchParams.delete("notice");
      response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
    } catch {
      return;
    }
    if (!response.ok) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.getElementById("desk-live");
    if (!fresh) return;
    const before = this.root.querySelectorAll("tbody tr").length;
    this.root.replaceChildren(...fresh.childNodes);
    const after = this.root.querySelectorAll("tbody tr").length;
    this.root.dataset.refreshed = String((Number(this.root.dataset.refreshed) || 0) + 1);
    if (changed && after !== before) {
      announce(after > before ? "A visit was booked on this day." : "A visit on this day was cancelled.");
    }
  }
}

const root = document.getElementById("desk-live");
if (root) new LiveDay(root).start();
