// Oracle for fastphx's codec: runs the official phoenix.js serializer (the one a Socket uses
// by default) over test cases read as a JSON array on stdin, and prints one JSON line per
// case: {"id": ..., <result fields>} or {"id": ..., "error": message}.
//
// Case ops:
//   encode         {join_ref, ref, topic, event, payload}          -> {text}
//   encode_binary  {join_ref, ref, topic, event, payload_hex}      -> {hex}
//   decode         {text}                        -> {join_ref, ref, topic, event, payload}
//   decode_binary  {hex}   -> {join_ref, ref, topic, event, payload_hex | payload: {status, response_hex}}
import { Socket, Serializer } from "phoenix";
import { WebSocket } from "ws";

// Never connected: only its encode/decode (phoenix's defaults) are used.
const socket = new Socket("ws://127.0.0.1:9/socket", { transport: WebSocket });

const hexToBuffer = (hex) => Uint8Array.from(Buffer.from(hex, "hex")).buffer;
const bufferToHex = (buf) => Buffer.from(new Uint8Array(buf)).toString("hex");

function run(c) {
  switch (c.op) {
    case "encode":
      return socket.encode(
        { join_ref: c.join_ref, ref: c.ref, topic: c.topic, event: c.event, payload: c.payload },
        (text) => ({ text }),
      );
    case "encode_binary":
      return socket.encode(
        { join_ref: c.join_ref, ref: c.ref, topic: c.topic, event: c.event,
          payload: hexToBuffer(c.payload_hex) },
        (buf) => ({ hex: bufferToHex(buf) }),
      );
    case "decode":
      return socket.decode(c.text, (m) => ({
        join_ref: m.join_ref, ref: m.ref, topic: m.topic, event: m.event, payload: m.payload,
      }));
    case "decode_binary":
      return socket.decode(hexToBuffer(c.hex), (m) => {
        const payload = m.payload instanceof ArrayBuffer
          ? { payload_hex: bufferToHex(m.payload) }
          : { payload: { status: m.payload.status, response_hex: bufferToHex(m.payload.response) } };
        return { join_ref: m.join_ref, ref: m.ref, topic: m.topic, event: m.event, ...payload };
      });
    default:
      throw new Error(`unknown op ${c.op}`);
  }
}

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  if (socket.encode !== socket.defaultEncoder || typeof Serializer.encode !== "function") {
    throw new Error("phoenix Socket does not use the default Serializer");
  }
  const out = [];
  for (const c of JSON.parse(input)) {
    try {
      out.push(JSON.stringify({ id: c.id, ...run(c) }));
    } catch (err) {
      out.push(JSON.stringify({ id: c.id, error: String(err && err.message || err) }));
    }
  }
  process.stdout.write(out.join("\n") + "\n");
});
