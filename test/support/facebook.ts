// Facebook loader settings for tests against the sandbox: polls and waits of milliseconds, no request-rate
// cap to speak of (the sandbox answers at once unless a test asks for latency).
export const FB_FAST = { FB_POLL_MS: '1', FB_POLL_MAX_MS: '5', FB_RATE_LIMIT_WAIT_MS: '20', FB_SLOWDOWN_MAX_MS: '5', FACEBOOK_RPS: '2000' } as const;
