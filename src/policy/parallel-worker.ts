// One share of the policy gate's manifests, evaluated in a worker thread (parallel.ts).
import { parentPort, workerData } from "node:worker_threads";
import { InputError } from "../core/errors.ts";
import { policyChecks } from "./gate.ts";
import { loadPolicyInput, share, type ShareRequest } from "./parallel.ts";

const { sources, index, count, now } = workerData as ShareRequest;
try {
  const input = loadPolicyInput(sources, new Date(now));
  parentPort!.postMessage({ checks: policyChecks(input, share(input.manifests.length, index, count)) });
} catch (e) {
  // An input error is the user's to fix, and the main thread reports it the same way; anything
  // else is a fault and crashes the worker, which the main thread reports as such.
  if (!(e instanceof InputError)) throw e;
  parentPort!.postMessage({ inputError: e.message });
}
