// Search as you type on the home and search pages: asks GET /api/v1/doctors?q= (typo-tolerant,
// by name or specialty) and shows the matching doctors under the search box, in the same cards
// the server renders (templates/partials/doctor_card.html). Without this script the form still
// submits to /search.

import { announce } from "./announce.js";
import { countOf, fee, initials, shortMoment, dateInZone } from "./format.js";

const DEBOUNCE_MS = 200;
const MIN_CHARS = 2;

const form = document.querySelector("form.search-form");
const input = form?.querySelector("input[name=q]");
const results = document.getElementById("search-results");

if (form && input && results) {
  const summary = results.querySelector(".search-summary");
  const list = results.querySelector(".doctor-list");
  let timer;
  let inFlight;

  const clear = () => {
    inFlight?.abort();
    results.hidden = true;
    list.replaceChildren();
    summary.textContent = "";
  };

  const search = async (query) => {
    inFlight?.abort();
    const controller = new AbortController();
    inFlight = controller;
    let doctors;
    try {
      const response = await fetch(`/api/v1/doctors?q=${encodeURIComponent(query)}`, {
        headers: { accept: "application/json" },
        signal: controller.signal,
      });
      if (!response.ok) {
        show(response.status === 422
          ? "Search for at most 100 characters: a name or a specialty."
          : "Search is not available right now. Press Search to try again.", []);
        return;
      }
      doctors = await response.json();
    } catch (error) {
      if (error.name !== "AbortError") {
        show("Search is not available right now. Press Search to try again.", []);
      }
      return;
    }
    if (controller !== inFlight) return;
    const text = doctors.length === 0
      ? `No doctors found for “${query}”. Check the spelling, or search for a specialty such as “cardiology”.`
      : `${countOf(doctors.length, "doctor")} found for “${query}”`;
    show(text, doctors);
    announce(doctors.length === 0 ? "No doctors found" : `${countOf(doctors.length, "doctor")} found`);
  };

  const show = (text, doctors) => {
    summary.textContent = text;
    list.replaceChildren(...doctors.map(doctorCard));
    results.hidden = false;
  };

  input.addEventListener("input", () => {
    window.clearTimeout(timer);
    const query = input.value.trim();
    if (query.length < MIN_CHARS) {
      clear();
      return;
    }
    timer = window.setTimeout(() => search(query), DEBOUNCE_MS);
  });
}

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

/** A doctor of the API as the card the server renders. */
function doctorCard(doctor) {
  const href = `/doctors/${encodeURIComponent(doctor.id)}`;
  const avatar = doctor.photo_url
    ? element("img", { class: "avatar", src: doctor.photo_url, alt: "", width: "64", height: "64" })
    : element("span", { class: "avatar", "aria-hidden": "true" }, initials(doctor.name));
  const next = doctor.next_free_slot
    ? element(
        "p",
        { class: "next-free" },
        "Next free: ",
        element(
          "a",
          { href: `${href}?week=${dateInZone(doctor.next_free_slot.start, doctor.time_zone)}` },
          element(
            "time",
            { datetime: doctor.next_free_slot.start },
            shortMoment(doctor.next_free_slot.start, doctor.time_zone),
          ),
        ),
        " ",
        element("span", { class: "zone" }, `(${doctor.time_zone})`),
      )
    : element("p", { class: "next-free none" }, "No free times in the next four weeks");
  const years = doctor.years_experience === 1
    ? "1 year's experience"
    : `${doctor.years_experience} years' experience`;
  return element(
    "li",
    { class: "doctor-card" },
    avatar,
    element(
      "div",
      { class: "doctor-card-body" },
      element("h3", { class: "doctor-name" }, element("a", { href }, doctor.name)),
      element("p", { class: "doctor-meta" }, `${doctor.specialty} · ${doctor.qualification}`),
      element("p", { class: "doctor-meta" }, `${years} · ${fee(doctor.fee)}`),
      next,
    ),
  );
}
