// GraphQL over HTTP at /graphql: queries and mutations as JSON with fetch, and
// uploads with XMLHttpRequest, which (unlike fetch) reports upload progress.
// Uploads follow the GraphQL multipart request spec
// (https://github.com/jaydenseric/graphql-multipart-request-spec).

const ENDPOINT = "/graphql";

/** The request never got an answer: the server is down or the network is. */
export class NetworkError extends Error {}

/** 401: the server wants an API key, or did not accept the one sent. */
export class AuthError extends Error {}

/** An answer that is an error: a GraphQL error, a 413, a CSRF refusal... The
 * message is the server's own, meant for a person. */
export class ServerError extends Error {
  constructor(message, { status = 0, code = null } = {}) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export class GraphQLClient {
  /**
   * @param {object} options
   * @param {() => string} options.getKey the API key to send, or "" for none
   * @param {(reachable: boolean) => void} options.onReachability told after
   *   each request whether the server answered, to show or hide the offline banner
   */
  constructor({ getKey, onReachability }) {
    this.getKey = getKey;
    this.onReachability = onReachability;
  }

  headers(extra = {}) {
    const key = this.getKey();
    return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
  }

  /** Runs a query or mutation; resolves to its `data`. */
  async request(query, variables = {}) {
    let response;
    try {
      response = await fetch(ENDPOINT, {
        method: "POST",
        headers: this.headers({ "Content-Type": "application/json" }),
        body: JSON.stringify({ query, variables }),
      });
    } catch (error) {
      this.onReachability(false);
      throw new NetworkError("The server cannot be reached.", { cause: error });
    }
    this.onReachability(true);
    return unwrap(response.status, await readJson(response));
  }

  /**
   * Runs a mutation that takes files. `files` maps each variable path (such as
   * "variables.file") to a File; `onProgress` gets the fraction sent, 0 to 1.
   */
  upload(query, variables, files, onProgress) {
    const form = new FormData();
    const entries = Object.entries(files);
    form.append("operations", JSON.stringify({ query, variables }));
    form.append("map", JSON.stringify(Object.fromEntries(entries.map(([path], i) => [i, [path]]))));
    entries.forEach(([, file], i) => form.append(String(i), file, file.name));

    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", ENDPOINT);
      // The server's CSRF guard refuses multipart posts without it: a plain
      // HTML form on another site cannot send this header.
      xhr.setRequestHeader("Apollo-Require-Preflight", "true");
      for (const [name, value] of Object.entries(this.headers())) xhr.setRequestHeader(name, value);
      xhr.responseType = "text";
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) onProgress(event.loaded / event.total);
      });
      xhr.addEventListener("load", () => {
        this.onReachability(true);
        let body = null;
        try {
          body = JSON.parse(xhr.responseText);
        } catch {
          // not JSON: unwrap() describes it by its status
        }
        try {
          resolve(unwrap(xhr.status, body));
        } catch (error) {
          reject(error);
        }
      });
      // The connection failed or was cut. A server refusing an oversized body
      // answers 413 and closes early; browsers may then see only the cut.
      xhr.addEventListener("error", () => {
        this.onReachability(false);
        reject(
          new NetworkError(
            "The upload was cut off: the server cannot be reached, or refused a file this large.",
          ),
        );
      });
      xhr.send(form);
    });
  }

  /**
   * An image that needs the API key (an <img> cannot send a header): fetched
   * with it, and returned as a blob: URL that the caller revokes once shown.
   */
  async imageUrl(url) {
    let response;
    try {
      response = await fetch(url, { headers: this.headers() });
    } catch (error) {
      this.onReachability(false);
      throw new NetworkError("The server cannot be reached.", { cause: error });
    }
    this.onReachability(true);
    if (!response.ok) unwrap(response.status, await readJson(response));
    return URL.createObjectURL(await response.blob());
  }
}

async function readJson(response) {
  try {
    return await response.json();
  } catch {
    return null;
  }
}

/** The `data` of a GraphQL answer, or the error it carries, in the server's words. */
function unwrap(status, body) {
  // REST-style refusals from the middleware (401, 413, ...) are {"detail": "..."};
  // GraphQL errors are {"errors": [{"message", "extensions": {"code"}}]}.
  const first = body?.errors?.[0];
  const message = body?.detail ?? first?.message;
  if (status === 401) throw new AuthError(message ?? "An API key is needed.");
  if (status !== 200 || !body?.data || first) {
    throw new ServerError(message ?? `The server answered with an error (HTTP ${status}).`, {
      status,
      code: first?.extensions?.code ?? null,
    });
  }
  return body.data;
}
