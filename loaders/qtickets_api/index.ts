// QTickets REST API (legacy sales source): events with their shows, and paid orders with their baskets.
// Upstream surprises and how each is handled: BEHAVIOR.md next to this file.
import { z } from 'zod';
import { envInt, envJson, envUrl } from '../../src/config/env.js';
import { defineLoader, type LoaderContext } from '../../src/runtime/contract.js';
import { addDays, zonedDayStart } from '../../src/runtime/dates.js';
import { AdhouseError } from '../../src/runtime/errors.js';
import { createQticketsApi, PAGE_SIZE, type QticketsApi, type WhereItem } from './api.js';
import { eventToRows, isoWithOffset, orderToRows, type EventInfo, type OrderContext, type ShowInfo } from './transform.js';

const config = z.object({
  QTICKETS_API_URL: envUrl.default('https://qtickets.ru/api/rest/v1'),
  QTICKETS_API_TOKEN: z.string().min(1),
  /** {"<city_id>": "msk", ...}: QTickets names a city only by id; the values are utm_content city codes. */
  QTICKETS_API_CITY_MAP: envJson(z.record(z.string(), z.string(), { message: 'expected a JSON object {"<city_id>": "<city>"}' })).default({}),
  QTICKETS_API_PAGE_SIZE: envInt(1, 1000).default(PAGE_SIZE),
});

type Config = z.infer<typeof config>;
type Ctx = LoaderContext<Config>;

export const SALES_TABLE = 'stg_qtickets_sales_raw';
export const EVENTS_TABLE = 'dim_events';

export default defineLoader({
  name: 'qtickets_api',
  description: 'QTickets REST API (legacy): events, shows and paid orders by basket',
  schedule: '*/15 * * * *',
  enabledByDefault: true,
  lookbackDays: 3,
  includeToday: true,
  initialDays: 30,
  rateLimit: { requestsPerSecond: 5, concurrency: 2 },
  config,
  async run(ctx) {
    const api = createQticketsApi({ http: ctx.http, baseUrl: ctx.config.QTICKETS_API_URL, token: ctx.config.QTICKETS_API_TOKEN, pageSize: ctx.config.QTICKETS_API_PAGE_SIZE });
    const { shows, events } = await loadEvents(ctx, api);
    await loadOrders(ctx, api, shows, events);
  },
});

async function loadEvents(ctx: Ctx, api: QticketsApi): Promise<{ shows: Map<string, ShowInfo>; events: Map<string, EventInfo> }> {
  // skipUnchanged over the whole table (no date column scopes it): dim_events is small.
  const sink = ctx.sink(EVENTS_TABLE, { skipUnchanged: { key: ['source', 'event_id', 'show_id'] } });
  const shows = new Map<string, ShowInfo>();
  const events = new Map<string, EventInfo>();
  ctx.progress.start('events', 1);
  // No where=: deleted events are read too, their shows date the sales already made.
  for await (const page of api.events()) {
    for (const item of page) await writeEvent(ctx, item.raw, shows, events);
  }
  ctx.progress.tick();
  ctx.progress.done();
  ctx.log.info({ events: events.size, shows: shows.size }, `qtickets_api: ${events.size} events, ${shows.size} shows`);
  await sink.flush();
  return { shows, events };
}

async function writeEvent(ctx: Ctx, raw: unknown, shows: Map<string, ShowInfo>, events: Map<string, EventInfo>): Promise<void> {
  const sink = ctx.sink(EVENTS_TABLE);
  const r = eventToRows(raw, ctx.config.QTICKETS_API_CITY_MAP, ctx.reportingTz);
  ctx.rowsRead(r.read);
  if (r.event) events.set(r.event.event_id, r.event);
  for (const s of r.shows) shows.set(s.show_id, s);
  for (const row of r.rows) await sink.write(row);
  for (const bad of r.rejected) await ctx.quarantine.add({ table: EVENTS_TABLE, reason: bad.reason, payload: bad.payload, key: bad.key });
  if (r.skipped > 0) sink.skip(r.skipped);
}

async function loadOrders(ctx: Ctx, api: QticketsApi, shows: Map<string, ShowInfo>, events: Map<string, EventInfo>): Promise<void> {
  const sink = ctx.sink(SALES_TABLE, { hash: true });
  const fromMs = zonedDayStart(ctx.window.since, ctx.reportingTz);
  const toMs = zonedDayStart(addDays(ctx.window.until, 1), ctx.reportingTz);
  const orderCtx: OrderContext = { fromMs, toMs, shows, events };
  // Incremental by update time: a refund or cancellation after payment moves updated_at, so the changed
  // order comes back in the next run's window even when it was paid long before.
  const where: WhereItem[] = [
    { column: 'payed', value: 1 },
    { column: 'updated_at', operator: '>=', value: isoWithOffset(fromMs, ctx.reportingTz) },
    { column: 'updated_at', operator: '<', value: isoWithOffset(toMs, ctx.reportingTz) },
  ];
  const tried = new Set<string>();
  let orders = 0;
  ctx.progress.start('orders', 0);
  for await (const page of api.orders(where)) {
    if (ctx.signal.aborted) throw new AdhouseError('aborted', 'aborted');
    for (const raw of page) {
      let r = orderToRows(raw, orderCtx);
      // An event missing from the list (created since, or hidden): ask for it once, then map again.
      if (r.unknownEvent !== null && !tried.has(r.unknownEvent)) {
        tried.add(r.unknownEvent);
        const event = await api.event(Number(r.unknownEvent));
        if (event) await writeEvent(ctx, event, shows, events);
        else ctx.log.warn({ eventId: r.unknownEvent }, `qtickets_api: order ${String((raw as { id?: unknown }).id)} names an unknown event ${r.unknownEvent}; its lines get no city or event date`);
        r = orderToRows(raw, orderCtx);
      }
      ctx.rowsRead(r.read);
      for (const row of r.rows) await sink.write(row);
      for (const bad of r.rejected) await ctx.quarantine.add({ table: SALES_TABLE, reason: bad.reason, payload: bad.payload, key: bad.key });
      if (r.skipped > 0) sink.skip(r.skipped);
      orders++;
    }
    ctx.progress.tick();
  }
  ctx.progress.done();
  ctx.log.info({ orders, lines: sink.written + sink.skipped }, `qtickets_api: ${orders} orders read`);
  await sink.flush();
  await ctx.sink(EVENTS_TABLE).flush();
}
