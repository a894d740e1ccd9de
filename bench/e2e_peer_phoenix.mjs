// One run of the official phoenix.js client (npm "phoenix", the "ws" package as its
// WebSocket) for bench/e2e_peers.py: node bench/e2e_peer_phoenix.mjs URL COUNT.
// Joins room:blast:COUNT:<pid> on the raw blast server, counts "stream" pushes in the
// channel callback (phoenix.js JSON-decodes every message), stops at COUNT or after IDLE
// seconds without progress, and prints the same JSON line as e2e_peer_client.py; cpu is
// process.cpuUsage() (user + system) over the run.
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "../tests/conformance/js/package.json"));
const { Socket } = require("phoenix");
const WebSocket = require("ws");

const [url, countText] = process.argv.slice(2);
const count = Number(countText);
const IDLE = 3000;
const topic = `room:blast:${count}:${process.pid}`;

const t0 = performance.now();
const c0 = process.cpuUsage();
let delivered = 0;
let last = t0;
let finished = false;

function finish(code) {
  if (finished) return;
  finished = true;
  const cpu = process.cpuUsage(c0);
  const seconds = (last - t0) / 1000;
  console.log(JSON.stringify({ peer: "phoenix.js", count, delivered, seconds,
    cpu: (cpu.user + cpu.system) / 1e6, rate: delivered / seconds }));
  process.exit(code);
}

const socket = new Socket(url.replace(/\/websocket$/, ""), {
  transport: WebSocket, params: { api_key: "bench" }, logger: null });
socket.connect();
const channel = socket.channel(topic, {});
channel.on("stream", () => {
  delivered += 1;
  if (delivered === count) {
    last = performance.now();
    finish(0);
  }
});
channel.join().receive("error", () => finish(1));

let seen = -1;
const watchdog = setInterval(() => {
  if (delivered === seen) {
    clearInterval(watchdog);
    last = performance.now() - IDLE;
    finish(0);
  }
  seen = delivered;
}, IDLE);
