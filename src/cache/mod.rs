//! Context caching: the signed invalidation webhook ([`InvalidationWebhook`]).

mod webhook;

pub use webhook::{
    DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_KEYS, DEFAULT_REPLAY_CAPACITY, DEFAULT_WINDOW,
    InvalidationRequest, InvalidationWebhook, MIN_SECRET_BYTES, SIGNATURE_HEADER, WebhookError,
    WebhookFuture, WebhookSecret, verify_signature,
};
