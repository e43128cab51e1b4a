// One share of the policy gate's manifests, evaluated in a worker thread (parallel.ts).
import { parentPort, workerData } from "node:worker_threads";
import { InputError } from "../core/errors.ts";
import { policyChecks } from "./gate.ts";
import { loadPolicyInput, type ShareRequest } from "./parallel.ts";

const { sources, share, now } = workerData as ShareRequest;
try {
  parentPort!.postMessage({ checks: policyChecks(loadPolicyInput(sources, new Date(now)), share) });
} catch (e) {
  // An input error is the user's to fix, and the main thread reports it the same way; anything
  // else is a fault and crashes the worker, which the main thread reports as such.
  if (!(e instanceof InputError)) throw e;
  parentPort!.postMessage({ inputError: e.message });
}
