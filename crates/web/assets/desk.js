// The front desk's day kept live (templates/desk.html).
//
// Opens the live feed (GET /api/v1/ws), subscribes to every doctor of the clinic, and when a
// slot is booked or freed (a new booking, a cancellation, a move) fetches the page again and
// swaps in its day (`#desk-live`), so the desk sees the change without a reload. Holds are
// ignored: they are not visits yet. Check-ins made at another desk show on the next change, or
// within a minute while the page is visible. A lost connection is reopened with growing pauses.
// `data-live="subscribed"` on `#desk-live` says the feed is open (tests wait for it).

import { announce } from "./announce.js";

const FIRST_RETRY_MS = 1000;
const LONGEST_RETRY_MS = 30000;
const REFRESH_AFTER_MS = 250;
const QUIET_REFRESH_MS = 60000;

class LiveDay {
  constructor(root) {
    this.root = root;
    this.doctorIds = (root.dataset.doctorIds ?? "").split(" ").filter(Boolean);
    this.retries = 0;
    this.socket = null;
    this.timer = undefined;
    this.refreshTimer = undefined;
    this.changes = 0;
  }

  start() {
    if (this.doctorIds.length === 0) return;
    this.connect();
    window.setInterval(() => {
      if (document.visibilityState === "visible") this.refresh(false);
    }, QUIET_REFRESH_MS);
  }

  connect() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    let socket;
    try {
      socket = new WebSocket(`${scheme}//${window.location.host}/api/v1/ws`);
    } catch {
      this.reconnectLater();
      return;
    }
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.retries = 0;
      socket.send(JSON.stringify({ type: "subscribe", doctor_ids: this.doctorIds }));
    });
    socket.addEventListener("message", (event) => this.receive(event.data));
    socket.addEventListener("close", () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.root.dataset.live = "reconnecting";
      this.reconnectLater();
    });
  }

  reconnectLater() {
    const ceiling = Math.min(LONGEST_RETRY_MS, FIRST_RETRY_MS * 2 ** this.retries);
    this.retries += 1;
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => this.connect(), ceiling / 2 + Math.random() * (ceiling / 2));
  }

  receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (message.type === "subscribed") {
      this.root.dataset.live = "subscribed";
    } else if (message.type === "resync") {
      this.soon();
    } else if (message.type === "slot" && (message.status === "booked" || message.status === "available")) {
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
      response = await fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } });
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
