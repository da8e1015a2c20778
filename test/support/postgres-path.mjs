// Test support: a TCP proxy to Postgres in its own process (argv: host port). Prints its port; then
// reads "cut" (drop every connection, refuse new ones) and "restore" lines, answering "ok" to each.
import net from "node:net";
import readline from "node:readline";

const [host, port] = process.argv.slice(2);
const sockets = new Set();
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
  client.on("close", () => upstream.destroy());
  upstream.on("close", () => client.destroy());
});
server.listen(0, "127.0.0.1", () => process.stdout.write(`${server.address().port}\n`));
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  if (line === "cut") {
    open = false;
    for (const socket of sockets) socket.destroy();
  } else if (line === "restore") {
    open = true;
  }
  process.stdout.write("ok\n");
});
process.stdin.on("end", () => process.exit(0));
