/** Domain errors in the one error shape of the API: `{ error: { code, message, details? } }` (architecture §4); the socket layer acks the same code and message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toBody() {
    return { error: { code: this.code, message: this.message, ...(this.details === undefined ? {} : { details: this.details }) } };
  }
}

export const unauthorized = (message = 'missing or invalid bearer token') => new ApiError(401, 'unauthorized', message);
export const forbidden = (message: string) => new ApiError(403, 'forbidden', message);
export const notFound = (message: string) => new ApiError(404, 'not_found', message);
export const invalidPayload = (message: string, details?: unknown) => new ApiError(422, 'invalid_payload', message, details);
export const invalidState = (message: string, details?: unknown) => new ApiError(422, 'invalid_state', message, details);
export const unavailable = (message: string) => new ApiError(503, 'unavailable', message);
export const rateLimited = (message: string) => new ApiError(429, 'rate_limited', message);
/**
 * A worker's message about a run attempt that is not the run's current one, or not this worker's:
 * the run was re-queued or claimed again meanwhile (architecture §7a, fencing). Nothing changed.
 */
export const staleAttempt = (message: string, details?: unknown) => new ApiError(409, 'stale_attempt', message, details);
