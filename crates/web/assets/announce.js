// Polite announcements through the page's one live region (#status in templates/base.html).
// Screen readers read what is put there; sighted people see it as a short-lived toast.

const CLEAR_AFTER_MS = 6000;
let clearTimer;

/**
 * Says `message` politely, replacing whatever was being said. With `quiet`, the message is only
 * heard (for text the page already shows), not shown again as a toast.
 */
export function announce(message, { quiet = false } = {}) {
  const region = document.getElementById("status");
  if (!region) return;
  region.classList.toggle("quiet", quiet);
  // Emptying first makes a repeated message count as a change.
  region.textContent = "";
  window.setTimeout(() => {
    region.textContent = message;
  }, 50);
  window.clearTimeout(clearTimer);
  clearTimer = window.setTimeout(() => {
    region.textContent = "";
  }, CLEAR_AFTER_MS);
}
