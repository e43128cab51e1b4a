// The function libraries Kubernetes offers to ValidatingAdmissionPolicy expressions, on top of CEL's
// standard library: each module exports its functions as a CelFunc[]; this list is the environment.
import type { CelFunc } from "@bufbuild/cel";
import { strings } from "@bufbuild/cel/ext";
import { formatFunctions } from "./format.ts";
import { ipFunctions } from "./ip.ts";
import { listFunctions } from "./lists.ts";
import { manifestSetLibrary } from "./manifest-set.ts";
import { quantityFunctions } from "./quantity.ts";
import { regexFunctions } from "./regex.ts";
import { setFunctions } from "./sets.ts";
import { urlFunctions } from "./url.ts";

export const kubernetesLibraries: readonly CelFunc[] = [
  ...strings,
  ...listFunctions,
  ...setFunctions,
  ...regexFunctions,
  ...urlFunctions,
  ...quantityFunctions,
  ...ipFunctions,
  ...formatFunctions,
  ...manifestSetLibrary(),
];
