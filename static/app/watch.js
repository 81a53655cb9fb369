// Keeps the cards of photos being recognized in the background up to date:
// photos uploaded with `recognize: true` come back QUEUED, and their progress
// arrives as fileEvents. One subscription covers every watched photo; adding a
// photo replaces it with one for the larger set. That loses nothing: a
// subscription to ids starts with each file's current state.

import { EVENTS } from "./queries.js";

const SETTLED = new Set(["DONE", "FAILED", "PENDING", "DELETED"]);
const RESUBSCRIBE_MS = 150; // photos stored close together share one subscription
const MAX_IDS = 1000; // the server's limit per subscription

export class Watcher {
  /** `onFile(file)` gets each new state; `onGone(id)` a deletion; `onSettled()`
   * is called when no photo is left in progress. */
  constructor({ subscriptions, onFile, onGone, onSettled }) {
    this.subscriptions = subscriptions;
    this.onFile = onFile;
    this.onGone = onGone;
    this.onSettled = onSettled;
    this.ids = new Set();
    this.stop = null;
    this.timer = null;
  }

  add(id) {
    if (this.ids.has(id) || this.ids.size >= MAX_IDS) return;
    this.ids.add(id);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.resubscribe(), RESUBSCRIBE_MS);
  }

  resubscribe() {
    const previous = this.stop;
    this.stop = null;
    if (this.ids.size > 0) {
      this.stop = this.subscriptions.subscribe(
        { query: EVENTS, variables: { ids: [...this.ids] } },
        { next: ({ data }) => this.heard(data?.fileEvents), error: () => {} },
      );
    }
    if (previous) previous();
  }

  heard(event) {
    if (!event || !this.ids.has(event.id)) return;
    if (event.kind === "DELETED") this.onGone(event.id);
    else if (event.file) this.onFile(event.file);
    const status = event.file?.status ?? "DELETED";
    if (!SETTLED.has(status)) return;
    this.ids.delete(event.id);
    if (this.ids.size === 0) {
      if (this.stop) this.stop();
      this.stop = null;
      this.onSettled();
    }
  }
}
