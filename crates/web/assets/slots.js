// The live slot picker of a doctor's page (templates/doctor.html).
//
// Opens the live feed (GET /api/v1/ws, protocol in crates/web/src/feed.rs), subscribes to the
// doctor shown from the event number the page was rendered at, and keeps the picker true
// without a reload:
//
// - a slot that becomes held, booked or unavailable is hidden (the `hidden` attribute takes it
//   out of sight and out of the accessibility tree) and its button disabled;
// - a slot on the page that becomes available again is shown again; one that was not on the
//   page is fetched with the rest of the week (GET /api/v1/slots);
// - on `resync` the week is fetched again and the picker redrawn;
// - a lost connection is reopened silently (feed.js: one socket per browser), resuming after
//   the last event seen.
//
// Changes are announced politely through the page's live region, a few at a time. The picker's
// `data-live` attribute says "subscribed" while the feed is open (tests wait for it).

import { announce } from "./announce.js";
import { openFeed } from "./feed.js";
import { clockTime, dateInZone, slotLabel } from "./format.js";

const ANNOUNCE_AFTER_MS = 700;
const REFETCH_AFTER_MS = 300;

class LivePicker {
  constructor(root) {
    this.root = root;
    this.doctorId = root.dataset.doctorId;
    this.reschedule = root.dataset.reschedule ?? "";
    this.patientId = root.dataset.patientId ?? "";
    this.timeZone = root.dataset.timeZone;
    this.first = root.dataset.first;
    this.days = Number(root.dataset.days) || 7;
    const seq = Number(root.dataset.seq);
    this.seq = root.dataset.seq !== undefined && Number.isFinite(seq) ? seq : null;
    this.feed = null;
    this.taken = [];
    this.freed = [];
    this.announceTimer = undefined;
    this.refetchTimer = undefined;
    this.fetching = null;
    this.fetchAgain = false;
    this.duringFetch = [];
  }

  start() {
    this.showDeviceZone();
    this.connect();
    window.addEventListener("online", () => this.reconnectNow());
    window.addEventListener("pageshow", (event) => {
      if (event.persisted) this.reconnectNow();
    });
  }

  /** Says which zone the device uses when it is not the doctor's. */
  showDeviceZone() {
    const note = this.root.querySelector(".local-zone");
    const device = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (note && device && device !== this.timeZone) {
      note.textContent = `Your device is set to ${device}.`;
      note.hidden = false;
    }
  }

  // The connection: the browser's one live feed (feed.js), subscribed again from the last
  // event seen each time it opens.

  connect() {
    this.feed = openFeed();
    this.feed.listen((message) => this.receive(message));
  }

  reconnectNow() {
    this.feed?.reconnect();
  }

  receive(message) {
    switch (message?.type) {
      case "_open":
        this.feed.subscribe([this.doctorId], this.seq);
        break;
      case "_closed":
        this.root.dataset.live = "reconnecting";
        break;
      case "subscribed": {
        // With one socket for the whole browser, other tabs' subscriptions are answered too.
        if (Array.isArray(message.doctor_ids) && !message.doctor_ids.includes(this.doctorId)) break;
        const latest = message.latest_seq?.[this.doctorId];
        if (this.seq === null && Number.isFinite(latest)) this.seq = latest;
        // A hook for tests and curious people: the picker is live from here on.
        this.root.dataset.live = "subscribed";
        break;
      }
      case "slot":
        if (message.doctor_id !== this.doctorId) return;
        if (this.seq !== null && message.seq <= this.seq) return;
        this.seq = message.seq;
        if (this.fetching) this.duringFetch.push(message);
        this.apply(message, true);
        break;
      case "resync":
        if (message.doctor_id !== this.doctorId) return;
        this.seq = message.latest_seq;
        this.refetch();
        break;
      default:
        break;
    }
  }

  // The picker.

  buttons() {
    return Array.from(this.root.querySelectorAll("button[data-start]"));
  }

  buttonAt(start) {
    const instant = Date.parse(start);
    return this.buttons().find((button) => Date.parse(button.dataset.start) === instant);
  }

  /** Applies one slot change; `speak` queues an announcement of what a person would notice. */
  apply(change, speak) {
    const button = this.buttonAt(change.start);
    const free = change.status === "available";
    if (!button) {
      if (free && this.inWeek(change.start)) this.scheduleRefetch();
      return;
    }
    const wasShown = !button.closest("li").hidden;
    this.setFree(button, free);
    if (speak && wasShown !== free) {
      (free ? this.freed : this.taken).push(button.getAttribute("aria-label"));
      this.scheduleAnnouncement();
    }
    this.updateWaitlist();
  }

  setFree(button, free) {
    const item = button.closest("li");
    if (!free && item.contains(document.activeElement)) this.keepFocus(item);
    item.hidden = !free;
    button.disabled = !free;
  }

  /** Moves focus off a slot about to be hidden, to its day, so keyboard users are not lost. */
  keepFocus(item) {
    const heading = item.closest(".day")?.querySelector(".day-heading")
      ?? this.root.querySelector("#slots-heading");
    if (!heading) return;
    heading.setAttribute("tabindex", "-1");
    heading.focus();
  }

  inWeek(start) {
    const date = dateInZone(start, this.timeZone);
    return Array.from(this.root.querySelectorAll(".day[data-date]"))
      .some((day) => day.dataset.date === date);
  }

  updateWaitlist() {
    const waitlist = this.root.querySelector(".waitlist");
    if (!waitlist) return;
    waitlist.hidden = this.buttons().some((button) => !button.closest("li").hidden);
  }

  scheduleAnnouncement() {
    window.clearTimeout(this.announceTimer);
    this.announceTimer = window.setTimeout(() => {
      const sentences = [];
      if (this.taken.length === 1) sentences.push(`Slot ${this.taken[0]} was just taken.`);
      if (this.taken.length > 1) sentences.push(`${this.taken.length} slots were just taken.`);
      if (this.freed.length === 1) sentences.push(`Slot ${this.freed[0]} is free again.`);
      if (this.freed.length > 1) sentences.push(`${this.freed.length} slots are free again.`);
      this.taken = [];
      this.freed = [];
      if (sentences.length > 0) announce(sentences.join(" "));
    }, ANNOUNCE_AFTER_MS);
  }

  // Fetching the week again.

  scheduleRefetch() {
    window.clearTimeout(this.refetchTimer);
    this.refetchTimer = window.setTimeout(() => this.refetch(), REFETCH_AFTER_MS);
  }

  async refetch() {
    window.clearTimeout(this.refetchTimer);
    if (this.fetching) {
      this.fetchAgain = true;
      return;
    }
    this.duringFetch = [];
    const params = new URLSearchParams({
      doctor_id: this.doctorId,
      date: this.first,
      days: String(this.days),
    });
    this.fetching = fetch(`/api/v1/slots?${params}`, { headers: { accept: "application/json" } });
    try {
      const response = await this.fetching;
      if (response.ok) {
        this.redraw(await response.json());
        // Changes that arrived while the listing travelled are newer than it.
        for (const change of this.duringFetch) this.apply(change, false);
      }
    } catch {
      // The next resync or reconnection fetches again.
    } finally {
      this.fetching = null;
      this.duringFetch = [];
      if (this.fetchAgain) {
        this.fetchAgain = false;
        this.scheduleRefetch();
      }
    }
  }

  /** Redraws the picker from a listing of GET /api/v1/slots. */
  redraw(slots) {
    const listed = new Map(slots.map((slot) => [Date.parse(slot.start), slot]));
    for (const button of this.buttons()) {
      const instant = Date.parse(button.dataset.start);
      const slot = listed.get(instant);
      this.setFree(button, slot?.status === "available");
      listed.delete(instant);
    }
    for (const slot of listed.values()) {
      this.insert(slot);
    }
    this.updateWaitlist();
  }

  /** Adds a slot that was not on the page to its day, in time order. */
  insert(slot) {
    const date = dateInZone(slot.start, this.timeZone);
    const day = Array.from(this.root.querySelectorAll(".day[data-date]"))
      .find((candidate) => candidate.dataset.date === date);
    const list = day?.querySelector("ul.slots");
    if (!list) return;
    const item = this.slotItem(slot);
    const later = Array.from(list.querySelectorAll("button[data-start]"))
      .find((button) => Date.parse(button.dataset.start) > Date.parse(slot.start));
    list.insertBefore(item, later ? later.closest("li") : null);
  }

  slotItem(slot) {
    const free = slot.status === "available";
    const item = document.createElement("li");
    item.className = "slot";
    item.hidden = !free;
    const form = document.createElement("form");
    form.method = "post";
    form.action = "/book/hold";
    form.append(hiddenInput("doctor_id", this.doctorId), hiddenInput("start", slot.start));
    if (this.reschedule) form.append(hiddenInput("reschedule", this.reschedule));
    if (this.patientId) form.append(hiddenInput("patient_id", this.patientId));
    const button = document.createElement("button");
    button.type = "submit";
    button.className = "slot-button";
    button.dataset.start = slot.start;
    button.setAttribute("aria-label", slotLabel(slot.start, slot.end, this.timeZone));
    button.textContent = clockTime(slot.start, this.timeZone);
    button.disabled = !free;
    form.append(button);
    item.append(form);
    return item;
  }
}

function hiddenInput(name, value) {
  const input = document.createElement("input");
  input.type = "hidden";
  input.name = name;
  input.value = value;
  return input;
}

const picker = document.getElementById("slot-picker");
if (picker) new LivePicker(picker).start();
