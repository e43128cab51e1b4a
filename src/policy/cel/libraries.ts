// The function libraries Kubernetes offers to ValidatingAdmissionPolicy expressions, on top of CEL's
// standard library, plus Vigil's own offline-only `vigil.*` functions over the manifest set: each
// module exports its functions as a CelFunc[]. compile.ts adds optional types, the authorizer and the
// cost meter, which need the syntax rewrite or the evaluation context.
import type { CelFunc } from "@bufbuild/cel";
import { strings } from "@bufbuild/cel/ext";
import { doubleFormatFunctions } from "./double-format.ts";
import { formatFunctions } from "./format.ts";
import { ipFunctions } from "./ip.ts";
import { listFunctions } from "./lists.ts";
import { manifestSetFunctions } from "./manifest-set.ts";
import { quantityFunctions } from "./quantity.ts";
import { regexFunctions } from "./regex.ts";
import { semverFunctions } from "./semver.ts";
import { setFunctions } from "./sets.ts";
import { urlFunctions } from "./url.ts";

export const kubernetesLibraries: readonly CelFunc[] = [
  ...strings,
  ...listFunctions,
  ...setFunctions,
  ...regexFunctions,
  ...urlFunctions,
  ...quantityFunctions,
  ...semverFunctions,
  ...ipFunctions,
  ...formatFunctions,
  ...manifestSetFunctions,
  ...doubleFormatFunctions,
];
