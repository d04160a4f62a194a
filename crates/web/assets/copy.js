// Copy buttons: `<button data-copy="ID" hidden>` copies the value of the field with id ID to the
// clipboard. The button is hidden in the page and shown here, so without scripts (or without a
// clipboard) people select the read-only field and copy it themselves.

import { announce } from "./announce.js";

for (const button of document.querySelectorAll("button[data-copy]")) {
  const field = document.getElementById(button.dataset.copy);
  if (!field || !navigator.clipboard) continue;
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(field.value);
      announce("Link copied.");
    } catch {
      // Clipboard refused (permissions): leave the link selected to copy by hand.
      field.focus();
      field.select();
      announce("Copying was not allowed. The link is selected: copy it with your keyboard.");
    }
  });
}
