// The agent's small HTTP servers (webhook, metrics): node:http, listening on "host:port" from the
// configuration, closed with the agent.
import type { Server } from "node:http";
import { InputError } from "../core/errors.ts";

/** "host:port" or "[v6]:port"; port 0 picks a free one (tests). */
export function parseListen(listen: string, where: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-f:.]+)\]|([^:\s]+)):(\d{1,5})$/i.exec(listen);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new InputError(`${where}: "${listen}" is not HOST:PORT (e.g. 0.0.0.0:8080)`);
  return { host: (m[1] ?? m[2])!, port };
}

/** Listens and resolves with "http://host:port" as bound. */
export function listenOn(server: Server, listen: string, where: string): Promise<string> {
  const { host, port } = parseListen(listen, where);
  return new Promise((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => reject(new InputError(`${where}: cannot listen on ${listen}: ${e.code ?? e.message}`)));
    server.listen(port, host, () => {
      const address = server.address();
      const bound = typeof address === "object" && address ? address.port : port;
      resolve(`http://${host.includes(":") ? `[${host}]` : host}:${bound}`);
    });
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
