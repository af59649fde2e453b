// Run with `node -e "$(cat check.js)" PORT`, TZ and NODE_EXTRA_CA_CERTS set:
// checks zlib, crypto and the time zone, then prints the body of
// https://127.0.0.1:PORT/.
const assert = require("assert");
const crypto = require("crypto");
const https = require("https");
const zlib = require("zlib");

const text = "slicer ".repeat(100);
assert.strictEqual(zlib.gunzipSync(zlib.gzipSync(text)).toString(), text);
assert.strictEqual(zlib.brotliDecompressSync(zlib.brotliCompressSync(text)).toString(), text);
const digest = crypto.createHash("sha256").update("abc").digest("hex");
assert.strictEqual(digest, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
const summer = new Date(Date.UTC(2024, 6, 1)).getTimezoneOffset();
console.log("node", process.versions.node.split(".")[0], "openssl", process.versions.openssl, zone, summer);

https.get({ host: "127.0.0.1", port: Number(process.argv[1]), path: "/", timeout: 10000 }, (response) => {
  let body = "";
  response.on("data", (chunk) => { body += chunk; });
  response.on("end", () => console.log("https", response.statusCode, body.trim()));
}).on("error", (error) => { console.error(error); process.exit(1); });
