// A real PostgreSQL for tests: Debian's server (scripts/setup.ts installs it), a new cluster made with
// initdb in a temporary directory and started with pg_ctl, listening only on a unix socket in that
// directory; stopped and removed when the test file ends. As root the server runs as the postgres user
// (it refuses to run as root). In CI a missing server fails the test, never skips it.
import { spawnSync } from "node:child_process";
import { chownSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { TestContext } from "node:test";
import pg from "pg";
import { postgresBin } from "../../scripts/setup.ts";
import { tempDir } from "./tools.ts";
import type { After } from "./kube.ts";

export interface TestPostgres {
  /** A connection URL for a new database of its own: postgres://vigil@localhost/NAME?host=SOCKET_DIR */
  database(name: string): string;
  stop(): void;
}

/** The server's programs, or a skip (a failure in CI) naming how to install them. */
export function requirePostgres(t: TestContext): string | undefined {
  const bin = postgresBin();
  if (bin) return bin;
  const message = 'missing PostgreSQL server (initdb, pg_ctl): run "node scripts/setup.ts" to install it';
  if (process.env.CI === "true") throw new Error(message);
  t.skip(message);
  return undefined;
}

export function startPostgres(scope: After, bin: string): TestPostgres {
  const dir = tempDir(scope, "vigil-pg-");
  const data = join(dir, "data");
  mkdirSync(data, { mode: 0o700 });
  const user = serverUser();
  if (user) for (const path of [dir, data]) chownSync(path, user.uid, user.gid);
  const run = (program: string, args: string[]) => {
    const r = spawnSync(join(bin, program), args, {
      encoding: "utf8",
      ...(user && { uid: user.uid, gid: user.gid }),
      env: { ...process.env, LC_ALL: "C" },
    });
    if (r.status !== 0) throw new Error(`${program} ${args.join(" ")} failed (${r.status}): ${r.stderr}${r.stdout}`);
  };
  run("initdb", ["-D", data, "-U", "vigil", "--auth=trust", "--encoding=UTF8", "--no-sync"]);
  run("pg_ctl", [
    "-D",
    data,
    "-l",
    join(dir, "server.log"),
    "-w",
    "-t",
    "60",
    "-o",
    `-k ${dir} -c listen_addresses='' -c max_connections=50`,
    "start",
  ]);
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
  };
  scope.after(stop);
  const created = new Set<string>();
  return {
    database(name) {
      if (!created.has(name)) {
        const r = spawnSync(
          join(bin, "psql"),
          ["-h", dir, "-U", "vigil", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", `CREATE DATABASE "${name}"`],
          { encoding: "utf8" },
        );
        if (r.status !== 0) throw new Error(`CREATE DATABASE ${name}: ${r.stderr}`);
        created.add(name);
      }
      return `postgres://vigil@localhost/${name}?host=${encodeURIComponent(dir)}`;
    },
    stop,
  };
}

/** As root, the unprivileged user the server runs as: postgres (Debian's), else nobody. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of ["postgres", "nobody"]) {
    const r = spawnSync("id", ["-u", name], { encoding: "utf8" });
    const g = spawnSync("id", ["-g", name], { encoding: "utf8" });
    if (r.status === 0 && g.status === 0) return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
  }
  throw new Error("running as root, and neither the postgres nor the nobody user exists to run PostgreSQL as");
}

/** One statement on a fresh connection, as someone with write access to the tables would run it. */
export async function sql(location: string, text: string, values: unknown[] = []): Promise<any[]> {
  const client = new pg.Client({ connectionString: location });
  await client.connect();
  try {
    return (await client.query(text, values)).rows;
  } finally {
    await client.end();
  }
}
