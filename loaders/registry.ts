// The loader registry: adding a source is one folder under loaders/ and one line in each list here.
import type { LoaderDefinition } from '../src/runtime/contract.js';
import type { StartSandbox } from '../src/runtime/sandbox.js';
import vkAds from './vk_ads/index.js';
import { startSandbox as startVkAdsSandbox } from './vk_ads/sandbox.js';
import direct from './direct/index.js';
import { startSandbox as startDirectSandbox } from './direct/sandbox.js';
import avito from './avito/index.js';
import { startSandbox as startAvitoSandbox } from './avito/sandbox.js';
import cbrRates from './cbr_rates/index.js';
import facebook from './facebook/index.js';
import { startSandbox as startFacebookSandbox } from './facebook/sandbox.js';
import qticketsSheets from './qtickets_sheets/index.js';
import { startSandbox as startQticketsSheetsSandbox } from './qtickets_sheets/sandbox.js';
import qticketsApi from './qtickets_api/index.js';
import gmail from './gmail/index.js';
import { startSandbox as startGmailSandbox } from './gmail/sandbox.js';
import { startSandbox as startQticketsApiSandbox } from './qtickets_api/sandbox.js';
import { startSandbox as startCbrRatesSandbox } from './cbr_rates/sandbox.js';

// The demo loads in this order: currency rates first, so spend converts as soon as it lands.
export const LOADERS: readonly LoaderDefinition[] = [cbrRates, facebook, vkAds, direct, avito, qticketsSheets, qticketsApi, gmail].map((l) => l as unknown as LoaderDefinition);

export const SANDBOXES: Readonly<Record<string, StartSandbox>> = {
  vk_ads: startVkAdsSandbox,
  direct: startDirectSandbox,
  cbr_rates: startCbrRatesSandbox,
  facebook: startFacebookSandbox,
  avito: startAvitoSandbox,
  qtickets_sheets: startQticketsSheetsSandbox,
  qtickets_api: startQticketsApiSandbox,
  gmail: startGmailSandbox,
};

export function findLoader(name: string): LoaderDefinition | undefined {
  return LOADERS.find((l) => l.name === name);
}
