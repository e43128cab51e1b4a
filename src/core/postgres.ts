// One query on a PostgreSQL connection, its failure classified as the exit codes say: the server gone
// away (SQLSTATE classes 08 connection, 53 resources, 57 operator intervention, or no code at all) is a
// dependency unavailable; anything else the server refused is bad input naming the location.
import type pg from "pg";
import { InputError, UnavailableError } from "./errors.ts";

export async function queryRows<R extends pg.QueryResultRow>(
  client: pg.Client,
  location: string,
  text: string,
  values: unknown[] = [],
): Promise<R[]> {
  try {
    return (await client.query<R>(text, values)).rows;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === undefined || /^(08|57|53)/.test(code)) throw new UnavailableError(`${location}: PostgreSQL: ${(e as Error).message}`);
    throw new InputError(`${location}: PostgreSQL refused a query (${code}): ${(e as Error).message}`);
  }
}
