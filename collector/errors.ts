/**
 * An HTTP answer other than 202: the status, a precise message for the client, and for 429
 * and 503 the seconds after which to retry. Thrown by body decoders and limits; the server
 * turns it into the response.
 */
export class HttpError extends Error {
  override readonly name = 'HttpError';

  constructor(
    readonly status: number,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** 400: the body is malformed (not the format it claims, or not what the endpoint takes). */
export const badRequest = (message: string) => new HttpError(400, message);

/** 413: the body (or what it decompresses to) is beyond the size limit. */
export const tooLarge = (message: string) => new HttpError(413, message);
