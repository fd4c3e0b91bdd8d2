// Drives the official phoenix.js client (npm "phoenix", transport "ws") against phx-server.
// Prints one event per line on stdout; the Rust test reads them and acts.
const { Socket } = require("phoenix");
const WebSocket = require("ws");

const url = process.argv[2];
const say = (line) => process.stdout.write(line + "\n");
const socket = new Socket(url, {
  transport: WebSocket,
  reconnectAfterMs: () => 100,
  rejoinAfterMs: () => 100,
  timeout: 3000,
});
socket.onClose((e) => say("closed " + (e && e.code)));
socket.onOpen(() => say("open"));
socket.connect();

const channel = socket.channel("ping", {});
let joins = 0;
channel.on("plain_event", (p) => say("broadcast " + JSON.stringify(p)));
channel
  .join()
  .receive("ok", () => {
    joins += 1;
    say("joined " + joins);
    channel
      .push("ping", { ack_phrase: "hello" + joins })
      .receive("ok", (r) => {
        say("reply " + JSON.stringify(r));
        if (joins >= 2) {
          socket.disconnect(() => process.exit(0));
        }
      })
      .receive("timeout", () => say("push timeout"));
  })
  .receive("error", (e) => say("join error " + JSON.stringify(e)));

setTimeout(() => {
  say("gave up");
  process.exit(3);
}, 30000);
