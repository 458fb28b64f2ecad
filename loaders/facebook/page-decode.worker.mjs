// The decode thread's entry (Piscina loads it): tsx first, so the TypeScript module can be imported.
// `null` is the warm-up task: it only starts the thread.
import { register } from 'tsx/esm/api';

register();
const { decodeInsightPage } = await import('./page-decode.ts');

export default (task) => (task === null ? null : decodeInsightPage(task));
