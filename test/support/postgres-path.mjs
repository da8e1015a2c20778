// Test support: a TCP proxy to Postgres in its own process (argv: host port). Prints its port; then
// reads "cut" (drop every connection, refuse new ones), "restore" and "freeze <text>" (connections whose first
// kilobyte from the client, its start-up message and first queries, holds <text> stay open but pass nothing on any
// more, as one a firewall silently forgot) lines, answering "ok" to each.
import net from "node:net";
import readline from "node:readline";

const [host, port] = process.argv.slice(2);
const sockets = new Set();
/** Each connection's client and upstream sockets, and the first kilobyte its client sent (start-up message, first queries). */
const connections = new Set();
let open = true;
const server = net.createServer((client) => {
  if (!open) {
    client.destroy();
    return;
  }
  const upstream = net.connect(Number(port), host);
  for (const socket of [client, upstream]) {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
  }
  client.pipe(upstream).pipe(client);
  const connection = { client, upstream, startup: "" };
  connections.add(connection);
  client.on("close", () => connections.delete(connection));
  const started = (chunk) => {
    connection.startup += chunk.toString("latin1");
    if (connection.startup.length > 1024) client.off("data", started);
  };
  client.on("data", started);
  client.on("close", () => upstream.destroy());
  upstream.on("close", () => client.destroy());
});
server.listen(0, "127.0.0.1", () => process.stdout.write(`${server.address().port}\n`));
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  if (line === "cut") {
    open = false;
    for (const socket of sockets) socket.destroy();
  } else if (line.startsWith("freeze ")) {
    const text = line.slice("freeze ".length);
    for (const { client, upstream, startup } of connections) {
      if (!startup.includes(text)) continue;
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.removeAllListeners("data");
      upstream.removeAllListeners("data");
      client.pause();
      upstream.pause();
    }
  } else if (line === "restore") {
    open = true;
  }
  process.stdout.write("ok\n");
});
process.stdin.on("end", () => process.exit(0));
