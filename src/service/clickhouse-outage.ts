// "ClickHouse down": the one alert that cannot come from a rule, because rules are queries and their
// state lives in ClickHouse. The service watches its health cache instead: after a refresh fails it tells
// the admin chat and the alert recipients once, and once more when ClickHouse answers again.
import { buildMessage, type AlertMessage } from '../alerts/message.js';
import type { Channels } from '../channels/channel.js';
import type { Logger } from '../runtime/logger.js';

export interface OutageRecipients {
  telegram: string[];
  email: string[];
}

export interface OutageNotifier {
  /** Feed every health refresh: up or not, with the secret-free reason. */
  observe(up: boolean, error: string | null): Promise<void>;
}

export function outageNotifier(channels: Channels, recipients: OutageRecipients, log: Logger): OutageNotifier {
  let down = false;
  let notified = false;
  let since = 0;

  async function send(message: AlertMessage): Promise<boolean> {
    let delivered = false;
    const targets: Array<[keyof Channels, string[]]> = [['telegram', recipients.telegram], ['email', recipients.email]];
    for (const [name, list] of targets) {
      const channel = channels[name];
      if (!channel) continue;
      for (const recipient of list) {
        try {
          await channel.send(recipient, message);
          delivered = true;
        } catch (err) {
          // Never let a delivery problem touch the service; the log is the record while ClickHouse is down.
          log.warn({ channel: name, err }, `clickhouse_down: delivery to ${name} failed`);
        }
      }
    }
    return delivered;
  }

  return {
    async observe(up, error) {
      if (!up && !down) {
        down = true;
        since = Date.now();
        notified = await send(buildMessage('clickhouse_down', 'critical', 'firing', [{ dedupKey: 'clickhouse', kind: 'firing', summary: `ClickHouse does not answer: ${error ?? 'unknown error'}` }], 'The warehouse database is unreachable; loads, views and alerts stop until it is back.'));
      } else if (up && down) {
        down = false;
        const minutes = Math.max(1, Math.round((Date.now() - since) / 60_000));
        if (notified) await send(buildMessage('clickhouse_down', 'critical', 'resolved', [{ dedupKey: 'clickhouse', kind: 'resolved', summary: `ClickHouse answers again (down about ${minutes} min)` }]));
        notified = false;
      }
    },
  };
}
