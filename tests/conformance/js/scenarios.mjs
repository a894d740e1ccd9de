// Conformance scenarios: the official Phoenix JS client (npm phoenix + ws) against
// fastphx.testing.PhoenixTestServer. Usage: node scenarios.mjs <scenario> <ws://.../socket>
// (the endpoint WITHOUT the trailing /websocket, as phoenix.js's Socket expects).
// Prints one JSON line per observed event ({"ev": ...}); the last line is {"ev": "done"}.
// Exits 0 after "done", 2 on its own timeout (SCENARIO_TIMEOUT_MS, default 8000).
import { Socket, Presence } from "phoenix";
import { WebSocket } from "ws";

const [, , scenario, endpoint] = process.argv;
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const done = (extra = {}) => {
  out({ ev: "done", ...extra });
  process.exit(0);
};
setTimeout(() => {
  out({ ev: "timeout" });
  process.exit(2);
}, Number(process.env.SCENARIO_TIMEOUT_MS || 8000));

const hex = (buf) => Buffer.from(new Uint8Array(buf)).toString("hex");
const fromHex = (text) => Uint8Array.from(Buffer.from(text, "hex")).buffer;

function socket(opts = {}) {
  const s = new Socket(endpoint, {
    transport: WebSocket,
    reconnectAfterMs: () => 10,
    rejoinAfterMs: () => 10,
    ...opts,
  });
  s.onOpen(() => out({ ev: "open" }));
  s.onClose((e) => out({ ev: "close", code: e && e.code }));
  s.onError(() => out({ ev: "error" }));
  return s;
}

const scenarios = {
  // Connect params reach the server's connect callback.
  connect_params() {
    const s = socket({ params: { user: "alice", n: "1" } });
    s.onOpen(() => done());
    s.connect();
  },

  // A refused connect (HTTP 403): onError fires, the socket never opens.
  refused() {
    const s = socket({ params: { ok: "no" } });
    s.onError(() => done({ connected: s.isConnected() }));
    s.connect();
  },

  // The Phoenix 1.8 token travels in Sec-WebSocket-Protocol; ws requires the server to pick
  // one of the offered subprotocols ("phoenix"), or the handshake fails (a 1.7 server picks
  // none, so there the socket errs and never opens).
  auth_token() {
    const s = socket({ authToken: "secret-token" });
    s.onOpen(() => done({ opened: true, protocol: s.conn.protocol }));
    s.onError(() => { s.disconnect(); done({ opened: false }); });
    s.connect();
  },

  // The server closes the socket (shutdown 1012, idle timeout 1002): the client reconnects
  // and rejoins.
  server_close() {
    const s = socket({ heartbeatIntervalMs: 60000 });
    s.connect();
    const ch = s.channel("room:lobby");
    let joins = 0;
    ch.join().receive("ok", () => {
      joins += 1;
      out({ ev: "joined", n: joins });
      if (joins === 2) done();
    });
  },

  // Join ok and join error replies.
  join_ok_error() {
    const s = socket();
    s.connect();
    const seen = {};
    const check = () => seen.ok && seen.error && done();
    s.channel("room:lobby", { p: 1 }).join()
      .receive("ok", (resp) => { out({ ev: "join_ok", resp }); seen.ok = true; check(); });
    const denied = s.channel("room:forbidden");
    denied.join().receive("error", (resp) => {
      out({ ev: "join_error", resp });
      denied.leave();
      seen.error = true;
      check();
    });
  },

  // Push replies: ok and error.
  push_replies() {
    const s = socket();
    s.connect();
    const ch = s.channel("room:lobby");
    ch.join().receive("ok", () => {
      ch.push("echo", { a: 1 }).receive("ok", (resp) => {
        out({ ev: "push_ok", resp });
        ch.push("fail", {}).receive("error", (err) => {
          out({ ev: "push_error", resp: err });
          done();
        });
      });
    });
  },

  // A push the server never answers times out on the client.
  push_timeout() {
    const s = socket();
    s.connect();
    const ch = s.channel("room:lobby");
    ch.join().receive("ok", () => {
      ch.push("silent", {}, 100)
        .receive("ok", () => out({ ev: "unexpected_reply" }))
        .receive("timeout", () => { out({ ev: "push_timeout" }); done(); });
    });
  },

  // A server broadcast (null join_ref) and a server push (join_ref) reach channel.on.
  broadcast() {
    const s = socket();
    s.connect();
    const ch = s.channel("room:lobby");
    const seen = [];
    const got = (ev) => (payload) => {
      seen.push(ev);
      out({ ev, payload });
      if (seen.length === 2) done();
    };
    ch.on("shout", got("shout"));
    ch.on("note", got("note"));
    ch.join().receive("ok", () => out({ ev: "joined" }));
  },

  // A crashed channel (phx_error) is rejoined by the client with a new join_ref.
  crash_rejoin() {
    const s = socket();
    s.connect();
    const ch = s.channel("room:crashy");
    let joins = 0;
    ch.onError(() => out({ ev: "chan_error" }));
    ch.join().receive("ok", () => {
      joins += 1;
      out({ ev: "joined", n: joins, join_ref: ch.joinRef() });
      if (joins === 1) ch.push("crash", {});
      else done();
    });
  },

  // A server-side stop (phx_close) closes the channel; no rejoin.
  stop_close() {
    const s = socket();
    s.connect();
    const ch = s.channel("room:lobby");
    ch.onClose(() => { out({ ev: "chan_close", state: ch.state }); done(); });
    ch.join().receive("ok", () => ch.push("stop", {}));
  },

  // leave(): the ok reply resolves the leave push; the channel ends closed.
  leave() {
    const s = socket();
    s.connect();
    const ch = s.channel("room:lobby");
    ch.onClose(() => out({ ev: "chan_close" }));
    ch.join().receive("ok", () => {
      ch.leave().receive("ok", () => {
        out({ ev: "left", state: ch.state });
        done();
      });
    });
  },

  // Heartbeats every 50 ms are answered; the socket stays open (no reconnect).
  heartbeat() {
    const s = socket({ heartbeatIntervalMs: 50 });
    let replies = 0;
    let opens = 0;
    s.onOpen(() => { opens += 1; });
    s.onMessage((msg) => {
      if (msg.topic === "phoenix" && msg.event === "phx_reply") {
        replies += 1;
        if (replies === 5) done({ replies, opens, connected: s.isConnected() });
      }
    });
    s.connect();
  },

  // Binary: an ArrayBuffer push gets a binary reply; a binary server push arrives.
  binary() {
    const s = socket();
    s.connect();
    const ch = s.channel("room:lobby");
    ch.on("bin", (payload) => {
      out({ ev: "bin_push", is_buffer: payload instanceof ArrayBuffer, hex: hex(payload) });
      done();
    });
    ch.join().receive("ok", () => {
      ch.push("echo", fromHex("000102feff")).receive("ok", (resp) => {
        out({ ev: "bin_reply", is_buffer: resp instanceof ArrayBuffer, hex: hex(resp) });
        ch.push("want_bin", {});
      });
    });
  },

  // Presence: the Presence class merges presence_state and presence_diff into list().
  presence() {
    const s = socket();
    s.connect();
    const ch = s.channel("room:presence:x", { id: "alice" });
    const presence = new Presence(ch);
    presence.onSync(() => {
      const keys = presence.list((id, { metas }) => `${id}:${metas[0].device}`).sort();
      out({ ev: "sync", keys });
      if (keys.includes("bob:server") && !keys.includes("carol:server")) done({ keys });
    });
    ch.join().receive("ok", () => out({ ev: "joined" }));
  },

  // A dropped connection: the client reconnects and rejoins its channel.
  reconnect() {
    const s = socket();
    s.connect();
    const ch = s.channel("room:lobby");
    let joins = 0;
    ch.join().receive("ok", () => {
      joins += 1;
      out({ ev: "joined", n: joins, join_ref: ch.joinRef() });
      if (joins === 2) done();
    });
  },
};

if (!scenarios[scenario]) {
  out({ ev: "unknown_scenario", scenario });
  process.exit(3);
}
scenarios[scenario]();
