//! The tutorial's "HelloSockets" app, as described in `fixtures/phoenix-1.7.14/README.md`.
//!
//! - [`UserSocket`] (`/socket`): `ping`, `ping:*`, `wild:*`, `dupe`.
//! - [`AuthSocket`] (`/auth_socket`): token auth; `ping`, `recurring`, `user:*`.

mod auth_channel;
mod auth_socket;
mod dedupe_channel;
mod ping_channel;
mod recurring_channel;
mod user_socket;
mod wildcard_channel;

pub use auth_channel::AuthChannel;
pub use auth_socket::{AuthSocket, AUTH_MAX_AGE, AUTH_SALT};
pub use dedupe_channel::{broadcast_numbers, DedupeChannel};
pub use ping_channel::PingChannel;
pub use recurring_channel::RecurringChannel;
pub use user_socket::UserSocket;
pub use wildcard_channel::WildcardChannel;
