import type { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;
type EventType = temporal.api.enums.v1.EventType;

// Numeric event types (temporal.api.enums.v1.EventType), so this module needs no runtime proto import.
const E = {
  WorkflowExecutionStarted: 1,
  ActivityTaskStarted: 11,
  TimerStarted: 17,
  MarkerRecorded: 25,
  WorkflowExecutionSignaled: 26,
  StartChildWorkflowExecutionInitiated: 30,
  SignalExternalWorkflowExecutionInitiated: 39,
  UpsertWorkflowSearchAttributes: 40,
  WorkflowExecutionUpdateAccepted: 41,
} as const satisfies Record<string, EventType | number>;

/**
 * Temporal Cloud's billable actions in one workflow history, by its published rules
 * (docs.temporal.io/cloud/actions): the start; every activity attempt; every timer; every
 * search-attribute upsert after the start (but TemporalChangeVersion's); every signal and accepted update; two per child
 * workflow; and one per workflow task that recorded markers (local activities and patch markers
 * of one workflow task count once). Queries and rejected updates are not in history and not counted.
 */
export function billableActions(history: History): number {
  let actions = 0;
  const markerTasks = new Set<string>();
  for (const e of history.events ?? []) {
    switch (e.eventType as number) {
      case E.UpsertWorkflowSearchAttributes: {
        // The patch marker's own upsert of TemporalChangeVersion is not billed.
        const keys = Object.keys(e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {});
        if (keys.some((k) => k !== 'TemporalChangeVersion')) actions += 1;
        break;
      }
      case E.WorkflowExecutionStarted:
      case E.TimerStarted:
      case E.WorkflowExecutionSignaled:
      case E.WorkflowExecutionUpdateAccepted:
      case E.SignalExternalWorkflowExecutionInitiated:
        actions += 1;
        break;
      case E.ActivityTaskStarted:
        actions += Math.max(1, Number(e.activityTaskStartedEventAttributes?.attempt ?? 1));
        break;
      case E.StartChildWorkflowExecutionInitiated:
        actions += 2;
        break;
      case E.MarkerRecorded:
        markerTasks.add(String(e.markerRecordedEventAttributes?.workflowTaskCompletedEventId ?? ''));
        break;
    }
  }
  return actions + markerTasks.size;
}
