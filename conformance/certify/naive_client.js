// A deliberately naive Phoenix client (npm: ws) for `phx certify`'s own tests: it heartbeats,
// notices a dead link, and reconnects with a growing delay, but it joins its topics only on
// the first connection and never rejoins (after a reconnect, a phx_error or a refused join).
const WebSocket = require("ws");
const env = process.env;
const url = env.PHX_CERTIFY_URL + "/websocket?vsn=2.0.0";
const topics = env.PHX_CERTIFY_TOPICS.split(",");
const heartbeatMs = Number(env.PHX_CERTIFY_HEARTBEAT_MS);
let ref = 0;
let joined = false;
let delay = 100;

function connect() {
  const ws = new WebSocket(url);
  let pending = null;
  let timer = null;
  const send = (msg) => ws.send(JSON.stringify(msg));
  ws.on("open", () => {
    delay = 100;
    if (!joined) {
      joined = true;
      for (const topic of topics) {
        const r = String(++ref);
        send([r, r, topic, "phx_join", {}]);
      }
    }
    timer = setInterval(() => {
      if (pending) return ws.terminate(); // the last heartbeat went unanswered
      pending = String(++ref);
      send([null, pending, "phoenix", "heartbeat", {}]);
    }, heartbeatMs);
  });
  ws.on("message", (data) => {
    const [joinRef, r, topic, event, payload] = JSON.parse(data);
    if (topic === "phoenix" && r === pending) pending = null;
    if (event === "echo") send([joinRef, String(++ref), topic, "echo_reply", payload]);
  });
  ws.on("error", () => {});
  ws.on("close", () => {
    clearInterval(timer);
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, 2000);
  });
}
connect();
