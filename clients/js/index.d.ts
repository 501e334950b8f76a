// Types of lipsync-client (index.js).

/** A job, as `GET /api/v1/jobs/{id}` answers it. */
export interface Job {
  id: string;
  model: "lipsync-video" | "lipsync-image" | "lipsync-image-multi";
  status: "processing" | "completed" | "failed";
  /** The MP4's URL once completed. */
  output: string | null;
  /** "" unless failed. */
  error: string;
  /** Milliseconds of processing, once finished. */
  executionTime: number | null;
  /** Per-stage milliseconds. */
  timings: Record<string, number> | null;
  /** 0..1 */
  progress: number;
  createdAt?: string;
  seed?: number | null;
  credits?: number | null;
}

/** The immediate answer of a submit (plus the model it was submitted to). */
export interface SubmittedJob {
  id: string;
  status: "processing";
  model: Job["model"];
}

export interface Account {
  id: string;
  credits: number;
  name: string;
}

/** An http(s) URL, or a local file (a path, or its bytes) to upload first. */
export type Source = string | Uint8Array;

export interface ClientOptions {
  /** Default: LIPSYNC_BASE_URL, else http://127.0.0.1:8080. */
  baseUrl?: string;
  /** Default: LIPSYNC_API_KEY. */
  apiKey?: string;
  /** Per request, ms (60000). */
  timeout?: number;
  /** Retries of connection errors, 503 and 429 (3). */
  maxRetries?: number;
  /** A 429 asking to wait longer (seconds) is thrown, not waited out (60). */
  maxRetryWait?: number;
  /** Between polls where the event stream is unavailable, ms (3000). */
  pollInterval?: number;
}

interface SubmitOptions {
  resolution?: "480p" | "720p";
  seed?: number;
  prompt?: string;
  /** An https URL the finished job is POSTed to (signed: see verifyWebhook). */
  webhook?: string;
  /** Default: a fresh UUID, so a retried submit never makes a second job. */
  idempotencyKey?: string;
}

export interface LipsyncImageRequest extends SubmitOptions {
  image: Source;
  audio: Source;
  maskImage?: Source;
}

export interface LipsyncVideoRequest extends SubmitOptions {
  video: Source;
  audio: Source;
  maskImage?: Source;
}

export interface LipsyncImageMultiRequest extends SubmitOptions {
  image: Source;
  leftAudio: Source;
  rightAudio: Source;
  order?: "meanwhile" | "left_right" | "right_left";
}

export interface WaitOptions {
  /** Called at every change of the job, the final one too. */
  onProgress?: (job: Job) => void | Promise<void>;
  /** ms (600000); null: no limit. */
  timeout?: number | null;
}

export class Client {
  constructor(options?: ClientOptions);
  readonly baseUrl: string;
  lipsyncImage(request: LipsyncImageRequest): Promise<SubmittedJob>;
  lipsyncVideo(request: LipsyncVideoRequest): Promise<SubmittedJob>;
  lipsyncImageMulti(request: LipsyncImageMultiRequest): Promise<SubmittedJob>;
  upload(file: string | Uint8Array): Promise<string>;
  getJob(job: string | { id: string }): Promise<Job>;
  listJobs(options?: { limit?: number; before?: string }): Promise<Job[]>;
  cancel(job: string | { id: string }): Promise<Job>;
  account(): Promise<Account>;
  wait(job: string | { id: string }, options?: WaitOptions): Promise<Job>;
  download(job: string | Job, path: string): Promise<string>;
}

export type Headers_ = Headers | Record<string, string | string[] | undefined>;

/**
 * The delivered job, once the raw body is shown to be signed with `secret` (Standard Webhooks)
 * within `tolerance` seconds of `now` (unix seconds); otherwise throws InvalidSignature.
 */
export function verifyWebhook(body: string | Uint8Array, headers: Headers_, secret: string,
                              options?: { tolerance?: number; now?: number }): Job;

export class LipsyncError extends Error {}
export class APIError extends LipsyncError {
  status: number;
  code: string;
  field: string | null;
  requestId: string | null;
  body: unknown;
  retryAfter: number | null;
}
export class InvalidRequest extends APIError {}
export class AuthenticationError extends APIError {}
export class InsufficientCredits extends APIError {}
export class NotFound extends APIError {}
export class Conflict extends APIError {}
export class RateLimited extends APIError {
  retryAfter: number;
}
export class ServerError extends APIError {}
export class APIConnectionError extends LipsyncError {}
export class WaitTimeout extends LipsyncError {
  job: Job | null;
}
export class InvalidSignature extends LipsyncError {}
