// The condition types of a PerseusTrainingJob; their transitions are src/api/conditions.ts.

/** Condition types of a PerseusTrainingJob. */
export const JOB_CONDITIONS = {
  invalidSpec: 'InvalidSpec',
  profiled: 'Profiled',
  planned: 'Planned',
  stragglerDetected: 'StragglerDetected',
  suspended: 'Suspended',
  complete: 'Complete',
  failed: 'Failed',
} as const;
