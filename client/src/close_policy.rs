//! Whether to reconnect after the server closes the connection.
//!
//! phoenix.js changed its rule inside 1.8.x (PROTOCOL.md §7.4):
//!
//! | Close                                   | [`ClosePolicy::PhoenixJs1816`] (default) | [`ClosePolicy::PhoenixJs1812`] |
//! |-----------------------------------------|-------------------------------------------|---------------------------------|
//! | the client called `disconnect()`        | no reconnect                              | no reconnect                    |
//! | server close 1000 (normal)              | **reconnect**                             | no reconnect                    |
//! | 1001 (going away, Phoenix ≥1.8.8 disconnect) | reconnect                            | reconnect                       |
//! | 1002, 1011, 1012 (restart), other codes | reconnect                                 | reconnect                       |
//! | no close frame (TCP drop, "1006")       | reconnect                                 | reconnect                       |
//! | heartbeat timeout (client closes)       | reconnect                                 | reconnect                       |
//!
//! The default follows phoenix.js **1.8.16**, the version npm serves: any close the client did not
//! initiate is followed by a reconnect. The 1.8.12 rule skipped 1000, which froze clients when a
//! server said 1000 for a forced disconnect (Phoenix 1.7 on Cowboy; bandit#582, phoenix#3161).

use std::fmt;
use std::sync::Arc;

/// Why a connection ended, as the close policy sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseCause {
    /// The client called `disconnect()`.
    ClientDisconnect,
    /// The client gave up on an unanswered heartbeat.
    HeartbeatTimeout,
    /// The server sent a close frame with this code (None: a close frame without a code, 1005).
    ServerClose(Option<u16>),
    /// The stream ended or failed without a close frame (1006).
    Dropped,
}

/// The reconnect rule; see the module docs for the table.
#[derive(Clone, Default)]
pub enum ClosePolicy {
    /// phoenix.js 1.8.16: reconnect after every close the client did not initiate.
    #[default]
    PhoenixJs1816,
    /// phoenix.js ≤1.8.12: as above, except a server close with code 1000.
    PhoenixJs1812,
    /// Your own rule for server close codes (`None` = no code, or a dropped stream). A client
    /// `disconnect()` never reconnects, and a heartbeat timeout always does.
    Custom(Arc<dyn Fn(Option<u16>) -> bool + Send + Sync>),
}

impl ClosePolicy {
    /// True when the client should schedule a reconnect after `cause`.
    pub fn should_reconnect(&self, cause: &CloseCause) -> bool {
        match cause {
            CloseCause::ClientDisconnect => false,
            CloseCause::HeartbeatTimeout => true,
            CloseCause::ServerClose(code) => match self {
                ClosePolicy::PhoenixJs1816 => true,
                ClosePolicy::PhoenixJs1812 => *code != Some(1000),
                ClosePolicy::Custom(f) => f(*code),
            },
            CloseCause::Dropped => match self {
                ClosePolicy::Custom(f) => f(None),
                _ => true,
            },
        }
    }
}

impl fmt::Debug for ClosePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClosePolicy::PhoenixJs1816 => f.write_str("PhoenixJs1816"),
            ClosePolicy::PhoenixJs1812 => f.write_str("PhoenixJs1812"),
            ClosePolicy::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CloseCause::*;

    #[test]
    fn the_policy_table() {
        let causes = [
            ClientDisconnect,
            HeartbeatTimeout,
            ServerClose(Some(1000)),
            ServerClose(Some(1001)),
            ServerClose(Some(1002)),
            ServerClose(Some(1011)),
            ServerClose(Some(1012)),
            ServerClose(None),
            Dropped,
        ];
        let row = |p: &ClosePolicy| {
            causes
                .iter()
                .map(|c| p.should_reconnect(c))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            row(&ClosePolicy::default()),
            [false, true, true, true, true, true, true, true, true]
        );
        assert_eq!(
            row(&ClosePolicy::PhoenixJs1812),
            [false, true, false, true, true, true, true, true, true]
        );
        let only_restart = ClosePolicy::Custom(Arc::new(|code| code == Some(1012)));
        assert_eq!(
            row(&only_restart),
            [false, true, false, false, false, false, true, false, false]
        );
    }
}
