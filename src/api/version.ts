// The version of every Vigil format a person writes or a program reads (src/api/): the trust policy, the
// agent's configuration, and what follows them. A change that an older reader would misread is a new version.
export const API_VERSION = "vigil.dev/v1alpha1";
