// A delivery channel: sends one alert message to one recipient, retrying within its bounds. A failure is
// thrown as DeliveryError (with the attempts made and a message free of secrets); the evaluator records it.
import type { AlertMessage } from '../alerts/message.js';
import type { ChannelName } from '../alerts/rules.js';

export interface Channel {
  name: ChannelName;
  /** Resolves with the attempts it took; throws DeliveryError when every attempt failed. */
  send(recipient: string, message: AlertMessage, signal?: AbortSignal): Promise<{ attempts: number }>;
}

export class DeliveryError extends Error {
  readonly attempts: number;
  constructor(message: string, attempts: number) {
    super(message);
    this.name = 'DeliveryError';
    this.attempts = attempts;
  }
}

export type Channels = Partial<Record<ChannelName, Channel>>;
