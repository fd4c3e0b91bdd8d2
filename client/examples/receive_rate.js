// The phoenix.js side of receive_rate.rs: the same bench with the official client (npm
// "phoenix" 1.8.16, "ws" transport) under node. receive_rate.sh runs both in the same run.
//   node receive_rate.js rate WS_URL CONTROL_URL SOCKETS MESSAGES
//   node receive_rate.js idle WS_URL SOCKETS
const { Socket } = require("phoenix");
const WebSocket = require("ws");
const http = require("http");

const TOPIC = "ping:bench";
const [mode, url] = process.argv.slice(2, 4);
const now = () => Number(process.hrtime.bigint()) / 1e9;

function open(n) {
  const joins = [];
  const out = [];
  for (let i = 0; i < n; i++) {
    const socket = new Socket(url, { transport: WebSocket });
    socket.connect();
    const channel = socket.channel(TOPIC, {});
    out.push({ socket, channel });
    joins.push(
      new Promise((resolve, reject) =>
        channel.join().receive("ok", resolve).receive("error", reject).receive("timeout", reject)
      )
    );
  }
  return Promise.all(joins).then(() => out);
}

function broadcast(control, count) {
  const body = JSON.stringify({ topic: TOPIC, event: "bench", payload: { n: 1 }, count });
  const u = new URL(control + "/api/broadcast");
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname, method: "POST",
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error("HTTP " + res.statusCode))));
      }
    );
    req.on("error", reject);
    req.end(body);
  });
}

async function rate(control, sockets, messages) {
  const opened = await open(sockets);
  let first = null;
  let last = 0;
  let received = 0;
  let done = 0;
  let finish;
  const finished = new Promise((r) => (finish = r));
  let idleTimer = null;
  const bump = () => {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(finish, 10000); // 10 s of silence ends the count
  };
  for (const { channel } of opened) {
    let got = 0;
    channel.on("bench", () => {
      if (first === null) first = now();
      got += 1;
      received += 1;
      last = now();
      if (got === messages) {
        done += 1;
        if (done === sockets) finish();
      } else if (got % 1000 === 1) bump();
    });
  }
  bump();
  const cpuBefore = process.cpuUsage();
  await broadcast(control, messages);
  await finished;
  clearTimeout(idleTimer);
  const c = process.cpuUsage(cpuBefore);
  const cpu = (c.user + c.system) / 1e6;
  const secs = first === null ? 0 : last - first;
  const expected = messages * sockets;
  console.log(JSON.stringify({ client: "phoenix.js", mode: "rate", sockets, messages, received,
    missing: expected - Math.min(received, expected), secs, rate: Math.round(secs > 0 ? received / secs : 0),
    cpu_secs: cpu, events_per_cpu_sec: Math.round(cpu > 0 ? received / cpu : 0) }));
  process.exit(0);
}

async function idle(sockets) {
  const warm = await open(1);
  await new Promise((r) => setTimeout(r, 500));
  if (global.gc) global.gc();
  const before = process.memoryUsage().rss / 1024;
  const opened = await open(sockets);
  await new Promise((r) => setTimeout(r, 2000));
  if (global.gc) global.gc();
  const after = process.memoryUsage().rss / 1024;
  console.log(JSON.stringify({ client: "phoenix.js", mode: "idle", sockets, rss_before_kib: Math.round(before),
    rss_after_kib: Math.round(after), kib_per_socket: Math.round(((after - before) / sockets) * 10) / 10 }));
  void warm, opened;
  process.exit(0);
}

if (mode === "rate") {
  rate(process.argv[4], Number(process.argv[5]), Number(process.argv[6])).catch((e) => { console.error(e); process.exit(1); });
} else if (mode === "idle") {
  idle(Number(process.argv[4])).catch((e) => { console.error(e); process.exit(1); });
} else {
  console.error("usage: node receive_rate.js rate WS_URL CONTROL_URL SOCKETS MESSAGES | idle WS_URL SOCKETS");
  process.exit(2);
}
