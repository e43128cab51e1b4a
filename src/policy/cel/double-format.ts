// string(double) as cel-go writes it (strconv.FormatFloat(d, 'g', -1, 64)), which the API server's
// messages show: the shortest digits that read back as the same double, in exponent form when the
// exponent is below -4 or at least 6 ("1e+06", "1.5e-07"), "+Inf", "-Inf", "NaN", "-0". JavaScript's
// own String(d) switches to exponents only past 1e21 and writes "1e-7", so messages would differ.
// Registered with the same signature as the standard library's, it replaces that overload.
import { celFunc, CelScalar, type CelFunc } from "@bufbuild/cel";

export function formatDouble(d: number): string {
  if (Number.isNaN(d)) return "NaN";
  if (d === Infinity) return "+Inf";
  if (d === -Infinity) return "-Inf";
  if (d === 0) return Object.is(d, -0) ? "-0" : "0";
  const [mantissa, exponentText] = d.toExponential().split("e") as [string, string];
  const exponent = Number(exponentText);
  if (exponent >= -4 && exponent < 6) return String(d);
  const digits = String(Math.abs(exponent)).padStart(2, "0");
  return `${mantissa}e${exponent < 0 ? "-" : "+"}${digits}`;
}

export const doubleFormatFunctions: readonly CelFunc[] = [celFunc("string", [CelScalar.DOUBLE], CelScalar.STRING, formatDouble)];
