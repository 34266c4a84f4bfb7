import type { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;
type Event = temporal.api.history.v1.IHistoryEvent;

const json = (data: Uint8Array | null | undefined): unknown => (data ? JSON.parse(Buffer.from(data).toString('utf8')) : undefined);

/** What a local activity's marker says about it (type, attempt), or undefined for other events. */
function localActivity(e: Event): { type: string; attempt: number } | undefined {
  const m = e.markerRecordedEventAttributes;
  if (m?.markerName !== 'core_local_activity') return undefined;
  const data = json(m.details?.['data']?.payloads?.[0]?.data) as { activity_type?: string; attempt?: number } | undefined;
  return data?.activity_type ? { type: data.activity_type, attempt: data.attempt ?? 1 } : undefined;
}

/** Every activity a workflow ran, in order: regular ones (scheduled) and local ones (recorded as markers). */
export function activitiesIn(history: History): string[] {
  return (history.events ?? []).flatMap((e) => {
    const name = e.activityTaskScheduledEventAttributes?.activityType?.name ?? localActivity(e)?.type;
    return name ? [name] : [];
  });
}

/** The attempts it took to run `type` (regular or local activity): the highest attempt number seen. */
export function attemptsOf(history: History, type: string): number {
  let attempts = 0;
  const scheduled = new Set<string>();
  for (const e of history.events ?? []) {
    if (e.activityTaskScheduledEventAttributes?.activityType?.name === type) scheduled.add(String(e.eventId));
    const started = e.activityTaskStartedEventAttributes;
    if (started && scheduled.has(String(started.scheduledEventId))) attempts = Math.max(attempts, started.attempt ?? 1);
    const local = localActivity(e);
    if (local?.type === type) attempts = Math.max(attempts, local.attempt);
  }
  return attempts;
}

/** The summaries the Temporal UI shows for activities, local activities and timers, in order. */
export function summariesIn(history: History): string[] {
  return (history.events ?? [])
    .filter((e) => (e.activityTaskScheduledEventAttributes || e.markerRecordedEventAttributes || e.timerStartedEventAttributes) && e.userMetadata?.summary?.data)
    .map((e) => json(e.userMetadata!.summary!.data) as string);
}
