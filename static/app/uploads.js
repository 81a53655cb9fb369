// The upload list: one row per photo picked or dropped, each with its own
// progress bar, then its thumbnail, or the server's reason for refusing it.

import { AuthError } from "./graphql.js";

// A few at a time: each row's bar then moves steadily, and the server decodes
// at most one upload per core anyway.
const CONCURRENT_UPLOADS = 3;

export class UploadQueue {
  /**
   * @param {object} options
   * @param {HTMLElement} options.list the <ul> the rows go in
   * @param {(file: File, onProgress: (f: number) => void) => Promise<object>} options.send
   *   uploads one file; resolves to the mutation's payload {file, errors}
   * @param {(img: HTMLImageElement, file: object) => void} options.showThumbnail
   * @param {(stored: object) => void} options.onStored a file was stored
   * @param {(error: Error) => string} options.describe an error in words
   * @param {() => void} options.onIdle every row has finished
   */
  constructor({ list, send, showThumbnail, onStored, describe, onIdle }) {
    Object.assign(this, { list, send, showThumbnail, onStored, describe, onIdle });
    this.waiting = [];
    this.active = 0;
  }

  add(files) {
    for (const file of files) {
      const row = this.createRow(file);
      this.list.prepend(row.element);
      this.waiting.push(row);
    }
    this.pump();
  }

  pump() {
    while (this.active < CONCURRENT_UPLOADS && this.waiting.length) {
      const row = this.waiting.shift();
      this.active += 1;
      this.upload(row).finally(() => {
        this.active -= 1;
        this.pump();
        if (this.active === 0 && this.waiting.length === 0) this.onIdle();
      });
    }
  }

  createRow(file) {
    const element = document.getElementById("upload-template").content.firstElementChild.cloneNode(true);
    element.querySelector(".upload-name").textContent = file.name;
    const progress = element.querySelector(".upload-progress");
    progress.setAttribute("aria-label", `Upload of ${file.name}`);
    const row = { file, element, progress };
    element.querySelector(".retry").addEventListener("click", () => {
      this.waiting.push(row);
      this.pump();
    });
    return row;
  }

  async upload(row) {
    const { element, progress } = row;
    const state = element.querySelector(".upload-state");
    const error = element.querySelector(".error");
    const retry = element.querySelector(".retry");
    element.dataset.state = "uploading";
    retry.hidden = true;
    error.textContent = "";
    progress.value = 0;
    state.textContent = "Uploading…";
    try {
      const payload = await this.send(row.file, (fraction) => {
        progress.value = Math.round(fraction * 100);
      });
      progress.value = 100;
      if (payload.errors.length || !payload.file) {
        // The server's reason, such as "The file is not an image (JPEG or PNG expected)."
        this.fail(row, payload.errors.map((e) => e.message).join(" ") || "The photo was refused.");
        return;
      }
      element.dataset.state = "done";
      state.textContent = "Uploaded";
      const img = element.querySelector("img");
      img.alt = `Thumbnail of ${payload.file.filename}`;
      img.hidden = false;
      this.showThumbnail(img, payload.file);
      this.onStored(payload.file);
    } catch (failure) {
      this.fail(row, this.describe(failure));
      // Worth another try once the server is back, or a key has been given;
      // a refused file is not.
      retry.hidden = false;
      if (failure instanceof AuthError) retry.textContent = "Try again with the key";
    }
  }

  fail(row, message) {
    row.element.dataset.state = "failed";
    row.element.querySelector(".upload-state").textContent = "Not uploaded";
    row.element.querySelector(".error").textContent = message;
  }
}
