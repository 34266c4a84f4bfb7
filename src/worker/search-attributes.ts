import proto from '@temporalio/proto';
import type { ConnectionLike } from '@temporalio/client';
import { SearchAttributeType } from '@temporalio/common';
import { ALL_SEARCH_ATTRIBUTES } from '../workflows/search-attributes.js';
import type { Logger } from '../log.js';

/**
 * Registers the product's search attributes in `namespace` when they are missing (a self-hosted
 * cluster; the dev server registers them at start). Idempotent. Where the caller may not
 * register them (Temporal Cloud API keys), logs what to add by hand and carries on.
 */
export async function ensureSearchAttributes(connection: Pick<ConnectionLike, 'operatorService'>, namespace: string, logger: Logger): Promise<void> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const have = new Set(Object.keys(existing.customAttributes ?? {}));
  const missing = ALL_SEARCH_ATTRIBUTES.filter((k) => !have.has(k.name));
  if (missing.length === 0) return;
  const { IndexedValueType } = proto.temporal.api.enums.v1;
  const indexed = (k: (typeof missing)[number]) => (k.type === SearchAttributeType.DATETIME ? IndexedValueType.INDEXED_VALUE_TYPE_DATETIME : IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD);
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((k) => [k.name, indexed(k)])),
    });
    logger.info('registered search attributes', { names: missing.map((k) => k.name) });
  } catch (err) {
    logger.warn('could not register search attributes; add them by hand', {
      names: missing.map((k) => `${k.name} (${k.type})`),
      error: (err as Error).message,
    });
  }
}
