import { z } from 'zod';
import { envPort, envUrl, parseEnv, type Env } from './env.js';

const schema = z.object({
  CLICKHOUSE_URL: envUrl.optional(),
  CLICKHOUSE_USER: z.string().default('default'),
  CLICKHOUSE_PASSWORD: z.string().default(''),
  CH_DATABASE: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'expected a database name of letters, digits and _' }).default('adhouse'),
  CH_HTTP_PORT: envPort.default(8123),
  CH_TCP_PORT: envPort.default(9000),
});

export interface ClickHouseConfig {
  /** The server to talk to: CLICKHOUSE_URL, or the embedded server on CH_HTTP_PORT. */
  url: string;
  /** True when CLICKHOUSE_URL is unset and we manage a local server ourselves. */
  embedded: boolean;
  user: string;
  password: string;
  database: string;
  httpPort: number;
  tcpPort: number;
}

export function clickhouseConfig(env: Env = process.env): ClickHouseConfig {
  const c = parseEnv(schema, env);
  return {
    url: c.CLICKHOUSE_URL ?? `http://127.0.0.1:${c.CH_HTTP_PORT}`,
    embedded: c.CLICKHOUSE_URL === undefined,
    user: c.CLICKHOUSE_USER,
    password: c.CLICKHOUSE_PASSWORD,
    database: c.CH_DATABASE,
    httpPort: c.CH_HTTP_PORT,
    tcpPort: c.CH_TCP_PORT,
  };
}
