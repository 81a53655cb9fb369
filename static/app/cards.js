// One card per photo: thumbnail (with a box on each vehicle a detector found),
// make and model, year, body type and colour, the top 3 guesses with confidence
// bars, and the model that made them. Everything from
// the server goes in as text (textContent), never as HTML.

const STATUS_WORDS = {
  PENDING: "Pending",
  QUEUED: "Queued",
  PROCESSING: "Recognizing…",
  DONE: "Recognized",
  FAILED: "Failed",
};

/** A new card element for `file`; `fill` keeps it up to date later. */
export function createCard(file) {
  const template = document.getElementById("card-template");
  const card = template.content.firstElementChild.cloneNode(true);
  card.dataset.id = file.id;
  fillCard(card, file);
  return card;
}

/** Shows `file` as it is now. The buttons stay the same elements, so a
 * keyboard user's focus is not lost when an event updates the card. */
export function fillCard(card, file) {
  const top = file.predictions[0] ?? null;
  card.dataset.status = file.status;
  card.dataset.make = top?.make ?? "";
  const part = (name) => card.querySelector(name);

  const badge = part(".badge");
  badge.textContent = STATUS_WORDS[file.status] ?? file.status;
  badge.className = `badge ${file.status.toLowerCase()}`;
  part(".file-name").textContent = file.filename;
  part(".card-thumb img").alt = `Photo ${file.filename}`;

  // Unless the verdict is CAR, the ranked guesses are shown as guesses only.
  const verdict = file.status === "DONE" ? file.verdict : null;
  card.dataset.verdict = verdict ?? "";
  part(".car").textContent =
    verdict === "NOT_CAR" ? "No car recognized"
    : top && verdict === "UNSURE" ? `Perhaps ${carName(top)}`
    : top ? carName(top) : headlineFor(file.status);
  part(".car-details").textContent =
    verdict === "NOT_CAR" ? "The guesses below are only guesses."
    : verdict === "UNSURE" ? "Not sure: the guesses below are only guesses."
    : top ? [top.year, top.bodyType, file.color?.name].filter(Boolean).join(" · ") : "";
  drawVehicles(part(".card-thumb"), file);
  part(".vehicles").textContent = vehiclesText(file.vehicles ?? []);

  const guesses = part(".guesses");
  guesses.replaceChildren(...file.predictions.slice(0, 3).map(guessItem));
  guesses.hidden = file.predictions.length === 0;

  part(".model-info").textContent = file.modelId
    ? `Model ${file.modelId} (${file.recognizer ?? "unknown"})` +
      (file.inferenceMs != null ? `, ${Math.round(file.inferenceMs)} ms` : "")
    : "";
  // Why recognition failed, as recorded with the file. (An action's error, such
  // as the recognizer being unavailable, goes in .error, and stays until the
  // next action on the card: an event must not wipe it out.)
  part(".failure").textContent = file.status === "FAILED" ? file.error ?? "Recognition failed." : "";

  const recognize = part(".recognize");
  recognize.hidden = !(file.status === "PENDING" || file.status === "FAILED");
  recognize.setAttribute("aria-label", `Recognize ${file.filename}`);
  const reprocess = part(".reprocess");
  reprocess.hidden = file.status !== "DONE";
  reprocess.setAttribute("aria-label", `Reprocess ${file.filename}`);
  part(".delete").setAttribute("aria-label", `Delete ${file.filename}`);
}

/** Shows what went wrong with an action on this card ("" clears it). */
export function setCardError(card, message) {
  card.querySelector(".action-error").textContent = message;
}

/** "BMW M3 Coupe 2012" reads "BMW M3"; a label of another form is shown whole. */
function carName(prediction) {
  const name = [prediction.make, prediction.model].filter(Boolean).join(" ");
  return name || prediction.label;
}

function headlineFor(status) {
  if (status === "PROCESSING") return "Recognizing…";
  if (status === "FAILED") return "Not recognized";
  return "Not recognized yet";
}

function guessItem(prediction) {
  const percent = Math.round(prediction.confidence * 1000) / 10;
  const item = document.createElement("li");
  item.className = "guess";
  const label = document.createElement("span");
  label.className = "guess-label";
  label.textContent = prediction.label;
  const value = document.createElement("span");
  value.className = "guess-value";
  value.textContent = `${percent}%`;
  const bar = document.createElement("span");
  bar.className = "guess-bar";
  bar.setAttribute("aria-hidden", "true"); // the percentage says it in words
  const fill = document.createElement("span");
  // Set through the CSSOM, which the page's CSP (no inline styles) allows.
  fill.style.width = `${Math.max(percent, 0.5)}%`;
  bar.append(fill);
  item.append(label, value, bar);
  return item;
}

const SVG = "http://www.w3.org/2000/svg";

/** A box and a label ("car · red") on each vehicle, over the thumbnail. The
 * SVG's user space is the photo's own pixels (the boxes' units), and "slice"
 * scales and crops it exactly as the image's `object-fit: cover` does. */
function drawVehicles(thumb, file) {
  const vehicles = file.vehicles ?? [];
  let overlay = thumb.querySelector("svg.boxes");
  if (!vehicles.length || !file.width || !file.height) {
    overlay?.remove();
    return;
  }
  if (!overlay) {
    overlay = document.createElementNS(SVG, "svg");
    overlay.classList.add("boxes");
    overlay.setAttribute("aria-hidden", "true"); // .vehicles says it in words
    thumb.append(overlay);
  }
  overlay.setAttribute("viewBox", `0 0 ${file.width} ${file.height}`);
  overlay.setAttribute("preserveAspectRatio", "xMidYMid slice");
  const text = Math.max(file.width, file.height) / 24; // about 11 px on a card
  overlay.replaceChildren(
    ...vehicles.map((vehicle, index) => {
      const { x, y, width, height } = vehicle.box;
      const group = document.createElementNS(SVG, "g");
      group.setAttribute("class", index === 0 ? "vehicle main" : "vehicle");
      const box = document.createElementNS(SVG, "rect");
      box.setAttribute("class", "box");
      for (const [name, value] of Object.entries({ x, y, width, height })) {
        box.setAttribute(name, String(value));
      }
      const label = document.createElementNS(SVG, "text");
      label.setAttribute("class", "box-label");
      label.setAttribute("x", String(x + text / 4));
      label.setAttribute("y", String(y + text));
      label.setAttribute("font-size", String(text));
      label.textContent = vehicleName(vehicle);
      group.append(box, label);
      return group;
    }),
  );
}

function vehicleName(vehicle) {
  return [vehicle.kind.toLowerCase(), vehicle.color?.name].filter(Boolean).join(" · ");
}

function vehiclesText(vehicles) {
  if (!vehicles.length) return "";
  const names = vehicles.map(vehicleName).join("; ");
  return vehicles.length === 1 ? `1 vehicle: ${names}` : `${vehicles.length} vehicles: ${names}`;
}
