// Kubernetes' format library: named string formats (DNS labels, qualified names, label values, URI,
// UUID, base64, dates) whose validate() returns none when valid and the list of errors otherwise,
// with the messages of Kubernetes' apimachinery validation.
import { celFunc, celMethod, CelScalar } from "@bufbuild/cel";
import { opaque, OPAQUE, requireOpaque } from "./opaque.ts";
import { parseRequestURI } from "./url.ts";

const { STRING } = CelScalar;

const DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_SUBDOMAIN = `${DNS1123_LABEL}(\\.${DNS1123_LABEL})*`;
const DNS1035_LABEL = "[a-z]([-a-z0-9]*[a-z0-9])?";
const QUALIFIED_NAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_VALUE = `(${QUALIFIED_NAME})?`;
const QUALIFIED_NAME_MESSAGE =
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

const matches = (format: string, value: string) => new RegExp(`^${format}$`).test(value);
const maxLength = (length: number) => `must be no more than ${length} characters`;
const EMPTY = "must be non-empty";

/** apimachinery's RegexError: the message, examples and the pattern it was checked with. */
function regexError(message: string, format: string, ...examples: string[]): string {
  const shown = examples.map((e) => `'${e}', `).join("or ");
  return `${message} (e.g. ${shown}regex used for validation is '${format}')`;
}

function dns1123Label(value: string): string[] {
  const errors = value.length > 63 ? [maxLength(63)] : [];
  if (!matches(DNS1123_LABEL, value)) {
    errors.push(
      matches(DNS1123_SUBDOMAIN, value)
        ? "must not contain dots"
        : regexError(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
            DNS1123_LABEL,
            "my-name",
            "123-abc",
          ),
    );
  }
  return errors;
}

function dns1123Subdomain(value: string): string[] {
  const errors = value.length > 253 ? [maxLength(253)] : [];
  if (!matches(DNS1123_SUBDOMAIN, value)) {
    errors.push(
      regexError(
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        DNS1123_SUBDOMAIN,
        "example.com",
      ),
    );
  }
  return errors;
}

function dns1035Label(value: string): string[] {
  const errors = value.length > 63 ? [maxLength(63)] : [];
  if (!matches(DNS1035_LABEL, value)) {
    errors.push(
      regexError(
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
        DNS1035_LABEL,
        "my-name",
        "abc-123",
      ),
    );
  }
  return errors;
}

function qualifiedName(value: string): string[] {
  const parts = value.split("/");
  const nameError = regexError(QUALIFIED_NAME_MESSAGE, QUALIFIED_NAME, "MyName", "my.name", "123-abc");
  if (parts.length > 2) return [`a qualified name ${nameError} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`];
  const errors: string[] = [];
  const name = parts.at(-1)!;
  if (parts.length === 2) {
    const prefix = parts[0]!;
    if (prefix === "") errors.push(`prefix part ${EMPTY}`);
    else errors.push(...dns1123Subdomain(prefix).map((e) => `prefix part ${e}`));
  }
  if (name === "") errors.push(`name part ${EMPTY}`);
  else if (name.length > 63) errors.push(`name part ${maxLength(63)}`);
  if (!matches(QUALIFIED_NAME, name)) errors.push(`name part ${nameError}`);
  return errors;
}

function labelValue(value: string): string[] {
  const errors = value.length > 63 ? [maxLength(63)] : [];
  if (!matches(LABEL_VALUE, value)) {
    errors.push(
      regexError(
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        LABEL_VALUE,
        "MyValue",
        "my_value",
        "12345",
      ),
    );
  }
  return errors;
}

/** A generated name's prefix may end in "-": Kubernetes checks it with the last two characters as "a". */
const asPrefix = (check: (value: string) => string[]) => (value: string) =>
  check(value.length > 1 && value.endsWith("-") ? `${value.slice(0, -2)}a` : value);

/** Go's time.Parse with layout 2006-01-02: four-digit year, real month and day. */
function isDate(value: string): boolean {
  const parts = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/.exec(value);
  if (!parts) return false;
  const [year, month, day] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  return days !== undefined && day >= 1 && day <= days;
}

/** kube-openapi's strfmt date-time check: a date, "t", then a time matched against its pattern. */
function isDateTime(value: string): boolean {
  if (value.length < 4) return false;
  const parts = value.toLowerCase().split("t");
  if (parts.length < 2 || !isDate(parts[0]!)) return false;
  const time = /^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$/.exec(parts[1]!);
  return time !== null && time[1]! <= "23" && time[2]! <= "59" && time[3]! <= "59";
}

/** Go's base64.StdEncoding.DecodeString: padded standard alphabet; line breaks are ignored. */
function isBase64(value: string): boolean {
  const text = value.replace(/[\r\n]/g, "");
  return text.length % 4 === 0 && /^[A-Za-z0-9+/]*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text);
}

const single = (valid: (value: string) => boolean, error: string) => (value: string) => (valid(value) ? [] : [error]);

const FORMATS: Record<string, (value: string) => string[]> = {
  dns1123Label,
  dns1123Subdomain,
  dns1035Label,
  qualifiedName,
  dns1123LabelPrefix: asPrefix(dns1123Label),
  dns1123SubdomainPrefix: asPrefix(dns1123Subdomain),
  dns1035LabelPrefix: asPrefix(dns1035Label),
  labelValue,
  uri: (value) => {
    try {
      parseRequestURI(value);
      return [];
    } catch (e) {
      return [(e as Error).message];
    }
  },
  uuid: single((v) => /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(v), "does not match the UUID format"),
  byte: single(isBase64, "invalid base64"),
  date: single(isDate, "invalid date"),
  datetime: single(isDateTime, "invalid datetime"),
};

const NONE = opaque("optional", []);
const some = (value: unknown) => opaque("optional", [value as never]);
// A format travels as its name, so formats compare equal exactly when they are the same format.
const format = (name: string) => opaque("format", name);

export const formatFunctions = [
  ...Object.keys(FORMATS).map((name) => celFunc(`format.${name}`, [], OPAQUE, () => format(name))),
  celFunc("format.named", [STRING], OPAQUE, (name) => (Object.hasOwn(FORMATS, name) ? some(format(name)) : NONE)),
  celMethod("validate", OPAQUE, [STRING], OPAQUE, function (value) {
    const errors = FORMATS[requireOpaque("format", this) as string]!(value);
    return errors.length === 0 ? NONE : some(errors);
  }),
];
