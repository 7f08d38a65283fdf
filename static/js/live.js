// A websocket that authenticates by its first frame, shows its state, and reconnects with
// exponential backoff. Every (re)connect gets a fresh `hello`, so nothing missed is lost.

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 15000;
const PING_MS = 15000;

const STATE_WORDS = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Connection lost — reconnecting",
  closed: "Disconnected",
  refused: "Not allowed",
};

function socketUrl(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}`;
}

export class LiveSocket {
  /**
   * @param {string} path e.g. `/ws/company-users/3`
   * @param {() => object} authFrame the first frame, built at each (re)connect
   * @param {(frame: object) => void} onFrame every server frame after auth
   * @param {(state: string, detail: string) => void} onState connection state changes
   */
  constructor(path, authFrame, onFrame, onState) {
    this.path = path;
    this.authFrame = authFrame;
    this.onFrame = onFrame;
    this.onState = onState;
    this.delay = FIRST_DELAY_MS;
    this.stopped = false;
    this.socket = null;
    this.timer = null;
    this.pinger = null;
    this.lastSeq = 0;
    this.attempts = 0;
    this.open();
  }

  open() {
    this.setState(this.attempts === 0 ? "connecting" : "reconnecting");
    const socket = new WebSocket(socketUrl(this.path));
    this.socket = socket;
    socket.onopen = () => socket.send(JSON.stringify(this.authFrame()));
    socket.onmessage = (message) => this.receive(socket, message);
    socket.onclose = (event) => this.closed(socket, event);
    socket.onerror = () => {};
  }

  receive(socket, message) {
    let frame;
    try {
      frame = JSON.parse(message.data);
    } catch {
      return;
    }
    if (frame.type === "hello") {
      this.lastSeq = frame.seq || 1;
      this.delay = FIRST_DELAY_MS;
      this.attempts = 0;
      this.setState("live");
      this.startPinging(socket);
    } else if (typeof frame.seq === "number") {
      if (this.lastSeq && frame.seq !== this.lastSeq + 1) {
        // A gap means a frame was lost: start again for a fresh snapshot.
        socket.close(4000, "sequence gap");
        return;
      }
      this.lastSeq = frame.seq;
    }
    if (frame.type === "ping") {
      // The server checks that we are alive; any client frame proves it.
      this.send({ type: "ping" });
      return;
    }
    if (frame.type !== "pong") this.onFrame(frame);
  }

  startPinging(socket) {
    clearInterval(this.pinger);
    this.pinger = setInterval(() => {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "ping" }));
    }, PING_MS);
  }

  closed(socket, event) {
    if (socket !== this.socket) return;
    clearInterval(this.pinger);
    this.lastSeq = 0;
    if (this.stopped) {
      this.setState("closed");
      return;
    }
    // 4401/4403/4404/1008: the server refused us; retrying will not change its mind soon.
    const refused = [1008, 4401, 4403, 4404].includes(event.code);
    this.attempts += 1;
    const wait = refused ? MAX_DELAY_MS : this.delay;
    this.setState(refused ? "refused" : "reconnecting", event.reason || "");
    this.delay = Math.min(this.delay * 2, MAX_DELAY_MS);
    const jitter = wait * 0.2 * Math.random();
    this.timer = setTimeout(() => this.open(), wait + jitter);
  }

  send(frame) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    if (this.socket) this.socket.close(1000, "page left");
  }

  setState(state, detail = "") {
    this.state = state;
    this.onState(state, detail);
  }
}

/** Show a socket's state in a `.conn` element: a coloured dot and a few words. */
export function showConnection(element, state, detail) {
  element.dataset.state = state;
  element.textContent = STATE_WORDS[state] || state;
  element.title = detail || "";
}
