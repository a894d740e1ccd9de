// phoenix.js' Presence over a real socket, for tests/conformance/test_presence_live.py.
// Usage: node presence_live.mjs <ws://.../socket> <topic> <user>
// Joins <topic> as <user> (connect param "user", join param "device": "js") with a Presence
// and prints one JSON line per sync: {"ev": "sync", "list": [[key, [device, ...]], ...]}.
// Runs until killed (SCENARIO_TIMEOUT_MS, default 8000, bounds it).
import { Socket, Presence } from "phoenix";
import { WebSocket } from "ws";

const [, , endpoint, topic, user] = process.argv;
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
setTimeout(() => process.exit(2), Number(process.env.SCENARIO_TIMEOUT_MS || 8000));

const socket = new Socket(endpoint, {
  transport: WebSocket, params: { user }, reconnectAfterMs: () => 10, rejoinAfterMs: () => 10,
});
socket.connect();
const channel = socket.channel(topic, { device: "js" });
const presence = new Presence(channel);
presence.onSync(() => out({
  ev: "sync", list: presence.list((key, p) => [key, p.metas.map((m) => m.device)]),
}));
channel.join();
