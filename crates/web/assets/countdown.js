// The hold page's countdown: reads `data-expires-at` (RFC 3339) and shows the time left,
// recomputed from the clock on every tick so it stays exact when the tab sleeps. Announces
// politely at one minute left and on expiry. Without JavaScript the expiry time is printed.

import { announce } from "./announce.js";

const countdown = document.getElementById("countdown");
if (countdown) {
  const expiresAt = Date.parse(countdown.dataset.expiresAt ?? "");
  const live = countdown.querySelector(".countdown-live");
  const clock = countdown.querySelector(".countdown-clock");
  let warned = false;
  let timer;

  const tick = () => {
    const left = Math.max(0, Math.ceil((expiresAt - Date.now()) / 1000));
    if (clock) {
      clock.textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
    }
    if (left <= 60 && left > 0 && !warned) {
      warned = true;
      announce("One minute left to confirm this time.");
    }
    if (left === 0) {
      window.clearInterval(timer);
      countdown.classList.add("expired");
      countdown.textContent = "Your hold has run out. Confirm now to try to book it, or choose another time.";
      announce("Your hold has run out.");
    }
  };

  if (!Number.isNaN(expiresAt) && live) {
    live.hidden = false;
    tick();
    timer = window.setInterval(tick, 1000);
  }
}
