// The Fastify app: health probes, metrics, the status page. Handlers never query ClickHouse: they answer
// from the HealthCache. No answer carries a stack trace or a secret: errors become a short message.
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { Registry } from 'prom-client';
import type { Logger } from '../runtime/logger.js';
import { redactString } from '../runtime/redact.js';
import { detailed, freshness, healthz, oneSource, type Answer, type AnswerContext, type SourceInfo } from './health-answers.js';
import type { HealthCache } from './health-cache.js';
import type { Scheduler } from './scheduler.js';
import { renderStatusPage } from './status-page.js';

export interface ServerOptions {
  cache: HealthCache;
  metrics: Registry;
  sources: readonly SourceInfo[];
  reportingTz: string;
  log: Logger;
  basicAuth?: { user: string; password: string };
  scheduler?: Scheduler;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Constant-time check of an Authorization header against user:password. */
export function basicAuthOk(header: string | undefined, auth: { user: string; password: string }): boolean {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m) return false;
  const given = Buffer.from(m[1]!, 'base64').toString('utf8');
  return timingSafeEqual(digest(given), digest(`${auth.user}:${auth.password}`));
}

export function buildServer(opts: ServerOptions): FastifyInstance {
  // Fastify's own request logging is off: a probe every second must not flood the logs.
  const app = Fastify({ logger: false, return503OnClosing: true, forceCloseConnections: 'idle' });

  // Answers derived from one cache generation are computed once and reused by every probe until the next refresh.
  let memo: { generation: number; up: boolean; answers: Map<string, { code: number; text: string }> } | undefined;
  const context = (): AnswerContext => ({ state: opts.cache.state, up: opts.cache.isUp(), sources: opts.sources, jobs: opts.scheduler?.states() });
  const cached = (key: string, build: (ctx: AnswerContext) => Answer): { code: number; text: string } => {
    const up = opts.cache.isUp();
    const gen = opts.cache.state.generation;
    if (!memo || memo.generation !== gen || memo.up !== up) memo = { generation: gen, up, answers: new Map() };
    let hit = memo.answers.get(key);
    if (!hit) {
      const a = build(context());
      hit = { code: a.code, text: JSON.stringify(a.body) };
      // Bounded: /healthz/<anything> must not grow the memo without limit between refreshes.
      if (memo.answers.size < 64) memo.answers.set(key, hit);
    }
    return hit;
  };

  if (opts.basicAuth) {
    const auth = opts.basicAuth;
    app.addHook('onRequest', async (req, reply) => {
      // /healthz stays open for load balancers and systemd probes; everything else needs the password.
      if (req.url === '/healthz' || req.url.startsWith('/healthz?')) return;
      if (!basicAuthOk(req.headers.authorization, auth)) {
        return reply.code(401).header('WWW-Authenticate', 'Basic realm="adhouse", charset="UTF-8"').send({ error: 'authentication required' });
      }
    });
  }

  const json = (key: string, build: (ctx: AnswerContext) => Answer) => async (_req: unknown, reply: FastifyReply) => {
    const a = cached(key, build);
    return reply.code(a.code).header('cache-control', 'no-store').type('application/json; charset=utf-8').send(a.text);
  };

  app.get('/healthz', json('healthz', healthz));
  app.get('/healthz/detailed', async (_req, reply) => {
    // The jobs part changes between refreshes (a run starts), so it is not memoised with the rest.
    const a = opts.scheduler ? detailed(context()) : undefined;
    if (a) return reply.code(a.code).header('cache-control', 'no-store').type('application/json; charset=utf-8').send(JSON.stringify(a.body));
    const hit = cached('detailed', detailed);
    return reply.code(hit.code).header('cache-control', 'no-store').type('application/json; charset=utf-8').send(hit.text);
  });
  app.get('/healthz/freshness', json('freshness', freshness));
  app.get<{ Params: { source: string } }>('/healthz/:source', async (req, reply) => {
    const a = cached(`source:${req.params.source}`, (ctx) => oneSource(ctx, req.params.source));
    return reply.code(a.code).header('cache-control', 'no-store').type('application/json; charset=utf-8').send(a.text);
  });
  app.get('/metrics', async (_req, reply) => {
    const text = await opts.metrics.metrics();
    return reply.header('cache-control', 'no-store').type(opts.metrics.contentType).send(text);
  });
  app.get('/', async (_req, reply) => {
    return reply.header('cache-control', 'no-store').type('text/html; charset=utf-8').send(renderStatusPage(context(), opts.reportingTz));
  });

  app.setNotFoundHandler(async (_req, reply) => reply.code(404).send({ error: 'not found' }));
  app.setErrorHandler(async (err: { statusCode?: number; message?: string; stack?: string }, req, reply) => {
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    // The log gets the (redacted) detail; the answer only a short message.
    if (status >= 500) opts.log.error({ url: req.url, err }, `http: ${req.method} ${req.url} failed`);
    const message = status >= 500 ? 'internal error' : redactString(String(err.message ?? 'bad request').split('\n')[0]!).slice(0, 160);
    return reply.code(status).send({ error: message });
  });
  return app;
}
