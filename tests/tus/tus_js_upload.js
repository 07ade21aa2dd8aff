// Uploads a file with tus-js-client (the library Uppy's tus plugin uses in
// browsers), here under Node.
//   node tus_js_upload.js ENDPOINT FILE TOKEN [PARALLEL_UPLOADS]
// Prints the upload's URL; on failure, tus-js-client's error and exit 1.
const fs = require("fs");
const path = require("path");
const tus = require("tus-js-client");

const [endpoint, file, token, parallel] = process.argv.slice(2);
const upload = new tus.Upload(fs.readFileSync(file), {
  endpoint,
  headers: { Authorization: `Bearer ${token}` },
  metadata: { filename: path.basename(file) },
  parallelUploads: Number(parallel || 1),
  chunkSize: 256 * 1024,
  retryDelays: [],
  onError: (error) => {
    console.error(String(error));
    process.exit(1);
  },
  onSuccess: () => console.log(upload.url),
});
upload.start();
