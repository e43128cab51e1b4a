// Approvals and promotion (docs/approvals.md): signed approvals and withdrawals by people, deployment
// records signed by an environment's agent, and the gate that counts them for a release.
export { PREDICATE_TYPES, type ApprovalKind, type Claim, type Revision } from "../api/claims.ts";
export { APPROVAL_NAMESPACE, openEnvelope, verifyAgentSignature } from "./envelopes.ts";
export { APPROVALS_REFS, DEPLOYMENTS_REFS } from "./store.ts";
export {
  revisionOf,
  signDeploymentRecord,
  writeApproval,
  writeDeploymentRecord,
  type DeploymentRecordClaim,
  type DeploymentRecordInput,
  type SignedRecord,
  type Stored,
} from "./make.ts";
export { ApprovalGate, approvalGate, type ApprovalGateInput, type ApprovalGateOptions, type MonitorPromotionChecks } from "./gate.ts";
export type { ApprovalEvidence, SeenClaim } from "./evidence.ts";
export { openRelease, type ReleaseOptions } from "./release.ts";
