// The SharedWorker behind feed.js: one WebSocket to the live feed for every tab of the site.
//
// Each tab's port says hello with its viewer (the signed-in account, or none) and subscribes to
// the doctors it shows, from the event number its page was drawn at; it says bye when the page
// goes. The worker keeps, per doctor, the last event number it has passed on (from `subscribed`,
// `slot` and `resync` messages), so that:
//
// - a doctor new to the socket is subscribed from the tab's own number (the server replays
//   what the tab missed);
// - a doctor the socket already follows is not subscribed again (the server would ignore the
//   number): if the tab's page is older than the worker's position, the tab is told to `resync`
//   (fetch its listing again); either way it gets a `subscribed` answer of its own;
// - after a lost socket, every wanted doctor is subscribed again from its last number.
//
// Slot messages go to every tab; messages about a person (waitlist offers, sign-out) only to
// tabs of the socket's viewer. A tab of another session (signed in or out since) gets the
// worker a fresh socket of that session; when the server says the session ended, the next
// hello opens a new one. Pauses between reconnections grow, with jitter.

const FIRST_RETRY_MS = 1000;
const LONGEST_RETRY_MS = 30000;

const tabs = new Map(); // port -> { viewer, doctors: Set of doctor ids }
const lastSeq = new Map(); // doctor id -> last event number known to have been passed on
const onSocket = new Set(); // doctors the open socket is subscribed to
let socket = null;
let viewer = null; // the viewer the socket was opened for; null once signed out
let retries = 0;
let timer;

function post(port, message) {
  try {
    port.postMessage(message);
  } catch {
    tabs.delete(port);
  }
}

function broadcast(message, personal) {
  for (const [port, tab] of tabs) {
    if (!personal || tab.viewer === viewer) post(port, message);
  }
}

function everyDoctor() {
  const all = new Set();
  for (const tab of tabs.values()) for (const id of tab.doctors) all.add(id);
  return all;
}

function open() {
  return socket?.readyState === WebSocket.OPEN;
}

function send(message) {
  if (open()) socket.send(JSON.stringify(message));
}

function note(doctor, seq) {
  if (Number.isFinite(seq)) lastSeq.set(doctor, Math.max(seq, lastSeq.get(doctor) ?? seq));
}

/** Subscribes the socket to `doctors` not followed yet, each from its last known number. */
function follow(doctors) {
  const fresh = doctors.filter((id) => !onSocket.has(id));
  if (fresh.length === 0 || !open()) return;
  for (const id of fresh) onSocket.add(id);
  const after = {};
  for (const id of fresh) if (lastSeq.has(id)) after[id] = lastSeq.get(id);
  const message = { type: "subscribe", doctor_ids: fresh };
  if (Object.keys(after).length > 0) message.after_seq = after;
  send(message);
}

function connect() {
  const previous = socket;
  socket = null;
  onSocket.clear();
  if (previous) previous.close();
  let opened;
  try {
    const scheme = self.location.protocol === "https:" ? "wss:" : "ws:";
    opened = new WebSocket(`${scheme}//${self.location.host}/api/v1/ws`);
  } catch {
    later();
    return;
  }
  socket = opened;
  opened.addEventListener("open", () => {
    retries = 0;
    follow([...everyDoctor()]);
    broadcast({ type: "_open" }, false);
  });
  opened.addEventListener("message", (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    switch (message.type) {
      case "slot":
        note(message.doctor_id, message.seq);
        broadcast(message, false);
        break;
      case "resync":
        note(message.doctor_id, message.latest_seq);
        broadcast(message, false);
        break;
      case "subscribed":
        for (const [id, seq] of Object.entries(message.latest_seq ?? {})) {
          if (!lastSeq.has(id)) note(id, seq);
        }
        broadcast(message, false);
        break;
      case "signed_out":
        broadcast(message, true);
        viewer = null;
        break;
      default:
        // Waitlist offers and anything else about the signed-in person.
        broadcast(message, true);
        break;
    }
  });
  opened.addEventListener("close", () => {
    if (socket !== opened) return;
    socket = null;
    onSocket.clear();
    broadcast({ type: "_closed" }, false);
    later();
  });
}

function later() {
  clearTimeout(timer);
  const ceiling = Math.min(LONGEST_RETRY_MS, FIRST_RETRY_MS * 2 ** retries);
  retries += 1;
  timer = setTimeout(connect, ceiling / 2 + Math.random() * (ceiling / 2));
}

function subscribe(port, tab, message) {
  const ids = Array.isArray(message.doctor_ids) ? message.doctor_ids.map(String) : [];
  const seq = Number.isFinite(message.after_seq) ? message.after_seq : null;
  const already = [];
  for (const id of ids) {
    tab.doctors.add(id);
    if (onSocket.has(id)) {
      already.push(id);
    } else if (seq !== null && (!lastSeq.has(id) || seq < lastSeq.get(id))) {
      // Not followed yet: start from the oldest page that wants it.
      lastSeq.set(id, seq);
    }
  }
  follow(ids);
  if (already.length > 0 && open()) {
    const latest = {};
    for (const id of already) {
      latest[id] = lastSeq.get(id) ?? 0;
      // The worker passed on events this page has not seen: it fetches its listing again.
      if (seq !== null && lastSeq.has(id) && seq < lastSeq.get(id)) {
        post(port, { type: "resync", doctor_id: id, latest_seq: lastSeq.get(id) });
      }
    }
    post(port, { type: "subscribed", doctor_ids: already, latest_seq: latest });
  }
}

function receive(port, message) {
  switch (message?.type) {
    case "hello": {
      const tab = tabs.get(port) ?? { viewer: "", doctors: new Set() };
      tab.viewer = String(message.viewer ?? "");
      tabs.set(port, tab);
      // A page restored from the back/forward cache may show an old session: it never decides
      // whose socket this is (a fresh page load does).
      const decides = !message.restored || !socket;
      if (!socket || (decides && viewer !== tab.viewer)) {
        viewer = tab.viewer;
        clearTimeout(timer);
        retries = 0;
        connect();
      } else if (open()) {
        post(port, { type: "_open" });
      }
      break;
    }
    case "subscribe": {
      const tab = tabs.get(port) ?? { viewer: "", doctors: new Set() };
      tabs.set(port, tab);
      subscribe(port, tab, message);
      break;
    }
    case "bye": {
      const leaving = tabs.get(port)?.doctors ?? new Set();
      tabs.delete(port);
      const still = everyDoctor();
      const gone = [...leaving].filter((id) => !still.has(id) && onSocket.has(id));
      for (const id of gone) onSocket.delete(id);
      if (gone.length > 0) send({ type: "unsubscribe", doctor_ids: gone });
      break;
    }
    case "reconnect":
      if (!socket || socket.readyState > WebSocket.OPEN) {
        clearTimeout(timer);
        retries = 0;
        connect();
      }
      break;
    default:
      break;
  }
}

self.addEventListener("connect", (event) => {
  const port = event.ports[0];
  port.addEventListener("message", (message) => receive(port, message.data));
  port.start();
});
