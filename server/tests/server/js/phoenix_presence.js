// phoenix.js's own Presence class (npm "phoenix") against phx-server: joins presence:lobby as
// argv[3] and prints the synced list on every onSync, metas sorted by phx_ref (meta order within
// a key is not part of a view), keys sorted. Exits on stdin "quit".
const { Socket, Presence } = require("phoenix");
const WebSocket = require("ws");

const [url, user] = [process.argv[2], process.argv[3]];
const say = (line) => process.stdout.write(line + "\n");
const socket = new Socket(url, { transport: WebSocket, reconnectAfterMs: () => 100, rejoinAfterMs: () => 100 });
socket.connect();
const channel = socket.channel("presence:lobby", { user_id: user, device: "node" });
const presence = new Presence(channel);
presence.onSync(() => {
  const view = {};
  presence.list((key, { metas }) => {
    view[key] = { metas: [...metas].sort((a, b) => (a.phx_ref < b.phx_ref ? -1 : 1)) };
  });
  const sorted = {};
  Object.keys(view).sort().forEach((k) => (sorted[k] = view[k]));
  say("sync " + JSON.stringify(sorted));
});
channel.join().receive("ok", () => say("joined"));
process.stdin.on("data", (d) => {
  if (d.toString().includes("quit")) {
    socket.disconnect(() => process.exit(0));
  }
});
