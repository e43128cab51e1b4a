// Evaluation errors in the words cel-go gives them, as the API server reports them
// (`expression '…' resulted in error: no such key: x`): @bufbuild/cel words the same errors its own way.
// Only the wording changes; an error it does not know is passed through as it is.
const rewordings: [RegExp, (m: RegExpExecArray) => string][] = [
  [/^field not found: (.*)$/s, (m) => `no such key: ${m[1]}`],
  [/^index (-?\d+) out of bounds \[0, -?\d+\)$/, (m) => `index out of bounds: ${m[1]}`],
  [/^(?:int|uint|double) divide by zero$/, () => "division by zero"],
  [/^(?:int|uint) modulus by zero$/, () => "modulus by zero"],
  [/^int overflow during .*$/, () => "integer overflow"],
  [/^uint overflow during .*$/, () => "unsigned integer overflow"],
  // int() of a string that is not a number: BigInt's own words come through @bufbuild/cel.
  [/^Cannot convert .* to a BigInt$/s, () => "type conversion error from 'string' to 'int'"],
];

export function inApiServerWords(message: string): string {
  for (const [pattern, reword] of rewordings) {
    const m = pattern.exec(message);
    if (m) return reword(m);
  }
  return message;
}
