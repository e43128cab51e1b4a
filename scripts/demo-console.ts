// The last step of `npm start`: the example's console (docs/console.md), left running on localhost over
// the example's audit log and configuration repository, with a fresh auditor token printed once.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { newToken } from "../src/cli/commands/console.ts";
import { loadConsoleConfig } from "../src/console/config.ts";
import { startConsole, type RunningConsole } from "../src/console/server.ts";

export async function serveExampleConsole(example: { work: string; log: string; verifierKeyFile: string; repo: string }): Promise<void> {
  const { token, entry } = newToken("you", "auditor");
  const configFile = join(example.work, "console.yaml");
  const write = (listen: string) =>
    writeFileSync(
      configFile,
      `apiVersion: vigil.dev/v1alpha1
kind: ConsoleConfig
listen: ${listen}
tls: { generate: localhost }
audit: { log: ${example.log}, verifierKey: ${example.verifierKeyFile} }
repository: ${example.repo}
accessLog: console-access.log
tokens:
  - { name: ${entry.name}, role: ${entry.role}, sha256: ${entry.sha256} }
`,
    );
  let running: RunningConsole;
  try {
    write("127.0.0.1:8443");
    running = await startConsole(loadConsoleConfig(configFile));
  } catch {
    // 8443 taken: any free port will do, the address is printed.
    write("127.0.0.1:0");
    running = await startConsole(loadConsoleConfig(configFile));
  }
  console.log(`\nThe example's console is running: ${running.url}
  sign in with this token (role auditor): ${token}
  its certificate was made for localhost at start (SHA-256 ${running.fingerprint}): your browser asks you to accept it
  configuration: ${configFile}; API: ${running.url}api/v1/openapi.json
Press Ctrl-C to stop it (the example's Kubernetes API server stops with it).`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
  await running.close();
}
