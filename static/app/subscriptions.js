// A small client of the graphql-transport-ws protocol, for GraphQL
// subscriptions over a websocket at ws(s)://<this host>/graphql
// (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md):
//
//   connection_init -> connection_ack, then subscribe {id, payload} ->
//   next* -> complete (or error); ping <-> pong either way.
//
// The socket opens on the first subscription and closes a while after the
// last one ends. If it drops while subscriptions are running, it reconnects
// with exponential backoff and subscribes them again.

const PROTOCOL = "graphql-transport-ws";
const IDLE_CLOSE_MS = 10_000;
const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 15_000;
// Close codes after which trying again with the same key cannot help.
const FORBIDDEN = new Set([4401, 4403]);

export class SubscriptionClient {
  /**
   * @param {object} options
   * @param {string} options.url
   * @param {() => object} options.connectionParams the connection_init payload
   *   (browsers cannot set headers on a websocket, so the API key goes here)
   * @param {(state: "connected"|"reconnecting"|"forbidden") => void} options.onState
   */
  constructor({ url, connectionParams, onState }) {
    this.url = url;
    this.connectionParams = connectionParams;
    this.onState = onState;
    this.socket = null;
    this.acknowledged = false;
    this.operations = new Map(); // id -> {payload, sink, sent}
    this.nextId = 1;
    this.retries = 0;
    this.retryTimer = null;
    this.idleTimer = null;
    this.pongWaiters = [];
  }

  /**
   * Starts a subscription. `sink.next(result)` gets each `{data, errors}`,
   * `sink.error(errors)` a refusal, `sink.complete()` the end, and
   * `sink.resumed()` (optional) says that the socket reconnected, so events
   * may have been missed. Returns a function that stops it.
   */
  subscribe(payload, sink) {
    const id = String(this.nextId++);
    this.operations.set(id, { payload, sink, sent: false });
    clearTimeout(this.idleTimer);
    if (this.acknowledged) this.sendSubscribe(id);
    else this.connect();
    return () => this.stop(id);
  }

  /**
   * Resolves to true once the server has read everything sent so far, or false
   * after `timeoutMs`. The protocol does not acknowledge a subscribe; a ping's
   * pong, answered in order, is the closest thing, so waiting for one before
   * starting the work makes missing its first events very unlikely.
   */
  settled(timeoutMs) {
    return new Promise((resolve) => {
      const waiter = { resolve, timer: setTimeout(() => this.settle(waiter, false), timeoutMs) };
      this.pongWaiters.push(waiter);
      if (this.acknowledged) this.send({ type: "ping" });
      else this.connect();
    });
  }

  /** Drops the connection (a new key, say); running subscriptions resume on a new one. */
  restart() {
    if (this.socket) this.socket.close(1000, "restart");
  }

  connect() {
    if (this.socket) return;
    clearTimeout(this.retryTimer);
    const socket = new WebSocket(this.url, PROTOCOL);
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.send({ type: "connection_init", payload: this.connectionParams() });
    });
    socket.addEventListener("message", (event) => this.receive(event.data));
    // "error" is always followed by "close", which handles both.
    socket.addEventListener("close", (event) => this.closed(socket, event));
  }

  receive(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      this.socket?.close(4400, "Invalid message");
      return;
    }
    const operation = this.operations.get(message.id);
    switch (message.type) {
      case "connection_ack":
        this.acknowledged = true;
        this.retries = 0;
        this.onState("connected");
        for (const [id, op] of this.operations) {
          if (op.sent) op.sink.resumed?.();
          this.sendSubscribe(id);
        }
        for (let i = 0; i < this.pongWaiters.length; i++) this.send({ type: "ping" });
        break;
      case "ping":
        this.send({ type: "pong" });
        break;
      case "pong":
        if (this.pongWaiters.length) this.settle(this.pongWaiters[0], true);
        break;
      case "next":
        operation?.sink.next(message.payload);
        break;
      case "error":
        this.operations.delete(message.id);
        operation?.sink.error(message.payload);
        this.closeWhenIdle();
        break;
      case "complete":
        this.operations.delete(message.id);
        operation?.sink.complete?.();
        this.closeWhenIdle();
        break;
      default:
        break; // a newer server's message: nothing to do with it
    }
  }

  closed(socket, event) {
    if (socket !== this.socket) return;
    this.socket = null;
    this.acknowledged = false;
    for (const waiter of [...this.pongWaiters]) this.settle(waiter, false);
    if (FORBIDDEN.has(event.code)) {
      // The key is missing or refused: the page asks for one; retrying cannot help.
      const operations = [...this.operations.values()];
      this.operations.clear();
      this.onState("forbidden");
      for (const op of operations) op.sink.error([{ message: "The API key was not accepted." }]);
      return;
    }
    if (this.operations.size === 0) return; // idle: the next subscription reconnects
    this.onState("reconnecting");
    // Exponential backoff with jitter, so that many pages do not all come back at once.
    const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** this.retries) * (0.5 + Math.random() / 2);
    this.retries += 1;
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  stop(id) {
    if (!this.operations.delete(id)) return;
    if (this.acknowledged) this.send({ id, type: "complete" });
    this.closeWhenIdle();
  }

  closeWhenIdle() {
    if (this.operations.size > 0) return;
    clearTimeout(this.idleTimer);
    if (!this.socket) {
      clearTimeout(this.retryTimer); // nothing left to resume
      return;
    }
    this.idleTimer = setTimeout(() => {
      if (this.operations.size === 0 && this.socket) this.socket.close(1000, "idle");
    }, IDLE_CLOSE_MS);
  }

  sendSubscribe(id) {
    const op = this.operations.get(id);
    op.sent = true;
    this.send({ id, type: "subscribe", payload: op.payload });
  }

  settle(waiter, value) {
    const index = this.pongWaiters.indexOf(waiter);
    if (index === -1) return;
    this.pongWaiters.splice(index, 1);
    clearTimeout(waiter.timer);
    waiter.resolve(value);
  }

  send(message) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }
}
