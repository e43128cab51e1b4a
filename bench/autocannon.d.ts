// autocannon ships no types: the part bench/admission.ts uses (a fixed overall rate, a cycle of
// requests, and each response's own time in milliseconds).
declare module "autocannon" {
  interface Options {
    url: string;
    connections?: number;
    overallRate?: number;
    duration?: number;
    requests?: { method?: string; path?: string; headers?: Record<string, string>; body?: string }[];
  }
  interface Result {
    errors: number;
    timeouts: number;
  }
  interface Instance extends PromiseLike<Result> {
    on(event: "response", listener: (client: unknown, statusCode: number, bytes: number, responseTimeMs: number) => void): this;
  }
  function autocannon(options: Options): Instance;
  export default autocannon;
}
