// Recognizing a set of files with live progress: the fileEvents(ids:)
// subscription reports each file's steps while inferFiles mutations do the
// work, at most 100 ids per call.

import { EVENTS, INFER } from "./queries.js";

const MAX_IDS_PER_MUTATION = 100; // the server's MAX_BATCH_IDS default
const MAX_IDS_PER_SUBSCRIPTION = 1000;
const SETTLE_MS = 2000;
const LAST_EVENTS_MS = 5000;
// The event that ends a file's recognition: PENDING when the recognizer could not take it.
const LAST_KINDS = new Set(["DONE", "FAILED", "PENDING", "DELETED"]);

/**
 * Recognizes `ids`. `onFile(file)` gets each file's new state, from an event
 * or an answer; `onFinished(id, outcome)` is called once per id, with "DONE",
 * "FAILED" or "ERROR"; `onError(id, userError)` gets a file's error. Resolves to
 * `{unavailable}`, the server's message when the recognizer cannot be used (the
 * run then stops: every other file would fail the same way). Network and
 * key errors are thrown.
 *
 * Progress comes from the events, and from the answers too: a file recognized
 * earlier sends no event, nor does one the recognizer could not take, so every
 * id is finished when the last answer is in.
 */
export async function recognizeFiles({ api, subscriptions, ids, onFile, onFinished, onError }) {
  const wanted = new Set(ids);
  const finished = new Set();
  const finish = (id, outcome) => {
    if (!wanted.has(id) || finished.has(id)) return;
    finished.add(id);
    onFinished(id, outcome);
  };
  const listening = listen(subscriptions, ids, (event) => {
    if (event.file) onFile(event.file);
    if (event.kind === "DONE" || event.kind === "FAILED") finish(event.id, event.kind);
  });
  // Events sent before the server has taken the subscription in are lost.
  await subscriptions.settled(SETTLE_MS);
  try {
    for (const group of chunks(ids, MAX_IDS_PER_MUTATION)) {
      const { inferFiles } = await api.request(INFER, { ids: group });
      for (const file of inferFiles.files) {
        onFile(file);
        if (file.status === "DONE" || file.status === "FAILED") finish(file.id, file.status);
      }
      let unavailable = null;
      for (const error of inferFiles.errors) {
        const id = group[error.index] ?? error.input;
        onError(id, error);
        finish(id, "ERROR");
        if (error.code === "RECOGNIZER_UNAVAILABLE") unavailable = error.message;
      }
      if (unavailable) return { unavailable };
    }
    return { unavailable: null };
  } finally {
    listening.stopSoon();
  }
}

/**
 * Subscribes to the events of `ids`. The server sends an event only after
 * reading the file again, so the last events of a run may arrive after the
 * mutation's answer: `stopSoon()` keeps listening until each file has had its
 * last event, or a few seconds have passed (a file recognized earlier sends
 * none).
 */
function listen(subscriptions, ids, onEvent) {
  const waiting = new Set(ids);
  let stopped = false;
  let timer = null;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    clearTimeout(timer);
    stops.forEach((unsubscribe) => unsubscribe());
  };
  const stops = chunks(ids, MAX_IDS_PER_SUBSCRIPTION).map((group) =>
    subscriptions.subscribe(
      { query: EVENTS, variables: { ids: group } },
      {
        next: ({ data }) => {
          const event = data?.fileEvents;
          if (!event || stopped) return;
          onEvent(event);
          if (LAST_KINDS.has(event.kind)) waiting.delete(event.id);
          if (timer !== null && waiting.size === 0) stop();
        },
        // Refused (too many subscriptions on this socket, say): the answers
        // still complete the progress, without the steps in between.
        error: () => {},
      },
    ),
  );
  return {
    stopSoon() {
      if (waiting.size === 0) stop();
      else timer = setTimeout(stop, LAST_EVENTS_MS);
    },
  };
}

function chunks(items, size) {
  const out = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
