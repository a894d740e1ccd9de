// Oracle for fastphx.presence: runs phoenix.js' own Presence (the static syncState /
// syncDiff / list, and the Presence class on a stand-in channel) over cases read one JSON
// line at a time on stdin, and prints one JSON line per case, so one node process serves a
// whole test run.
//
// Case: {"id", "mode": "static" | "presence", "ops": [op, ...]}, op one of
//   {"op": "state", "payload": {...}}   static: Presence.syncState; presence: presence_state
//   {"op": "diff", "payload": {...}}    static: Presence.syncDiff;  presence: presence_diff
//   {"op": "rejoin"}                    presence: the channel's joinRef changes
// Reply: {"id", "steps": [{"calls", "state", "list", "chosen"}, ...]} (one step per op) or
// {"id", "error": message}. "calls" are the callbacks in order, each snapshotted as JSON
// when it fired: ["join", key, current, joined] / ["leave", key, current, left] / ["sync"].
import { Presence } from "phoenix";
import { createInterface } from "node:readline";

const snap = (v) => JSON.parse(JSON.stringify(v === undefined ? null : v));
const chooser = (key, p) => [key, p.metas.map((m) => (m.phx_ref === undefined ? null : m.phx_ref))];

function recorder(calls) {
  return {
    onJoin: (key, cur, joined) => calls.push(["join", key, snap(cur), snap(joined)]),
    onLeave: (key, cur, left) => calls.push(["leave", key, snap(cur), snap(left)]),
    onSync: () => calls.push(["sync"]),
  };
}

function step(calls, state) {
  return { calls: calls.splice(0), state: snap(state),
           list: snap(Presence.list(state)), chosen: snap(Presence.list(state, chooser)) };
}

function runStatic(ops) {
  const calls = [];
  const { onJoin, onLeave } = recorder(calls);
  let state = {};
  return ops.map((op) => {
    if (op.op === "state") state = Presence.syncState(state, op.payload, onJoin, onLeave);
    else if (op.op === "diff") state = Presence.syncDiff(state, op.payload, onJoin, onLeave);
    else throw new Error(`static mode has no op ${op.op}`);
    return step(calls, state);
  });
}

function runPresence(ops) {
  const handlers = {};
  let ref = 1;
  const channel = { on: (event, cb) => { handlers[event] = cb; }, joinRef: () => String(ref) };
  const presence = new Presence(channel);
  const calls = [];
  const { onJoin, onLeave, onSync } = recorder(calls);
  presence.onJoin(onJoin);
  presence.onLeave(onLeave);
  presence.onSync(onSync);
  return ops.map((op) => {
    if (op.op === "state") handlers.presence_state(op.payload);
    else if (op.op === "diff") handlers.presence_diff(op.payload);
    else if (op.op === "rejoin") ref += 1;
    else throw new Error(`unknown op ${op.op}`);
    return step(calls, presence.state);
  });
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on("line", (line) => {
  if (!line.trim()) return;
  const c = JSON.parse(line);
  let out;
  try {
    out = { id: c.id, steps: c.mode === "static" ? runStatic(c.ops) : runPresence(c.ops) };
  } catch (err) {
    out = { id: c.id, error: String((err && err.message) || err) };
  }
  process.stdout.write(JSON.stringify(out) + "\n");
});
