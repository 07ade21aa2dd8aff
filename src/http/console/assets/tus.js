// A small tus 1.0.0 client (core + creation + termination) for the
// browser, written for depot: resumable uploads that pick up by themselves
// after a cut connection (HEAD, then PATCH from the offset the server
// has), and after a reload (the upload's URL is kept in localStorage
// under the file's name, size and modification time; depot keeps a cut
// PATCH's bytes). XMLHttpRequest rather than fetch: it reports the
// progress of a request body.

import { headers, session } from "./api.js";

export const ENDPOINT = "/api/v2/uploads/";
const CHUNK = 16 * 1024 * 1024;
/** Waits before retries after failures without progress; then it gives up. */
/** Answers after which an upload cannot go on (401 and 403 can, signed in again). */
const REFUSED_FOR_GOOD = [400, 404, 410, 413, 415];
const RETRY_DELAYS = [500, 1000, 2000, 3000, 5000, 8000, 13000, 20000];
const STORE = "depot-tus:";

export function fingerprint(file) {
  return `${STORE}${session.name}:${file.name}:${file.size}:${file.lastModified}`;
}

/** Uploads begun in this browser and not finished: [{key, name, size, url}]. */
export function unfinished() {
  const found = [];
  for (let i = 0; i < localStorage.length; i++) {
    const key = localStorage.key(i);
    if (!key.startsWith(`${STORE}${session.name}:`)) continue;
    try {
      found.push({ key, ...JSON.parse(localStorage.getItem(key)) });
    } catch {
      localStorage.removeItem(key);
    }
  }
  return found;
}

export function forget(key) {
  localStorage.removeItem(key);
}

class Failure extends Error {
  constructor(message, retry, status) {
    super(message);
    this.retry = retry;
    this.status = status;
  }
}

function base64(text) {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}

/** One request; resolves to the XHR, rejects with a Failure. */
function send(method, url, { body, extra = {}, onProgress, track } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    if (track) track(xhr);
    xhr.open(method, url);
    for (const [k, v] of Object.entries(headers({ "Tus-Resumable": "1.0.0", ...extra }))) {
      xhr.setRequestHeader(k, v);
    }
    if (onProgress) xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve(xhr);
      let message = `${xhr.status} ${xhr.statusText}`;
      let code = 0;
      try {
        const envelope = JSON.parse(xhr.responseText);
        message = envelope.error.message || message;
        code = envelope.error.code;
      } catch {
        // Not an envelope: the status says it.
      }
      // Worth another try: the server's or a proxy's trouble, a full
      // house, or an offset that moved (HEAD tells where to go on).
      const retry = xhr.status >= 500 || xhr.status === 429 || xhr.status === 423 || code === 90011;
      reject(new Failure(message, retry, xhr.status));
    };
    xhr.onerror = () => reject(new Failure("the connection was cut", true, 0));
    xhr.ontimeout = () => reject(new Failure("the connection timed out", true, 0));
    xhr.onabort = () => reject(new Failure("stopped", false, -1));
    xhr.send(body ?? null);
  });
}

export class Upload {
  /** callbacks: onProgress(sent, total), onRetry(message, delay), onSuccess(packageId) */
  constructor(file, callbacks) {
    this.file = file;
    this.cb = callbacks;
    this.key = fingerprint(file);
    this.url = null;
    this.offset = 0;
    this.stopped = false;
    this.xhr = null;
    /** Whether an upload begun before (a reload) was taken up again. */
    this.resumed = false;
    /** Where this page's first stored PATCH began. */
    this.firstSent = null;
  }

  /** Where a resumed upload went on from: what depot had kept of it. */
  get resumedFrom() {
    return this.resumed ? (this.firstSent ?? this.offset) : null;
  }

  async start() {
    let failures = 0;
    for (;;) {
      const before = this.offset;
      try {
        return await this.run();
      } catch (e) {
        if (this.stopped) throw new Failure("stopped", false, -1);
        if (!e.retry) {
          // Refused for good (a broken file, a refused type, too large,
          // gone): nothing is left to resume after a reload.
          if (REFUSED_FOR_GOOD.includes(e.status)) forget(this.key);
          throw e;
        }
        if (this.offset > before) failures = 0;
        if (failures >= RETRY_DELAYS.length) throw e;
        const delay = RETRY_DELAYS[failures++];
        this.cb.onRetry?.(e.message, delay);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  async run() {
    if (!this.url) await this.resumeOrCreate();
    else await this.head();
    while (this.packageId === undefined && this.offset < this.file.size) {
      const end = Math.min(this.offset + CHUNK, this.file.size);
      const from = this.offset;
      const xhr = await send("PATCH", this.url, {
        body: this.file.slice(from, end),
        extra: { "Upload-Offset": String(from), "Content-Type": "application/offset+octet-stream" },
        onProgress: (n) => this.cb.onProgress?.(from + n, this.file.size),
        track: (x) => (this.xhr = x),
      });
      this.firstSent ??= from;
      this.offset = Number(xhr.getResponseHeader("Upload-Offset"));
      this.take(xhr);
      this.cb.onProgress?.(this.offset, this.file.size);
    }
    if (this.packageId === undefined) {
      // Every byte is there: the last request's answer was lost on the way.
      await this.head();
      if (this.packageId === undefined) throw new Failure("depot has not stored the package yet", true, 0);
    }
    forget(this.key);
    this.cb.onSuccess?.(this.packageId);
    return this.packageId;
  }

  take(xhr) {
    const id = xhr.getResponseHeader("Depot-Package-Id");
    if (id) this.packageId = Number(id);
  }

  /** Finds the upload this browser began for the file, or begins one. */
  async resumeOrCreate() {
    const saved = localStorage.getItem(this.key);
    if (saved) {
      try {
        this.url = JSON.parse(saved).url;
        this.resumed = true;
        await this.head();
        return;
      } catch (e) {
        if (e.retry) throw e;
        // Gone (expired, finished elsewhere, terminated): begin anew.
        forget(this.key);
        this.url = null;
        this.resumed = false;
      }
    }
    const metadata = `filename ${base64(this.file.name)}`;
    const xhr = await send("POST", ENDPOINT, {
      extra: { "Upload-Length": String(this.file.size), "Upload-Metadata": metadata },
    });
    this.url = new URL(xhr.getResponseHeader("Location"), location.origin).pathname;
    this.offset = 0;
    localStorage.setItem(
      this.key,
      JSON.stringify({ url: this.url, name: this.file.name, size: this.file.size, began: Date.now() }),
    );
  }

  async head() {
    const xhr = await send("HEAD", this.url, { track: (x) => (this.xhr = x) });
    this.offset = Number(xhr.getResponseHeader("Upload-Offset"));
    this.take(xhr);
    this.cb.onProgress?.(this.offset, this.file.size);
  }

  /** Stops sending; `terminate` also removes what the server has. */
  async stop(terminate) {
    this.stopped = true;
    this.xhr?.abort();
    if (terminate && this.url) {
      await send("DELETE", this.url).catch(() => {});
      forget(this.key);
    }
  }
}
