// The `phx certify` contract with phoenix.js (npm: phoenix, ws):
//   phx certify -- node phoenix_client.js
const { Socket } = require("phoenix");
const env = process.env;
const socket = new Socket(env.PHX_CERTIFY_URL, {
  transport: require("ws"), // node < 22 has no global WebSocket
  heartbeatIntervalMs: Number(env.PHX_CERTIFY_HEARTBEAT_MS),
});
socket.connect();
for (const topic of env.PHX_CERTIFY_TOPICS.split(",")) {
  const channel = socket.channel(topic, {});
  channel.on("echo", (payload) => channel.push("echo_reply", payload));
  channel.join();
}
