// The `authorizer` variable of ValidatingAdmissionPolicy expressions. It asks the API server's
// authorizer whether the requesting user may do something; offline there is neither, so the checks
// can be written (and are compiled), the decision says it errored (`errored()`, `error()`), and
// `allowed()`/`reason()` are evaluation errors saying why, so the policy's failurePolicy decides, as
// it would if the authorizer failed in a cluster.
import { celMethod, CelScalar, type CelFunc } from "@bufbuild/cel";
import { OPAQUE, opaque, requireOpaque } from "./opaque.ts";

export const offlineAuthorizer = opaque("authorizer", "");
const decision = opaque("decision", "");

const unavailable =
  "authorizer checks need the API server's authorizer and the requesting user; Vigil checks manifests before they reach a cluster, with no user. Guard the expression with a matchCondition or leave the policy to the cluster";

/** The request builders return the authorizer itself, so a chain compiles and reaches check(). */
const builder = (name: string, args: number) =>
  celMethod(
    name,
    OPAQUE,
    Array.from({ length: args }, () => CelScalar.STRING),
    OPAQUE,
    function () {
      requireOpaque("authorizer", this);
      return this;
    },
  );

export const authorizerLibrary: readonly CelFunc[] = [
  builder("path", 1),
  builder("group", 1),
  builder("resource", 1),
  builder("subresource", 1),
  builder("namespace", 1),
  builder("name", 1),
  // The authorizer selectors library (Kubernetes 1.31+).
  builder("fieldSelector", 1),
  builder("labelSelector", 1),
  builder("serviceAccount", 2),
  celMethod("check", OPAQUE, [CelScalar.STRING], OPAQUE, function () {
    requireOpaque("authorizer", this);
    return decision;
  }),
  celMethod("errored", OPAQUE, [], CelScalar.BOOL, function () {
    requireOpaque("decision", this);
    return true;
  }),
  celMethod("error", OPAQUE, [], CelScalar.STRING, function () {
    requireOpaque("decision", this);
    return unavailable;
  }),
  ...["allowed", "reason"].map((name) =>
    celMethod(name, OPAQUE, [], CelScalar.DYN, function () {
      requireOpaque("decision", this);
      throw new Error(unavailable);
    }),
  ),
];
