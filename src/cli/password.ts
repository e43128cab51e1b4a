// The password of a cosign private key, found as cosign finds it: the COSIGN_PASSWORD environment
// variable when it is set (an empty value is an empty password), else asked for on the terminal.
import { InputError } from "../core/errors.ts";

export async function keyPassword(purpose: "encrypt" | "decrypt"): Promise<string> {
  const fromEnv = process.env.COSIGN_PASSWORD;
  if (fromEnv !== undefined) return fromEnv;
  if (!process.stdin.isTTY) {
    throw new InputError("no password for the private key: set COSIGN_PASSWORD (it may be empty), or run in a terminal to be asked");
  }
  if (purpose === "decrypt") return ask("Enter password for private key: ");
  const password = await ask("Enter password for private key: ");
  if ((await ask("Enter password for private key again: ")) !== password) throw new InputError("the two passwords differ");
  return password;
}

// Reads one line from the terminal without echoing it.
function ask(prompt: string): Promise<string> {
  const stdin = process.stdin;
  // Raw mode first: a password typed ahead of the prompt must not be echoed either.
  stdin.setRawMode(true);
  stdin.resume();
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let typed = "";
    const done = (result: () => void) => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
      result();
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString("utf8")) {
        if (ch === "\r" || ch === "\n") return done(() => resolve(typed));
        if (ch === "\u0003") return done(() => reject(new InputError("interrupted")));
        if (ch === "\u007f" || ch === "\b") typed = typed.slice(0, -1);
        else typed += ch;
      }
    };
    stdin.on("data", onData);
  });
}
