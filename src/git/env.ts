// The environment every git process Vigil starts runs in: no prompts, C locale for parseable output, and
// replace refs and grafts off, so git shows the objects as stored — what Vigil verifies is what is there.
export const gitEnv: NodeJS.ProcessEnv = {
  ...process.env,
  GIT_TERMINAL_PROMPT: "0",
  GIT_ASKPASS: "true",
  LC_ALL: "C",
  GIT_NO_REPLACE_OBJECTS: "1",
};
