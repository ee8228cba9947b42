//! The seed's three API keys, shared by the examples: `user-admin-token` (admin),
//! `user-dev-token` (developer), `user-guest-token` (guest).

use mcp_bastion::auth::{ApiKey, ApiKeyStore};
use mcp_bastion::error::ConfigError;
use mcp_bastion::principal::{AuthMethod, Principal};

/// The key store of the seed's tokens.
pub(crate) fn seed_keys() -> Result<ApiKeyStore, ConfigError> {
    let user = |id: &str, role: &str| Principal::new(id, AuthMethod::ApiKey).with_role(role);
    ApiKeyStore::new([
        ApiKey::new("user-admin-token", user("adminUser", "admin"))?,
        ApiKey::new("user-dev-token", user("devUser", "developer"))?,
        ApiKey::new("user-guest-token", user("guestUser", "guest"))?,
    ])
}
