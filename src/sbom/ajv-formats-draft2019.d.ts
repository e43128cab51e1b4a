// ajv-formats-draft2019 ships no types: it is a function that adds formats (idn-email, iri-reference…) to an Ajv instance.
declare module "ajv-formats-draft2019" {
  import type { Ajv } from "ajv";
  const addFormats: (ajv: Ajv) => Ajv;
  export default addFormats;
}
