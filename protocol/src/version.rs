//! Phoenix and Plug.Crypto releases, and the one table of which wire behaviour starts at which
//! release.
//!
//! The server imitates a [`PhoenixVersion`] and the conformance suite expects one; both ask
//! [`PhoenixVersion::has`] instead of comparing version numbers. Only two releases were recorded
//! (`fixtures/phoenix-1.7.14`, `fixtures/phoenix-1.8.12`): 1.7.14 has none of the behaviours
//! below and 1.8.12 has all of them. For any other release the expectation comes from
//! [`BEHAVIOURS`], whose rows cite the Phoenix CHANGELOG or the commit (and the first tag that
//! contains it); such a release is [`Evidence::Inferred`].
//!
//! ```
//! use phx_protocol::version::{Behaviour, PhoenixVersion, PlugCryptoVersion};
//!
//! let v: PhoenixVersion = "1.7.24".parse().unwrap();
//! assert!(v.has(Behaviour::MaxChannels));
//! assert!(!v.has(Behaviour::StaleJoinRefDropped));
//! assert_eq!("1.8".parse::<PhoenixVersion>().unwrap(), PhoenixVersion::V1_8);
//! assert_eq!(PhoenixVersion::V1_8.to_string(), "1.8.12");
//! assert!(!PhoenixVersion::V1_7.plug_crypto().rejects_future_signed_at());
//! assert!("2.2.0".parse::<PlugCryptoVersion>().unwrap().rejects_future_signed_at());
//! ```

use std::fmt;
use std::str::FromStr;

/// A `MAJOR.MINOR.PATCH` release number (no pre-releases: the table only names final releases).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Release {
    /// Major.
    pub major: u16,
    /// Minor.
    pub minor: u16,
    /// Patch.
    pub patch: u16,
}

impl Release {
    /// `major.minor.patch`.
    pub const fn new(major: u16, minor: u16, patch: u16) -> Self {
        Release {
            major,
            minor,
            patch,
        }
    }

    /// True when `self` is on the same `major.minor` line as `other`.
    pub fn same_line(self, other: Release) -> bool {
        self.major == other.major && self.minor == other.minor
    }

    /// Parses `X.Y.Z`, or `X.Y` as `X.Y.<patch_for_line>`.
    fn parse(s: &str, patch_for_line: impl Fn(u16, u16) -> Option<u16>) -> Option<Release> {
        let s = s.trim().trim_start_matches('v');
        let parts: Vec<&str> = s.split('.').collect();
        let num = |p: &str| {
            (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse::<u16>().ok())
                .flatten()
        };
        match parts.as_slice() {
            [a, b] => {
                let (major, minor) = (num(a)?, num(b)?);
                Some(Release::new(major, minor, patch_for_line(major, minor)?))
            }
            [a, b, c] => Some(Release::new(num(a)?, num(b)?, num(c)?)),
            _ => None,
        }
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A Phoenix release whose wire behaviour is imitated or expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoenixVersion(pub Release);

/// Why a version string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} version {given:?}: use MAJOR.MINOR.PATCH (e.g. {example}){lines}")]
pub struct ParseVersionError {
    /// `"Phoenix"` or `"Plug.Crypto"`.
    pub what: &'static str,
    /// The text given.
    pub given: String,
    example: &'static str,
    lines: &'static str,
}

impl PhoenixVersion {
    /// Phoenix 1.7.14, the recorded 1.7 (`fixtures/phoenix-1.7.14`); what `1.7` means.
    pub const V1_7: PhoenixVersion = PhoenixVersion(Release::new(1, 7, 14));
    /// Phoenix 1.8.12, the recorded 1.8 (`fixtures/phoenix-1.8.12`); what `1.8` means.
    pub const V1_8: PhoenixVersion = PhoenixVersion(Release::new(1, 8, 12));
    /// The recorded releases, oldest first.
    pub const RECORDED: &'static [PhoenixVersion] = &[Self::V1_7, Self::V1_8];
    /// The recorded releases (the ones CI runs the suite and phx-server against).
    pub const ALL: &'static [PhoenixVersion] = Self::RECORDED;

    /// `major.minor.patch`.
    pub const fn new(major: u16, minor: u16, patch: u16) -> Self {
        PhoenixVersion(Release::new(major, minor, patch))
    }

    /// The release number.
    pub fn release(self) -> Release {
        self.0
    }

    /// True when `behaviour` is in this release (see [`BEHAVIOURS`]).
    pub fn has(self, behaviour: Behaviour) -> bool {
        behaviour.row().since.present_in(self.0)
    }

    /// Recorded, or inferred from [`BEHAVIOURS`].
    pub fn evidence(self) -> Evidence {
        if Self::RECORDED.contains(&self) {
            Evidence::Recorded
        } else {
            Evidence::Inferred
        }
    }

    /// The Plug.Crypto release that goes with this Phoenix: 2.2.0 from the release whose
    /// `mix.exs` requires `~> 2.2` ([`Behaviour::PlugCrypto22`]), else 2.1.1 (what the recordings
    /// ran: 2.1.0 under 1.7.14 and 2.1.1 under 1.8.12 behave alike on the rules here).
    pub fn plug_crypto(self) -> PlugCryptoVersion {
        if self.has(Behaviour::PlugCrypto22) {
            PlugCryptoVersion::V2_2_0
        } else {
            PlugCryptoVersion::V2_1_1
        }
    }

    /// Every row of [`BEHAVIOURS`] with whether this release has it.
    pub fn behaviours(self) -> impl Iterator<Item = (Behaviour, bool)> {
        BEHAVIOURS
            .iter()
            .map(move |r| (r.behaviour, self.has(r.behaviour)))
    }
}

impl fmt::Display for PhoenixVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for PhoenixVersion {
    type Err = ParseVersionError;

    /// `1.7.14`, `1.7.24`, `1.8.12`, …; `1.7` and `1.8` are the recorded 1.7.14 and 1.8.12.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let recorded = |major, minor| {
            Self::RECORDED
                .iter()
                .find(|v| v.0.major == major && v.0.minor == minor)
                .map(|v| v.0.patch)
        };
        Release::parse(s, recorded)
            .map(PhoenixVersion)
            .ok_or_else(|| ParseVersionError {
                what: "Phoenix",
                given: s.to_owned(),
                example: "1.7.14 or 1.8.12",
                lines: "; 1.7 and 1.8 mean the recorded 1.7.14 and 1.8.12",
            })
    }
}

impl Default for PhoenixVersion {
    /// The recorded 1.8.12.
    fn default() -> Self {
        Self::V1_8
    }
}

/// A Plug.Crypto release (it decides `Phoenix.Token.verify`'s rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlugCryptoVersion(pub Release);

impl PlugCryptoVersion {
    /// Plug.Crypto 2.1.1 (what the 1.8.12 recordings ran).
    pub const V2_1_1: PlugCryptoVersion = PlugCryptoVersion(Release::new(2, 1, 1));
    /// Plug.Crypto 2.2.0 (required by Phoenix ≥ 1.8.10).
    pub const V2_2_0: PlugCryptoVersion = PlugCryptoVersion(Release::new(2, 2, 0));

    /// True from the release with "Reject tokens with future signed_at timestamps"
    /// ([`FUTURE_SIGNED_AT`]): a token whose signed_at is after now is `:invalid`.
    pub fn rejects_future_signed_at(self) -> bool {
        self.0 >= FUTURE_SIGNED_AT.since
    }
}

impl fmt::Display for PlugCryptoVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for PlugCryptoVersion {
    type Err = ParseVersionError;

    /// `2.1.0`, `2.1.1`, `2.2.0`, …; `X.Y` means `X.Y.0`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Release::parse(s, |_, _| Some(0))
            .map(PlugCryptoVersion)
            .ok_or_else(|| ParseVersionError {
                what: "Plug.Crypto",
                given: s.to_owned(),
                example: "2.1.1 or 2.2.0",
                lines: "",
            })
    }
}

/// How a release's expectations are known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evidence {
    /// A recording of that release exists (`fixtures/phoenix-<version>`).
    Recorded,
    /// Derived from [`BEHAVIOURS`] (changelog or commit), not from a recording.
    Inferred,
}

impl Evidence {
    /// `"recorded"` or `"inferred"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Evidence::Recorded => "recorded",
            Evidence::Inferred => "inferred",
        }
    }
}

/// A wire behaviour that differs between Phoenix releases (`fixtures/COMPAT-1.7-vs-1.8.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Behaviour {
    /// COMPAT D2/D3/X1: a non-join message whose join_ref is not `===` the joined channel's is
    /// dropped silently (before: it reached the current channel; only phx_leave checked).
    StaleJoinRefDropped,
    /// COMPAT X2/X3: with [`Behaviour::StaleJoinRefDropped`], a null join_ref still reaches the
    /// channel and a channel joined with a null join_ref takes only null. Between the two
    /// releases (1.8.3–1.8.11) a null join_ref was dropped unless the channel's was null too,
    /// and then every join_ref reached it.
    NullJoinRefRouted,
    /// COMPAT X5: `vsn` given as a list is refused with 403 (before: HTTP 500 from the ErrorJSON
    /// view).
    VsnListRefused,
    /// COMPAT D4: a `"disconnect"` broadcast on the socket id closes with 1001 on every adapter
    /// (before: Cowboy 1000, Bandit 1011).
    DisconnectGoingAway,
    /// COMPAT X4: `max_channels_per_transport` (default 100); the next join gets
    /// `{"reason":"too many channels joined"}`.
    MaxChannels,
    /// COMPAT D1: `phx_error` after a channel crash carries `{"reason":"channel_crash"}`
    /// (before: `{}`).
    PhxErrorReason,
    /// `mix.exs` requires `plug_crypto ~> 2.2`, so tokens follow Plug.Crypto 2.2's rules
    /// ([`FUTURE_SIGNED_AT`]).
    PlugCrypto22,
}

impl Behaviour {
    /// Its row in [`BEHAVIOURS`].
    pub fn row(self) -> &'static BehaviourRow {
        // Every variant has exactly one row (tested).
        BEHAVIOURS
            .iter()
            .find(|r| r.behaviour == self)
            .unwrap_or(&BEHAVIOURS[0])
    }

    /// A short id (`max_channels`), as `phx list` prints it.
    pub fn id(self) -> &'static str {
        self.row().id
    }
}

/// The first release of each line that has a behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Since(pub &'static [Release]);

impl Since {
    /// In `v` when `v` is at or after the entry for its own line, or when `v`'s line is later
    /// than every entry's line (a later line branched after the change). A line older than every
    /// entry, or without an entry but between two entries, takes the older entry's answer.
    pub fn present_in(self, v: Release) -> bool {
        let mut best: Option<Release> = None;
        for &s in self.0 {
            if (s.major, s.minor) <= (v.major, v.minor)
                && best.is_none_or(|b| (s.major, s.minor) > (b.major, b.minor))
            {
                best = Some(s);
            }
        }
        match best {
            None => false,
            Some(s) if s.same_line(v) => v >= s,
            Some(_) => true,
        }
    }
}

impl fmt::Display for Since {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v: Vec<String> = self.0.iter().map(|r| format!("{r}+")).collect();
        f.write_str(&v.join(", "))
    }
}

/// One row of [`BEHAVIOURS`].
#[derive(Clone, Copy, Debug)]
pub struct BehaviourRow {
    /// The behaviour.
    pub behaviour: Behaviour,
    /// Its short id.
    pub id: &'static str,
    /// The first release of each line that has it.
    pub since: Since,
    /// The CHANGELOG entry or commit that says so.
    pub source: &'static str,
    /// True when the start release is inferred rather than read from a changelog or a tag.
    pub inferred: bool,
}

const fn r(major: u16, minor: u16, patch: u16) -> Release {
    Release::new(major, minor, patch)
}

/// Which behaviour starts at which Phoenix release. "First tag" means the oldest release tag of
/// phoenixframework/phoenix that contains the commit (`git tag --contains`).
pub const BEHAVIOURS: &[BehaviourRow] = &[
    BehaviourRow {
        behaviour: Behaviour::StaleJoinRefDropped,
        id: "stale_join_ref_dropped",
        since: Since(&[r(1, 8, 3)]),
        source: "CHANGELOG v1.8.3: \"Drop incoming channel messages with stale join refs\" (commit c73bbfcf, first tag v1.8.3; not on v1.7)",
        inferred: false,
    },
    BehaviourRow {
        behaviour: Behaviour::NullJoinRefRouted,
        id: "null_join_ref_routed",
        since: Since(&[r(1, 8, 12)]),
        source: "CHANGELOG v1.8.12: \"Fix channel messages being invalidly dropped when receiving messages without a join_ref (introduced in 1.8.3)\" (#6800, commit a2bda2d6)",
        inferred: false,
    },
    BehaviourRow {
        behaviour: Behaviour::VsnListRefused,
        id: "vsn_list_refused",
        since: Since(&[r(1, 8, 6)]),
        source: "CHANGELOG v1.8.6: \"Gracefully handle non-binary `vsn` socket parameter\" (#6662, commit 6ceade42; not on v1.7)",
        inferred: false,
    },
    BehaviourRow {
        behaviour: Behaviour::DisconnectGoingAway,
        id: "disconnect_1001",
        since: Since(&[r(1, 8, 8)]),
        source: "commit b6a4e313 \"Make websocket disconnect codes explicit\" (#6678, first tag v1.8.8; not in the CHANGELOG, not on v1.7)",
        inferred: false,
    },
    BehaviourRow {
        behaviour: Behaviour::MaxChannels,
        id: "max_channels",
        since: Since(&[r(1, 7, 24), r(1, 8, 9)]),
        source: "CHANGELOG v1.7.24 and v1.8.9: CVE-2026-56811 \"Add a `max_channels_per_transport` option (defaulting to 100)\" (commits a612100c on v1.7, 16e295d2 on v1.8)",
        inferred: false,
    },
    BehaviourRow {
        behaviour: Behaviour::PhxErrorReason,
        id: "phx_error_reason",
        since: Since(&[r(1, 8, 10)]),
        source: "CHANGELOG v1.8.10: \"[phoenix.js] Ensure transport errors are identifiable\" (#6763, commit 836e7ed6 adds `payload: %{reason: \"channel_crash\"}` to encode_on_exit; not on v1.7)",
        inferred: false,
    },
    BehaviourRow {
        behaviour: Behaviour::PlugCrypto22,
        id: "plug_crypto_2_2",
        since: Since(&[r(1, 8, 10)]),
        source: "commit c92b7ae4 \"Document new encode options\": mix.exs requires {:plug_crypto, \"~> 2.2\"} (first tag v1.8.10; v1.7.x and v1.8.0–v1.8.9 allow \"~> 1.2 or ~> 2.0\")",
        inferred: false,
    },
];

/// A Plug.Crypto behaviour and the release it starts at.
#[derive(Clone, Copy, Debug)]
pub struct PlugCryptoRow {
    /// Its short id.
    pub id: &'static str,
    /// The first release that has it.
    pub since: Release,
    /// The changelog entry or commit.
    pub source: &'static str,
    /// True when the release is inferred.
    pub inferred: bool,
}

/// Plug.Crypto's "Reject tokens with future signed_at timestamps": `verify` answers `:invalid`
/// for a signed_at after now (before: only the max_age check, so a future token verified).
pub const FUTURE_SIGNED_AT: PlugCryptoRow = PlugCryptoRow {
    id: "future_signed_at_rejected",
    since: r(2, 2, 0),
    source: "elixir-plug/plug_crypto #48, commit b0665ea \"Reject tokens with future signed_at timestamps\": after the v2.1.1 tag and before #52 (the encode options Phoenix 1.8.10 needs ~> 2.2 for); no 2.2.0 tag in the snapshot, so 2.2.0 is inferred. Recorded: 2.1.0 (Phoenix 1.7.14) and 2.1.1 verify a token signed one hour ahead",
    inferred: true,
};

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> PhoenixVersion {
        s.parse().expect("version")
    }

    #[test]
    fn every_behaviour_has_exactly_one_row() {
        let all = [
            Behaviour::StaleJoinRefDropped,
            Behaviour::NullJoinRefRouted,
            Behaviour::VsnListRefused,
            Behaviour::DisconnectGoingAway,
            Behaviour::MaxChannels,
            Behaviour::PhxErrorReason,
            Behaviour::PlugCrypto22,
        ];
        for b in all {
            assert_eq!(BEHAVIOURS.iter().filter(|r| r.behaviour == b).count(), 1);
            assert_eq!(b.row().behaviour, b);
        }
        assert_eq!(BEHAVIOURS.len(), all.len());
    }

    #[test]
    fn short_forms_are_the_recorded_releases() {
        assert_eq!(v("1.7"), PhoenixVersion::V1_7);
        assert_eq!(v("1.8"), PhoenixVersion::V1_8);
        assert_eq!(v("1.7.14"), PhoenixVersion::new(1, 7, 14));
        assert_eq!(v("v1.8.12").to_string(), "1.8.12");
        for bad in ["1.9", "1", "1.8.x", "", "1.8.12-rc.0", "1..2", "1.8.99999"] {
            assert!(bad.parse::<PhoenixVersion>().is_err(), "{bad}");
        }
        assert_eq!(v("1.9.0").evidence(), Evidence::Inferred);
        assert_eq!(PhoenixVersion::V1_7.evidence(), Evidence::Recorded);
    }

    #[test]
    fn recorded_releases_are_the_two_extremes() {
        for (b, present) in PhoenixVersion::V1_7.behaviours() {
            assert!(!present, "1.7.14 has no {b:?}");
        }
        for (b, present) in PhoenixVersion::V1_8.behaviours() {
            assert!(present, "1.8.12 has {b:?}");
        }
    }

    #[test]
    fn max_channels_starts_on_both_lines() {
        let has = |s| v(s).has(Behaviour::MaxChannels);
        assert!(!has("1.7.23"));
        assert!(has("1.7.24"));
        assert!(!has("1.8.0"));
        assert!(!has("1.8.8"));
        assert!(has("1.8.9"));
        assert!(has("1.9.0"));
        assert!(has("2.0.0"));
        assert!(!has("1.6.16"));
    }

    #[test]
    fn single_line_rows_do_not_leak_into_older_lines() {
        assert!(!v("1.7.99").has(Behaviour::StaleJoinRefDropped));
        assert!(!v("1.8.2").has(Behaviour::StaleJoinRefDropped));
        assert!(v("1.8.3").has(Behaviour::StaleJoinRefDropped));
        assert!(!v("1.8.11").has(Behaviour::NullJoinRefRouted));
        assert!(!v("1.8.7").has(Behaviour::DisconnectGoingAway));
        assert!(v("1.8.8").has(Behaviour::DisconnectGoingAway));
        assert!(!v("1.8.9").has(Behaviour::PhxErrorReason));
        assert!(v("1.8.10").has(Behaviour::PhxErrorReason));
    }

    #[test]
    fn plug_crypto_follows_phoenix() {
        assert_eq!(v("1.7.14").plug_crypto(), PlugCryptoVersion::V2_1_1);
        assert_eq!(v("1.8.9").plug_crypto(), PlugCryptoVersion::V2_1_1);
        assert_eq!(v("1.8.10").plug_crypto(), PlugCryptoVersion::V2_2_0);
        let pc = |s: &str| s.parse::<PlugCryptoVersion>().expect("plug_crypto");
        assert!(!pc("2.1.0").rejects_future_signed_at());
        assert!(!pc("2.1.1").rejects_future_signed_at());
        assert!(pc("2.2").rejects_future_signed_at());
        assert!(pc("3.0.0").rejects_future_signed_at());
    }
}
