// The SharedWorker behind feed.js: one WebSocket to the live feed for every tab of the site.
//
// Each tab's port says hello (with its viewer, so a sign-in or sign-out in any tab gets a
// socket of the new session), subscribes to the doctors it shows, and says bye when the page
// goes. The worker subscribes the socket to the doctors any tab wants, passes every message to
// every tab (each script keeps what concerns it), and unsubscribes doctors nobody wants any
// more. A lost socket is reopened with growing, jittered pauses and subscribed again from the
// last event seen of each doctor, so no change is missed.

const FIRST_RETRY_MS = 1000;
const LONGEST_RETRY_MS = 30000;

const wanted = new Map(); // port -> Set of doctor ids
const lastSeq = new Map(); // doctor id -> last event number passed on
let socket = null;
let viewer = null;
let retries = 0;
let timer;

function broadcast(message) {
  for (const port of wanted.keys()) {
    try {
      port.postMessage(message);
    } catch {
      wanted.delete(port);
    }
  }
}

function everyDoctor() {
  const all = new Set();
  for (const doctors of wanted.values()) for (const id of doctors) all.add(id);
  return all;
}

function send(message) {
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

function connect() {
  const previous = socket;
  socket = null;
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
    const doctors = [...everyDoctor()];
    if (doctors.length > 0) {
      const after = {};
      for (const id of doctors) if (lastSeq.has(id)) after[id] = lastSeq.get(id);
      const message = { type: "subscribe", doctor_ids: doctors };
      if (Object.keys(after).length > 0) message.after_seq = after;
      send(message);
    }
    broadcast({ type: "_open" });
  });
  opened.addEventListener("message", (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (message.type === "slot" && Number.isFinite(message.seq)) {
      lastSeq.set(message.doctor_id, Math.max(message.seq, lastSeq.get(message.doctor_id) ?? 0));
    }
    broadcast(message);
  });
  opened.addEventListener("close", () => {
    if (socket !== opened) return;
    socket = null;
    broadcast({ type: "_closed" });
    later();
  });
}

function later() {
  clearTimeout(timer);
  const ceiling = Math.min(LONGEST_RETRY_MS, FIRST_RETRY_MS * 2 ** retries);
  retries += 1;
  timer = setTimeout(connect, ceiling / 2 + Math.random() * (ceiling / 2));
}

function receive(port, message) {
  switch (message?.type) {
    case "hello":
      wanted.set(port, wanted.get(port) ?? new Set());
      if (viewer !== message.viewer || !socket) {
        viewer = message.viewer;
        clearTimeout(timer);
        retries = 0;
        connect();
      } else if (socket.readyState === WebSocket.OPEN) {
        port.postMessage({ type: "_open" });
      }
      break;
    case "subscribe": {
      const ids = Array.isArray(message.doctor_ids) ? message.doctor_ids.map(String) : [];
      const mine = wanted.get(port) ?? new Set();
      for (const id of ids) mine.add(id);
      wanted.set(port, mine);
      const subscribe = { type: "subscribe", doctor_ids: ids };
      if (message.after_seq !== null && message.after_seq !== undefined) {
        subscribe.after_seq = message.after_seq;
      }
      send(subscribe);
      break;
    }
    case "bye": {
      const leaving = wanted.get(port) ?? new Set();
      wanted.delete(port);
      const still = everyDoctor();
      const gone = [...leaving].filter((id) => !still.has(id));
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
