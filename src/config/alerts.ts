// The alert rules' and channels' variables (`adhouse alerts check`, the `alerts` job of `adhouse run`).
// A channel whose variables are unset is simply off: rules still run and record state in meta_alerts.
import { z } from 'zod';
import { ConfigError } from '../runtime/errors.js';
import { envBool, envInt, envList, envUrl, parseEnv, type Env } from './env.js';

const schema = z.object({
  ALERT_RULES_FILE: z.string().optional(),
  SMTP_HOST: z.string().regex(/^[A-Za-z0-9.:_-]+$/, { message: 'expected a host name or IP address' }).optional(),
  SMTP_PORT: envInt(1, 65535).optional(),
  SMTP_SECURE: envBool.optional(),
  SMTP_USER: z.string().optional(),
  SMTP_PASSWORD: z.string().optional(),
  SMTP_FROM: z.string().optional(),
  TELEGRAM_BOT_TOKEN: z.string().regex(/^[A-Za-z0-9:_-]+$/, { message: 'expected a bot token such as 123456:ABC-DEF' }).optional(),
  TELEGRAM_API_URL: envUrl.default('https://api.telegram.org'),
  ADMIN_CHAT_ID: z.string().optional(),
  ALERT_EMAIL_TO: envList.optional(),
  ALERT_TELEGRAM_CHAT_ID: z.string().optional(),
  ALERT_DELIVERY_ATTEMPTS: envInt(1, 10).default(3),
});

export interface SmtpConfig {
  host: string;
  port: number;
  secure: boolean;
  user?: string;
  password?: string;
  from: string;
}

export interface TelegramConfig {
  token: string;
  apiUrl: string;
}

export interface AlertsConfig {
  /** Undefined = the built-in ops/alerts/default-rules.yaml. */
  rulesFile?: string;
  smtp?: SmtpConfig;
  telegram?: TelegramConfig;
  /** Tries per message and recipient before the delivery is recorded as failed. */
  deliveryAttempts: number;
}

export function alertsConfig(env: Env = process.env): AlertsConfig {
  const c = parseEnv(schema, env);
  let smtp: SmtpConfig | undefined;
  if (c.SMTP_HOST) {
    if (!c.SMTP_FROM) throw new ConfigError('SMTP_FROM: required when SMTP_HOST is set (the sender address of alert e-mails); it is not set');
    if (c.SMTP_USER && !c.SMTP_PASSWORD) throw new ConfigError('SMTP_PASSWORD: required when SMTP_USER is set; it is not set');
    const secure = c.SMTP_SECURE ?? c.SMTP_PORT === 465;
    smtp = { host: c.SMTP_HOST, port: c.SMTP_PORT ?? (secure ? 465 : 587), secure, user: c.SMTP_USER, password: c.SMTP_PASSWORD, from: c.SMTP_FROM };
  }
  return {
    rulesFile: c.ALERT_RULES_FILE,
    smtp,
    telegram: c.TELEGRAM_BOT_TOKEN ? { token: c.TELEGRAM_BOT_TOKEN, apiUrl: c.TELEGRAM_API_URL } : undefined,
    deliveryAttempts: c.ALERT_DELIVERY_ATTEMPTS,
  };
}
