// The live feed (GET /api/v1/ws, protocol in crates/web/src/feed/) for every script of a page,
// with one WebSocket per browser: a SharedWorker (feed-worker.js) holds the socket for all the
// tabs of the site and passes each of them every message; where SharedWorker is missing, each
// page opens its own socket. Either way a script sees the same thing:
//
//   const feed = openFeed();
//   feed.listen((message) => …);     // server messages, plus {type: "_open"} and {type: "_closed"}
//   feed.subscribe(doctorIds, afterSeq);
//   feed.reconnect();                // after the device comes back online
//
// On every "_open" (the first and each reconnection) scripts subscribe again with the last
// event they saw, as the protocol describes. `document.documentElement.dataset.feed` says
// "shared" or "page" (tests look at it). The session cookie signs the socket in; the worker
// opens a fresh socket when a page of another session (signed in or out since) says hello.

const FIRST_RETRY_MS = 1000;
const LONGEST_RETRY_MS = 30000;

let feed = null;

/** The page's feed, opened on first use. */
export function openFeed() {
  if (!feed) feed = typeof SharedWorker === "function" ? sharedFeed() : pageFeed();
  return feed;
}

function viewerKey() {
  return document.body?.dataset.viewer ?? "";
}

function sharedFeed() {
  const url = document.body?.dataset.feedWorker;
  if (!url) return pageFeed();
  let worker;
  try {
    worker = new SharedWorker(url, { name: "medibook-feed" });
  } catch {
    return pageFeed();
  }
  document.documentElement.dataset.feed = "shared";
  const listeners = [];
  const port = worker.port;
  let open = false;
  port.addEventListener("message", (event) => {
    const message = event.data;
    if (message?.type === "_open") open = true;
    if (message?.type === "_closed") open = false;
    for (const listener of listeners) listener(message);
  });
  port.start();
  port.postMessage({ type: "hello", viewer: viewerKey() });
  window.addEventListener("pagehide", () => port.postMessage({ type: "bye" }));
  // A page restored from the back/forward cache said bye when it was left: hello again (the
  // worker answers "_open", on which the page's scripts subscribe again).
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) port.postMessage({ type: "hello", viewer: viewerKey(), restored: true });
  });
  return {
    listen(listener) {
      listeners.push(listener);
      if (open) listener({ type: "_open" });
    },
    subscribe(doctorIds, afterSeq) {
      port.postMessage({ type: "subscribe", doctor_ids: doctorIds, after_seq: afterSeq ?? null });
    },
    reconnect() {
      port.postMessage({ type: "reconnect" });
    },
  };
}

function pageFeed() {
  document.documentElement.dataset.feed = "page";
  const listeners = [];
  let socket = null;
  let retries = 0;
  let timer;
  const emit = (message) => {
    for (const listener of listeners) listener(message);
  };
  const connect = () => {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    let opened;
    try {
      opened = new WebSocket(`${scheme}//${window.location.host}/api/v1/ws`);
    } catch {
      later();
      return;
    }
    socket = opened;
    opened.addEventListener("open", () => {
      retries = 0;
      emit({ type: "_open" });
    });
    opened.addEventListener("message", (event) => {
      try {
        emit(JSON.parse(event.data));
      } catch {
        // Not JSON: not ours.
      }
    });
    opened.addEventListener("close", () => {
      if (socket !== opened) return;
      socket = null;
      emit({ type: "_closed" });
      later();
    });
  };
  const later = () => {
    window.clearTimeout(timer);
    const ceiling = Math.min(LONGEST_RETRY_MS, FIRST_RETRY_MS * 2 ** retries);
    retries += 1;
    // Jitter, so a restarted server is not met by every page at the same instant.
    timer = window.setTimeout(connect, ceiling / 2 + Math.random() * (ceiling / 2));
  };
  connect();
  return {
    listen(listener) {
      listeners.push(listener);
      if (socket?.readyState === WebSocket.OPEN) listener({ type: "_open" });
    },
    subscribe(doctorIds, afterSeq) {
      if (socket?.readyState !== WebSocket.OPEN) return;
      const message = { type: "subscribe", doctor_ids: doctorIds };
      if (afterSeq !== null && afterSeq !== undefined) message.after_seq = afterSeq;
      socket.send(JSON.stringify(message));
    },
    reconnect() {
      if (socket && socket.readyState <= WebSocket.OPEN) return;
      window.clearTimeout(timer);
      retries = 0;
      connect();
    },
  };
}
