// The page at /: upload photos, recognize them with live progress, browse,
// filter, reprocess and delete them. Everything goes through GraphQL at
// /graphql (uploads included); thumbnails come from each file's thumbnailUrl.

import { AuthError, GraphQLClient, NetworkError, ServerError } from "./graphql.js";
import { SubscriptionClient } from "./subscriptions.js";
import { createCard, fillCard, setCardError } from "./cards.js";
import { Reachability } from "./reachability.js";
import { DELETE, FILES, MAKES, PENDING_COUNT, PENDING_IDS, REPROCESS, UPLOAD } from "./queries.js";
import { recognizeFiles } from "./recognition.js";
import { UploadQueue } from "./uploads.js";
import { Watcher } from "./watch.js";

const PAGE_SIZE = 24;
const KEY_STORAGE = "cars.apiKey";

const $ = (id) => document.getElementById(id);

const state = {
  key: sessionStorage.getItem(KEY_STORAGE) ?? "",
  cursor: null,
  total: 0,
  cards: new Map(), // global id -> card element
  files: new Map(), // global id -> the file as its card shows it
  run: null, // the recognition in progress
  listRequest: 0, // only the latest list answer is shown
  storedSince: [], // files uploaded since the latest list request was sent
  knownMakes: [], // the collection's most frequent makes (stats.topMakes)
};

// ---- the server: HTTP, websocket, reachability ----------------------------------

// Shows a banner while the server cannot be reached, and reloads the list once
// it answers again (it may have changed meanwhile).
const reachability = new Reachability({
  banner: $("offline"),
  onBack: () => {
    announce("The server is back.");
    reloadList();
  },
});

const api = new GraphQLClient({
  getKey: () => state.key,
  // A request without an answer may also be one the server cut short (an
  // upload over its body limit): /health decides whether the banner shows.
  onReachability: (reachable) => (reachable ? reachability.report(true) : reachability.check()),
});

const subscriptions = new SubscriptionClient({
  url: `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/graphql`,
  // A browser cannot put headers on a websocket: the key goes in connection_init.
  connectionParams: () => (state.key ? { apiKey: state.key } : {}),
  onState: (socketState) => {
    // A dropped socket may mean the server is gone: ask, rather than assume.
    if (socketState === "reconnecting") reachability.check();
    if (socketState === "connected") reachability.report(true);
  },
});

/** A failure, in words for the person at the screen. A missing or refused
 * key also brings up the key form. */
function describe(error) {
  if (error instanceof AuthError) {
    askForKey(error.message);
    return `${error.message} Enter an API key above.`;
  }
  if (error instanceof NetworkError || error instanceof ServerError) return error.message;
  console.error(error); // a bug in this page: the tests fail on console errors
  return "Something went wrong in this page. Reload it to try again.";
}

function announce(message) {
  $("announce").textContent = message;
}

// ---- the API key ----------------------------------------------------------------

function askForKey(reason) {
  if (state.key) {
    // The key we had was refused: forget it, so a reload asks again.
    state.key = "";
    sessionStorage.removeItem(KEY_STORAGE);
  }
  $("key-reason").textContent =
    reason === "The API key is not valid."
      ? "The server did not accept that key. Check it and try again."
      : "This server answers only requests that carry an API key. " +
        "Ask its operator for one; it is kept in this tab only.";
  $("key-error").textContent = reason === "The API key is not valid." ? reason : "";
  $("key-panel").hidden = false;
  $("app").hidden = true;
  $("forget-key").hidden = true;
  $("key-input").focus();
}

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = $("key-input").value.trim();
  if (!key) return;
  state.key = key;
  sessionStorage.setItem(KEY_STORAGE, key);
  $("key-input").value = "";
  $("key-error").textContent = "";
  subscriptions.restart(); // a socket opened without the key would stay refused
  start();
});

$("forget-key").addEventListener("click", () => {
  state.key = "";
  sessionStorage.removeItem(KEY_STORAGE);
  subscriptions.restart();
  askForKey("");
});

// ---- thumbnails -------------------------------------------------------------------

/** Without a key an <img> loads the thumbnail itself; with one, the image is
 * fetched with the key and shown from a blob: URL. */
async function showThumbnail(img, file) {
  if (!state.key) {
    img.src = file.thumbnailUrl;
    return;
  }
  try {
    const url = await api.imageUrl(file.thumbnailUrl);
    // The decoded image stays on screen once loaded; the URL is not needed after.
    img.addEventListener("load", () => URL.revokeObjectURL(url), { once: true });
    img.addEventListener("error", () => URL.revokeObjectURL(url), { once: true });
    img.src = url;
  } catch {
    img.alt = `No preview for ${file.filename}`;
  }
}

// ---- the list of photos ---------------------------------------------------------------

function filters() {
  return {
    status: $("filter-status").value || null,
    search: $("filter-search").value.trim() || null,
    make: $("filter-make").value || null,
  };
}

/** The make of a file's best guess, if it has one. */
function makeOf(file) {
  return file.predictions?.[0]?.make || null;
}

function matchesFilters(file) {
  const { status, search, make } = filters();
  return (
    (!status || status === file.status) &&
    (!search || file.filename.toLowerCase().includes(search.toLowerCase())) &&
    (!make || (makeOf(file) || "").toLowerCase() === make.toLowerCase())
  );
}

/** The first page for the current filters, replacing what is shown (and the
 * pending count, unless the list could not be had). */
async function reloadList() {
  state.cursor = null;
  if (await loadPage({ replace: true })) {
    refreshPendingCount();
    refreshMakes();
  }
}

/** Loads a page of photos; says whether it could. */
async function loadPage({ replace }) {
  const request = ++state.listRequest;
  // Photos uploaded while this page is on its way may be missing from it.
  if (replace) state.storedSince = [];
  const button = $("load-more");
  button.disabled = true;
  $("list-error").textContent = "";
  try {
    const { files } = await api.request(FILES, {
      first: PAGE_SIZE,
      after: replace ? null : state.cursor,
      ...filters(),
    });
    // The filters changed meanwhile: a newer answer is coming.
    if (request !== state.listRequest) return false;
    if (replace) {
      $("cards").replaceChildren();
      state.cards.clear();
      state.files.clear();
    }
    for (const file of files.nodes) addCard(file, { atTop: false });
    if (replace) {
      for (const file of state.storedSince) {
        if (!state.cards.has(file.id) && matchesFilters(file)) addCard(file, { atTop: true });
      }
    }
    state.cursor = files.pageInfo.endCursor;
    state.total = files.totalCount;
    button.hidden = !files.pageInfo.hasNextPage;
    updateMakes();
    return true;
  } catch (error) {
    if (request === state.listRequest) {
      $("list-error").textContent = `The photos could not be loaded: ${describe(error)}`;
    }
    return false;
  } finally {
    button.disabled = false;
  }
}

function addCard(file, { atTop }) {
  state.files.set(file.id, file);
  const existing = state.cards.get(file.id);
  if (existing) {
    fillCard(existing, file);
    return;
  }
  const card = createCard(file);
  state.cards.set(file.id, card);
  if (atTop) $("cards").prepend(card);
  else $("cards").append(card);
  if (state.run) setBusy(true); // its buttons wait too
  showThumbnail(card.querySelector(".card-thumb img"), file);
}

/** A file's new state, from a mutation's answer or an event. */
function updateCard(file) {
  const card = state.cards.get(file.id);
  if (!card) return;
  state.files.set(file.id, file);
  fillCard(card, file);
  updateMakes();
}

function removeCard(id) {
  const card = state.cards.get(id);
  if (!card) return;
  card.remove();
  state.cards.delete(id);
  state.files.delete(id);
  state.total = Math.max(0, state.total - 1);
  updateMakes();
}

/** The make filter offers the collection's most frequent makes and those of
 * the photos shown; the server does the filtering (`files(make:)`). */
function updateMakes() {
  const select = $("filter-make");
  const chosen = select.value;
  const makes = new Set([...state.knownMakes, ...[...state.cards.values()].map((card) => card.dataset.make)]);
  makes.delete(undefined);
  makes.delete("");
  if (chosen) makes.add(chosen);
  const options = [...makes].sort((a, b) => a.localeCompare(b)).map((make) => new Option(make, make));
  select.replaceChildren(new Option("All makes", ""), ...options);
  select.value = chosen;
  const loaded = state.cards.size;
  const noun = state.total === 1 ? "photo" : "photos";
  $("list-summary").textContent =
    state.total === 0
      ? "No photos match. Add some above, or change the filters."
      : `Showing ${loaded} of ${state.total} ${noun}.`;
}

async function refreshMakes() {
  try {
    const { stats } = await api.request(MAKES);
    state.knownMakes = stats.topMakes.map((entry) => entry.make);
    updateMakes();
  } catch {
    // the filter still offers the makes of the photos shown
  }
}

let searchTimer = null;
$("filters").addEventListener("submit", (event) => {
  event.preventDefault();
  clearTimeout(searchTimer);
  reloadList();
});
$("filter-status").addEventListener("change", () => reloadList());
$("filter-make").addEventListener("change", () => reloadList());
// Search as the person types, once they pause.
$("filter-search").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(reloadList, 300);
});
$("load-more").addEventListener("click", () => loadPage({ replace: false }));

// ---- uploads ------------------------------------------------------------------------

// Uploaded photos are recognized in the background; their cards follow along.
const watcher = new Watcher({
  subscriptions,
  onFile: updateCard,
  onGone: removeCard,
  onSettled: () => {
    refreshPendingCount();
    updateMakes();
  },
});

const uploads = new UploadQueue({
  list: $("upload-list"),
  send: async (file, onProgress) => {
    const data = await api.upload(UPLOAD, { file: null }, { "variables.file": file }, onProgress);
    return data.uploadFile;
  },
  showThumbnail,
  describe,
  onStored: (file) => {
    state.storedSince.push(file);
    if (matchesFilters(file)) {
      state.total += 1;
      addCard(file, { atTop: true });
      updateMakes();
    }
    if (file.status === "QUEUED" || file.status === "PROCESSING") watcher.add(file.id);
  },
  onIdle: () => {
    announce("The uploads have finished.");
    refreshPendingCount();
  },
});

$("file-input").addEventListener("change", (event) => {
  uploads.add([...event.target.files]);
  event.target.value = ""; // picking the same photo again starts another upload
});

const dropZone = $("drop-zone");
for (const type of ["dragenter", "dragover"]) {
  dropZone.addEventListener(type, (event) => {
    event.preventDefault(); // allows the drop
    dropZone.classList.add("dragging");
  });
}
for (const type of ["dragleave", "drop"]) {
  dropZone.addEventListener(type, () => dropZone.classList.remove("dragging"));
}
dropZone.addEventListener("drop", (event) => {
  event.preventDefault(); // or the browser opens the photo in place of the page
  uploads.add([...event.dataTransfer.files]);
});
// A photo dropped next to the zone would otherwise replace the page.
window.addEventListener("dragover", (event) => event.preventDefault());
window.addEventListener("drop", (event) => event.preventDefault());

// ---- recognition ----------------------------------------------------------------------

async function refreshPendingCount() {
  try {
    const { files } = await api.request(PENDING_COUNT);
    const count = files.totalCount;
    $("pending-count").textContent =
      count === 0
        ? "No photo waits for recognition."
        : `${count} ${count === 1 ? "photo waits" : "photos wait"} for recognition.`;
    $("recognize-all").disabled = count === 0 || state.run !== null;
    $("recognize-all").dataset.pending = String(count);
  } catch {
    // the list shows the error; the count stays as it was
  }
}

/** Every PENDING id on the server, a page of 100 at a time. */
async function pendingIds() {
  const ids = [];
  let after = null;
  for (;;) {
    const { files } = await api.request(PENDING_IDS, { after });
    ids.push(...files.nodes.map((node) => node.id));
    if (!files.pageInfo.hasNextPage) return ids;
    after = files.pageInfo.endCursor;
  }
}

/**
 * Recognizes `ids` (one run at a time), with the overall progress bar, each
 * card kept up to date, and errors shown where they belong.
 */
async function recognize(ids) {
  if (state.run || ids.length === 0) return;
  const run = { total: ids.length, finished: new Map() };
  state.run = run;
  setBusy(true);
  $("recognize-error").textContent = "";
  for (const id of ids) {
    const card = state.cards.get(id);
    if (card) setCardError(card, "");
  }
  showProgress(run, false);
  let problem = "";
  try {
    const { unavailable } = await recognizeFiles({
      api,
      subscriptions,
      ids,
      onFile: updateCard,
      onFinished: (id, outcome) => {
        run.finished.set(id, outcome);
        showProgress(run, false);
      },
      onError: showRecognitionError,
    });
    // Not about one photo: said once, with the fix the server gave.
    if (unavailable) problem = `The recognizer is not available. ${unavailable}`;
  } catch (error) {
    problem = `Recognition stopped: ${describe(error)}`;
  } finally {
    state.run = null;
    setBusy(false);
    $("recognize-error").textContent = problem;
    showProgress(run, true);
    refreshPendingCount();
  }
}

/** A file the server could not recognize is left as its error code says
 * (schema.graphql), without waiting for an event that may come late. */
function showRecognitionError(id, error) {
  const file = state.files.get(id);
  if (error.code === "NOT_FOUND") {
    removeCard(id); // deleted meanwhile
    return;
  }
  if (file && error.code === "RECOGNIZER_UNAVAILABLE") updateCard({ ...file, status: "PENDING" });
  if (file && error.code === "UPSTREAM_ERROR") {
    updateCard({ ...file, status: "FAILED", error: error.message, predictions: [] });
    return; // the card shows the reason as the file's failure
  }
  const card = state.cards.get(id);
  if (card) setCardError(card, error.message);
}

function showProgress(run, ended) {
  const done = [...run.finished.values()].filter((outcome) => outcome === "DONE").length;
  const failed = run.finished.size - done;
  const bar = $("overall-progress");
  bar.value = Math.round((run.finished.size / run.total) * 100);
  $("progress").dataset.state = ended ? "ended" : "running";
  const noun = run.total === 1 ? "photo" : "photos";
  let text = `Recognizing ${run.total} ${noun}: ${done} done`;
  if (failed) text += `, ${failed} failed`;
  if (ended) {
    text = `Recognized ${done} of ${run.total} ${noun}.`;
    if (failed) text += ` ${failed} could not be recognized.`;
  }
  $("progress-text").textContent = text;
}

/** One recognition at a time: its buttons wait while one runs. */
function setBusy(busy) {
  $("recognize-all").disabled = busy;
  document.body.classList.toggle("busy", busy);
  for (const button of document.querySelectorAll(".card .recognize, .card .reprocess")) {
    button.disabled = busy;
  }
}

$("recognize-all").addEventListener("click", async () => {
  const button = $("recognize-all");
  button.disabled = true;
  try {
    await recognize(await pendingIds());
  } catch (error) {
    $("recognize-error").textContent = `The pending photos could not be listed: ${describe(error)}`;
    button.disabled = false;
  }
});

// ---- what each card's buttons do ------------------------------------------------------

let deleting = null; // {id, card} while the confirmation is open

$("cards").addEventListener("click", async (event) => {
  const button = event.target.closest("button");
  const card = button?.closest(".card");
  if (!card) return;
  const id = card.dataset.id;
  setCardError(card, "");
  if (button.classList.contains("recognize")) {
    recognize([id]);
  } else if (button.classList.contains("reprocess")) {
    await reprocess(id, card);
  } else if (button.classList.contains("delete")) {
    deleting = { id, card, button };
    $("confirm-name").textContent = card.querySelector(".file-name").textContent;
    // Escape closes the dialog without touching returnValue: clear the last answer.
    $("confirm-delete").returnValue = "";
    $("confirm-delete").showModal();
  }
});

/** Clears the results and recognizes the photo again. */
async function reprocess(id, card) {
  try {
    const { reprocessFile } = await api.request(REPROCESS, { id });
    if (reprocessFile.errors.length) {
      setCardError(card, reprocessFile.errors.map((e) => e.message).join(" "));
      return;
    }
    updateCard(reprocessFile.file);
    await recognize([id]);
  } catch (error) {
    setCardError(card, describe(error));
  }
}

$("confirm-delete").addEventListener("close", async () => {
  const target = deleting;
  deleting = null;
  if (!target) return;
  if ($("confirm-delete").returnValue !== "delete") {
    target.button.focus();
    return;
  }
  const name = target.card.querySelector(".file-name").textContent;
  try {
    const { deleteFile } = await api.request(DELETE, { id: target.id });
    if (deleteFile.errors.length) {
      setCardError(target.card, deleteFile.errors.map((e) => e.message).join(" "));
      return;
    }
    // Keep the keyboard user's place: focus moves to the next card's delete button, or the heading.
    const next = target.card.nextElementSibling ?? target.card.previousElementSibling;
    removeCard(target.id);
    (next?.querySelector(".delete") ?? $("photos-title")).focus();
    announce(`Deleted ${name}.`);
    refreshPendingCount();
  } catch (error) {
    setCardError(target.card, `Not deleted: ${describe(error)}`);
  }
});

// ---- start ------------------------------------------------------------------------------

async function start() {
  $("key-panel").hidden = true;
  $("app").hidden = false;
  $("forget-key").hidden = !state.key;
  await reloadList();
}

start();
