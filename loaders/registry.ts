// The loader registry: adding a source is one folder under loaders/ and one line in each list here.
import type { LoaderDefinition } from '../src/runtime/contract.js';
import type { StartSandbox } from '../src/runtime/sandbox.js';
import vkAds from './vk_ads/index.js';
import { startSandbox as startVkAdsSandbox } from './vk_ads/sandbox.js';
import direct from './direct/index.js';
import { startSandbox as startDirectSandbox } from './direct/sandbox.js';

export const LOADERS: readonly LoaderDefinition[] = [vkAds as unknown as LoaderDefinition, direct as unknown as LoaderDefinition];

export const SANDBOXES: Readonly<Record<string, StartSandbox>> = {
  vk_ads: startVkAdsSandbox,
  direct: startDirectSandbox,
};

export function findLoader(name: string): LoaderDefinition | undefined {
  return LOADERS.find((l) => l.name === name);
}
