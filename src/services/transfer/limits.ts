// Timeouts shared by the senders: a dead server must fail the attempt, not hang the delivery loop.
export const CONNECT_TIMEOUT_MS = 10_000;
export const TRANSFER_TIMEOUT_MS = 120_000;
