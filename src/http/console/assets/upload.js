// Upload: several files by drag and drop or the file picker, each through
// the resumable endpoint (`tus.js`) with its progress, rate and time left.

import { confirmDialog, bytes, duration, h, say, show } from "./dom.js";
import { headers } from "./api.js";
import { Upload, forget, unfinished } from "./tus.js";

/** Files sent at once; the rest wait their turn (depot limits uploads per user). */
const AT_ONCE = 2;
let queue = [];
let running = 0;

export function uploadPage() {
  const picker = h("input", {
    type: "file",
    multiple: true,
    id: "files",
    class: "visually-hidden",
    onchange: () => {
      add([...picker.files]);
      picker.value = "";
    },
  });
  const zone = h(
    "div",
    {
      class: "dropzone",
      role: "group",
      "aria-label": "Drop files here",
      ondragover: (e) => {
        e.preventDefault();
        zone.classList.add("over");
      },
      ondragleave: () => zone.classList.remove("over"),
      ondrop: (e) => {
        e.preventDefault();
        zone.classList.remove("over");
        add([...e.dataTransfer.files]);
      },
    },
    h("p", {}, "Drop RPMs and scripts here, or"),
    h("label", { for: "files", class: "button" }, "Choose files"),
    picker,
  );
  const list = h("ul", { class: "uploads", "aria-label": "Uploads", id: "upload-list" });
  show("Upload packages", resumable(), zone, list);
}

/** Uploads this browser began and did not finish (a reload, a closed tab). */
function resumable() {
  const left = unfinished();
  if (!left.length) return null;
  return h(
    "section",
    { "aria-labelledby": "unfinished-title", class: "unfinished" },
    h("h2", { id: "unfinished-title" }, "Unfinished uploads"),
    h("p", {}, "Choose the same file again to resume where it stopped."),
    h(
      "ul",
      {},
      left.map((u) =>
        h(
          "li",
          {},
          `${u.name} (${bytes(u.size)}) `,
          h("label", { for: "files", class: "button" }, `Resume ${u.name}`),
          " ",
          h(
            "button",
            {
              type: "button",
              onclick: async (e) => {
                const sure = await confirmDialog(
                  `Discard ${u.name}?`,
                  "What was sent of it is removed from depot.",
                  "Discard upload",
                );
                if (!sure) return;
                await fetch(u.url, {
                  method: "DELETE",
                  headers: headers({ "Tus-Resumable": "1.0.0" }),
                }).catch(() => {});
                forget(u.key);
                e.target.closest("li").remove();
              },
            },
            `Discard ${u.name}`,
          ),
        ),
      ),
    ),
  );
}

function add(files) {
  for (const file of files) {
    const item = row(file);
    document.getElementById("upload-list").append(item.li);
    queue.push(item);
  }
  next();
}

function next() {
  while (running < AT_ONCE && queue.length) {
    const item = queue.shift();
    running++;
    item.run().finally(() => {
      running--;
      next();
    });
  }
}

function row(file) {
  const progress = h("progress", { max: file.size || 1, value: 0, "aria-label": `Upload of ${file.name}` });
  const status = h("span", { class: "status" }, "Waiting");
  const cancel = h("button", { type: "button", "aria-label": `Cancel ${file.name}` }, "Cancel");
  const li = h("li", {}, h("strong", {}, file.name), ` ${bytes(file.size)} `, progress, status, cancel);
  let upload = null;
  // The rate over the last few seconds.
  let samples = [];
  const onProgress = (sent, total) => {
    progress.value = sent;
    const now = performance.now();
    samples.push([now, sent]);
    // The last 5 seconds, and at least the sample before them.
    while (samples.length > 2 && now - samples[1][0] > 5000) samples.shift();
    const [t0, s0] = samples[0];
    const rate = now > t0 ? ((sent - s0) * 1000) / (now - t0) : 0;
    const left = rate > 0 ? (total - sent) / rate : NaN;
    status.textContent = `${bytes(sent)} of ${bytes(total)} · ${bytes(rate)}/s · ${duration(left)} left`;
  };
  const item = {
    li,
    run: async () => {
      samples = [[performance.now(), 0]];
      upload = new Upload(file, {
        onProgress,
        onRetry: (why, delay) => {
          samples = [[performance.now() + delay, progress.value]];
          status.textContent = `Connection trouble (${why}); resuming in ${duration(delay / 1000)}`;
        },
      });
      cancel.onclick = async () => {
        await upload.stop(true);
        status.textContent = "Cancelled";
      };
      try {
        status.textContent = "Starting";
        const id = await upload.start();
        progress.value = file.size;
        li.dataset.state = "done";
        status.replaceChildren(
          upload.resumed ? `Resumed at ${bytes(upload.resumedFrom)}; stored as ` : "Stored as ",
          h("a", { href: `#/packages/${id}` }, `package ${id}`),
        );
        cancel.remove();
        say(`${file.name} is stored.`);
      } catch (e) {
        li.dataset.state = "failed";
        if (e.status !== -1) {
          status.textContent = `Failed: ${e.message}`;
          status.setAttribute("role", "alert");
        }
      }
    },
  };
  cancel.onclick = () => {
    queue = queue.filter((q) => q !== item);
    li.remove();
  };
  return item;
}
