// A notice the server drew on the page (after a form post, say) is in the page from the start,
// and live regions read only changes: say it once the page has loaded. It is heard, not shown
// again as a toast, since it is on the page already.

import { announce } from "./announce.js";

const notice = document.querySelector("[data-announce]");
if (notice) announce(notice.textContent.trim().replace(/\s+/g, " "), { quiet: true });
