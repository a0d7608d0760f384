// NVML return codes mapped once, at the edge, into typed errors. Shared by the real binding and the
// simulated GPU so that the agent handles both the same way.

/** NVML return codes (nvmlReturn_t) by symbolic name. */
export const NVML_RETURN_CODES = {
  NVML_SUCCESS: 0,
  NVML_ERROR_UNINITIALIZED: 1,
  NVML_ERROR_INVALID_ARGUMENT: 2,
  NVML_ERROR_NOT_SUPPORTED: 3,
  NVML_ERROR_NO_PERMISSION: 4,
  NVML_ERROR_ALREADY_INITIALIZED: 5,
  NVML_ERROR_NOT_FOUND: 6,
  NVML_ERROR_INSUFFICIENT_SIZE: 7,
  NVML_ERROR_INSUFFICIENT_POWER: 8,
  NVML_ERROR_DRIVER_NOT_LOADED: 9,
  NVML_ERROR_TIMEOUT: 10,
  NVML_ERROR_IRQ_ISSUE: 11,
  NVML_ERROR_LIBRARY_NOT_FOUND: 12,
  NVML_ERROR_FUNCTION_NOT_FOUND: 13,
  NVML_ERROR_CORRUPTED_INFOROM: 14,
  NVML_ERROR_GPU_IS_LOST: 15,
  NVML_ERROR_RESET_REQUIRED: 16,
  NVML_ERROR_OPERATING_SYSTEM: 17,
  NVML_ERROR_LIB_RM_VERSION_MISMATCH: 18,
  NVML_ERROR_IN_USE: 19,
  NVML_ERROR_MEMORY: 20,
  NVML_ERROR_NO_DATA: 21,
  NVML_ERROR_VGPU_ECC_NOT_SUPPORTED: 22,
  NVML_ERROR_INSUFFICIENT_RESOURCES: 23,
  NVML_ERROR_FREQ_NOT_SUPPORTED: 24,
  NVML_ERROR_ARGUMENT_VERSION_MISMATCH: 25,
  NVML_ERROR_DEPRECATED: 26,
  NVML_ERROR_NOT_READY: 27,
  NVML_ERROR_GPU_NOT_FOUND: 28,
  NVML_ERROR_INVALID_STATE: 29,
  NVML_ERROR_RESET_TYPE_NOT_SUPPORTED: 30,
  NVML_ERROR_UNKNOWN: 999,
} as const;

export type NvmlReturnName = keyof typeof NVML_RETURN_CODES;

const namesByCode = new Map<number, NvmlReturnName>(
  Object.entries(NVML_RETURN_CODES).map(([name, code]) => [code, name as NvmlReturnName]),
);

/** The symbolic name of an NVML return code, e.g. `4 → "NVML_ERROR_NO_PERMISSION"`; unknown codes map to `NVML_ERROR_UNKNOWN`. */
export function nvmlReturnName(code: number): NvmlReturnName {
  return namesByCode.get(code) ?? 'NVML_ERROR_UNKNOWN';
}

/**
 * A failed NVML call. `code` is the raw nvmlReturn_t, `codeName` its symbolic name, `nvmlMessage` the
 * library's own text (nvmlErrorString), `operation` the NVML function that failed.
 */
export class NvmlError extends Error {
  override readonly name: string = 'NvmlError';
  readonly code: number;
  readonly codeName: NvmlReturnName;
  readonly nvmlMessage: string;
  readonly operation: string;

  constructor(operation: string, code: number, nvmlMessage: string, options?: ErrorOptions) {
    super(`${operation} failed: ${nvmlReturnName(code)} (${code}): ${nvmlMessage}`, options);
    this.code = code;
    this.codeName = nvmlReturnName(code);
    this.nvmlMessage = nvmlMessage;
    this.operation = operation;
  }
}

/** NVML_ERROR_NOT_SUPPORTED: the device does not support the operation (e.g. memory clock locking). */
export class NvmlNotSupportedError extends NvmlError {
  override readonly name = 'NvmlNotSupportedError';
  constructor(operation: string, nvmlMessage = 'Not Supported', options?: ErrorOptions) {
    super(operation, NVML_RETURN_CODES.NVML_ERROR_NOT_SUPPORTED, nvmlMessage, options);
  }
}

/** NVML_ERROR_NO_PERMISSION: clock control needs root (or CAP_SYS_ADMIN) on the host. */
export class NvmlPermissionError extends NvmlError {
  override readonly name = 'NvmlPermissionError';
  constructor(operation: string, nvmlMessage = 'Insufficient Permissions', options?: ErrorOptions) {
    super(operation, NVML_RETURN_CODES.NVML_ERROR_NO_PERMISSION, nvmlMessage, options);
  }
}

/** Builds the most specific error class for `code`. */
export function nvmlErrorFor(operation: string, code: number, nvmlMessage: string): NvmlError {
  if (code === NVML_RETURN_CODES.NVML_ERROR_NOT_SUPPORTED) return new NvmlNotSupportedError(operation, nvmlMessage);
  if (code === NVML_RETURN_CODES.NVML_ERROR_NO_PERMISSION) return new NvmlPermissionError(operation, nvmlMessage);
  return new NvmlError(operation, code, nvmlMessage);
}
